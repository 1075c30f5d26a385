//! The wallet service: balances and the movement of funds in and out.
//!
//! - balances (`GET /api/v1/wallet/balances`);
//! - in embedded mode only, the demo faucet (`POST /api/v1/wallet/faucet`),
//!   which credits a fixed amount through the same `Deposit` command a
//!   custody integration uses, idempotent by key and capped per user and
//!   day in SQL;
//! - the admin deposit (`POST /api/v1/admin/deposits`, [`admin`]), audited
//!   and idempotent;
//! - the double-entry ledger ([`ledger`]: the projection of the engine's
//!   events into `ledger_entries` and `balances`, in both modes) and the
//!   caller's history ([`history`]: ledger pages, CSV export, deposits);
//! - withdrawals ([`withdrawals`]: request with 2FA, limits and fee, cancel,
//!   admin approve/reject, per-asset settings), every transition audited;
//! - reconciliation ([`reconcile`]: ledger = balances = engine, the one
//!   check of `flowex admin reconcile`, `GET /api/v1/admin/reconcile` and
//!   the ledger-imbalance gauge of [`sampler`]).
//!
//! The engine is reached through an [`EngineClient`]: the sequencer handle
//! in one process, the trading service's internal API in distributed mode.
//!
//! In distributed mode the ledger follows the trading events on the Redis
//! stream, durably by seq ([`events::run_feed`]); in one process it follows
//! the sequencer ([`ledger::start_local`]).

pub mod admin;
mod audit;
pub mod events;
pub mod history;
pub mod ledger;
pub mod reconcile;
pub mod sampler;
mod serve;
pub mod withdrawals;

pub use flowex_service::{rejection, EngineClient, Holding};
pub use serve::serve;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use flowex_http::openapi::{NativeError, SignedParams};
use flowex_http::{ApiError, Identity};
use flowex_kit::body::to_value;
use flowex_store::Store;
use flowex_types::{format_scaled, parse_scaled, AssetConfig, Command, Event, IdemKey, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Faucet settings: amount per claim by asset code (decimal strings) and claims per day.
#[derive(Clone, Debug, Default)]
pub struct Faucet {
    pub amounts: BTreeMap<String, String>,
    pub daily_cap: u32,
}

#[derive(Clone)]
pub struct WalletState {
    sink: EngineClient,
    store: Store,
    /// `None`: no faucet (production).
    faucet: Option<Arc<Faucet>>,
    /// Opens users' TOTP secrets (withdrawals of users with 2FA on); `None`:
    /// such withdrawals are refused (503).
    totp: Option<Arc<flowex_auth::SecretBox>>,
}

impl WalletState {
    /// A wallet reaching the engine through `sink` (the sequencer in
    /// `flowex up`, trading's internal API in distributed mode).
    pub fn new(sink: EngineClient, store: Store, faucet: Option<Faucet>) -> Self {
        WalletState {
            sink,
            store,
            faucet: faucet.map(Arc::new),
            totp: None,
        }
    }

    /// Checks withdrawal 2FA codes with `secret_box` (the key the auth
    /// service seals TOTP secrets with).
    pub fn with_totp(mut self, secret_box: flowex_auth::SecretBox) -> Self {
        self.totp = Some(Arc::new(secret_box));
        self
    }
}

pub fn router(state: WalletState) -> Router {
    let mut r = Router::new()
        .route("/api/v1/wallet/balances", get(balances))
        .route("/api/v1/wallet/ledger", get(history::ledger))
        .route("/api/v1/wallet/ledger.csv", get(history::ledger_csv))
        .route("/api/v1/wallet/deposits", get(history::deposits))
        .route(
            "/api/v1/wallet/withdrawals",
            post(withdrawals::request).get(withdrawals::list_own),
        )
        .route(
            "/api/v1/wallet/withdrawals/{id}",
            get(withdrawals::get_own).delete(withdrawals::cancel),
        )
        .route("/api/v1/admin/withdrawals", get(withdrawals::admin_list))
        .route(
            "/api/v1/admin/withdrawals/{id}/approve",
            post(withdrawals::approve),
        )
        .route(
            "/api/v1/admin/withdrawals/{id}/reject",
            post(withdrawals::reject),
        )
        .route(
            "/api/v1/admin/assets/{asset}/withdrawal-settings",
            axum::routing::put(withdrawals::set_settings),
        )
        .route("/api/v1/admin/deposits", post(admin::admin_deposit))
        .route("/api/v1/admin/reconcile", get(reconcile::admin_reconcile));
    if state.faucet.is_some() {
        r = r.route("/api/v1/wallet/faucet", post(faucet));
    }
    r.with_state(state)
}

/// The OpenAPI document of [`router`]'s routes (the faucet included), with
/// the security schemes they refer to; `flowex openapi` merges it with the
/// other services'.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use flowex_http::openapi::SecuritySchemes;
    use utoipa::OpenApi as _;

    #[derive(utoipa::OpenApi)]
    #[openapi(
        paths(
            balances,
            faucet,
            admin::admin_deposit,
            history::ledger,
            history::ledger_csv,
            history::deposits,
            withdrawals::request,
            withdrawals::list_own,
            withdrawals::get_own,
            withdrawals::cancel,
            withdrawals::admin_list,
            withdrawals::approve,
            withdrawals::reject,
            withdrawals::set_settings,
            reconcile::admin_reconcile,
        ),
        tags(
            (name = "wallet", description = "Balances and the movement of funds (`/api/v1/wallet/*`)."),
            (name = "admin", description = "Administration (`/api/v1/admin/*`): Bearer token of a user with the `admin` role; anyone else gets 403 `forbidden`."),
        ),
        modifiers(&SecuritySchemes),
    )]
    struct Doc;

    Doc::openapi()
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::unavailable(e.to_string())
}

