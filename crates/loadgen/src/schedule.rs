//! When requests leave: load profiles as phases of constant rate, and the
//! pacer that releases each request at its planned time.
//!
//! Open loop: request `i` of a phase at rate `r` is planned for
//! `phase start + i / r`. A pacer thread (a plain OS thread, so its sleeps
//! have the kernel timer's ~60 µs precision rather than the async
//! runtime's millisecond) puts each planned time in a queue when it comes;
//! a free connection takes the oldest one. If every connection is busy the
//! request waits in the queue, and its latency is still counted from its
//! planned time: no coordinated omission (Gil Tene's definition, as wrk2).
//! Closed loop (rate 0): every connection sends its next request as soon
//! as the previous one answered, latency from the actual send.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// A stretch of time at one target rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phase {
    pub duration: Duration,
    /// Requests per second; 0 = closed loop.
    pub rate: u64,
}

/// The shape of the load over the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Profile {
    /// `rate` for the whole duration.
    Constant,
    /// A staircase: the given rates one after the other (equal shares of
    /// the duration), or `steps` equal steps up to `rate`.
    Ramp { rates: Vec<u64>, steps: u32 },
    /// `rate`, then `factor` × `rate` for the middle fifth, then `rate` again.
    Spike { factor: u64 },
    /// `rate` for a long time, reported every `every`.
    Soak { every: Duration },
}

impl Profile {
    pub fn name(&self) -> &'static str {
        match self {
            Profile::Constant => "constant",
            Profile::Ramp { .. } => "ramp",
            Profile::Spike { .. } => "spike",
            Profile::Soak { .. } => "soak",
        }
    }

    /// The phases of a run of `duration` at `rate`.
    pub fn phases(&self, rate: u64, duration: Duration) -> Vec<Phase> {
        let share = |n: u32| duration / n.max(1);
        match self {
            Profile::Constant => vec![Phase { duration, rate }],
            Profile::Ramp { rates, .. } if !rates.is_empty() => rates
                .iter()
                .map(|&rate| Phase {
                    duration: share(rates.len() as u32),
                    rate,
                })
                .collect(),
            Profile::Ramp { steps, .. } => (1..=u64::from((*steps).max(1)))
                .map(|k| Phase {
                    duration: share(*steps),
                    rate: (rate * k / u64::from((*steps).max(1))).max(1),
                })
                .collect(),
            Profile::Spike { factor } => vec![
                Phase {
                    duration: duration * 2 / 5,
                    rate,
                },
                Phase {
                    duration: duration / 5,
                    rate: rate.saturating_mul(*factor),
                },
                Phase {
                    duration: duration * 2 / 5,
                    rate,
                },
            ],
            Profile::Soak { every } => {
                let every = (*every).max(Duration::from_secs(1));
                let n = duration.as_nanos().div_ceil(every.as_nanos()).max(1) as u32;
                (0..n)
                    .map(|_| Phase {
                        duration: every.min(duration),
                        rate,
                    })
                    .collect()
            }
        }
    }
}

/// One request's slot: when it should leave and which phase it belongs to.
#[derive(Clone, Copy, Debug)]
pub struct Slot {
    pub planned: Instant,
    pub phase: usize,
}

/// The queue between the pacer and the connections.
pub struct Queue {
    slots: Mutex<VecDeque<Option<Slot>>>,
    ready: Semaphore,
}

impl Default for Queue {
    fn default() -> Self {
        Queue {
            slots: Mutex::new(VecDeque::new()),
            ready: Semaphore::new(0),
        }
    }
}

impl Queue {
    fn push(&self, slot: Option<Slot>) {
        self.slots.lock().expect("not poisoned").push_back(slot);
        self.ready.add_permits(1);
    }

    /// The oldest due slot, waiting for one; `None` once the schedule is over.
    pub async fn next(&self) -> Option<Slot> {
        self.ready.acquire().await.ok()?.forget();
        self.slots
            .lock()
            .expect("not poisoned")
            .pop_front()
            .flatten()
    }
}

/// Releases every open-loop phase's slots at their planned times from
/// `start`, then one end marker per connection. Runs on its own thread.
pub fn pace(queue: &Queue, phases: &[Phase], start: Instant, connections: usize) {
    let mut phase_start = start;
    for (p, phase) in phases.iter().enumerate() {
        let total = u128::from(phase.rate) * phase.duration.as_nanos() / 1_000_000_000;
        for i in 0..total {
            let offset = i * 1_000_000_000 / u128::from(phase.rate);
            let planned = phase_start + Duration::from_nanos(offset as u64);
            let now = Instant::now();
            if planned > now {
                std::thread::sleep(planned - now);
            }
            queue.push(Some(Slot { planned, phase: p }));
        }
        phase_start += phase.duration;
    }
    for _ in 0..connections {
        queue.push(None);
    }
}

/// When each phase starts, from `start`.
pub fn phase_starts(phases: &[Phase], start: Instant) -> Vec<Instant> {
    let mut t = start;
    phases
        .iter()
        .map(|p| {
            let s = t;
            t += p.duration;
            s
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn profiles_become_phases() {
        assert_eq!(
            Profile::Constant.phases(100, 10 * S),
            vec![Phase {
                duration: 10 * S,
                rate: 100
            }]
        );
        let ramp = Profile::Ramp {
            rates: vec![],
            steps: 4,
        }
        .phases(400, 8 * S);
        assert_eq!(
            ramp.iter().map(|p| p.rate).collect::<Vec<_>>(),
            [100, 200, 300, 400]
        );
        assert!(ramp.iter().all(|p| p.duration == 2 * S));
        let given = Profile::Ramp {
            rates: vec![5, 50],
            steps: 9,
        }
        .phases(1, 4 * S);
        assert_eq!(
            given,
            vec![
                Phase {
                    duration: 2 * S,
                    rate: 5
                },
                Phase {
                    duration: 2 * S,
                    rate: 50
                }
            ]
        );
        let spike = Profile::Spike { factor: 5 }.phases(10, 10 * S);
        assert_eq!(
            spike.iter().map(|p| p.rate).collect::<Vec<_>>(),
            [10, 50, 10]
        );
        assert_eq!(spike.iter().map(|p| p.duration).sum::<Duration>(), 10 * S);
        let soak = Profile::Soak { every: 60 * S }.phases(10, 300 * S);
        assert_eq!(soak.len(), 5);
    }

    #[test]
    fn the_pacer_releases_every_slot_in_order_then_one_end_per_connection() {
        let q = Queue::default();
        let phases = [
            Phase {
                duration: Duration::from_millis(50),
                rate: 200,
            },
            Phase {
                duration: Duration::from_millis(50),
                rate: 400,
            },
        ];
        let start = Instant::now();
        pace(&q, &phases, start, 2);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut slots = Vec::new();
        while let Some(s) = rt.block_on(q.next()) {
            slots.push(s);
        }
        assert_eq!(slots.len(), 10 + 20);
        assert!(slots.windows(2).all(|w| w[0].planned <= w[1].planned));
        assert_eq!(slots.iter().filter(|s| s.phase == 1).count(), 20);
        assert_eq!(slots[10].planned, start + Duration::from_millis(50));
        // The second connection's end marker is still there.
        assert!(rt.block_on(q.next()).is_none());
    }
}
