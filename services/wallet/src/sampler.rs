//! The wallet's metrics, sampled once a second from the database (on
//! `flowex_service::sampler::every_second`): pending withdrawals and their
//! age, and each asset's ledger imbalance (custody + users + fees, which
//! double entry keeps at 0), computed by [`crate::reconcile::asset_sums`],
//! the same sums `flowex admin reconcile` and `GET /api/v1/admin/reconcile`
//! check.

use flowex_store::Store;
use std::collections::BTreeMap;
use std::time::Duration;

/// Starts the books sampler (the wallet service, `flowex up`).
pub fn books(store: Store) {
    flowex_service::sampler::every_second(store, |store| async move { sample_books(&store).await });
}

async fn sample_books(store: &Store) -> flowex_store::Result<()> {
    let (pending, oldest_ms) = store.pending_withdrawals().await?;
    let now = Duration::from_millis(flowex_http::clock::now_ms());
    let age = oldest_ms
        .map(|ms| now.saturating_sub(Duration::from_millis(ms.max(0) as u64)))
        .unwrap_or_default();
    flowex_metrics::withdrawals_pending(pending, age);
    let codes: BTreeMap<u64, String> = store
        .assets()
        .await?
        .into_iter()
        .map(|a| (a.id, a.code))
        .collect();
    let sums = crate::reconcile::asset_sums(&store.ledger_totals().await?);
    for (asset, code) in &codes {
        let imbalance = sums.get(asset).map_or(0, |s| s.imbalance());
        flowex_metrics::ledger_imbalance(code, imbalance);
    }
    for (asset, s) in sums.iter().filter(|(a, _)| !codes.contains_key(a)) {
        flowex_metrics::ledger_imbalance(&asset.to_string(), s.imbalance());
    }
    Ok(())
}
