//! The caller's money history: `GET /api/v1/wallet/ledger` (pages of
//! ledger entries), `GET /api/v1/wallet/ledger.csv` (the same as CSV, at
//! most [`MAX_CSV_ROWS`] rows per export) and `GET /api/v1/wallet/deposits`.
//!
//! Every read is scoped to the caller's own user id: there is no parameter
//! naming a user, so one user can never read another's entries. Entries
//! come from the ledger projection ([`crate::ledger`]), which follows the
//! engine within milliseconds. Amounts are signed decimal strings in the
//! asset's precision (`"-0.00100000"`).

use crate::WalletState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use flowex_http::openapi::{NativeError, SignedParams};
use flowex_http::{ApiError, Identity};
use flowex_kit::body::to_value;
use flowex_kit::store_error;
use flowex_store::{LedgerCause, LedgerEntry, LedgerQuery, MAX_LEDGER_PAGE};
use flowex_types::{format_scaled, AssetConfig};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write as _;

/// Most rows one CSV export holds; `X-Next-Cursor` says where to go on.
pub const MAX_CSV_ROWS: u32 = 10_000;
/// Most deposits one list holds.
pub const MAX_DEPOSITS: u32 = 1000;

type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

fn params(p: Params) -> Result<HashMap<String, String>, ApiError> {
    p.map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request("invalid_parameter", e.body_text()))
}

fn invalid(name: &str, why: &str) -> ApiError {
    ApiError::bad_request("invalid_parameter", format!("{name}: {why}"))
}

fn number<T: std::str::FromStr>(
    q: &HashMap<String, String>,
    name: &str,
) -> Result<Option<T>, ApiError> {
    q.get(name)
        .map(|v| {
            v.parse::<T>()
                .map_err(|_| invalid(name, "not a valid number"))
        })
        .transpose()
}

/// A signed amount of atoms as a decimal string.
pub fn signed_decimal(amount: i128, decimals: u8) -> String {
    let abs = format_scaled(
        u64::try_from(amount.unsigned_abs()).unwrap_or(u64::MAX),
        decimals,
    );
    if amount < 0 {
        format!("-{abs}")
    } else {
        abs
    }
}

/// The filters of the ledger and its export, read from the query string.
struct LedgerFilter {
    query: LedgerQuery,
    assets: Vec<AssetConfig>,
}

async fn ledger_filter(
    s: &WalletState,
    who: &Identity,
    q: &HashMap<String, String>,
    default_limit: u32,
    max_limit: u32,
) -> Result<LedgerFilter, ApiError> {
    let assets = s.sink.assets().await?;
    let asset_id = match q.get("asset") {
        None => None,
        Some(code) => Some(
            assets
                .iter()
                .find(|a| a.code.as_str() == code)
                .map(|a| u64::from(a.id.0))
                .ok_or_else(|| {
                    ApiError::bad_request("unknown_asset", format!("No asset {code:?}."))
                })?,
        ),
    };
    let cause = match q.get("cause") {
        None => None,
        Some(c) => Some(LedgerCause::parse(c).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_cause",
                "cause must be one of deposit, withdrawal, trade, fee, adjustment.",
            )
        })?),
    };
    let start_time: Option<i64> = number(q, "startTime")?;
    let end_time: Option<i64> = number(q, "endTime")?;
    if let (Some(a), Some(b)) = (start_time, end_time) {
        if a > b {
            return Err(ApiError::bad_request(
                "invalid_time_range",
                "startTime must not be after endTime.",
            ));
        }
    }
    let limit = match number::<u32>(q, "limit")? {
        None => default_limit,
        Some(l) if (1..=max_limit).contains(&l) => l,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_limit",
                format!("limit must be between 1 and {max_limit}."),
            ))
        }
    };
    let after = q.get("cursor").map(|c| parse_cursor(c)).transpose()?;
    Ok(LedgerFilter {
        query: LedgerQuery {
            user_id: who.user_id,
            asset_id,
            cause,
            start_time,
            end_time,
            after,
            limit,
        },
        assets,
    })
}

fn parse_cursor(c: &str) -> Result<(u64, u32), ApiError> {
    c.split_once('-')
        .and_then(|(s, i)| Some((flowex_http::ids::parse_id(s)?, i.parse().ok()?)))
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_cursor",
                "cursor must be a next_cursor of an earlier page.",
            )
        })
}

fn cursor_of(e: &LedgerEntry) -> String {
    format!("{}-{}", e.seq, e.idx)
}

fn asset_of(assets: &[AssetConfig], id: u64) -> (String, u8) {
    assets.iter().find(|a| u64::from(a.id.0) == id).map_or_else(
        || (id.to_string(), 0),
        |a| (a.code.as_str().to_string(), a.decimals),
    )
}

