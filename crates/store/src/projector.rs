//! Exactly-once projection of the journal into SQL.
//!
//! A projector (order history, ledger, ...) consumes the engine's events in
//! journal sequence order. Its writes for a command (or a run of commands)
//! and the new offset land in one transaction, so after a crash it resumes
//! from [`Store::projector_offset`] + 1 with no gap and no duplicate:
//!
//! - a batch at or below the stored offset was applied already: skipped;
//! - a batch starting right after the offset: applied, offset advanced;
//! - a batch starting later: [`StoreError::ProjectorGap`] (events were lost
//!   upstream; never paper over it);
//! - a batch straddling the offset: [`StoreError::ProjectorOverlap`].
//!
//! The offset row is locked first (a conditional `UPDATE ... RETURNING`), so
//! two instances of the same projector serialise instead of double-applying.
//! Next to the offset a projection may keep one text of its own state (the
//! configuration it learnt from the events, [`ProjectionTx::set_state`]),
//! written in the same transaction.
//!
//! # Durability
//!
//! A projection is derived from the journal, which alone is made durable
//! before anyone hears of a command; a projection's commit is not. Its
//! transactions therefore skip the wait for the disk: on SQLite they run on
//! connections of their own with `synchronous = NORMAL` (WAL: a commit
//! reaches the OS, the fsync comes at the next checkpoint), on PostgreSQL
//! with `SET LOCAL synchronous_commit = off`. A power loss can drop the
//! newest projection transactions, never half of one and never corrupt the
//! database (both are crash-safe in these modes); since the offset sits in
//! the same transaction as the rows, what is lost is re-projected from the
//! journal at the next start. The other tables (accounts, sessions,
//! withdrawals) keep waiting for the disk.

use crate::codec::{get_u64, id};
use crate::error::{Result, StoreError};
use crate::{Backend, Store, Tx};
use sqlx::Row;
use std::future::Future;
use std::ops::{Deref, DerefMut, RangeInclusive};
use std::pin::Pin;

/// The future a projection closure returns (boxed, so that it can borrow the
/// transaction).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchOutcome {
    /// The writes ran and the offset is now the batch's last seq.
    Applied,
    /// Nothing ran: the offset already covered the batch.
    AlreadyApplied { last_applied: u64 },
}

/// A transaction whose commit also records the projector's new offset.
/// Dropping it without [`ProjectionTx::commit`] rolls everything back.
pub struct ProjectionTx {
    tx: Tx,
    name: String,
    last: u64,
    state: Option<String>,
}

impl ProjectionTx {
    /// The last seq this batch covers.
    pub fn last_seq(&self) -> u64 {
        self.last
    }

    /// Stores `state` (see [`Store::projector_state`]) with the offset at commit.
    pub fn set_state(&mut self, state: String) {
        self.state = Some(state);
    }

    /// Stores the new offset (and state, if set) and commits the batch's
    /// writes with it.
    pub async fn commit(mut self) -> Result<()> {
        sqlx::query(
            "UPDATE projector_offsets SET last_seq = $2, catalog = COALESCE($3, catalog) \
             WHERE name = $1",
        )
        .bind(self.name.as_str())
        .bind(id("seq", self.last)?)
        .bind(self.state.take())
        .execute(self.tx.conn())
        .await?;
        self.tx.commit().await
    }
}

impl Deref for ProjectionTx {
    type Target = Tx;
    fn deref(&self) -> &Tx {
        &self.tx
    }
}

impl DerefMut for ProjectionTx {
    fn deref_mut(&mut self) -> &mut Tx {
        &mut self.tx
    }
}

