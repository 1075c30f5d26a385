//! The auth service over real HTTP, on SQLite and on PostgreSQL: every
//! flow and failure path, with exact statuses and error codes.

mod common;

use common::{tokens, Tokens, H, INTERNAL_TOKEN};
use flowex_auth::jwt::AccessGrant;
use flowex_auth::totp::TotpSecret;
use flowex_auth::{JwtError, JwtKeys, Role};
use flowex_store::{AuditOutcome, AuditQuery};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const PW: &str = "correct horse battery";
const PW2: &str = "another long passphrase";

/// `auth.password_max_age_days` (90 in the tests' configuration): a login
/// whose password is older must set a new one with `new_password`; the
/// refusal comes before the second factor, so its 2FA code still opens
/// the renewing login; the old password then fails, the new one works,
/// other sessions end, and the change is audited with reason `expired`.
async fn expired_password_must_be_renewed(h: H) {
    let max = h
        .state
        .config()
        .password_max_age
        .expect("on in test_config");
    let email = "pat@example.com";
    let id = h.register(email, PW).await;
    let early = h.login(email, PW).await;
    let (secret, _) = enable_totp(&h, &early).await;
    // The password was chosen 90 days and a minute ago.
    let user = h.store.user_by_id(id).await.unwrap().unwrap();
    let chosen = h.clock.now_ms() - max.as_millis() as i64 - 60_000;
    h.store
        .set_password(id, &user.password_hash, chosen)
        .await
        .unwrap();
    let code = secret.code_at(h.clock.now_secs() + 30);
    let r = h
        .login_with(json!({ "email": email, "password": PW, "totp_code": code }))
        .await;
    r.expect_error(403, "password_expired");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("90 days"));
    let denied = audit_rows(&h, "auth.login").await;
    assert!(denied.iter().any(|e| e.result == AuditOutcome::Denied
        && e.detail
            .as_deref()
            .unwrap_or_default()
            .contains("password_expired")));
    // A wrong password is still only that.
    h.login_with(
        json!({ "email": email, "password": PW2, "new_password": "a fresh passphrase 7" }),
    )
    .await
    .expect_error(401, "invalid_credentials");
    let renew = |new: &str| json!({ "email": email, "password": PW, "totp_code": code, "new_password": new });
    h.login_with(renew(PW))
        .await
        .expect_error(400, "weak_password");
    let fresh = "a fresh passphrase 7";
    let t = tokens(&h.login_with(renew(fresh)).await);
    h.get_auth("/api/v1/auth/me", &t.access).await.expect(200);
    h.get_auth("/api/v1/auth/me", &early.access)
        .await
        .expect_error(401, "session_revoked");
    let later = secret.code_at(h.clock.now_secs() + 30);
    h.clock.advance(Duration::from_secs(30));
    h.login_with(json!({ "email": email, "password": PW, "totp_code": later }))
        .await
        .expect_error(401, "invalid_credentials");
    // A password that has not expired is changed with POST /api/v1/auth/password.
    let next = secret.code_at(h.clock.now_secs() + 30);
    h.login_with(
        json!({ "email": email, "password": fresh, "totp_code": next, "new_password": PW2 }),
    )
    .await
    .expect_error(400, "invalid_parameter");
    let changes = audit_rows(&h, "auth.password_change").await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(changes[0]
        .detail
        .as_deref()
        .unwrap()
        .contains("\"reason\":\"expired\""));
    let now = h.store.user_by_id(id).await.unwrap().unwrap();
    assert_eq!(now.password_changed_at, h.clock.now_ms() - 30_000);
}

both_backends!(
    register_validation,
    login_and_me,
    an_attacker_cannot_lock_out_a_chosen_user,
    guessing_backs_off_exponentially,
    ip_lockout,
    two_factor_opens_a_cooled_off_address,
    concurrent_guesses_stay_within_the_limit,
    totp_enrolment_and_login,
    totp_reenrol_and_disable,
    refresh_rotation_and_reuse,
    refresh_expiry,
    bad_access_tokens,
    logout_ends_the_session,
    password_change_revokes_other_sessions,
    sessions_list_and_revoke,
    activity_is_the_callers_own,
    session_limit_ends_the_oldest_session,
    api_keys_lifecycle,
    api_keys_need_totp_when_enabled,
    internal_channel_and_lookup,
    internal_session_status,
    admin_audit,
    frozen_account,
    audit_and_logs_hold_no_secrets,
    expired_password_must_be_renewed,
);

fn login_body(email: &str, password: &str) -> Value {
    json!({ "email": email, "password": password })
}

async fn audit_rows(h: &H, action: &str) -> Vec<flowex_store::AuditEntry> {
    h.store
        .query_audit(&AuditQuery {
            action: Some(action.into()),
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
}

/// Enrols and confirms 2FA; returns the secret and the backup codes.
async fn enable_totp(h: &H, t: &Tokens) -> (TotpSecret, Vec<String>) {
    let r = h
        .post_auth("/api/v1/account/2fa/enroll", &t.access, json!({}))
        .await;
    let v = r.expect(200);
    let secret = TotpSecret::from_base32(v["secret"].as_str().unwrap()).unwrap();
    let code = secret.code_at(h.clock.now_secs());
    let r = h
        .post_auth(
            "/api/v1/account/2fa/confirm",
            &t.access,
            json!({ "code": code }),
        )
        .await;
    let v = r.expect(200);
    let codes = v["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    (secret, codes)
}

// ------------------------------------------------------------------ register

async fn register_validation(h: H) {
    let reg = |body: Value| h.post("/api/v1/auth/register", body);

    let r = reg(json!({ "email": "a@example.com", "password": "short" })).await;
    r.expect_error(400, "weak_password");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("at least 10"));
    reg(json!({ "email": "a@example.com", "password": "Password1234" }))
        .await
        .expect_error(400, "weak_password");
    reg(json!({ "email": "longname@example.com", "password": "LongName@Example.com" }))
        .await
        .expect_error(400, "weak_password");
    reg(json!({ "email": "longname1@example.com", "password": "longname1" }))
        .await
        .expect_error(400, "weak_password");
    for bad in ["not-an-email", "a@b", "a b@c.de", ""] {
        reg(json!({ "email": bad, "password": PW }))
            .await
            .expect_error(400, "invalid_email");
    }
    let long = format!("{}@example.com", "a".repeat(243));
    assert_eq!(long.len(), 255);
    reg(json!({ "email": long, "password": PW }))
        .await
        .expect_error(400, "invalid_email");

    let r = reg(json!({ "email": "Alice@Example.com", "password": PW })).await;
    let v = r.expect(201);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let user = &v["user"];
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["role"], "user");
    assert_eq!(user["totp_enabled"], false);
    assert_eq!(user["created_at"].as_i64(), Some(h.clock.now_ms()));
    assert!(user["id"].as_u64().unwrap() >= 1);
    assert_eq!(
        user.as_object().unwrap().len(),
        5,
        "exactly id, email, role, totp_enabled, created_at: {user}"
    );
    assert!(!r.text.contains("argon2"), "no hash in the response");

    reg(json!({ "email": "ALICE@example.COM", "password": PW2 }))
        .await
        .expect_error(409, "email_taken");

    // Body shape errors.
    let post_raw = |ct: Option<&'static str>, body: String| {
        h.req(Method::POST, "/api/v1/auth/register")
            .raw(ct, body)
            .send()
    };
    post_raw(
        Some("application/json"),
        r#"{"email":"b@example.com","#.into(),
    )
    .await
    .expect_error(400, "invalid_json");
    post_raw(
        Some("application/json"),
        r#"{"email":"b@example.com"}"#.into(),
    )
    .await
    .expect_error(400, "invalid_body");
    post_raw(
        Some("application/json"),
        r#"{"email":"b@example.com","password":"x","admin":true}"#.into(),
    )
    .await
    .expect_error(400, "invalid_body");
    post_raw(
        Some("application/json"),
        r#"{"email":"b@example.com","password":12345678901}"#.into(),
    )
    .await
    .expect_error(400, "invalid_body");
    post_raw(
        None,
        format!(r#"{{"email":"b@example.com","password":"{PW}"}}"#),
    )
    .await
    .expect_error(415, "unsupported_media_type");
    post_raw(
        Some("application/x-www-form-urlencoded"),
        format!("email=b%40example.com&password={PW}"),
    )
    .await
    .expect_error(415, "unsupported_media_type");
    let huge = format!(
        r#"{{"email":"b@example.com","password":"{}"}}"#,
        "x".repeat(common::BODY_LIMIT * 2)
    );
    post_raw(Some("application/json"), huge)
        .await
        .expect_error(413, "payload_too_large");
    h.req(Method::GET, "/api/v1/auth/register")
        .send()
        .await
        .expect_error(405, "method_not_allowed");

    let rows = audit_rows(&h, "auth.register").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].result, AuditOutcome::Ok);
}

