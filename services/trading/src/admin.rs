//! The operator's side of trading (`/api/v1/admin/*`): assets, markets,
//! market status, per-user fee tiers, freezing, and mass cancels.
//!
//! | route | command |
//! |---|---|
//! | `POST /api/v1/admin/assets`, `GET …/assets` | `CreateAsset` |
//! | `POST /api/v1/admin/markets`, `GET …/markets` | `CreateMarket` |
//! | `PATCH /api/v1/admin/markets/{symbol}` | `UpdateMarket` |
//! | `POST /api/v1/admin/markets/{symbol}/status` | `SetMarketStatus` |
//! | `PUT`/`DELETE /api/v1/admin/users/{id}/fees` | `SetUserFees` |
//! | `POST /api/v1/admin/users/{id}/freeze` / `unfreeze` | `SetUserFrozen` |
//! | `GET /api/v1/admin/users` | none (a read: users with their engine settings) |
//! | `POST /api/v1/admin/cancel-all` | `CancelAll` |
//!
//! - **Admin only, twice.** The gateway lets only admin Bearer tokens
//!   through `/api/v1/admin/**`; each handler checks again that the caller's
//!   token says `admin` *and* that the database still does (a demoted admin
//!   loses access at once). Anyone else gets 403 `forbidden` before the body
//!   is even parsed, so a non-admin learns nothing about it.
//! - **Audited.** Every call, allowed, refused or failed, writes an audit
//!   row (`admin.asset.create`, `admin.market.update`, `admin.user.freeze`
//!   …): the admin, client IP and user agent, the target (`market:BTCUSDT`,
//!   `user:7`), the outcome, and as detail what changed (before and after
//!   for updates) or why it was refused.
//! - **Exact.** Prices, sizes and notionals are decimal strings in the
//!   asset's precision (`"0.01"`), fee rates decimal fractions with at most
//!   six decimals (`"0.001"` = 0.1%, stored as 1,000 ppm); a value off the
//!   tick or step grid, too precise, or a market whose one lot at one tick
//!   is not a whole number of quote atoms is 400 `invalid_market` with the
//!   reason. Bodies refuse unknown fields (400 `invalid_body`): nothing can
//!   be slipped in beside the documented fields.
//! - **Through the engine.** Every change is a journaled command; the
//!   market directory is re-read right after it, so `exchangeInfo` shows a
//!   new market or status at once. New asset and market ids are the next
//!   free ones, allocated under a lock so two concurrent creations cannot
//!   race for one id.
//! - **Users.** Fee tiers and freezes need the user to exist (404
//!   `user_not_found`). A freeze stops new orders and withdrawals in the
//!   engine (cancels still work) and marks the account frozen in the
//!   database, where the auth service reads it (no new login, refresh or
//!   API key) and the gateway's key records carry it. Fee tiers are
//!   mirrored in `user_fee_tiers`. The engine is written first; should the
//!   database write then fail, the call is a 503 (busy or unreachable
//!   database) or a 500, and repeating it (both writes are idempotent)
//!   brings the two back in step.
//! - **Halted markets.** `HALTED` stops everything on the book, cancels
//!   included (the engine's rule); `CANCEL_ONLY` accepts cancels and
//!   cancel-alls only. A mass cancel on a halted market is 409
//!   `market_halted`; a cancel-all of a user's orders everywhere skips the
//!   halted markets' orders.

use crate::markets::MarketInfo;
use crate::TradingState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use flowex_binance::SelfTradePreventionMode;
use flowex_engine::Engine;
use flowex_http::openapi::NativeError;
use flowex_http::ApiError;
use flowex_kit::body::to_value;
use flowex_kit::{store_error, AdminCall, LazyJson};
use flowex_store::FeeTier;
use flowex_types::market::{MAX_ASSET_DECIMALS, MAX_FEE_PPM};
use flowex_types::{
    format_scaled, parse_scaled, AssetCode, AssetConfig, AssetId, Command, Event, MarketConfig,
    MarketId, MarketScale, MarketStatus, MarketUpdate, OrderStatus, RejectReason, StpMode,
    StpModes, Symbol, UserId,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::future::Future;

/// Decimals of a fee rate: parts per million.
const FEE_DECIMALS: u8 = 6;

/// The admin routes, with full paths (merged into [`crate::router`]).
pub fn routes() -> axum::Router<TradingState> {
    use axum::routing::{get, patch, post, put};
    axum::Router::new()
        .route("/api/v1/admin/assets", get(list_assets).post(create_asset))
        .route(
            "/api/v1/admin/markets",
            get(list_markets).post(create_market),
        )
        .route("/api/v1/admin/markets/{symbol}", patch(update_market))
        .route("/api/v1/admin/markets/{symbol}/status", post(set_status))
        .route("/api/v1/admin/users", get(list_users))
        .route(
            "/api/v1/admin/users/{user_id}/fees",
            put(set_fees).delete(clear_fees),
        )
        .route("/api/v1/admin/users/{user_id}/freeze", post(freeze))
        .route("/api/v1/admin/users/{user_id}/unfreeze", post(unfreeze))
        .route("/api/v1/admin/cancel-all", post(cancel_all))
}

// ---------------------------------------------------------------- the call

/// What a successful operation answers and records.
struct Done {
    status: StatusCode,
    body: Value,
    /// Overrides the call's target (a creation names what it created).
    target: Option<String>,
    detail: Value,
}

impl Done {
    fn ok(body: Value, detail: Value) -> Done {
        Done {
            status: StatusCode::OK,
            body,
            target: None,
            detail,
        }
    }
}

/// Runs `op` in the shared admin frame ([`AdminCall::run`]: the role in
/// token and database, then the audit row of the outcome as `action` on
/// `target`). `op` does not start unless the caller is an admin.
async fn run(
    call: &AdminCall,
    s: &TradingState,
    action: &'static str,
    target: Option<String>,
    op: impl Future<Output = Result<Done, ApiError>>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let store = s.store()?;
    let op = async {
        let done = op.await?;
        Ok(flowex_kit::Done {
            value: (done.status, Json(done.body)),
            target: done.target,
            detail: done.detail,
        })
    };
    call.run(store, action, target, Value::Null, op).await
}

use flowex_http::clock::now_ms_i64 as now_ms;

fn invalid_market(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_market", msg.into())
}

fn not_found(code: &'static str, msg: String) -> ApiError {
    ApiError::native(StatusCode::NOT_FOUND, code, msg)
}

/// An engine refusal of an admin command.
fn engine_refusal(reason: RejectReason) -> ApiError {
    match reason {
        RejectReason::AssetExists => {
            ApiError::conflict("asset_exists", "An asset with this code already exists.")
        }
        RejectReason::MarketExists => {
            ApiError::conflict("market_exists", "A market with this symbol already exists.")
        }
        RejectReason::UnknownAsset => ApiError::bad_request("unknown_asset", "Unknown asset."),
        RejectReason::UnknownMarket => not_found("market_not_found", "Unknown market.".into()),
        RejectReason::InvalidConfig => invalid_market("The engine refused this configuration."),
        RejectReason::ReservedAccount => ApiError::bad_request(
            "reserved_account",
            "User 0 is the fee account; it has no fee tier and cannot be frozen.",
        ),
        RejectReason::MarketClosed => ApiError::conflict(
            "market_halted",
            "The market is halted: nothing changes its book. Set it to CANCEL_ONLY first.",
        ),
        other => ApiError::internal(format!("unexpected engine refusal {other:?}")),
    }
}

impl TradingState {
    /// Submits an admin command; an engine refusal becomes its API error.
    async fn apply(&self, command: Command) -> Result<flowex_sequencer::Applied, ApiError> {
        let applied = self.submit(command).await?;
        match applied.rejection() {
            Some(reason) => Err(engine_refusal(reason)),
            None => Ok(applied),
        }
    }
}

// ---------------------------------------------------------------- views

fn status_name(s: MarketStatus) -> &'static str {
    match s {
        MarketStatus::Trading => "TRADING",
        MarketStatus::Halted => "HALTED",
        MarketStatus::CancelOnly => "CANCEL_ONLY",
    }
}

