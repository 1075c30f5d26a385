//! Withdrawals: request, cancel, approve, reject, and the per-asset rules.
//!
//! ```text
//! requested ──approve──▶ approved ──(WithdrawFinalize)──▶ completed
//!     │
//!     └──reject / user cancel──▶ rejected ──(WithdrawRelease)──▶ released
//! ```
//!
//! - **Request** (`POST /api/v1/wallet/withdrawals`): the caller's own
//!   funds only (the body names no user; unknown fields such as `user_id`,
//!   `fee` or `state` are refused with 422 `invalid_body`). An API key needs
//!   `WITHDRAW` (the gateway checks it, the handler again). A user with 2FA
//!   on sends the current code (`totp_code`), checked against the same
//!   sealed secret and with the same replay rule as login (a code's time
//!   step is accepted once, atomically in SQL). The asset's rules
//!   (`assets.withdraw_min`, `withdraw_fee`, `withdraw_daily_limit`, set by
//!   `PUT /api/v1/admin/assets/{asset}/withdrawal-settings`) apply: the
//!   amount (what the address receives) must reach the minimum; the fee is
//!   charged on top, so the engine locks `amount + fee`; the daily limit is
//!   a rolling 24 hours of requested amounts (fees excluded) of withdrawals
//!   not rejected or released. The row is written first, then the engine
//!   locks the funds under the row's key (`withdrawal:<id>`, or
//!   `wd:<user>:<idempotency_key>`); a refused lock (insufficient funds,
//!   frozen user) deletes the row again. Two concurrent requests cannot
//!   both pass the daily limit: each counts itself after its row is
//!   written and backs out if the sum is over.
//! - **Decisions** are single conditional SQL updates
//!   (`Store::transition_withdrawal`): of concurrent approve, reject and
//!   cancel calls exactly one moves a withdrawal out of `requested`, the
//!   others get 409 `invalid_state`. The engine command follows (finalize
//!   or release, idempotent by the key), then the second transition
//!   (`approved → completed`, `rejected → released`), which again only one
//!   call can make: a withdrawal can never complete twice. If the engine
//!   was unreachable in between, repeating the same decision (approve an
//!   `approved` one, reject a `rejected` one) resumes it.
//! - **Every transition is audited** (`wallet.withdrawal.request`,
//!   `.cancel`, `admin.withdrawal.approve`, `.reject`,
//!   `admin.withdrawal_settings`), refusals included.
//!
//! How the fee is booked: see [`crate::ledger`] (it leaves the user's
//! balance with the withdrawal and stays in custody as fee revenue).

use crate::audit::{now_ms, Audit};
use crate::rejection;
use crate::WalletState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use flowex_auth::totp::{self, TotpError};
use flowex_auth::{totp_store, Permissions};
use flowex_http::openapi::NativeError;
use flowex_http::{ApiError, Identity};
use flowex_kit::body::to_value;
use flowex_kit::store_error;
use flowex_kit::RequestMeta;
use flowex_store::{
    AssetRecord, AuditOutcome, NewWithdrawal, StoreError, WithdrawalQuery, WithdrawalRecord,
    WithdrawalState,
};
use flowex_types::{format_scaled, parse_scaled, AssetConfig, Command, IdemKey, RejectReason};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;

/// Rolling window of the daily limit, in ms.
pub const DAILY_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;
/// Longest destination address accepted.
pub const MAX_ADDRESS: usize = 128;
/// Most withdrawals one list holds.
pub const MAX_LIST: u32 = 1000;

fn not_found() -> ApiError {
    ApiError::native(
        StatusCode::NOT_FOUND,
        "withdrawal_not_found",
        "No such withdrawal.",
    )
}

fn invalid_state(current: &str) -> ApiError {
    ApiError::conflict(
        "invalid_state",
        format!("The withdrawal is {current}: this decision is not possible any more."),
    )
}

async fn find_asset(s: &WalletState, code: &str) -> Result<AssetConfig, ApiError> {
    let assets = s.sink.assets().await?;
    assets
        .into_iter()
        .find(|a| a.code.as_str() == code)
        .ok_or_else(|| ApiError::bad_request("unknown_asset", format!("No asset {code:?}.")))
}

fn decimals_of(assets: &[AssetConfig], id: u64) -> (String, u8) {
    assets.iter().find(|a| u64::from(a.id.0) == id).map_or_else(
        || (id.to_string(), 0),
        |a| (a.code.as_str().to_string(), a.decimals),
    )
}

/// A withdrawal as sent; `admin` adds who it belongs to and who decided.
fn view(w: &WithdrawalRecord, assets: &[AssetConfig], admin: bool) -> WithdrawalView {
    let (code, decimals) = decimals_of(assets, w.asset_id);
    WithdrawalView {
        id: w.id,
        asset: code,
        amount: format_scaled(w.amount, decimals),
        fee: format_scaled(w.fee, decimals),
        address: w.destination.clone(),
        state: w.state.as_str().to_string(),
        requested_at: w.requested_at,
        decided_at: w.decided_at,
        finished_at: w.finished_at,
        note: w.note.clone(),
        user_id: admin.then_some(w.user_id),
        decided_by: admin.then_some(w.decided_by),
    }
}

