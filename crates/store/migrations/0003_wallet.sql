-- Wallet (issue 4): the ledger read by user and time (history and CSV
-- export filter on a time range). Same SQL for SQLite and PostgreSQL.

CREATE INDEX ledger_user_time ON ledger_entries (user_id, at, seq, idx);
