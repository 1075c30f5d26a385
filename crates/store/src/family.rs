//! What kind of statement a piece of SQL is, for the query-duration
//! metric: its statement kind and its table, each from a fixed list, so
//! the labels stay bounded whatever the SQL says.

/// Statement kinds; `transaction` is BEGIN, COMMIT, ROLLBACK and savepoints.
pub const STATEMENTS: &[&str] = &[
    "select",
    "insert",
    "update",
    "delete",
    "transaction",
    "other",
];

/// Every table the migrations create (a test keeps the list complete);
/// `none` for a statement without one, `other` for anything unknown.
pub const TABLES: &[&str] = &[
    "api_keys",
    "assets",
    "audit_log",
    "balances",
    "deposits",
    "faucet_usage",
    "id_sequences",
    "ledger_entries",
    "listen_keys",
    "login_failures",
    "markets",
    "orders",
    "projector_offsets",
    "refresh_tokens",
    "sessions",
    "totp_backup_codes",
    "trades",
    "user_fee_tiers",
    "users",
    "withdrawals",
    "none",
    "other",
];

/// `(statement, table)` of `sql`, both from [`STATEMENTS`] and [`TABLES`].
pub fn query_family(sql: &str) -> (&'static str, &'static str) {
    let mut words = sql
        .split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | ',' | ';' | '"'))
        .filter(|w| !w.is_empty());
    let Some(first) = words.next() else {
        return ("other", "none");
    };
    let (statement, table_after) = match first.to_ascii_lowercase().as_str() {
        "select" => ("select", Some("from")),
        "insert" => ("insert", Some("into")),
        "update" => ("update", None),
        "delete" => ("delete", Some("from")),
        "begin" | "commit" | "rollback" | "savepoint" | "release" | "start" | "end" => {
            return ("transaction", "none")
        }
        _ => return ("other", "none"),
    };
    let table = match table_after {
        None => words.next(),
        Some(keyword) => {
            let mut rest = words.skip_while(|w| !w.eq_ignore_ascii_case(keyword));
            rest.next().and_then(|_| rest.next())
        }
    };
    let Some(table) = table else {
        return (statement, "none");
    };
    let known = TABLES[..TABLES.len() - 2]
        .iter()
        .find(|t| t.eq_ignore_ascii_case(table));
    (statement, known.copied().unwrap_or("other"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_of_the_statements_the_store_sends() {
        let cases = [
            (
                "SELECT id, email FROM users WHERE id = $1",
                ("select", "users"),
            ),
            (
                "INSERT INTO ledger_entries (seq, idx) VALUES ($1, $2)",
                ("insert", "ledger_entries"),
            ),
            (
                "UPDATE users SET role = $2 WHERE id = $1",
                ("update", "users"),
            ),
            (
                "DELETE FROM login_failures WHERE at < $1",
                ("delete", "login_failures"),
            ),
            ("SELECT 1", ("select", "none")),
            ("BEGIN", ("transaction", "none")),
            ("commit", ("transaction", "none")),
            ("SELECT x FROM somewhere_else", ("select", "other")),
            ("PRAGMA journal_mode = WAL", ("other", "none")),
            ("", ("other", "none")),
            (
                "\n\nSELECT COUNT(*) FROM (SELECT 1 FROM orders) t\n",
                ("select", "other"),
            ),
        ];
        for (sql, want) in cases {
            assert_eq!(query_family(sql), want, "{sql:?}");
        }
    }

    #[test]
    fn every_table_of_the_migrations_is_listed() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut created = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let sql = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let mut words = sql.split_whitespace().peekable();
            while let Some(w) = words.next() {
                if w.eq_ignore_ascii_case("create")
                    && words.next_if(|t| t.eq_ignore_ascii_case("table")).is_some()
                {
                    created.push(words.next().unwrap().trim_matches('(').to_string());
                }
                if w.eq_ignore_ascii_case("rename")
                    && words.next_if(|t| t.eq_ignore_ascii_case("to")).is_some()
                {
                    created.push(words.next().unwrap().trim_end_matches(';').to_string());
                }
            }
        }
        assert!(created.len() > 10, "{created:?}");
        for table in created
            .iter()
            .filter(|t| !t.ends_with("_new") && !t.ends_with("_coded"))
        {
            assert!(TABLES.contains(&table.as_str()), "{table} is not in TABLES");
        }
    }
}
