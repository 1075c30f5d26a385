//! The event stream against a real redis-server: gap-free, duplicate-free
//! publishing across restarts (events regenerated from the journal equal
//! the live ones), consumers resuming by seq, gaps detected, two histories
//! refused.
//!
//! Needs `redis-server` on the PATH (or `FLOWEX_TEST_REDIS_SERVER`); skipped
//! with a notice when it is missing, unless `FLOWEX_REQUIRE_REDIS=1`.

use flowex_bus::{run_publisher, BusConfig, Consumer, EventRecord, PublisherStatus};
use flowex_sequencer::{JournalConfig, Sequencer, SequencerConfig};
use flowex_testkit::redis::RedisServer;
use flowex_types::{AssetCode, AssetConfig, AssetId, Command, Event, IdemKey, UserId};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn start_sequencer(dir: &Path) -> Sequencer {
    let mut cfg = SequencerConfig::new(JournalConfig::new(dir.to_path_buf()));
    cfg.snapshot_every = 7; // regeneration must start from snapshots too
    cfg.keep_snapshots = 100;
    Sequencer::start(cfg).expect("sequencer").0
}

fn deposit(i: u64) -> Command {
    Command::Deposit {
        key: IdemKey::new(&format!("dep-{}", i % 23)).unwrap(), // repeats: Duplicate events
        user: UserId(1 + i % 3),
        asset: AssetId(1),
        amount: 1_000 + i,
    }
}

/// Submits `n` commands and records their live events by seq.
async fn submit(seq: &Sequencer, live: &mut BTreeMap<u64, Vec<Event>>, from: u64, n: u64) {
    let h = seq.handle();
    for i in from..from + n {
        let cmd = if i == 0 {
            Command::CreateAsset(AssetConfig {
                id: AssetId(1),
                code: AssetCode::new("BTC").unwrap(),
                decimals: 8,
            })
        } else {
            deposit(i)
        };
        let applied = h.submit(cmd).await.unwrap();
        live.insert(applied.seq(), applied.events().to_vec());
    }
}

async fn wait_published(status: &PublisherStatus, seq: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while status.published_seq() < seq || !status.is_live() {
        assert!(
            Instant::now() < deadline,
            "published {} of {seq}; last error {:?}",
            status.published_seq(),
            status.last_error()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn read_all(cfg: &BusConfig, after: u64) -> (Vec<EventRecord>, usize) {
    let mut c = Consumer::connect(cfg, after, Duration::from_millis(50))
        .await
        .unwrap();
    let (mut all, mut gaps) = (Vec::new(), 0);
    loop {
        let p = c.poll().await.unwrap();
        gaps += p.gaps.len();
        if p.records.is_empty() {
            return (all, gaps);
        }
        all.extend(p.records);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_gap_free_across_restarts_and_consumers_resume() {
    let redis_dir = tempfile::tempdir().unwrap();
    let Some(redis) = RedisServer::start("stream", redis_dir.path()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = BusConfig {
        stream: "test:events".into(),
        ..BusConfig::new(&redis.url())
    };
    let mut live = BTreeMap::new();

    // 1. A fresh stream follows the live batches.
    let seq = start_sequencer(dir.path());
    let status = Arc::new(PublisherStatus::default());
    let task = tokio::spawn(run_publisher(
        seq.handle(),
        dir.path().to_path_buf(),
        cfg.clone(),
        status.clone(),
    ));
    submit(&seq, &mut live, 0, 30).await;
    wait_published(&status, 30).await;

    // 2. Trading stops; commands are journaled while nothing publishes
    //    (a crash between durability and publication looks the same).
    task.abort();
    let _ = task.await;
    seq.shutdown().unwrap();
    let seq = start_sequencer(dir.path());
    submit(&seq, &mut live, 30, 25).await;

    // 3. The restarted publisher fills 31..=55 from the journal, then
    //    follows live batches again.
    let status = Arc::new(PublisherStatus::default());
    let task = tokio::spawn(run_publisher(
        seq.handle(),
        dir.path().to_path_buf(),
        cfg.clone(),
        status.clone(),
    ));
    wait_published(&status, 55).await;
    submit(&seq, &mut live, 55, 10).await;
    wait_published(&status, 65).await;

    let (all, gaps) = read_all(&cfg, 0).await;
    assert_eq!(gaps, 0);
    let seqs: Vec<u64> = all.iter().map(|r| r.seq).collect();
    assert_eq!(
        seqs,
        (1..=65).collect::<Vec<_>>(),
        "every seq once, in order"
    );
    for r in &all {
        assert_eq!(&r.events, &live[&r.seq], "events of seq {}", r.seq);
    }
    assert!(all
        .iter()
        .any(|r| matches!(r.events[0], Event::Duplicate { .. })));

    // 4. A consumer resumes after its last seq.
    let (rest, gaps) = read_all(&cfg, 60).await;
    assert_eq!(gaps, 0);
    assert_eq!(
        rest.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![61, 62, 63, 64, 65]
    );

    // 5. A consumer that fell behind a trimmed stream is told of the gap.
    let client = redis::Client::open(redis.url().as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: u64 = redis::cmd("XTRIM")
        .arg("test:events")
        .arg("MINID")
        .arg("50-0")
        .query_async(&mut conn)
        .await
        .unwrap();
    let (after_trim, gaps) = read_all(&cfg, 10).await;
    assert_eq!(gaps, 1);
    assert_eq!(after_trim.first().map(|r| r.seq), Some(50));

    // 6. A different history (an empty journal) is refused, not mixed in.
    task.abort();
    let _ = task.await;
    let other = tempfile::tempdir().unwrap();
    let seq2 = start_sequencer(other.path());
    let status2 = Arc::new(PublisherStatus::default());
    let task2 = tokio::spawn(run_publisher(
        seq2.handle(),
        other.path().to_path_buf(),
        cfg.clone(),
        status2.clone(),
    ));
    let deadline = Instant::now() + Duration::from_secs(10);
    while status2.last_error().is_none() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!status2.is_live());
    assert!(status2
        .last_error()
        .unwrap()
        .contains("different histories"));
    let (all, _) = read_all(&cfg, 64).await;
    assert_eq!(all.len(), 1, "nothing of the other history was published");
    task2.abort();
    let _ = task2.await;
    drop(seq2);
    drop(seq);
}