// ------------------------------------------------------------------ login

async fn login_and_me(h: H) {
    let uid = h.register("bob@example.com", PW).await;
    let r = h
        .req(Method::POST, "/api/v1/auth/login")
        .header("user-agent", "flowex-test/1.0")
        .json(&login_body("BOB@example.com", PW))
        .send()
        .await;
    let v = r.expect(200);
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 900);
    assert!(v["refresh_token"].as_str().unwrap().starts_with("rt_"));
    assert_eq!(v["user"]["id"].as_u64(), Some(uid));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let t = tokens(&r);

    let claims = h.state.verifier().verify(&t.access).unwrap();
    assert_eq!(claims.sub, uid.to_string());
    assert_eq!(claims.role, Role::User);
    assert_eq!(claims.iss, "flowex-test");
    assert_eq!(claims.aud, "flowex-api-test");
    assert_eq!(claims.exp - claims.iat, 900);

    let me = h.get_auth("/api/v1/auth/me", &t.access).await.expect(200);
    assert_eq!(me["email"], "bob@example.com");
    assert_eq!(me["id"].as_u64(), Some(uid));
    h.req(Method::GET, "/api/v1/auth/me")
        .send()
        .await
        .expect_error(401, "unauthorized");

    let wrong = h.login_with(login_body("bob@example.com", PW2)).await;
    wrong.expect_error(401, "invalid_credentials");
    let unknown = h.login_with(login_body("nobody@example.com", PW)).await;
    unknown.expect_error(401, "invalid_credentials");
    assert_eq!(wrong.json(), unknown.json(), "one answer for both");
    h.login_with(login_body("not an email", PW))
        .await
        .expect_error(401, "invalid_credentials");
    h.login_with(json!({ "email": "bob@example.com" }))
        .await
        .expect_error(400, "invalid_body");

    let ok = audit_rows(&h, "auth.login").await;
    let reasons: Vec<String> = ok
        .iter()
        .map(|e| format!("{:?}:{}", e.result, e.detail.clone().unwrap_or_default()))
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("wrong_password")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("unknown_account")),
        "{reasons:?}"
    );
    let success = ok.iter().find(|e| e.result == AuditOutcome::Ok).unwrap();
    assert_eq!(success.user_id, Some(uid));
    assert_eq!(success.actor_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(success.user_agent.as_deref(), Some("flowex-test/1.0"));
}

async fn login_from(h: &H, ip: &str, body: &Value) -> common::Reply {
    h.req(Method::POST, "/api/v1/auth/login")
        .ip(ip)
        .json(body)
        .send()
        .await
}

/// The weapon the old lockout was: anyone could lock a chosen account
/// from every address with five wrong passwords. Now the attacker's
/// address is cooled off for that account and the owner is not.
async fn an_attacker_cannot_lock_out_a_chosen_user(h: H) {
    h.register("carol@example.com", PW).await;
    let attacker = "198.51.100.7";
    let guess = login_body("carol@example.com", "wrong password!");
    for _ in 0..5 {
        login_from(&h, attacker, &guess)
            .await
            .expect_error(401, "invalid_credentials");
    }
    login_from(&h, attacker, &guess)
        .await
        .expect_error(429, "too_many_attempts");
    // Even the right password is refused from the attacker's address...
    login_from(&h, attacker, &login_body("carol@example.com", PW))
        .await
        .expect_error(429, "too_many_attempts");
    // ... while the owner, from her own address, logs in.
    let owner = tokens(&login_from(&h, "203.0.113.9", &login_body("carol@example.com", PW)).await);
    // A session she already had keeps working (refresh is not a guess).
    h.post(
        "/api/v1/auth/refresh",
        json!({ "refresh_token": owner.refresh }),
    )
    .await
    .expect(200);
    let lockouts = audit_rows(&h, "auth.lockout").await;
    assert_eq!(lockouts.len(), 1, "{lockouts:?}");
    assert!(lockouts[0]
        .detail
        .as_deref()
        .unwrap()
        .contains("address_account"));
    assert_eq!(lockouts[0].actor_ip.as_deref(), Some(attacker));
}

/// Guessing stays throttled: each failure past the limit doubles the wait
/// (1 min, 2 min, 4 min...), refused attempts do not extend it, and a
/// success from the address forgets its failures for the account.
async fn guessing_backs_off_exponentially(h: H) {
    h.register("dora@example.com", PW).await;
    let ip = "198.51.100.20";
    let guess = login_body("dora@example.com", "wrong password!");
    for _ in 0..5 {
        login_from(&h, ip, &guess)
            .await
            .expect_error(401, "invalid_credentials");
    }
    let r = login_from(&h, ip, &guess).await;
    r.expect_error(429, "too_many_attempts");
    assert_eq!(r.header("retry-after"), Some("60"));
    h.clock.advance(Duration::from_secs(30));
    let r = login_from(&h, ip, &guess).await;
    r.expect_error(429, "too_many_attempts");
    assert_eq!(
        r.header("retry-after"),
        Some("30"),
        "refusals do not extend it"
    );
    for expected in ["120", "240", "480"] {
        h.clock.advance(Duration::from_secs(3600));
        // Past the wait one more guess is checked, and the next wait doubles.
        login_from(&h, ip, &guess)
            .await
            .expect_error(401, "invalid_credentials");
        let r = login_from(&h, ip, &guess).await;
        r.expect_error(429, "too_many_attempts");
        assert_eq!(r.header("retry-after"), Some(expected));
    }
    h.clock.advance(Duration::from_secs(3600));
    tokens(&login_from(&h, ip, &login_body("dora@example.com", PW)).await);
    // Forgotten: four fresh mistakes are all checked.
    for _ in 0..4 {
        login_from(&h, ip, &guess)
            .await
            .expect_error(401, "invalid_credentials");
    }
}

async fn ip_lockout(h: H) {
    h.register("dave@example.com", PW).await;
    let attacker = "198.51.100.7";
    // 20 failures from one address, spread over accounts (4 each: no pair
    // reaches its own limit).
    for i in 0..20 {
        let email = format!("victim{}@example.com", i / 4);
        login_from(&h, attacker, &login_body(&email, PW))
            .await
            .expect_error(401, "invalid_credentials");
    }
    let r = login_from(&h, attacker, &login_body("dave@example.com", PW)).await;
    r.expect_error(429, "too_many_attempts");
    assert_eq!(r.header("retry-after"), Some("60"));
    // Another address is not affected.
    tokens(&login_from(&h, "198.51.100.8", &login_body("dave@example.com", PW)).await);
    h.clock.advance(Duration::from_secs(61));
    tokens(&login_from(&h, attacker, &login_body("dave@example.com", PW)).await);
    let lockouts = audit_rows(&h, "auth.lockout").await;
    assert!(lockouts
        .iter()
        .any(|e| e.detail.as_deref().unwrap().contains("\"ip\"")
            && e.actor_ip.as_deref() == Some(attacker)));
}

