//! The FlowEx auth service: accounts, sessions, two-factor authentication,
//! API keys and the audit log, under `/api/v1/auth/*`, `/api/v1/account/*`
//! and `/api/v1/admin/audit`, plus the gateway's API-key lookup.
//!
//! It puts together the primitives of [`flowex_auth`] (Argon2id, Ed25519
//! JWTs, opaque refresh tokens, TOTP, sealed secrets) with the storage of
//! [`flowex_store`] and the HTTP layer of [`flowex_http`].
//!
//! # Using it
//!
//! ```ignore
//! let state = AuthState::new(store, jwt_keys, secret_box, AuthConfig::from(&config))?;
//! // One process (`flowex up`): the gateway authenticates, inserts an
//! // `Identity` extension, and merges these routers.
//! let app = router(state.clone());
//! let api_keys: KeyRecord = lookup_api_key(&state, key).await?.unwrap();
//! // Own process (`flowex serve auth`): behind the internal channel.
//! serve(config).await?;
//! ```
//!
//! [`router`] holds the public routes with their full paths; protected ones
//! read the [`flowex_http::Identity`] request extension, which the gateway
//! sets (in one process) or [`flowex_http::internal_channel`] sets from
//! the gateway's header (between processes). [`bearer::bearer_identity`]
//! turns a Bearer access token into that extension (tests use it; the
//! gateway may). [`internal_router`] holds `GET /internal/api-keys/{key}` and `GET /internal/sessions/{id}`.
//!
//! # Flows
//!
//! **Register** `POST /api/v1/auth/register {email, password}` → 201
//! `{"user":{…}}`. The e-mail is checked ([`account::valid_email`]) and
//! stored lower-cased; the password must pass [`flowex_auth::check_policy`]
//! (10–128 characters, not the e-mail, not a common password) and is stored
//! as an Argon2id hash, computed on a blocking thread with at most
//! [`AuthConfig::hash_concurrency`] hashes at once.
//!
//! **Login** `POST /api/v1/auth/login {email, password, totp_code?,
//! backup_code?}` → `{"access_token","token_type":"Bearer","expires_in",
//! "refresh_token","user"}`. In order: refused with 429 while the account
//! or the client IP is cooling off (see *Brute force*); the password is
//! verified (an unknown e-mail costs the same time, through
//! `verify_dummy`, and gets the same 401 `invalid_credentials`); with 2FA
//! on, a TOTP code (±1 step of 30 s, never the same step twice) or an
//! unused backup code is needed (no code: 401 `totp_required`; a wrong,
//! replayed or used one: 401 `invalid_totp`, counted as a failure); a
//! frozen account gets 403. Success clears the account's failure count,
//! starts a session (a refresh-token family) and issues an EdDSA access
//! token (`sub` = user id, `sid` = session id, `role`) and an opaque
//! refresh token (stored as its SHA-256 only).
//!
//! **Refresh** `POST /api/v1/auth/refresh {refresh_token}` → the same shape
//! as login, with a new refresh token: each one is single-use. Presenting a
//! rotated token again means two parties hold it, so the whole session is
//! revoked and the answer is 401 `token_reused` (RFC 9700 §4.14.2). A
//! session lives [`AuthConfig::refresh_ttl`] from login; rotation does not
//! extend it.
//!
//! **Logout** `POST /api/v1/auth/logout` → 204 revokes the current session.
//! **Password** `POST /api/v1/auth/password {current_password,
//! new_password}` → 204, revokes every other session; a wrong current
//! password is 403 `wrong_password` and counts toward the lockout.
//! **Me** `GET /api/v1/auth/me` → `{id, email, role, totp_enabled,
//! created_at}`. **Sessions** `GET /api/v1/account/sessions` →
//! `{"sessions":[{id, created_at, last_used_at, expires_at, ip,
//! user_agent, current}]}`; `DELETE /api/v1/account/sessions/{id}` → 204.
//! **Activity** `GET /api/v1/account/activity?limit&before` →
//! `{"activity":[{id, at, action, result, ip, user_agent}]}`: the caller's
//! own audit rows, newest first (limit 1–100, default 20; `before` pages
//! by time). The user id comes from the session, never the request.
//!
//! Protected routes need a live *login session*: an API-key identity gets
//! 403 `session_required`, and an access token whose session was logged
//! out or revoked gets 401 `session_revoked`. The gateway refuses such a
//! token on every route the same way: at once in one process, within the
//! session cache's 5 s in distributed mode (see [`flowex_http::session`]).
//!
//! **2FA** `POST /api/v1/account/2fa/enroll {code?}` → `{secret,
//! otpauth_uri, qr_svg}` stores a *pending* secret; `POST …/2fa/confirm
//! {code}` with a code of that secret turns 2FA on (or swaps in the new
//! secret) and returns `{"totp_enabled":true,"backup_codes":[10 codes]}`,
//! shown once, stored hashed; `POST …/2fa/disable {code}` →
//! `{"totp_enabled":false}`. While 2FA is on, enrolling again needs the
//! current code, and the old secret stays active until the new one is
//! confirmed (see [`twofa`] for the storage).
//!
//! **API keys** `POST /api/v1/account/api-keys {label, permissions?,
//! ip_allow?, totp_code?}` → 201 `{id, api_key, secret, label,
//! permissions, ip_allow, created_at, last_used_at}`: the secret appears in
//! this response only and is stored sealed with AES-256-GCM. Permissions
//! default to `["READ","TRADE"]`; `WITHDRAW` only when asked. With 2FA on,
//! `totp_code` is required. `GET` lists keys without secrets
//! (`{"api_keys":[…]}`); `DELETE …/{id}` deletes one of the caller's keys
//! (anyone else's id: 404).
//!
//! **Admin** `GET /api/v1/admin/audit?user_id&action&result&from&to&limit`
//! → `{"entries":[{id, at, user_id, actor_ip, user_agent, action, target,
//! result, detail}]}` newest first, for the `admin` role only (in the token
//! and in the database); every call, refused or not, is audited.
//!
//! **Internal** `GET /internal/api-keys/{api_key}` → 200 [`KeyRecord`] or
//! 404 `api_key_not_found`; the same as [`lookup_api_key`].
//! `GET /internal/sessions/{id}` → 200 `{"user_id","live","role"}` or 404
//! `session_not_found`; the same as [`session_status`] (and
//! [`flowex_http::SessionDirectory`] on [`AuthState`] in one process): the
//! gateway asks it for every Bearer request.
//!
//! # Brute force
//!
//! Failed password and 2FA checks (login, password change, 2FA and API-key
//! codes) are counted per client address and account together, and per
//! client address. After [`LockoutPolicy::address_account_failures`] (5)
//! from one address at one account, or [`LockoutPolicy::ip_failures`] (20)
//! from one address, attempts from that address (at that account, or at
//! any) are refused with 429 `too_many_attempts` and `Retry-After` for
//! [`LockoutPolicy::cooldown`] (1 min) after the last failure, doubling
//! with each further failure up to [`LockoutPolicy::max_cooldown`] (1 h);
//! failures are remembered for [`LockoutPolicy::window`] (24 h). No lock is
//! per account alone, so nobody can lock a chosen user out: the owner logs
//! in from her own address, keeps her sessions (refresh is not a guess),
//! and on a cooled-off address (a shared NAT) gets in with a valid 2FA
//! code. Refused attempts are not counted and cost no hash. Success
//! forgets the address's failures at the account. Each attempt is charged
//! before its password or code is checked, so a burst of concurrent
//! guesses gets no more than the limit checked; an attempt that ends in
//! `totp_required`, `account_frozen` or `password_expired` keeps that
//! charge until the next success.
//!
//! # Password rotation
//!
//! Off by default. With `auth.password_max_age_days = N` (1–3650), a login
//! whose password was chosen N days ago or more (`users.password_changed_at`:
//! registration, a password change; not a rehash) is answered 403
//! `password_expired` right after the password check, before the second
//! factor (no 2FA code is used up). The client logs in again with the same
//! body plus `new_password`: it must pass the password policy and differ
//! from the expired one (400 `weak_password`); the rest of the login runs as
//! usual (2FA, frozen), and only when it succeeds is the new password set,
//! every other session of the account ended and `auth.password_change`
//! audited with reason `expired`. `new_password` on a password that has not
//! expired is 400 `invalid_parameter`. Sessions opened before the password
//! expired live on until their own end (`jwt.refresh_ttl_secs`). Binance has
//! no such rule; the shape follows the login's own 2FA step.
//!
//! # Audit log and secrecy
//!
//! Rows ([`audit::action`]) for registration, login success and failure
//! (with a reason), lockouts, logout, refresh-token reuse, password
//! changes, 2FA enrol/confirm/disable, API-key create/delete, session
//! revocation and every admin call, each with time, user, IP, user agent
//! and result. Passwords, tokens, TOTP secrets and codes, backup codes, API
//! secrets and API keys never reach a row or a log line: rows carry ids
//! (`user:7`, `api_key:3`, `session:12`) and reasons; request bodies hold
//! secrets in [`flowex_auth::Secret`] wrappers that print `[redacted]`.
//! The tests scan the audit table and captured logs for every secret used.
//! All responses carry `Cache-Control: no-store`.
//!
//! # Error codes (`{"error":{"code","message"}}`)
//!
//! | status | code | when |
//! |---|---|---|
//! | 400 | `invalid_json` | body is not JSON |
//! | 400 | `invalid_body` | missing, unknown or mistyped field |
//! | 400 | `invalid_email` | malformed e-mail address (register) |
//! | 400 | `weak_password` | password policy (message says which rule) |
//! | 400 | `invalid_label` | API-key label empty, > 64 characters or control characters |
//! | 400 | `invalid_permission` | not `READ`/`TRADE`/`WITHDRAW`, or an empty list |
//! | 400 | `invalid_ip_allow` | not an IP or CIDR block, or > 100 entries |
//! | 400 | `invalid_parameter` | bad admin query parameter |
//! | 401 | `unauthorized` | no identity on a protected route |
//! | 401 | `invalid_token` | Bearer token does not verify ([`bearer`]) |
//! | 401 | `invalid_credentials` | wrong e-mail or password (one message for both) |
//! | 401 | `totp_required` | 2FA is on and no code was sent |
//! | 401 | `invalid_totp` | wrong, malformed, replayed or used 2FA/backup code |
//! | 401 | `token_reused` | rotated refresh token presented again; session revoked |
//! | 401 | `invalid_refresh_token` | unknown refresh token |
//! | 401 | `refresh_token_expired` | the session's lifetime is over |
//! | 401 | `session_revoked` | the session was logged out or revoked |
//! | 403 | `forbidden` | admin route for a non-admin |
//! | 403 | `wrong_password` | wrong current password (password change) |
//! | 403 | `session_required` | account management with an API key |
//! | 403 | `account_frozen` | frozen account (login, refresh, key creation) |
//! | 403 | `password_expired` | login with a password older than `auth.password_max_age_days` and no `new_password` |
//! | 404 | `session_not_found`, `api_key_not_found`, `not_found` | no such (own) session / key / route |
//! | 405 | `method_not_allowed` | wrong method |
//! | 409 | `email_taken` | e-mail already registered |
//! | 409 | `totp_not_enrolled` | confirm without a pending enrolment |
//! | 409 | `totp_not_enabled` | disable while 2FA is off |
//! | 409 | `too_many_api_keys` | more than [`AuthConfig::max_api_keys_per_user`] |
//! | 413 | `payload_too_large` | body over the stack's limit |
//! | 415 | `unsupported_media_type` | body without `Content-Type: application/json` |
//! | 429 | `too_many_attempts` | cooling off after failures; `Retry-After` in seconds |
//! | 500 | `internal` | our fault; detail only in the log |
//! | 503 | `service_unavailable` | database busy or unreachable |

