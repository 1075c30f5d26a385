-- Accounts and security (issue 3). Portable SQL: this one file runs on SQLite
-- and PostgreSQL. Rules (see the crate documentation in src/lib.rs):
--   * ids are BIGINT chosen by the application (hi/lo blocks from id_sequences),
--     never SERIAL / AUTOINCREMENT;
--   * times are BIGINT milliseconds since the Unix epoch;
--   * flags are BOOLEAN (SQLite stores 0/1; the crate decodes both);
--   * binary values are lower-case hex TEXT;
--   * money is TEXT holding a base-10 integer (u64 does not fit BIGINT).

-- Hi/lo id allocation: a process reserves a block [next_value, next_value + n)
-- with one UPDATE ... RETURNING and hands the ids out from memory.
CREATE TABLE id_sequences (
    name TEXT PRIMARY KEY,
    next_value BIGINT NOT NULL
);

INSERT INTO id_sequences (name, next_value) VALUES
    ('users', 1),
    ('sessions', 1),
    ('login_failures', 1),
    ('api_keys', 1),
    ('audit_log', 1);

CREATE TABLE users (
    id BIGINT PRIMARY KEY,
    -- Lower-cased by the crate before every write and lookup: the unique
    -- constraint is therefore case-insensitive on both databases.
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('user', 'admin')),
    frozen BOOLEAN NOT NULL DEFAULT FALSE,
    -- Stored exactly as the auth service hands it over (it seals it).
    totp_secret TEXT,
    totp_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    -- Last accepted TOTP time step: a code is never accepted twice.
    totp_last_step BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A session is one refresh-token family (RFC 9700): it starts at login and
-- each refresh rotates its token. Revoking the session revokes the family.
CREATE TABLE sessions (
    id BIGINT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    -- Expiry of the family's current token.
    expires_at BIGINT NOT NULL,
    user_agent TEXT,
    ip TEXT,
    revoked_at BIGINT,
    revoke_reason TEXT
);

CREATE INDEX sessions_user ON sessions (user_id, created_at);

-- Every refresh token ever issued, by the hash the auth service computed.
-- A token is usable while it is not rotated, not expired and its session is
-- not revoked; presenting a rotated token again is reuse.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id BIGINT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL,
    parent_hash TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    rotated_at BIGINT
);

CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Failed logins, one row per scope: ('account', lower-cased email) and
-- ('ip', address). Counted over a sliding window; a successful login deletes
-- the account rows.
CREATE TABLE login_failures (
    id BIGINT PRIMARY KEY,
    scope TEXT NOT NULL CHECK (scope IN ('account', 'ip')),
    scope_key TEXT NOT NULL,
    at BIGINT NOT NULL
);

CREATE INDEX login_failures_key ON login_failures (scope, scope_key, at);

CREATE TABLE totp_backup_codes (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE api_keys (
    id BIGINT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    api_key TEXT NOT NULL UNIQUE,
    -- AES-256-GCM sealed secret (nonce + ciphertext + tag), hex.
    secret_sealed TEXT NOT NULL,
    label TEXT NOT NULL,
    -- Comma-separated permission names, e.g. 'READ,TRADE'.
    permissions TEXT NOT NULL,
    -- Comma-separated CIDRs; empty means any address.
    ip_allow TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    deleted_at BIGINT
);

CREATE INDEX api_keys_user ON api_keys (user_id, created_at);

CREATE TABLE audit_log (
    id BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    -- The acting user (NULL for anonymous, e.g. a failed login of an unknown email).
    user_id BIGINT,
    actor_ip TEXT,
    user_agent TEXT,
    action TEXT NOT NULL,
    target TEXT,
    result TEXT NOT NULL CHECK (result IN ('ok', 'denied', 'error')),
    -- JSON object as text; never secrets.
    detail TEXT
);

CREATE INDEX audit_log_at ON audit_log (at, id);
CREATE INDEX audit_log_user_at ON audit_log (user_id, at);
CREATE INDEX audit_log_action_at ON audit_log (action, at);