/// A withdrawal (OpenAPI schema).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct WithdrawalView {
    id: u64,
    #[schema(example = "BTC")]
    asset: String,
    /// What the address receives (decimal string).
    #[schema(example = "0.01000000")]
    amount: String,
    /// Charged on top of `amount` (decimal string).
    #[schema(example = "0.00050000")]
    fee: String,
    address: String,
    /// `requested`, `approved`, `rejected`, `completed` or `released`.
    #[schema(example = "requested")]
    state: String,
    /// Ms since the Unix epoch.
    requested_at: i64,
    decided_at: Option<i64>,
    finished_at: Option<i64>,
    /// The admin's note of a decision (`canceled by user` for a cancel).
    note: Option<String>,
    /// Admin views only: the owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<u64>,
    /// Admin views only: the deciding admin (`null` until decided).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u64>)]
    decided_by: Option<Option<u64>>,
}

/// `{"withdrawal": …}` (OpenAPI schema).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct WithdrawalResponse {
    withdrawal: WithdrawalView,
}

/// `{"withdrawals": […]}` (OpenAPI schema).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct WithdrawalList {
    /// Newest first.
    withdrawals: Vec<WithdrawalView>,
}

/// Body of `POST /api/v1/wallet/withdrawals`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawalRequest {
    /// Asset code.
    #[schema(example = "BTC")]
    pub asset: String,
    /// What the address receives: a decimal string in the asset's precision.
    #[schema(example = "0.01")]
    pub amount: String,
    /// Destination: 1–128 printable ASCII characters without spaces.
    #[schema(example = "bc1qexampleaddress")]
    pub address: String,
    /// The current 6-digit code; required when the user has 2FA on.
    #[serde(default)]
    #[schema(example = "123456")]
    pub totp_code: Option<String>,
    /// Names the request (1–36 of `A-Z a-z 0-9 . _ : -`): repeating it
    /// returns the same withdrawal instead of a second one.
    #[serde(default)]
    #[schema(example = "payout-2026-11-26-1")]
    pub idempotency_key: Option<String>,
}

fn valid_key(k: &str) -> bool {
    (1..=36).contains(&k.len())
        && k.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'))
}

fn valid_address(a: &str) -> bool {
    (1..=MAX_ADDRESS).contains(&a.len()) && a.bytes().all(|c| c.is_ascii_graphic())
}

/// The asset's rules, defaults (no minimum, no fee, no limit) when never set.
async fn rules(s: &WalletState, asset: &AssetConfig) -> Result<AssetRecord, ApiError> {
    let id = u64::from(asset.id.0);
    let found = s
        .store
        .assets()
        .await
        .map_err(store_error)?
        .into_iter()
        .find(|a| a.id == id);
    Ok(found.unwrap_or(AssetRecord {
        id,
        code: asset.code.as_str().to_string(),
        decimals: u32::from(asset.decimals),
        withdraw_min: 0,
        withdraw_fee: 0,
        withdraw_daily_limit: 0,
        updated_at: 0,
    }))
}

/// Refuses a request whose user has 2FA on unless `code` is right and
/// unused (its time step is then recorded, so it never works twice).
async fn check_totp(s: &WalletState, user_id: u64, code: Option<&str>) -> Result<(), ApiError> {
    let user = s
        .store
        .user_by_id(user_id)
        .await
        .map_err(store_error)?
        .ok_or_else(ApiError::unauthorized)?;
    if !user.totp_enabled {
        return Ok(());
    }
    let Some(code) = code else {
        return Err(ApiError::native(
            StatusCode::UNAUTHORIZED,
            "totp_required",
            "Two-factor authentication is on: send the current 6-digit code (totp_code).",
        ));
    };
    let secret_box = s
        .totp
        .as_ref()
        .ok_or_else(|| ApiError::unavailable("the wallet cannot check 2FA codes"))?;
    let slots = totp_store::Slots::parse(user.totp_secret.as_deref());
    let active = slots
        .active
        .ok_or_else(|| ApiError::internal(format!("user {user_id}: 2FA on without a secret")))?;
    let secret = totp_store::open(secret_box, user_id, &active)
        .map_err(|e| ApiError::internal(format!("user {user_id}: {e}")))?;
    let now = (now_ms().max(0) / 1000) as u64;
    let refused = |e: TotpError| {
        ApiError::native(
            StatusCode::UNAUTHORIZED,
            "invalid_totp",
            format!("Two-factor code refused: {e}."),
        )
    };
    let step = totp::verify(&secret, code, now, user.totp_last_step).map_err(refused)?;
    if !s
        .store
        .accept_totp_step(user_id, step)
        .await
        .map_err(store_error)?
    {
        return Err(refused(TotpError::Replayed));
    }
    Ok(())
}

