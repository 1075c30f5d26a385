//! Deterministic simulation testing of the FlowEx trading core.
//!
//! [`SimFs`] is an in-memory file system behind the journal's
//! [`flowex_journal::Fs`] trait that injects the faults a real disk has:
//! torn writes, unsynced data lost at a crash, failed fsyncs, a full disk,
//! a slow disk. The journal fault tests (`tests/journal_faults.rs`), the
//! sequencer fault tests (`tests/sequencer_faults.rs`) and the VOPR-style
//! simulation (`tests/sim.rs`) run on it. docs/RELIABILITY.md says how to
//! rerun them and what they found.

mod simfs;

pub use simfs::{SimFile, SimFs, SimStats};
