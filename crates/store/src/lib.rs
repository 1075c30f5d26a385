//! FlowEx SQL storage: one schema, one code path, SQLite or PostgreSQL.
//!
//! The trading core keeps balances and books in the engine and its journal;
//! this crate keeps everything else that lives in SQL: accounts and security
//! state of the auth service, and the projections of the engine's event
//! stream (order and trade history, ledger, balances) plus the wallet's own
//! workflow state (deposits, withdrawals, faucet). Nothing outside this crate
//! writes SQL text: callers get typed records, typed errors and async
//! functions.
//!
//! # One code path for both databases
//!
//! [`Store`] wraps a [`sqlx::AnyPool`]: the URL picks the driver
//! (`sqlite://path?mode=rwc`, `sqlite::memory:`, `postgres://…`) and every
//! query is the same text on both. That is possible because the schema sticks
//! to the types both databases share and the `Any` driver can carry:
//!
//! | value | column | why |
//! |---|---|---|
//! | ids (users, sessions, orders, …) | `BIGINT` | chosen by the application: hi/lo blocks from `id_sequences` (one `UPDATE … RETURNING` per 32 ids) for the store's own tables, engine ids for projections. No `SERIAL`/`AUTOINCREMENT`, whose DDL differs. Ids above `i64::MAX` are refused with [`StoreError::OutOfRange`]. |
//! | times | `BIGINT` ms since the Unix epoch | exact, ordered, no time-zone or driver type differences. Callers pass the time in: the store never reads a clock. |
//! | money, prices, quantities | `TEXT` of a base-10 integer | `u64` atomic units do not fit `BIGINT`, SQLite's `NUMERIC` affinity would turn 18446744073709551615 into a lossy REAL, and `Any` has no decimal type. Text is exact on both. Sums are done in Rust (`u128`/`i128`), never in SQL. Ledger amounts are signed, range ±`u64::MAX`. |
//! | flags | `BOOLEAN` | native on PostgreSQL, 0/1 on SQLite. Read as `CAST(col AS INTEGER) AS col`: sqlx's `Any` driver refuses a SQLite column *declared* `BOOLEAN` (it maps no `Bool` type for SQLite), so every SELECT of a flag casts it (see `USER_COLUMNS`, `TRADE_SELECT`); binding a Rust `bool` works on both. |
//! | binary (sealed API secrets) | `TEXT` lower-case hex | `BLOB` vs `BYTEA` is the one DDL word the two do not share. |
//! | enumerations | `TEXT` with `CHECK`; an order's engine enums as `BIGINT` codes | text is readable in either shell; an order's side, type, status … are the engine's values ([`trading::codes`]), written in Binance's spellings only by the API. |
//!
//! Queries use `$1, $2, …` placeholders (SQLite accepts them), `ON CONFLICT`,
//! `RETURNING` and partial `WHERE` clauses only in the forms both support.
//!
//! # Concurrency
//!
//! Every read-modify-write starts with a write (a conditional `UPDATE`) so
//! that it takes the lock first: on PostgreSQL the row lock, on SQLite the
//! database write lock (waited for with `busy_timeout`, never the
//! `SQLITE_BUSY_SNAPSHOT` of a read upgraded to a write). Examples: refresh
//! token rotation ([`Store::rotate_refresh_token`]: of two concurrent uses of
//! one token exactly one wins), TOTP step acceptance, withdrawal transitions,
//! faucet claims, projector offsets. Ids are allocated before a transaction
//! opens, so no transaction waits on another connection.
//!
//! # Where things are stored
//!
//! - [`users`]: `users` (email stored lower-cased, so the unique constraint is
//!   case-insensitive), `totp_backup_codes`.
//! - [`sessions`]: `sessions` (a session is one refresh-token family) and
//!   `refresh_tokens` (every token by hash; rotated ones kept for reuse
//!   detection).
//! - [`login`]: `login_failures` for brute-force limits, per account and per IP.
//! - [`api_keys`]: `api_keys` (sealed secret, permissions, IP allow-list).
//! - [`audit`]: `audit_log`, queried by user, action and time range.
//! - [`trading`]: `orders`, `trades`, `balances`, `ledger_entries`, `assets`,
//!   `markets`, `user_fee_tiers` (projections of engine events).
//! - [`wallet`]: `deposits`, `withdrawals`, `faucet_usage`, and the reads of
//!   the wallet's ledger (pages of a user's entries, withdrawal fees).
//! - [`projector`]: `projector_offsets` and the exactly-once primitive
//!   [`Store::apply_batch_at`].
//!
//! # SQLite and PostgreSQL differences the crate absorbs
//!
//! - A failed statement aborts a PostgreSQL transaction; SQLite carries on.
//!   A [`Tx`] is therefore poisoned by any failed operation and refuses to
//!   commit ([`StoreError::TxAborted`]) on both.
//! - SQLite has one writer at a time: a write waits up to `busy_timeout`,
//!   then fails with [`StoreError::Busy`] (retryable). PostgreSQL locks rows;
//!   deadlocks and serialization failures map to `Busy` as well.
//! - `sqlx::Any` cannot decode SQLite `BOOLEAN` columns directly (see the
//!   table above) and has no `u64`, decimal or date types: hence the TEXT
//!   amounts and BIGINT milliseconds.
//! - SQLite does not enforce column types; the crate always binds the type
//!   the column declares, so both hold the same values.
//!
//! # SQLite settings
//!
//! Each SQLite connection runs `journal_mode = WAL` (readers never block the
//! writer), `busy_timeout` (writers queue instead of failing), `foreign_keys
//! = ON` and keeps `synchronous = FULL` (accounts are not in the journal, so a
//! committed registration must survive power loss); projection
//! transactions alone run on connections with `synchronous = NORMAL`
//! ([`projector`] says why that is safe). `sqlite::memory:` is
//! limited to one connection, since each connection would otherwise see its
//! own empty database.