#![warn(missing_docs)]

pub mod account;
mod activity;
mod admin;
mod api_keys;
pub mod audit;
pub mod bearer;
mod config;
mod edge;
mod error;
pub mod extract;
pub mod invalidation;
mod lockout;
mod serve;
mod state;
pub mod twofa;

pub use api_keys::{
    issue_api_key, lookup_api_key, replace_labelled_key, KeyRecord, MAX_LABEL_CHARS,
};
pub use config::{AuthConfig, InvalidAuthConfig, LockoutPolicy};
pub use edge::session_status;
pub use serve::{serve, service_router};
pub use state::AuthState;

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::{from_fn, Next};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;

/// The public routes (full paths). Protected ones need an
/// [`flowex_http::Identity`] extension on the request.
pub fn router(state: AuthState) -> Router {
    Router::new()
        .route("/api/v1/auth/register", post(account::register))
        .route("/api/v1/auth/login", post(account::login))
        .route("/api/v1/auth/refresh", post(account::refresh))
        .route("/api/v1/auth/logout", post(account::logout))
        .route("/api/v1/auth/password", post(account::change_password))
        .route("/api/v1/auth/me", get(account::me))
        .route("/api/v1/account/sessions", get(account::list_sessions))
        .route(
            "/api/v1/account/sessions/{id}",
            delete(account::revoke_session),
        )
        .route("/api/v1/account/activity", get(activity::list))
        .route("/api/v1/account/2fa/enroll", post(twofa::enroll))
        .route("/api/v1/account/2fa/confirm", post(twofa::confirm))
        .route("/api/v1/account/2fa/disable", post(twofa::disable))
        .route(
            "/api/v1/account/api-keys",
            post(api_keys::create).get(api_keys::list),
        )
        .route("/api/v1/account/api-keys/{id}", delete(api_keys::delete))
        .route("/api/v1/admin/audit", get(admin::audit_log))
        .layer(from_fn(no_store))
        .with_state(state)
}

