-- Trading and wallet history (issue 4): projections of the engine's event
-- stream plus the wallet's own workflow state. Same portability rules as
-- 0001. Amounts are in the engine's integer units (price in ticks, quantity
-- in lots, money in asset atoms) as TEXT base-10 integers; converting to
-- decimal strings is the API's job, with the market's scale.

INSERT INTO id_sequences (name, next_value) VALUES ('withdrawals', 1);

-- Mirrors of the engine's asset and market configuration, for joins and for
-- the wallet's per-asset withdrawal rules (not engine state).
CREATE TABLE assets (
    id BIGINT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    decimals INTEGER NOT NULL,
    withdraw_min TEXT NOT NULL DEFAULT '0',
    withdraw_fee TEXT NOT NULL DEFAULT '0',
    -- Per user and day, in atoms; '0' means no limit.
    withdraw_daily_limit TEXT NOT NULL DEFAULT '0',
    updated_at BIGINT NOT NULL
);

CREATE TABLE markets (
    id BIGINT PRIMARY KEY,
    symbol TEXT NOT NULL UNIQUE,
    base_asset_id BIGINT NOT NULL,
    quote_asset_id BIGINT NOT NULL,
    status TEXT NOT NULL,
    -- The full market configuration as JSON text (tick, lot, limits, fees, STP).
    config TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Order history: one row per engine order, the fields of a Binance order
-- response. Inserted when the order is accepted, updated on every change.
CREATE TABLE orders (
    id BIGINT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    market_id BIGINT NOT NULL,
    symbol TEXT NOT NULL,
    client_order_id TEXT,
    side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    order_type TEXT NOT NULL,
    time_in_force TEXT NOT NULL,
    price TEXT NOT NULL,
    orig_qty TEXT NOT NULL,
    -- quoteOrderQty of a MARKET order by quote amount, else '0'.
    orig_quote_qty TEXT NOT NULL,
    executed_qty TEXT NOT NULL,
    cum_quote_qty TEXT NOT NULL,
    status TEXT NOT NULL,
    stop_price TEXT NOT NULL,
    stp_mode TEXT NOT NULL,
    time BIGINT NOT NULL,
    update_time BIGINT NOT NULL,
    -- When the order started working on the book (NULL while a stop waits).
    working_time BIGINT,
    end_reason TEXT,
    -- Journal sequence number of the last command that changed this row.
    seq BIGINT NOT NULL
);

CREATE INDEX orders_user_market ON orders (user_id, market_id, id);
CREATE INDEX orders_user_time ON orders (user_id, market_id, time);
CREATE INDEX orders_user_client ON orders (user_id, client_order_id);

-- Trades, one row per fill; ids are per market.
CREATE TABLE trades (
    market_id BIGINT NOT NULL,
    id BIGINT NOT NULL,
    symbol TEXT NOT NULL,
    price TEXT NOT NULL,
    qty TEXT NOT NULL,
    quote_qty TEXT NOT NULL,
    maker_order_id BIGINT NOT NULL,
    maker_user_id BIGINT NOT NULL,
    taker_order_id BIGINT NOT NULL,
    taker_user_id BIGINT NOT NULL,
    buyer_is_maker BOOLEAN NOT NULL,
    maker_fee TEXT NOT NULL,
    maker_fee_asset_id BIGINT NOT NULL,
    taker_fee TEXT NOT NULL,
    taker_fee_asset_id BIGINT NOT NULL,
    time BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (market_id, id)
);

CREATE INDEX trades_maker_user ON trades (maker_user_id, market_id, id);
CREATE INDEX trades_taker_user ON trades (taker_user_id, market_id, id);
CREATE INDEX trades_market_time ON trades (market_id, time);

-- Double-entry ledger. Every projected change is a set of entries whose
-- amounts sum to zero per asset (the crate refuses unbalanced sets).
-- Accounts: ('user', user_id) liabilities, ('fees') revenue, ('custody') the
-- platform's holdings. Keyed by (journal seq, index within that command).
CREATE TABLE ledger_entries (
    seq BIGINT NOT NULL,
    idx INTEGER NOT NULL,
    at BIGINT NOT NULL,
    account_kind TEXT NOT NULL CHECK (account_kind IN ('user', 'fees', 'custody')),
    user_id BIGINT,
    asset_id BIGINT NOT NULL,
    -- Signed base-10 integer; the range is +/- u64::MAX.
    amount TEXT NOT NULL,
    cause TEXT NOT NULL CHECK (cause IN ('deposit', 'withdrawal', 'trade', 'fee', 'adjustment')),
    reference TEXT,
    PRIMARY KEY (seq, idx),
    CHECK ((account_kind = 'user') = (user_id IS NOT NULL))
);

CREATE INDEX ledger_user_asset ON ledger_entries (user_id, asset_id, seq);
CREATE INDEX ledger_account_asset ON ledger_entries (account_kind, asset_id);

-- Balances as projected from the engine's balance events.
CREATE TABLE balances (
    user_id BIGINT NOT NULL,
    asset_id BIGINT NOT NULL,
    available TEXT NOT NULL,
    locked TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (user_id, asset_id)
);

CREATE TABLE deposits (
    idem_key TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    asset_id BIGINT NOT NULL,
    amount TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'credited', 'rejected')),
    -- 'admin', 'webhook', 'faucet', ...
    source TEXT NOT NULL,
    reference TEXT,
    created_at BIGINT NOT NULL,
    credited_at BIGINT,
    seq BIGINT
);

CREATE INDEX deposits_user ON deposits (user_id, created_at);

CREATE TABLE withdrawals (
    id BIGINT PRIMARY KEY,
    idem_key TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL,
    asset_id BIGINT NOT NULL,
    amount TEXT NOT NULL,
    fee TEXT NOT NULL,
    destination TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('requested', 'approved', 'rejected', 'completed', 'released')),
    requested_at BIGINT NOT NULL,
    decided_at BIGINT,
    decided_by BIGINT,
    finished_at BIGINT,
    updated_at BIGINT NOT NULL,
    note TEXT
);

CREATE INDEX withdrawals_user ON withdrawals (user_id, requested_at);
CREATE INDEX withdrawals_state ON withdrawals (state, requested_at);

-- Faucet claims per user, asset and UTC day (days since the Unix epoch).
CREATE TABLE faucet_usage (
    user_id BIGINT NOT NULL,
    asset_id BIGINT NOT NULL,
    day BIGINT NOT NULL,
    claims BIGINT NOT NULL,
    PRIMARY KEY (user_id, asset_id, day)
);

CREATE TABLE user_fee_tiers (
    user_id BIGINT PRIMARY KEY,
    maker_fee_ppm BIGINT NOT NULL,
    taker_fee_ppm BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by BIGINT
);

-- How far each projector has applied the journal (0: nothing yet; the
-- journal's first sequence number is 1).
CREATE TABLE projector_offsets (
    name TEXT PRIMARY KEY,
    last_seq BIGINT NOT NULL
);