fn engine_refusal(reason: RejectReason) -> ApiError {
    match reason {
        RejectReason::InsufficientFunds => ApiError::bad_request(
            "insufficient_balance",
            "The available balance does not cover amount + fee.",
        ),
        RejectReason::UserFrozen => ApiError::native(
            StatusCode::FORBIDDEN,
            "account_frozen",
            "The account is frozen: no withdrawals.",
        ),
        RejectReason::Overflow => {
            ApiError::bad_request("invalid_amount", "amount + fee is too large.")
        }
        other => ApiError::native(
            StatusCode::UNPROCESSABLE_ENTITY,
            "withdrawal_rejected",
            format!("The engine refused the withdrawal: {other:?}."),
        ),
    }
}

/// `POST /api/v1/wallet/withdrawals`.
#[utoipa::path(post, path = "/api/v1/wallet/withdrawals", tag = "wallet",
    summary = "Request a withdrawal",
    description = "Locks `amount + fee` of the caller's available balance and records the request in state `requested`, to be approved or rejected by an admin. With an API key the request is SIGNED and the key needs `WITHDRAW`; a user with 2FA on sends `totp_code`. The asset's minimum, fee and rolling-24-hour limit apply. Audited (`wallet.withdrawal.request`).",
    security(("bearerAuth" = []), ("apiKey" = [])),
    request_body = WithdrawalRequest,
    responses(
        (status = 201, description = "Requested (funds locked).", body = WithdrawalResponse),
        (status = 200, description = "The earlier withdrawal of this `idempotency_key`.", body = WithdrawalResponse),
        (status = 400, description = "`unknown_asset`, `invalid_amount`, `invalid_address`, `invalid_idempotency_key`, `amount_below_minimum`, `daily_limit_exceeded`, `insufficient_balance`; `invalid_json` (not JSON), `invalid_body` (a missing, unknown or mistyped field, named in the message).", body = NativeError),
        (status = 401, description = "`unauthorized`, `invalid_token`, `token_expired`, `totp_required`, `invalid_totp` (wrong, malformed or already used code); API keys: `invalid_api_key` (no `WITHDRAW`).", body = NativeError),
        (status = 403, description = "`account_frozen`.", body = NativeError),
        (status = 409, description = "`idempotency_key_reused`: the key names another withdrawal.", body = NativeError),
        (status = 415, description = "`unsupported_media_type`.", body = NativeError),
        (status = 422, description = "`withdrawal_rejected`: the engine refused it.", body = NativeError),
    ))]
pub async fn request(
    State(s): State<WalletState>,
    who: Identity,
    meta: RequestMeta,
    flowex_kit::Json(req): flowex_kit::Json<WithdrawalRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let audit = Audit::new(
        &s,
        "wallet.withdrawal.request",
        who.user_id,
        meta,
        format!("user:{}", who.user_id),
    );
    match request_inner(&s, &who, &req).await {
        Ok((status, w, asset)) => {
            audit
                .write(
                    AuditOutcome::Ok,
                    json!({"withdrawal": w.id, "asset": asset.code.as_str(),
                           "amount": format_scaled(w.amount, asset.decimals),
                           "fee": format_scaled(w.fee, asset.decimals),
                           "replay": status == StatusCode::OK}),
                )
                .await;
            Ok((
                status,
                Json(to_value(&WithdrawalResponse {
                    withdrawal: view(&w, &[asset], false),
                })),
            ))
        }
        Err(e) => {
            let detail = json!({
                "asset": req.asset.chars().take(16).collect::<String>(),
                "amount": req.amount.chars().take(40).collect::<String>(),
            });
            audit.refused(&e, detail).await;
            Err(e)
        }
    }
}

async fn request_inner(
    s: &WalletState,
    who: &Identity,
    req: &WithdrawalRequest,
) -> Result<(StatusCode, WithdrawalRecord, AssetConfig), ApiError> {
    if !who.permits(Permissions::WITHDRAW) {
        return Err(ApiError::rejected_api_key());
    }
    let asset = find_asset(s, &req.asset).await?;
    let amount = positive_amount(&req.amount, &asset)?;
    if !valid_address(&req.address) {
        return Err(ApiError::bad_request(
            "invalid_address",
            format!(
                "address must be 1 to {MAX_ADDRESS} printable ASCII characters without spaces."
            ),
        ));
    }
    let key = idempotency_key(who, req)?;
    if let Some(k) = &key {
        if let Some(w) = replay(s, k, &asset, amount, &req.address).await? {
            // The first attempt may have written the row and died before the
            // lock: the lock is idempotent by the row's key, so lock again.
            if w.state == WithdrawalState::Requested {
                relock(s, &w).await?;
            }
            return Ok((StatusCode::OK, w, asset));
        }
    }
    let rules = rules(s, &asset).await?;
    if amount < rules.withdraw_min {
        return Err(ApiError::bad_request(
            "amount_below_minimum",
            format!(
                "The minimum withdrawal of {} is {}.",
                asset.code,
                format_scaled(rules.withdraw_min, asset.decimals)
            ),
        ));
    }
    let fee = rules.withdraw_fee;
    let total = amount
        .checked_add(fee)
        .ok_or_else(|| ApiError::bad_request("invalid_amount", "amount + fee is too large."))?;
    check_totp(s, who.user_id, req.totp_code.as_deref()).await?;
    let now = now_ms();
    let new = NewWithdrawal {
        idem_key: key.as_deref(),
        user_id: who.user_id,
        asset_id: u64::from(asset.id.0),
        amount,
        fee,
        destination: &req.address,
        now,
    };
    let w = s.store.create_withdrawal(&new).await.map_err(|e| match e {
        StoreError::Duplicate { .. } => key_reused(),
        other => store_error(other),
    })?;
    check_daily_limit(s, &w, &rules, &asset, now).await?;
    lock(s, &w, &asset, total).await?;
    Ok((StatusCode::CREATED, w, asset))
}