fn parse_status(s: &str) -> Result<MarketStatus, ApiError> {
    match s {
        "TRADING" => Ok(MarketStatus::Trading),
        "HALTED" => Ok(MarketStatus::Halted),
        "CANCEL_ONLY" => Ok(MarketStatus::CancelOnly),
        _ => Err(ApiError::bad_request(
            "invalid_status",
            "status must be TRADING, HALTED or CANCEL_ONLY.",
        )),
    }
}

fn parse_stp(s: &str) -> Result<StpMode, ApiError> {
    SelfTradePreventionMode::parse(s)
        .map(StpMode::from)
        .ok_or_else(|| {
            invalid_market(format!(
                "{s:?} is not an STP mode (NONE, EXPIRE_TAKER, EXPIRE_MAKER, EXPIRE_BOTH, DECREMENT)."
            ))
        })
}

/// Binance's spelling of an STP mode (`EXPIRE_TAKER`).
fn stp_name(m: StpMode) -> &'static str {
    SelfTradePreventionMode::from(m).as_str()
}

fn fee_str(ppm: u32) -> String {
    format_scaled(u64::from(ppm), FEE_DECIMALS)
}

/// A fee rate string (`"0.001"`) in ppm, at most 10%.
fn fee_ppm(field: &str, s: &str) -> Result<u32, ApiError> {
    let ppm = parse_scaled(s, FEE_DECIMALS)
        .ok()
        .and_then(|v| u32::try_from(v).ok())
        .filter(|v| *v <= MAX_FEE_PPM)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_fee",
                format!("{field} must be a decimal rate from 0 to 0.1 with at most 6 decimals (\"0.001\" is 0.1%)."),
            )
        })?;
    Ok(ppm)
}

fn asset_view(a: &AssetConfig) -> AssetView {
    AssetView {
        id: a.id.0,
        code: a.code.as_str().to_string(),
        decimals: a.decimals,
    }
}

fn market_view(m: &MarketInfo) -> MarketView {
    let c = &m.cfg;
    MarketView {
        id: c.id.0,
        symbol: c.symbol.as_str().to_string(),
        base_asset: m.base.code.as_str().to_string(),
        quote_asset: m.quote.code.as_str().to_string(),
        status: status_name(c.status).to_string(),
        tick_size: m.price_str(1),
        step_size: m.qty_str(1),
        min_price: m.price_str(c.min_price),
        max_price: m.price_str(c.max_price),
        min_qty: m.qty_str(c.min_qty),
        max_qty: m.qty_str(c.max_qty),
        min_notional: m.quote_str(c.min_notional),
        max_notional: m.quote_str(c.max_notional),
        maker_fee: fee_str(c.maker_fee_ppm),
        taker_fee: fee_str(c.taker_fee_ppm),
        allowed_stp_modes: c
            .allowed_stp
            .iter()
            .map(|m| stp_name(m).to_string())
            .collect(),
        default_stp_mode: stp_name(c.default_stp).to_string(),
    }
}

/// The market named `symbol` as the engine has it now.
async fn current_market(s: &TradingState, symbol: &str) -> Result<MarketInfo, ApiError> {
    let dir = s.refresh_markets().await?;
    dir.markets
        .get(symbol)
        .cloned()
        .ok_or_else(|| not_found("market_not_found", format!("No market {symbol:?}.")))
}

// ---------------------------------------------------------------- assets

/// Body of `POST /api/v1/admin/assets`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAssetRequest {
    /// 1–12 upper-case letters or digits.
    #[schema(example = "DOGE", pattern = "^[A-Z0-9]{1,12}$")]
    pub code: String,
    /// Decimals of the atomic unit, 0–18.
    #[schema(example = 8, minimum = 0, maximum = 18)]
    pub decimals: u8,
}

/// An asset (OpenAPI schema of `asset_view`).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AssetView {
    /// The engine's asset id.
    id: u32,
    #[schema(example = "DOGE")]
    code: String,
    decimals: u8,
}

/// `{"asset": …}` (OpenAPI schema).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AssetResponse {
    asset: AssetView,
}

/// `{"assets": […]}` (OpenAPI schema).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AssetList {
    assets: Vec<AssetView>,
}

/// `POST /api/v1/admin/assets`.
#[utoipa::path(post, path = "/api/v1/admin/assets", tag = "admin",
    summary = "Create an asset (admin)",
    description = "Lists a new asset with the next free id. Admin role only (token and database). Audited as `admin.asset.create`.",
    security(("bearerAuth" = [])),
    request_body = CreateAssetRequest,
    responses(
        (status = 201, description = "Created.", body = AssetResponse),
        (status = 400, description = "`invalid_asset` (code or decimals); `invalid_json` (not JSON), `invalid_body` (a missing, unknown or mistyped field, named in the message).", body = NativeError),
        (status = 401, description = "`unauthorized`.", body = NativeError),
        (status = 403, description = "`forbidden`: not an admin.", body = NativeError),
        (status = 409, description = "`asset_exists`.", body = NativeError),
        (status = 415, description = "`unsupported_media_type`.", body = NativeError),
    ))]