/// Behind the attacker's own address (a shared NAT), the owner of an
/// account with 2FA still gets in: a valid code opens the cooled-off
/// address for her; a wrong one does not.
async fn two_factor_opens_a_cooled_off_address(h: H) {
    let email = "nora@example.com";
    h.register(email, PW).await;
    let t = h.login(email, PW).await;
    let (secret, _) = enable_totp(&h, &t).await;
    h.clock.advance(Duration::from_secs(60));
    let shared = "198.51.100.30";
    for _ in 0..5 {
        login_from(&h, shared, &login_body(email, "wrong password!"))
            .await
            .expect_error(401, "invalid_credentials");
    }
    let code = secret.code_at(h.clock.now_secs());
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = login_from(
        &h,
        shared,
        &json!({ "email": email, "password": PW, "totp_code": wrong }),
    )
    .await;
    r.expect_error(429, "too_many_attempts");
    login_from(&h, shared, &login_body(email, PW))
        .await
        .expect_error(429, "too_many_attempts");
    let r = login_from(
        &h,
        shared,
        &json!({ "email": email, "password": PW, "totp_code": code }),
    )
    .await;
    tokens(&r);
}

async fn concurrent_guesses_stay_within_the_limit(h: H) {
    h.register("uma@example.com", PW).await;
    let guesses = (0..16).map(|i| {
        h.login_with(login_body(
            "uma@example.com",
            &format!("guess number {i:02}"),
        ))
    });
    let replies = futures_join_all(guesses).await;
    let mut statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    statuses.sort();
    let wrong = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(wrong + refused, 16, "{statuses:?}");
    assert!(wrong <= 5, "at most 5 guesses checked: {statuses:?}");
    h.login_with(login_body("uma@example.com", PW))
        .await
        .expect_error(429, "too_many_attempts");
}

/// Polls every future to completion concurrently (no extra dependency).
async fn futures_join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<_> = futs.map(Box::pin).enumerate().collect();
    let mut done: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        pending.retain_mut(|(i, f)| match f.as_mut().poll(cx) {
            std::task::Poll::Ready(v) => {
                done[*i] = Some(v);
                false
            }
            std::task::Poll::Pending => true,
        });
        if pending.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    done.into_iter().map(Option::unwrap).collect()
}

// ------------------------------------------------------------------ 2FA

async fn totp_enrolment_and_login(h: H) {
    let email = "erin@example.com";
    h.register(email, PW).await;
    let t = h.login(email, PW).await;

    h.post_auth(
        "/api/v1/account/2fa/confirm",
        &t.access,
        json!({ "code": "123456" }),
    )
    .await
    .expect_error(409, "totp_not_enrolled");
    h.post_auth(
        "/api/v1/account/2fa/disable",
        &t.access,
        json!({ "code": "123456" }),
    )
    .await
    .expect_error(409, "totp_not_enabled");

    // Enrol with an empty body (no JSON at all) too.
    let r = h
        .req(Method::POST, "/api/v1/account/2fa/enroll")
        .bearer(&t.access)
        .send()
        .await;
    let v = r.expect(200);
    let secret = TotpSecret::from_base32(v["secret"].as_str().unwrap()).unwrap();
    let uri = v["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/FlowEx:erin%40example.com?")
            || uri.starts_with("otpauth://totp/FlowEx:erin@example.com?"),
        "{uri}"
    );
    assert!(uri.contains(v["secret"].as_str().unwrap()));
    assert!(v["qr_svg"].as_str().unwrap().contains("<svg"));
    // Pending only: login still needs no code.
    h.login(email, PW).await;

    let t0 = h.clock.now_secs();
    let wrong = if secret.code_at(t0) == "000000" {
        "111111"
    } else {
        "000000"
    };
    h.post_auth(
        "/api/v1/account/2fa/confirm",
        &t.access,
        json!({ "code": wrong }),
    )
    .await
    .expect_error(401, "invalid_totp");
    h.post_auth(
        "/api/v1/account/2fa/confirm",
        &t.access,
        json!({ "code": "12ab" }),
    )
    .await
    .expect_error(401, "invalid_totp");
    let v = h
        .post_auth(
            "/api/v1/account/2fa/confirm",
            &t.access,
            json!({ "code": secret.code_at(t0) }),
        )
        .await
        .expect(200);
    assert_eq!(v["totp_enabled"], true);
    let backup: Vec<String> = v["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(backup.len(), 10);
    let me = h.get_auth("/api/v1/auth/me", &t.access).await.expect(200);
    assert_eq!(me["totp_enabled"], true);

    // Login now needs a code.
    h.login_with(login_body(email, PW))
        .await
        .expect_error(401, "totp_required");
    // The wrong password still says invalid_credentials, not totp_required.
    h.login_with(json!({ "email": email, "password": PW2, "totp_code": secret.code_at(t0) }))
        .await
        .expect_error(401, "invalid_credentials");
    let with_code =
        |code: String| h.login_with(json!({ "email": email, "password": PW, "totp_code": code }));
    // The confirmation's code (same step) is not accepted again.
    with_code(secret.code_at(t0))
        .await
        .expect_error(401, "invalid_totp");

    // Two steps later: the previous step's code (-1) is accepted once.
    h.clock.advance(Duration::from_secs(60));
    let now = h.clock.now_secs();
    tokens(&with_code(secret.code_at(now - 30)).await);
    let r = with_code(secret.code_at(now - 30)).await;
    r.expect_error(401, "invalid_totp");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("already used"));
    // The next step's code (+1) is accepted; then the current one, older, is not.
    tokens(&with_code(secret.code_at(now + 30)).await);
    with_code(secret.code_at(now))
        .await
        .expect_error(401, "invalid_totp");
    with_code(wrong.to_string())
        .await
        .expect_error(401, "invalid_totp");
    // Two steps ahead is outside the window.
    with_code(secret.code_at(now + 90))
        .await
        .expect_error(401, "invalid_totp");

    // Backup codes: each works once, typed in any case.
    let backup_login =
        |code: String| h.login_with(json!({ "email": email, "password": PW, "backup_code": code }));
    tokens(&backup_login(backup[0].clone()).await);
    backup_login(backup[0].clone())
        .await
        .expect_error(401, "invalid_totp");
    tokens(&backup_login(backup[1].to_uppercase()).await);
    backup_login("0000-0000-0000-0000".into())
        .await
        .expect_error(401, "invalid_totp");

    let rows = audit_rows(&h, "auth.totp_confirm").await;
    assert_eq!(
        rows.iter().filter(|e| e.result == AuditOutcome::Ok).count(),
        1
    );
    assert_eq!(
        rows.iter()
            .filter(|e| e.result == AuditOutcome::Denied)
            .count(),
        2
    );
    assert_eq!(audit_rows(&h, "auth.totp_enroll").await.len(), 1);
}

