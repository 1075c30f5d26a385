//! The wallet's feed of the trading events in distributed mode: the
//! ledger ([`crate::ledger::Ledger`]) on the one follower with the Redis
//! stream as its source — the same projection as in `flowex up`, where it
//! follows the sequencer ([`crate::ledger::start_local`]).
//!
//! The follower resumes from the wallet's stored offset
//! ([`crate::ledger::PROJECTOR`]) and books each batch of records in one
//! projection transaction with the new offset: a restart neither skips nor
//! repeats a seq. A gap (the stream was trimmed past the offset, or history
//! was lost) is never skipped: the follower stops before it, reports it at
//! `/health/events` and in the readiness check, and the offset stays at
//! the last seq booked, for an operator to rebuild from the journal.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use flowex_bus::{BusConfig, FollowReport, FollowStatus, Source};
use flowex_store::{Store, StoreError};
use std::sync::Arc;

/// The wallet's name in `projector_offsets`: the ledger's.
pub const PROJECTOR: &str = crate::ledger::PROJECTOR;

/// `/health/events`: the feed's progress (open, like the other probes).
pub fn events_router(status: Arc<FollowStatus>) -> Router {
    Router::new()
        .route("/health/events", get(events))
        .with_state(status)
}

async fn events(State(status): State<Arc<FollowStatus>>) -> Json<FollowReport> {
    Json(status.report())
}

/// A status for the feed, at the stored offset.
pub async fn feed_status(store: &Store) -> Result<Arc<FollowStatus>, StoreError> {
    crate::ledger::status(store).await
}

/// Follows the stream for ever from the stored offset, booking every
/// record once (see the module documentation); returns only at a gap.
pub async fn run_feed(store: Store, bus: BusConfig, status: Arc<FollowStatus>) {
    crate::ledger::run(Source::Stream(bus), store, status).await
}