pub async fn create_asset(
    State(s): State<TradingState>,
    call: AdminCall,
    raw: LazyJson,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    run(&call, &s, "admin.asset.create", None, async {
        let req: CreateAssetRequest = raw.parse()?;
        let code = AssetCode::new(&req.code).map_err(|_| {
            ApiError::bad_request(
                "invalid_asset",
                "code must be 1 to 12 upper-case letters or digits.",
            )
        })?;
        if req.decimals > MAX_ASSET_DECIMALS {
            return Err(ApiError::bad_request(
                "invalid_asset",
                format!("decimals must be 0 to {MAX_ASSET_DECIMALS}."),
            ));
        }
        let _one_at_a_time = s.admin_lock.lock().await;
        let id = s
            .query(|e: &Engine| e.assets().iter().map(|a| a.id.0).max().unwrap_or(0))
            .await?
            .checked_add(1)
            .ok_or_else(|| ApiError::internal("asset ids exhausted"))?;
        let cfg = AssetConfig {
            id: AssetId(id),
            code,
            decimals: req.decimals,
        };
        s.apply(Command::CreateAsset(cfg)).await?;
        s.refresh_markets().await?;
        Ok(Done {
            status: StatusCode::CREATED,
            body: to_value(&AssetResponse {
                asset: asset_view(&cfg),
            }),
            target: Some(format!("asset:{}", req.code)),
            detail: json!({ "after": asset_view(&cfg) }),
        })
    })
    .await
}

/// `GET /api/v1/admin/assets`.
#[utoipa::path(get, path = "/api/v1/admin/assets", tag = "admin",
    summary = "List assets (admin)",
    description = "Every asset the engine knows, by id. Admin role only. Audited as `admin.asset.list`.",
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The assets.", body = AssetList),
        (status = 401, description = "`unauthorized`.", body = NativeError),
        (status = 403, description = "`forbidden`: not an admin.", body = NativeError),
    ))]
pub async fn list_assets(
    State(s): State<TradingState>,
    call: AdminCall,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    run(&call, &s, "admin.asset.list", None, async {
        let assets = s.query(|e: &Engine| e.assets()).await?;
        let assets: Vec<AssetView> = assets.iter().map(asset_view).collect();
        let n = assets.len();
        Ok(Done::ok(
            to_value(&AssetList { assets }),
            json!({ "returned": n }),
        ))
    })
    .await
}

// ---------------------------------------------------------------- markets

/// Body of `POST /api/v1/admin/markets`. Decimal strings in the quote
/// asset's precision (prices, notionals) or the base asset's (quantities).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMarketRequest {
    /// 1–20 upper-case letters or digits.
    #[schema(example = "DOGEUSDT")]
    pub symbol: String,
    #[schema(example = "DOGE")]
    pub base_asset: String,
    #[schema(example = "USDT")]
    pub quote_asset: String,
    /// Price step, in quote.
    #[schema(example = "0.00001")]
    pub tick_size: String,
    /// Quantity step (lot), in base.
    #[schema(example = "1")]
    pub step_size: String,
    /// Default: one tick.
    pub min_price: Option<String>,
    #[schema(example = "1000")]
    pub max_price: String,
    /// Default: one step.
    pub min_qty: Option<String>,
    #[schema(example = "10000000")]
    pub max_qty: String,
    /// Smallest order value in quote; default 0.
    pub min_notional: Option<String>,
    /// Largest order value in quote; default 0 (no maximum).
    pub max_notional: Option<String>,
    /// Fee rate as a decimal fraction (`"0.001"` = 0.1%); default 0.001.
    pub maker_fee: Option<String>,
    /// Default 0.001.
    pub taker_fee: Option<String>,
    /// `TRADING` (default), `HALTED` or `CANCEL_ONLY`.
    pub status: Option<String>,
    /// Default: all five modes.
    pub allowed_stp_modes: Option<Vec<String>>,
    /// Default `NONE`; must be among the allowed ones.
    pub default_stp_mode: Option<String>,
}

/// Body of `PATCH /api/v1/admin/markets/{symbol}`: the fields to change
/// (tick and step sizes cannot change once orders may rest on the grid).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMarketRequest {
    pub min_price: Option<String>,
    pub max_price: Option<String>,
    pub min_qty: Option<String>,
    pub max_qty: Option<String>,
    pub min_notional: Option<String>,
    /// `"0"`: no maximum.
    pub max_notional: Option<String>,
    pub maker_fee: Option<String>,
    pub taker_fee: Option<String>,
    /// `TRADING`, `HALTED` or `CANCEL_ONLY`.
    pub status: Option<String>,
    pub allowed_stp_modes: Option<Vec<String>>,
    pub default_stp_mode: Option<String>,
}

/// Body of `POST /api/v1/admin/markets/{symbol}/status`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarketStatusRequest {
    /// `TRADING`, `HALTED` (nothing changes the book, cancels included)
    /// or `CANCEL_ONLY` (cancels only).
    #[schema(example = "HALTED", pattern = "^(TRADING|HALTED|CANCEL_ONLY)$")]
    pub status: String,
}

/// A market (OpenAPI schema of `market_view`).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct MarketView {
    id: u32,
    #[schema(example = "BTCUSDT")]
    symbol: String,
    base_asset: String,
    quote_asset: String,
    /// `TRADING`, `HALTED` or `CANCEL_ONLY` (`exchangeInfo` says `TRADING`, `HALT`, `BREAK`).
    status: String,
    tick_size: String,
    step_size: String,
    min_price: String,
    max_price: String,
    min_qty: String,
    max_qty: String,
    min_notional: String,
    /// `0`: no maximum.
    max_notional: String,
    #[schema(example = "0.001000")]
    maker_fee: String,
    #[schema(example = "0.001000")]
    taker_fee: String,
    allowed_stp_modes: Vec<String>,
    default_stp_mode: String,
}

/// `{"market": …}` (OpenAPI schema).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct MarketResponse {
    market: MarketView,
}

