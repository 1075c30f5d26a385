//! Every metric FlowEx exports, defined in one place.
//!
//! Prometheus conventions: the `flowex_` prefix, base units in the name
//! (`_seconds`, `_bytes`, `_atoms`), `_total` for counters, and labels
//! from bounded sets only. A label never holds a user id, an order id, a
//! raw path or a client's text: routes are axum's route templates, markets
//! are the engine's listed symbols (a symbol the engine does not know is
//! `other`), reasons are `&'static str` from the code. Process metrics keep
//! their standard names (`process_cpu_seconds_total`, …), which dashboards
//! and alert mixins already know.
//!
//! The `service` a series belongs to is not a label set here: Prometheus
//! adds it from the scrape target (deploy/monitoring/prometheus.yml, the
//! ServiceMonitor), so one process running all five services (`flowex up`)
//! and five processes export the same names.
//!
//! Money stays integer: traded volume is counted in the asset's atomic
//! units (`_atoms_total`, integer increments, exact in Prometheus up to
//! 2^53 atoms per series).
//!
//! [`METRICS`] lists every name with its kind and help text;
//! [`describe`] registers them with the recorder and [`BUCKETS`] gives each
//! histogram its buckets. `deploy/monitoring` uses only names from here,
//! and a test scrapes a running FlowEx for each of them.

#![warn(missing_docs)]

use flowex_types::{Event, OrderType, RejectReason};
use metrics::{counter, gauge, histogram, Unit};
use std::sync::OnceLock;
use std::time::Duration;

/// What a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Distribution in buckets.
    Histogram,
}

/// One metric: name, kind, unit, help, labels.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    /// The exported name.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: Kind,
    /// Its unit, for the description.
    pub unit: Option<Unit>,
    /// What it measures.
    pub help: &'static str,
    /// Its labels (each from a bounded set).
    pub labels: &'static [&'static str],
}

const fn m(
    name: &'static str,
    kind: Kind,
    unit: Option<Unit>,
    labels: &'static [&'static str],
    help: &'static str,
) -> Metric {
    Metric {
        name,
        kind,
        unit,
        help,
        labels,
    }
}

use Kind::{Counter as C, Gauge as G, Histogram as H};
const SECS: Option<Unit> = Some(Unit::Seconds);
const COUNT: Option<Unit> = Some(Unit::Count);

/// HTTP requests by method, route template and status.
pub const HTTP_REQUESTS: &str = "flowex_http_requests_total";
/// HTTP request duration.
pub const HTTP_DURATION: &str = "flowex_http_request_duration_seconds";

