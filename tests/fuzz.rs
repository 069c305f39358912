//! Fuzzing on stable Rust, inside `cargo test`: no file and no setting a user can give may
//! panic. Each target starts from a committed seed corpus (`tests/fuzz/<target>/`, made by the
//! ignored `write_seeds` test below, plus every `crash-*.bin` a run has found) and runs every
//! seed as it is, then `BERTWEB_FUZZ_ITERS` (default 10,000) mutants of them: byte flips,
//! truncation, insertion of interesting bytes and numbers, splicing between seeds, and
//! JSON-aware edits of the metadata, config, tokenizer and header strings inside the files.
//! `BERTWEB_FUZZ_SEED` changes which mutants are made; a run is otherwise the same every time.
//!
//! Each input runs under `catch_unwind`. A panic fails the test after the loop, naming the
//! input's iteration, seed file and mutations, and writes the input to
//! `tests/fuzz/<target>/crash-<hash>.bin` so it can be committed as a seed. The test binary's
//! allocator refuses any single allocation over 512 MiB: a crafted size then ends the run
//! (with the input written and named) instead of exhausting the machine's memory, and a
//! watchdog does the same for an input that runs longer than a minute.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bertweb::classifier::Classifier;
use bertweb::data::{self, SeededRng};
use bertweb::features::{Extraction, FeatureSettings, Features};
use bertweb::stream::CsvStream;
use bertweb::train::{Preset, TrainSettings};
use bertweb::{BertTokenizer, Encoder, Pooling};
use burn::tensor::Device;
use common::{
    FEATURES_MAGIC, edit_meta, f32_bytes, features_file, join_safetensors, poke_f32,
    split_safetensors, tiny_encoder, tiny_files, tuned_file,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// The allocator and the watchdog.

/// The largest single allocation the fuzzed code may make: the tiny models need a few MiB.
const MAX_ALLOCATION: usize = 512 << 20;
/// The longest one input may run (the slowest take milliseconds).
const MAX_SECONDS_PER_INPUT: u64 = 60;

/// The system allocator, refusing allocations over [`MAX_ALLOCATION`] (the caller then gets
/// Rust's "memory allocation failed" abort, after [`report_stuck`] has named the input).
struct Capped;

unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOCATION {
            report_stuck(&format!("an allocation of {} bytes", layout.size()));
            return std::ptr::null_mut();
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOCATION {
            report_stuck(&format!("an allocation of {} bytes", layout.size()));
            return std::ptr::null_mut();
        }
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > MAX_ALLOCATION {
            report_stuck(&format!("a reallocation to {new_size} bytes"));
            return std::ptr::null_mut();
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Capped = Capped;

/// The input a target is running, for the allocator and the watchdog to name.
struct Slot {
    case: AtomicPtr<Case>,
    started_ms: AtomicU64,
}

const TARGETS: usize = 5;
static SLOTS: [Slot; TARGETS] = [const {
    Slot {
        case: AtomicPtr::new(std::ptr::null_mut()),
        started_ms: AtomicU64::new(0),
    }
}; TARGETS];
static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

fn now_ms() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// Names every running input and writes it as a crash file: called just before the process
/// ends (a refused allocation, an input that does not finish).
fn report_stuck(what: &str) {
    for slot in &SLOTS {
        let case = slot.case.load(Ordering::SeqCst);
        // SAFETY: a slot points at a `Case` on its fuzz loop's stack while that input runs,
        // and the process ends right after this report.
        if let Some(case) = unsafe { case.as_ref() } {
            let path = case.save();
            eprintln!(
                "fuzz: {what} while running {} ({}); the input is in {}",
                case.target,
                case.describe(),
                path.display()
            );
        }
    }
}

fn start_watchdog() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        std::thread::spawn(|| {
            loop {
                std::thread::sleep(Duration::from_secs(1));
                let now = now_ms();
                for slot in &SLOTS {
                    let started = slot.started_ms.load(Ordering::SeqCst);
                    let running = !slot.case.load(Ordering::SeqCst).is_null();
                    if running && now.saturating_sub(started) > MAX_SECONDS_PER_INPUT * 1000 {
                        report_stuck(&format!("no result after {MAX_SECONDS_PER_INPUT} s"));
                        std::process::abort();
                    }
                }
            }
        });
    });
}

// ---------------------------------------------------------------------------------------------
// The fuzz loop.

/// One input: where it came from and how it was made.
struct Case {
    target: &'static str,
    iteration: usize,
    seed: String,
    mutations: Vec<String>,
    input: Vec<u8>,
}

impl Case {
    fn describe(&self) -> String {
        format!(
            "iteration {}, BERTWEB_FUZZ_SEED={}, seed file {}, mutations [{}]",
            self.iteration,
            run_seed(),
            self.seed,
            self.mutations.join(", ")
        )
    }