/// `{"markets": […]}` (OpenAPI schema).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct MarketList {
    markets: Vec<MarketView>,
}

/// Converts the decimal strings of a market body against its assets.
struct Units<'a> {
    base: &'a AssetConfig,
    quote: &'a AssetConfig,
    tick: u64,
    lot: u64,
}

impl<'a> Units<'a> {
    /// A creation's assets and its tick and lot in atoms (both positive).
    fn of(req: &CreateMarketRequest, assets: &'a [AssetConfig]) -> Result<Self, ApiError> {
        let base = find_asset(assets, &req.base_asset)?;
        let quote = find_asset(assets, &req.quote_asset)?;
        let positive = |field: &str, v: u64| {
            if v == 0 {
                Err(invalid_market(format!("{field} must be positive.")))
            } else {
                Ok(v)
            }
        };
        let tick = positive(
            "tick_size",
            Self::atoms("tick_size", &req.tick_size, quote)?,
        )?;
        let lot = positive("step_size", Self::atoms("step_size", &req.step_size, base)?)?;
        Ok(Units {
            base,
            quote,
            tick,
            lot,
        })
    }
}

impl Units<'_> {
    fn atoms(field: &str, s: &str, asset: &AssetConfig) -> Result<u64, ApiError> {
        parse_scaled(s, asset.decimals).map_err(|_| {
            invalid_market(format!(
                "{field} must be a non-negative decimal string with at most {} decimals ({}).",
                asset.decimals,
                asset.code.as_str()
            ))
        })
    }

    fn grid(field: &str, atoms: u64, step: u64, step_name: &str) -> Result<u64, ApiError> {
        if !atoms.is_multiple_of(step) {
            return Err(invalid_market(format!(
                "{field} must be a multiple of {step_name}."
            )));
        }
        Ok(atoms / step)
    }

    fn price(&self, field: &str, s: &str) -> Result<u64, ApiError> {
        Self::grid(
            field,
            Self::atoms(field, s, self.quote)?,
            self.tick,
            "tick_size",
        )
    }

    fn qty(&self, field: &str, s: &str) -> Result<u64, ApiError> {
        Self::grid(
            field,
            Self::atoms(field, s, self.base)?,
            self.lot,
            "step_size",
        )
    }

    fn notional(&self, field: &str, s: &str) -> Result<u64, ApiError> {
        Self::atoms(field, s, self.quote)
    }
}

fn stp_set(list: &[String]) -> Result<StpModes, ApiError> {
    let modes = list
        .iter()
        .map(|s| parse_stp(s))
        .collect::<Result<Vec<_>, _>>()?;
    if modes.is_empty() {
        return Err(invalid_market(
            "allowed_stp_modes must name at least one mode.",
        ));
    }
    Ok(StpModes::of(&modes))
}

fn find_asset<'a>(assets: &'a [AssetConfig], code: &str) -> Result<&'a AssetConfig, ApiError> {
    assets
        .iter()
        .find(|a| a.code.as_str() == code)
        .ok_or_else(|| ApiError::bad_request("unknown_asset", format!("No asset {code:?}.")))
}

/// The whole configuration a creation asks for, checked like the engine will.
fn market_config(
    req: &CreateMarketRequest,
    id: u32,
    assets: &[AssetConfig],
) -> Result<MarketConfig, ApiError> {
    let symbol = Symbol::new(&req.symbol)
        .map_err(|_| invalid_market("symbol must be 1 to 20 upper-case letters or digits."))?;
    let u = Units::of(req, assets)?;
    let (base, quote, tick, lot) = (u.base, u.quote, u.tick, u.lot);
    let opt = |v: &Option<String>, f: &dyn Fn(&str) -> Result<u64, ApiError>, default: u64| {
        v.as_deref().map_or(Ok(default), f)
    };
    let allowed_stp = match &req.allowed_stp_modes {
        Some(list) => stp_set(list)?,
        None => StpModes::ALL,
    };
    let cfg = MarketConfig {
        id: MarketId(id),
        symbol,
        base: base.id,
        quote: quote.id,
        tick_size: tick,
        lot_size: lot,
        min_price: opt(&req.min_price, &|s| u.price("min_price", s), 1)?,
        max_price: u.price("max_price", &req.max_price)?,
        min_qty: opt(&req.min_qty, &|s| u.qty("min_qty", s), 1)?,
        max_qty: u.qty("max_qty", &req.max_qty)?,
        min_notional: opt(&req.min_notional, &|s| u.notional("min_notional", s), 0)?,
        max_notional: opt(&req.max_notional, &|s| u.notional("max_notional", s), 0)?,
        maker_fee_ppm: req
            .maker_fee
            .as_deref()
            .map_or(Ok(1_000), |s| fee_ppm("maker_fee", s))?,
        taker_fee_ppm: req
            .taker_fee
            .as_deref()
            .map_or(Ok(1_000), |s| fee_ppm("taker_fee", s))?,
        status: req
            .status
            .as_deref()
            .map_or(Ok(MarketStatus::Trading), parse_status)?,
        allowed_stp,
        default_stp: req
            .default_stp_mode
            .as_deref()
            .map_or(Ok(StpMode::None), parse_stp)?,
    };
    check_market(&cfg, base, quote)?;
    Ok(cfg)
}

/// The engine's own checks, as clear 400s instead of `InvalidConfig`.
fn check_market(
    cfg: &MarketConfig,
    base: &AssetConfig,
    quote: &AssetConfig,
) -> Result<(), ApiError> {
    cfg.validate_limits().map_err(invalid_market)?;
    MarketScale::derive(cfg, base, quote).map_err(invalid_market)?;
    Ok(())
}