fn key_reused() -> ApiError {
    ApiError::conflict(
        "idempotency_key_reused",
        "This idempotency_key was used for another withdrawal.",
    )
}

/// A positive amount with at most the asset's decimals.
pub(crate) fn positive_amount(text: &str, asset: &AssetConfig) -> Result<u64, ApiError> {
    parse_scaled(text, asset.decimals)
        .ok()
        .filter(|a| *a > 0)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_amount",
                format!(
                    "amount must be a positive decimal string with at most {} decimals.",
                    asset.decimals
                ),
            )
        })
}

/// The stored key of the request's `idempotency_key` (per user), if any.
fn idempotency_key(who: &Identity, req: &WithdrawalRequest) -> Result<Option<String>, ApiError> {
    match &req.idempotency_key {
        None => Ok(None),
        Some(k) if valid_key(k) => Ok(Some(format!("wd:{}:{k}", who.user_id))),
        Some(_) => Err(ApiError::bad_request(
            "invalid_idempotency_key",
            "idempotency_key must be 1 to 36 characters of A-Z a-z 0-9 . _ : -",
        )),
    }
}

/// The withdrawal already made with `key`, if it is this same request;
/// 409 if the key was used for another one.
async fn replay(
    s: &WalletState,
    key: &str,
    asset: &AssetConfig,
    amount: u64,
    address: &str,
) -> Result<Option<WithdrawalRecord>, ApiError> {
    let Some(w) = s.store.withdrawal_by_key(key).await.map_err(store_error)? else {
        return Ok(None);
    };
    let same =
        (w.asset_id, w.amount, w.destination.as_str()) == (u64::from(asset.id.0), amount, address);
    if !same {
        return Err(key_reused());
    }
    Ok(Some(w))
}

/// Refuses (and removes) `w` if it takes the user past the asset's
/// rolling-24h limit.
async fn check_daily_limit(
    s: &WalletState,
    w: &WithdrawalRecord,
    rules: &AssetRecord,
    asset: &AssetConfig,
    now: i64,
) -> Result<(), ApiError> {
    if rules.withdraw_daily_limit == 0 {
        return Ok(());
    }
    // Counted after our own row is in: of two concurrent requests,
    // each sees the other, so they cannot both slip under the limit.
    let used = s
        .store
        .withdrawn_since(w.user_id, w.asset_id, now - DAILY_WINDOW_MS)
        .await
        .map_err(store_error)?;
    if used > u128::from(rules.withdraw_daily_limit) {
        let _ = s.store.delete_unlocked_withdrawal(w.id).await;
        return Err(ApiError::bad_request(
            "daily_limit_exceeded",
            format!(
                "Withdrawals of {} are limited to {} per 24 hours.",
                asset.code,
                format_scaled(rules.withdraw_daily_limit, asset.decimals)
            ),
        ));
    }
    Ok(())
}

/// Locks amount + fee in the engine; a refusal removes the withdrawal.
async fn lock(
    s: &WalletState,
    w: &WithdrawalRecord,
    asset: &AssetConfig,
    total: u64,
) -> Result<(), ApiError> {
    let idem = IdemKey::new(&w.idem_key).map_err(|_| ApiError::internal("withdrawal key"))?;
    let submitted = s
        .sink
        .submit(Command::WithdrawLock {
            key: idem,
            user: flowex_types::UserId(w.user_id),
            asset: asset.id,
            amount: total,
        })
        .await;
    let applied = match submitted {
        Ok(applied) => applied,
        Err(e) => {
            // No answer from the engine: the lock may or may not be in.
            // The row stays and is locked again until the engine answers.
            relock_later(s.clone(), w.clone());
            return Err(e);
        }
    };
    if let Some(reason) = rejection(&applied) {
        let _ = s.store.delete_unlocked_withdrawal(w.id).await;
        return Err(engine_refusal(reason));
    }
    Ok(())
}

