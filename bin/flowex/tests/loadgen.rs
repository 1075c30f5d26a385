//! Smoke runs of `flowex loadgen` and `flowex bench http` against real
//! servers (`flowex up`, `axum-minimal`): seconds, small sizes, and checks
//! of the output's structure only (never of timings), plus the k6 script's
//! signing code against the same server through Node.

mod common;

use common::{flowex, text, Up};
use serde_json::{json, Value};
use std::process::Command;

/// The keys every row has (the engine benchmark's, then the HTTP ones).
const KEYS: [&str; 22] = [
    "name",
    "mode",
    "mix",
    "load",
    "rate",
    "commands",
    "elapsed_ns",
    "ops_per_sec",
    "p50_ns",
    "p99_ns",
    "p999_ns",
    "p9999_ns",
    "max_ns",
    "state_hash",
    "book_hash",
    "p95_ns",
    "connections",
    "phase",
    "sent",
    "succeeded",
    "failed",
    "unsent",
];

fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn check_row(r: &Value) {
    for k in KEYS {
        assert!(r.get(k).is_some(), "row without {k}: {r}");
    }
    let sent = r["sent"].as_u64().unwrap();
    let failed: u64 = r["failed"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(r["succeeded"].as_u64().unwrap() + failed, sent, "{r}");
    assert_eq!(r["commands"], r["sent"], "{r}");
    if sent > 0 {
        let p = |k: &str| r[k].as_u64().unwrap();
        assert!(
            p("p50_ns") <= p("p95_ns") && p("p95_ns") <= p("p99_ns"),
            "{r}"
        );
        assert!(
            p("p99_ns") <= p("p999_ns") && p("p999_ns") <= p("max_ns"),
            "{r}"
        );
    }
}

#[test]
fn loadgen_ramps_a_realistic_mix_through_flowex_up() {
    let up = Up::start_fresh(&["--no-bot"]);
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("latency.svg");
    let out = flowex(dir.path())
        .args([
            "loadgen",
            "--url",
            &up.base,
            "--users",
            "3",
            "--connections",
            "3",
        ])
        .args(["--profile", "ramp", "--rates", "10,20", "--duration", "2"])
        .args(["--price", "BTCUSDT=64000", "--json", "--plot"])
        .arg(&plot)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let rows = json_lines(&out.stdout);
    rows.iter().for_each(check_row);
    let all: Vec<&Value> = rows.iter().filter(|r| r["mode"] == "all").collect();
    assert_eq!(all.len(), 2, "one `all` row per step: {rows:?}");
    // Open loop: every planned request of each step is sent or counted unsent.
    for (row, planned) in all.iter().zip([10, 20]) {
        assert_eq!(row["rate"], planned);
        assert_eq!(row["load"], format!("open@{planned}"));
        let sent = row["sent"].as_u64().unwrap() + row["unsent"].as_u64().unwrap();
        assert_eq!(sent, planned, "{row}");
    }
    let placed: u64 = rows
        .iter()
        .filter(|r| r["mode"] == "place-limit")
        .map(|r| r["succeeded"].as_u64().unwrap())
        .sum();
    assert!(placed > 0, "no limit order was accepted: {rows:?}");
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("polyline"), "{svg}");
}

#[test]
fn loadgen_refuses_what_it_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = flowex(dir.path())
        .args([
            "loadgen",
            "--profile",
            "spike",
            "--rate",
            "0",
            "--url",
            "http://127.0.0.1:9",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("closed loop"), "{}", text(&out));
    let out = flowex(dir.path())
        .args(["loadgen", "--url", "https://127.0.0.1:9", "--mix", "fly=1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("unknown operation"), "{}", text(&out));
}

#[test]
fn bench_http_compares_flowex_with_axum_minimal() {
    let dir = tempfile::tempdir().unwrap();
    let out = flowex(dir.path())
        .args([
            "bench",
            "http",
            "--connections",
            "1,2",
            "--seconds",
            "1",
            "--users",
            "2",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let lines = json_lines(&out.stdout);
    let (ratios, rows): (Vec<&Value>, Vec<&Value>) =
        lines.iter().partition(|r| r["mode"] == "ratio");
    rows.iter().for_each(|r| check_row(r));
    for name in [
        "flowex-http-order",
        "flowex-http-order-nosync",
        "axum-minimal",
    ] {
        for c in [1, 2] {
            let row = rows
                .iter()
                .find(|r| r["name"] == name && r["connections"] == c)
                .unwrap_or_else(|| panic!("no {name} row at {c} connections: {lines:?}"));
            assert_eq!(row["load"], "closed");
            assert_eq!(row["mix"], "order");
            assert!(row["succeeded"].as_u64().unwrap() > 0, "{row}");
            assert!(row["failed"].as_object().unwrap().is_empty(), "{row}");
        }
    }
    assert_eq!(ratios.len(), 4, "{ratios:?}");
    for r in ratios {
        assert!(r["ratio"].as_f64().unwrap() > 0.0, "{r}");
        assert!(
            r["name"].as_str().unwrap().ends_with("/axum-minimal"),
            "{r}"
        );
    }
}

#[test]
fn bench_ws_holds_its_clients_and_delivers_to_every_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = flowex(dir.path())
        .args([
            "bench",
            "ws",
            "--clients",
            "30",
            "--probes",
            "5",
            "--seconds",
            "2",
            "--rate",
            "60",
            "--users",
            "2",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let r = &lines[0];
    assert_eq!(
        (&r["name"], &r["mode"]),
        (&json!("flowex-ws"), &json!("fanout"))
    );
    assert_eq!(r["connections_held"], 30, "{r}");
    assert_eq!(r["failed_connects"], 0, "{r}");
    assert_eq!(r["slow_consumer_disconnects"], 0, "{r}");
    assert_eq!(r["server_dropped_messages"], 0, "{r}");
    assert!(r["orders_acknowledged"].as_u64().unwrap() > 0, "{r}");
    // Depth diffs at least, on every connection.
    assert!(r["messages"].as_u64().unwrap() >= 30, "{r}");
    for key in [
        "p50_ns",
        "p99_ns",
        "p999_ns",
        "max_ns",
        "server_rss_bytes_per_connection",
    ] {
        assert!(r.get(key).is_some(), "no {key}: {r}");
    }
}

/// The k6 script parses, and its signing code, run by Node with Node's
/// HMAC, makes requests the server accepts (and a tampered one it refuses).
#[test]
fn the_k6_script_parses_and_signs_as_the_server_expects() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let up = Up::start_fresh(&["--no-bot"]);
    let out = Command::new("node")
        .arg(root.join("performance/check.mjs"))
        .arg(&up.base)
        .output()
        .expect("node (20 or later) runs the k6 script's checks");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("k6 script checks passed"),
        "{}",
        text(&out)
    );
}