/// The [`MarketUpdate`] a PATCH body asks for, on market `m`.
fn market_update(req: &UpdateMarketRequest, m: &MarketInfo) -> Result<MarketUpdate, ApiError> {
    let u = Units {
        base: &m.base,
        quote: &m.quote,
        tick: m.cfg.tick_size,
        lot: m.cfg.lot_size,
    };
    let price = |f: &str, v: &Option<String>| v.as_deref().map(|s| u.price(f, s)).transpose();
    let qty = |f: &str, v: &Option<String>| v.as_deref().map(|s| u.qty(f, s)).transpose();
    let notional = |f: &str, v: &Option<String>| v.as_deref().map(|s| u.notional(f, s)).transpose();
    let fee = |f: &str, v: &Option<String>| v.as_deref().map(|s| fee_ppm(f, s)).transpose();
    Ok(MarketUpdate {
        min_price: price("min_price", &req.min_price)?,
        max_price: price("max_price", &req.max_price)?,
        min_qty: qty("min_qty", &req.min_qty)?,
        max_qty: qty("max_qty", &req.max_qty)?,
        min_notional: notional("min_notional", &req.min_notional)?,
        max_notional: notional("max_notional", &req.max_notional)?,
        maker_fee_ppm: fee("maker_fee", &req.maker_fee)?,
        taker_fee_ppm: fee("taker_fee", &req.taker_fee)?,
        status: req.status.as_deref().map(parse_status).transpose()?,
        allowed_stp: req.allowed_stp_modes.as_deref().map(stp_set).transpose()?,
        default_stp: req.default_stp_mode.as_deref().map(parse_stp).transpose()?,
    })
}

/// `POST /api/v1/admin/markets`.
#[utoipa::path(post, path = "/api/v1/admin/markets", tag = "admin",
    summary = "Create a market (admin)",
    description = "Lists a new market with the next free id. Sizes and limits are decimal strings in the asset's precision, on the tick and step grid; one lot at one tick must cost a whole number of quote atoms. `exchangeInfo` shows the market at once. Audited as `admin.market.create`.",
    security(("bearerAuth" = [])),
    request_body = CreateMarketRequest,
    responses(
        (status = 201, description = "Created.", body = MarketResponse),
        (status = 400, description = "`invalid_market` (with the reason), `invalid_fee`, `invalid_status`, `unknown_asset`; `invalid_json` (not JSON), `invalid_body` (a missing, unknown or mistyped field, named in the message).", body = NativeError),
        (status = 401, description = "`unauthorized`.", body = NativeError),
        (status = 403, description = "`forbidden`: not an admin.", body = NativeError),
        (status = 409, description = "`market_exists`.", body = NativeError),
        (status = 415, description = "`unsupported_media_type`.", body = NativeError),
    ))]
pub async fn create_market(
    State(s): State<TradingState>,
    call: AdminCall,
    raw: LazyJson,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    run(&call, &s, "admin.market.create", None, async {
        let req: CreateMarketRequest = raw.parse()?;
        let _one_at_a_time = s.admin_lock.lock().await;
        let (assets, id) = s
            .query(|e: &Engine| {
                let next = e.markets().iter().map(|m| m.id.0).max().unwrap_or(0);
                (e.assets(), next)
            })
            .await?;
        let id = id
            .checked_add(1)
            .ok_or_else(|| ApiError::internal("market ids exhausted"))?;
        let cfg = market_config(&req, id, &assets)?;
        s.apply(Command::CreateMarket(cfg)).await?;
        let m = current_market(&s, &req.symbol).await?;
        Ok(Done {
            status: StatusCode::CREATED,
            body: to_value(&MarketResponse {
                market: market_view(&m),
            }),
            target: Some(format!("market:{}", req.symbol)),
            detail: json!({ "after": market_view(&m) }),
        })
    })
    .await
}

/// `GET /api/v1/admin/markets`.
#[utoipa::path(get, path = "/api/v1/admin/markets", tag = "admin",
    summary = "List markets (admin)",
    description = "Every market with its full configuration and status. Admin role only. Audited as `admin.market.list`.",
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The markets, by symbol.", body = MarketList),
        (status = 401, description = "`unauthorized`.", body = NativeError),
        (status = 403, description = "`forbidden`: not an admin.", body = NativeError),
    ))]
pub async fn list_markets(
    State(s): State<TradingState>,
    call: AdminCall,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    run(&call, &s, "admin.market.list", None, async {
        let dir = s.refresh_markets().await?;
        let markets: Vec<MarketView> = dir.markets.values().map(market_view).collect();
        let n = markets.len();
        Ok(Done::ok(
            to_value(&MarketList { markets }),
            json!({ "returned": n }),
        ))
    })
    .await
}

/// `PATCH /api/v1/admin/markets/{symbol}`.
#[utoipa::path(patch, path = "/api/v1/admin/markets/{symbol}", tag = "admin",
    summary = "Update a market (admin)",
    description = "Changes limits, fees, status or STP modes; absent fields stay as they are, tick and step sizes cannot change. The result must still be a valid market. Audited as `admin.market.update` with the configuration before and after.",
    security(("bearerAuth" = [])),
    params(("symbol" = String, Path, description = "The market, e.g. `BTCUSDT`.")),
    request_body = UpdateMarketRequest,
    responses(
        (status = 200, description = "The market after the change.", body = MarketResponse),
        (status = 400, description = "`invalid_market` (with the reason), `invalid_fee`, `invalid_status`, `empty_update`, `bad_request`; `invalid_json` (not JSON), `invalid_body` (a missing, unknown or mistyped field, named in the message).", body = NativeError),
        (status = 401, description = "`unauthorized`.", body = NativeError),
        (status = 403, description = "`forbidden`: not an admin.", body = NativeError),
        (status = 404, description = "`market_not_found`.", body = NativeError),
        (status = 415, description = "`unsupported_media_type`.", body = NativeError),
    ))]
pub async fn update_market(
    State(s): State<TradingState>,
    Path(symbol): Path<String>,
    call: AdminCall,
    raw: LazyJson,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let target = Some(format!("market:{}", truncate(&symbol)));
    run(&call, &s, "admin.market.update", target, async {
        let req: UpdateMarketRequest = raw.parse()?;
        let _one_at_a_time = s.admin_lock.lock().await;
        let before = current_market(&s, &symbol).await?;
        let update = market_update(&req, &before)?;
        if update == MarketUpdate::default() {
            return Err(ApiError::bad_request(
                "empty_update",
                "The body names nothing to change.",
            ));
        }
        check_market(&before.cfg.updated(&update), &before.base, &before.quote)?;
        s.apply(Command::UpdateMarket {
            market: before.cfg.id,
            update,
        })
        .await?;
        let after = current_market(&s, &symbol).await?;
        Ok(Done::ok(
            to_value(&MarketResponse {
                market: market_view(&after),
            }),
            json!({ "before": market_view(&before), "after": market_view(&after) }),
        ))
    })
    .await
}