async fn totp_reenrol_and_disable(h: H) {
    let email = "frank@example.com";
    h.register(email, PW).await;
    let t = h.login(email, PW).await;
    let (old, _) = enable_totp(&h, &t).await;

    // Re-enrolling needs the current code.
    h.post_auth("/api/v1/account/2fa/enroll", &t.access, json!({}))
        .await
        .expect_error(401, "totp_required");
    h.clock.advance(Duration::from_secs(30));
    let v = h
        .post_auth(
            "/api/v1/account/2fa/enroll",
            &t.access,
            json!({ "code": old.code_at(h.clock.now_secs()) }),
        )
        .await
        .expect(200);
    let new = TotpSecret::from_base32(v["secret"].as_str().unwrap()).unwrap();

    // 2FA stays on with the old secret until the new one is confirmed.
    h.clock.advance(Duration::from_secs(30));
    tokens(
        &h.login_with(json!({ "email": email, "password": PW,
                              "totp_code": old.code_at(h.clock.now_secs()) }))
            .await,
    );
    let me = h.get_auth("/api/v1/auth/me", &t.access).await.expect(200);
    assert_eq!(me["totp_enabled"], true);

    h.clock.advance(Duration::from_secs(30));
    let v = h
        .post_auth(
            "/api/v1/account/2fa/confirm",
            &t.access,
            json!({ "code": new.code_at(h.clock.now_secs()) }),
        )
        .await
        .expect(200);
    assert_eq!(v["backup_codes"].as_array().unwrap().len(), 10);

    h.clock.advance(Duration::from_secs(30));
    let now = h.clock.now_secs();
    h.login_with(json!({ "email": email, "password": PW, "totp_code": old.code_at(now) }))
        .await
        .expect_error(401, "invalid_totp");
    tokens(
        &h.login_with(json!({ "email": email, "password": PW, "totp_code": new.code_at(now) }))
            .await,
    );

    // Disable: needs a right, fresh code.
    h.clock.advance(Duration::from_secs(30));
    let now = h.clock.now_secs();
    h.post_auth(
        "/api/v1/account/2fa/disable",
        &t.access,
        json!({ "code": old.code_at(now) }),
    )
    .await
    .expect_error(401, "invalid_totp");
    h.post_auth("/api/v1/account/2fa/disable", &t.access, json!({}))
        .await
        .expect_error(400, "invalid_body");
    let v = h
        .post_auth(
            "/api/v1/account/2fa/disable",
            &t.access,
            json!({ "code": new.code_at(now) }),
        )
        .await
        .expect(200);
    assert_eq!(v["totp_enabled"], false);
    h.login(email, PW).await;
    assert_eq!(audit_rows(&h, "auth.totp_disable").await.len(), 2);
}

// ------------------------------------------------------------------ refresh

async fn refresh_rotation_and_reuse(h: H) {
    h.register("gina@example.com", PW).await;
    let t1 = h.login("gina@example.com", PW).await;
    let refresh = |token: &str| h.post("/api/v1/auth/refresh", json!({ "refresh_token": token }));
    let r = refresh(&t1.refresh).await;
    let t2 = tokens(&r);
    assert_eq!(r.json()["token_type"], "Bearer");
    assert_ne!(t2.refresh, t1.refresh);
    assert_ne!(t2.access, t1.access);
    let c1 = h.state.verifier().verify(&t1.access).unwrap();
    let c2 = h.state.verifier().verify(&t2.access).unwrap();
    assert_eq!(c1.sid, c2.sid, "same session");
    h.get_auth("/api/v1/auth/me", &t2.access).await.expect(200);
    let t3 = tokens(&refresh(&t2.refresh).await);

    // t1's refresh token was rotated: presenting it again revokes the family.
    refresh(&t1.refresh).await.expect_error(401, "token_reused");
    refresh(&t3.refresh)
        .await
        .expect_error(401, "session_revoked");
    h.get_auth("/api/v1/auth/me", &t3.access)
        .await
        .expect_error(401, "session_revoked");
    let rows = audit_rows(&h, "auth.refresh_reuse").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].target.as_deref(),
        Some(format!("session:{}", c1.sid).as_str())
    );

    refresh("garbage")
        .await
        .expect_error(401, "invalid_refresh_token");
    refresh("rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .await
        .expect_error(401, "invalid_refresh_token");
    h.post("/api/v1/auth/refresh", json!({}))
        .await
        .expect_error(400, "invalid_body");
}

async fn refresh_expiry(h: H) {
    h.register("hank@example.com", PW).await;
    let t = h.login("hank@example.com", PW).await;
    // Rotation does not extend the session's life (2 h in the tests).
    h.clock.advance(Duration::from_secs(3600));
    let t = tokens(
        &h.post(
            "/api/v1/auth/refresh",
            json!({ "refresh_token": t.refresh }),
        )
        .await,
    );
    h.clock.advance(Duration::from_secs(3601));
    h.post(
        "/api/v1/auth/refresh",
        json!({ "refresh_token": t.refresh }),
    )
    .await
    .expect_error(401, "refresh_token_expired");
}

// ------------------------------------------------------------------ access tokens

fn b64(bytes: &[u8]) -> String {
    use std::fmt::Write;
    // base64url without padding, written out to avoid a test dependency.
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            let _ = out.write_char(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

async fn bad_access_tokens(h: H) {
    let uid = h.register("ivy@example.com", PW).await;
    let t = h.login("ivy@example.com", PW).await;
    let verifier = h.state.verifier();
    let claims = verifier.verify(&t.access).unwrap();
    let hr = &h;
    let me = |token: String| async move {
        let r = hr.get_auth("/api/v1/auth/me", &token).await;
        r.expect_error(401, "invalid_token");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer error=\"invalid_token\"")
        );
    };
    let uid_s = uid.to_string();
    let ours = AccessGrant {
        issuer: "flowex-test",
        audience: "flowex-api-test",
        user_id: &uid_s,
        role: Role::User,
        session_id: &claims.sid,
    };

    // Expired.
    let expired = h
        .state
        .jwt()
        .issue_access_at(&ours, Duration::from_secs(300), h.clock.now_secs() - 1200)
        .unwrap();
    assert_eq!(
        verifier.verify(expired.token.expose()),
        Err(JwtError::Expired)
    );
    me(expired.token.expose().clone()).await;

    // Tampered signature.
    let mut forged = t.access.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert!(verifier.verify(&forged).is_err());
    me(forged).await;

    // Tampered payload (role upgraded), original signature.
    let parts: Vec<&str> = t.access.split('.').collect();
    let mut payload: Value = serde_json::from_slice(&base64_decode(parts[1])).unwrap();
    payload["role"] = json!("admin");
    let elevated = format!(
        "{}.{}.{}",
        parts[0],
        b64(payload.to_string().as_bytes()),
        parts[2]
    );
    assert_eq!(verifier.verify(&elevated), Err(JwtError::BadSignature));
    me(elevated).await;

    // alg: none.
    let none = format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), parts[1]);
    assert!(verifier.verify(&none).is_err());
    me(none).await;

    // Wrong audience and wrong issuer, signed with the right key.
    let other_aud = h
        .state
        .jwt()
        .issue_access(
            &AccessGrant {
                audience: "someone-else",
                ..ours
            },
            Duration::from_secs(300),
        )
        .unwrap();
    assert_eq!(
        verifier.verify(other_aud.token.expose()),
        Err(JwtError::WrongAudience)
    );
    me(other_aud.token.expose().clone()).await;
    let other_iss = h
        .state
        .jwt()
        .issue_access(
            &AccessGrant {
                issuer: "evil",
                ..ours
            },
            Duration::from_secs(300),
        )
        .unwrap();
    assert_eq!(
        verifier.verify(other_iss.token.expose()),
        Err(JwtError::WrongIssuer)
    );
    me(other_iss.token.expose().clone()).await;

    // Signed by another key.
    let (stranger, _) = JwtKeys::generate().unwrap();
    let foreign = stranger
        .issue_access(&ours, Duration::from_secs(300))
        .unwrap();
    assert!(verifier.verify(foreign.token.expose()).is_err());
    me(foreign.token.expose().clone()).await;

    me("not-a-jwt".into()).await;
    // The genuine token still works.
    h.get_auth("/api/v1/auth/me", &t.access).await.expect(200);
}

fn base64_decode(s: &str) -> Vec<u8> {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let vals: Vec<u32> = s
        .bytes()
        .map(|c| A.iter().position(|a| *a == c).unwrap() as u32)
        .collect();
    let mut out = Vec::new();
    for chunk in vals.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, v)| n | (v << (18 - 6 * i)));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

// ------------------------------------------------------------------ sessions

