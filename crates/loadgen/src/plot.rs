//! Latency percentiles against offered rate, as a small SVG written by
//! hand (a plotting crate would bring fonts and a dozen dependencies for
//! three lines on two axes).

use crate::stats::Row;
use std::fmt::Write as _;

const W: f64 = 720.0;
const H: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

/// Reads one percentile of a row.
type Percentile = fn(&Row) -> u64;

/// The series drawn: label, colour, and which percentile.
const SERIES: [(&str, &str, Percentile); 3] = [
    ("p50", "#1f77b4", |r| r.p50_ns),
    ("p99", "#ff7f0e", |r| r.p99_ns),
    ("p99.9", "#d62728", |r| r.p999_ns),
];

/// The x of a row: its offered rate, or what a closed loop achieved.
fn offered(r: &Row) -> f64 {
    r.rate.map_or_else(|| r.ops_per_sec(), |x| x as f64)
}

/// An SVG of every row's percentiles (x: offered requests/s, linear;
/// y: latency, logarithmic), one point per row, rows sorted by rate.
pub fn svg(title: &str, rows: &[Row]) -> String {
    let mut rows: Vec<&Row> = rows.iter().filter(|r| r.sent > 0).collect();
    rows.sort_by(|a, b| offered(a).total_cmp(&offered(b)));
    let x_max = rows.iter().map(|r| offered(r)).fold(1.0, f64::max) * 1.05;
    let lat = |f: fn(&Row) -> u64| rows.iter().map(move |r| f(r).max(1_000) as f64);
    let lo = lat(|r| r.p50_ns).fold(f64::MAX, f64::min).min(1e9);
    let hi = lat(|r| r.p999_ns).fold(1e4, f64::max);
    let (y_lo, y_hi) = (
        lo.log10().floor(),
        hi.log10().ceil().max(lo.log10().floor() + 1.0),
    );
    let px = |x: f64| LEFT + x / x_max * (W - LEFT - RIGHT);
    let py = |ns: f64| {
        let t = (ns.max(1.0).log10() - y_lo) / (y_hi - y_lo);
        H - BOTTOM - t * (H - TOP - BOTTOM)
    };
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = write!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>"#,
        W / 2.0,
        escape(title)
    );
    axes(&mut s, x_max, y_lo, y_hi, &px, &py);
    for (i, (label, colour, f)) in SERIES.iter().enumerate() {
        let points: Vec<String> = rows
            .iter()
            .map(|r| format!("{:.1},{:.1}", px(offered(r)), py(f(r) as f64)))
            .collect();
        let _ = write!(
            s,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        for p in &points {
            let (x, y) = p.split_once(',').expect("x,y");
            let _ = write!(s, r#"<circle cx="{x}" cy="{y}" r="3" fill="{colour}"/>"#);
        }
        let ly = TOP + 16.0 * i as f64;
        let _ = write!(
            s,
            r#"<text x="{}" y="{ly}" fill="{colour}">{label}</text>"#,
            LEFT + 10.0
        );
    }
    s.push_str("</svg>\n");
    s
}

fn axes(
    s: &mut String,
    x_max: f64,
    y_lo: f64,
    y_hi: f64,
    px: &dyn Fn(f64) -> f64,
    py: &dyn Fn(f64) -> f64,
) {
    let (x0, y0, x1, y1) = (LEFT, H - BOTTOM, W - RIGHT, TOP);
    let _ = write!(
        s,
        r#"<path d="M{x0},{y1} L{x0},{y0} L{x1},{y0}" fill="none" stroke="black"/>"#
    );
    for k in 0..=5 {
        let v = x_max / 1.05 * f64::from(k) / 5.0;
        let x = px(v);
        let _ = write!(
            s,
            r#"<line x1="{x:.1}" y1="{y0}" x2="{x:.1}" y2="{}" stroke="black"/>"#,
            y0 + 5.0
        );
        let _ = write!(
            s,
            r#"<text x="{x:.1}" y="{}" text-anchor="middle">{:.0}</text>"#,
            y0 + 18.0,
            v
        );
    }
    let mut e = y_lo;
    while e <= y_hi {
        let ns = 10f64.powf(e);
        let y = py(ns);
        let _ = write!(
            s,
            r##"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#ddd"/>"##
        );
        let _ = write!(
            s,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            x0 - 6.0,
            y + 4.0,
            latency_label(ns)
        );
        e += 1.0;
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">offered rate (requests/s)</text>"#,
        (x0 + x1) / 2.0,
        H - 12.0
    );
    let _ = write!(
        s,
        r#"<text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">latency from planned send</text>"#,
        (y0 + y1) / 2.0,
        (y0 + y1) / 2.0
    );
}

fn latency_label(ns: f64) -> String {
    match ns {
        n if n >= 1e9 => format!("{:.0} s", n / 1e9),
        n if n >= 1e6 => format!("{:.0} ms", n / 1e6),
        n => format!("{:.0} µs", n / 1e3),
    }
}

fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn row(rate: u64, p50: u64) -> Row {
        Row {
            name: "n".into(),
            mode: "all".into(),
            mix: "m".into(),
            rate: Some(rate),
            connections: 1,
            phase: 0,
            elapsed: Duration::from_secs(1),
            sent: rate,
            succeeded: rate,
            failed: BTreeMap::new(),
            unsent: 0,
            p50_ns: p50,
            p95_ns: p50 * 2,
            p99_ns: p50 * 3,
            p999_ns: p50 * 4,
            p9999_ns: p50 * 5,
            max_ns: p50 * 6,
        }
    }

    #[test]
    fn the_plot_has_a_point_per_rate_and_series() {
        let s = svg("a <b>", &[row(2000, 2_000_000), row(1000, 500_000)]);
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert_eq!(s.matches("<circle").count(), 6);
        assert_eq!(s.matches("<polyline").count(), 3);
        assert!(s.contains("a &lt;b&gt;"));
        assert!(s.contains(">1 ms<"), "{s}");
    }
}
