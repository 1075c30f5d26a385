//! `flowex serve wallet`: the wallet alone (distributed mode).

use crate::events;
use crate::WalletState;
use anyhow::Result;
use flowex_config::Config;
use flowex_http::HealthChecks;
use flowex_service::process;

/// Runs the wallet until SIGINT or SIGTERM: balances, withdrawals and admin
/// deposits, reaching the engine over trading's internal API
/// ([`process::remote_engine`]); no faucet. The ledger follows the event
/// stream from its stored projector offset ([`events::run_feed`]), shown
/// at `/health/events`; ready only while that feed is connected and has
/// met no gap.
pub async fn serve(cfg: Config) -> Result<()> {
    process::require_distributed(&cfg)?;
    let token = process::internal_token(&cfg)?;
    let bus = process::bus_config(&cfg)?;
    let store = process::open_store(&cfg).await?;
    crate::sampler::books(store.clone());
    let engine = process::remote_engine(&cfg, token.clone());
    let mut state = WalletState::new(engine, store.clone(), None);
    // Withdrawals of users with 2FA on check the code against the secret
    // the auth service sealed with this key.
    match cfg.load_secrets(Vec::new)?.require_secret_box_key() {
        Ok(key) => state = state.with_totp(flowex_auth::SecretBox::new(key)),
        Err(e) => {
            tracing::warn!(error = %e, "no secret box key: withdrawals of users with 2FA on are refused")
        }
    }
    // Requests a crash cut between their row and the engine's lock: locked
    // (or removed) once trading answers, retried until it does.
    let resume = state.clone();
    tokio::spawn(async move {
        loop {
            match crate::withdrawals::resume_locks(&resume).await {
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e.message(), "resuming withdrawal locks; retrying")
                }
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
    let status = events::feed_status(&store).await?;
    let feed = tokio::spawn(events::run_feed(store.clone(), bus.clone(), status.clone()));
    let feed_status = status.clone();
    let checks = process::redis_check(process::database_check(HealthChecks::new(), &store), &bus)
        .check("events", move || {
            let verdict = feed_status.ready();
            async move { verdict }
        });
    let app = process::service_app(
        &cfg,
        crate::router(state),
        token,
        checks,
        events::events_router(status),
    )?;
    let served = process::listen(&cfg, "wallet", cfg.services.wallet.port, app).await;
    feed.abort();
    store.close().await;
    served
}