/// [`relock`] once a second until the engine answers (for at most ten
/// minutes; after that the next start's [`resume_locks`] does it).
fn relock_later(s: WalletState, w: WithdrawalRecord) {
    tokio::spawn(async move {
        for _ in 0..600 {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            match relock(&s, &w).await {
                Err(e) if e.status().is_server_error() => continue,
                _ => return,
            }
        }
        tracing::warn!(
            withdrawal = w.id,
            "the engine did not answer: its lock waits for the next start"
        );
    });
}

/// [`lock`] of a stored withdrawal again (`amount + fee`, its own key):
/// a duplicate if the engine locked it before; if the engine refuses now,
/// the row goes, as on a first refusal.
async fn relock(s: &WalletState, w: &WithdrawalRecord) -> Result<(), ApiError> {
    let asset = u32::try_from(w.asset_id)
        .map(flowex_types::AssetId)
        .map_err(|_| ApiError::internal("withdrawal asset"))?;
    let idem = IdemKey::new(&w.idem_key).map_err(|_| ApiError::internal("withdrawal key"))?;
    let total = w
        .amount
        .checked_add(w.fee)
        .ok_or_else(|| ApiError::internal("withdrawal total"))?;
    let applied = s
        .sink
        .submit(Command::WithdrawLock {
            key: idem,
            user: flowex_types::UserId(w.user_id),
            asset,
            amount: total,
        })
        .await?;
    if let Some(reason) = rejection(&applied) {
        let _ = s.store.delete_unlocked_withdrawal(w.id).await;
        return Err(engine_refusal(reason));
    }
    Ok(())
}

/// At start: every withdrawal still `requested` gets its lock again. A
/// crash between writing the row and the engine's lock leaves a request
/// whose funds were never locked (not acknowledged, since the answer
/// comes after the lock); this completes it, or removes it if the engine
/// refuses it now. Returns how many were checked.
pub async fn resume_locks(s: &WalletState) -> Result<usize, ApiError> {
    // Only requests in flight at the crash can lack their lock, and they
    // are the newest: the newest 1000 `requested` rows cover them.
    let q = WithdrawalQuery {
        user_id: None,
        state: Some(WithdrawalState::Requested),
        limit: 1000,
    };
    let page = s.store.list_withdrawals(&q).await.map_err(store_error)?;
    for w in &page {
        match relock(s, w).await {
            Err(e) if e.status().is_server_error() => return Err(e),
            // Ok, or refused and removed (its user was never answered).
            _ => {}
        }
    }
    Ok(page.len())
}

type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

/// `state` and `limit` of a list (and `user_id` for admins).
fn list_query(q: Params, user: Option<u64>) -> Result<WithdrawalQuery, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request("invalid_parameter", e.body_text()))?;
    let state = q
        .get("state")
        .map(|v| {
            WithdrawalState::parse(v).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_state_filter",
                    "state must be requested, approved, rejected, completed or released.",
                )
            })
        })
        .transpose()?;
    let limit = match q.get("limit").map(|l| l.parse::<u32>()) {
        None => 100,
        Some(Ok(l)) if (1..=MAX_LIST).contains(&l) => l,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_limit",
                format!("limit must be between 1 and {MAX_LIST}."),
            ))
        }
    };
    let user_id = match user {
        Some(u) => Some(u),
        None => q
            .get("user_id")
            .map(|u| {
                flowex_http::ids::parse_id(u).ok_or_else(|| {
                    ApiError::bad_request("invalid_parameter", "user_id: not a user id")
                })
            })
            .transpose()?,
    };
    Ok(WithdrawalQuery {
        user_id,
        state,
        limit,
    })
}

/// List filters (OpenAPI).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct ListParams {
    /// Only this state.
    state: Option<String>,
    /// 1–1000, default 100.
    limit: Option<u32>,
}

/// `GET /api/v1/wallet/withdrawals`.
#[utoipa::path(get, path = "/api/v1/wallet/withdrawals", tag = "wallet",
    summary = "The caller's withdrawals",
    description = "Newest first. With an API key the request is SIGNED and the key needs `READ`.",
    params(ListParams),
    security(("bearerAuth" = []), ("apiKey" = [])),
    responses(
        (status = 200, description = "The withdrawals.", body = WithdrawalList),
        (status = 400, description = "`invalid_state_filter`, `invalid_limit`, `invalid_parameter`.", body = NativeError),
        (status = 401, description = "`unauthorized`, `invalid_token`, `token_expired`, `invalid_api_key`.", body = NativeError),
    ))]
pub async fn list_own(
    State(s): State<WalletState>,
    who: Identity,
    q: Params,
) -> Result<Json<Value>, ApiError> {
    let query = list_query(q, Some(who.user_id))?;
    list(&s, &query, false).await
}

async fn list(s: &WalletState, q: &WithdrawalQuery, admin: bool) -> Result<Json<Value>, ApiError> {
    let assets = s.sink.assets().await?;
    let list = s.store.list_withdrawals(q).await.map_err(store_error)?;
    let items: Vec<WithdrawalView> = list.iter().map(|w| view(w, &assets, admin)).collect();
    Ok(Json(to_value(&WithdrawalList { withdrawals: items })))
}

