//! The wallet's workflow state: deposits (idempotent by key), withdrawals
//! (a state machine whose transitions are single conditional updates, so a
//! withdrawal can never complete twice) and faucet claims.

use crate::codec::{
    amount, get_amount, get_i64, get_opt_i64, get_opt_str, get_opt_u64, get_str, get_u64, id,
    opt_id,
};
use crate::error::{unique_as, Result, StoreError};
use crate::trading::{balance_from_row, ledger_from_row, LEDGER_COLUMNS};
use crate::{BalanceRecord, LedgerCause, LedgerEntry, Store, Tx};
use sqlx::any::AnyRow;
use std::collections::BTreeMap;

// ---------------------------------------------------------------- deposits

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DepositState {
    /// Recorded; the deposit command is on its way to the engine.
    Pending,
    /// The engine credited it (projected from its `Deposited` event).
    Credited,
    Rejected,
}

impl DepositState {
    pub fn as_str(self) -> &'static str {
        match self {
            DepositState::Pending => "pending",
            DepositState::Credited => "credited",
            DepositState::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<DepositState> {
        Some(match s {
            "pending" => DepositState::Pending,
            "credited" => DepositState::Credited,
            "rejected" => DepositState::Rejected,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DepositRecord {
    pub idem_key: String,
    pub user_id: u64,
    pub asset_id: u64,
    pub amount: u64,
    pub state: DepositState,
    pub source: String,
    pub reference: Option<String>,
    pub created_at: i64,
    pub credited_at: Option<i64>,
    pub seq: Option<u64>,
}

pub struct NewDeposit<'a> {
    pub idem_key: &'a str,
    pub user_id: u64,
    pub asset_id: u64,
    pub amount: u64,
    /// `admin`, `webhook`, `faucet`, ...
    pub source: &'a str,
    pub reference: Option<&'a str>,
    pub now: i64,
}

const DEPOSIT_COLUMNS: &str = "idem_key, user_id, asset_id, amount, state, source, reference, \
                               created_at, credited_at, seq";

fn deposit_from_row(row: &AnyRow) -> Result<DepositRecord> {
    let state = get_str(row, "state")?;
    Ok(DepositRecord {
        idem_key: get_str(row, "idem_key")?,
        user_id: get_u64(row, "user_id")?,
        asset_id: get_u64(row, "asset_id")?,
        amount: get_amount(row, "amount")?,
        state: DepositState::parse(&state).ok_or_else(|| StoreError::corrupt("state", state))?,
        source: get_str(row, "source")?,
        reference: get_opt_str(row, "reference")?,
        created_at: get_i64(row, "created_at")?,
        credited_at: get_opt_i64(row, "credited_at")?,
        seq: get_opt_u64(row, "seq")?,
    })
}

// ---------------------------------------------------------------- withdrawals

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WithdrawalState {
    /// Requested; funds locked in the engine.
    Requested,
    /// Approved by an admin; waiting to be sent.
    Approved,
    /// Rejected by an admin; funds to be released.
    Rejected,
    /// Sent: the funds left the platform (final).
    Completed,
    /// The lock was released back to the user (final).
    Released,
}

impl WithdrawalState {
    pub fn as_str(self) -> &'static str {
        match self {
            WithdrawalState::Requested => "requested",
            WithdrawalState::Approved => "approved",
            WithdrawalState::Rejected => "rejected",
            WithdrawalState::Completed => "completed",
            WithdrawalState::Released => "released",
        }
    }

    pub fn parse(s: &str) -> Option<WithdrawalState> {
        Some(match s {
            "requested" => WithdrawalState::Requested,
            "approved" => WithdrawalState::Approved,
            "rejected" => WithdrawalState::Rejected,
            "completed" => WithdrawalState::Completed,
            "released" => WithdrawalState::Released,
            _ => return None,
        })
    }

    /// The states a withdrawal may move to `self` from.
    pub fn predecessors(self) -> &'static [WithdrawalState] {
        use WithdrawalState::*;
        match self {
            Requested => &[],
            Approved | Rejected => &[Requested],
            Completed => &[Approved],
            Released => &[Approved, Rejected],
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, WithdrawalState::Completed | WithdrawalState::Released)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WithdrawalRecord {
    pub id: u64,
    /// The idempotency key of the engine commands for this withdrawal.
    pub idem_key: String,
    pub user_id: u64,
    pub asset_id: u64,
    /// Atoms the user receives; `fee` is charged on top.
    pub amount: u64,
    pub fee: u64,
    pub destination: String,
    pub state: WithdrawalState,
    pub requested_at: i64,
    pub decided_at: Option<i64>,
    pub decided_by: Option<u64>,
    pub finished_at: Option<i64>,
    pub updated_at: i64,
    pub note: Option<String>,
}

pub struct NewWithdrawal<'a> {
    /// `None`: the store derives `withdrawal:<id>`.
    pub idem_key: Option<&'a str>,
    pub user_id: u64,
    pub asset_id: u64,
    pub amount: u64,
    pub fee: u64,
    pub destination: &'a str,
    pub now: i64,
}

/// Filters of [`Store::list_withdrawals`].
#[derive(Clone, Debug, Default)]
pub struct WithdrawalQuery {
    pub user_id: Option<u64>,
    pub state: Option<WithdrawalState>,
    /// Clamped to 1..=1000; 0 means 100. Newest first.
    pub limit: u32,
}

const WITHDRAWAL_COLUMNS: &str =
    "id, idem_key, user_id, asset_id, amount, fee, destination, state, \
    requested_at, decided_at, decided_by, finished_at, updated_at, note";

fn withdrawal_from_row(row: &AnyRow) -> Result<WithdrawalRecord> {
    let state = get_str(row, "state")?;
    Ok(WithdrawalRecord {
        id: get_u64(row, "id")?,
        idem_key: get_str(row, "idem_key")?,
        user_id: get_u64(row, "user_id")?,
        asset_id: get_u64(row, "asset_id")?,
        amount: get_amount(row, "amount")?,
        fee: get_amount(row, "fee")?,
        destination: get_str(row, "destination")?,
        state: WithdrawalState::parse(&state).ok_or_else(|| StoreError::corrupt("state", state))?,
        requested_at: get_i64(row, "requested_at")?,
        decided_at: get_opt_i64(row, "decided_at")?,
        decided_by: get_opt_u64(row, "decided_by")?,
        finished_at: get_opt_i64(row, "finished_at")?,
        updated_at: get_i64(row, "updated_at")?,
        note: get_opt_str(row, "note")?,
    })
}

impl Tx {
    /// Projects the engine's `Deposited` event: marks the pending deposit
    /// credited, or records it credited if the wallet never saw it (e.g.
    /// demo seeding). A deposit already credited is left as it is.
    pub async fn project_deposit_credited(&mut self, d: &DepositRecord) -> Result<()> {
        self.op_start();
        let seq = opt_id("seq", d.seq)?;
        sqlx::query(&format!(
            "INSERT INTO deposits ({DEPOSIT_COLUMNS}) VALUES ($1, $2, $3, $4, 'credited', $5, $6, \
             $7, $8, $9) ON CONFLICT (idem_key) DO UPDATE SET state = 'credited', \
             credited_at = excluded.credited_at, seq = excluded.seq \
             WHERE deposits.state = 'pending'"
        ))
        .bind(d.idem_key.as_str())
        .bind(id("user id", d.user_id)?)
        .bind(id("asset id", d.asset_id)?)
        .bind(amount(d.amount))
        .bind(d.source.as_str())
        .bind(d.reference.as_deref())
        .bind(d.created_at)
        .bind(d.credited_at)
        .bind(seq)
        .execute(self.conn())
        .await?;
        self.op_done();
        Ok(())
    }
}

impl Store {
    /// Records a deposit request under its idempotency key. Returns the
    /// stored deposit and whether it is new. Repeating the same request
    /// returns the first one; the same key with a different user, asset or
    /// amount is [`StoreError::Duplicate`].
    pub async fn record_deposit(&self, d: &NewDeposit<'_>) -> Result<(DepositRecord, bool)> {
        let done = sqlx::query(
            "INSERT INTO deposits (idem_key, user_id, asset_id, amount, state, source, reference, \
             created_at) VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7) \
             ON CONFLICT (idem_key) DO NOTHING",
        )
        .bind(d.idem_key)
        .bind(id("user id", d.user_id)?)
        .bind(id("asset id", d.asset_id)?)
        .bind(amount(d.amount))
        .bind(d.source)
        .bind(d.reference)
        .bind(d.now)
        .execute(self.pool())
        .await?;
        let stored = self
            .deposit(d.idem_key)
            .await?
            .ok_or(StoreError::NotFound { entity: "deposit" })?;
        if (stored.user_id, stored.asset_id, stored.amount) != (d.user_id, d.asset_id, d.amount) {
            return Err(StoreError::Duplicate {
                entity: "deposit idempotency key",
            });
        }
        Ok((stored, done.rows_affected() == 1))
    }

    pub async fn deposit(&self, idem_key: &str) -> Result<Option<DepositRecord>> {
        sqlx::query(&format!(
            "SELECT {DEPOSIT_COLUMNS} FROM deposits WHERE idem_key = $1"
        ))
        .bind(idem_key)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(deposit_from_row)
        .transpose()
    }

    /// Marks a pending deposit rejected; `false` if it is not pending.
    pub async fn reject_deposit(&self, idem_key: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE deposits SET state = 'rejected' WHERE idem_key = $1 AND state = 'pending'",
        )
        .bind(idem_key)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deposits of a user, newest first.
    pub async fn list_deposits(&self, user_id: u64, limit: u32) -> Result<Vec<DepositRecord>> {
        sqlx::query(&format!(
            "SELECT {DEPOSIT_COLUMNS} FROM deposits WHERE user_id = $1 \
             ORDER BY created_at DESC, idem_key DESC LIMIT $2"
        ))
        .bind(id("user id", user_id)?)
        .bind(i64::from(if limit == 0 { 100 } else { limit.min(1000) }))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(deposit_from_row)
        .collect()
    }

    /// Withdrawals waiting for a decision: how many, and the oldest
    /// `requested_at` (for the pending-withdrawal metrics).
    pub async fn pending_withdrawals(&self) -> Result<(u64, Option<i64>)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(requested_at) AS oldest FROM withdrawals \
             WHERE state = 'requested'",
        )
        .fetch_one(self.pool())
        .await?;
        let n = sqlx::Row::try_get::<i64, _>(&row, "n")?;
        let oldest = sqlx::Row::try_get::<Option<i64>, _>(&row, "oldest")?;
        Ok((n.max(0) as u64, oldest))
    }

    /// Records a withdrawal request in state `requested`.
    pub async fn create_withdrawal(&self, w: &NewWithdrawal<'_>) -> Result<WithdrawalRecord> {
        let wid = self.next_id("withdrawals").await?;
        let key = match w.idem_key {
            Some(k) => k.to_string(),
            None => format!("withdrawal:{wid}"),
        };
        sqlx::query(
            "INSERT INTO withdrawals (id, idem_key, user_id, asset_id, amount, fee, destination, \
             state, requested_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'requested', \
             $8, $8)",
        )
        .bind(id("withdrawal id", wid)?)
        .bind(key.as_str())
        .bind(id("user id", w.user_id)?)
        .bind(id("asset id", w.asset_id)?)
        .bind(amount(w.amount))
        .bind(amount(w.fee))
        .bind(w.destination)
        .bind(w.now)
        .execute(self.pool())
        .await
        .map_err(|e| {
            unique_as(
                e,
                StoreError::Duplicate {
                    entity: "withdrawal idempotency key",
                },
            )
        })?;
        self.withdrawal(wid).await?.ok_or(StoreError::NotFound {
            entity: "withdrawal",
        })
    }

    pub async fn withdrawal(&self, withdrawal_id: u64) -> Result<Option<WithdrawalRecord>> {
        sqlx::query(&format!(
            "SELECT {WITHDRAWAL_COLUMNS} FROM withdrawals WHERE id = $1"
        ))
        .bind(id("withdrawal id", withdrawal_id)?)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(withdrawal_from_row)
        .transpose()
    }

    /// Moves a withdrawal to `to` if its current state allows it, in one
    /// conditional update: of two concurrent attempts only one succeeds,
    /// the other gets [`StoreError::InvalidTransition`]. Approvals and
    /// rejections record `actor` as the decider.
    pub async fn transition_withdrawal(
        &self,
        withdrawal_id: u64,
        to: WithdrawalState,
        actor: Option<u64>,
        note: Option<&str>,
        now: i64,
    ) -> Result<WithdrawalRecord> {
        let from = to.predecessors();
        let decision = matches!(to, WithdrawalState::Approved | WithdrawalState::Rejected);
        let placeholders: Vec<String> = (0..from.len()).map(|i| format!("${}", i + 6)).collect();
        let sql = format!(
            "UPDATE withdrawals SET state = $2, updated_at = $3, note = COALESCE($4, note), {} \
             WHERE id = $1 AND state IN ({})",
            if decision {
                "decided_at = $3, decided_by = $5"
            } else {
                "finished_at = $3, decided_by = COALESCE(decided_by, $5)"
            },
            if placeholders.is_empty() {
                "NULL".to_string()
            } else {
                placeholders.join(", ")
            }
        );
        let mut query = sqlx::query(&sql)
            .bind(id("withdrawal id", withdrawal_id)?)
            .bind(to.as_str())
            .bind(now)
            .bind(note)
            .bind(opt_id("user id", actor)?);
        for s in from {
            query = query.bind(s.as_str());
        }
        let done = query.execute(self.pool()).await?;
        let current = self
            .withdrawal(withdrawal_id)
            .await?
            .ok_or(StoreError::NotFound {
                entity: "withdrawal",
            })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::InvalidTransition {
                id: withdrawal_id,
                from: current.state.as_str(),
                to: to.as_str(),
            });
        }
        Ok(current)
    }

    /// Withdrawals, newest first, filtered by user and/or state.
    pub async fn list_withdrawals(&self, q: &WithdrawalQuery) -> Result<Vec<WithdrawalRecord>> {
        let mut sql = format!("SELECT {WITHDRAWAL_COLUMNS} FROM withdrawals WHERE 1 = 1");
        let mut n = 0;
        if q.user_id.is_some() {
            n += 1;
            sql += &format!(" AND user_id = ${n}");
        }
        if q.state.is_some() {
            n += 1;
            sql += &format!(" AND state = ${n}");
        }
        sql += &format!(" ORDER BY requested_at DESC, id DESC LIMIT ${}", n + 1);
        let mut query = sqlx::query(&sql);
        if let Some(u) = q.user_id {
            query = query.bind(id("user id", u)?);
        }
        if let Some(s) = q.state {
            query = query.bind(s.as_str());
        }
        query
            .bind(i64::from(if q.limit == 0 {
                100
            } else {
                q.limit.min(1000)
            }))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(withdrawal_from_row)
            .collect()
    }

    /// Deletes a withdrawal still `requested` whose funds the engine never
    /// locked (the lock was refused, or a limit check undid the request);
    /// `false` if it is in any other state.
    pub async fn delete_unlocked_withdrawal(&self, withdrawal_id: u64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM withdrawals WHERE id = $1 AND state = 'requested'")
            .bind(id("withdrawal id", withdrawal_id)?)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Total amount (without fees) of a user's withdrawals of an asset
    /// requested at or after `since` that are not rejected or released:
    /// what counts against a daily limit.
    pub async fn withdrawn_since(&self, user_id: u64, asset_id: u64, since: i64) -> Result<u128> {
        let rows = sqlx::query(
            "SELECT amount FROM withdrawals WHERE user_id = $1 AND asset_id = $2 \
             AND requested_at >= $3 AND state IN ('requested', 'approved', 'completed')",
        )
        .bind(id("user id", user_id)?)
        .bind(id("asset id", asset_id)?)
        .bind(since)
        .fetch_all(self.pool())
        .await?;
        rows.iter().try_fold(0u128, |sum, r| {
            Ok(sum + u128::from(get_amount(r, "amount")?))
        })
    }

    /// Takes one faucet claim for (user, asset, day) if fewer than
    /// `max_claims` were taken that day; atomic, `false` when the cap is hit.
    pub async fn claim_faucet(
        &self,
        user_id: u64,
        asset_id: u64,
        day: u64,
        max_claims: u32,
    ) -> Result<bool> {
        if max_claims == 0 {
            return Ok(false);
        }
        let done = sqlx::query(
            "INSERT INTO faucet_usage (user_id, asset_id, day, claims) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (user_id, asset_id, day) DO UPDATE SET claims = faucet_usage.claims + 1 \
             WHERE faucet_usage.claims < $4",
        )
        .bind(id("user id", user_id)?)
        .bind(id("asset id", asset_id)?)
        .bind(id("day", day)?)
        .bind(i64::from(max_claims))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

// ---------------------------------------------------------------- ledger reads, projection helpers

/// Most entries one [`Store::ledger_page`] returns.
pub const MAX_LEDGER_PAGE: u32 = 1000;

/// Filters of [`Store::ledger_page`]: one user's entries, ascending by
/// (seq, idx).
#[derive(Clone, Debug, Default)]
pub struct LedgerQuery {
    pub user_id: u64,
    pub asset_id: Option<u64>,
    pub cause: Option<LedgerCause>,
    /// Ms since the Unix epoch, inclusive.
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    /// Only entries strictly after this (seq, idx): the cursor of the last
    /// entry already seen.
    pub after: Option<(u64, u32)>,
    /// Clamped to 1..=[`MAX_LEDGER_PAGE`]; 0 means 100.
    pub limit: u32,
}

impl Tx {
    /// A user's projected balance of an asset, read inside the transaction.
    pub async fn balance_of(
        &mut self,
        user_id: u64,
        asset_id: u64,
    ) -> Result<Option<BalanceRecord>> {
        self.op_start();
        let row = sqlx::query(
            "SELECT user_id, asset_id, available, locked, seq FROM balances \
             WHERE user_id = $1 AND asset_id = $2",
        )
        .bind(id("user id", user_id)?)
        .bind(id("asset id", asset_id)?)
        .fetch_optional(self.conn())
        .await?;
        let b = row.as_ref().map(balance_from_row).transpose()?;
        self.op_done();
        Ok(b)
    }

    /// The withdrawal whose engine commands carry `idem_key`.
    pub async fn withdrawal_by_key(&mut self, idem_key: &str) -> Result<Option<WithdrawalRecord>> {
        self.op_start();
        let row = sqlx::query(&format!(
            "SELECT {WITHDRAWAL_COLUMNS} FROM withdrawals WHERE idem_key = $1"
        ))
        .bind(idem_key)
        .fetch_optional(self.conn())
        .await?;
        let w = row.as_ref().map(withdrawal_from_row).transpose()?;
        self.op_done();
        Ok(w)
    }
}

impl Store {
    /// One page of a user's ledger (see [`LedgerQuery`]).
    pub async fn ledger_page(&self, q: &LedgerQuery) -> Result<Vec<LedgerEntry>> {
        let mut sql = format!("SELECT {LEDGER_COLUMNS} FROM ledger_entries WHERE user_id = $1");
        let mut n = 1;
        let mut p = || {
            n += 1;
            n
        };
        if q.asset_id.is_some() {
            sql += &format!(" AND asset_id = ${}", p());
        }
        if q.cause.is_some() {
            sql += &format!(" AND cause = ${}", p());
        }
        if q.start_time.is_some() {
            sql += &format!(" AND at >= ${}", p());
        }
        if q.end_time.is_some() {
            sql += &format!(" AND at <= ${}", p());
        }
        if q.after.is_some() {
            let (a, b) = (p(), p());
            sql += &format!(" AND (seq > ${a} OR (seq = ${a} AND idx > ${b}))");
        }
        sql += &format!(" ORDER BY seq, idx LIMIT ${}", p());
        let mut query = sqlx::query(&sql).bind(id("user id", q.user_id)?);
        if let Some(a) = q.asset_id {
            query = query.bind(id("asset id", a)?);
        }
        if let Some(c) = q.cause {
            query = query.bind(c.as_str());
        }
        if let Some(t) = q.start_time {
            query = query.bind(t);
        }
        if let Some(t) = q.end_time {
            query = query.bind(t);
        }
        if let Some((seq, idx)) = q.after {
            query = query.bind(id("seq", seq)?).bind(i64::from(idx));
        }
        let limit = if q.limit == 0 {
            100
        } else {
            q.limit.min(MAX_LEDGER_PAGE)
        };
        query
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(ledger_from_row)
            .collect()
    }

    /// The withdrawal whose engine commands carry `idem_key`.
    pub async fn withdrawal_by_key(&self, idem_key: &str) -> Result<Option<WithdrawalRecord>> {
        sqlx::query(&format!(
            "SELECT {WITHDRAWAL_COLUMNS} FROM withdrawals WHERE idem_key = $1"
        ))
        .bind(idem_key)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(withdrawal_from_row)
        .transpose()
    }

    /// The withdrawal fees the ledger booked as revenue, per asset id: the
    /// `fees` entries of cause `fee` whose reference is a withdrawal.
    pub async fn ledger_withdrawal_fees(&self) -> Result<BTreeMap<u64, i128>> {
        let rows = sqlx::query(
            "SELECT asset_id, amount FROM ledger_entries WHERE account_kind = 'fees' \
             AND cause = 'fee' AND reference LIKE 'withdrawal:%'",
        )
        .fetch_all(self.pool())
        .await?;
        let mut out = BTreeMap::new();
        for r in &rows {
            *out.entry(get_u64(r, "asset_id")?).or_insert(0i128) +=
                crate::codec::get_signed(r, "amount")?;
        }
        Ok(out)
    }

    /// Fees of completed withdrawals per asset id (exact, summed in Rust):
    /// the fee revenue the ledger books that never was an engine balance.
    pub async fn completed_withdrawal_fees(&self) -> Result<BTreeMap<u64, u128>> {
        let rows = sqlx::query("SELECT asset_id, fee FROM withdrawals WHERE state = 'completed'")
            .fetch_all(self.pool())
            .await?;
        let mut out = BTreeMap::new();
        for r in &rows {
            *out.entry(get_u64(r, "asset_id")?).or_insert(0u128) +=
                u128::from(get_amount(r, "fee")?);
        }
        Ok(out)
    }
}
