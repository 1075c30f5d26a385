//! Ending a session ends it on every route: the check both modes run
//! through the real gateway (embedded: at once; distributed: within the
//! gateway's session cache TTL).

use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A user's login: the access token and what ends it.
pub struct Login {
    pub access: String,
    pub refresh: String,
}

/// Talks to one gateway.
pub struct Edge {
    pub c: reqwest::Client,
    pub base: String,
}

impl Edge {
    pub fn new(base: &str) -> Edge {
        Edge {
            c: reqwest::Client::new(),
            base: base.to_string(),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn login(&self, email: &str, password: &str) -> Login {
        let body = json!({ "email": email, "password": password });
        let (s, v) = self
            .send(self.c.post(self.url("/api/v1/auth/login")).json(&body))
            .await;
        assert_eq!(s, 200, "login {email}: {v}");
        Login {
            access: v["access_token"].as_str().unwrap().to_string(),
            refresh: v["refresh_token"].as_str().unwrap().to_string(),
        }
    }

    /// The id of the session `token` belongs to.
    pub async fn session_id(&self, token: &str) -> u64 {
        let (s, v) = self
            .send(
                self.c
                    .get(self.url("/api/v1/account/sessions"))
                    .bearer_auth(token),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["current"] == true)
            .and_then(|s| s["id"].as_u64())
            .unwrap_or_else(|| panic!("no current session in {v}"))
    }

    /// The status of one request per route family with `token`: the
    /// Binance API of trading, the wallet, the auth service's account
    /// routes and, for an admin, the admin routes of trading, the wallet
    /// and the auth service. Market data has no private routes. Requests
    /// that change something carry a body the service refuses (unknown
    /// symbol or asset), so a live session gets a 4xx other than 401/403.
    pub async fn statuses(&self, token: &str, admin: bool) -> Vec<(String, u16, Value)> {
        let c = &self.c;
        let mut reqs = vec![
            ("GET /api/v3/account", c.get(self.url("/api/v3/account"))),
            (
                "GET /api/v3/openOrders",
                c.get(self.url("/api/v3/openOrders?symbol=NOPEUSDT")),
            ),
            (
                "POST /api/v3/order",
                c.post(self.url("/api/v3/order"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("symbol=NOPEUSDT&side=BUY&type=MARKET&quantity=1"),
            ),
            (
                "GET /api/v3/allOrders",
                c.get(self.url("/api/v3/allOrders?symbol=NOPEUSDT")),
            ),
            (
                "GET /api/v1/wallet/balances",
                c.get(self.url("/api/v1/wallet/balances")),
            ),
            (
                "GET /api/v1/wallet/ledger",
                c.get(self.url("/api/v1/wallet/ledger")),
            ),
            (
                "POST /api/v1/wallet/withdrawals",
                c.post(self.url("/api/v1/wallet/withdrawals"))
                    .json(&json!({"asset": "NOPE", "amount": "1", "address": "x"})),
            ),
            ("GET /api/v1/auth/me", c.get(self.url("/api/v1/auth/me"))),
            (
                "GET /api/v1/account/api-keys",
                c.get(self.url("/api/v1/account/api-keys")),
            ),
        ];
        if admin {
            reqs.extend([
                ("GET /api/v1/admin/markets", c.get(self.url("/api/v1/admin/markets"))),
                (
                    "POST /api/v1/admin/users/{id}/freeze",
                    c.post(self.url("/api/v1/admin/users/999999/freeze")),
                ),
                ("GET /api/v1/admin/withdrawals", c.get(self.url("/api/v1/admin/withdrawals"))),
                (
                    "POST /api/v1/admin/deposits",
                    c.post(self.url("/api/v1/admin/deposits")).json(&json!({
                        "user_id": 1, "asset": "NOPE", "amount": "1", "idempotency_key": "revocation-probe"
                    })),
                ),
                ("GET /api/v1/admin/audit", c.get(self.url("/api/v1/admin/audit?limit=1"))),
            ]);
        }
        let mut out = Vec::new();
        for (name, req) in reqs {
            let (s, v) = self.send(req.bearer_auth(token)).await;
            out.push((name.to_string(), s, v));
        }
        out
    }

    /// Every route family lets `token` in.
    pub async fn assert_live(&self, what: &str, token: &str, admin: bool) {
        for (route, s, v) in self.statuses(token, admin).await {
            assert!(
                s != 401 && s != 403 && s < 500,
                "{what}: {route} answered {s} {v} to a live session"
            );
        }
    }

    /// Every route family refuses `token` within `bound` (zero: at once).
    /// While waiting only one cheap route is asked (the rate limits would
    /// ban a full round every 250 ms); once it refuses, every route must.
    pub async fn assert_ended(&self, what: &str, token: &str, admin: bool, bound: Duration) {
        let start = Instant::now();
        loop {
            let balances = self.c.get(self.url("/api/v1/wallet/balances"));
            let (s, v) = self.send(balances.bearer_auth(token)).await;
            if s == 401 {
                break;
            }
            assert!(
                start.elapsed() <= bound,
                "{what}: still let in after {:?} (bound {bound:?}): {s} {v}",
                start.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        for (route, s, v) in self.statuses(token, admin).await {
            let refused = v["error"]["code"] == "session_revoked" || v["code"] == -2015;
            assert!(s == 401 && refused, "{what}: {route} answered {s} {v}");
        }
    }

    /// Logout, revocation from the session list and a password change
    /// each end their sessions on every route family, within `bound`,
    /// while the session that did it keeps working. Leaves the password
    /// as it found it.
    pub async fn revocation_ends_every_route(
        &self,
        email: &str,
        password: &str,
        admin: bool,
        bound: Duration,
    ) {
        let keeper = self.login(email, password).await;
        let logged_out = self.login(email, password).await;
        let revoked = self.login(email, password).await;
        let other = self.login(email, password).await;
        for (what, l) in [
            ("keeper", &keeper),
            ("logged out", &logged_out),
            ("revoked", &revoked),
            ("other", &other),
        ] {
            self.assert_live(what, &l.access, admin).await;
        }

        let (s, v) = self
            .send(
                self.c
                    .post(self.url("/api/v1/auth/logout"))
                    .bearer_auth(&logged_out.access)
                    .json(&json!({ "refresh_token": logged_out.refresh })),
            )
            .await;
        assert_eq!(s, 204, "logout: {v}");
        self.assert_ended("after logout", &logged_out.access, admin, bound)
            .await;
        self.assert_live("keeper after a logout", &keeper.access, admin)
            .await;

        let id = self.session_id(&revoked.access).await;
        let (s, v) = self
            .send(
                self.c
                    .delete(self.url(&format!("/api/v1/account/sessions/{id}")))
                    .bearer_auth(&keeper.access),
            )
            .await;
        assert_eq!(s, 204, "revoke session {id}: {v}");
        self.assert_ended("after revocation", &revoked.access, admin, bound)
            .await;
        self.assert_live("keeper after a revocation", &keeper.access, admin)
            .await;

        let changed = format!("{password} changed");
        self.change_password(&keeper.access, password, &changed)
            .await;
        self.assert_ended("after a password change", &other.access, admin, bound)
            .await;
        self.assert_live("keeper after its password change", &keeper.access, admin)
            .await;
        self.change_password(&keeper.access, &changed, password)
            .await;
    }

    async fn change_password(&self, token: &str, from: &str, to: &str) {
        let body = json!({ "current_password": from, "new_password": to });
        let (s, v) = self
            .send(
                self.c
                    .post(self.url("/api/v1/auth/password"))
                    .bearer_auth(token)
                    .json(&body),
            )
            .await;
        assert_eq!(s, 204, "password change: {v}");
    }
}
