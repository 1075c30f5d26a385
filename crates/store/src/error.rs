//! One error type for every storage call.

/// What went wrong in a storage call. Conflicts, missing rows and protocol
/// violations (projector gaps, illegal withdrawal transitions) are their own
/// variants so that callers map them to API errors without parsing messages.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A user with this (case-insensitive) email exists.
    #[error("email already registered")]
    EmailTaken,
    /// A unique key of `entity` is taken (API key string, token hash, order id, ...).
    #[error("{entity} already exists")]
    Duplicate { entity: &'static str },
    /// The row the call needed does not exist.
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    /// A projector was handed a batch that starts past the next expected
    /// sequence number: something upstream skipped commands.
    #[error(
        "projector {name}: gap, last applied seq is {last_applied} but the batch starts at {first}"
    )]
    ProjectorGap {
        name: String,
        last_applied: u64,
        first: u64,
    },
    /// A projector batch that is partly applied already: re-slice it to
    /// start right after `last_applied`.
    #[error("projector {name}: batch {first}..={last} overlaps the applied prefix (last applied {last_applied})")]
    ProjectorOverlap {
        name: String,
        last_applied: u64,
        first: u64,
        last: u64,
    },
    /// A withdrawal may not move from its current state to the one asked for
    /// (e.g. complete twice, approve a rejected one).
    #[error("withdrawal {id}: cannot go from {from} to {to}")]
    InvalidTransition {
        id: u64,
        from: &'static str,
        to: &'static str,
    },
    /// Ledger entries of one change do not sum to zero for an asset.
    #[error("unbalanced ledger entries: asset {asset_id} sums to {sum}")]
    Unbalanced { asset_id: u64, sum: i128 },
    /// An operation inside the transaction failed earlier, so the
    /// transaction was rolled back instead of committed.
    #[error("transaction rolled back: an operation in it failed")]
    TxAborted,
    /// A value does not fit its column (e.g. an id above `i64::MAX`).
    #[error("{what} out of range for storage: {value}")]
    OutOfRange { what: &'static str, value: String },
    /// A stored value could not be read back as its Rust type.
    #[error("corrupt value in column {column}: {detail}")]
    Corrupt {
        column: &'static str,
        detail: String,
    },
    /// The database is busy (SQLite lock timeout, PostgreSQL serialization
    /// failure or deadlock): the whole operation may be retried.
    #[error("database busy, retry: {0}")]
    Busy(#[source] sqlx::Error),
    /// No connection could be had from the pool in time.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The connection URL or options are not usable.
    #[error("bad database configuration: {0}")]
    Config(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl StoreError {
    /// Whether repeating the same call may succeed (busy / unavailable).
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Busy(_) | StoreError::Unavailable(_))
    }

    pub(crate) fn corrupt(column: &'static str, detail: impl ToString) -> Self {
        StoreError::Corrupt {
            column,
            detail: detail.to_string(),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => StoreError::Unavailable(e),
            sqlx::Error::Database(db) => {
                let code = db.code();
                let code = code.as_deref().unwrap_or("");
                // SQLite: 5 SQLITE_BUSY, 6 SQLITE_LOCKED and their extended
                // codes (low byte). PostgreSQL: serialization failure, deadlock.
                let sqlite_busy = code
                    .parse::<i32>()
                    .map(|c| matches!(c & 0xff, 5 | 6))
                    .unwrap_or(false);
                if sqlite_busy || code == "40001" || code == "40P01" {
                    StoreError::Busy(e)
                } else {
                    StoreError::Database(e)
                }
            }
            _ => StoreError::Database(e),
        }
    }
}

/// Result of every storage call.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Maps a unique-constraint violation to `conflict`, anything else as usual.
pub(crate) fn unique_as(e: sqlx::Error, conflict: StoreError) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            return conflict;
        }
    }
    e.into()
}
