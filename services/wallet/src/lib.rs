//! The wallet service: balances and the movement of funds in and out.
//!
//! Today: balances (`GET /api/v1/wallet/balances`) and, in embedded mode
//! only, the demo faucet (`POST /api/v1/wallet/faucet`), which credits a
//! fixed amount through the same `Deposit` command a custody integration
//! uses, idempotent by key and capped per user and day in SQL. Withdrawals,
//! the ledger and admin deposits follow (issue 4).

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use flowex_engine::Engine;
use flowex_http::{ApiError, Identity};
use flowex_sequencer::SequencerHandle;
use flowex_store::Store;
use flowex_types::{format_scaled, parse_scaled, AssetConfig, Command, Event, IdemKey, UserId};
use serde::Deserialize;
use serde_json::{json, Value};
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
    seq: SequencerHandle,
    store: Store,
    /// `None`: no faucet (production).
    faucet: Option<Arc<Faucet>>,
}

impl WalletState {
    pub fn new(seq: SequencerHandle, store: Store, faucet: Option<Faucet>) -> Self {
        WalletState { seq, store, faucet: faucet.map(Arc::new) }
    }
}

pub fn router(state: WalletState) -> Router {
    let mut r = Router::new().route("/api/v1/wallet/balances", get(balances));
    if state.faucet.is_some() {
        r = r.route("/api/v1/wallet/faucet", post(faucet));
    }
    r.with_state(state)
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::unavailable(e.to_string())
}

async fn balances(State(s): State<WalletState>, who: Identity) -> Result<Json<Value>, ApiError> {
    let user = UserId(who.user_id);
    let (assets, balances) = s
        .seq
        .query(move |e: &Engine| (e.assets(), e.balances(user)))
        .await
        .map_err(unavailable)?;
    let list: Vec<Value> = assets
        .iter()
        .map(|a| {
            let b = balances.iter().find(|(id, _)| *id == a.id).map(|(_, b)| *b).unwrap_or_default();
            json!({
                "asset": a.code.as_str(),
                "free": format_scaled(b.available, a.decimals),
                "locked": format_scaled(b.locked, a.decimals),
            })
        })
        .collect();
    Ok(Json(json!({ "balances": list })))
}

#[derive(Deserialize)]
struct FaucetRequest {
    asset: String,
}

fn today() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400)
}

async fn faucet(
    State(s): State<WalletState>,
    who: Identity,
    Json(req): Json<FaucetRequest>,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let faucet = s.faucet.clone().ok_or_else(ApiError::not_found)?;
    let assets = s.seq.query(|e: &Engine| e.assets()).await.map_err(unavailable)?;
    let asset: AssetConfig = *assets
        .iter()
        .find(|a| a.code.as_str() == req.asset)
        .ok_or_else(|| ApiError::bad_request("unknown_asset", format!("No asset {}.", req.asset)))?;
    let amount_str = faucet
        .amounts
        .get(&req.asset)
        .ok_or_else(|| ApiError::bad_request("no_faucet", format!("The faucet does not give {}.", req.asset)))?;
    let amount = parse_scaled(amount_str, asset.decimals).map_err(|_| ApiError::internal("faucet amount"))?;
    let day = today();
    let claimed = s
        .store
        .claim_faucet(who.user_id, u64::from(asset.id.0), day, faucet.daily_cap)
        .await
        .map_err(unavailable)?;
    if !claimed {
        let msg = format!("The faucet gives at most {} claims per asset per day.", faucet.daily_cap);
        return Err(ApiError::native(axum::http::StatusCode::TOO_MANY_REQUESTS, "faucet_cap_reached", msg));
    }
    let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let key = IdemKey::new(&format!("faucet-{}-{}-{day}-{nonce}", who.user_id, asset.id.0)).map_err(|_| ApiError::internal("key"))?;
    let cmd = Command::Deposit { key, user: UserId(who.user_id), asset: asset.id, amount };
    let applied = s.seq.submit(cmd).await.map_err(unavailable)?;
    if let Some(reason) = applied.rejection() {
        return Err(ApiError::internal(format!("faucet deposit rejected: {reason:?}")));
    }
    let credited = applied.events().iter().any(|e| matches!(e, Event::Deposited { .. }));
    Ok((
        axum::http::StatusCode::CREATED,
        Json(json!({ "asset": req.asset, "amount": format_scaled(amount, asset.decimals), "credited": credited })),
    ))
}