fn parse_id(raw: &str) -> Result<u64, ApiError> {
    flowex_http::ids::parse_id(raw).ok_or_else(not_found)
}

/// The caller's withdrawal `id`: someone else's is 404, like a missing one.
async fn own(s: &WalletState, who: &Identity, raw: &str) -> Result<WithdrawalRecord, ApiError> {
    let id = parse_id(raw)?;
    match s.store.withdrawal(id).await.map_err(store_error)? {
        Some(w) if w.user_id == who.user_id => Ok(w),
        _ => Err(not_found()),
    }
}

/// `GET /api/v1/wallet/withdrawals/{id}`.
#[utoipa::path(get, path = "/api/v1/wallet/withdrawals/{id}", tag = "wallet",
    summary = "One of the caller's withdrawals",
    description = "Another user's withdrawal is 404, exactly like a missing one.",
    params(("id" = u64, Path, description = "The withdrawal's id.")),
    security(("bearerAuth" = []), ("apiKey" = [])),
    responses(
        (status = 200, description = "The withdrawal.", body = WithdrawalResponse),
        (status = 401, description = "`unauthorized`, `invalid_token`, `token_expired`, `invalid_api_key`.", body = NativeError),
        (status = 404, description = "`withdrawal_not_found`.", body = NativeError),
    ))]
pub async fn get_own(
    State(s): State<WalletState>,
    who: Identity,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let w = own(&s, &who, &id).await?;
    let assets = s.sink.assets().await?;
    Ok(Json(to_value(&WithdrawalResponse {
        withdrawal: view(&w, &assets, false),
    })))
}

/// Which way a decision goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Decision {
    Approve,
    /// By an admin, or the owner's cancel.
    Reject,
}

/// Moves `w` through the decision: the first transition (one winner), the
/// engine command, the final transition (one winner). Repeating a decision
/// that stopped half way resumes it.
async fn decide(
    s: &WalletState,
    w: &WithdrawalRecord,
    decision: Decision,
    actor: u64,
    note: Option<&str>,
) -> Result<WithdrawalRecord, ApiError> {
    let (first, last) = match decision {
        Decision::Approve => (WithdrawalState::Approved, WithdrawalState::Completed),
        Decision::Reject => (WithdrawalState::Rejected, WithdrawalState::Released),
    };
    let now = now_ms();
    match s
        .store
        .transition_withdrawal(w.id, first, Some(actor), note, now)
        .await
    {
        Ok(_) => {}
        Err(StoreError::InvalidTransition { from, .. }) if from == first.as_str() => {
            // Decided before and the engine step did not finish: resume.
        }
        Err(StoreError::InvalidTransition { from, .. }) => return Err(invalid_state(from)),
        Err(e) => return Err(store_error(e)),
    }
    let key = IdemKey::new(&w.idem_key).map_err(|_| ApiError::internal("withdrawal key"))?;
    let command = match decision {
        Decision::Approve => Command::WithdrawFinalize { key },
        Decision::Reject => Command::WithdrawRelease { key },
    };
    let applied = s.sink.submit(command).await?;
    if let Some(reason) = rejection(&applied) {
        return Err(ApiError::internal(format!(
            "withdrawal {}: the engine refused {}: {reason:?}",
            w.id,
            command.name()
        )));
    }
    match s
        .store
        .transition_withdrawal(w.id, last, Some(actor), None, now_ms())
        .await
    {
        Ok(done) => Ok(done),
        Err(StoreError::InvalidTransition { from, .. }) => Err(invalid_state(from)),
        Err(e) => Err(store_error(e)),
    }
}

/// `DELETE /api/v1/wallet/withdrawals/{id}`.
#[utoipa::path(delete, path = "/api/v1/wallet/withdrawals/{id}", tag = "wallet",
    summary = "Cancel one of the caller's withdrawals",
    description = "Only while `requested`: the withdrawal is rejected (note `canceled by user`) and its funds released. With an API key the request is SIGNED and the key needs `WITHDRAW`. Audited (`wallet.withdrawal.cancel`).",
    params(("id" = u64, Path, description = "The withdrawal's id.")),
    security(("bearerAuth" = []), ("apiKey" = [])),
    responses(
        (status = 200, description = "Released.", body = WithdrawalResponse),
        (status = 401, description = "`unauthorized`, `invalid_token`, `token_expired`, `invalid_api_key`.", body = NativeError),
        (status = 404, description = "`withdrawal_not_found` (also another user's).", body = NativeError),
        (status = 409, description = "`invalid_state`: not `requested` any more.", body = NativeError),
    ))]