fn entry_view(e: &LedgerEntry, assets: &[AssetConfig]) -> LedgerEntryView {
    let (code, decimals) = asset_of(assets, e.asset_id);
    LedgerEntryView {
        seq: e.seq,
        idx: e.idx,
        time: e.at,
        asset: code,
        amount: signed_decimal(e.amount, decimals),
        cause: e.cause.as_str().to_string(),
        reference: e.reference.clone(),
    }
}

/// One ledger entry (OpenAPI schema).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LedgerEntryView {
    /// The engine's sequence number of the command that caused it.
    seq: u64,
    /// Its place among that command's entries.
    idx: u32,
    /// Ms since the Unix epoch (the command's time).
    time: i64,
    #[schema(example = "BTC")]
    asset: String,
    /// Signed decimal string: positive credits the caller.
    #[schema(example = "-0.00100000")]
    amount: String,
    /// `deposit`, `withdrawal`, `trade`, `fee` or `adjustment`.
    #[schema(example = "trade")]
    cause: String,
    /// What it belongs to: `deposit:<key>`, `withdrawal:<id>`, `trade:<symbol>:<id>`.
    #[schema(example = "trade:BTCUSDT:17")]
    reference: Option<String>,
}

/// A page of the ledger (OpenAPI schema).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LedgerPage {
    /// Ascending by (seq, idx).
    entries: Vec<LedgerEntryView>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    next_cursor: Option<String>,
}

/// The ledger's filters (OpenAPI).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, non_snake_case)]
pub(crate) struct LedgerParams {
    /// Only this asset (code).
    asset: Option<String>,
    /// Only this cause: `deposit`, `withdrawal`, `trade`, `fee`, `adjustment`.
    cause: Option<String>,
    /// Ms since the Unix epoch, inclusive.
    #[param(minimum = 0)]
    startTime: Option<i64>,
    /// Ms since the Unix epoch, inclusive.
    #[param(minimum = 0)]
    endTime: Option<i64>,
    /// Entries per page: 1–1000 (default 100); the CSV export 1–10000 (default 10000).
    #[param(minimum = 1)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// `GET /api/v1/wallet/ledger`.
#[utoipa::path(get, path = "/api/v1/wallet/ledger", tag = "wallet",
    summary = "The caller's ledger entries",
    description = "Every change of the caller's balances with its cause, oldest first, in pages (`limit` at most 1000; follow `next_cursor`). With an API key the request is SIGNED and the key needs `READ`.",
    params(LedgerParams, SignedParams),
    security(("bearerAuth" = []), ("apiKey" = [])),
    responses(
        (status = 200, description = "A page of entries.", body = LedgerPage),
        (status = 400, description = "`unknown_asset`, `invalid_cause`, `invalid_parameter` (a malformed number), `invalid_time_range`, `invalid_limit`, `invalid_cursor`.", body = NativeError),
        (status = 401, description = "`unauthorized`, `invalid_token`, `token_expired`, `invalid_api_key`.", body = NativeError),
    ))]
pub async fn ledger(
    State(s): State<WalletState>,
    who: Identity,
    q: Params,
) -> Result<Json<Value>, ApiError> {
    let q = params(q)?;
    let f = ledger_filter(&s, &who, &q, 100, MAX_LEDGER_PAGE).await?;
    let entries = s.store.ledger_page(&f.query).await.map_err(store_error)?;
    let next = (entries.len() == f.query.limit as usize)
        .then(|| entries.last().map(cursor_of))
        .flatten();
    let entries: Vec<LedgerEntryView> = entries.iter().map(|e| entry_view(e, &f.assets)).collect();
    Ok(Json(to_value(&LedgerPage {
        entries,
        next_cursor: next,
    })))
}

/// A CSV field, quoted when needed; a text that a spreadsheet would read
/// as a formula is prefixed with `'`.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// `GET /api/v1/wallet/ledger.csv`.
#[utoipa::path(get, path = "/api/v1/wallet/ledger.csv", tag = "wallet",
    summary = "The caller's ledger as CSV",
    description = "The entries of `GET /api/v1/wallet/ledger` with the same filters, as `text/csv` (header `time,seq,idx,asset,amount,cause,reference`), at most 10000 rows per export; when more remain, the `X-Next-Cursor` header holds the `cursor` of the next export. With an API key the request is SIGNED and the key needs `READ`.",
    params(LedgerParams, SignedParams),
    security(("bearerAuth" = []), ("apiKey" = [])),
    responses(
        (status = 200, description = "CSV, one entry per line.", content_type = "text/csv", body = String),
        (status = 400, description = "`unknown_asset`, `invalid_cause`, `invalid_parameter`, `invalid_time_range`, `invalid_limit`, `invalid_cursor`.", body = NativeError),
        (status = 401, description = "`unauthorized`, `invalid_token`, `token_expired`, `invalid_api_key`.", body = NativeError),
    ))]
