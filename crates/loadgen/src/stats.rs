//! Counting and reporting: per phase and operation, requests sent,
//! succeeded and failed (by error code), throughput and latency
//! percentiles; rows as a table or as JSON lines with the engine
//! benchmark's keys (`flowex bench engine --json`) plus the HTTP ones.

use crate::mix::Op;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// A latency histogram in nanoseconds, 1 µs to 60 s, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1_000, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// One operation's counts in one phase.
#[derive(Debug, Clone)]
pub struct OpStats {
    pub sent: u64,
    pub succeeded: u64,
    /// Refusals by Binance code (`-2010`), `http-<status>`, or `timeout`,
    /// `connect`, `transport`.
    pub failed: BTreeMap<String, u64>,
    /// Latency of every answered or failed request, from its planned time.
    pub latency: Histogram<u64>,
}

impl Default for OpStats {
    fn default() -> Self {
        OpStats {
            sent: 0,
            succeeded: 0,
            failed: BTreeMap::new(),
            latency: new_histogram(),
        }
    }
}

impl OpStats {
    pub fn record(&mut self, latency: Duration, failure: Option<&str>) {
        self.sent += 1;
        match failure {
            None => self.succeeded += 1,
            Some(code) => *self.failed.entry(code.to_string()).or_default() += 1,
        }
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.latency.saturating_record(ns.max(1_000));
    }

    fn merge(&mut self, other: &OpStats) {
        self.sent += other.sent;
        self.succeeded += other.succeeded;
        for (k, v) in &other.failed {
            *self.failed.entry(k.clone()).or_default() += v;
        }
        let _ = self.latency.add(&other.latency);
    }
}

/// Everything counted in one phase.
#[derive(Debug, Clone, Default)]
pub struct PhaseStats {
    pub ops: BTreeMap<Op, OpStats>,
    /// Planned requests never sent: the run ended (drain deadline) first.
    pub unsent: u64,
}

impl PhaseStats {
    pub fn record(&mut self, op: Op, latency: Duration, failure: Option<&str>) {
        self.ops.entry(op).or_default().record(latency, failure);
    }

    /// Every operation together.
    pub fn total(&self) -> OpStats {
        let mut all = OpStats::default();
        self.ops.values().for_each(|o| all.merge(o));
        all
    }
}

/// One reported line.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// What was driven (`flowex-http`, `flowex-http-order`, `axum-minimal`…).
    pub name: String,
    /// The operation, or `all`.
    pub mode: String,
    /// The mix's name.
    pub mix: String,
    /// `None` = closed loop.
    pub rate: Option<u64>,
    pub connections: usize,
    pub phase: usize,
    pub elapsed: Duration,
    pub sent: u64,
    pub succeeded: u64,
    pub failed: BTreeMap<String, u64>,
    pub unsent: u64,
    pub p50_ns: u64,
    pub p95_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    pub p9999_ns: u64,
    pub max_ns: u64,
}

impl Row {
    pub fn new(base: &Row, mode: &str, s: &OpStats, unsent: u64) -> Row {
        let q = |f: f64| {
            if s.sent == 0 {
                0
            } else {
                s.latency.value_at_quantile(f)
            }
        };
        Row {
            mode: mode.to_string(),
            sent: s.sent,
            succeeded: s.succeeded,
            failed: s.failed.clone(),
            unsent,
            p50_ns: q(0.50),
            p95_ns: q(0.95),
            p99_ns: q(0.99),
            p999_ns: q(0.999),
            p9999_ns: q(0.9999),
            max_ns: if s.sent == 0 { 0 } else { s.latency.max() },
            ..base.clone()
        }
    }

