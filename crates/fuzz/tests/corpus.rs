//! Every fuzz target over its committed corpus (`fuzz/corpus/NAME/`), then
//! over seeded mutations of it (bytes flipped, inserted, removed, runs
//! repeated, entries spliced): on stable Rust, in the test command, where
//! libFuzzer (nightly) is not. A failure prints the seed, the target and
//! the input in hex; `FLOWEX_FUZZ_SEED` replays it and
//! `FLOWEX_FUZZ_ITERATIONS` (default 2 000 per target) runs longer.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One mutation of `base` (another corpus entry may be spliced in).
fn mutate(rng: &mut ChaCha8Rng, base: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..rng.gen_range(1..=4) {
        let at = if v.is_empty() {
            0
        } else {
            rng.gen_range(0..=v.len())
        };
        match rng.gen_range(0..6) {
            0 if at < v.len() => v[at] ^= 1 << rng.gen_range(0..8),
            1 => v.insert(at, rng.gen()),
            2 if at < v.len() => {
                v.remove(at);
            }
            3 => {
                // An interesting byte: a delimiter, a digit, a boundary.
                let b = *[b'&', b'=', b'.', b'0', b'9', b'"', b'{', b'%', 0, 0xff]
                    .get(rng.gen_range(0..10))
                    .unwrap();
                v.insert(at, b);
            }
            4 if at < v.len() => {
                let end = rng.gen_range(at..=v.len().min(at + 8));
                let run = v[at..end].to_vec();
                v.splice(at..at, run);
            }
            _ => {
                let cut = rng.gen_range(0..=other.len());
                v.truncate(at);
                v.extend_from_slice(&other[cut..]);
            }
        }
    }
    v.truncate(64 * 1024);
    v
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

fn run(target: &str, f: fn(&[u8]), input: &[u8], seed: u64) {
    if catch_unwind(AssertUnwindSafe(|| f(input))).is_err() {
        panic!(
            "fuzz target {target} failed (FLOWEX_FUZZ_SEED={seed}) on {} bytes: {}",
            input.len(),
            hex(input)
        );
    }
}

#[test]
fn every_target_survives_its_corpus_and_seeded_mutations() {
    let seed = env_u64("FLOWEX_FUZZ_SEED", 2026);
    let iterations = env_u64("FLOWEX_FUZZ_ITERATIONS", 2_000);
    eprintln!("fuzz corpus test: seed {seed}, {iterations} mutations per target");
    for (name, f) in flowex_fuzz::TARGETS {
        let entries = corpus(name);
        assert!(!entries.is_empty(), "{name}: empty corpus");
        for e in &entries {
            run(name, f, e, seed);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ name.len() as u64);
        for _ in 0..iterations {
            let base = &entries[rng.gen_range(0..entries.len())];
            let other = &entries[rng.gen_range(0..entries.len())];
            let input = mutate(&mut rng, base, other);
            run(name, f, &input, seed);
        }
    }
}

/// The targets catch what they claim to: a property that fails is
/// reported, not swallowed (a fuzz target that cannot fail finds nothing).
#[test]
fn a_broken_property_is_reported_with_the_seed() {
    fn broken(data: &[u8]) {
        assert!(data.len() < 3, "long input");
    }
    let caught = catch_unwind(|| run("broken", broken, b"long", 7));
    let message = caught.unwrap_err();
    let text = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(text.contains("FLOWEX_FUZZ_SEED=7"), "{text}");
    assert!(text.contains(&hex(b"long")), "{text}");
}

/// Every target has a corpus folder and a cargo-fuzz target file.
#[test]
fn every_target_is_wired_for_cargo_fuzz() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    for (name, _) in flowex_fuzz::TARGETS {
        let file = root.join("fuzz_targets").join(format!("{name}.rs"));
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            text.contains(&format!("flowex_fuzz::{name}(")),
            "{} does not call flowex_fuzz::{name}",
            file.display()
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no [[bin]] {name}"
        );
        assert!(corpus_dir(name).is_dir(), "no corpus for {name}");
    }
}
