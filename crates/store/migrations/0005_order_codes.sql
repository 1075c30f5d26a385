-- Orders keep the engine's values (issue 8): side, type, time in force,
-- status, STP mode and end reason become integer codes instead of
-- Binance's spellings, which the API now writes at the edge (crate
-- flowex-binance). A code is the variant's position in the engine's enum
-- (crates/types), listed once in flowex_store::trading::codes:
--   side           0 BUY, 1 SELL
--   order_type     0 LIMIT, 1 MARKET, 2 LIMIT_MAKER, 3 STOP_LOSS,
--                  4 STOP_LOSS_LIMIT, 5 TAKE_PROFIT, 6 TAKE_PROFIT_LIMIT
--   time_in_force  0 GTC, 1 IOC, 2 FOK
--   status         0 NEW, 1 PARTIALLY_FILLED, 2 FILLED, 3 CANCELED,
--                  4 EXPIRED, 5 EXPIRED_IN_MATCH
--   stp_mode       0 NONE, 1 EXPIRE_TAKER, 2 EXPIRE_MAKER, 3 EXPIRE_BOTH,
--                  4 DECREMENT
--   end_reason     0 FILLED, 1 CANCELED, 2 NO_LIQUIDITY,
--                  3 INSUFFICIENT_FUNDS, 4 SELF_TRADE_PREVENTION,
--                  5 MASS_CANCELED
-- Existing rows are converted in place: the table is rebuilt (SQLite cannot
-- change a column's type), and a spelling outside these lists becomes NULL,
-- which the NOT NULL and CHECK constraints refuse, so the migration fails
-- whole rather than guess. Same SQL on SQLite and PostgreSQL.

CREATE TABLE orders_coded (
    id BIGINT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    market_id BIGINT NOT NULL,
    symbol TEXT NOT NULL,
    client_order_id TEXT,
    side BIGINT NOT NULL CHECK (side BETWEEN 0 AND 1),
    order_type BIGINT NOT NULL CHECK (order_type BETWEEN 0 AND 6),
    time_in_force BIGINT NOT NULL CHECK (time_in_force BETWEEN 0 AND 2),
    price TEXT NOT NULL,
    orig_qty TEXT NOT NULL,
    -- quoteOrderQty of a MARKET order by quote amount, else '0'.
    orig_quote_qty TEXT NOT NULL,
    executed_qty TEXT NOT NULL,
    cum_quote_qty TEXT NOT NULL,
    status BIGINT NOT NULL CHECK (status BETWEEN 0 AND 5),
    stop_price TEXT NOT NULL,
    stp_mode BIGINT NOT NULL CHECK (stp_mode BETWEEN 0 AND 4),
    time BIGINT NOT NULL,
    update_time BIGINT NOT NULL,
    -- When the order started working on the book (NULL while a stop waits).
    working_time BIGINT,
    end_reason BIGINT CHECK (end_reason BETWEEN 0 AND 5),
    -- Journal sequence number of the last command that changed this row.
    seq BIGINT NOT NULL
);

INSERT INTO orders_coded (id, user_id, market_id, symbol, client_order_id, side, order_type,
    time_in_force, price, orig_qty, orig_quote_qty, executed_qty, cum_quote_qty, status,
    stop_price, stp_mode, time, update_time, working_time, end_reason, seq)
SELECT id, user_id, market_id, symbol, client_order_id,
    CASE side WHEN 'BUY' THEN 0 WHEN 'SELL' THEN 1 END,
    CASE order_type WHEN 'LIMIT' THEN 0 WHEN 'MARKET' THEN 1 WHEN 'LIMIT_MAKER' THEN 2
        WHEN 'STOP_LOSS' THEN 3 WHEN 'STOP_LOSS_LIMIT' THEN 4 WHEN 'TAKE_PROFIT' THEN 5
        WHEN 'TAKE_PROFIT_LIMIT' THEN 6 END,
    CASE time_in_force WHEN 'GTC' THEN 0 WHEN 'IOC' THEN 1 WHEN 'FOK' THEN 2 END,
    price, orig_qty, orig_quote_qty, executed_qty, cum_quote_qty,
    CASE status WHEN 'NEW' THEN 0 WHEN 'PARTIALLY_FILLED' THEN 1 WHEN 'FILLED' THEN 2
        WHEN 'CANCELED' THEN 3 WHEN 'EXPIRED' THEN 4 WHEN 'EXPIRED_IN_MATCH' THEN 5 END,
    stop_price,
    CASE stp_mode WHEN 'NONE' THEN 0 WHEN 'EXPIRE_TAKER' THEN 1 WHEN 'EXPIRE_MAKER' THEN 2
        WHEN 'EXPIRE_BOTH' THEN 3 WHEN 'DECREMENT' THEN 4 END,
    time, update_time, working_time,
    CASE WHEN end_reason IS NULL THEN NULL
        ELSE CASE end_reason WHEN 'FILLED' THEN 0 WHEN 'CANCELED' THEN 1
            WHEN 'NO_LIQUIDITY' THEN 2 WHEN 'INSUFFICIENT_FUNDS' THEN 3
            WHEN 'SELF_TRADE_PREVENTION' THEN 4 WHEN 'MASS_CANCELED' THEN 5 ELSE -1 END
    END,
    seq
FROM orders;

DROP TABLE orders;
ALTER TABLE orders_coded RENAME TO orders;

CREATE INDEX orders_user_market ON orders (user_id, market_id, id);
CREATE INDEX orders_user_time ON orders (user_id, market_id, time);
CREATE INDEX orders_user_client ON orders (user_id, client_order_id);