pub async fn cancel(
    State(s): State<WalletState>,
    who: Identity,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let audit = Audit::new(
        &s,
        "wallet.withdrawal.cancel",
        who.user_id,
        meta,
        format!("withdrawal:{}", id.chars().take(24).collect::<String>()),
    );
    let result = async {
        if !who.permits(Permissions::WITHDRAW) {
            return Err(ApiError::rejected_api_key());
        }
        let w = own(&s, &who, &id).await?;
        if w.state != WithdrawalState::Requested {
            return Err(invalid_state(w.state.as_str()));
        }
        decide(
            &s,
            &w,
            Decision::Reject,
            who.user_id,
            Some("canceled by user"),
        )
        .await
    }
    .await;
    finish(&s, &audit, result).await
}

async fn finish(
    s: &WalletState,
    audit: &Audit<'_>,
    result: Result<WithdrawalRecord, ApiError>,
) -> Result<Json<Value>, ApiError> {
    match result {
        Ok(w) => {
            audit
                .write(
                    AuditOutcome::Ok,
                    json!({"state": w.state.as_str(), "user": w.user_id}),
                )
                .await;
            let assets = s.sink.assets().await?;
            Ok(Json(to_value(&WithdrawalResponse {
                withdrawal: view(&w, &assets, true),
            })))
        }
        Err(e) => {
            audit.refused(&e, json!({})).await;
            Err(e)
        }
    }
}

/// Admin list filters (OpenAPI).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct AdminListParams {
    /// Only this state.
    state: Option<String>,
    /// Only this user's.
    user_id: Option<u64>,
    /// 1–1000, default 100.
    limit: Option<u32>,
}

/// The token says admin and so does the database (a demoted admin loses
/// access at once, not when the token expires).
pub(crate) async fn require_admin(s: &WalletState, who: &Identity) -> Result<(), ApiError> {
    flowex_kit::require_admin(&s.store, Some(who))
        .await
        .map(drop)
}

/// `GET /api/v1/admin/withdrawals`.
#[utoipa::path(get, path = "/api/v1/admin/withdrawals", tag = "admin",
    summary = "Withdrawals of all users (admin)",
    description = "Newest first, filtered by `state` and `user_id`.",
    params(AdminListParams),
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The withdrawals, with owner and decider.", body = WithdrawalList),
        (status = 400, description = "`invalid_state_filter`, `invalid_limit`, `invalid_parameter`.", body = NativeError),
        (status = 401, description = "`unauthorized`, `invalid_token`, `token_expired`.", body = NativeError),
        (status = 403, description = "`forbidden`: not an admin.", body = NativeError),
    ))]
pub async fn admin_list(
    State(s): State<WalletState>,
    who: Identity,
    q: Params,
) -> Result<Json<Value>, ApiError> {
    require_admin(&s, &who).await?;
    let query = list_query(q, None)?;
    list(&s, &query, true).await
}

/// Body of a rejection (optional).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// Why, for the user and the records; at most 256 characters.
    #[serde(default)]
    pub note: Option<String>,
}

async fn admin_decide(
    s: WalletState,
    who: Identity,
    meta: RequestMeta,
    id: String,
    decision: Decision,
    note: Option<String>,
) -> Result<Json<Value>, ApiError> {
    let action = match decision {
        Decision::Approve => "admin.withdrawal.approve",
        Decision::Reject => "admin.withdrawal.reject",
    };
    let target = format!("withdrawal:{}", id.chars().take(24).collect::<String>());
    let audit = Audit::new(&s, action, who.user_id, meta, target);
    let result = async {
        require_admin(&s, &who).await?;
        if note.as_ref().is_some_and(|n| n.chars().count() > 256) {
            return Err(ApiError::bad_request(
                "invalid_note",
                "note must be at most 256 characters.",
            ));
        }
        let wid = parse_id(&id)?;
        let w = s
            .store
            .withdrawal(wid)
            .await
            .map_err(store_error)?
            .ok_or_else(not_found)?;
        decide(&s, &w, decision, who.user_id, note.as_deref()).await
    }
    .await;
    finish(&s, &audit, result).await
}

/// `POST /api/v1/admin/withdrawals/{id}/approve`.
#[utoipa::path(post, path = "/api/v1/admin/withdrawals/{id}/approve", tag = "admin",
    summary = "Approve a withdrawal (admin)",
    description = "`requested` → `approved` → the funds leave (`completed`). Of concurrent decisions exactly one succeeds; the others get 409. Approving a withdrawal left `approved` by an engine outage completes it. Audited (`admin.withdrawal.approve`).",
    params(("id" = u64, Path, description = "The withdrawal's id.")),
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "Completed.", body = WithdrawalResponse),
        (status = 401, description = "`unauthorized`, `invalid_token`, `token_expired`.", body = NativeError),
        (status = 403, description = "`forbidden`: not an admin.", body = NativeError),
        (status = 404, description = "`withdrawal_not_found`.", body = NativeError),
        (status = 409, description = "`invalid_state`: decided already.", body = NativeError),
    ))]
pub async fn approve(
    State(s): State<WalletState>,
    who: Identity,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    admin_decide(s, who, meta, id, Decision::Approve, None).await
}