/// The OpenAPI document of [`router`]'s routes (not the internal ones),
/// with the security schemes they refer to; `flowex openapi` merges it
/// with the other services'.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use flowex_http::openapi::SecuritySchemes;
    use utoipa::OpenApi as _;

    #[derive(utoipa::OpenApi)]
    #[openapi(
        paths(
            account::register,
            account::login,
            account::refresh,
            account::logout,
            account::change_password,
            account::me,
            account::list_sessions,
            account::revoke_session,
            activity::list,
            twofa::enroll,
            twofa::confirm,
            twofa::disable,
            api_keys::create,
            api_keys::list,
            api_keys::delete,
            admin::audit_log,
        ),
        tags(
            (name = "auth", description = "Accounts, sessions, two-factor authentication and API keys (`/api/v1/auth/*`, `/api/v1/account/*`). Every response carries `Cache-Control: no-store`."),
            (name = "admin", description = "Administration (`/api/v1/admin/*`): Bearer token of a user with the `admin` role; anyone else gets 403 `forbidden`."),
        ),
        modifiers(&SecuritySchemes),
    )]
    struct Doc;

    Doc::openapi()
}

/// `GET /internal/api-keys/{api_key}` and `GET /internal/sessions/{id}`
/// for the gateway. Mount them only behind
/// [`flowex_http::internal_channel`] (as [`serve`] does) or not at all in
/// one process (call [`lookup_api_key`] instead): it returns secrets.
pub fn internal_router(state: AuthState) -> Router {
    Router::new()
        .route(
            "/internal/api-keys/{api_key}",
            get(api_keys::internal_lookup),
        )
        .route("/internal/sessions/{id}", get(edge::internal_session))
        .layer(from_fn(no_store))
        .with_state(state)
}

/// Loads the process's secrets from `config` (generating them on first
/// start in embedded mode, with a fresh Ed25519 key for the JWTs).
pub fn load_secrets(config: &flowex_config::Config) -> anyhow::Result<flowex_config::Secrets> {
    Ok(config.load_secrets(generate_jwt_key_pem)?)
}

/// A new Ed25519 private key as PKCS#8 PEM bytes (for
/// [`flowex_config::Config::load_secrets`]).
pub fn generate_jwt_key_pem() -> Vec<u8> {
    flowex_auth::JwtKeys::generate()
        .map(|(_, pem)| pem.expose().as_bytes().to_vec())
        .expect("generating an Ed25519 key")
}

/// Responses of this service carry tokens, secrets and personal data:
/// never cache them (RFC 6749 §5.1).
async fn no_store(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