    /// Writes the input where the next run picks it up as a seed.
    fn save(&self) -> PathBuf {
        let path = corpus_dir(self.target).join(format!("crash-{:016x}.bin", fnv(&self.input)));
        let _ = std::fs::write(&path, &self.input);
        path
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn corpus_dir(target: &str) -> PathBuf {
    common::root().join("tests/fuzz").join(target)
}

fn run_seed() -> u64 {
    std::env::var("BERTWEB_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_251_201)
}

fn iterations() -> usize {
    std::env::var("BERTWEB_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000)
}

/// The committed seeds of a target, by file name.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(corpus_dir(target))
        .unwrap_or_else(|e| panic!("no seed corpus for {target}: {e}"))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    seeds.sort();
    seeds
}

/// What a target does with one input (its bytes, its iteration, and whether it is a seed, which
/// every check runs on): `Ok` when the input was accepted (loaded), so the run can tell how
/// deep its inputs go, else the error it was refused with.
type Run<'a> = dyn FnMut(&[u8], usize, bool) -> Result<(), String> + 'a;
type Mutate = fn(&mut Vec<u8>, &mut SeededRng, &[(String, Vec<u8>)]) -> String;

/// Runs every seed of `target` (plus `extra` seeds that are not committed, such as the tiny
/// model's weights), then [`iterations`] mutants; fails naming every input that panicked.
fn fuzz(
    index: usize,
    target: &'static str,
    extra: Vec<(String, Vec<u8>)>,
    mutate: Mutate,
    run: &mut Run<'_>,
) {
    start_watchdog();
    let mut seeds = seeds(target);
    assert!(
        seeds.len() >= 20,
        "{target}: only {} seeds in tests/fuzz/{target}: run `cargo test --test fuzz -- --ignored write_seeds`",
        seeds.len()
    );
    seeds.extend(extra);
    let iterations = iterations();
    let verbose = std::env::var_os("BERTWEB_FUZZ_VERBOSE").is_some();
    let start = Instant::now();
    let (mut accepted, mut failures) = (0usize, Vec::new());
    for iteration in 0..seeds.len() + iterations {
        let mut case = Case {
            target,
            iteration,
            seed: String::new(),
            mutations: Vec::new(),
            input: Vec::new(),
        };
        if iteration < seeds.len() {
            case.seed.clone_from(&seeds[iteration].0);
            case.input.clone_from(&seeds[iteration].1);
        } else {
            let mut rng = SeededRng::new(
                run_seed()
                    ^ fnv(target.as_bytes())
                    ^ (iteration as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            );
            let pick = rng.below(seeds.len());
            case.seed.clone_from(&seeds[pick].0);
            case.input.clone_from(&seeds[pick].1);
            // Mostly one mutation (the input stays close to a valid file), sometimes up to 4.
            for _ in 0..1 + rng.below(8).saturating_sub(4) {
                let mutation = mutate(&mut case.input, &mut rng, &seeds);
                case.mutations.push(mutation);
            }
        }
        let slot = &SLOTS[index];
        slot.started_ms.store(now_ms(), Ordering::SeqCst);
        slot.case.store(&mut case, Ordering::SeqCst);
        let is_seed = iteration < seeds.len();
        let result = catch_unwind(AssertUnwindSafe(|| run(&case.input, iteration, is_seed)));
        slot.case.store(std::ptr::null_mut(), Ordering::SeqCst);
        if verbose && is_seed {
            eprintln!("fuzz {target}: seed {}: {result:?}", case.seed);
        }
        match result {
            Ok(Ok(())) => accepted += 1,
            Ok(Err(_)) => {}
            Err(payload) => {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let path = case.save();
                failures.push(format!(
                    "{} panicked: {message}\n    input written to {}",
                    case.describe(),
                    path.display()
                ));
            }
        }
    }
    let total = seeds.len() + iterations;
    eprintln!(
        "fuzz {target}: {total} inputs ({} seeds, {iterations} mutants) in {:.1} s, {accepted} accepted, {} panics",
        seeds.len(),
        start.elapsed().as_secs_f64(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "fuzz {target}: {} of {total} inputs panicked:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Mutations.

const INTERESTING_BYTES: &[u8] = &[
    0, 1, 0x7f, 0x80, 0xff, b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b'0', b'9', b'-',
    b'.', b'e', b'\n', b'\r', b' ', b';', b'\t', b'|', b'<', b'>', b'#',
];

const INTERESTING_STRINGS: &[&str] = &[
    "\"",
    "\"\"",
    ",",
    "\n",
    "\r\n",
    "\r",
    "{",
    "}",
    "[]",
    "null",
    "-1",
    "0",
    "1e999",
    "-0",
    "18446744073709551616",
    "NaN",
    "\\u0000",
    "\u{feff}",
    "\u{fffd}",
    "ÿ",
    "中",
    "😀",
    "##",
    "[UNK]",
    "<b>",
    "</b>",
    "&amp;",
    "\t",
    ";",
    "|",
    "\"\n\"",
];

const INTERESTING_U32: &[u32] = &[
    0,
    1,
    2,
    0x7f,
    0xff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x7fc0_0000, // f32 NaN
    0x7f80_0000, // f32 inf
    0xff80_0000, // f32 -inf
    0x7f7f_ffff, // f32 max
    0x0000_0001, // f32 smallest subnormal
];

const INTERESTING_U64: &[u64] = &[
    0,
    1,
    u64::MAX,
    1 << 32,
    1 << 62,
    i64::MAX as u64,
    0x7ff8_0000_0000_0000, // f64 NaN
];

const SPECIAL_F32: &[f32] = &[
    f32::NAN,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::MAX,
    -f32::MAX,
    f32::MIN_POSITIVE,
    1e-45,
    0.0,
    -0.0,
    1e30,
];

fn pick<'a, T>(rng: &mut SeededRng, items: &'a [T]) -> &'a T {
    &items[rng.below(items.len())]
}

/// A random position in `len` bytes (inclusive of the end).
fn position(rng: &mut SeededRng, len: usize) -> usize {
    rng.below(len + 1)
}

/// One byte-level mutation of `data`, using `other` (another seed) for splicing.
fn mutate_bytes(data: &mut Vec<u8>, rng: &mut SeededRng, other: &[u8]) -> String {
    let len = data.len();
    match rng.below(11) {
        0 if len > 0 => {
            let at = rng.below(len);
            data[at] ^= 1 << rng.below(8);
            format!("flip a bit at {at}")
        }
        1 if len > 0 => {
            let at = rng.below(len);
            data[at] = *pick(rng, INTERESTING_BYTES);
            format!("set byte {at} to {}", data[at])
        }
        2 if len >= 4 => {
            let at = rng.below(len - 3);
            let value = *pick(rng, INTERESTING_U32);
            data[at..at + 4].copy_from_slice(&value.to_le_bytes());
            format!("write u32 {value:#x} at {at}")
        }
        3 if len >= 8 => {
            let at = rng.below(len - 7);
            let value = *pick(rng, INTERESTING_U64);
            data[at..at + 8].copy_from_slice(&value.to_le_bytes());
            format!("write u64 {value:#x} at {at}")
        }
        4 => {
            let at = position(rng, len);
            data.truncate(at);
            format!("truncate to {at}")
        }
        5 => {
            let at = position(rng, len);
            let text = *pick(rng, INTERESTING_STRINGS);
            data.splice(at..at, text.bytes());
            format!("insert {text:?} at {at}")
        }
        6 => {
            let at = position(rng, len);
            let n = 1 + rng.below(16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.below(256) as u8).collect();
            data.splice(at..at, bytes);
            format!("insert {n} random bytes at {at}")
        }
        7 if len > 0 => {
            let at = rng.below(len);
            let end = (at + 1 + rng.below(64)).min(len);
            data.drain(at..end);
            format!("delete {at}..{end}")
        }
        8 if len > 0 => {
            let at = rng.below(len);
            let end = (at + 1 + rng.below(64)).min(len);
            let copy = data[at..end].to_vec();
            let to = position(rng, len);
            data.splice(to..to, copy);
            format!("copy {at}..{end} to {to}")
        }
        9 => {
            let at = position(rng, len);
            let from = position(rng, other.len());
            data.truncate(at);
            data.extend_from_slice(&other[from..]);
            format!("splice another seed from {from} at {at}")
        }
        _ => {
            // A run of ASCII digits replaced by an interesting number.
            let starts: Vec<usize> = (0..len)
                .filter(|&i| data[i].is_ascii_digit() && (i == 0 || !data[i - 1].is_ascii_digit()))
                .collect();
            if starts.is_empty() {
                data.push(b'0');
                return "append 0".into();
            }
            let at = *pick(rng, &starts);
            let end = (at..len)
                .find(|&i| !data[i].is_ascii_digit())
                .unwrap_or(len);
            let number = interesting_number(rng, 0.0).to_string();
            data.splice(at..end, number.bytes());
            format!("number at {at} becomes {number}")
        }
    }
}

/// A number likely to find an edge: limits, powers of two, fractions, or `near` nudged.
fn interesting_number(rng: &mut SeededRng, near: f64) -> Value {
    match rng.below(4) {
        0 => json!(*pick(
            rng,
            &[
                0u64,
                1,
                2,
                3,
                4,
                7,
                8,
                31,
                32,
                33,
                255,
                256,
                1000,
                1001,
                65_535,
                65_536,
                1 << 31,
                1 << 32,
                1 << 40,
                1 << 53,
                1 << 62,
                u64::MAX
            ]
        )),
        1 => json!(*pick(rng, &[-1i64, -2, i64::MIN, i64::MAX])),
        2 => json!(*pick(
            rng,
            &[
                0.5,
                0.999_999,
                1.0,
                1.5,
                -0.5,
                -0.0,
                1e-300,
                1e-45,
                1e300,
                f64::MAX,
                f64::MIN_POSITIVE,
                0.2
            ]
        )),
        _ => {
            let nudged = match rng.below(5) {
                0 => near + 1.0,
                1 => near - 1.0,
                2 => near * 2.0,
                3 => near * 1000.0,
                _ => -near,
            };
            if nudged.fract() == 0.0 && nudged.abs() < 1e18 {
                json!(nudged as i64)
            } else {
                json!(nudged)
            }
        }
    }
}

const INTERESTING_JSON_STRINGS: &[&str] = &[
    "",
    "WordPiece",
    "BPE",
    "Unigram",
    "WordLevel",
    "Sequence",
    "BertNormalizer",
    "Bert",
    "Precompiled",
    "Split",
    "ByteLevel",
    "Metaspace",
    "Replace",
    "Lowercase",
    "Whitespace",
    "BertPreTokenizer",
    "CharDelimiterSplit",
    "Digits",
    "Punctuation",
    "Strip",
    "NFD",
    "mean",
    "pooler",
    "cls",
    "standard",
    "tutorial",
    "linear",
    "default",
    "binary",
    "three",
    "five",
    "named",
    "amazon",
    "auto",
    "comma",
    "tab",
    "F32",
    "F16",
    "BF16",
    "F64",
    "I64",
    "U8",
    "BOOL",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[PAD]",
    "##",
    "bert",
    "gpt2",
    "gelu",
    "relu",
    "gelu_new",
    "swish",
    "absolute",
    "relative_key",
    "bertweb-classifier/1",
    "validation_auroc",
    "train_accuracy",
    "\u{0}",
    "😀",
    "\\",
    "(",
    "[",
    "*",
];

/// JSON pointers of every node of `value` (at most a few thousand).
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    if out.len() > 4000 {
        return;
    }
    out.push(at.clone());
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                pointers(item, format!("{at}/{i}"), out);
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                let key = key.replace('~', "~0").replace('/', "~1");
                pointers(item, format!("{at}/{key}"), out);
            }
        }
        _ => {}
    }
}

/// One edit of a random node of `value`; `donor` lends nodes to copy in.
fn mutate_json(value: &mut Value, rng: &mut SeededRng, donor: &Value) -> String {
    let mut nodes = Vec::new();
    pointers(value, String::new(), &mut nodes);
    let at = pick(rng, &nodes).clone();
    let node = value.pointer_mut(&at).expect("a pointer just listed");
    let what = match (rng.below(6), &mut *node) {
        (0, _) => {
            let mut donors = Vec::new();
            pointers(donor, String::new(), &mut donors);
            let from = pick(rng, &donors);
            *node = donor.pointer(from).cloned().unwrap_or(Value::Null);
            format!("copy {from} in")
        }
        (1, _) => {
            *node = pick(
                rng,
                &[
                    Value::Null,
                    json!(true),
                    json!(false),
                    json!(0),
                    json!(""),
                    json!([]),
                    json!({}),
                ],
            )
            .clone();
            format!("set to {node}")
        }
        (_, Value::Number(n)) => {
            let near = n.as_f64().unwrap_or(0.0);
            *node = interesting_number(rng, near);
            format!("set to {node}")
        }
        (_, Value::String(s)) => {
            match rng.below(3) {
                0 => *s = pick(rng, INTERESTING_JSON_STRINGS).to_string(),
                1 => {
                    let text: &&str = pick(rng, INTERESTING_STRINGS);
                    s.push_str(text);
                }
                _ => *s = "a".repeat(1 + rng.below(5000)),
            }
            format!("set to {:.40}", node.to_string())
        }
        (_, Value::Array(items)) => match rng.below(4) {
            0 => {
                items.clear();
                "empty".into()
            }
            1 if !items.is_empty() => {
                items.remove(rng.below(items.len()));
                "remove an item".into()
            }
            2 if !items.is_empty() => {
                let item = items[rng.below(items.len())].clone();
                let n = 1 + rng.below(3);
                items.extend(std::iter::repeat_n(item, n));
                format!("repeat an item {n} times")
            }
            _ => {
                items.push(interesting_number(rng, 1.0));
                "push a number".into()
            }
        },
        (_, Value::Object(fields)) if !fields.is_empty() && rng.below(2) == 0 => {
            let key = fields.keys().nth(rng.below(fields.len())).unwrap().clone();
            fields.remove(&key);
            format!("remove key {key}")
        }
        (_, Value::Object(fields)) => {
            let key = pick(
                rng,
                &[
                    "type",
                    "vocab",
                    "model",
                    "shape",
                    "unk_token",
                    "hidden",
                    "x",
                ],
            );
            fields.insert(key.to_string(), interesting_number(rng, 1.0));
            format!("add key {key}")
        }
        (_, other) => {
            *other = interesting_number(rng, 1.0);
            format!("set to {other}")
        }
    };
    format!("json {at}: {what}")
}

/// A JSON document's bytes edited by [`mutate_json`], or `None` if they are not JSON.
fn mutate_json_bytes(bytes: &[u8], rng: &mut SeededRng, donor: &[u8]) -> Option<(Vec<u8>, String)> {
    let mut value: Value = serde_json::from_slice(bytes).ok()?;
    let donor: Value = serde_json::from_slice(donor).unwrap_or(Value::Null);
    let what = mutate_json(&mut value, rng, &donor);
    Some((serde_json::to_vec(&value).ok()?, what))
}

/// Another seed than the input, for splicing and donated JSON nodes.
fn other_seed<'a>(rng: &mut SeededRng, seeds: &'a [(String, Vec<u8>)]) -> &'a [u8] {
    &pick(rng, seeds).1
}

