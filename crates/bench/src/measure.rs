//! The two measurement loops, generic over what is measured.
//!
//! - Closed loop: apply every command back to back, as fast as possible;
//!   one clock read before and one after. Gives throughput.
//! - Open loop: command `i` has a planned send time `start + i / rate`; the
//!   loop spins until then, applies it, and records `completion - planned`.
//!   A command that could not start on time because the previous ones ran
//!   late is charged for its wait, so coordinated omission is accounted for
//!   (Gil Tene's definition): a stall shows up in every command it delays.

use hdrhistogram::Histogram;
use std::time::{Duration, Instant};

/// Something that applies the `i`-th measured command (0-based), in order.
pub trait Subject {
    fn step(&mut self, i: usize);
}

/// Applies commands `0..n` back to back; returns the elapsed wall time.
pub fn closed_loop<S: Subject>(s: &mut S, n: usize) -> Duration {
    let start = Instant::now();
    for i in 0..n {
        s.step(i);
    }
    start.elapsed()
}

/// A latency histogram in nanoseconds, 1 ns to 60 s, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// Applies commands `0..n` at `rate` commands per second, recording each
/// command's latency from its planned send time. Returns the elapsed time.
pub fn open_loop<S: Subject>(
    s: &mut S,
    n: usize,
    rate: u64,
    hist: &mut Histogram<u64>,
) -> Duration {
    assert!(rate > 0, "rate must be positive");
    let rate = u128::from(rate);
    let start = Instant::now();
    for i in 0..n {
        let offset_ns = (i as u128 * 1_000_000_000 / rate) as u64;
        let planned = start + Duration::from_nanos(offset_ns);
        while Instant::now() < planned {
            std::hint::spin_loop();
        }
        s.step(i);
        let latency = Instant::now().saturating_duration_since(planned).as_nanos();
        hist.saturating_record(u64::try_from(latency).unwrap_or(u64::MAX).max(1));
    }
    start.elapsed()
}
