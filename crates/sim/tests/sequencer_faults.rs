//! The threaded sequencer on the fault-injecting file system: a full disk,
//! a failed fsync and a stopped disk. What a caller sees, what the stats
//! (and so the metrics) say, and what is on disk after a power cut.

mod common;

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use flowex_sequencer::*;
use flowex_sim::SimFs;
use flowex_types::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn config() -> SequencerConfig {
    let mut cfg = SequencerConfig::new(JournalConfig::new(PathBuf::from("/data/journal")));
    cfg.snapshot_every = 0;
    // Short, so the tests do not wait long for the sequencer to try again.
    cfg.journal_retry = Duration::from_millis(20);
    cfg
}

fn start(fs: &SimFs) -> Result<(Sequencer, SequencerHandle), SequencerError> {
    let (seq, _) = Sequencer::start_in(fs.clone(), config())?;
    let handle = seq.handle();
    Ok((seq, handle))
}

fn deposit(key: &str, amount: u64) -> Command {
    Command::Deposit {
        key: idem(key),
        user: UserId(1),
        asset: USD,
        amount,
    }
}

fn usd_of_user_1(h: &SequencerHandle) -> Result<u64, SequencerError> {
    h.query_blocking(|e| e.balance(UserId(1), USD).available)
}

/// Submits until the sequencer accepts (it lets commands in again
/// `journal_retry` after a failure); every refusal must be the journal's.
fn submit_until_accepted(h: &SequencerHandle, command: Command) -> Result<Applied, SequencerError> {
    for _ in 0..2_000 {
        match h.submit_blocking(command) {
            Err(SequencerError::JournalUnavailable { .. }) => {
                std::thread::sleep(Duration::from_millis(5))
            }
            other => return other,
        }
    }
    Err(SequencerError::Failed("the sequencer never resumed".into()))
}

#[test]
fn a_full_disk_refuses_commands_keeps_reads_and_resumes_when_space_returns() -> TestResult {
    let fs = SimFs::new(11);
    let (seq, h) = start(&fs)?;
    for c in setup_commands() {
        h.submit_blocking(c)?;
    }
    let before = usd_of_user_1(&h)?;
    fs.set_capacity(Some(fs.used_bytes()));
    let refused = h.submit_blocking(deposit("full-0", 5));
    assert!(
        matches!(
            refused,
            Err(SequencerError::JournalUnavailable { no_space: true, .. })
        ),
        "{refused:?}"
    );
    let stats = h.stats();
    assert!(!stats.journal_writable);
    assert_eq!(stats.journal_failures, 1);
    // Reads keep working and show the durable state.
    assert_eq!(usd_of_user_1(&h)?, before);
    // While the disk stays full, every retry is refused the same way.
    for i in 1..=20 {
        let again = h.submit_blocking(deposit(&format!("full-{i}"), 5));
        assert!(
            matches!(
                again,
                Err(SequencerError::JournalUnavailable { no_space: true, .. })
            ),
            "{again:?}"
        );
    }
    assert!(h.stats().journal_refused >= 20);
    assert_eq!(usd_of_user_1(&h)?, before);
    // Space returns: the sequencer resumes by itself.
    fs.set_capacity(None);
    let applied = submit_until_accepted(&h, deposit("after", 7))?;
    assert_eq!(applied.rejection(), None);
    assert!(h.stats().journal_writable);
    assert_eq!(usd_of_user_1(&h)?, before + 7);
    let engine = seq.shutdown()?;
    engine.check_invariants()?;
    // A power cut now: the disk holds the setup and the one accepted deposit.
    fs.restart();
    let (again, report) = Sequencer::start_in(fs.clone(), config())?;
    assert_eq!(report.state_hash, engine.state_hash());
    assert_eq!(report.last_seq, setup_commands().len() as u64 + 1);
    drop(again);
    Ok(())
}

#[test]
fn a_failed_fsync_acknowledges_nothing_of_its_batch_or_the_batches_after_it() -> TestResult {
    let fs = SimFs::new(12);
    let (seq, h) = start(&fs)?;
    for c in setup_commands() {
        h.submit_blocking(c)?;
    }
    let before = usd_of_user_1(&h)?;
    let (tx, rx) = mpsc::channel();
    let reply = |i: u64| {
        let tx = tx.clone();
        Reply::Callback(Box::new(move |r: Result<Applied, SequencerError>| {
            let _ = tx.send((i, r.map(|a| a.seq())));
        }))
    };
    fs.hold_syncs();
    h.submit_with(deposit("lost-0", 1), reply(0))?;
    fs.wait_for_held_syncs(1);
    // Queued or applied on top of the batch being synced.
    for i in 1..=50 {
        h.submit_with(deposit(&format!("lost-{i}"), 1), reply(i))?;
    }
    fs.fail_syncs(1);
    fs.release_syncs();
    let mut accepted = 0;
    for _ in 0..=50 {
        let (i, answer) = rx.recv()?;
        match answer {
            Err(SequencerError::JournalUnavailable {
                no_space: false, ..
            }) => {}
            // Only a command still queued when the sequencer resumed.
            Ok(_) if i > 0 => accepted += 1,
            other => panic!("command {i}: {other:?}"),
        }
    }
    submit_until_accepted(&h, deposit("kept", 3))?;
    assert_eq!(usd_of_user_1(&h)?, before + accepted + 3);
    assert_eq!(h.stats().journal_failures, 1);
    let engine = seq.shutdown()?;
    fs.restart();
    let (_again, report) = Sequencer::start_in(fs.clone(), config())?;
    assert_eq!(report.state_hash, engine.state_hash());
    assert_eq!(
        report.last_seq,
        setup_commands().len() as u64 + accepted + 1
    );
    Ok(())
}

#[test]
fn a_stopped_disk_acknowledges_nothing_early_and_group_commit_still_batches() -> TestResult {
    let fs = SimFs::new(13);
    let mut cfg = config();
    cfg.pipeline_depth = 1;
    let (seq, _) = Sequencer::start_in(fs.clone(), cfg)?;
    let h = seq.handle();
    for c in setup_commands() {
        h.submit_blocking(c)?;
    }
    let durable = h.stats().durable_seq;
    let batches = h.stats().batches;
    let mut workload = Workload::new(ChaCha8Rng::seed_from_u64(13));
    let (tx, rx) = mpsc::channel();
    fs.hold_syncs();
    let n = 300;
    for i in 0..n {
        let tx = tx.clone();
        h.submit_with(
            workload.command(),
            Reply::Callback(Box::new(move |r| {
                let _ = tx.send(r.map(|a| a.seq()));
            })),
        )?;
        if i == 0 {
            fs.wait_for_held_syncs(1);
        }
    }
    // The disk has not returned from the first fsync: nobody is answered,
    // and nothing is reported durable.
    assert!(
        rx.try_recv().is_err(),
        "an answer before its fsync returned"
    );
    assert_eq!(h.stats().durable_seq, durable);
    fs.release_syncs();
    let mut seqs: Vec<u64> = (0..n)
        .map(|_| rx.recv())
        .collect::<Result<Result<_, _>, _>>()??;
    seqs.sort_unstable();
    assert_eq!(seqs, (durable + 1..=durable + n).collect::<Vec<_>>());
    // One batch being synced, one waiting in the pipeline, one the engine
    // thread holds, and everything queued meanwhile in the next ones.
    let used = h.stats().batches - batches;
    assert!(used <= 5, "{n} commands took {used} fsyncs");
    drop(seq);
    Ok(())
}
