//! The pieces of the OpenAPI document that every service shares: the two
//! error shapes, the two security schemes and the parameters of a signed
//! Binance request.
//!
//! Each service documents its own handlers with `#[utoipa::path]` and
//! exposes `openapi()`; `flowex openapi` merges them with the gateway's
//! into the one document served at `/openapi.json`. Handlers refer to the
//! schemes by name:
//!
//! ```ignore
//! #[utoipa::path(get, path = "/api/v3/account",
//!     params(AccountParams, SignedParams),
//!     security((API_KEY = []), (BEARER = [])),
//!     responses((status = 200, body = Account), (status = 400, body = BinanceError)))]
//! ```
//!
//! Money is a decimal string in every schema (`"0.00100000"`), never a JSON
//! number: document such fields as `String` with an example.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi;
use utoipa::{IntoParams, Modify, PartialSchema, ToSchema};

/// Name of the `Authorization: Bearer <access token>` scheme.
pub const BEARER: &str = "bearerAuth";
/// Name of the `X-MBX-APIKEY` (+ HMAC signature) scheme.
pub const API_KEY: &str = "apiKey";

const BEARER_DESCRIPTION: &str = "An access token from `POST /api/v1/auth/login` or \
`POST /api/v1/auth/refresh`: a JWT signed with Ed25519 (EdDSA), valid for at most 15 minutes. \
Accepted wherever an API key is (`/api/v3` included); the only credential for `/api/v1/auth/*`, \
`/api/v1/account/*` and (with the `admin` role) `/api/v1/admin/*`. \
Failures: 401 (`/api/v1`: `unauthorized`, `token_expired`, `invalid_token`; `/api/v3`: -2015).";

const API_KEY_DESCRIPTION: &str =
    "A Binance-style API key (`POST /api/v1/account/api-keys`) in the \
`X-MBX-APIKEY` header. USER_STREAM endpoints need the key alone. SIGNED endpoints (TRADE, \
USER_DATA, WITHDRAW) also need the parameters `timestamp` (milliseconds since the Unix epoch), \
optionally `recvWindow` (milliseconds, at most 60000, default 5000), and `signature`: the \
lowercase hex HMAC-SHA256, keyed with the key's secret, of the raw query string without \
`signature` followed directly by the raw request body (`application/x-www-form-urlencoded`). \
The key needs the endpoint's permission (`READ`, `TRADE`, `WITHDRAW`) and, when it has an IP \
allow-list, a request from an allowed address. Errors: -2014 (malformed key), -2015 (unknown \
key, IP not allowed or missing permission), -1102 (`timestamp` or `signature` missing), -1022 \
(signature does not match), -1021 (`timestamp` outside `recvWindow`), -1131 (`recvWindow` over \
60000).";

/// Adds the [`BEARER`] and [`API_KEY`] security schemes to a document.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(BEARER_DESCRIPTION))
                    .build(),
            ),
        );
        components.add_security_scheme(
            API_KEY,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-MBX-APIKEY",
                API_KEY_DESCRIPTION,
            ))),
        );
    }
}

/// A Binance error (`/api/v3`): the dialect crate's, so that the document
/// and the wire share one definition.
pub use flowex_binance::BinanceError;

/// A FlowEx error (`/api/v1`): a stable string code and a message for people.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"error": {"code": "invalid_credentials", "message": "Wrong e-mail address or password."}}))]
pub struct NativeError {
    /// The error.
    pub error: NativeErrorBody,
}

/// The body of a [`NativeError`].
#[derive(Debug, ToSchema)]
pub struct NativeErrorBody {
    /// Stable, machine-readable code (`snake_case`), e.g. `invalid_body`.
    pub code: String,
    /// What went wrong, for people; may change between versions.
    pub message: String,
}

/// The parameters of a SIGNED request made with an API key. With a Bearer
/// token they are not needed (and are ignored).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct SignedParams {
    /// Milliseconds since the Unix epoch when the request was made; required
    /// with an API key.
    #[param(example = 1_700_000_000_000_u64)]
    pub timestamp: Option<u64>,
    /// How long after `timestamp` the request stays valid, in milliseconds
    /// (at most 60000; default 5000).
    #[param(maximum = 60000)]
    pub recv_window: Option<u64>,
    /// Hex HMAC-SHA256 of the query string (without `signature`) followed by
    /// the request body, keyed with the API secret; required with an API key.
    #[param(pattern = "^[0-9a-fA-F]{64}$")]
    pub signature: Option<String>,
}