impl Store {
    /// The last seq projector `name` applied (0: none; journal seqs start at 1).
    pub async fn projector_offset(&self, name: &str) -> Result<u64> {
        let row = sqlx::query("SELECT last_seq FROM projector_offsets WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        row.map_or(Ok(0), |r| get_u64(&r, "last_seq"))
    }

    /// The last seq projector `name` applied and the state it stored with
    /// it ([`ProjectionTx::set_state`]; `None`: never stored).
    pub async fn projector_state(&self, name: &str) -> Result<(u64, Option<String>)> {
        let row = sqlx::query("SELECT last_seq, catalog FROM projector_offsets WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else {
            return Ok((0, None));
        };
        let state: Option<String> = row.try_get("catalog")?;
        Ok((get_u64(&row, "last_seq")?, state))
    }

    /// Opens the transaction for the batch of commands `seqs` (inclusive) of
    /// projector `name`. `None` if the batch was applied already; errors on a
    /// gap or an overlap. Write through the returned transaction, then
    /// [`ProjectionTx::commit`].
    pub async fn begin_projection(
        &self,
        name: &str,
        seqs: RangeInclusive<u64>,
    ) -> Result<Option<ProjectionTx>> {
        let (first, last) = (*seqs.start(), *seqs.end());
        if first == 0 || first > last {
            return Err(StoreError::OutOfRange {
                what: "projector batch",
                value: format!("{first}..={last}"),
            });
        }
        id("seq", last)?;
        let mut tx = self.begin_projection_tx().await?;
        // Write first, to take the lock before reading the offset.
        sqlx::query(
            "INSERT INTO projector_offsets (name, last_seq) VALUES ($1, 0) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .execute(tx.conn())
        .await?;
        let row = sqlx::query(
            "UPDATE projector_offsets SET last_seq = last_seq WHERE name = $1 RETURNING last_seq",
        )
        .bind(name)
        .fetch_one(tx.conn())
        .await?;
        let last_applied = get_u64(&row, "last_seq")?;
        if last <= last_applied {
            tx.rollback().await?;
            return Ok(None);
        }
        if first > last_applied + 1 {
            return Err(StoreError::ProjectorGap {
                name: name.to_string(),
                last_applied,
                first,
            });
        }
        if first <= last_applied {
            return Err(StoreError::ProjectorOverlap {
                name: name.to_string(),
                last_applied,
                first,
                last,
            });
        }
        Ok(Some(ProjectionTx {
            tx,
            name: name.to_string(),
            last,
            state: None,
        }))
    }

    /// A transaction that does not wait for the disk at commit (see the
    /// module documentation: only for projections of the journal).
    async fn begin_projection_tx(&self) -> Result<Tx> {
        let mut tx = self.begin_on(self.projection_pool()).await?;
        if self.backend() == Backend::Postgres && !self.durable_projections() {
            sqlx::query("SET LOCAL synchronous_commit = off")
                .execute(tx.conn())
                .await?;
        }
        Ok(tx)
    }

    /// Applies the commands `seqs` once: runs `write` in a transaction that
    /// also advances the offset, unless the batch was applied already.
    ///
    /// ```no_run
    /// # async fn f(store: flowex_store::Store, trade: flowex_store::TradeRecord) -> flowex_store::Result<()> {
    /// store
    ///     .apply_batch("trades", 7..=7, move |tx| Box::pin(async move {
    ///         tx.insert_trade(&trade).await
    ///     }))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn apply_batch<F>(
        &self,
        name: &str,
        seqs: RangeInclusive<u64>,
        write: F,
    ) -> Result<BatchOutcome>
    where
        F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<()>>,
    {
        let Some(mut ptx) = self.begin_projection(name, seqs).await? else {
            return Ok(BatchOutcome::AlreadyApplied {
                last_applied: self.projector_offset(name).await?,
            });
        };
        write(&mut ptx.tx).await?;
        ptx.commit().await?;
        Ok(BatchOutcome::Applied)
    }

    /// [`Store::apply_batch`] for the single command `seq`.
    pub async fn apply_batch_at<F>(&self, name: &str, seq: u64, write: F) -> Result<BatchOutcome>
    where
        F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<()>>,
    {
        self.apply_batch(name, seq..=seq, write).await
    }
}