/// Every metric FlowEx defines (process metrics aside).
pub const METRICS: &[Metric] = &[
    m(HTTP_REQUESTS, C, COUNT, &["method", "route", "status"], "HTTP requests answered, by method, route template and status code."),
    m(HTTP_DURATION, H, SECS, &["method", "route", "status"], "Time from request received to response headers, by method, route template and status code."),
    m("flowex_orders_total", C, COUNT, &["market", "type", "result", "reason"], "New orders by market, order type and result (accepted, rejected) with the rejection reason (none when accepted)."),
    m("flowex_order_latency_seconds", H, SECS, &[], "Order placement inside trading: request decoded to the engine's durable answer (journal fsynced)."),
    m("flowex_trades_total", C, COUNT, &["market"], "Trades (fills) by market."),
    m("flowex_traded_base_atoms_total", C, COUNT, &["market"], "Traded quantity in the base asset's atomic units, by market."),
    m("flowex_traded_quote_atoms_total", C, COUNT, &["market"], "Traded notional in the quote asset's atomic units, by market."),
    m("flowex_engine_sequence", G, COUNT, &[], "Last journal sequence number made durable by the sequencer."),
    m("flowex_sequencer_commands_total", C, COUNT, &[], "Commands the sequencer applied."),
    m("flowex_sequencer_batches_total", C, COUNT, &[], "Batches the sequencer journaled (one fsync each); commands / batches is the mean batch size."),
    m("flowex_sequencer_batch_apply_seconds", G, SECS, &[], "Mean time the engine thread took to sequence and apply one batch, over the batches since the previous sample (unchanged while idle)."),
    m("flowex_sequencer_batch_journal_write_seconds", G, SECS, &[], "Mean time the journal thread took to write and fsync one batch, over the batches since the previous sample (unchanged while idle)."),
    m("flowex_sequencer_overload_rejections_total", C, COUNT, &[], "Commands refused because the sequencer's bounded queue was full."),
    m("flowex_sequencer_queue_depth", G, COUNT, &[], "Requests (commands and queries) waiting in the sequencer's queue for the engine thread."),
    m("flowex_sequencer_queue_capacity", G, COUNT, &[], "The sequencer queue's bound (sequencer queue_capacity); a full queue answers Overloaded."),
    m("flowex_sequencer_queue_wait_seconds", G, SECS, &[], "Mean time a request waited in the sequencer's queue before the engine thread took it, over the requests since the previous sample (unchanged while idle)."),
    m("flowex_sequencer_lagged_subscribers_total", C, COUNT, &[], "Event subscribers the sequencer dropped for falling behind."),
    m("flowex_journal_write_failures_total", C, COUNT, &[], "Journal writes or fsyncs that failed (disk full, I/O error); each fails its batch, which no caller gets acknowledged."),
    m("flowex_journal_refused_commands_total", C, COUNT, &[], "Commands refused (503, -1001) because the journal could not write; reads keep working."),
    m("flowex_journal_writable", G, COUNT, &[], "1 while the journal accepts writes, 0 from a failed write until the sequencer lets commands in again."),
    m("flowex_snapshots_total", C, COUNT, &[], "Engine snapshots taken."),
    m("flowex_snapshot_pause_seconds", G, SECS, &[], "How long the engine thread paused to copy its state for the last snapshot."),
    m("flowex_snapshot_last_timestamp_seconds", G, SECS, &[], "Unix time the sampler last saw the snapshot count grow (0 before the first snapshot)."),
    m("flowex_projection_sequence", G, COUNT, &["projection"], "Last journal sequence number a projection applied (orders, wallet, market_data); lag = flowex_engine_sequence minus this."),
    m("flowex_db_pool_connections", G, COUNT, &["state"], "Database pool connections by state (in_use, idle)."),
    m("flowex_db_ping_duration_seconds", H, SECS, &[], "Round trip of a trivial query (SELECT 1) from the pool sampler: queueing for a connection plus the database's answer."),
    m("flowex_db_query_duration_seconds", H, SECS, &["statement", "table"], "SQL statements by family: statement kind (select, insert, update, delete, transaction, other) and table (the schema's tables, none, other; flowex_store::family bounds both), execution time as the database driver measures it."),
    // Recorded where they happen (crates/http, crates/bus, the gateway,
    // market-data); named and described here.
    m("flowex_rate_limited_total", C, COUNT, &["scope"], "Requests refused by a rate limit, by scope (ip, user, orders)."),
    m("flowex_rate_limit_bans_total", C, COUNT, &[], "IPs banned (418) for going on after 429."),
    m("flowex_rate_limit_untracked_total", C, COUNT, &[], "Requests let through because the in-memory limiter tracks its maximum of keys."),
    m("flowex_rate_limit_store_errors_total", C, COUNT, &[], "Rate-limit store (Redis) operations that failed; the request is let through."),
    m("flowex_redis_errors_total", C, COUNT, &["component"], "Redis operations that failed, by component (rate_limits: the gateway's shared counters; event_publisher: trading's event stream; event_consumer: a projection following it; credential_invalidations: publishing or subscribing to credential invalidations)."),
    m("flowex_http_timeouts_total", C, COUNT, &[], "Requests that hit the per-request timeout."),
    m("flowex_http_connections_refused_total", C, COUNT, &["reason"], "Connections answered and closed at accept, by reason (per_ip: the address holds server.max_connections_per_ip; total: server.max_connections)."),
    m("flowex_http_header_timeouts_total", C, COUNT, &[], "Connections closed because the request headers did not arrive within server.header_read_timeout_ms (slow or idle clients)."),
    m("flowex_http_accept_errors_total", C, COUNT, &[], "Errors accepting a connection other than the client's own (out of file descriptors or memory); the accept loop backs off."),
    m("flowex_http_shed_total", C, COUNT, &[], "Requests refused with 503 because the concurrency limit was reached."),
    m("flowex_gateway_upstream_duration_seconds", H, SECS, &["upstream"], "Gateway to service round trip, by upstream service."),
    m("flowex_events_published_seq", G, COUNT, &[], "Last journal seq trading published to the Redis event stream."),
    m("flowex_events_published_total", C, COUNT, &[], "Event-stream entries published to Redis."),
    m("flowex_events_publisher_failures_total", C, COUNT, &[], "Redis failures of the event publisher (it catches up from the journal)."),
    m("flowex_events_gaps_total", C, COUNT, &[], "Gaps a consumer of the event stream found (it starts over from a snapshot or stops)."),
    m("flowex_market_data_last_seq", G, COUNT, &[], "Last journal seq market-data's view applied."),
    m("flowex_ws_connections", G, COUNT, &["api"], "WebSocket connections this process holds: api=\"streams\" (market streams, /ws and /stream), api=\"ws_api\" (the WebSocket API /ws-api/v3 and listenKey streams)."),
    m("flowex_ws_connections_refused_total", C, COUNT, &["reason"], "WebSocket upgrades refused by a connection limit (per_ip, total)."),
    m("flowex_ws_messages_sent_total", C, COUNT, &["stream"], "WebSocket messages queued to connections, by stream kind (WS_STREAM_KINDS; user_data: the user data events of the WebSocket API and listenKey streams)."),
    m("flowex_ws_messages_dropped_total", C, COUNT, &["stream"], "Market-stream messages not queued because a connection's send queue was full, by stream kind; that connection is closed as a slow consumer."),
    m("flowex_ws_slow_consumer_disconnects_total", C, COUNT, &[], "WebSocket connections closed because they did not keep up with their streams (1008 slow consumer)."),
    m("flowex_credential_invalidations_total", C, COUNT, &["result"], "Credential invalidations on Redis pub/sub (distributed mode), by result: published (auth service), publish_failed (not published: Redis down or the queue full; the cache TTLs still bound it), received (a gateway replica or trading's WebSocket API dropped cached keys and sessions), resubscribed (connected after a Redis failure: every cached key and session dropped)."),
    m("flowex_logins_total", C, COUNT, &["result"], "Password logins by result (success, failure, lockout)."),
    m("flowex_two_factor_failures_total", C, COUNT, &[], "Wrong or reused 2FA codes, wherever a code is checked."),
    m("flowex_api_signature_failures_total", C, COUNT, &["reason"], "Signed API requests refused (bad_signature, bad_timestamp, unknown_key, ip_not_allowed, permission)."),
    m("flowex_withdrawals_pending", G, COUNT, &[], "Withdrawals requested and not yet decided."),
    m("flowex_withdrawal_oldest_pending_age_seconds", G, SECS, &[], "Age of the oldest pending withdrawal (0 when none)."),
    m("flowex_ledger_imbalance_atoms", G, COUNT, &["asset"], "Sum of every ledger account of an asset, in atomic units: must be 0 (double entry)."),
    m("flowex_build_info", G, None, &["version"], "Always 1; the running version in its label."),
];

