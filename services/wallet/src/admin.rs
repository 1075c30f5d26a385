//! Admin money operations: `POST /api/v1/admin/deposits`.
//!
//! The credit an operator books when funds arrived outside the platform's
//! own custody flow (and how the first funds reach a production exchange,
//! which has no faucet):
//!
//! ```text
//! POST /api/v1/admin/deposits
//! {"user_id": 42, "asset": "USDT", "amount": "1000.00", "idempotency_key": "wire-2026-11-01-0001"}
//! → 200 {"deposit": {"idempotency_key", "user_id", "asset", "amount", "state", "seq", "created_at", "credited_at"}}
//! ```
//!
//! - Admin role only: the gateway lets only admin Bearer tokens through
//!   `/api/v1/admin/*`, and the handler checks the role again (403
//!   `forbidden`), so a misrouted request cannot credit anyone.
//! - Exact: `amount` is a decimal string in the asset's precision; more
//!   decimals than the asset has, zero, a sign or an exponent are 400
//!   `invalid_amount`. Unknown asset: 400 `unknown_asset`; unknown user: 404
//!   `user_not_found`.
//! - Idempotent: `idempotency_key` (1–48 of `A-Z a-z 0-9 . _ : -`) names the
//!   deposit. The store records it first (`deposits`, key `admin:<key>`),
//!   then the engine applies a `Deposit` command under the same key, which
//!   the engine itself refuses to apply twice. Repeating a request returns
//!   the same deposit without crediting again, even if the first attempt
//!   died half way; the same key with another user, asset or amount is 409
//!   `idempotency_key_reused`.
//! - Audited: every call, allowed or refused, writes an `admin.deposit` row
//!   (admin, client IP, user agent, target user, result, and the asset,
//!   amount, key and seq as detail).

use crate::audit::now_ms;
use crate::rejection;
use crate::WalletState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use flowex_http::openapi::NativeError;
use flowex_http::ApiError;
use flowex_kit::body::to_value;
use flowex_kit::{store_error, AdminCall, Done};
use flowex_store::{DepositRecord, DepositState, NewDeposit, StoreError};
use flowex_types::{format_scaled, AssetConfig, Command, Event, IdemKey, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Body of `POST /api/v1/admin/deposits`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminDepositRequest {
    /// The user credited.
    pub user_id: u64,
    /// Asset code, e.g. `BTC`.
    #[schema(example = "USDT")]
    pub asset: String,
    /// Decimal string in the asset's precision.
    #[schema(pattern = r"^[0-9]{1,20}(\.[0-9]{1,20})?$", example = "1000.00")]
    pub amount: String,
    /// Names this deposit; repeating it never credits twice.
    #[schema(pattern = r"^[A-Za-z0-9._:-]{1,48}$", example = "wire-2026-11-01-0001")]
    pub idempotency_key: String,
    /// Free text for the records (bank reference, ticket); at most 128 characters.
    #[serde(default)]
    pub reference: Option<String>,
}

const KEY_PREFIX: &str = "admin:";
const MAX_KEY: usize = 48;

fn valid_key(k: &str) -> bool {
    (1..=MAX_KEY).contains(&k.len())
        && k.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'))
}

/// A booked deposit (OpenAPI schema of the answer's `deposit`).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DepositView {
    /// The request's `idempotency_key`.
    idempotency_key: String,
    /// The user credited.
    user_id: u64,
    /// Asset code.
    asset: String,
    /// Decimal string.
    #[schema(example = "1000.00000000")]
    amount: String,
    /// `pending`, `credited` or `rejected`.
    #[schema(example = "credited")]
    state: String,
    /// The engine's sequence number of the credit, once applied.
    seq: Option<u64>,
    /// The bank reference or ticket (default `by admin <id>`).
    reference: Option<String>,
    /// Ms since the Unix epoch.
    created_at: i64,
    /// Ms since the Unix epoch, once credited.
    credited_at: Option<i64>,
}

/// `{"deposit": …}` (OpenAPI schema).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AdminDepositResponse {
    deposit: DepositView,
}

