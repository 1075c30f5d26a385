//! Binance stream names: `<symbol>@<kind>` (symbol lowercase on the wire)
//! and the two all-market arrays `!miniTicker@arr`, `!ticker@arr`.

use crate::interval::{self, Interval};
use std::fmt;

/// How often a periodic stream is pushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Speed {
    /// Every 1000 ms (Binance's default), named without a suffix.
    Second,
    /// Every 1000 ms, named with `@1000ms` (binance-connector's spelling
    /// by default): a stream of its own, so replies echo the name given.
    SecondNamed,
    /// Every 100 ms (`@100ms`).
    Fast,
}

/// What a stream carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Trade,
    AggTrade,
    /// Interval number in [`interval::ALL`].
    Kline(usize),
    MiniTicker,
    Ticker,
    BookTicker,
    AvgPrice,
    /// `@depth<5|10|20>`: the top levels, pushed whole.
    Partial(usize, Speed),
    /// `@depth`: `depthUpdate` diffs with `U`/`u`.
    Diff(Speed),
}

/// A parsed stream name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stream {
    /// One market's stream; the symbol in upper case, as the engine names it.
    Market { symbol: String, kind: Kind },
    /// `!miniTicker@arr`.
    AllMini,
    /// `!ticker@arr`.
    AllTickers,
}

/// Longest stream name accepted (a symbol is at most 20 characters).
const MAX_NAME: usize = 64;

impl Stream {
    /// The stream named `name`, or `None` when it is not one (the symbol
    /// may be any case; whether the market exists is checked elsewhere).
    pub fn parse(name: &str) -> Option<Stream> {
        if name.len() > MAX_NAME {
            return None;
        }
        match name {
            "!miniTicker@arr" => return Some(Stream::AllMini),
            "!ticker@arr" => return Some(Stream::AllTickers),
            _ => {}
        }
        let (symbol, kind) = name.split_once('@')?;
        if symbol.is_empty() || !symbol.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        Some(Stream::Market {
            symbol: symbol.to_ascii_uppercase(),
            kind: parse_kind(kind)?,
        })
    }

    /// The stream's kind as the metrics name it
    /// (`flowex_metrics::WS_STREAM_KINDS`).
    pub fn metric_kind(&self) -> &'static str {
        match self {
            Stream::AllMini => "miniTicker",
            Stream::AllTickers => "ticker",
            Stream::Market { kind, .. } => match kind {
                Kind::Trade => "trade",
                Kind::AggTrade => "aggTrade",
                Kind::Kline(_) => "kline",
                Kind::MiniTicker => "miniTicker",
                Kind::Ticker => "ticker",
                Kind::BookTicker => "bookTicker",
                Kind::AvgPrice => "avgPrice",
                Kind::Partial(..) => "depth_partial",
                Kind::Diff(_) => "depth",
            },
        }
    }

    /// The symbol of a one-market stream.
    pub fn symbol(&self) -> Option<&str> {
        match self {
            Stream::Market { symbol, .. } => Some(symbol),
            _ => None,
        }
    }
}

fn parse_kind(kind: &str) -> Option<Kind> {
    let (base, speed) = if let Some(b) = kind.strip_suffix("@100ms") {
        (b, Speed::Fast)
    } else if let Some(b) = kind.strip_suffix("@1000ms") {
        (b, Speed::SecondNamed)
    } else {
        (kind, Speed::Second)
    };
    if speed != Speed::Second && !base.starts_with("depth") {
        return None;
    }
    Some(match base {
        "trade" => Kind::Trade,
        "aggTrade" => Kind::AggTrade,
        "miniTicker" => Kind::MiniTicker,
        "ticker" => Kind::Ticker,
        "bookTicker" => Kind::BookTicker,
        "avgPrice" => Kind::AvgPrice,
        "depth" => Kind::Diff(speed),
        "depth5" => Kind::Partial(5, speed),
        "depth10" => Kind::Partial(10, speed),
        "depth20" => Kind::Partial(20, speed),
        _ => {
            let (idx, _) = Interval::parse(base.strip_prefix("kline_")?)?;
            Kind::Kline(idx)
        }
    })
}

