//! The stable smoke run: every seed, then deterministic mutations of the seeds. Not
//! coverage-guided (that is `scripts/check/fuzz.sh`), but it runs everywhere `cargo test` does
//! and keeps every crash libFuzzer ever found, once its input is added to the corpus.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Mutated inputs per target: a few seconds in all in a debug build.
const MUTATIONS: usize = 2_000;
/// `run_config` rebuilds the command line per input, and a mutant of the YAML alias bomb
/// costs 0.6 s in a debug build before serde-saphyr's node budget refuses it.
const CONFIG_MUTATIONS: usize = 100;

/// Values that break parsers: number limits, JSON and YAML edge cases, escapes, non-ASCII.
const INTERESTING: &[&str] = &[
    "0",
    "-1",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775809",
    "1e308",
    "-1e309",
    "0.0000001",
    "NaN",
    "null",
    "true",
    "\"\"",
    "{}",
    "[]",
    "\\u0000",
    "\\ud800",
    "\u{1b}[31m",
    "\r\n",
    "\u{feff}",
    "\u{1F4A5}",
    "%00",
    "%ff",
    "../",
    "&a ",
    "*a",
    "!!binary ",
    "<<: ",
    "0o777",
    "9999-12-31T23:59:59Z",
    "-0001-01-01T00:00:00Z",
    "@",
    "://",
    "user:pass@",
    "[::1]",
    "\u{0}",
];

/// The seeds of `fuzz/corpus/<target>/`, in name order.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).expect("a seed")).collect()
}

/// One to four edits of a random seed.
fn mutant(rng: &mut fastrand::Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = rng.choice(seeds).cloned().unwrap_or_default();
    for _ in 0..rng.usize(1..=4) {
        edit(rng, seeds, &mut data);
    }
    data
}

fn edit(rng: &mut fastrand::Rng, seeds: &[Vec<u8>], data: &mut Vec<u8>) {
    let at = rng.usize(..=data.len());
    match rng.u8(..10) {
        0 if !data.is_empty() => {
            let i = rng.usize(..data.len());
            data[i] ^= 1 << rng.u8(..8);
        }
        1 => data.insert(at, rng.u8(..)),
        2 => {
            let end = rng.usize(at..=data.len());
            data.drain(at..end);
        }
        3 => data.truncate(at),
        4 => {
            // Splice: this seed's head, another's tail.
            let other = rng.choice(seeds).cloned().unwrap_or_default();
            data.truncate(at);
            data.extend_from_slice(&other[rng.usize(..=other.len())..]);
        }
        5 | 6 => {
            let value = rng.choice(INTERESTING).copied().unwrap_or_default();
            data.splice(at..at, value.bytes());
        }
        7 => {
            // A long run of one byte: a huge string, number or indent. Bigger inputs cost
            // more in a debug build than they find; libFuzzer tries them in the long run.
            let byte = rng.choice([b'a', b'0', b' ', b'\\', b'"', b'%']).unwrap_or(b'a');
            data.splice(at..at, std::iter::repeat_n(byte, rng.usize(1_000..20_000)));
        }
        8 => {
            // Deep nesting, in JSON and YAML flow style.
            let depth = rng.usize(10..5_000);
            let (open, close) = rng.choice([("[", "]"), ("{\"a\":", "}"), ("- ", "")]).unwrap_or(("[", "]"));
            let nested = format!("{}{}", open.repeat(depth), close.repeat(depth));
            data.splice(at..at, nested.into_bytes());
        }
        _ => {
            // Duplicate a range: repeated fields, keys and list items.
            let end = rng.usize(at..=data.len().min(at + 256));
            let copy = data[at..end].to_vec();
            data.splice(at..at, copy.repeat(rng.usize(1..8)));
        }
    }
}

/// Every seed, then `mutations` mutants; a panic names the input that caused it.
fn smoke(name: &str, target: fn(&[u8]), mutations: usize) {
    let seeds = corpus(name);
    assert!(!seeds.is_empty(), "fuzz/corpus/{name}/ has no seeds");
    let seed = name.bytes().fold(0x5eed_u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let mut rng = fastrand::Rng::with_seed(seed);
    let inputs =
        seeds.iter().cloned().chain(std::iter::repeat_with(|| mutant(&mut rng, &seeds)).take(mutations));
    for (i, input) in inputs.enumerate() {
        if catch_unwind(AssertUnwindSafe(|| target(&input))).is_err() {
            panic!("{name}: input #{i} panicked (seed {seed:#x}): b\"{}\"", input.escape_ascii());
        }
    }
}

macro_rules! smoke_tests {
    ($($target:ident: $mutations:expr),* $(,)?) => {$(
        #[test]
        fn $target() {
            smoke(stringify!($target), super::$target, $mutations);
        }
    )*};
}

smoke_tests!(
    credentials_file: MUTATIONS,
    subject_token: MUTATIONS,
    executable_response: MUTATIONS,
    token_answer: MUTATIONS,
    google_error: MUTATIONS,
    run_config: CONFIG_MUTATIONS,
    client_secrets: MUTATIONS,
    exec_info: MUTATIONS,
    admission_review: MUTATIONS,
    metadata_host: MUTATIONS,
    metadata_request: MUTATIONS,
    flag_values: MUTATIONS,
    credential_helpers: MUTATIONS,
    login_redirect: MUTATIONS,
    cache_entry: MUTATIONS,
    success_answer: MUTATIONS,
);
