//! `flowex openapi`: the OpenAPI 3 document of FlowEx's public API, merged
//! from the gateway's own routes and each service's `openapi()` (built by
//! utoipa from the handlers' `#[utoipa::path]` annotations). The gateway
//! serves it at `/openapi.json` (Swagger UI at `/docs`), and
//! `docs/api/openapi.json` is this output, committed; the test
//! `bin/flowex/tests/openapi.rs` fails when they differ. Refresh it with
//!
//! ```text
//! cargo run -p flowex -- openapi > docs/api/openapi.json
//! ```
//!
//! Internal routes (`/internal/*`, the services' channel behind the
//! gateway) are not part of it.

use serde_json::{Map, Value};
use utoipa::openapi::{InfoBuilder, OpenApi, Server};

const DESCRIPTION: &str = "FlowEx is a spot exchange. `/api/v3` speaks Binance's Spot API: \
parameters in the query string or an `application/x-www-form-urlencoded` body, errors as \
`{\"code\":int,\"msg\":string}` with Binance's codes, signed requests with `X-MBX-APIKEY` and an \
HMAC-SHA256 `signature` (security scheme `apiKey`). `/api/v1` is FlowEx's own API: JSON bodies, \
errors as `{\"error\":{\"code\":string,\"message\":string}}` with stable string codes, and \
`Authorization: Bearer <access token>` (security scheme `bearerAuth`, also accepted on `/api/v3`).\n\n\
Amounts, prices, quantities and rates are decimal strings (`\"0.00100000\"`), never JSON numbers. \
Every response carries `X-Request-Id` and `X-MBX-USED-WEIGHT-1M`; order requests also \
`X-MBX-ORDER-COUNT-10S` and `X-MBX-ORDER-COUNT-1D`. Past a limit the answer is 429 with \
`Retry-After`, and 418 for an IP that keeps going.";

/// The merged document.
pub fn document() -> OpenApi {
    let mut doc = flowex_gateway::openapi();
    // The first document to describe a path and method wins: market-data
    // owns `/api/v3/ping` and `/time` (the gateway routes them there), so
    // it comes before trading, which serves them too in one process.
    for part in [
        flowex_auth_service::openapi(),
        flowex_market_data::openapi(),
        flowex_trading::openapi(),
        flowex_wallet::openapi(),
    ] {
        doc.merge(part);
    }
    doc.info = InfoBuilder::new()
        .title("FlowEx API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(DESCRIPTION))
        .build();
    doc.servers = Some(vec![Server::new("/")]);
    flowex_http::openapi::add_stack_responses(&mut doc);
    doc
}

/// The document as JSON, every object's keys sorted (a stable text
/// whatever the map type behind `serde_json::Value`).
pub fn json() -> Value {
    sorted(serde_json::to_value(document()).expect("the OpenAPI document is JSON"))
}

/// The document as `flowex openapi` prints it and `docs/api/openapi.json`
/// holds it: pretty JSON with sorted keys and a final newline.
pub fn pretty() -> String {
    let mut text = serde_json::to_string_pretty(&json()).expect("JSON");
    text.push('\n');
    text
}

fn sorted(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sorted(v)))
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}