/// The `stream` label of the WebSocket message counters: one per kind of
/// market stream (`depth_partial` is `@depth<5|10|20>`, `depth` the diffs).
pub const WS_STREAM_KINDS: &[&str] = &[
    "trade",
    "aggTrade",
    "kline",
    "miniTicker",
    "ticker",
    "bookTicker",
    "avgPrice",
    "depth_partial",
    "depth",
    "user_data",
];

/// The `component` label of `flowex_redis_errors_total`.
pub const REDIS_COMPONENTS: &[&str] = &[
    "rate_limits",
    "event_publisher",
    "event_consumer",
    "credential_invalidations",
];

/// Latency buckets, seconds: 100 µs to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Histogram name → buckets, for the recorder.
pub const BUCKETS: &[(&str, &[f64])] = &[
    (HTTP_DURATION, LATENCY_BUCKETS),
    ("flowex_order_latency_seconds", LATENCY_BUCKETS),
    ("flowex_db_ping_duration_seconds", LATENCY_BUCKETS),
    ("flowex_db_query_duration_seconds", LATENCY_BUCKETS),
    ("flowex_gateway_upstream_duration_seconds", LATENCY_BUCKETS),
];

static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();

/// Counters with a fixed label set, exported at 0 from the start so that
/// `rate()` and alerts see the first event (a missing series is not 0).
const INITIAL: &[(&str, &str, &[&str])] = &[
    (
        "flowex_credential_invalidations_total",
        "result",
        &["published", "publish_failed", "received", "resubscribed"],
    ),
    (
        "flowex_logins_total",
        "result",
        &["success", "failure", "lockout"],
    ),
    (
        "flowex_api_signature_failures_total",
        "reason",
        &["bad_signature", "bad_timestamp"],
    ),
    (
        "flowex_rate_limited_total",
        "scope",
        &["ip", "user", "orders"],
    ),
    (
        "flowex_http_connections_refused_total",
        "reason",
        &["per_ip", "total"],
    ),
    (
        "flowex_ws_connections_refused_total",
        "reason",
        &["per_ip", "total"],
    ),
    ("flowex_redis_errors_total", "component", REDIS_COMPONENTS),
    ("flowex_ws_messages_sent_total", "stream", WS_STREAM_KINDS),
    (
        "flowex_ws_messages_dropped_total",
        "stream",
        WS_STREAM_KINDS,
    ),
];