/// `POST /api/v1/admin/markets/{symbol}/status`.
#[utoipa::path(post, path = "/api/v1/admin/markets/{symbol}/status", tag = "admin",
    summary = "Set a market's status (admin)",
    description = "`TRADING`; `HALTED`: no order, amend or cancel changes the book (new orders -2010 and cancels -2011 `Market is closed.`); `CANCEL_ONLY`: cancels only. `exchangeInfo` shows `TRADING`, `HALT` or `BREAK` at once. Audited as `admin.market.status` with the status before and after.",
    security(("bearerAuth" = [])),
    params(("symbol" = String, Path, description = "The market, e.g. `BTCUSDT`.")),
    request_body = MarketStatusRequest,
    responses(
        (status = 200, description = "The market after the change.", body = MarketResponse),
        (status = 400, description = "`invalid_status`, `bad_request`; `invalid_json` (not JSON), `invalid_body` (a missing, unknown or mistyped field, named in the message).", body = NativeError),
        (status = 401, description = "`unauthorized`.", body = NativeError),
        (status = 403, description = "`forbidden`: not an admin.", body = NativeError),
        (status = 404, description = "`market_not_found`.", body = NativeError),
        (status = 415, description = "`unsupported_media_type`.", body = NativeError),
    ))]
pub async fn set_status(
    State(s): State<TradingState>,
    Path(symbol): Path<String>,
    call: AdminCall,
    raw: LazyJson,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let target = Some(format!("market:{}", truncate(&symbol)));
    run(&call, &s, "admin.market.status", target, async {
        let req: MarketStatusRequest = raw.parse()?;
        let status = parse_status(&req.status)?;
        let before = current_market(&s, &symbol).await?;
        s.apply(Command::SetMarketStatus {
            market: before.cfg.id,
            status,
        })
        .await?;
        let after = current_market(&s, &symbol).await?;
        Ok(Done::ok(
            to_value(&MarketResponse {
                market: market_view(&after),
            }),
            json!({
                "before": status_name(before.cfg.status),
                "after": status_name(after.cfg.status),
            }),
        ))
    })
    .await
}

/// At most 32 characters of a path value, for audit targets.
fn truncate(s: &str) -> String {
    s.chars().take(32).collect()
}

// ---------------------------------------------------------------- users

/// Body of `PUT /api/v1/admin/users/{user_id}/fees`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeeTierRequest {
    /// Maker rate as a decimal fraction, 0 to 0.1 (`"0.0005"` = 0.05%).
    #[schema(example = "0.0005")]
    pub maker_fee: String,
    #[schema(example = "0.00075")]
    pub taker_fee: String,
}

/// A user's fee tier (OpenAPI schema).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct FeeTierView {
    #[schema(example = "0.000500")]
    maker_fee: String,
    #[schema(example = "0.000750")]
    taker_fee: String,
}

/// `{"user_id", "fees"}` (OpenAPI schema); `fees` null: the market's rates.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct FeeTierResponse {
    user_id: u64,
    fees: Option<FeeTierView>,
}

/// `{"user_id", "frozen"}` (OpenAPI schema).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct FrozenResponse {
    user_id: u64,
    frozen: bool,
}

fn fees_view(fees: Option<(u32, u32)>) -> Option<FeeTierView> {
    fees.map(|(m, t)| FeeTierView {
        maker_fee: fee_str(m),
        taker_fee: fee_str(t),
    })
}

/// A user id from the path that names an existing user.
async fn user_in_path(s: &TradingState, raw: &str) -> Result<UserId, ApiError> {
    let id = flowex_http::ids::parse_id(raw).ok_or_else(invalid_user_id)?;
    existing_user(s, id).await
}

fn invalid_user_id() -> ApiError {
    ApiError::bad_request(
        "invalid_user_id",
        "The user id must be a number from 0 to 9223372036854775807.",
    )
}

/// `id` if the users table has it (404 `user_not_found` otherwise; 400
/// `invalid_user_id` past the store's range).
async fn existing_user(s: &TradingState, id: u64) -> Result<UserId, ApiError> {
    if !flowex_http::ids::in_range(id) {
        return Err(invalid_user_id());
    }
    let found = s
        .store()?
        .user_by_id(id)
        .await
        .map_err(store_error)?
        .is_some();
    if !found {
        return Err(not_found("user_not_found", format!("No user {id}.")));
    }
    Ok(UserId(id))
}

async fn user_settings(
    s: &TradingState,
    user: UserId,
) -> Result<(Option<(u32, u32)>, bool), ApiError> {
    s.query(move |e: &Engine| e.user_settings(user)).await
}

/// Sets or clears a fee tier in the engine, then in `user_fee_tiers`.
async fn apply_fees(
    s: &TradingState,
    call: &AdminCall,
    user: UserId,
    fees: Option<(u32, u32)>,
) -> Result<Done, ApiError> {
    let (before, _) = user_settings(s, user).await?;
    s.apply(Command::SetUserFees { user, fees }).await?;
    let tier = fees.map(|(maker, taker)| FeeTier {
        user_id: user.0,
        maker_fee_ppm: maker,
        taker_fee_ppm: taker,
        updated_at: now_ms(),
        updated_by: call.who.as_ref().map(|w| w.user_id),
    });
    let store = s.store()?;
    let mut tx = store.begin().await.map_err(store_error)?;
    tx.set_fee_tier(user.0, tier.as_ref())
        .await
        .map_err(store_error)?;
    tx.commit().await.map_err(store_error)?;
    Ok(Done::ok(
        to_value(&FeeTierResponse {
            user_id: user.0,
            fees: fees_view(fees),
        }),
        json!({ "before": fees_view(before), "after": fees_view(fees) }),
    ))
}

/// `PUT /api/v1/admin/users/{user_id}/fees`.
#[utoipa::path(put, path = "/api/v1/admin/users/{user_id}/fees", tag = "admin",
    summary = "Set a user's fee tier (admin)",
    description = "The user pays these maker and taker rates in every market instead of the market's (`GET /api/v3/account/commission` shows them). Audited as `admin.user.fees.set` with the tier before and after.",
    security(("bearerAuth" = [])),
    params(("user_id" = u64, Path, description = "The user.")),
    request_body = FeeTierRequest,
    responses(
        (status = 200, description = "The tier now in force.", body = FeeTierResponse),
        (status = 400, description = "`invalid_fee`, `invalid_user_id`, `reserved_account` (user 0), `bad_request`; `invalid_json` (not JSON), `invalid_body` (a missing, unknown or mistyped field, named in the message).", body = NativeError),
        (status = 401, description = "`unauthorized`.", body = NativeError),
        (status = 403, description = "`forbidden`: not an admin.", body = NativeError),
        (status = 404, description = "`user_not_found`.", body = NativeError),
        (status = 415, description = "`unsupported_media_type`.", body = NativeError),
    ))]