impl fmt::Display for Stream {
    /// The canonical name: lowercase symbol, Binance's spelling of the kind.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (symbol, kind) = match self {
            Stream::AllMini => return f.write_str("!miniTicker@arr"),
            Stream::AllTickers => return f.write_str("!ticker@arr"),
            Stream::Market { symbol, kind } => (symbol.to_ascii_lowercase(), kind),
        };
        let fast = |s: Speed| match s {
            Speed::Second => "",
            Speed::SecondNamed => "@1000ms",
            Speed::Fast => "@100ms",
        };
        match kind {
            Kind::Trade => write!(f, "{symbol}@trade"),
            Kind::AggTrade => write!(f, "{symbol}@aggTrade"),
            Kind::Kline(i) => write!(f, "{symbol}@kline_{}", interval::ALL[*i].0),
            Kind::MiniTicker => write!(f, "{symbol}@miniTicker"),
            Kind::Ticker => write!(f, "{symbol}@ticker"),
            Kind::BookTicker => write!(f, "{symbol}@bookTicker"),
            Kind::AvgPrice => write!(f, "{symbol}@avgPrice"),
            Kind::Partial(n, s) => write!(f, "{symbol}@depth{n}{}", fast(*s)),
            Kind::Diff(s) => write!(f, "{symbol}@depth{}", fast(*s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_binance_name_parses_and_prints_back() {
        let mut names = vec![
            "btcusdt@trade",
            "btcusdt@aggTrade",
            "btcusdt@miniTicker",
            "btcusdt@ticker",
            "btcusdt@bookTicker",
            "btcusdt@avgPrice",
            "btcusdt@depth",
            "btcusdt@depth@100ms",
            "btcusdt@depth5",
            "btcusdt@depth10@100ms",
            "btcusdt@depth20",
            "btcusdt@depth@1000ms",
            "btcusdt@depth5@1000ms",
            "!miniTicker@arr",
            "!ticker@arr",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        names.extend(
            interval::ALL
                .iter()
                .map(|(n, _)| format!("ethbtc@kline_{n}")),
        );
        for name in &names {
            let s = Stream::parse(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(&s.to_string(), name);
        }
        assert_eq!(names.len(), 15 + 16);
    }

    #[test]
    fn every_kind_is_a_bounded_metric_label() {
        let mut names = vec!["!miniTicker@arr".to_string(), "!ticker@arr".to_string()];
        for kind in ["trade", "aggTrade", "kline_1m", "miniTicker", "ticker"] {
            names.push(format!("btcusdt@{kind}"));
        }
        for kind in ["bookTicker", "avgPrice", "depth5", "depth@100ms"] {
            names.push(format!("btcusdt@{kind}"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for name in &names {
            let kind = Stream::parse(name).unwrap().metric_kind();
            assert!(flowex_metrics::WS_STREAM_KINDS.contains(&kind), "{kind}");
            seen.insert(kind);
        }
        // Every kind but the WebSocket API's user data events.
        let market_kinds = flowex_metrics::WS_STREAM_KINDS
            .iter()
            .filter(|k| **k != "user_data")
            .count();
        assert_eq!(seen.len(), market_kinds);
    }

    #[test]
    fn symbols_of_any_case_name_one_stream() {
        let s = Stream::parse("BTCUSDT@trade").unwrap();
        assert_eq!(s.symbol(), Some("BTCUSDT"));
        assert_eq!(s.to_string(), "btcusdt@trade");
    }

    #[test]
    fn what_is_not_a_stream() {
        for bad in [
            "",
            "0",
            "btcusdt",
            "@trade",
            "btcusdt@",
            "btcusdt@Trade",
            "btcusdt@trade@100ms",
            "btcusdt@kline_2m",
            "btcusdt@kline_",
            "btcusdt@depth15",
            "btc-usdt@trade",
            "btcusdt@depth@500ms",
            "btcusdt@trade@1000ms",
            "!bookTicker@arr",
        ] {
            assert_eq!(Stream::parse(bad), None, "{bad}");
        }
        assert_eq!(Stream::parse(&format!("{}@trade", "a".repeat(60))), None);
    }
}