/// One mutation of a safetensors file: its header's JSON, the JSON of its `bertweb`
/// metadata (classifiers), a special float in its data, or its bytes.
fn mutate_safetensors(bytes: &mut Vec<u8>, rng: &mut SeededRng, donor: &[u8]) -> String {
    let parsed = split_safetensors(bytes).map(|(h, d)| (h, d.to_vec()));
    let donor_header = split_safetensors(donor)
        .map(|(h, _)| h)
        .unwrap_or(Value::Null);
    let Some((mut header, mut data)) = parsed else {
        return mutate_bytes(bytes, rng, donor);
    };
    let choice = rng.below(10);
    let meta = header
        .pointer("/__metadata__/bertweb")
        .and_then(Value::as_str)
        .and_then(|m| serde_json::from_str::<Value>(m).ok());
    let what = match (choice, meta) {
        (0..=3, Some(mut meta)) => {
            let donor_meta = donor_header
                .pointer("/__metadata__/bertweb")
                .and_then(Value::as_str)
                .and_then(|m| serde_json::from_str(m).ok())
                .unwrap_or(Value::Null);
            let what = mutate_json(&mut meta, rng, &donor_meta);
            header["__metadata__"]["bertweb"] = Value::String(meta.to_string());
            format!("metadata {what}")
        }
        (0..=5, _) => format!("header {}", mutate_json(&mut header, rng, &donor_header)),
        (6 | 7, _) if data.len() >= 4 => {
            let at = rng.below(data.len() / 4) * 4;
            let value = *pick(rng, SPECIAL_F32);
            data[at..at + 4].copy_from_slice(&value.to_le_bytes());
            format!("data: f32 {value} at {at}")
        }
        _ => return mutate_bytes(bytes, rng, donor),
    };
    *bytes = join_safetensors(&header, &data);
    what
}

fn mutate_classifier(
    bytes: &mut Vec<u8>,
    rng: &mut SeededRng,
    seeds: &[(String, Vec<u8>)],
) -> String {
    let donor = other_seed(rng, seeds);
    mutate_safetensors(bytes, rng, donor)
}

/// The encoder target's input: a little-endian u32 length, `config.json`, `model.safetensors`.
fn encoder_input(config: &[u8], weights: &[u8]) -> Vec<u8> {
    let mut bytes = (config.len() as u32).to_le_bytes().to_vec();
    bytes.extend_from_slice(config);
    bytes.extend_from_slice(weights);
    bytes
}

fn split_encoder_input(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let n = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let end = 4usize.checked_add(n)?;
    Some((bytes.get(4..end)?, &bytes[end..]))
}

fn mutate_encoder(bytes: &mut Vec<u8>, rng: &mut SeededRng, seeds: &[(String, Vec<u8>)]) -> String {
    let donor = other_seed(rng, seeds);
    let (Some((config, weights)), Some((donor_config, donor_weights))) =
        (split_encoder_input(bytes), split_encoder_input(donor))
    else {
        return mutate_bytes(bytes, rng, donor);
    };
    let (mut config, mut weights) = (config.to_vec(), weights.to_vec());
    let what = match rng.below(10) {
        0..=3 => match mutate_json_bytes(&config, rng, donor_config) {
            Some((edited, what)) => {
                config = edited;
                format!("config {what}")
            }
            None => format!("config {}", mutate_bytes(&mut config, rng, donor_config)),
        },
        4..=6 => format!(
            "weights {}",
            mutate_safetensors(&mut weights, rng, donor_weights)
        ),
        7 => format!("config {}", mutate_bytes(&mut config, rng, donor_config)),
        8 => format!("weights {}", mutate_bytes(&mut weights, rng, donor_weights)),
        _ => return mutate_bytes(bytes, rng, donor),
    };
    *bytes = encoder_input(&config, &weights);
    what
}

fn mutate_tokenizer(
    bytes: &mut Vec<u8>,
    rng: &mut SeededRng,
    seeds: &[(String, Vec<u8>)],
) -> String {
    let donor = other_seed(rng, seeds);
    if rng.below(10) < 7
        && let Some((edited, what)) = mutate_json_bytes(bytes, rng, donor)
    {
        *bytes = edited;
        return what;
    }
    if rng.below(3) == 0 {
        // vocab.txt: lines repeated, dropped or swapped.
        let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
        let n = lines.len();
        let (i, j) = (rng.below(n), rng.below(n));
        let what = match rng.below(3) {
            0 => {
                lines.insert(j, lines[i]);
                format!("repeat line {i} at {j}")
            }
            1 => {
                lines.remove(i);
                format!("remove line {i}")
            }
            _ => {
                lines.swap(i, j);
                format!("swap lines {i} and {j}")
            }
        };
        *bytes = lines.join(&b'\n');
        return what;
    }
    mutate_bytes(bytes, rng, donor)
}

fn split_features(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = bytes.strip_prefix(FEATURES_MAGIC)?;
    let n = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let end = 4usize.checked_add(n)?;
    Some((rest.get(4..end)?, &rest[end..]))
}