pub mod api_keys;
pub mod audit;
mod codec;
mod error;
pub mod family;
pub mod listen_keys;
pub mod login;
pub mod projector;
pub mod sessions;
pub mod trading;
pub mod users;
pub mod wallet;

pub use api_keys::{ApiKey, NewApiKey};
pub use audit::{AuditEntry, AuditOutcome, AuditQuery, NewAuditEntry};
pub use error::{Result, StoreError};
pub use listen_keys::{ListenKey, NewListenKey, Opened};
pub use login::{FailureScope, FailureStats};
pub use projector::{BatchOutcome, BoxFuture, ProjectionTx};
pub use sessions::{NewSession, RefreshToken, RotateOutcome, Rotation, Session};
pub use trading::{
    AssetRecord, BalanceRecord, FeeTier, LedgerAccount, LedgerCause, LedgerEntry, MarketRecord,
    OrderQuery, OrderRecord, OrderUpdate, TradeQuery, TradeRecord, UserTrade,
};
pub use users::{normalize_email, NewUser, Role, User};
pub use wallet::{
    DepositRecord, DepositState, LedgerQuery, NewDeposit, NewWithdrawal, WithdrawalQuery,
    WithdrawalRecord, WithdrawalState, MAX_LEDGER_PAGE,
};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Executor};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Which database a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Pool limits. `None` takes the backend's default.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Default: 8 for SQLite (one writer at a time anyway, readers in WAL),
    /// 16 for PostgreSQL. `sqlite::memory:` is always 1.
    pub max_connections: Option<u32>,
    /// Connections kept open when idle. Default 0 (1 for `sqlite::memory:`).
    pub min_connections: Option<u32>,
    /// How long a call waits for a free connection before
    /// [`StoreError::Unavailable`]. Default 10 s.
    pub acquire_timeout: Duration,
    /// How long a SQLite writer waits for the write lock before
    /// [`StoreError::Busy`]. Default 10 s.
    pub sqlite_busy_timeout: Duration,
    /// Make projection commits wait for the disk like every other commit
    /// (default `false`: see [`projector`] for why they need not; the
    /// projection benchmark compares both).
    pub durable_projections: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: None,
            min_connections: None,
            acquire_timeout: Duration::from_secs(10),
            sqlite_busy_timeout: Duration::from_secs(10),
            durable_projections: false,
        }
    }
}

/// Handle to the database: cheap to clone, shared by every task.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    pool: AnyPool,
    /// SQLite files: connections with `synchronous = NORMAL`, for
    /// projection transactions only (see [`projector`]).
    projection_pool: Option<AnyPool>,
    /// Projection commits wait for the disk ([`StoreOptions::durable_projections`]).
    durable_projections: bool,
    backend: Backend,
    /// Hi/lo id blocks per sequence name: (next, end exclusive).
    ids: Mutex<HashMap<&'static str, (i64, i64)>>,
    /// Bumped after every write that ends or narrows an API key
    /// ([`Store::credentials_epoch`]).
    credentials_epoch: AtomicU64,
    /// Told of every such write and every revoked session
    /// ([`Store::on_credentials_change`]).
    credentials_listener: std::sync::OnceLock<CredentialsListener>,
}

/// What a write through the store ended or narrowed, as told to the
/// [`Store::on_credentials_change`] listener (distributed mode publishes it
/// so every gateway replica drops what it cached).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialChange {
    /// Something of this user: a key deleted, frozen or unfrozen, a role
    /// changed, a password changed, all sessions revoked.
    User(u64),
    /// One session revoked (logout, "sign out that device", refresh-token
    /// reuse, the session limit).
    Session(u64),
    /// Something whose owner the store did not look up (a refresh-token
    /// family revoked by token): forget everything.
    All,
}

