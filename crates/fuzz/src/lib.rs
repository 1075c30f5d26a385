//! Fuzz targets: every function takes arbitrary bytes and must neither
//! panic nor break the property it checks, whatever the bytes are.
//!
//! - [`decimal`]: decimal strings at every scale parse or are refused, and
//!   what parses formats back to the same value.
//! - [`params`]: a query string and a form body, as the API reads them,
//!   and the signature split and check of a signed request.
//! - [`ws_control`]: a market-stream control message (`SUBSCRIBE`, …) on a
//!   live session of the market-data service, and stream names.
//! - [`envelope`]: a journal record's payload: decoded or refused, and
//!   what decodes encodes back to itself.
//! - [`journal_segment`]: a whole segment file read by the journal reader
//!   (on the simulated disk): every record or a clean error.
//! - [`snapshot`]: an engine snapshot: restored or refused; a restored
//!   engine holds its invariants and snapshots to the same state.
//! - [`engine_commands`]: a command stream decoded from the bytes, applied
//!   to an engine with a listed market and funded users; the invariants of
//!   DESIGN.md hold after every command.
//!
//! `fuzz/` runs them under libFuzzer (`cargo +nightly fuzz run NAME`); the
//! tests of this crate run them on stable over the committed corpus
//! (`fuzz/corpus/NAME/`) and seeded mutations of it.

use flowex_engine::Engine;
use flowex_types::{
    format_scaled, parse_scaled, Command, Envelope, IdemKey, MarketConfig, NewOrder, OrderId,
    OrderQty, OrderRef, OrderType, Side, TimeInForce, UserId,
};
use std::path::Path;

/// A fuzz target: arbitrary bytes in, a panic when a property breaks.
pub type Target = fn(&[u8]);

/// Every target by name (the names of `fuzz/fuzz_targets/` and of the
/// corpus folders).
pub const TARGETS: [(&str, Target); 7] = [
    ("decimal", decimal),
    ("params", params),
    ("ws_control", ws_control),
    ("envelope", envelope),
    ("journal_segment", journal_segment),
    ("snapshot", snapshot),
    ("engine_commands", engine_commands),
];

/// First byte: the scale (0..=18); the rest: the decimal string.
pub fn decimal(data: &[u8]) {
    let Some((&scale, rest)) = data.split_first() else {
        return;
    };
    let scale = scale % 19;
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if let Ok(v) = parse_scaled(text, scale) {
        let shown = format_scaled(v, scale);
        assert_eq!(
            parse_scaled(&shown, scale),
            Ok(v),
            "{text:?} -> {v} -> {shown:?}"
        );
    }
}

/// First byte: whether the body is a form; then the query, a 0 byte, the
/// body.
pub fn params(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (query, body) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let query = String::from_utf8_lossy(query);
    let body = bytes::Bytes::copy_from_slice(body);
    if let Ok(p) = flowex_http::Params::parse(&query, body.clone(), flags & 1 == 1) {
        for (k, _) in p.pairs() {
            let _ = p.get(k);
        }
    }
    if let Some((rest, sig)) = flowex_auth::signature::split_signature(&query) {
        let _ = flowex_auth::signature::verify_signature("fuzz-secret", &rest, &body, &sig);
    }
}