/// Registers every metric's help text and unit with the installed
/// recorder, exports every counter without labels (and those of
/// `INITIAL`) at 0, and the build info; call once after installing it.
pub fn describe() {
    for metric in METRICS {
        let (name, help) = (metric.name, metric.help);
        match (metric.kind, metric.unit) {
            (Kind::Counter, Some(u)) => metrics::describe_counter!(name, u, help),
            (Kind::Counter, None) => metrics::describe_counter!(name, help),
            (Kind::Gauge, Some(u)) => metrics::describe_gauge!(name, u, help),
            (Kind::Gauge, None) => metrics::describe_gauge!(name, help),
            (Kind::Histogram, Some(u)) => metrics::describe_histogram!(name, u, help),
            (Kind::Histogram, None) => metrics::describe_histogram!(name, help),
        }
    }
    for metric in METRICS {
        if metric.kind == Kind::Counter && metric.labels.is_empty() {
            counter!(metric.name).increment(0);
        }
    }
    for (name, label, values) in INITIAL {
        for value in *values {
            counter!(*name, *label => *value).increment(0);
        }
    }
    PROCESS
        .get_or_init(metrics_process::Collector::default)
        .describe();
    gauge!("flowex_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    for api in ["streams", "ws_api"] {
        gauge!("flowex_ws_connections", "api" => api).set(0.0);
    }
}

/// Refreshes what is read at scrape time (process CPU, memory, fds).
pub fn on_scrape() {
    PROCESS
        .get_or_init(metrics_process::Collector::default)
        .collect();
}

/// One answered HTTP request.
pub fn http_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.to_string()),
    ];
    counter!(HTTP_REQUESTS, &labels).increment(1);
    histogram!(HTTP_DURATION, &labels).record(elapsed.as_secs_f64());
}

/// A new order the engine answered: its outcome by market, type and
/// reject reason, the time to its durable answer, and the trades it made.
pub fn order_placed(
    market: &str,
    order_type: OrderType,
    rejection: Option<RejectReason>,
    events: &[Event],
    elapsed: Duration,
) {
    let result = if rejection.is_some() {
        "rejected"
    } else {
        "accepted"
    };
    let reason = rejection.map_or("none", reason_label);
    counter!("flowex_orders_total",
        "market" => market.to_owned(), "type" => type_label(order_type),
        "result" => result, "reason" => reason)
    .increment(1);
    histogram!("flowex_order_latency_seconds").record(elapsed.as_secs_f64());
    for event in events {
        if let Event::Trade(t) = event {
            counter!("flowex_trades_total", "market" => market.to_owned()).increment(1);
            counter!("flowex_traded_base_atoms_total", "market" => market.to_owned())
                .increment(t.qty);
            counter!("flowex_traded_quote_atoms_total", "market" => market.to_owned())
                .increment(t.quote_qty);
        }
    }
}

/// Binance's spelling of an order type.
pub fn type_label(t: OrderType) -> &'static str {
    match t {
        OrderType::Limit => "LIMIT",
        OrderType::Market => "MARKET",
        OrderType::LimitMaker => "LIMIT_MAKER",
        OrderType::StopLoss => "STOP_LOSS",
        OrderType::StopLossLimit => "STOP_LOSS_LIMIT",
        OrderType::TakeProfit => "TAKE_PROFIT",
        OrderType::TakeProfitLimit => "TAKE_PROFIT_LIMIT",
    }
}

