//! Writes the structured seeds of the binary targets into `fuzz/corpus`:
//! journal records, a journal segment and an engine snapshot made by the
//! real encoder, writer and engine, and command streams. Run it when a
//! format changes: `cargo run -p flowex-fuzz --example seed_corpus`.

use flowex_journal::{Fs, Journal, JournalConfig};
use std::path::{Path, PathBuf};

fn corpus(target: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    std::fs::create_dir_all(&dir).expect("the corpus folder");
    dir
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    std::fs::write(corpus(target).join(name), bytes).expect("a corpus file");
}

fn main() {
    // Orders of both sides crossing near the touch, cancels, a cancel-all.
    let stream: Vec<u8> = (0u8..96)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    let envelopes = flowex_fuzz::sample_envelopes(&stream);
    for (i, env) in envelopes.iter().enumerate().step_by(7) {
        write("envelope", &format!("generated-{i:03}"), &env.encode());
    }
    let fs = flowex_sim::SimFs::new(1);
    let dir = Path::new("/journal");
    let (mut journal, _) = Journal::open_in(fs.clone(), JournalConfig::new(dir)).expect("open");
    let encoded: Vec<(u64, Vec<u8>)> = envelopes.iter().map(|e| (e.seq, e.encode())).collect();
    journal
        .append_batch(encoded.iter().map(|(s, b)| (*s, b.as_slice())))
        .expect("append");
    drop(journal);
    for path in fs.list_dir(dir).expect("list") {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        write(
            "journal_segment",
            &format!("generated-{name}"),
            &fs.read(&path).expect("read"),
        );
    }
    let engine = flowex_fuzz::engine_after(&envelopes);
    write("snapshot", "generated-after-orders", &engine.snapshot());
    write(
        "snapshot",
        "generated-listed",
        &flowex_fuzz::engine_after(&flowex_fuzz::sample_envelopes(&[])).snapshot(),
    );
    write("engine_commands", "generated-crossing", &stream);
    write(
        "engine_commands",
        "generated-one-side",
        &[0u8, 0, 5, 9].repeat(20),
    );
}