/// One asset's balance; decimal strings (OpenAPI schema).
#[derive(Serialize, utoipa::ToSchema)]
struct WalletBalance {
    /// The asset's code.
    #[schema(example = "USDT")]
    asset: String,
    /// Available (decimal string).
    #[schema(example = "1000.00000000")]
    free: String,
    /// Reserved by open orders and pending withdrawals (decimal string).
    #[schema(example = "0.00000000")]
    locked: String,
}

/// `{"balances": […]}` (OpenAPI schema).
#[derive(Serialize, utoipa::ToSchema)]
struct WalletBalances {
    /// Every asset, zero balances included.
    balances: Vec<WalletBalance>,
}

/// `GET /api/v1/wallet/balances`.
#[utoipa::path(get, path = "/api/v1/wallet/balances", tag = "wallet",
    summary = "The caller's balances",
    description = "With an API key the request is SIGNED and the key needs `READ`.",
    params(SignedParams),
    security(("bearerAuth" = []), ("apiKey" = [])),
    responses(
        (status = 200, description = "Every asset's balance.", body = WalletBalances),
        (status = 400, description = "Signed requests: `invalid_timestamp` (outside `recvWindow`), `invalid_signature`, `missing_parameter` (`timestamp` or `signature`), `invalid_recv_window`.", body = NativeError),
        (status = 401, description = "`unauthorized` (no credentials), `invalid_token`, `token_expired`, `invalid_api_key` (malformed, unknown, IP not allowed, no `READ`).", body = NativeError),
    ))]
async fn balances(State(s): State<WalletState>, who: Identity) -> Result<Json<Value>, ApiError> {
    let user = UserId(who.user_id);
    let assets = s.sink.assets().await?;
    let balances = s.sink.balances(user).await?;
    let balances: Vec<WalletBalance> = assets
        .iter()
        .map(|a| {
            let b = balances
                .iter()
                .find(|(id, _)| *id == a.id)
                .map(|(_, b)| *b)
                .unwrap_or_default();
            WalletBalance {
                asset: a.code.as_str().to_string(),
                free: format_scaled(b.available, a.decimals),
                locked: format_scaled(b.locked, a.decimals),
            }
        })
        .collect();
    Ok(Json(to_value(&WalletBalances { balances })))
}

/// A faucet claim.
#[derive(Deserialize, utoipa::ToSchema)]
struct FaucetRequest {
    /// The asset's code, e.g. `USDT`.
    #[schema(example = "USDT")]
    asset: String,
}