/// `POST /api/v1/admin/deposits`.
#[utoipa::path(post, path = "/api/v1/admin/deposits", tag = "admin",
    summary = "Book a deposit for a user (admin)",
    description = "Credits funds that arrived outside the platform's own custody flow. Admin role only (checked by the gateway and again here). Idempotent by `idempotency_key`: repeating a request returns the same deposit without crediting again. Every call, allowed or refused, is audited (`admin.deposit`).",
    security(("bearerAuth" = [])),
    request_body = AdminDepositRequest,
    responses(
        (status = 200, description = "Credited (or the earlier deposit of this key).", body = AdminDepositResponse),
        (status = 400, description = "`invalid_idempotency_key`, `invalid_reference`, `unknown_asset`, `invalid_amount` (not a positive decimal in the asset's precision); `invalid_json` (not JSON), `invalid_body` (a missing, unknown or mistyped field, named in the message).", body = NativeError),
        (status = 401, description = "`unauthorized`, `invalid_token`, `token_expired`.", body = NativeError),
        (status = 403, description = "`forbidden`: not an admin.", body = NativeError),
        (status = 404, description = "`user_not_found`.", body = NativeError),
        (status = 409, description = "`idempotency_key_reused`: the key was used for another user, asset or amount.", body = NativeError),
        (status = 415, description = "`unsupported_media_type`.", body = NativeError),
        (status = 422, description = "`deposit_rejected`: the engine refused it.", body = NativeError),
    ))]
pub async fn admin_deposit(
    State(s): State<WalletState>,
    call: AdminCall,
    flowex_kit::Json(req): flowex_kit::Json<AdminDepositRequest>,
) -> Result<Json<Value>, ApiError> {
    let target = Some(format!("user:{}", req.user_id));
    let context = json!({
        "asset": req.asset.chars().take(16).collect::<String>(),
        "amount": req.amount.chars().take(40).collect::<String>(),
    });
    let op = async {
        let admin = call.actor().ok_or_else(ApiError::unauthorized)?;
        let (record, asset, replay) = credit(&s, admin, &req).await?;
        let detail = json!({
            "asset": asset.code.as_str(),
            "amount": format_scaled(record.amount, asset.decimals),
            "idempotency_key": req.idempotency_key,
            "seq": record.seq,
            "replay": replay,
        });
        let body = to_value(&AdminDepositResponse {
            deposit: view(&record, &asset),
        });
        Ok(Done::new(Json(body), detail))
    };
    call.run(&s.store, "admin.deposit", target, context, op)
        .await
}

/// A checked request: its store key, engine key, asset and amount.
struct Checked {
    key: String,
    idem: IdemKey,
    asset: AssetConfig,
    amount: u64,
}

/// Checks the request's key, reference, asset, amount and user.
async fn check(s: &WalletState, req: &AdminDepositRequest) -> Result<Checked, ApiError> {
    if !valid_key(&req.idempotency_key) {
        return Err(ApiError::bad_request(
            "invalid_idempotency_key",
            "idempotency_key must be 1 to 48 characters of A-Z a-z 0-9 . _ : -",
        ));
    }
    if req
        .reference
        .as_ref()
        .is_some_and(|r| r.chars().count() > 128)
    {
        return Err(ApiError::bad_request(
            "invalid_reference",
            "reference must be at most 128 characters.",
        ));
    }
    let key = format!("{KEY_PREFIX}{}", req.idempotency_key);
    let idem = IdemKey::new(&key).map_err(|_| ApiError::internal("idempotency key"))?;
    let assets = s.sink.assets().await?;
    let asset = *assets
        .iter()
        .find(|a| a.code.as_str() == req.asset)
        .ok_or_else(|| {
            ApiError::bad_request("unknown_asset", format!("No asset {:?}.", req.asset))
        })?;
    let amount = crate::withdrawals::positive_amount(&req.amount, &asset)?;
    existing_user(s, req.user_id).await?;
    Ok(Checked {
        key,
        idem,
        asset,
        amount,
    })
}