/// A reject reason as a label (exhaustive, so the set stays bounded).
pub fn reason_label(r: RejectReason) -> &'static str {
    use RejectReason as R;
    match r {
        R::UnknownAsset => "unknown_asset",
        R::UnknownMarket => "unknown_market",
        R::AssetExists => "asset_exists",
        R::MarketExists => "market_exists",
        R::InvalidConfig => "invalid_config",
        R::MarketClosed => "market_closed",
        R::UserFrozen => "user_frozen",
        R::InvalidPrice => "invalid_price",
        R::InvalidQty => "invalid_qty",
        R::InvalidStopPrice => "invalid_stop_price",
        R::InvalidNotional => "invalid_notional",
        R::InvalidOrder => "invalid_order",
        R::StpModeNotAllowed => "stp_mode_not_allowed",
        R::InsufficientFunds => "insufficient_funds",
        R::DuplicateClientOrderId => "duplicate_client_order_id",
        R::UnknownOrder => "unknown_order",
        R::WouldTakeLiquidity => "would_take_liquidity",
        R::StopWouldTriggerImmediately => "stop_would_trigger_immediately",
        R::TooManyOrders => "too_many_orders",
        R::BookFull => "book_full",
        R::Overflow => "overflow",
        R::ZeroAmount => "zero_amount",
        R::UnknownWithdrawal => "unknown_withdrawal",
        R::WithdrawalNotPending => "withdrawal_not_pending",
        R::InvalidAmend => "invalid_amend",
        R::ReservedAccount => "reserved_account",
    }
}

/// The sequencer's counters, as its `Stats` reports them (copied by a
/// sampler, so the sequencer itself records nothing).
#[derive(Debug, Clone, Copy, Default)]
pub struct SequencerSample {
    /// Last durable seq.
    pub durable_seq: u64,
    /// Commands applied.
    pub commands: u64,
    /// Batches journaled.
    pub batches: u64,
    /// Commands refused for a full queue.
    pub overloaded: u64,
    /// Snapshots taken.
    pub snapshots: u64,
    /// Pause of the last snapshot copy.
    pub last_snapshot_pause: Duration,
    /// Subscribers dropped for lagging.
    pub lagged_subscribers: u64,
    /// Total time applying batches.
    pub apply: Duration,
    /// Total time writing and fsyncing batches.
    pub journal_write: Duration,
    /// Requests in the queue now.
    pub queue_depth: u64,
    /// The queue's bound.
    pub queue_capacity: u64,
    /// Requests taken from the queue, in total.
    pub dequeued: u64,
    /// Total time those requests waited in the queue.
    pub queue_wait: Duration,
    /// Failed journal writes or fsyncs.
    pub journal_failures: u64,
    /// Commands refused because the journal could not write.
    pub journal_refused: u64,
    /// Whether the journal accepts writes.
    pub journal_writable: bool,
}