/// Called after each credential write (see [`CredentialChange`]); must not block.
pub type CredentialsListener = Arc<dyn Fn(CredentialChange) + Send + Sync>;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL: it may carry a password.
        f.debug_struct("Store")
            .field("backend", &self.inner.backend)
            .finish_non_exhaustive()
    }
}

/// Ids reserved per round trip to `id_sequences`.
const ID_BLOCK: i64 = 32;

impl Store {
    /// Connects with default [`StoreOptions`]. The schema is not touched:
    /// call [`Store::migrate`].
    pub async fn connect(url: &str) -> Result<Store> {
        Store::connect_with(url, StoreOptions::default()).await
    }

    pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = backend_of(url)?;
        let memory =
            backend == Backend::Sqlite && (url.contains(":memory:") || url.contains("mode=memory"));
        let default_max = match backend {
            Backend::Sqlite => 8,
            Backend::Postgres => 16,
        };
        let max = if memory {
            1
        } else {
            options.max_connections.unwrap_or(default_max).max(1)
        };
        let min = if memory {
            1
        } else {
            options.min_connections.unwrap_or(0).min(max)
        };
        let mut pool = AnyPoolOptions::new()
            .max_connections(max)
            .min_connections(min)
            .acquire_timeout(options.acquire_timeout);
        if memory {
            pool = pool.idle_timeout(None).max_lifetime(None);
        }
        let busy_ms = options
            .sqlite_busy_timeout
            .as_millis()
            .min(i32::MAX as u128) as u64;
        if backend == Backend::Sqlite {
            pool = with_sqlite_pragmas(pool, busy_ms, "FULL");
        }
        let pool = pool.connect(url).await.map_err(StoreError::from)?;
        let projection_pool =
            if backend == Backend::Sqlite && !memory && !options.durable_projections {
                // One writer at a time anyway: two connections are plenty.
                let p = AnyPoolOptions::new()
                    .max_connections(2)
                    .min_connections(0)
                    .acquire_timeout(options.acquire_timeout);
                let p = with_sqlite_pragmas(p, busy_ms, "NORMAL");
                Some(p.connect(url).await.map_err(StoreError::from)?)
            } else {
                None
            };
        Ok(Store {
            inner: Arc::new(Inner {
                pool,
                projection_pool,
                durable_projections: options.durable_projections,
                backend,
                ids: Mutex::new(HashMap::new()),
                credentials_epoch: AtomicU64::new(0),
                credentials_listener: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Applies pending migrations (embedded from `crates/store/migrations`).
    /// Running it again is a no-op; on PostgreSQL concurrent runs are
    /// serialised by an advisory lock.
    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.inner.pool).await?;
        Ok(())
    }

    /// Versions and descriptions of the embedded migrations.
    pub fn migrations() -> Vec<(i64, String)> {
        MIGRATOR
            .iter()
            .map(|m| (m.version, m.description.to_string()))
            .collect()
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// A number that changes after every write through this store (or a
    /// clone of it) that ends or narrows an API key: a key deleted, its
    /// owner frozen or unfrozen, a role or password changed. An in-process cache of
    /// keys (the embedded gateway's) stamps each entry with the epoch read
    /// before its lookup and trusts it only while the epoch is unchanged,
    /// so such a write takes effect on the very next request. Writes from
    /// other processes do not move it.
    pub fn credentials_epoch(&self) -> u64 {
        self.inner.credentials_epoch.load(Ordering::Acquire)
    }

    /// Moves [`Store::credentials_epoch`] and tells the listener; called
    /// after such a write of `user_id`'s, whether or not it succeeded (a
    /// failed one may still have committed).
    pub(crate) fn credentials_changed(&self, user_id: u64) {
        self.inner.credentials_epoch.fetch_add(1, Ordering::AcqRel);
        self.tell(CredentialChange::User(user_id));
    }

    /// Tells the listener, if any, of `change`.
    pub(crate) fn tell(&self, change: CredentialChange) {
        if let Some(listener) = self.inner.credentials_listener.get() {
            listener(change);
        }
    }

    /// Sets the one listener told of every credential write through this
    /// store or a clone of it (see [`CredentialChange`]): a deleted key, a
    /// frozen or unfrozen user, a role or password change, a revoked
    /// session. It runs on the writer's task right after the write (whether
    /// or not it succeeded) and must not block. `false` if one was set
    /// already (it stays).
    pub fn on_credentials_change(&self, listener: CredentialsListener) -> bool {
        self.inner.credentials_listener.set(listener).is_ok()
    }

    /// A round trip to the database, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.inner.pool).await?;
        Ok(())
    }

    /// Connections of the pool: (in use, idle), for the metrics sampler.
    pub fn pool_connections(&self) -> (u32, u32) {
        let idle = self.inner.pool.num_idle() as u32;
        (self.inner.pool.size().saturating_sub(idle), idle)
    }

    /// Closes the pool, waiting for connections in use to come back.
    pub async fn close(&self) {
        if let Some(p) = &self.inner.projection_pool {
            p.close().await;
        }
        self.inner.pool.close().await;
    }

    /// Opens a transaction for several writes that must land together.
    pub async fn begin(&self) -> Result<Tx> {
        self.begin_on(&self.inner.pool).await
    }

    pub(crate) async fn begin_on(&self, pool: &AnyPool) -> Result<Tx> {
        Ok(Tx {
            inner: pool.begin().await?,
            unfinished: 0,
        })
    }

    /// Whether projection commits wait for the disk.
    pub(crate) fn durable_projections(&self) -> bool {
        self.inner.durable_projections
    }

    /// The pool projection transactions run on.
    pub(crate) fn projection_pool(&self) -> &AnyPool {
        self.inner
            .projection_pool
            .as_ref()
            .unwrap_or(&self.inner.pool)
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    /// Next id of a hi/lo sequence. Never call inside an open transaction on
    /// SQLite (it writes through another connection).
    pub(crate) async fn next_id(&self, sequence: &'static str) -> Result<u64> {
        {
            let mut ids = self.inner.ids.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((next, end)) = ids.get_mut(sequence) {
                if *next < *end {
                    let id = *next;
                    *next += 1;
                    return Ok(id as u64);
                }
            }
        }
        let row: Option<AnyRow> = sqlx::query(
            "UPDATE id_sequences SET next_value = next_value + $1 WHERE name = $2 \
             RETURNING next_value",
        )
        .bind(ID_BLOCK)
        .bind(sequence)
        .fetch_optional(&self.inner.pool)
        .await?;
        let row = row.ok_or(StoreError::NotFound {
            entity: "id sequence",
        })?;
        let end = codec::get_i64(&row, "next_value")?;
        let start = end - ID_BLOCK;
        let mut ids = self.inner.ids.lock().unwrap_or_else(|p| p.into_inner());
        ids.insert(sequence, (start + 1, end));
        Ok(start as u64)
    }
}

/// Every SQLite connection's settings, with the commit durability `synchronous`.
fn with_sqlite_pragmas(
    pool: AnyPoolOptions,
    busy_ms: u64,
    synchronous: &'static str,
) -> AnyPoolOptions {
    pool.after_connect(move |conn, _meta| {
        Box::pin(async move {
            let pragmas = format!(
                "PRAGMA busy_timeout = {busy_ms}; PRAGMA foreign_keys = ON; \
                 PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous};"
            );
            conn.execute(pragmas.as_str()).await?;
            Ok(())
        })
    })
}

fn backend_of(url: &str) -> Result<Backend> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(StoreError::Config(
            "database URL must start with sqlite: or postgres://".into(),
        ))
    }
}

/// An open transaction. Dropping it without [`Tx::commit`] rolls back.
///
/// Any failed (or cancelled) operation poisons the transaction: `commit`
/// then rolls back and returns [`StoreError::TxAborted`]. PostgreSQL aborts
/// a transaction at its first error while SQLite carries on; poisoning gives
/// both the same, safe behaviour.
pub struct Tx {
    inner: sqlx::Transaction<'static, Any>,
    /// Operations started and not finished successfully.
    unfinished: u32,
}

impl Tx {
    pub async fn commit(self) -> Result<()> {
        if self.unfinished > 0 {
            self.inner.rollback().await?;
            return Err(StoreError::TxAborted);
        }
        self.inner.commit().await?;
        Ok(())
    }

    pub async fn rollback(self) -> Result<()> {
        self.inner.rollback().await?;
        Ok(())
    }

    pub(crate) fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.inner
    }

    pub(crate) fn op_start(&mut self) {
        self.unfinished += 1;
    }

    pub(crate) fn op_done(&mut self) {
        self.unfinished -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_backend() {
        assert_eq!(
            backend_of("sqlite://x.db?mode=rwc").unwrap(),
            Backend::Sqlite
        );
        assert_eq!(backend_of("sqlite::memory:").unwrap(), Backend::Sqlite);
        assert_eq!(backend_of("postgres://u@h/db").unwrap(), Backend::Postgres);
        assert!(matches!(
            backend_of("mysql://x"),
            Err(StoreError::Config(_))
        ));
    }

    #[test]
    fn migrations_are_embedded_in_order() {
        let m = Store::migrations();
        assert!(m.len() >= 2);
        assert!(m.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
