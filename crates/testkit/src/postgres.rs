//! A fresh PostgreSQL database per test on the server named by
//! `FLOWEX_TEST_POSTGRES_URL` (scripts/test-db.sh starts a throwaway one),
//! so that tests run in parallel. Without the variable a test is skipped
//! with a notice, unless `FLOWEX_REQUIRE_POSTGRES=1` (CI), where it fails.

use sqlx::{Connection, Executor};
use std::sync::atomic::{AtomicU64, Ordering};

/// The server's URL, or `None` (after a notice) when the test should be
/// skipped. Panics when PostgreSQL is required and not configured.
pub fn server_url(test: &str) -> Option<String> {
    match std::env::var("FLOWEX_TEST_POSTGRES_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            assert!(
                !crate::required("FLOWEX_REQUIRE_POSTGRES"),
                "{test}: FLOWEX_REQUIRE_POSTGRES=1 but FLOWEX_TEST_POSTGRES_URL is not set. \
                 Start a throwaway server first: \
                 `source scripts/test-db.sh && start_test_postgres` (scripts/test does this)."
            );
            eprintln!(
                "notice: {test}: PostgreSQL part SKIPPED (FLOWEX_TEST_POSTGRES_URL unset; \
                 `scripts/test-db.sh run cargo test ...` runs it)"
            );
            None
        }
    }
}

/// A database created for one test; [`TestDatabase::drop_database`]
/// removes it (connections still open are closed by force).
#[derive(Debug)]
pub struct TestDatabase {
    server: String,
    name: String,
    /// Where to connect: the server's URL with this database's name.
    pub url: String,
}

impl TestDatabase {
    /// A new empty database named after `test`, or `None` when PostgreSQL
    /// tests are skipped (see [`server_url`]).
    pub async fn create(test: &str) -> Option<TestDatabase> {
        let server = server_url(test)?;
        let prefix: String = test
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(20)
            .collect::<String>()
            .to_ascii_lowercase();
        let name = format!("flowex_t_{prefix}_{}", unique_suffix());
        execute(&server, &format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap_or_else(|e| panic!("{test}: creating database {name}: {e}"));
        let url = with_database(&server, &name);
        Some(TestDatabase { server, name, url })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database (best effort: a leftover is only disk space on a
    /// throwaway server).
    pub async fn drop_database(self) {
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let _ = execute(&self.server, &sql).await;
    }
}

async fn execute(server: &str, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(server).await?;
    conn.execute(sql).await?;
    conn.close().await
}

/// Different on every call, in every process.
fn unique_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("{:016x}", h.finish())
}

/// `url` with its database name replaced by `db`.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{db}?{q}"),
        None => format!("{root}/{db}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://u@h:1/flowex_test", "x"),
            "postgres://u@h:1/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/flowex_test?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