/// Publishes a sequencer sample; `previous` is the sample before it (the
/// default at first), `now_unix` stamps a new snapshot.
pub fn sequencer(s: &SequencerSample, previous: &SequencerSample, now_unix: f64) {
    let previous_snapshots = previous.snapshots;
    // Per-batch stage times from the totals: the sequencer reads no clock
    // per command, and the sampler turns its totals into means.
    let batches = s.batches.saturating_sub(previous.batches);
    if batches > 0 {
        let mean = |total: Duration, before: Duration| {
            total.saturating_sub(before).as_secs_f64() / batches as f64
        };
        gauge!("flowex_sequencer_batch_apply_seconds").set(mean(s.apply, previous.apply));
        gauge!("flowex_sequencer_batch_journal_write_seconds")
            .set(mean(s.journal_write, previous.journal_write));
    }
    let dequeued = s.dequeued.saturating_sub(previous.dequeued);
    if dequeued > 0 {
        let wait = s.queue_wait.saturating_sub(previous.queue_wait);
        gauge!("flowex_sequencer_queue_wait_seconds").set(wait.as_secs_f64() / dequeued as f64);
    }
    gauge!("flowex_sequencer_queue_depth").set(s.queue_depth as f64);
    gauge!("flowex_sequencer_queue_capacity").set(s.queue_capacity as f64);
    gauge!("flowex_engine_sequence").set(s.durable_seq as f64);
    counter!("flowex_sequencer_commands_total").absolute(s.commands);
    counter!("flowex_sequencer_batches_total").absolute(s.batches);
    counter!("flowex_sequencer_overload_rejections_total").absolute(s.overloaded);
    counter!("flowex_sequencer_lagged_subscribers_total").absolute(s.lagged_subscribers);
    counter!("flowex_journal_write_failures_total").absolute(s.journal_failures);
    counter!("flowex_journal_refused_commands_total").absolute(s.journal_refused);
    gauge!("flowex_journal_writable").set(if s.journal_writable { 1.0 } else { 0.0 });
    counter!("flowex_snapshots_total").absolute(s.snapshots);
    gauge!("flowex_snapshot_pause_seconds").set(s.last_snapshot_pause.as_secs_f64());
    let stamp = gauge!("flowex_snapshot_last_timestamp_seconds");
    if s.snapshots > previous_snapshots {
        stamp.set(now_unix);
    } else if previous_snapshots == 0 {
        stamp.set(0.0);
    }
}

/// WebSocket connections held now by `api` (`streams`, `ws_api`).
pub fn ws_connections(api: &'static str, held: usize) {
    gauge!("flowex_ws_connections", "api" => api).set(held as f64);
}

/// A WebSocket upgrade refused by a limit (`per_ip`, `total`).
pub fn ws_refused(reason: &'static str) {
    counter!("flowex_ws_connections_refused_total", "reason" => reason).increment(1);
}

/// One publish of a `stream` kind: `sent` messages queued, `dropped` not
/// (full queues).
pub fn ws_published(stream: &'static str, sent: u64, dropped: u64) {
    counter!("flowex_ws_messages_sent_total", "stream" => stream).increment(sent);
    if dropped > 0 {
        counter!("flowex_ws_messages_dropped_total", "stream" => stream).increment(dropped);
    }
}

/// A connection closed as a slow consumer.
pub fn ws_slow_consumer() {
    counter!("flowex_ws_slow_consumer_disconnects_total").increment(1);
}

/// A projection's progress (`orders`, `wallet`, `market_data`).
pub fn projection(name: &'static str, seq: u64) {
    gauge!("flowex_projection_sequence", "projection" => name).set(seq as f64);
}

/// The database pool right now, and one ping's round trip.
pub fn db_pool(in_use: u32, idle: u32, ping: Option<Duration>) {
    gauge!("flowex_db_pool_connections", "state" => "in_use").set(f64::from(in_use));
    gauge!("flowex_db_pool_connections", "state" => "idle").set(f64::from(idle));
    if let Some(p) = ping {
        histogram!("flowex_db_ping_duration_seconds").record(p.as_secs_f64());
    }
}

/// One SQL statement of a family (`flowex_store::family::query_family`:
/// statement kind and table, each from a fixed list).
pub fn db_query(statement: &'static str, table: &'static str, elapsed: Duration) {
    histogram!("flowex_db_query_duration_seconds", "statement" => statement, "table" => table)
        .record(elapsed.as_secs_f64());
}

/// A failed Redis operation of `component` (one of [`REDIS_COMPONENTS`]).
pub fn redis_error(component: &'static str) {
    counter!("flowex_redis_errors_total", "component" => component).increment(1);
}

/// A credential invalidation's fate: `published`, `publish_failed`,
/// `received` or `resubscribed` (see `flowex_credential_invalidations_total`).
pub fn credential_invalidation(result: &'static str) {
    counter!("flowex_credential_invalidations_total", "result" => result).increment(1);
}

/// A password login's result: `success`, `failure` or `lockout`.
pub fn login(result: &'static str) {
    counter!("flowex_logins_total", "result" => result).increment(1);
}

/// A wrong or reused 2FA code.
pub fn two_factor_failure() {
    counter!("flowex_two_factor_failures_total").increment(1);
}

/// A signed API request refused, by reason.
pub fn signature_failure(reason: &'static str) {
    counter!("flowex_api_signature_failures_total", "reason" => reason).increment(1);
}