async fn logout_ends_the_session(h: H) {
    h.register("jack@example.com", PW).await;
    let a = h.login("jack@example.com", PW).await;
    let b = h.login("jack@example.com", PW).await;
    let r = h
        .req(Method::POST, "/api/v1/auth/logout")
        .bearer(&a.access)
        .send()
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    h.post(
        "/api/v1/auth/refresh",
        json!({ "refresh_token": a.refresh }),
    )
    .await
    .expect_error(401, "session_revoked");
    h.get_auth("/api/v1/auth/me", &a.access)
        .await
        .expect_error(401, "session_revoked");
    // Idempotent.
    let r = h
        .req(Method::POST, "/api/v1/auth/logout")
        .bearer(&a.access)
        .send()
        .await;
    assert_eq!(r.status, 204);
    h.req(Method::POST, "/api/v1/auth/logout")
        .send()
        .await
        .expect_error(401, "unauthorized");
    // The other session is untouched.
    h.get_auth("/api/v1/auth/me", &b.access).await.expect(200);
    tokens(
        &h.post(
            "/api/v1/auth/refresh",
            json!({ "refresh_token": b.refresh }),
        )
        .await,
    );
    assert_eq!(audit_rows(&h, "auth.logout").await.len(), 1);
}

async fn password_change_revokes_other_sessions(h: H) {
    let email = "kate@example.com";
    h.register(email, PW).await;
    let a = h.login(email, PW).await;
    let b = h.login(email, PW).await;
    let change = |current: &str, new: &str| {
        h.post_auth(
            "/api/v1/auth/password",
            &a.access,
            json!({ "current_password": current, "new_password": new }),
        )
    };
    change(PW2, "a fine new password")
        .await
        .expect_error(403, "wrong_password");
    change(PW, "short").await.expect_error(400, "weak_password");
    change(PW, email).await.expect_error(400, "weak_password");
    let r = change(PW, PW2).await;
    assert_eq!(r.status, 204, "{}", r.text);

    h.post(
        "/api/v1/auth/refresh",
        json!({ "refresh_token": b.refresh }),
    )
    .await
    .expect_error(401, "session_revoked");
    h.get_auth("/api/v1/auth/me", &b.access)
        .await
        .expect_error(401, "session_revoked");
    h.get_auth("/api/v1/auth/me", &a.access).await.expect(200);
    tokens(
        &h.post(
            "/api/v1/auth/refresh",
            json!({ "refresh_token": a.refresh }),
        )
        .await,
    );
    h.login_with(login_body(email, PW))
        .await
        .expect_error(401, "invalid_credentials");
    h.login(email, PW2).await;
    let rows = audit_rows(&h, "auth.password_change").await;
    assert_eq!(
        rows.iter().filter(|e| e.result == AuditOutcome::Ok).count(),
        1
    );
    assert_eq!(
        rows.iter()
            .filter(|e| e.result == AuditOutcome::Denied)
            .count(),
        1
    );
}