/// 400 `invalid_user_id` past the store's range, 404 `user_not_found`.
async fn existing_user(s: &WalletState, user_id: u64) -> Result<(), ApiError> {
    if !flowex_http::ids::in_range(user_id) {
        return Err(ApiError::bad_request(
            "invalid_user_id",
            "user_id must be a number from 0 to 9223372036854775807.",
        ));
    }
    match s.store.user_by_id(user_id).await.map_err(store_error)? {
        Some(_) => Ok(()),
        None => Err(ApiError::native(
            StatusCode::NOT_FOUND,
            "user_not_found",
            format!("No user {user_id}."),
        )),
    }
}

fn rejected(reason: Option<String>) -> ApiError {
    let message = match reason {
        Some(r) => format!("The engine rejected this deposit: {r}."),
        None => "The engine rejected this deposit.".to_string(),
    };
    ApiError::native(
        StatusCode::UNPROCESSABLE_ENTITY,
        "deposit_rejected",
        message,
    )
}

/// Records, applies and marks the deposit; returns it, its asset and
/// whether it had been credited before this call.
async fn credit(
    s: &WalletState,
    admin: u64,
    req: &AdminDepositRequest,
) -> Result<(DepositRecord, AssetConfig, bool), ApiError> {
    let c = check(s, req).await?;
    let reference = req
        .reference
        .clone()
        .unwrap_or_else(|| format!("by admin {admin}"));
    let (record, _) = s
        .store
        .record_deposit(&NewDeposit {
            idem_key: &c.key,
            user_id: req.user_id,
            asset_id: u64::from(c.asset.id.0),
            amount: c.amount,
            source: "admin",
            reference: Some(&reference),
            now: now_ms(),
        })
        .await
        .map_err(|e| match e {
            StoreError::Duplicate { .. } => ApiError::conflict(
                "idempotency_key_reused",
                "This idempotency_key was used for another deposit.",
            ),
            other => store_error(other),
        })?;
    match record.state {
        DepositState::Credited => Ok((record, c.asset, true)),
        DepositState::Rejected => Err(rejected(None)),
        // New, or an earlier attempt stopped before it was marked.
        DepositState::Pending => apply(s, &c, req.user_id, record).await,
    }
}

/// Applies a pending deposit in the engine (whose own key makes a second
/// application a `Duplicate`) and marks it credited.
async fn apply(
    s: &WalletState,
    c: &Checked,
    user_id: u64,
    record: DepositRecord,
) -> Result<(DepositRecord, AssetConfig, bool), ApiError> {
    let applied = s
        .sink
        .submit(Command::Deposit {
            key: c.idem,
            user: UserId(user_id),
            asset: c.asset.id,
            amount: c.amount,
        })
        .await?;
    if let Some(reason) = rejection(&applied) {
        let _ = s.store.reject_deposit(&c.key).await;
        return Err(rejected(Some(format!("{reason:?}"))));
    }
    let credited_here = applied
        .events
        .iter()
        .any(|e| matches!(e, Event::Deposited { .. }));
    let marked = DepositRecord {
        state: DepositState::Credited,
        credited_at: Some(now_ms()),
        seq: credited_here.then_some(applied.seq),
        ..record
    };
    let mut tx = s.store.begin().await.map_err(store_error)?;
    tx.project_deposit_credited(&marked)
        .await
        .map_err(store_error)?;
    tx.commit().await.map_err(store_error)?;
    let stored = s
        .store
        .deposit(&c.key)
        .await
        .map_err(store_error)?
        .unwrap_or(marked);
    Ok((stored, c.asset, !credited_here))
}

fn view(d: &DepositRecord, asset: &AssetConfig) -> DepositView {
    DepositView {
        idempotency_key: d
            .idem_key
            .strip_prefix(KEY_PREFIX)
            .unwrap_or(&d.idem_key)
            .to_string(),
        user_id: d.user_id,
        asset: asset.code.as_str().to_string(),
        amount: format_scaled(d.amount, asset.decimals),
        state: d.state.as_str().to_string(),
        seq: d.seq,
        reference: d.reference.clone(),
        created_at: d.created_at,
        credited_at: d.credited_at,
    }
}