/// Withdrawals waiting for a decision, and the oldest one's age.
pub fn withdrawals_pending(count: u64, oldest_age: Duration) {
    gauge!("flowex_withdrawals_pending").set(count as f64);
    gauge!("flowex_withdrawal_oldest_pending_age_seconds").set(oldest_age.as_secs_f64());
}

/// An asset's ledger sum in atoms (0 when the books balance).
pub fn ledger_imbalance(asset: &str, atoms: i128) {
    gauge!("flowex_ledger_imbalance_atoms", "asset" => asset.to_owned()).set(atoms as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_conventions() {
        let mut seen = std::collections::HashSet::new();
        for metric in METRICS {
            let name = metric.name;
            assert!(name.starts_with("flowex_"), "{name}");
            assert!(seen.insert(name), "{name} twice");
            assert_eq!(
                metric.kind == Kind::Counter,
                name.ends_with("_total"),
                "{name}"
            );
            if metric.unit == SECS {
                assert!(
                    name.ends_with("_seconds") || name.ends_with("_seconds_total"),
                    "{name}"
                );
            }
            for label in metric.labels {
                assert!(
                    !["user", "user_id", "order_id", "path", "email", "ip"].contains(label),
                    "{name} has an unbounded label {label}"
                );
            }
        }
        for (name, buckets) in BUCKETS {
            let metric = METRICS.iter().find(|m| m.name == *name).unwrap();
            assert_eq!(metric.kind, Kind::Histogram, "{name}");
            assert!(buckets.windows(2).all(|w| w[0] < w[1]), "{name}");
        }
        let histograms = METRICS.iter().filter(|m| m.kind == Kind::Histogram).count();
        assert_eq!(histograms, BUCKETS.len(), "every histogram has its buckets");
    }

    #[test]
    fn recorded_values_render_with_their_labels_and_help() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            describe();
            on_scrape();
            order_placed(
                "BTCUSDT",
                OrderType::Limit,
                Some(RejectReason::InsufficientFunds),
                &[],
                Duration::from_millis(2),
            );
            let sample = SequencerSample {
                durable_seq: 42,
                snapshots: 1,
                ..Default::default()
            };
            sequencer(&sample, &SequencerSample::default(), 1_700_000_000.0);
            let later = SequencerSample {
                batches: 4,
                apply: Duration::from_millis(2),
                journal_write: Duration::from_millis(8),
                queue_depth: 3,
                queue_capacity: 65_536,
                dequeued: 10,
                queue_wait: Duration::from_millis(5),
                journal_failures: 2,
                journal_refused: 5,
                journal_writable: false,
                ..sample
            };
            sequencer(&later, &sample, 1_700_000_001.0);
            ledger_imbalance("USDT", 0);
            db_query("select", "users", Duration::from_micros(300));
            redis_error("event_consumer");
        });
        let text = handle.render();
        for line in [
            "flowex_orders_total{market=\"BTCUSDT\",type=\"LIMIT\",result=\"rejected\",reason=\"insufficient_funds\"} 1",
            "flowex_order_latency_seconds_count 1",
            "flowex_engine_sequence 42",
            "flowex_sequencer_batch_apply_seconds 0.0005",
            "flowex_sequencer_batch_journal_write_seconds 0.002",
            "flowex_sequencer_queue_depth 3",
            "flowex_sequencer_queue_capacity 65536",
            "flowex_sequencer_queue_wait_seconds 0.0005",
            "flowex_db_query_duration_seconds_count{statement=\"select\",table=\"users\"} 1",
            "flowex_redis_errors_total{component=\"event_consumer\"} 1",
            "flowex_redis_errors_total{component=\"rate_limits\"} 0",
            "flowex_journal_write_failures_total 2",
            "flowex_journal_refused_commands_total 5",
            "flowex_journal_writable 0",
            "flowex_snapshot_last_timestamp_seconds 1700000000",
            "flowex_ledger_imbalance_atoms{asset=\"USDT\"} 0",
            "flowex_logins_total{result=\"lockout\"} 0",
            "flowex_two_factor_failures_total 0",
            "# HELP flowex_orders_total New orders by market, order type and result",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
        assert!(text.contains("process_resident_memory_bytes"), "{text}");
    }
}