pub async fn set_fees(
    State(s): State<TradingState>,
    Path(user_id): Path<String>,
    call: AdminCall,
    raw: LazyJson,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let target = Some(format!("user:{}", truncate(&user_id)));
    run(&call, &s, "admin.user.fees.set", target, async {
        let req: FeeTierRequest = raw.parse()?;
        let user = user_in_path(&s, &user_id).await?;
        let fees = (
            fee_ppm("maker_fee", &req.maker_fee)?,
            fee_ppm("taker_fee", &req.taker_fee)?,
        );
        apply_fees(&s, &call, user, Some(fees)).await
    })
    .await
}

/// `DELETE /api/v1/admin/users/{user_id}/fees`.
#[utoipa::path(delete, path = "/api/v1/admin/users/{user_id}/fees", tag = "admin",
    summary = "Return a user to the market's fee rates (admin)",
    description = "Removes the user's fee tier. Audited as `admin.user.fees.clear` with the tier before.",
    security(("bearerAuth" = [])),
    params(("user_id" = u64, Path, description = "The user.")),
    responses(
        (status = 200, description = "`fees` is null: the market's rates apply.", body = FeeTierResponse),
        (status = 400, description = "`invalid_user_id`, `reserved_account`.", body = NativeError),
        (status = 401, description = "`unauthorized`.", body = NativeError),
        (status = 403, description = "`forbidden`: not an admin.", body = NativeError),
        (status = 404, description = "`user_not_found`.", body = NativeError),
    ))]
pub async fn clear_fees(
    State(s): State<TradingState>,
    Path(user_id): Path<String>,
    call: AdminCall,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let target = Some(format!("user:{}", truncate(&user_id)));
    run(&call, &s, "admin.user.fees.clear", target, async {
        let user = user_in_path(&s, &user_id).await?;
        apply_fees(&s, &call, user, None).await
    })
    .await
}

/// Users one `GET /api/v1/admin/users` answers when `limit` is not given.
const USERS_DEFAULT_LIMIT: u32 = 50;
/// The most users one call answers.
const USERS_MAX_LIMIT: u32 = 500;

/// The paging of the user list (OpenAPI only; parsed by `users_page`).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct UserPage {
    /// Only users with a greater id: the last `id` of the previous page.
    after_id: Option<u64>,
    /// At most this many users, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// A user as the operator sees it: never a password hash or 2FA secret.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AdminUserView {
    id: u64,
    email: String,
    /// `user` or `admin`.
    role: &'static str,
    /// Frozen in the engine: no new orders or withdrawals.
    frozen: bool,
    totp_enabled: bool,
    /// Ms since the Unix epoch.
    created_at: i64,
    /// The user's fee tier, or null when the markets' rates apply.
    fees: Option<FeeTierView>,
}

/// `{"users": […]}`, by id.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AdminUserList {
    users: Vec<AdminUserView>,
}

fn users_page(pairs: &[(String, String)]) -> Result<(Option<u64>, u32), ApiError> {
    let bad = |name: &str, why: &str| {
        let shown: String = name.chars().take(32).collect();
        ApiError::bad_request("invalid_parameter", format!("{shown}: {why}."))
    };
    let (mut after, mut limit) = (None, USERS_DEFAULT_LIMIT);
    let mut seen = std::collections::HashSet::new();
    for (name, value) in pairs {
        if !seen.insert(name.as_str()) {
            return Err(bad(name, "sent more than once"));
        }
        match name.as_str() {
            "after_id" => {
                after =
                    Some(flowex_http::ids::parse_id(value).ok_or_else(|| bad(name, "a user id"))?)
            }
            "limit" => {
                limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=USERS_MAX_LIMIT).contains(n))
                    .ok_or_else(|| bad(name, "1 to 500"))?
            }
            _ => return Err(bad(name, "unknown (use after_id, limit)")),
        }
    }
    Ok((after, limit))
}

/// `GET /api/v1/admin/users`.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin",
    summary = "List users (admin)",
    description = "Users in id order, each with the engine's view of them (frozen, fee tier): what the freeze and fee-tier routes change. Never a password hash or 2FA secret. Audited as `admin.user.list`.",
    security(("bearerAuth" = [])),
    params(UserPage),
    responses(
        (status = 200, description = "The page of users, by id.", body = AdminUserList),
        (status = 400, description = "`invalid_parameter`: a bad, repeated or unknown parameter.", body = NativeError),
        (status = 401, description = "`unauthorized`.", body = NativeError),
        (status = 403, description = "`forbidden`: not an admin.", body = NativeError),
    ))]
pub async fn list_users(
    State(s): State<TradingState>,
    call: AdminCall,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    run(&call, &s, "admin.user.list", None, async {
        let Query(pairs) = query.map_err(|_| {
            ApiError::bad_request("invalid_parameter", "The query string is malformed.")
        })?;
        let (after, limit) = users_page(&pairs)?;
        let users = s
            .store()?
            .list_users(after, limit)
            .await
            .map_err(store_error)?;
        let ids: Vec<UserId> = users.iter().map(|u| UserId(u.id)).collect();
        let settings = s
            .query(move |e: &Engine| ids.iter().map(|u| e.user_settings(*u)).collect::<Vec<_>>())
            .await?;
        let users: Vec<AdminUserView> = users
            .into_iter()
            .zip(settings)
            .map(|(u, (fees, frozen))| AdminUserView {
                id: u.id,
                role: u.role.as_str(),
                email: u.email,
                frozen,
                totp_enabled: u.totp_enabled,
                created_at: u.created_at,
                fees: fees_view(fees),
            })
            .collect();
        let n = users.len();
        Ok(Done::ok(
            to_value(&AdminUserList { users }),
            json!({ "returned": n }),
        ))
    })
    .await
}