/// `POST /api/v1/admin/withdrawals/{id}/reject`.
#[utoipa::path(post, path = "/api/v1/admin/withdrawals/{id}/reject", tag = "admin",
    summary = "Reject a withdrawal (admin)",
    description = "`requested` → `rejected` → the funds are released to the user (`released`). Optional body `{\"note\"}`. Audited (`admin.withdrawal.reject`).",
    params(("id" = u64, Path, description = "The withdrawal's id.")),
    security(("bearerAuth" = [])),
    request_body(content = Option<RejectRequest>, description = "Optional: `{\"note\"}`."),
    responses(
        (status = 200, description = "Released.", body = WithdrawalResponse),
        (status = 400, description = "`invalid_note`; `invalid_json` (not JSON), `invalid_body` (a missing, unknown or mistyped field, named in the message).", body = NativeError),
        (status = 401, description = "`unauthorized`, `invalid_token`, `token_expired`.", body = NativeError),
        (status = 403, description = "`forbidden`: not an admin.", body = NativeError),
        (status = 404, description = "`withdrawal_not_found`.", body = NativeError),
        (status = 409, description = "`invalid_state`: decided already.", body = NativeError),
    ))]
pub async fn reject(
    State(s): State<WalletState>,
    who: Identity,
    meta: RequestMeta,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    // No body, or JSON `null`, is no note.
    let req: RejectRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RejectRequest::default()
    } else {
        flowex_kit::body::parse_json::<Option<RejectRequest>>(&body)?.unwrap_or_default()
    };
    admin_decide(s, who, meta, id, Decision::Reject, req.note).await
}

/// Body of `PUT /api/v1/admin/assets/{asset}/withdrawal-settings`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawalSettings {
    /// Smallest `amount` accepted (decimal string; `"0"`: none).
    #[schema(example = "0.001")]
    pub min: String,
    /// Charged on top of each withdrawal (decimal string).
    #[schema(example = "0.0005")]
    pub fee: String,
    /// Most `amount` per user in any 24 hours (decimal string; `"0"`: no limit).
    #[schema(example = "2")]
    pub daily_limit: String,
}

/// `PUT /api/v1/admin/assets/{asset}/withdrawal-settings`.
#[utoipa::path(put, path = "/api/v1/admin/assets/{asset}/withdrawal-settings", tag = "admin",
    summary = "Set an asset's withdrawal rules (admin)",
    description = "Minimum, fee and rolling-24-hour limit per user, as decimal strings in the asset's precision. Applies to new requests. Audited (`admin.withdrawal_settings`).",
    params(("asset" = String, Path, description = "Asset code.")),
    security(("bearerAuth" = [])),
    request_body = WithdrawalSettings,
    responses(
        (status = 200, description = "The asset's rules now.", body = WithdrawalSettings),
        (status = 400, description = "`unknown_asset`, `invalid_amount`; `invalid_json` (not JSON), `invalid_body` (a missing, unknown or mistyped field, named in the message).", body = NativeError),
        (status = 401, description = "`unauthorized`, `invalid_token`, `token_expired`.", body = NativeError),
        (status = 403, description = "`forbidden`: not an admin.", body = NativeError),
    ))]
pub async fn set_settings(
    State(s): State<WalletState>,
    who: Identity,
    meta: RequestMeta,
    Path(code): Path<String>,
    flowex_kit::Json(req): flowex_kit::Json<WithdrawalSettings>,
) -> Result<Json<Value>, ApiError> {
    let target = format!("asset:{}", code.chars().take(16).collect::<String>());
    let audit = Audit::new(&s, "admin.withdrawal_settings", who.user_id, meta, target);
    let result: Result<Value, ApiError> = async {
        require_admin(&s, &who).await?;
        let asset = find_asset(&s, &code).await?;
        let parse = |name: &str, v: &str| {
            parse_scaled(v, asset.decimals).map_err(|_| {
                ApiError::bad_request(
                    "invalid_amount",
                    format!(
                        "{name} must be a decimal string with at most {} decimals.",
                        asset.decimals
                    ),
                )
            })
        };
        let (min, fee, limit) = (
            parse("min", &req.min)?,
            parse("fee", &req.fee)?,
            parse("daily_limit", &req.daily_limit)?,
        );
        let now = now_ms();
        let mut tx = s.store.begin().await.map_err(store_error)?;
        tx.upsert_asset(
            u64::from(asset.id.0),
            asset.code.as_str(),
            u32::from(asset.decimals),
            now,
        )
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        s.store
            .set_withdraw_rules(u64::from(asset.id.0), min, fee, limit, now)
            .await
            .map_err(store_error)?;
        Ok(json!({
            "asset": asset.code.as_str(),
            "min": format_scaled(min, asset.decimals),
            "fee": format_scaled(fee, asset.decimals),
            "daily_limit": format_scaled(limit, asset.decimals),
        }))
    }
    .await;
    match result {
        Ok(v) => {
            audit.write(AuditOutcome::Ok, v.clone()).await;
            Ok(Json(v))
        }
        Err(e) => {
            audit.refused(&e, json!({})).await;
            Err(e)
        }
    }
}