fn mutate_features(
    bytes: &mut Vec<u8>,
    rng: &mut SeededRng,
    seeds: &[(String, Vec<u8>)],
) -> String {
    let donor = other_seed(rng, seeds);
    let (Some((header, data)), donor_header) = (
        split_features(bytes),
        split_features(donor).map_or(&[][..], |(h, _)| h),
    ) else {
        return mutate_bytes(bytes, rng, donor);
    };
    let (mut header, mut data) = (header.to_vec(), data.to_vec());
    let what = match rng.below(10) {
        0..=3 => match mutate_json_bytes(&header, rng, donor_header) {
            Some((edited, what)) => {
                header = edited;
                format!("header {what}")
            }
            None => format!("header {}", mutate_bytes(&mut header, rng, donor_header)),
        },
        4 | 5 if data.len() >= 4 => {
            let at = rng.below(data.len() / 4) * 4;
            let value = *pick(rng, SPECIAL_F32);
            data[at..at + 4].copy_from_slice(&value.to_le_bytes());
            format!("data: f32 {value} at {at}")
        }
        6 => {
            let n = 1 + rng.below(8);
            let cut = if rng.below(2) == 0 { 4 * n } else { n };
            data.truncate(data.len().saturating_sub(cut));
            format!("data: {cut} bytes cut")
        }
        _ => return mutate_bytes(bytes, rng, donor),
    };
    *bytes = features_file(&header, &data);
    what
}

/// The data target's input: one line of JSON (`{"settings": data::Settings,
/// "test_fraction_bits": u64?}`, the bits overriding the fraction so that NaN and infinities,
/// which JSON cannot write, are tried too), then the CSV bytes.
fn data_input(settings: &Value, csv: &[u8]) -> Vec<u8> {
    let mut bytes = settings.to_string().into_bytes();
    bytes.push(b'\n');
    bytes.extend_from_slice(csv);
    bytes
}

fn split_data_input(bytes: &[u8]) -> (&[u8], &[u8]) {
    match bytes.iter().position(|&b| b == b'\n') {
        Some(at) => (&bytes[..at], &bytes[at + 1..]),
        None => (bytes, &[]),
    }
}

/// Settings as the data target reads them: unreadable settings are the defaults.
fn data_settings(line: &[u8]) -> data::Settings {
    let wrapper: Value = serde_json::from_slice(line).unwrap_or(Value::Null);
    let mut settings: data::Settings =
        serde_json::from_value(wrapper["settings"].clone()).unwrap_or_default();
    if let Some(bits) = wrapper["test_fraction_bits"].as_u64() {
        settings.test_fraction = f64::from_bits(bits);
    }
    settings
}

/// Random settings, field by field over the defaults (a field the current `data::Settings`
/// does not read is left out), with column names from the CSV's first line.
fn random_settings(rng: &mut SeededRng, csv: &[u8]) -> Value {
    let header: Vec<String> = csv
        .split(|&b| b == b'\n')
        .next()
        .map(|line| {
            String::from_utf8_lossy(line)
                .split([',', ';', '\t', '|'])
                .map(|c| c.trim_matches(['"', ' ', '\r']).to_string())
                .collect()
        })
        .unwrap_or_default();
    let column = |rng: &mut SeededRng| -> Value {
        match rng.below(6) {
            0 => json!("Text"),
            1 => json!("no such column"),
            _ if !header.is_empty() => json!(pick(rng, &header)),
            _ => json!(""),
        }
    };
    let mut settings = serde_json::to_value(data::Settings::default()).unwrap();
    let mut fields: Vec<(&str, Value)> = vec![
        (
            "columns",
            if rng.below(3) == 0 {
                json!("amazon")
            } else {
                json!({"named": {"text": column(rng), "label": column(rng)}})
            },
        ),
        (
            "label_mode",
            json!(pick(rng, &["binary", "three", "five", "named"])),
        ),
        (
            "delimiter",
            json!(pick(rng, &["auto", "comma", "semicolon", "tab", "pipe"])),
        ),
        (
            "split_column",
            if rng.below(4) == 0 {
                column(rng)
            } else {
                Value::Null
            },
        ),
        (
            "max_words",
            json!(pick(
                rng,
                &[None, Some(0u64), Some(1), Some(3), Some(50), Some(u64::MAX)]
            )),
        ),
        (
            "sample_size",
            json!(pick(
                rng,
                &[
                    None,
                    Some(0u64),
                    Some(1),
                    Some(2),
                    Some(3),
                    Some(10),
                    Some(u64::MAX)
                ]
            )),
        ),
        ("seed", json!(rng.next_u64())),
        (
            "test_fraction",
            json!(pick(
                rng,
                &[0.2, 0.0, 1.0, -0.5, 1e-9, 0.5, 0.999_999, 2.0, 1e300]
            )),
        ),
        ("strip_html", json!(rng.below(2) == 0)),
    ];
    rng.shuffle(&mut fields);
    for (key, value) in fields {
        let mut tried = settings.clone();
        tried[key] = value;
        if serde_json::from_value::<data::Settings>(tried.clone()).is_ok() {
            settings = tried;
        }
    }
    let bits = match rng.below(8) {
        0 => json!(pick(rng, &[f64::NAN, f64::INFINITY, f64::NEG_INFINITY]).to_bits()),
        _ => Value::Null,
    };
    json!({"settings": settings, "test_fraction_bits": bits})
}

fn mutate_data(bytes: &mut Vec<u8>, rng: &mut SeededRng, seeds: &[(String, Vec<u8>)]) -> String {
    let donor = other_seed(rng, seeds);
    let (line, csv) = split_data_input(bytes);
    let (line, mut csv) = (line.to_vec(), csv.to_vec());
    let (donor_line, donor_csv) = split_data_input(donor);
    let mut settings: Value = serde_json::from_slice(&line).unwrap_or(Value::Null);
    let what = match rng.below(10) {
        0 | 1 => {
            settings = random_settings(rng, &csv);
            format!("settings {settings}")
        }
        2 => {
            let donor: Value = serde_json::from_slice(donor_line).unwrap_or(Value::Null);
            format!("settings {}", mutate_json(&mut settings, rng, &donor))
        }
        3 | 4 => {
            // CSV lines repeated, dropped or swapped.
            let mut lines: Vec<Vec<u8>> = csv.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
            let n = lines.len();
            let (i, j) = (rng.below(n), rng.below(n));
            let what = match rng.below(3) {
                0 => {
                    let copy = lines[i].clone();
                    lines.insert(j, copy);
                    format!("repeat line {i} at {j}")
                }
                1 => {
                    lines.remove(i);
                    format!("remove line {i}")
                }
                _ => {
                    lines.swap(i, j);
                    format!("swap lines {i} and {j}")
                }
            };
            csv = lines.join(&b'\n');
            what
        }
        _ => format!("csv {}", mutate_bytes(&mut csv, rng, donor_csv)),
    };
    *bytes = data_input(&settings, &csv);
    what
}

// ---------------------------------------------------------------------------------------------
// The targets.

/// Texts that stress a tokenizer: empty, long words, scripts, emoji, markup, specials.
fn texts() -> Vec<String> {
    vec![
        String::new(),
        "Great coffee, will buy again!".into(),
        "<b>Stale</b> &amp; tasteless… ünïcödé 中文 😀".into(),
        "a".repeat(300),
        "[UNK] [CLS] ## ##s \u{0} \u{feff} \u{ffff}".into(),
        "word ".repeat(80),
    ]
}

/// Loaded classifiers are run on texts every this many (a classification of the tiny model
/// costs more than most loads).
const CLASSIFY_EVERY: usize = 2;

#[test]
fn fuzz_classifier_files() {
    let encoder = tiny_encoder();
    let device = Device::flex();
    let texts = texts();
    let mut loaded = 0usize;
    fuzz(
        0,
        "classifier",
        Vec::new(),
        mutate_classifier,
        &mut |input, _, seed| {
            let classifier = Classifier::from_bytes(input, &device).map_err(|e| e.to_string())?;
            loaded += 1;
            if seed || loaded.is_multiple_of(CLASSIFY_EVERY) {
                if let Ok(predictions) = pollster::block_on(classifier.classify(&encoder, &texts)) {
                    assert_eq!(predictions.len(), texts.len());
                    for p in &predictions {
                        assert_eq!(p.probabilities.len(), classifier.meta.label_names.len());
                    }
                }
                if !classifier.is_fine_tuned() {
                    let dim = classifier.meta.shape.input;
                    let _ = pollster::block_on(classifier.predict(&vec![0.25; 2 * dim], &device));
                }
                // What was accepted is written and read back.
                let bytes = pollster::block_on(classifier.to_bytes()).unwrap();
                let again = Classifier::from_bytes(&bytes, &device).unwrap();
                assert_eq!(again.meta, classifier.meta);
            }
            Ok(())
        },
    );
}

