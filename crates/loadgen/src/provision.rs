//! Before the load: the markets (rules and a starting price) and the
//! traders, each a fresh account of its own, made through the public API
//! as a person would: register, log in, create an API key (READ, TRADE),
//! and take funds from the faucet (`flowex up`) or have an admin book a
//! deposit (distributed mode, where there is no faucet).

use crate::client::Credentials;
use anyhow::{bail, Context, Result};
use flowex_bot::rules::Rules;
use rand::Rng;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How the traders get their money.
#[derive(Clone, Debug)]
pub enum Funding {
    /// `POST /api/v1/wallet/faucet` once per asset (embedded mode).
    Faucet,
    /// `POST /api/v1/admin/deposits` of `amounts` by this admin.
    Admin {
        email: String,
        password: String,
        totp: Option<String>,
        amounts: BTreeMap<String, String>,
    },
    /// None: the accounts trade only if they were funded otherwise.
    None,
}

/// A small JSON client of the native API.
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(base: &str) -> Result<Api> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Api {
            http,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{path}: no answer"))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Result<(u16, Value)> {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    async fn get(&self, path: &str) -> Result<Value> {
        let (status, v) = self.call(reqwest::Method::GET, path, None, None).await?;
        if status != 200 {
            bail!("GET {path}: HTTP {status} {v}");
        }
        Ok(v)
    }

    /// Logs in; the access token and the user id.
    async fn login(
        &self,
        email: &str,
        password: &str,
        totp: Option<&str>,
    ) -> Result<(String, u64)> {
        let mut creds = json!({ "email": email, "password": password });
        if let Some(code) = totp {
            creds["totp_code"] = json!(code);
        }
        let (status, v) = self.post("/api/v1/auth/login", None, creds).await?;
        if status != 200 {
            bail!("login as {email}: HTTP {status} {v}");
        }
        let token = v["access_token"].as_str().context("no access_token")?;
        let id = v["user"]["id"].as_u64().context("no user id")?;
        Ok((token.to_string(), id))
    }
}

/// The rules of the markets `symbols` (all trading ones if empty), and
/// the assets they trade (what the traders are funded with).
pub async fn markets(base: &str, symbols: &[String]) -> Result<(Vec<Rules>, Vec<String>)> {
    let api = Api::new(base)?;
    let info = api.get("/api/v3/exchangeInfo").await?;
    let all: Vec<Rules> = Rules::from_exchange_info(&info)
        .into_iter()
        .filter(|r| r.trading)
        .collect();
    let chosen: Vec<Rules> = if symbols.is_empty() {
        all
    } else {
        symbols
            .iter()
            .map(|s| {
                all.iter()
                    .find(|r| &r.symbol == s)
                    .cloned()
                    .with_context(|| format!("{s} is not a trading market of {base}"))
            })
            .collect::<Result<_>>()?
    };
    if chosen.is_empty() {
        bail!("{base} has no trading market");
    }
    let mut assets = Vec::new();
    for s in info["symbols"].as_array().into_iter().flatten() {
        if chosen.iter().any(|r| s["symbol"] == r.symbol.as_str()) {
            for k in ["baseAsset", "quoteAsset"] {
                if let Some(a) = s[k].as_str().filter(|a| !assets.iter().any(|x| x == a)) {
                    assets.push(a.to_string());
                }
            }
        }
    }
    Ok((chosen, assets))
}

/// A market's starting price in ticks: `given` (a decimal string), else its
/// last trade price, else the middle of its best bid and ask.
pub async fn start_price(base: &str, rules: &Rules, given: Option<&str>) -> Result<u64> {
    if let Some(p) = given {
        return rules
            .ticks_of(p)
            .with_context(|| format!("--price {}={p}: not a price", rules.symbol));
    }
    let api = Api::new(base)?;
    let s = &rules.symbol;
    let last = api.get(&format!("/api/v3/ticker/price?symbol={s}")).await?;
    if let Some(t) = last["price"]
        .as_str()
        .and_then(|p| rules.ticks_of(p))
        .filter(|t| *t > 0)
    {
        return Ok(t);
    }
    let book = api
        .get(&format!("/api/v3/ticker/bookTicker?symbol={s}"))
        .await?;
    let side = |k: &str| {
        book[k]
            .as_str()
            .and_then(|p| rules.ticks_of(p))
            .filter(|t| *t > 0)
    };
    match (side("bidPrice"), side("askPrice")) {
        (Some(b), Some(a)) => Ok((a + b) / 2),
        (Some(x), None) | (None, Some(x)) => Ok(x),
        (None, None) => {
            bail!("{s} has no trades and no book yet: give its price with --price {s}=PRICE")
        }
    }
}

