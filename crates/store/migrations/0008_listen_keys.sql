-- The listenKeys of the user data streams (`POST /api/v3/userDataStream`,
-- `/ws/<listenKey>`): in the database, so every trading and gateway
-- instance sees the same keys. `holder` is what the key was asked with
-- (`key:<api key id>` or `session:<session id>`): one live key per holder,
-- reused by a repeated POST, as Binance does per API key. `expires_at` (ms
-- since the Unix epoch) moves on with each keepalive.
CREATE TABLE listen_keys (
    listen_key TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    holder TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE UNIQUE INDEX listen_keys_holder ON listen_keys (holder);
CREATE INDEX listen_keys_user ON listen_keys (user_id);