pub async fn ledger_csv(
    State(s): State<WalletState>,
    who: Identity,
    q: Params,
) -> Result<Response, ApiError> {
    let q = params(q)?;
    let mut f = ledger_filter(&s, &who, &q, MAX_CSV_ROWS, MAX_CSV_ROWS).await?;
    let wanted = f.query.limit;
    let mut out = String::from("time,seq,idx,asset,amount,cause,reference\n");
    let mut rows = 0u32;
    let mut last = None;
    while rows < wanted {
        f.query.limit = (wanted - rows).min(MAX_LEDGER_PAGE);
        let page = s.store.ledger_page(&f.query).await.map_err(store_error)?;
        for e in &page {
            let (code, decimals) = asset_of(&f.assets, e.asset_id);
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{}",
                e.at,
                e.seq,
                e.idx,
                csv_field(&code),
                signed_decimal(e.amount, decimals),
                e.cause.as_str(),
                csv_field(e.reference.as_deref().unwrap_or("")),
            );
        }
        rows += page.len() as u32;
        let full = page.len() == f.query.limit as usize;
        last = page.last().map(|e| (e.seq, e.idx)).or(last);
        f.query.after = last;
        if !full {
            last = None;
            break;
        }
    }
    let mut resp = (StatusCode::OK, out).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"ledger.csv\""),
    );
    if let Some((seq, idx)) = last.filter(|_| rows == wanted) {
        if let Ok(v) = HeaderValue::from_str(&format!("{seq}-{idx}")) {
            h.insert("x-next-cursor", v);
        }
    }
    Ok(resp)
}

/// One deposit (OpenAPI schema).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DepositItem {
    /// The deposit's idempotency key (`admin:<key>`, `faucet-…`).
    key: String,
    #[schema(example = "USDT")]
    asset: String,
    /// Decimal string.
    #[schema(example = "1000.00000000")]
    amount: String,
    /// `pending`, `credited` or `rejected`.
    state: String,
    /// `admin`, `faucet`, …
    source: String,
    /// Ms since the Unix epoch.
    created_at: i64,
    credited_at: Option<i64>,
}

/// `{"deposits": […]}` (OpenAPI schema).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DepositList {
    /// Newest first.
    deposits: Vec<DepositItem>,
}

/// `limit` of the deposit list (OpenAPI).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct DepositParams {
    /// 1–1000, default 100.
    #[param(minimum = 1)]
    limit: Option<u32>,
}

/// `GET /api/v1/wallet/deposits`.
#[utoipa::path(get, path = "/api/v1/wallet/deposits", tag = "wallet",
    summary = "The caller's deposits",
    description = "Deposits booked for the caller (admin credits, faucet claims), newest first. With an API key the request is SIGNED and the key needs `READ`.",
    params(DepositParams, SignedParams),
    security(("bearerAuth" = []), ("apiKey" = [])),
    responses(
        (status = 200, description = "The deposits.", body = DepositList),
        (status = 400, description = "`invalid_parameter`, `invalid_limit`.", body = NativeError),
        (status = 401, description = "`unauthorized`, `invalid_token`, `token_expired`, `invalid_api_key`.", body = NativeError),
    ))]
pub async fn deposits(
    State(s): State<WalletState>,
    who: Identity,
    q: Params,
) -> Result<Json<Value>, ApiError> {
    let q = params(q)?;
    let limit = match number::<u32>(&q, "limit")? {
        None => 100,
        Some(l) if (1..=MAX_DEPOSITS).contains(&l) => l,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_limit",
                format!("limit must be between 1 and {MAX_DEPOSITS}."),
            ))
        }
    };
    let assets = s.sink.assets().await?;
    let list = s
        .store
        .list_deposits(who.user_id, limit)
        .await
        .map_err(store_error)?;
    let deposits: Vec<DepositItem> = list
        .iter()
        .map(|d| {
            let (code, decimals) = asset_of(&assets, d.asset_id);
            DepositItem {
                key: d.idem_key.clone(),
                asset: code,
                amount: format_scaled(d.amount, decimals),
                state: d.state.as_str().to_string(),
                source: d.source.clone(),
                created_at: d.created_at,
                credited_at: d.credited_at,
            }
        })
        .collect();
    Ok(Json(to_value(&DepositList { deposits })))
}