    /// Answers (succeeded or refused) per second of the phase.
    pub fn ops_per_sec(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn load(&self) -> String {
        match self.rate {
            None => "closed".into(),
            Some(r) => format!("open@{}", human_rate(r)),
        }
    }

    /// One JSON object (one line): the engine benchmark's keys, then the
    /// load generator's own.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "name": self.name,
            "mode": self.mode,
            "mix": self.mix,
            "load": self.load(),
            "rate": self.rate,
            "commands": self.sent,
            "elapsed_ns": u64::try_from(self.elapsed.as_nanos()).unwrap_or(u64::MAX),
            "ops_per_sec": self.ops_per_sec().round(),
            "p50_ns": self.p50_ns,
            "p99_ns": self.p99_ns,
            "p999_ns": self.p999_ns,
            "p9999_ns": self.p9999_ns,
            "max_ns": self.max_ns,
            "state_hash": null,
            "book_hash": null,
            "p95_ns": self.p95_ns,
            "connections": self.connections,
            "phase": self.phase,
            "sent": self.sent,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "unsent": self.unsent,
        })
        .to_string()
    }
}

fn human_rate(r: u64) -> String {
    if r >= 1_000 && r.is_multiple_of(1_000) {
        format!("{}k", r / 1_000)
    } else {
        r.to_string()
    }
}

/// A latency for people: µs below 10 ms, else ms.
pub fn human_ns(n: u64) -> String {
    if n < 10_000_000 {
        format!("{:.0} µs", n as f64 / 1e3)
    } else {
        format!("{:.1} ms", n as f64 / 1e6)
    }
}

fn failures(f: &BTreeMap<String, u64>) -> String {
    if f.is_empty() {
        return "-".into();
    }
    f.iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A fixed-width table of rows.
pub fn format_table(rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<24} {:<5} {:<10} {:<15} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}  failed",
        "name", "phase", "load", "op", "sent", "ok", "ops/s", "p50", "p95", "p99", "p99.9", "max"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{:<24} {:<5} {:<10} {:<15} {:>8} {:>8} {:>9.0} {:>9} {:>9} {:>9} {:>9} {:>9}  {}{}",
            r.name,
            r.phase,
            r.load(),
            r.mode,
            r.sent,
            r.succeeded,
            r.ops_per_sec(),
            human_ns(r.p50_ns),
            human_ns(r.p95_ns),
            human_ns(r.p99_ns),
            human_ns(r.p999_ns),
            human_ns(r.max_ns),
            failures(&r.failed),
            if r.unsent > 0 {
                format!(" (unsent {})", r.unsent)
            } else {
                String::new()
            },
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phase_counts_by_operation_and_code_and_totals() {
        let mut p = PhaseStats::default();
        p.record(Op::PlaceLimit, Duration::from_micros(500), None);
        p.record(Op::PlaceLimit, Duration::from_millis(2), Some("-2010"));
        p.record(Op::Depth, Duration::from_millis(1), None);
        let all = p.total();
        assert_eq!((all.sent, all.succeeded), (3, 2));
        assert_eq!(all.failed["-2010"], 1);
        let base = Row {
            name: "x".into(),
            mode: String::new(),
            mix: "m".into(),
            rate: Some(2000),
            connections: 4,
            phase: 0,
            elapsed: Duration::from_secs(1),
            sent: 0,
            succeeded: 0,
            failed: BTreeMap::new(),
            unsent: 0,
            p50_ns: 0,
            p95_ns: 0,
            p99_ns: 0,
            p999_ns: 0,
            p9999_ns: 0,
            max_ns: 0,
        };
        let row = Row::new(&base, "all", &all, 5);
        let v: serde_json::Value = serde_json::from_str(&row.to_json()).unwrap();
        assert_eq!(v["load"], "open@2k");
        assert_eq!(v["commands"], 3);
        assert_eq!(v["failed"]["-2010"], 1);
        assert_eq!(v["unsent"], 5);
        assert!(v["p50_ns"].as_u64().unwrap() >= 1_000_000 - 1_000);
        assert!(v["max_ns"].as_u64().unwrap() >= 2_000_000 - 2_000);
        assert!(format_table(&[row]).contains("-2010:1"));
    }
}
