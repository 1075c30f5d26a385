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
///
/// A synchronous subject (the engine, a peer book) only implements `step`.
/// An asynchronous one (the sequencer, whose commands complete on another
/// thread once durable) also implements `step_planned`, `drain` and
/// `take_latencies`.
pub trait Subject {
    fn step(&mut self, i: usize);

    /// Open loop: issues command `i`, planned for `planned`. Returns true if
    /// the command is complete on return (the loop then records its latency);
    /// false if the subject records the latency itself on completion.
    fn step_planned(&mut self, i: usize, planned: Instant) -> bool {
        let _ = planned;
        self.step(i);
        true
    }

    /// Waits until every issued command is complete.
    fn drain(&mut self) {}

    /// Moves latencies recorded by the subject itself into `hist`.
    fn take_latencies(&mut self, hist: &mut Histogram<u64>) {
        let _ = hist;
    }
}

/// Records one latency, clamped into the histogram's range.
pub fn record_latency(hist: &mut Histogram<u64>, planned: Instant, done: Instant) {
    let ns = done.saturating_duration_since(planned).as_nanos();
    hist.saturating_record(u64::try_from(ns).unwrap_or(u64::MAX).max(1));
}

/// Applies commands `0..n` back to back; returns the elapsed wall time.
pub fn closed_loop<S: Subject>(s: &mut S, n: usize) -> Duration {
    let start = Instant::now();
    for i in 0..n {
        s.step(i);
    }
    s.drain();
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
        if s.step_planned(i, planned) {
            record_latency(hist, planned, Instant::now());
        }
    }
    s.drain();
    let elapsed = start.elapsed();
    s.take_latencies(hist);
    elapsed
}