/// What [`traders`] needs.
#[derive(Clone, Debug)]
pub struct Provisioning {
    pub base: String,
    pub users: usize,
    /// Assets every trader is funded with.
    pub assets: Vec<String>,
    pub funding: Funding,
    /// Accounts made at once (each costs the server two password hashes).
    pub parallel: usize,
}

/// Makes `users` fresh traders and returns their API keys.
pub async fn traders(p: &Provisioning) -> Result<Vec<Credentials>> {
    let api = Arc::new(Api::new(&p.base)?);
    let admin = match &p.funding {
        Funding::Admin {
            email,
            password,
            totp,
            ..
        } => Some(
            api.login(email, password, totp.as_deref())
                .await
                .context("the admin's login")?
                .0,
        ),
        _ => None,
    };
    let run: String = {
        let mut rng = rand::thread_rng();
        (0..8)
            .map(|_| char::from(b'a' + rng.gen_range(0..26)))
            .collect()
    };
    let gate = Arc::new(tokio::sync::Semaphore::new(p.parallel.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..p.users {
        let (api, gate, p, admin, run) = (
            api.clone(),
            gate.clone(),
            p.clone(),
            admin.clone(),
            run.clone(),
        );
        tasks.spawn(async move {
            let _permit = gate.acquire().await;
            let email = format!("loadgen-{run}-{i}@example.com");
            one_trader(&api, &p, &email, admin.as_deref())
                .await
                .map(|c| (i, c))
        });
    }
    let mut made = Vec::new();
    while let Some(done) = tasks.join_next().await {
        made.push(done.context("provisioning task")??);
    }
    made.sort_by_key(|(i, _)| *i);
    Ok(made.into_iter().map(|(_, c)| c).collect())
}

/// One account: registered, logged in, keyed and funded.
async fn one_trader(
    api: &Api,
    p: &Provisioning,
    email: &str,
    admin: Option<&str>,
) -> Result<Credentials> {
    let password: String = {
        let mut rng = rand::thread_rng();
        (0..24)
            .map(|_| char::from(b'a' + rng.gen_range(0..26)))
            .collect()
    };
    let creds = json!({ "email": email, "password": password });
    let (status, v) = api.post("/api/v1/auth/register", None, creds).await?;
    if status == 429 {
        bail!(
            "registering {email}: HTTP 429 {v} (the server limits registrations per address: \
             raise FLOWEX_RATE_LIMITS__REGISTRATIONS_PER_IP_PER_HOUR and \
             FLOWEX_RATE_LIMITS__FAUCET_CLAIMS_PER_IP_PER_HOUR on it for --users this large)"
        );
    }
    if status != 201 {
        bail!("registering {email}: HTTP {status} {v}");
    }
    let (token, user_id) = api.login(email, &password, None).await?;
    let body = json!({ "label": "loadgen", "permissions": ["READ", "TRADE"] });
    let (status, key) = api
        .post("/api/v1/account/api-keys", Some(&token), body)
        .await?;
    if status != 201 {
        bail!("API key for {email}: HTTP {status} {key}");
    }
    for asset in &p.assets {
        fund(api, &p.funding, &token, admin, user_id, email, asset).await?;
    }
    Ok(Credentials {
        api_key: key["api_key"].as_str().context("no api_key")?.to_string(),
        secret: key["secret"].as_str().context("no secret")?.to_string(),
    })
}

async fn fund(
    api: &Api,
    funding: &Funding,
    token: &str,
    admin: Option<&str>,
    user_id: u64,
    email: &str,
    asset: &str,
) -> Result<()> {
    let (status, v) = match funding {
        Funding::None => return Ok(()),
        Funding::Faucet => {
            api.post(
                "/api/v1/wallet/faucet",
                Some(token),
                json!({ "asset": asset }),
            )
            .await?
        }
        Funding::Admin { amounts, .. } => {
            let Some(amount) = amounts.get(asset) else {
                return Ok(());
            };
            let key = format!("loadgen-{user_id}-{asset}");
            let body = json!({ "user_id": user_id, "asset": asset, "amount": amount, "idempotency_key": key });
            api.post("/api/v1/admin/deposits", admin, body).await?
        }
    };
    if !(200..300).contains(&status) {
        bail!("funding {email} with {asset}: HTTP {status} {v}");
    }
    Ok(())
}