#[test]
fn fuzz_tokenizer_files() {
    let texts = texts();
    fuzz(
        1,
        "tokenizer",
        Vec::new(),
        mutate_tokenizer,
        &mut |input, iteration, _| {
            let tokenizer = BertTokenizer::from_bytes(input).map_err(|e| e.to_string())?;
            let max_len = [0, 1, 2, 3, 16, 512][iteration % 6];
            for text in &texts {
                if let Ok(ids) = tokenizer.encode(text, max_len) {
                    assert!(
                        ids.len() <= max_len.max(2),
                        "{} ids for max {max_len}",
                        ids.len()
                    );
                }
                let _ = tokenizer.pieces(text);
            }
            let _ = tokenizer.batch(&texts, 16);
            let _ = tokenizer.vocab_size();
            Ok(())
        },
    );
}

/// Loaded encoders embed texts every this many.
const EMBED_EVERY: usize = 2;

#[test]
fn fuzz_encoder_files() {
    let (config, weights, tokenizer) = tiny_files();
    let device = Device::flex();
    let texts = ["good coffee", ""];
    let mut loaded = 0usize;
    let extra = vec![(
        "tests/fixtures/tiny".to_string(),
        encoder_input(&config, &weights),
    )];
    fuzz(
        2,
        "encoder",
        extra,
        mutate_encoder,
        &mut |input, _, seed| {
            let (config, weights) = split_encoder_input(input).ok_or("no config length")?;
            let encoder =
                Encoder::load(config, weights, &tokenizer, &device).map_err(|e| e.to_string())?;
            loaded += 1;
            if seed || loaded.is_multiple_of(EMBED_EVERY) {
                for pooling in [Pooling::Mean, Pooling::Pooler] {
                    if let Ok(vectors) = pollster::block_on(encoder.embed(&texts, pooling, 16)) {
                        assert_eq!(vectors.len(), texts.len() * encoder.dim());
                    }
                }
            }
            Ok(())
        },
    );
}

#[test]
fn fuzz_features_files() {
    fuzz(
        3,
        "features",
        Vec::new(),
        mutate_features,
        &mut |input, _, _| {
            let features = Features::from_bytes(input).map_err(|e| e.to_string())?;
            assert_eq!(features.values.len(), features.rows * features.dim);
            assert!(features.values.iter().all(|v| v.is_finite()));
            let _ = features.row(features.rows - 1);
            assert_eq!(
                Features::from_bytes(&features.to_bytes()).unwrap(),
                features
            );
            Ok(())
        },
    );
}