/// Adds, to every operation of `doc`, the responses the shared stack can
/// give on any route (unless the operation lists that status itself), in
/// the shape of the path's API family: 429 (request weight or order rate
/// over the limit, `Retry-After`), 418 (an IP that kept going past 429),
/// 413 (body over the limit; operations that take a body), 503 (overloaded,
/// timed out, or a service down) and 500. They are shared responses in
/// `components.responses` (`V3TooManyRequests`, `V1TooManyRequests`, …).
pub fn add_stack_responses(doc: &mut OpenApi) {
    use utoipa::openapi::RefOr;

    let used = refer_stack_responses(doc);
    if used.is_empty() {
        return;
    }
    let components = doc.components.get_or_insert_with(Default::default);
    for (family, status, name) in used {
        let schema = if family == "V3" {
            "BinanceError"
        } else {
            "NativeError"
        };
        components
            .responses
            .insert(name, RefOr::T(stack_response(status, schema)));
        components
            .schemas
            .entry(schema.to_string())
            .or_insert_with(|| match schema {
                "BinanceError" => BinanceError::schema(),
                _ => NativeError::schema(),
            });
    }
    if components.schemas.contains_key("NativeError") {
        components
            .schemas
            .entry("NativeErrorBody".to_string())
            .or_insert_with(NativeErrorBody::schema);
    }
}

/// The stack's responses: status, name (after the family prefix),
/// description, and whether only operations that take a body can give it.
const STACK: [(&str, &str, &str, bool); 5] = [
    ("429", "TooManyRequests", "Too many requests: the IP's or the user's request weight, or the order rate, is over its limit (`/api/v3`: -1003 or -1015). `Retry-After` says when to come back.", false),
    ("418", "IpBanned", "The IP kept sending requests after 429 and is refused until the ban ends (`/api/v3`: -1003). `Retry-After` says when.", false),
    ("413", "PayloadTooLarge", "The request body is over the server's limit.", true),
    ("503", "Unavailable", "Overloaded (`/api/v3`: -1008), timed out (-1007), or the service behind the gateway is down (-1008, `service_unavailable`); try again later.", false),
    ("500", "Internal", "An error on the server's side (`/api/v3`: -1000, `/api/v1`: `internal`); the detail is only in the server's log.", false),
];

/// Points every operation at the stack responses it lacks; returns the
/// (family, status, name) of every response referred to.
fn refer_stack_responses(
    doc: &mut OpenApi,
) -> std::collections::BTreeSet<(&'static str, &'static str, String)> {
    use utoipa::openapi::{HttpMethod, Ref, RefOr};

    let mut used = std::collections::BTreeSet::new();
    for (path, item) in doc.paths.paths.iter_mut() {
        let family = if crate::ApiFamily::for_path(path) == crate::ApiFamily::Binance {
            "V3"
        } else {
            "V1"
        };
        for method in [
            HttpMethod::Get,
            HttpMethod::Post,
            HttpMethod::Put,
            HttpMethod::Delete,
            HttpMethod::Patch,
        ] {
            let op = match method {
                HttpMethod::Get => item.get.as_mut(),
                HttpMethod::Post => item.post.as_mut(),
                HttpMethod::Put => item.put.as_mut(),
                HttpMethod::Delete => item.delete.as_mut(),
                _ => item.patch.as_mut(),
            };
            let Some(op) = op else { continue };
            let takes_body = !matches!(method, HttpMethod::Get);
            for (status, name, _, body_only) in STACK {
                if body_only && !takes_body {
                    continue;
                }
                let name = format!("{family}{name}");
                op.responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| RefOr::Ref(Ref::from_response_name(&name)));
                used.insert((family, status, name));
            }
        }
    }
    used
}

/// The shared response of `status`, its body a `schema`; 429 and 418 with
/// `Retry-After`.
fn stack_response(status: &str, schema: &str) -> utoipa::openapi::Response {
    use utoipa::openapi::Ref;

    let (_, _, description, _) = STACK.iter().find(|s| s.0 == status).expect("listed");
    let mut response = utoipa::openapi::ResponseBuilder::new()
        .description(*description)
        .content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .build(),
        );
    if matches!(status, "429" | "418") {
        response = response.header(
            "Retry-After",
            utoipa::openapi::HeaderBuilder::new()
                .schema(
                    utoipa::openapi::ObjectBuilder::new()
                        .schema_type(utoipa::openapi::Type::Integer),
                )
                .description(Some("Seconds to wait before trying again."))
                .build(),
        );
    }
    response.build()
}