/// What the faucet credited (OpenAPI schema).
#[derive(Serialize, utoipa::ToSchema)]
struct FaucetCredit {
    /// The asset's code.
    asset: String,
    /// The amount credited (decimal string).
    #[schema(example = "1000.00000000")]
    amount: String,
    /// Whether the deposit was applied (always, for a new claim).
    credited: bool,
}

fn today() -> u64 {
    flowex_http::clock::now_ms() / 86_400_000
}

/// Takes one of today's `cap` faucet claims of `asset` for `user`, or 429
/// `faucet_cap_reached`.
async fn claim_today(
    s: &WalletState,
    user: u64,
    asset: &AssetConfig,
    day: u64,
    cap: u32,
) -> Result<(), ApiError> {
    let claimed = s
        .store
        .claim_faucet(user, u64::from(asset.id.0), day, cap)
        .await
        .map_err(unavailable)?;
    if claimed {
        return Ok(());
    }
    Err(ApiError::native(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        "faucet_cap_reached",
        format!("The faucet gives at most {cap} claims per asset per day."),
    ))
}

/// `POST /api/v1/wallet/faucet` (embedded mode only).
#[utoipa::path(post, path = "/api/v1/wallet/faucet", tag = "wallet",
    summary = "Take demo funds (embedded mode only)",
    description = "Credits the configured amount of an asset through the same deposit command a custody integration uses, at most the configured number of claims per asset and day. Only `flowex up` with the faucet on serves it; elsewhere the route is absent (404).",
    security(("bearerAuth" = [])),
    request_body = FaucetRequest,
    responses(
        (status = 201, description = "Credited.", body = FaucetCredit),
        (status = 400, description = "`unknown_asset`, `no_faucet` (the faucet does not give that asset); `invalid_json` (not JSON), `invalid_body` (a missing, unknown or mistyped field, named in the message).", body = NativeError),
        (status = 401, description = "`unauthorized` (no or invalid token).", body = NativeError),
        (status = 404, description = "`not_found`: no faucet on this server.", body = NativeError),
        (status = 415, description = "`unsupported_media_type`: not `Content-Type: application/json`.", body = NativeError),
        (status = 429, description = "`faucet_cap_reached`: the daily claims are used up.", body = NativeError),
    ))]
async fn faucet(
    State(s): State<WalletState>,
    who: Identity,
    flowex_kit::Json(req): flowex_kit::Json<FaucetRequest>,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let faucet = s.faucet.clone().ok_or_else(ApiError::not_found)?;
    let assets = s.sink.assets().await?;
    let asset: AssetConfig = *assets
        .iter()
        .find(|a| a.code.as_str() == req.asset)
        .ok_or_else(|| {
            ApiError::bad_request("unknown_asset", format!("No asset {}.", req.asset))
        })?;
    let amount_str = faucet.amounts.get(&req.asset).ok_or_else(|| {
        ApiError::bad_request(
            "no_faucet",
            format!("The faucet does not give {}.", req.asset),
        )
    })?;
    let amount = parse_scaled(amount_str, asset.decimals)
        .map_err(|_| ApiError::internal("faucet amount"))?;
    let day = today();
    claim_today(&s, who.user_id, &asset, day, faucet.daily_cap).await?;
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let key = IdemKey::new(&format!(
        "faucet-{}-{}-{day}-{nonce}",
        who.user_id, asset.id.0
    ))
    .map_err(|_| ApiError::internal("key"))?;
    let cmd = Command::Deposit {
        key,
        user: UserId(who.user_id),
        asset: asset.id,
        amount,
    };
    let applied = s.sink.submit(cmd).await?;
    if let Some(reason) = rejection(&applied) {
        return Err(ApiError::internal(format!(
            "faucet deposit rejected: {reason:?}"
        )));
    }
    let credited = applied
        .events
        .iter()
        .any(|e| matches!(e, Event::Deposited { .. }));
    Ok((
        axum::http::StatusCode::CREATED,
        Json(to_value(&FaucetCredit {
            asset: req.asset,
            amount: format_scaled(amount, asset.decimals),
            credited,
        })),
    ))
}