/// The bytes as one control message on a fresh session; then as a stream
/// name.
pub fn ws_control(data: &[u8]) {
    use flowex_market_data::ws::control::Session;
    use flowex_market_data::ws::hub::{Kick, Listener};
    let text = String::from_utf8_lossy(data);
    let state = flowex_market_data::MarketDataState::new();
    let (tx, _rx) = tokio::sync::mpsc::channel(16);
    let listener = Listener {
        id: 1,
        tx,
        kick: std::sync::Arc::new(Kick::default()),
    };
    let mut session = Session::new(state, listener, data.first() == Some(&b'c'));
    let _ = session.handle(&text);
    let _ = session.handle(r#"{"method":"LIST_SUBSCRIPTIONS","id":1}"#);
    session.clear();
    if let Some(s) = flowex_market_data::ws::stream::Stream::parse(&text) {
        // A name that parses prints as one that parses to the same stream.
        let again = flowex_market_data::ws::stream::Stream::parse(&s.to_string());
        assert_eq!(again.as_ref(), Some(&s), "{text:?}");
    }
}

/// A journal record's payload.
pub fn envelope(data: &[u8]) {
    if let Ok(env) = Envelope::decode(data) {
        let again = Envelope::decode(&env.encode()).expect("what decodes re-encodes");
        assert_eq!(again, env);
    }
}

/// The bytes as the journal's only segment, read from its start.
pub fn journal_segment(data: &[u8]) {
    use flowex_journal::{Fs, FsFile};
    let fs = flowex_sim::SimFs::new(1);
    let dir = Path::new("/journal");
    let path = dir.join(format!("journal-{:020}.seg", 1));
    let written = fs.create_dir_all(dir).and_then(|_| {
        let mut f = fs.create_new(&path)?;
        f.append(data)?;
        f.sync_all()
    });
    if written.is_err() {
        return;
    }
    let Ok(mut reader) = flowex_journal::read_from_in(&fs, dir, 1) else {
        return;
    };
    let mut last = 0;
    while let Some(next) = reader.next_record() {
        match next {
            Ok((seq, payload)) => {
                assert!(seq > last, "records in order: {seq} after {last}");
                last = seq;
                envelope(payload);
            }
            Err(_) => break,
        }
    }
}

/// An engine snapshot.
pub fn snapshot(data: &[u8]) {
    let Ok(engine) = Engine::restore(data) else {
        return;
    };
    if let Err(broken) = engine.check_invariants() {
        // A snapshot that decodes into a broken state must be refused by
        // `restore`, never handed on.
        panic!("restored an engine whose invariants fail: {broken}");
    }
    let again = Engine::restore(&engine.snapshot()).expect("a snapshot restores");
    assert_eq!(again.state_hash(), engine.state_hash());
}

/// The setup of [`engine_commands`] followed by the commands of `bytes`,
/// as the sequencer would journal them (for seeding the corpus).
pub fn sample_envelopes(bytes: &[u8]) -> Vec<Envelope> {
    let commands = setup_commands()
        .into_iter()
        .chain(bytes.chunks_exact(4).map(command_of));
    commands
        .enumerate()
        .map(|(i, command)| Envelope {
            seq: i as u64 + 1,
            timestamp_ns: i as u64 + 1,
            command,
        })
        .collect()
}

/// An engine that applied `envelopes`.
pub fn engine_after(envelopes: &[Envelope]) -> Engine {
    let mut engine = Engine::new();
    let mut out = Vec::new();
    for env in envelopes {
        engine.apply(env, &mut out).expect("in sequence");
        out.clear();
    }
    engine
}

/// BTCUSDT without a minimum notional, and four users with funds.
fn setup_commands() -> Vec<Command> {
    let market = MarketConfig {
        min_notional: 0,
        ..flowex_testkit::btcusdt()
    };
    let mut setup = flowex_testkit::listing(market);
    for user in 1..=4 {
        for asset in [1, 2] {
            setup.push(Command::Deposit {
                key: IdemKey::new(&format!("seed-{user}-{asset}")).expect("a valid key"),
                user: UserId(user),
                asset: flowex_types::AssetId(asset),
                amount: 1_000_000_000_000,
            });
        }
    }
    setup
}

/// Four bytes, one command: an order (limit or market, either side, a
/// time in force, a price near 64 000 and a size from the bytes), a cancel
/// of an earlier order id, or a cancel of everything of a user.
fn command_of(chunk: &[u8]) -> Command {
    let [op, a, b, c] = [chunk[0], chunk[1], chunk[2], chunk[3]];
    let user = UserId(u64::from(a % 4) + 1);
    let market = flowex_types::MarketId(1);
    match op % 10 {
        0..=6 => Command::PlaceOrder(NewOrder {
            user,
            market,
            side: if a & 4 == 0 { Side::Buy } else { Side::Sell },
            order_type: if op % 10 == 6 {
                OrderType::Market
            } else {
                OrderType::Limit
            },
            tif: match (a >> 3) % 4 {
                0 | 1 => TimeInForce::Gtc,
                2 => TimeInForce::Ioc,
                _ => TimeInForce::Fok,
            },
            price: if op % 10 == 6 {
                0
            } else {
                6_400_000 + u64::from(b % 21) - 10
            },
            qty: OrderQty::Base(u64::from(c) + 1),
            stop_price: 0,
            client_id: None,
            stp: None,
        }),
        7 | 8 => Command::CancelOrder {
            user,
            market,
            order: OrderRef::Id(OrderId(u64::from(b) + 1)),
        },
        _ => Command::CancelAll {
            user: Some(user),
            market: None,
        },
    }
}

/// Commands decoded four bytes at a time, at most 512 of them.
pub fn engine_commands(data: &[u8]) {
    let mut engine = engine_after(&sample_envelopes(&[]));
    let mut out = Vec::new();
    for chunk in data.chunks_exact(4).take(512) {
        let seq = engine.last_seq() + 1;
        let env = Envelope {
            seq,
            timestamp_ns: seq,
            command: command_of(chunk),
        };
        engine.apply(&env, &mut out).expect("in sequence");
        out.clear();
        if let Err(broken) = engine.check_invariants() {
            panic!("after {:?}: {broken}", env.command);
        }
    }
}
