//! Distributed mode: every credential write of this service's store (a key
//! deleted, a user frozen or unfrozen, a role or password changed, a
//! session logged out or revoked, a refresh-token family revoked) published
//! on the Redis pub/sub channel [`CHANNEL`], so every gateway replica drops
//! what it cached at once instead of trusting it for its TTL (the format
//! and the subscriber: `flowex_gateway::invalidation`):
//!
//! ```text
//! PUBLISH flowex:credentials "user:7" | "session:12" | "all"
//! ```
//!
//! Best effort: the store's listener only queues the message (bounded,
//! never blocking the request); a task publishes it. A message that cannot
//! be queued or published is logged and counted
//! (`flowex_credential_invalidations_total{result="publish_failed"}`) and
//! the user's request still succeeds: the replicas' cache TTLs
//! (`auth.key_cache_ttl_ms`, `auth.session_cache_ttl_ms`) bound it then.

use flowex_redis::{RedisConn, RedisConnector};
use flowex_store::{CredentialChange, Store};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The Redis pub/sub channel (the gateway subscribes to the same name).
pub const CHANNEL: &str = "flowex:credentials";

/// Messages queued before new ones are dropped (and counted).
const QUEUE: usize = 4096;

/// The message for `change`.
pub fn message(change: CredentialChange) -> String {
    match change {
        CredentialChange::User(id) => format!("user:{id}"),
        CredentialChange::Session(id) => format!("session:{id}"),
        CredentialChange::All => "all".to_string(),
    }
}

/// Publishes `store`'s credential writes on `redis_url` (a server or a
/// Sentinel group's primary, `flowex_redis`) from now on (a background task on the current Tokio runtime). Connects lazily and
/// reconnects by itself; each command and connection attempt is bounded
/// by 1 s.
pub fn publish_changes(store: &Store, redis_url: &str) -> anyhow::Result<()> {
    let connector = RedisConnector::new(redis_url, Duration::from_secs(1))
        .map_err(|e| anyhow::anyhow!("redis_url: {e}"))?;
    let conn = Arc::new(connector).lazy();
    let (tx, rx) = mpsc::channel::<CredentialChange>(QUEUE);
    let installed = store.on_credentials_change(Arc::new(move |change| {
        if tx.try_send(change).is_err() {
            failed(&format!("{change:?}"), "the queue is full");
        }
    }));
    anyhow::ensure!(installed, "the store already has a credentials listener");
    tokio::spawn(publish_loop(conn, rx));
    Ok(())
}

async fn publish_loop(mut conn: RedisConn, mut rx: mpsc::Receiver<CredentialChange>) {
    while let Some(change) = rx.recv().await {
        let text = message(change);
        let sent = redis::cmd("PUBLISH")
            .arg(CHANNEL)
            .arg(&text)
            .query_async::<i64>(&mut conn)
            .await;
        match sent {
            Ok(_) => flowex_metrics::credential_invalidation("published"),
            Err(e) => {
                flowex_metrics::redis_error("credential_invalidations");
                failed(&text, &e.to_string());
            }
        }
    }
}

fn failed(what: &str, why: &str) {
    flowex_metrics::credential_invalidation("publish_failed");
    tracing::warn!(
        change = what,
        error = why,
        "credential invalidation not published; gateway caches fall back on their TTLs"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateways_format() {
        assert_eq!(message(CredentialChange::User(7)), "user:7");
        assert_eq!(message(CredentialChange::Session(12)), "session:12");
        assert_eq!(message(CredentialChange::All), "all");
    }
}