/// Freezes or unfreezes in the engine, then in the users table.
async fn apply_frozen(s: &TradingState, raw_user: &str, frozen: bool) -> Result<Done, ApiError> {
    let user = user_in_path(s, raw_user).await?;
    let (_, before) = user_settings(s, user).await?;
    s.apply(Command::SetUserFrozen { user, frozen }).await?;
    s.store()?
        .set_frozen(user.0, frozen, now_ms())
        .await
        .map_err(store_error)?;
    Ok(Done::ok(
        to_value(&FrozenResponse {
            user_id: user.0,
            frozen,
        }),
        json!({ "before": { "frozen": before }, "after": { "frozen": frozen } }),
    ))
}

/// `POST /api/v1/admin/users/{user_id}/freeze`.
#[utoipa::path(post, path = "/api/v1/admin/users/{user_id}/freeze", tag = "admin",
    summary = "Freeze a user (admin)",
    description = "A frozen user places no order (-2010 `This account may not place or cancel orders.`), amends none upwards and requests no withdrawal; cancels still work, open orders stay. The account shows `canTrade`/`canWithdraw` false; the auth service refuses the user new logins, refreshes and API keys. Idempotent. Audited as `admin.user.freeze`.",
    security(("bearerAuth" = [])),
    params(("user_id" = u64, Path, description = "The user.")),
    responses(
        (status = 200, description = "Frozen.", body = FrozenResponse),
        (status = 400, description = "`invalid_user_id`, `reserved_account`.", body = NativeError),
        (status = 401, description = "`unauthorized`.", body = NativeError),
        (status = 403, description = "`forbidden`: not an admin.", body = NativeError),
        (status = 404, description = "`user_not_found`.", body = NativeError),
    ))]
pub async fn freeze(
    State(s): State<TradingState>,
    Path(user_id): Path<String>,
    call: AdminCall,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let target = Some(format!("user:{}", truncate(&user_id)));
    run(
        &call,
        &s,
        "admin.user.freeze",
        target,
        apply_frozen(&s, &user_id, true),
    )
    .await
}

/// `POST /api/v1/admin/users/{user_id}/unfreeze`.
#[utoipa::path(post, path = "/api/v1/admin/users/{user_id}/unfreeze", tag = "admin",
    summary = "Unfreeze a user (admin)",
    description = "Undoes a freeze. Idempotent. Audited as `admin.user.unfreeze`.",
    security(("bearerAuth" = [])),
    params(("user_id" = u64, Path, description = "The user.")),
    responses(
        (status = 200, description = "Not frozen.", body = FrozenResponse),
        (status = 400, description = "`invalid_user_id`, `reserved_account`.", body = NativeError),
        (status = 401, description = "`unauthorized`.", body = NativeError),
        (status = 403, description = "`forbidden`: not an admin.", body = NativeError),
        (status = 404, description = "`user_not_found`.", body = NativeError),
    ))]
pub async fn unfreeze(
    State(s): State<TradingState>,
    Path(user_id): Path<String>,
    call: AdminCall,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let target = Some(format!("user:{}", truncate(&user_id)));
    run(
        &call,
        &s,
        "admin.user.unfreeze",
        target,
        apply_frozen(&s, &user_id, false),
    )
    .await
}

// ---------------------------------------------------------------- cancel-all

/// Body of `POST /api/v1/admin/cancel-all`: at least one of the two.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelAllRequest {
    /// Only this user's orders.
    pub user_id: Option<u64>,
    /// Only this market's orders.
    #[schema(example = "BTCUSDT")]
    pub symbol: Option<String>,
}

/// `{"canceled": n, "order_ids": […]}` (OpenAPI schema).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct CancelAllResponse {
    /// How many orders (resting and pending stops) were canceled.
    canceled: usize,
    /// Their ids, in the order they were canceled.
    order_ids: Vec<u64>,
}

/// `POST /api/v1/admin/cancel-all`.
#[utoipa::path(post, path = "/api/v1/admin/cancel-all", tag = "admin",
    summary = "Cancel all orders of a user, a market, or a user in a market (admin)",
    description = "Cancels every open order (and pending stop) matching the filters, as one command; their owners see them `CANCELED`. A halted market's book does not change: naming a halted market is 409 `market_halted`, and a user's orders in halted markets are skipped. Audited as `admin.cancel_all` with the count.",
    security(("bearerAuth" = [])),
    request_body = CancelAllRequest,
    responses(
        (status = 200, description = "What was canceled (possibly nothing).", body = CancelAllResponse),
        (status = 400, description = "`missing_filter` (neither `user_id` nor `symbol`), `bad_request`; `invalid_json` (not JSON), `invalid_body` (a missing, unknown or mistyped field, named in the message).", body = NativeError),
        (status = 401, description = "`unauthorized`.", body = NativeError),
        (status = 403, description = "`forbidden`: not an admin.", body = NativeError),
        (status = 404, description = "`user_not_found`, `market_not_found`.", body = NativeError),
        (status = 409, description = "`market_halted`.", body = NativeError),
        (status = 415, description = "`unsupported_media_type`.", body = NativeError),
    ))]
pub async fn cancel_all(
    State(s): State<TradingState>,
    call: AdminCall,
    raw: LazyJson,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    run(&call, &s, "admin.cancel_all", None, async {
        let req: CancelAllRequest = raw.parse()?;
        if req.user_id.is_none() && req.symbol.is_none() {
            return Err(ApiError::bad_request(
                "missing_filter",
                "Give user_id, symbol or both: cancel-all never cancels the whole exchange.",
            ));
        }
        let user = match req.user_id {
            Some(id) => Some(existing_user(&s, id).await?),
            None => None,
        };
        let market = match &req.symbol {
            Some(sym) => Some(current_market(&s, sym).await?.cfg.id),
            None => None,
        };
        let applied = s.apply(Command::CancelAll { user, market }).await?;
        let ids: Vec<u64> = applied
            .events()
            .iter()
            .filter_map(|e| match e {
                Event::OrderUpdate {
                    order,
                    status: OrderStatus::Canceled,
                    ..
                } => Some(order.0),
                _ => None,
            })
            .collect();
        let target = match (&req.user_id, &req.symbol) {
            (Some(u), Some(m)) => format!("user:{u} market:{}", truncate(m)),
            (Some(u), None) => format!("user:{u}"),
            (None, m) => format!("market:{}", truncate(m.as_deref().unwrap_or(""))),
        };
        Ok(Done {
            target: Some(target),
            ..Done::ok(
                to_value(&CancelAllResponse {
                    canceled: ids.len(),
                    order_ids: ids.clone(),
                }),
                json!({ "canceled": ids.len(), "seq": applied.seq() }),
            )
        })
    })
    .await
}