async fn sessions_list_and_revoke(h: H) {
    h.register("liam@example.com", PW).await;
    h.register("mia@example.com", PW).await;
    let hr = &h;
    let login_ua = |ua: &'static str| async move {
        tokens(
            &hr.req(Method::POST, "/api/v1/auth/login")
                .header("user-agent", ua)
                .ip("192.0.2.44")
                .json(&login_body("liam@example.com", PW))
                .send()
                .await,
        )
    };
    let a = login_ua("phone").await;
    let b = login_ua("laptop").await;
    let other = h.login("mia@example.com", PW).await;

    let v = h
        .get_auth("/api/v1/account/sessions", &a.access)
        .await
        .expect(200);
    let list = v["sessions"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let mine = list.iter().find(|s| s["current"] == true).unwrap();
    assert_eq!(mine["user_agent"], "phone");
    assert_eq!(mine["ip"], "192.0.2.44");
    let theirs = list.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(theirs["user_agent"], "laptop");
    let b_id = theirs["id"].as_u64().unwrap();

    let other_sid = h.state.verifier().verify(&other.access).unwrap().sid;
    h.delete_auth(&format!("/api/v1/account/sessions/{other_sid}"), &a.access)
        .await
        .expect_error(404, "session_not_found");
    h.delete_auth("/api/v1/account/sessions/abc", &a.access)
        .await
        .expect_error(404, "session_not_found");
    h.delete_auth("/api/v1/account/sessions/18446744073709551615", &a.access)
        .await
        .expect_error(404, "session_not_found");
    let r = h
        .delete_auth(&format!("/api/v1/account/sessions/{b_id}"), &a.access)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    h.delete_auth(&format!("/api/v1/account/sessions/{b_id}"), &a.access)
        .await
        .expect_error(404, "session_not_found");
    h.get_auth("/api/v1/auth/me", &b.access)
        .await
        .expect_error(401, "session_revoked");
    h.get_auth("/api/v1/auth/me", &other.access)
        .await
        .expect(200);
    let v = h
        .get_auth("/api/v1/account/sessions", &a.access)
        .await
        .expect(200);
    assert_eq!(v["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(audit_rows(&h, "session.revoke").await.len(), 1);
}

/// `GET /api/v1/account/activity`: the caller's own audit rows, newest
/// first, paged by time; another user's rows never appear, whatever the
/// query says.
async fn activity_is_the_callers_own(h: H) {
    h.register("nina@example.com", PW).await;
    h.register("omar@example.com", PW).await;
    h.login_with(login_body("nina@example.com", "not the password"))
        .await
        .expect_error(401, "invalid_credentials");
    h.clock.advance(Duration::from_secs(1));
    let before_login = h.clock.now_ms();
    let hr = &h;
    let t = tokens(
        &hr.req(Method::POST, "/api/v1/auth/login")
            .header("user-agent", "nina's phone")
            .ip("192.0.2.55")
            .json(&login_body("nina@example.com", PW))
            .send()
            .await,
    );
    let other = h.login("omar@example.com", PW).await;
    h.post_auth("/api/v1/auth/logout", &other.access, json!({}))
        .await;

    let v = h
        .get_auth("/api/v1/account/activity", &t.access)
        .await
        .expect(200);
    let rows = v["activity"].as_array().unwrap();
    let actions: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["action"].as_str().unwrap(), r["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("auth.login", "ok"),
            ("auth.login", "denied"),
            ("auth.register", "ok")
        ],
        "{v}"
    );
    assert_eq!(rows[0]["ip"], "192.0.2.55");
    assert_eq!(rows[0]["user_agent"], "nina's phone");
    assert!(rows[0].get("detail").is_none() && rows[0].get("user_id").is_none());

    let v = h
        .get_auth(
            &format!("/api/v1/account/activity?before={before_login}&limit=1"),
            &t.access,
        )
        .await
        .expect(200);
    let rows = v["activity"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{v}");
    assert_eq!(rows[0]["result"], "denied");

    // Parameters that would widen the query are refused, not obeyed.
    for bad in [
        "user_id=2",
        "limit=0",
        "limit=101",
        "before=soon",
        "limit=1&limit=2",
    ] {
        h.get_auth(&format!("/api/v1/account/activity?{bad}"), &t.access)
            .await
            .expect_error(400, "invalid_parameter");
    }
    h.post_auth("/api/v1/auth/logout", &t.access, json!({}))
        .await;
    h.get_auth("/api/v1/account/activity", &t.access)
        .await
        .expect_error(401, "session_revoked");
}

// ------------------------------------------------------------------ API keys

/// `jwt.max_sessions_per_user`: one login more than the limit still
/// succeeds, and the oldest session ends (its access and refresh tokens stop
/// working, `session.evict` is audited); every newer session goes on.
async fn session_limit_ends_the_oldest_session(h: H) {
    h.register("nora@example.com", PW).await;
    h.register("omar@example.com", PW).await;
    let max = h.state.config().max_sessions_per_user;
    assert_eq!(max, 10, "the configured default");
    let other = h.login("omar@example.com", PW).await;
    let mut sessions = Vec::new();
    for _ in 0..=max {
        sessions.push(h.login("nora@example.com", PW).await);
    }
    let oldest = &sessions[0];
    h.get_auth("/api/v1/auth/me", &oldest.access)
        .await
        .expect_error(401, "session_revoked");
    h.post(
        "/api/v1/auth/refresh",
        json!({ "refresh_token": oldest.refresh }),
    )
    .await
    .expect_error(401, "session_revoked");
    for t in &sessions[1..] {
        h.get_auth("/api/v1/auth/me", &t.access).await.expect(200);
    }
    h.get_auth("/api/v1/auth/me", &other.access)
        .await
        .expect(200);
    let v = h
        .get_auth("/api/v1/account/sessions", &sessions[max].access)
        .await
        .expect(200);
    assert_eq!(v["sessions"].as_array().unwrap().len(), max);
    let evicted = h.state.verifier().verify(&oldest.access);
    let rows = audit_rows(&h, "session.evict").await;
    assert_eq!(rows.len(), 1);
    if let Ok(claims) = evicted {
        let target = format!("session:{}", claims.sid);
        assert_eq!(rows[0].target.as_deref(), Some(target.as_str()));
    }
    // A refresh keeps the session count; only a login opens one.
    let t = tokens(
        &h.post(
            "/api/v1/auth/refresh",
            json!({ "refresh_token": sessions[1].refresh }),
        )
        .await,
    );
    h.get_auth("/api/v1/auth/me", &t.access).await.expect(200);
    assert_eq!(audit_rows(&h, "session.evict").await.len(), 1);
}

async fn api_keys_lifecycle(h: H) {
    h.register("noah@example.com", PW).await;
    h.register("olga@example.com", PW).await;
    let t = h.login("noah@example.com", PW).await;
    let other = h.login("olga@example.com", PW).await;
    let hr = &h;
    let create = |token: &str, body: Value| {
        let token = token.to_string();
        async move { hr.post_auth("/api/v1/account/api-keys", &token, body).await }
    };

    let r = create(&t.access, json!({ "label": "bot" })).await;
    let k1 = r.expect(201);
    assert_eq!(
        k1["permissions"],
        json!(["READ", "TRADE"]),
        "WITHDRAW off by default"
    );
    assert_eq!(k1["ip_allow"], json!([]));
    assert_eq!(k1["label"], "bot");
    let key1 = k1["api_key"].as_str().unwrap().to_string();
    let secret1 = k1["secret"].as_str().unwrap().to_string();
    assert_eq!((key1.len(), secret1.len()), (64, 64));

    let k2 = create(
        &t.access,
        json!({ "label": "withdrawals", "permissions": ["read", "WITHDRAW"],
                "ip_allow": ["1.2.3.0/24", "10.0.0.1", "2001:db8::/32"] }),
    )
    .await
    .expect(201);
    assert_eq!(k2["permissions"], json!(["READ", "WITHDRAW"]));
    assert_eq!(
        k2["ip_allow"],
        json!(["1.2.3.0/24", "10.0.0.1/32", "2001:db8::/32"])
    );

    create(
        &t.access,
        json!({ "label": "x", "ip_allow": ["1.2.3.0/33"] }),
    )
    .await
    .expect_error(400, "invalid_ip_allow");
    create(
        &t.access,
        json!({ "label": "x", "ip_allow": ["example.com"] }),
    )
    .await
    .expect_error(400, "invalid_ip_allow");
    create(&t.access, json!({ "label": "x", "permissions": ["ADMIN"] }))
        .await
        .expect_error(400, "invalid_permission");
    create(&t.access, json!({ "label": "x", "permissions": [] }))
        .await
        .expect_error(400, "invalid_permission");
    create(&t.access, json!({ "label": "  " }))
        .await
        .expect_error(400, "invalid_label");
    create(&t.access, json!({ "label": "x".repeat(65) }))
        .await
        .expect_error(400, "invalid_label");
    h.req(Method::POST, "/api/v1/account/api-keys")
        .json(&json!({ "label": "x" }))
        .send()
        .await
        .expect_error(401, "unauthorized");

    // The list never shows a secret.
    let r = h.get_auth("/api/v1/account/api-keys", &t.access).await;
    let v = r.expect(200);
    let list = v["api_keys"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert!(!r.text.contains(&secret1));
    assert!(!r.text.contains(k2["secret"].as_str().unwrap()));
    assert!(list.iter().all(|k| k.get("secret").is_none()));
    assert_eq!(list[0]["api_key"].as_str(), Some(key1.as_str()));
    let r = h.get_auth("/api/v1/account/api-keys", &other.access).await;
    assert_eq!(r.expect(200)["api_keys"], json!([]));

    // The stored secret is sealed, not plain.
    let stored = h.store.api_key(&key1).await.unwrap().unwrap();
    assert!(!String::from_utf8_lossy(&stored.secret_sealed).contains(&secret1));

    // Someone else's key: 404; own key: 204, then 404.
    let id1 = k1["id"].as_u64().unwrap();
    h.delete_auth(&format!("/api/v1/account/api-keys/{id1}"), &other.access)
        .await
        .expect_error(404, "api_key_not_found");
    assert!(flowex_auth_service::lookup_api_key(&h.state, &key1)
        .await
        .unwrap()
        .is_some());
    let r = h
        .delete_auth(&format!("/api/v1/account/api-keys/{id1}"), &t.access)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    h.delete_auth(&format!("/api/v1/account/api-keys/{id1}"), &t.access)
        .await
        .expect_error(404, "api_key_not_found");
    h.delete_auth("/api/v1/account/api-keys/nope", &t.access)
        .await
        .expect_error(404, "api_key_not_found");
    assert!(flowex_auth_service::lookup_api_key(&h.state, &key1)
        .await
        .unwrap()
        .is_none());
    let v = h
        .get_auth("/api/v1/account/api-keys", &t.access)
        .await
        .expect(200);
    assert_eq!(v["api_keys"].as_array().unwrap().len(), 1);
    assert_eq!(audit_rows(&h, "api_key.create").await.len(), 2);
    assert_eq!(audit_rows(&h, "api_key.delete").await.len(), 1);
}

async fn api_keys_need_totp_when_enabled(h: H) {
    h.register("paul@example.com", PW).await;
    let t = h.login("paul@example.com", PW).await;
    let (secret, _) = enable_totp(&h, &t).await;
    let create = |body: Value| h.post_auth("/api/v1/account/api-keys", &t.access, body);
    create(json!({ "label": "bot" }))
        .await
        .expect_error(401, "totp_required");
    h.clock.advance(Duration::from_secs(30));
    let now = h.clock.now_secs();
    let wrong = if secret.code_at(now) == "999999" {
        "888888"
    } else {
        "999999"
    };
    create(json!({ "label": "bot", "totp_code": wrong }))
        .await
        .expect_error(401, "invalid_totp");
    let v = create(json!({ "label": "bot", "totp_code": secret.code_at(now) }))
        .await
        .expect(201);
    assert!(v["secret"].as_str().is_some());
    // The same code twice: refused.
    create(json!({ "label": "bot2", "totp_code": secret.code_at(now) }))
        .await
        .expect_error(401, "invalid_totp");
}

async fn internal_channel_and_lookup(h: H) {
    h.register("quinn@example.com", PW).await;
    let t = h.login("quinn@example.com", PW).await;
    let k = h
        .post_auth(
            "/api/v1/account/api-keys",
            &t.access,
            json!({ "label": "bot", "ip_allow": ["1.2.3.0/24"] }),
        )
        .await
        .expect(201);
    let key = k["api_key"].as_str().unwrap();
    let secret = k["secret"].as_str().unwrap();
    let path = format!("/internal/api-keys/{key}");

    // Without the internal token: refused.
    h.internal_req(Method::GET, &path)
        .send()
        .await
        .expect_error(401, "unauthorized");
    h.internal_req(Method::GET, &path)
        .header("x-flowex-internal-token", "wrong")
        .send()
        .await
        .expect_error(401, "unauthorized");
    // The public surface has no internal route.
    h.req(Method::GET, &path)
        .send()
        .await
        .expect_error(404, "not_found");

    let r = h
        .internal_req(Method::GET, &path)
        .header("x-flowex-internal-token", INTERNAL_TOKEN)
        .send()
        .await;
    let v = r.expect(200);
    assert_eq!(
        v,
        json!({
            "key_id": k["id"], "user_id": t.user_id, "role": "user", "frozen": false,
            "permissions": "READ,TRADE", "ip_allow": "1.2.3.0/24", "secret": secret,
        })
    );
    let record: flowex_auth_service::KeyRecord = serde_json::from_value(v).unwrap();
    assert!(!format!("{record:?}").contains(secret));
    assert!(record
        .allow_list()
        .unwrap()
        .allows("1.2.3.4".parse().unwrap()));
    assert_eq!(record.permission_set(), flowex_auth::Permissions::DEFAULT);
    let direct = flowex_auth_service::lookup_api_key(&h.state, key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(direct, record);

    let unknown = format!("/internal/api-keys/{}", "A".repeat(64));
    h.internal_req(Method::GET, &unknown)
        .header("x-flowex-internal-token", INTERNAL_TOKEN)
        .send()
        .await
        .expect_error(404, "api_key_not_found");
    h.internal_req(Method::GET, "/internal/api-keys/short")
        .header("x-flowex-internal-token", INTERNAL_TOKEN)
        .send()
        .await
        .expect_error(404, "api_key_not_found");

    // Through the internal channel the gateway's identity header is used:
    // a session identity manages the account, an API-key identity may not.
    let sid = h.state.verifier().verify(&t.access).unwrap().sid;
    let r = h
        .internal_req(Method::GET, "/api/v1/auth/me")
        .header("x-flowex-internal-token", INTERNAL_TOKEN)
        .header(
            "x-flowex-identity",
            &format!("user={};role=user;session={sid}", t.user_id),
        )
        .send()
        .await;
    assert_eq!(r.expect(200)["email"], "quinn@example.com");
    h.internal_req(Method::GET, "/api/v1/account/api-keys")
        .header("x-flowex-internal-token", INTERNAL_TOKEN)
        .header(
            "x-flowex-identity",
            &format!(
                "user={};role=user;key={};perms=READ,TRADE",
                t.user_id, k["id"]
            ),
        )
        .send()
        .await
        .expect_error(403, "session_required");
    h.internal_req(Method::GET, "/api/v1/auth/me")
        .header("x-flowex-internal-token", INTERNAL_TOKEN)
        .send()
        .await
        .expect_error(401, "unauthorized");
}

// ------------------------------------------------------------------ admin

async fn admin_audit(h: H) {
    let uid = h.register("rita@example.com", PW).await;
    let admin_id = h.register("root@example.com", PW).await;
    let user = h.login("rita@example.com", PW).await;
    h.login_with(login_body("rita@example.com", PW2))
        .await
        .expect_error(401, "invalid_credentials");

    h.get_auth("/api/v1/admin/audit", &user.access)
        .await
        .expect_error(403, "forbidden");
    let denied = audit_rows(&h, "admin.audit_query").await;
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].result, AuditOutcome::Denied);
    assert_eq!(denied[0].user_id, Some(uid));

    h.store
        .set_role(admin_id, flowex_store::Role::Admin, h.clock.now_ms())
        .await
        .unwrap();
    let admin = h.login("root@example.com", PW).await;
    assert_eq!(
        h.state.verifier().verify(&admin.access).unwrap().role,
        Role::Admin
    );
    let v = h
        .get_auth("/api/v1/admin/audit", &admin.access)
        .await
        .expect(200);
    let entries = v["entries"].as_array().unwrap();
    assert!(entries.len() >= 5, "{v}");
    let first = &entries[0];
    for field in [
        "id",
        "at",
        "user_id",
        "actor_ip",
        "user_agent",
        "action",
        "target",
        "result",
        "detail",
    ] {
        assert!(first.get(field).is_some(), "{field} in {first}");
    }

    let q = |query: String| {
        let access = admin.access.clone();
        let h = &h;
        async move {
            h.get_auth(&format!("/api/v1/admin/audit?{query}"), &access)
                .await
        }
    };
    let v = q(format!("user_id={uid}&action=auth.login&result=denied"))
        .await
        .expect(200);
    let e = v["entries"].as_array().unwrap();
    assert_eq!(e.len(), 1, "{v}");
    assert_eq!(e[0]["detail"]["reason"], "wrong_password");
    assert_eq!(e[0]["target"], format!("user:{uid}"));
    let v = q("action=auth.register&limit=1".into()).await.expect(200);
    assert_eq!(v["entries"].as_array().unwrap().len(), 1);
    assert_eq!(
        v["entries"][0]["user_id"].as_u64(),
        Some(admin_id),
        "newest first"
    );
    let now = h.clock.now_ms();
    let v = q(format!("from={}&to={}", now + 1, now + 1000))
        .await
        .expect(200);
    assert_eq!(v["entries"], json!([]));
    let v = q(format!("from={now}&action=auth.register"))
        .await
        .expect(200);
    assert_eq!(v["entries"].as_array().unwrap().len(), 2);
    q("result=maybe".into())
        .await
        .expect_error(400, "invalid_parameter");
    q("limit=0".into())
        .await
        .expect_error(400, "invalid_parameter");
    q("colour=red".into())
        .await
        .expect_error(400, "invalid_parameter");
    q("limit=1&limit=2".into())
        .await
        .expect_error(400, "invalid_parameter");

    // Every admin call is audited, allowed or not.
    let rows = audit_rows(&h, "admin.audit_query").await;
    let ok = rows.iter().filter(|e| e.result == AuditOutcome::Ok).count();
    assert_eq!(ok, 5, "{rows:?}");
    assert_eq!(rows.len(), 1 + 5 + 4);
    assert!(rows
        .iter()
        .filter(|e| e.result == AuditOutcome::Ok)
        .all(|e| e.user_id == Some(admin_id)));

    // Demoted: the still-valid admin token is refused at once.
    h.store
        .set_role(admin_id, flowex_store::Role::User, h.clock.now_ms())
        .await
        .unwrap();
    h.get_auth("/api/v1/admin/audit", &admin.access)
        .await
        .expect_error(403, "forbidden");
}

async fn frozen_account(h: H) {
    let uid = h.register("sam@example.com", PW).await;
    let t = h.login("sam@example.com", PW).await;
    h.store
        .set_frozen(uid, true, h.clock.now_ms())
        .await
        .unwrap();
    h.login_with(login_body("sam@example.com", PW))
        .await
        .expect_error(403, "account_frozen");
    // The wrong password still gets the generic answer.
    h.login_with(login_body("sam@example.com", PW2))
        .await
        .expect_error(401, "invalid_credentials");
    h.post(
        "/api/v1/auth/refresh",
        json!({ "refresh_token": t.refresh }),
    )
    .await
    .expect_error(403, "account_frozen");
    h.post_auth(
        "/api/v1/account/api-keys",
        &t.access,
        json!({ "label": "x" }),
    )
    .await
    .expect_error(403, "account_frozen");
}

// ------------------------------------------------------------------ secrecy

/// Whether `needle` occurs in `hay` as a whole word (not inside a longer
/// run of letters and digits): for 6-digit codes.
fn contains_word(hay: &str, needle: &str) -> bool {
    hay.match_indices(needle).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

async fn audit_and_logs_hold_no_secrets(h: H) {
    let email = "tess@example.com";
    let pw = "Tess-unique-passphrase-42";
    let pw_new = "Tess-second-passphrase-43";
    let mut secrets: Vec<String> = vec![pw.into(), pw_new.into()];
    let mut codes: Vec<String> = Vec::new();

    h.register(email, pw).await;
    // A failed login with a password typed into the e-mail field, and a
    // wrong password.
    h.login_with(login_body(pw, pw))
        .await
        .expect_error(401, "invalid_credentials");
    let wrong_pw = "Tess-wrong-passphrase-00";
    secrets.push(wrong_pw.into());
    h.login_with(login_body(email, wrong_pw))
        .await
        .expect_error(401, "invalid_credentials");
    let t = h.login(email, pw).await;
    secrets.extend([t.access.clone(), t.refresh.clone()]);

    let v = h
        .post_auth("/api/v1/account/2fa/enroll", &t.access, json!({}))
        .await
        .expect(200);
    let totp_b32 = v["secret"].as_str().unwrap().to_string();
    secrets.push(totp_b32.clone());
    secrets.push(v["otpauth_uri"].as_str().unwrap().to_string());
    let totp = TotpSecret::from_base32(&totp_b32).unwrap();
    let c = totp.code_at(h.clock.now_secs());
    codes.push(c.clone());
    let v = h
        .post_auth(
            "/api/v1/account/2fa/confirm",
            &t.access,
            json!({ "code": c }),
        )
        .await
        .expect(200);
    let backup: Vec<String> = v["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    secrets.extend(backup.iter().cloned());

    h.clock.advance(Duration::from_secs(30));
    let c = totp.code_at(h.clock.now_secs());
    codes.push(c.clone());
    let t2 = tokens(
        &h.login_with(json!({ "email": email, "password": pw, "totp_code": c }))
            .await,
    );
    secrets.extend([t2.access.clone(), t2.refresh.clone()]);
    // A replayed code and a used backup code.
    h.login_with(json!({ "email": email, "password": pw, "totp_code": c }))
        .await
        .expect_error(401, "invalid_totp");
    let t3 = tokens(
        &h.login_with(json!({ "email": email, "password": pw, "backup_code": backup[0] }))
            .await,
    );
    secrets.extend([t3.access.clone(), t3.refresh.clone()]);
    h.login_with(json!({ "email": email, "password": pw, "backup_code": backup[0] }))
        .await
        .expect_error(401, "invalid_totp");

    h.clock.advance(Duration::from_secs(30));
    let c = totp.code_at(h.clock.now_secs());
    codes.push(c.clone());
    let k = h
        .post_auth(
            "/api/v1/account/api-keys",
            &t.access,
            json!({ "label": "bot", "totp_code": c }),
        )
        .await
        .expect(201);
    let api_key = k["api_key"].as_str().unwrap().to_string();
    secrets.push(api_key.clone());
    secrets.push(k["secret"].as_str().unwrap().to_string());
    let rec = flowex_auth_service::lookup_api_key(&h.state, &api_key)
        .await
        .unwrap()
        .unwrap();
    tracing::info!(record = ?rec, "lookup result (Debug must redact)");

    // Refresh, reuse, password change, key deletion.
    let r = tokens(
        &h.post(
            "/api/v1/auth/refresh",
            json!({ "refresh_token": t2.refresh }),
        )
        .await,
    );
    secrets.extend([r.access.clone(), r.refresh.clone()]);
    h.post(
        "/api/v1/auth/refresh",
        json!({ "refresh_token": t2.refresh }),
    )
    .await
    .expect_error(401, "token_reused");
    h.post_auth(
        "/api/v1/auth/password",
        &t.access,
        json!({ "current_password": wrong_pw, "new_password": pw_new }),
    )
    .await
    .expect_error(403, "wrong_password");
    let r = h
        .post_auth(
            "/api/v1/auth/password",
            &t.access,
            json!({ "current_password": pw, "new_password": pw_new }),
        )
        .await;
    assert_eq!(r.status, 204);
    let r = h
        .delete_auth(&format!("/api/v1/account/api-keys/{}", k["id"]), &t.access)
        .await;
    assert_eq!(r.status, 204);
    h.clock.advance(Duration::from_secs(30));
    let c = totp.code_at(h.clock.now_secs());
    codes.push(c.clone());
    h.post_auth(
        "/api/v1/account/2fa/disable",
        &t.access,
        json!({ "code": c }),
    )
    .await
    .expect(200);

    // The audit log has the events...
    let rows = h
        .store
        .query_audit(&AuditQuery {
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let actions: std::collections::BTreeSet<&str> =
        rows.iter().map(|e| e.action.as_str()).collect();
    for a in [
        "auth.register",
        "auth.login",
        "auth.totp_enroll",
        "auth.totp_confirm",
        "auth.totp_disable",
        "auth.refresh_reuse",
        "auth.password_change",
        "api_key.create",
        "api_key.delete",
    ] {
        assert!(actions.contains(a), "{a} missing from {actions:?}");
    }
    // ... and none of the secrets.
    let audit_text = format!("{rows:?}");
    let log_text = common::logs();
    assert!(!log_text.is_empty());
    assert!(log_text.contains("login"), "the service logs at all");
    for s in &secrets {
        assert!(!audit_text.contains(s.as_str()), "audit log holds a secret");
        assert!(!log_text.contains(s.as_str()), "logs hold a secret");
    }
    // Nor a prefix of the API key or of the TOTP secret long enough to matter.
    assert!(!audit_text.contains(&api_key[..16]));
    assert!(!log_text.contains(&api_key[..16]));
    for c in &codes {
        assert!(!contains_word(&audit_text, c), "audit log holds a 2FA code");
        assert!(!contains_word(&log_text, c), "logs hold a 2FA code");
    }
    for b in &backup {
        assert!(!audit_text.contains(&b.to_uppercase()));
    }
}

#[test]
fn whole_word_matching() {
    assert!(contains_word("code 123456 used", "123456"));
    assert!(contains_word("123456", "123456"));
    assert!(!contains_word("x1234567", "123456"));
    assert!(!contains_word("a123456", "123456"));
}

async fn internal_session_status(h: H) {
    h.register("rita@example.com", PW).await;
    let a = h.login("rita@example.com", PW).await;
    let b = h.login("rita@example.com", PW).await;
    let sid = |t: &Tokens| h.state.verifier().verify(&t.access).unwrap().sid;
    let status = |id: String| {
        h.internal_req(Method::GET, &format!("/internal/sessions/{id}"))
            .header("x-flowex-internal-token", INTERNAL_TOKEN)
    };
    let v = status(sid(&a)).send().await.expect(200);
    assert_eq!(
        v,
        json!({ "user_id": a.user_id, "live": true, "role": "user" })
    );
    // Without the internal token: refused.
    h.internal_req(Method::GET, &format!("/internal/sessions/{}", sid(&a)))
        .send()
        .await
        .expect_error(401, "unauthorized");
    // Logout and a password change end sessions; the answer says so.
    h.req(Method::POST, "/api/v1/auth/logout")
        .bearer(&a.access)
        .send()
        .await;
    assert_eq!(status(sid(&a)).send().await.expect(200)["live"], false);
    let c = h.login("rita@example.com", PW).await;
    h.post_auth(
        "/api/v1/auth/password",
        &c.access,
        json!({ "current_password": PW, "new_password": PW2 }),
    )
    .await;
    assert_eq!(status(sid(&b)).send().await.expect(200)["live"], false);
    assert_eq!(status(sid(&c)).send().await.expect(200)["live"], true);
    let direct = flowex_auth_service::session_status(&h.state, sid(&c).parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(direct.live && direct.user_id == c.user_id);
    for unknown in ["999999", "0", "-1", "9223372036854775808", "abc"] {
        status(unknown.to_string())
            .send()
            .await
            .expect_error(404, "session_not_found");
    }
}
