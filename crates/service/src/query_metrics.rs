//! `flowex_db_query_duration_seconds` from the database driver's own
//! measurement: sqlx times every statement and reports it as a `debug`
//! event of target `sqlx::query` (`elapsed_secs`, and the SQL in
//! `db.statement`, or `summary` when it is short). This layer takes those
//! events, and only those, classifies the SQL with
//! `flowex_store::family::query_family` (statement kind and table, bounded
//! lists) and records the duration. One place for every query of every
//! service; the log lines' own filter still decides what is printed.

use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The layer, filtered to sqlx's statement events.
pub fn layer<S>() -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    QueryMetrics.with_filter(Targets::new().with_target("sqlx::query", Level::DEBUG))
}

struct QueryMetrics;

#[derive(Default)]
struct Statement {
    sql: String,
    summary: String,
    elapsed_secs: Option<f64>,
}

impl Visit for Statement {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.elapsed_secs = Some(value);
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "db.statement" => self.sql = value.to_string(),
            "summary" => self.summary = value.to_string(),
            _ => {}
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl<S: Subscriber> Layer<S> for QueryMetrics {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut s = Statement::default();
        event.record(&mut s);
        let Some(secs) = s.elapsed_secs.filter(|v| v.is_finite() && *v >= 0.0) else {
            return;
        };
        let sql = if s.sql.trim().is_empty() {
            &s.summary
        } else {
            &s.sql
        };
        let (statement, table) = flowex_store::family::query_family(sql);
        flowex_metrics::db_query(statement, table, Duration::from_secs_f64(secs));
    }
}
