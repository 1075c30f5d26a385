-- Brute-force limits target the attacker: failures are now also counted
-- per client address and account together ('address_account'). The CHECK
-- constraint cannot be altered in SQLite, so the table is rebuilt (the same
-- statements on PostgreSQL).
CREATE TABLE login_failures_new (
    id BIGINT PRIMARY KEY,
    scope TEXT NOT NULL CHECK (scope IN ('account', 'ip', 'address_account')),
    scope_key TEXT NOT NULL,
    at BIGINT NOT NULL
);

INSERT INTO login_failures_new (id, scope, scope_key, at)
SELECT id, scope, scope_key, at FROM login_failures;

DROP TABLE login_failures;

ALTER TABLE login_failures_new RENAME TO login_failures;

CREATE INDEX login_failures_key ON login_failures (scope, scope_key, at);