#[test]
fn fuzz_csv_files_and_preprocessing() {
    fuzz(4, "data", Vec::new(), mutate_data, &mut |input, _, _| {
        let (line, csv) = split_data_input(input);
        let settings = data_settings(line);
        // The same file read as a stream, in chunks cut somewhere in the file: never a panic,
        // and when the sample holds every row, what reading it whole gives.
        let streamed = CsvStream::new(&settings).and_then(|mut stream| {
            for chunk in csv.chunks(1 + csv.len() % 97) {
                stream.push(chunk)?;
            }
            stream.finish()
        });
        let dataset = data::load(csv, &settings).map_err(|e| e.to_string())?;
        if settings.sample_size.is_some() && dataset.counts.dropped_by_sampling == 0 {
            let streamed = streamed.expect("the whole file was read, so the stream must be too");
            assert_eq!(
                (&streamed.train, &streamed.test, &streamed.counts),
                (&dataset.train, &dataset.test, &dataset.counts)
            );
        }
        let classes = dataset.label_names.len();
        for example in dataset.train.iter().chain(&dataset.test) {
            assert!(
                example.label < classes,
                "label {} of {classes}",
                example.label
            );
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// The seed corpus: `cargo test --test fuzz -- --ignored write_seeds` (re)writes the seeds
// below; the crash files a run leaves beside them stay.

fn write_seed(target: &str, name: &str, bytes: &[u8]) {
    let dir = corpus_dir(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

/// A head trained on features of width `dim` that separate `classes` classes, as a file
/// claiming `model_id`.
fn trained_head(
    dim: usize,
    classes: usize,
    model_id: &str,
    settings: TrainSettings,
    features: FeatureSettings,
) -> Vec<u8> {
    let rows = common::labelled_rows(11, 30, dim, classes, |l, j, u| {
        (if j % classes == l { 1.0 } else { 0.0 }) + u * 0.3
    });
    let names = (0..classes).map(|c| format!("class {c}")).collect();
    common::head_file(&rows, dim, names, model_id, settings, features)
}

fn write_classifier_seeds(encoder: &Encoder) {
    let id = encoder.model_id();
    let dim = encoder.dim();
    let small = |preset: Preset, hidden: Vec<usize>| {
        let mut s = TrainSettings::preset(preset);
        s.hidden = hidden;
        s.epochs = 2;
        s.l2.truncate(2);
        s
    };
    let features = FeatureSettings::default();
    let pooler = FeatureSettings {
        pooling: Pooling::Pooler,
        max_len: 32,
    };
    let linear = trained_head(dim, 2, id, small(Preset::Linear, vec![]), features);
    let default = trained_head(dim, 2, id, small(Preset::Default, vec![8]), features);
    let tutorial = trained_head(dim, 2, id, small(Preset::Tutorial, vec![8, 4, 4]), features);
    let one_layer = tuned_file(encoder, "tea", 10, 1, Pooling::Mean);
    let seeds = [
        ("seed-linear.bin", linear.clone()),
        ("seed-default.bin", default.clone()),
        ("seed-tutorial.bin", tutorial.clone()),
        (
            "seed-three-classes.bin",
            trained_head(dim, 3, id, small(Preset::Default, vec![6]), features),
        ),
        (
            "seed-five-classes.bin",
            trained_head(dim, 5, id, small(Preset::Tutorial, vec![6, 6]), features),
        ),
        (
            "seed-pooler.bin",
            trained_head(dim, 2, id, small(Preset::Linear, vec![]), pooler),
        ),
        (
            "seed-narrow.bin",
            trained_head(16, 2, id, small(Preset::Linear, vec![]), features),
        ),
        (
            "seed-other-model.bin",
            trained_head(
                dim,
                2,
                "bert-2x32-0000",
                small(Preset::Linear, vec![]),
                features,
            ),
        ),
        ("seed-tuned-1-layer.bin", one_layer.clone()),
        (
            "seed-tuned-0-layers.bin",
            tuned_file(encoder, "tea", 10, 0, Pooling::Mean),
        ),
        (
            "seed-tuned-pooler.bin",
            tuned_file(encoder, "tea", 10, 1, Pooling::Pooler),
        ),
        // The crashes of issue "No file can break the page", and their neighbours.
        (
            "crash-empty-standardizer.bin",
            edit_meta(&default, |m| {
                m["standardizer"] = json!({"mean": [], "scale": []});
            }),
        ),
        (
            "crash-standardizer-length.bin",
            edit_meta(&default, |m| {
                m["standardizer"]["mean"]
                    .as_array_mut()
                    .unwrap()
                    .truncate(5);
            }),
        ),
        (
            "crash-first-layer-past-the-encoder.bin",
            edit_meta(&one_layer, |m| m["fine_tune"]["first_layer"] = json!(5)),
        ),
        (
            "crash-dropout-1.bin",
            edit_meta(&default, |m| m["shape"]["dropout"] = json!(1.0)),
        ),
        (
            "crash-huge-hidden.bin",
            edit_meta(&default, |m| m["shape"]["hidden"] = json!([1u64 << 40])),
        ),
        (
            "crash-huge-input.bin",
            edit_meta(&linear, |m| m["shape"]["input"] = json!(1u64 << 40)),
        ),
        (
            "crash-label-names.bin",
            edit_meta(&linear, |m| m["label_names"] = json!(["only one"])),
        ),
        (
            "crash-one-class.bin",
            edit_meta(&linear, |m| m["shape"]["classes"] = json!(1)),
        ),
        (
            "crash-nan-weight.bin",
            poke_f32(&default, "hidden.0.weight", f32::NAN),
        ),
        (
            "crash-inf-weight.bin",
            poke_f32(&one_layer, "layers.0.attention.query.weight", f32::INFINITY),
        ),
        (
            "crash-heads.bin",
            edit_meta(&one_layer, |m| {
                m["fine_tune"]["layer_shape"]["heads"] = json!(5)
            }),
        ),
        (
            "crash-max-len-past-positions.bin",
            edit_meta(&linear, |m| m["features"]["max_len"] = json!(100)),
        ),
        (
            "crash-hidden-width-0.bin",
            edit_meta(&tutorial, |m| m["shape"]["hidden"] = json!([0, 4, 4])),
        ),
    ];
    for (name, bytes) in seeds {
        write_seed("classifier", name, &bytes);
    }
}

fn write_tokenizer_seeds() {
    let (_, _, tokenizer) = tiny_files();
    let tiny: Value = serde_json::from_slice(&tokenizer).unwrap();
    let vocab_txt = common::read("tests/fixtures/tiny/vocab.txt");
    let with = |key: &str, value: Value| {
        let mut t = tiny.clone();
        t[key] = value;
        t.to_string().into_bytes()
    };
    let with_model = |key: &str, value: Value| {
        let mut t = tiny.clone();
        t["model"][key] = value;
        t.to_string().into_bytes()
    };
    let mut untyped = tiny.clone();
    untyped["model"].as_object_mut().unwrap().remove("type");
    let mut no_pad = tiny.clone();
    no_pad["model"]["vocab"]
        .as_object_mut()
        .unwrap()
        .remove("[PAD]");
    no_pad["added_tokens"] = json!([]);
    let small_vocab =
        json!({"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "[PAD]": 3, "a": 4, "b": 5, "ab": 6});
    let bpe = json!({
        "version": "1.0",
        "model": {
            "type": "BPE", "vocab": small_vocab, "merges": ["a b"], "unk_token": "[UNK]",
            "continuing_subword_prefix": "##", "end_of_word_suffix": null,
            "dropout": null, "fuse_unk": false, "byte_fallback": false
        }
    });
    let crlf: Vec<u8> = String::from_utf8_lossy(&vocab_txt)
        .replace('\n', "\r\n")
        .into_bytes();
    let mut cased = vocab_txt.clone();
    cased.extend(b"Coffee\nTea\n");
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("seed-tiny.json", tokenizer.clone()),
        ("seed-minified.json", tiny.to_string().into_bytes()),
        ("seed-vocab.txt", vocab_txt.clone()),
        ("seed-vocab-crlf.txt", crlf),
        ("seed-vocab-cased.txt", cased),
        ("seed-no-normalizer.json", with("normalizer", Value::Null)),
        (
            "seed-normalizer-sequence.json",
            with(
                "normalizer",
                json!({"type": "Sequence", "normalizers": [
                    {"type": "NFD"}, {"type": "Lowercase"}, {"type": "StripAccents"},
                    {"type": "Strip", "strip_left": true, "strip_right": true},
                    {"type": "Replace", "pattern": {"String": "``"}, "content": "\""},
                    {"type": "Prepend", "prepend": "▁"}, {"type": "Nmt"}
                ]}),
            ),
        ),
        (
            "seed-cased-normalizer.json",
            with(
                "normalizer",
                json!({"type": "BertNormalizer", "clean_text": false, "handle_chinese_chars": false,
                       "strip_accents": null, "lowercase": false}),
            ),
        ),
        (
            "seed-pre-tokenizer-sequence.json",
            with(
                "pre_tokenizer",
                json!({"type": "Sequence", "pretokenizers": [
                    {"type": "WhitespaceSplit"},
                    {"type": "Punctuation", "behavior": "Isolated"},
                    {"type": "Digits", "individual_digits": true},
                    {"type": "UnicodeScripts"}
                ]}),
            ),
        ),
        (
            "seed-split-regex.json",
            with(
                "pre_tokenizer",
                json!({"type": "Split", "pattern": {"Regex": "\\s+|[.,!?]"},
                       "behavior": "Removed", "invert": false}),
            ),
        ),
        (
            "seed-char-delimiter.json",
            with(
                "pre_tokenizer",
                json!({"type": "CharDelimiterSplit", "delimiter": " "}),
            ),
        ),
        (
            "seed-whitespace.json",
            with("pre_tokenizer", json!({"type": "Whitespace"})),
        ),
        (
            "seed-max-chars-4.json",
            with_model("max_input_chars_per_word", json!(4)),
        ),
        (
            "seed-empty-prefix.json",
            with_model("continuing_subword_prefix", json!("")),
        ),
        (
            "seed-added-tokens.json",
            with(
                "added_tokens",
                json!([{"id": 500, "content": "coffee time", "single_word": false, "lstrip": true,
                        "rstrip": true, "normalized": true, "special": false},
                       {"id": 0, "content": "[PAD]", "single_word": false, "lstrip": false,
                        "rstrip": false, "normalized": false, "special": true}]),
            ),
        ),
        ("seed-padding-truncation.json", {
            let mut t = tiny.clone();
            t["truncation"] = json!({"direction": "Right", "max_length": 8, "strategy": "LongestFirst", "stride": 0});
            t["padding"] = json!({"strategy": {"Fixed": 128}, "direction": "Right", "pad_to_multiple_of": null,
                                      "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"});
            t.to_string().into_bytes()
        }),
        (
            "crash-bpe-continuing-prefix.json",
            bpe.to_string().into_bytes(),
        ),
        (
            "crash-unigram.json",
            with(
                "model",
                json!({"type": "Unigram", "unk_id": 0, "vocab": [["[UNK]", 0.0], ["a", -1.0]]}),
            ),
        ),
        (
            "crash-wordlevel.json",
            with(
                "model",
                json!({"type": "WordLevel", "vocab": small_vocab, "unk_token": "[UNK]"}),
            ),
        ),
        ("crash-untyped-model.json", untyped.to_string().into_bytes()),
        (
            "crash-precompiled.json",
            with(
                "normalizer",
                json!({"type": "Precompiled", "precompiled_charsmap": "AAAAAAAA"}),
            ),
        ),
        ("crash-no-pad.json", no_pad.to_string().into_bytes()),
        (
            "crash-unk-outside.json",
            with_model("unk_token", json!("<unk>")),
        ),
        ("crash-not-utf8.txt", vec![0xff, 0xfe, 0x00, 0x81, b'\n']),
    ];
    for (name, bytes) in seeds {
        write_seed("tokenizer", name, &bytes);
    }
}

/// A random BERT of tiny sizes in Hugging Face's layout (`bert.`-prefixed or bare names,
/// `gamma`/`beta` or `weight`/`bias` LayerNorms, F32/F16/BF16), with the tiny model's
/// vocabulary so its tokenizer fits.
#[derive(Clone)]
struct Micro {
    hidden: usize,
    heads: usize,
    intermediate: usize,
    layers: usize,
    vocab: usize,
    positions: usize,
    act: &'static str,
    dtype: &'static str,
    prefix: &'static str,
    gamma: bool,
    pooler: bool,
}

impl Micro {
    fn new() -> Self {
        Micro {
            hidden: 8,
            heads: 2,
            intermediate: 6,
            layers: 1,
            vocab: 241,
            positions: 32,
            act: "gelu",
            dtype: "F32",
            prefix: "",
            gamma: false,
            pooler: true,
        }
    }

    fn config(&self) -> Value {
        json!({
            "model_type": "bert", "hidden_act": self.act, "hidden_size": self.hidden,
            "intermediate_size": self.intermediate, "layer_norm_eps": 1e-12,
            "max_position_embeddings": self.positions, "num_attention_heads": self.heads,
            "num_hidden_layers": self.layers, "type_vocab_size": 2, "vocab_size": self.vocab
        })
    }

    fn tensors(&self) -> Vec<(String, Vec<usize>)> {
        let (h, i) = (self.hidden, self.intermediate);
        let norm = |p: &str| {
            let (w, b) = if self.gamma {
                ("gamma", "beta")
            } else {
                ("weight", "bias")
            };
            vec![
                (format!("{p}.LayerNorm.{w}"), vec![h]),
                (format!("{p}.LayerNorm.{b}"), vec![h]),
            ]
        };
        let dense = |p: &str, d_in: usize, d_out: usize| {
            vec![
                (format!("{p}.weight"), vec![d_out, d_in]),
                (format!("{p}.bias"), vec![d_out]),
            ]
        };
        let mut t = vec![
            (
                "embeddings.word_embeddings.weight".to_string(),
                vec![self.vocab, h],
            ),
            (
                "embeddings.position_embeddings.weight".to_string(),
                vec![self.positions, h],
            ),
            (
                "embeddings.token_type_embeddings.weight".to_string(),
                vec![2, h],
            ),
        ];
        t.extend(norm("embeddings"));
        for l in 0..self.layers {
            let p = format!("encoder.layer.{l}");
            for part in ["query", "key", "value"] {
                t.extend(dense(&format!("{p}.attention.self.{part}"), h, h));
            }
            t.extend(dense(&format!("{p}.attention.output.dense"), h, h));
            t.extend(norm(&format!("{p}.attention.output")));
            t.extend(dense(&format!("{p}.intermediate.dense"), h, i));
            t.extend(dense(&format!("{p}.output.dense"), i, h));
            t.extend(norm(&format!("{p}.output")));
        }
        if self.pooler {
            t.extend(dense("pooler.dense", h, h));
        }
        t.into_iter()
            .map(|(n, s)| (format!("{}{n}", self.prefix), s))
            .collect()
    }

    fn weights(&self) -> Vec<u8> {
        let mut rng = SeededRng::new(5);
        let mut header = serde_json::Map::new();
        let mut data = Vec::new();
        for (name, shape) in self.tensors() {
            let n: usize = shape.iter().product();
            let start = data.len();
            for _ in 0..n {
                let scale = (name.contains("LayerNorm") && name.ends_with("weight"))
                    || name.ends_with("gamma");
                let v = (rng.next_f64() as f32 - 0.5) * 0.2 + if scale { 1.0 } else { 0.0 };
                match self.dtype {
                    "F16" => data.extend(half::f16::from_f32(v).to_le_bytes()),
                    "BF16" => data.extend(half::bf16::from_f32(v).to_le_bytes()),
                    _ => data.extend(v.to_le_bytes()),
                }
            }
            header.insert(
                name,
                json!({"dtype": self.dtype, "shape": shape, "data_offsets": [start, data.len()]}),
            );
        }
        join_safetensors(&Value::Object(header), &data)
    }

    fn input(&self) -> Vec<u8> {
        encoder_input(self.config().to_string().as_bytes(), &self.weights())
    }

    fn with_config(&self, key: &str, value: Value) -> Vec<u8> {
        let mut config = self.config();
        config[key] = value;
        encoder_input(config.to_string().as_bytes(), &self.weights())
    }
}

fn write_encoder_seeds() {
    let m = Micro::new();
    let with_weights =
        |weights: Vec<u8>| encoder_input(m.config().to_string().as_bytes(), &weights);
    let mut extra = split_safetensors(&m.weights())
        .map(|(h, d)| (h, d.to_vec()))
        .unwrap();
    let end = extra.1.len();
    extra.0["cls.predictions.bias"] =
        json!({"dtype": "F32", "shape": [1], "data_offsets": [end, end + 4]});
    extra.0["embeddings.position_ids"] =
        json!({"dtype": "I64", "shape": [1, 1], "data_offsets": [end + 4, end + 12]});
    extra.1.extend([0u8; 12]);
    let mut i64_weight = split_safetensors(&m.weights())
        .map(|(h, d)| (h, d.to_vec()))
        .unwrap();
    i64_weight.0["pooler.dense.bias"]["dtype"] = json!("I32");
    let weights = m.weights();
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("seed-micro.bin", m.input()),
        (
            "seed-two-layers-relu.bin",
            Micro {
                layers: 2,
                act: "relu",
                ..m.clone()
            }
            .input(),
        ),
        (
            "seed-f16.bin",
            Micro {
                dtype: "F16",
                ..m.clone()
            }
            .input(),
        ),
        (
            "seed-bf16.bin",
            Micro {
                dtype: "BF16",
                ..m.clone()
            }
            .input(),
        ),
        (
            "seed-prefixed.bin",
            Micro {
                prefix: "bert.",
                ..m.clone()
            }
            .input(),
        ),
        (
            "seed-gamma-beta.bin",
            Micro {
                gamma: true,
                ..m.clone()
            }
            .input(),
        ),
        (
            "seed-no-pooler.bin",
            Micro {
                pooler: false,
                ..m.clone()
            }
            .input(),
        ),
        (
            "seed-gelu-new.bin",
            Micro {
                act: "gelu_new",
                ..m.clone()
            }
            .input(),
        ),
        (
            "seed-16-positions.bin",
            Micro {
                positions: 16,
                ..m.clone()
            }
            .input(),
        ),
        (
            "seed-small-vocab.bin",
            Micro {
                vocab: 100,
                ..m.clone()
            }
            .input(),
        ),
        (
            "seed-one-head.bin",
            Micro {
                heads: 1,
                ..m.clone()
            }
            .input(),
        ),
        (
            "seed-eight-heads.bin",
            Micro {
                heads: 8,
                ..m.clone()
            }
            .input(),
        ),
        (
            "seed-unused-tensors.bin",
            with_weights(join_safetensors(&extra.0, &extra.1)),
        ),
        (
            "crash-nan-weight.bin",
            with_weights(poke_f32(
                &weights,
                "layer.0.attention.self.query.weight",
                f32::NAN,
            )),
        ),
        (
            "crash-inf-weight.bin",
            with_weights(poke_f32(&weights, "word_embeddings", f32::INFINITY)),
        ),
        (
            "crash-huge-hidden.bin",
            m.with_config("hidden_size", json!(1u64 << 40)),
        ),
        (
            "crash-huge-layers.bin",
            m.with_config("num_hidden_layers", json!(1u64 << 40)),
        ),
        (
            "crash-huge-vocab.bin",
            m.with_config("vocab_size", json!(1u64 << 40)),
        ),
        (
            "crash-huge-positions.bin",
            m.with_config("max_position_embeddings", json!(1u64 << 40)),
        ),
        (
            "crash-huge-intermediate.bin",
            m.with_config("intermediate_size", json!(1u64 << 40)),
        ),
        (
            "crash-heads-do-not-divide.bin",
            m.with_config("num_attention_heads", json!(3)),
        ),
        (
            "crash-negative-eps.bin",
            m.with_config("layer_norm_eps", json!(-1.0)),
        ),
        ("crash-gpt2.bin", m.with_config("model_type", json!("gpt2"))),
        (
            "crash-truncated-weights.bin",
            with_weights(weights[..weights.len() / 2].to_vec()),
        ),
        (
            "crash-i32-weight.bin",
            with_weights(join_safetensors(&i64_weight.0, &i64_weight.1)),
        ),
        (
            "crash-misshaped.bin",
            m.with_config("intermediate_size", json!(7)),
        ),
    ];
    for (name, bytes) in seeds {
        write_seed("encoder", name, &bytes);
    }
}

fn write_features_seeds(encoder: &Encoder) {
    let extract = |texts: &[&str], settings: FeatureSettings| {
        let texts = texts.iter().map(|t| t.to_string()).collect();
        let mut extraction = Extraction::new(encoder, texts, settings, 2).unwrap();
        while !extraction.is_finished() {
            pollster::block_on(extraction.step(encoder)).unwrap();
        }
        extraction.finish().unwrap().to_bytes()
    };
    let mean = FeatureSettings::default();
    let pooler = FeatureSettings {
        pooling: Pooling::Pooler,
        max_len: 16,
    };
    let three = extract(&["good coffee", "bad", ""], mean);
    let header = |rows: Value, dim: Value, max_len: Value| {
        json!({"model_id": "m", "settings": {"pooling": "mean", "max_len": max_len},
               "dim": dim, "rows": rows})
        .to_string()
        .into_bytes()
    };
    let (h3, d3) = split_features(&three)
        .map(|(h, d)| (h.to_vec(), d.to_vec()))
        .unwrap();
    let mut nan = d3.clone();
    nan[4..8].copy_from_slice(&f32::NAN.to_le_bytes());
    let mut inf = d3.clone();
    let last = inf.len() - 4;
    inf[last..].copy_from_slice(&f32::NEG_INFINITY.to_le_bytes());
    let mut long_header = FEATURES_MAGIC.to_vec();
    long_header.extend(u32::MAX.to_le_bytes());
    long_header.extend(&h3);
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("seed-three-texts.bin", three.clone()),
        ("seed-one-text.bin", extract(&["one"], mean)),
        (
            "seed-five-texts.bin",
            extract(&["a", "b c", "d e f", "g", "<b>h</b>"], mean),
        ),
        (
            "seed-pooler.bin",
            extract(&["good coffee", "bad tea"], pooler),
        ),
        (
            "seed-max-len-64.bin",
            extract(
                &["x"],
                FeatureSettings {
                    max_len: 64,
                    ..mean
                },
            ),
        ),
        (
            "seed-hand-made.bin",
            features_file(
                &header(json!(2), json!(1), json!(55)),
                &f32_bytes(&[0.5, -0.5]),
            ),
        ),
        (
            "seed-wide.bin",
            features_file(
                &header(json!(1), json!(64), json!(55)),
                &f32_bytes(&[0.1; 64]),
            ),
        ),
        (
            "crash-rows-times-dim-overflows.bin",
            features_file(&header(json!(1u64 << 62), json!(4), json!(55)), &[]),
        ),
        (
            "crash-huge-sizes.bin",
            features_file(&header(json!(u64::MAX), json!(u64::MAX), json!(55)), &[]),
        ),
        (
            "crash-dim-0.bin",
            features_file(&header(json!(0), json!(0), json!(55)), &[]),
        ),
        (
            "crash-rows-0.bin",
            features_file(&header(json!(0), json!(4), json!(55)), &[]),
        ),
        (
            "crash-dim-0-rows-2.bin",
            features_file(&header(json!(2), json!(0), json!(55)), &[]),
        ),
        (
            "crash-max-len-0.bin",
            features_file(
                &header(json!(1), json!(2), json!(0)),
                &f32_bytes(&[1.0, 2.0]),
            ),
        ),
        ("crash-nan.bin", features_file(&h3, &nan)),
        ("crash-inf.bin", features_file(&h3, &inf)),
        (
            "crash-short-data.bin",
            features_file(&h3, &d3[..d3.len() - 4]),
        ),
        ("crash-header-past-the-end.bin", long_header),
        (
            "crash-negative-dim.bin",
            features_file(&header(json!(2), json!(-1), json!(55)), &[]),
        ),
        ("crash-wrong-magic.bin", b"BWFEAT2\n\0\0\0\0".to_vec()),
        ("crash-magic-only.bin", FEATURES_MAGIC.to_vec()),
        (
            "crash-header-not-json.bin",
            features_file(b"{not json", &[]),
        ),
        ("crash-empty.bin", Vec::new()),
    ];
    for (name, bytes) in seeds {
        write_seed("features", name, &bytes);
    }
}

fn write_data_seeds() {
    let amazon_header = "Id,ProductId,UserId,ProfileName,HelpfulnessNumerator,HelpfulnessDenominator,Score,Time,Summary,Text";
    let amazon = |rows: &[(u8, &str)]| {
        let mut csv = format!("{amazon_header}\n");
        for (i, (score, text)) in rows.iter().enumerate() {
            csv.push_str(&format!(
                "{i},B00{i},A{i},\"user {i}\",0,0,{score},1300000000,\"summary\",\"{text}\"\n"
            ));
        }
        csv.into_bytes()
    };
    let reviews: Vec<(u8, &str)> = (0..30)
        .map(|i| {
            let score = [1, 2, 4, 5, 3, 5, 1][i % 7];
            let text = [
                "Great coffee!",
                "Stale and <b>bad</b>",
                "Love it, \"\"really\"\"",
                "Meh.",
                "ok",
                "Best tea",
            ][i % 6];
            (score, text)
        })
        .collect();
    let settings = |edit: &dyn Fn(&mut Value)| {
        let mut s = serde_json::to_value(data::Settings::default()).unwrap();
        edit(&mut s);
        json!({"settings": s, "test_fraction_bits": null})
    };
    let default = settings(&|_| {});
    let named = |text: &str, label: &str, mode: &str| {
        let (text, label, mode) = (text.to_string(), label.to_string(), mode.to_string());
        settings(&move |s| {
            s["columns"] = json!({"named": {"text": text, "label": label}});
            s["label_mode"] = json!(mode);
        })
    };
    // Ten rows of `"text i"<delimiter>label`, labels x and y.
    let two_columns = |delimiter: &str, text: &str| {
        let mut csv = format!("text{delimiter}label\n");
        for i in 0..10 {
            csv.push_str(&format!("\"{text} {i}\"{delimiter}{}\n", ["x", "y"][i % 2]));
        }
        csv.into_bytes()
    };
    let labelled = b"review,label\n\"good coffee\",pos\n\"bad tea\",neg\n\"great chips\",pos\n\"awful\",neg\n\"nice\",pos\n\"stale\",neg\n\"fine, really\",pos\n\"no\",neg\n".to_vec();
    let amazon_csv = amazon(&reviews);
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend(&amazon_csv);
    let crlf = String::from_utf8_lossy(&amazon_csv)
        .replace('\n', "\r\n")
        .into_bytes();
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("seed-amazon-binary.bin", data_input(&default, &amazon_csv)),
        ("seed-amazon-three.bin", data_input(&settings(&|s| s["label_mode"] = json!("three")), &amazon_csv)),
        ("seed-amazon-five.bin", data_input(&settings(&|s| s["label_mode"] = json!("five")), &amazon_csv)),
        ("seed-named-labels.bin", data_input(&named("review", "label", "named"), &labelled)),
        (
            "seed-named-scores.bin",
            data_input(&named("Text", "Score", "five"), &amazon_csv),
        ),
        ("seed-bom.bin", data_input(&default, &bom)),
        ("seed-crlf.bin", data_input(&default, &crlf)),
        (
            "seed-multiline.bin",
            data_input(&named("text", "label", "named"), &two_columns(",", "line one\nline two")),
        ),
        (
            "seed-semicolons.bin",
            data_input(&named("text", "label", "named"), &two_columns(";", "alpha")),
        ),
        (
            "seed-tabs.bin",
            data_input(&named("text", "label", "named"), &two_columns("\t", "beta gamma")),
        ),
        (
            "seed-pipes.bin",
            data_input(&named("text", "label", "named"), &two_columns("|", "delta")),
        ),
        (
            "seed-split-column.bin",
            data_input(
                &settings(&|s| {
                    s["columns"] = json!({"named": {"text": "text", "label": "label"}});
                    s["label_mode"] = json!("named");
                    s["split_column"] = json!("split");
                }),
                b"text,label,split\na,x,train\nb,y,train\nc,x,test\nd,y,test\ne,x,validation\nf,y,train\n",
            ),
        ),
        ("seed-blank-lines.bin", data_input(&default, &[amazon_csv.clone(), b"\n\n,,,,,,,,,\n".to_vec()].concat())),
        ("crash-all-neutral.bin", data_input(&default, &amazon(&[(3, "ok"), (3, "fine"), (3, "meh")]))),
        ("crash-one-class.bin", data_input(&default, &amazon(&[(5, "good"), (4, "fine"), (5, "great")]))),
        ("crash-test-fraction-0.bin", data_input(&settings(&|s| s["test_fraction"] = json!(0.0)), &amazon_csv)),
        (
            "crash-test-fraction-nan.bin",
            data_input(&json!({"settings": serde_json::to_value(data::Settings::default()).unwrap(), "test_fraction_bits": f64::NAN.to_bits()}), &amazon_csv),
        ),
        ("crash-sample-size-1.bin", data_input(&settings(&|s| s["sample_size"] = json!(1)), &amazon_csv)),
        ("crash-max-words-0.bin", data_input(&settings(&|s| s["max_words"] = json!(0)), &amazon_csv)),
        ("crash-utf16.bin", data_input(&default, b"\xFF\xFEI\0d\0,\0")),
        ("crash-not-utf8.bin", data_input(&named("review", "label", "named"), b"review,label\n\xff\xfe,pos\nok,neg\n")),
        ("crash-empty.bin", data_input(&default, b"")),
        ("crash-header-only.bin", data_input(&default, format!("{amazon_header}\n").as_bytes())),
        ("crash-ragged.bin", data_input(&named("review", "label", "named"), b"review,label\na,pos,extra\nb\n")),
        (
            "crash-odd-scores.bin",
            data_input(&named("text", "score", "five"), b"text,score\na,5.0\nb,0\nc,6\nd,-1\ne,1e3\nf,x\n"),
        ),
        ("crash-same-column.bin", data_input(&named("review", "review", "named"), &labelled)),
        ("crash-missing-column.bin", data_input(&named("body", "label", "named"), &labelled)),
    ];
    for (name, bytes) in seeds {
        write_seed("data", name, &bytes);
    }
}

/// (Re)writes the seed corpus. Run it when a file format changes, then commit the corpus.
#[test]
#[ignore]
fn write_seeds() {
    let encoder = tiny_encoder();
    write_classifier_seeds(&encoder);
    write_tokenizer_seeds();
    write_encoder_seeds();
    write_features_seeds(&encoder);
    write_data_seeds();
    let sizes: HashMap<&str, u64> = ["classifier", "tokenizer", "encoder", "features", "data"]
        .into_iter()
        .map(|t| {
            let size = std::fs::read_dir(corpus_dir(t))
                .unwrap()
                .map(|e| e.unwrap().metadata().unwrap().len())
                .sum();
            (t, size)
        })
        .collect();
    eprintln!("seed corpus bytes: {sizes:?}");
    assert!(
        sizes.values().sum::<u64>() < 2 << 20,
        "keep the corpus small"
    );
}
