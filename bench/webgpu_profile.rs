//! Where WebGPU time goes, measured natively: the same burn wgpu runtime and the same WGSL
//! kernels the page runs in the browser, on whatever Vulkan adapter this machine has (on a
//! machine without a GPU, Mesa's lavapipe: a CPU emulation like Chromium's SwiftShader, so
//! absolute times mean little and the breakdown is what counts).
//!
//! For the default model, batches of 32 real review texts at max length 55, it measures:
//! the first call on each new sequence length (cold: kernels compiled) against later calls
//! (warm); kernels compiled per call; time per stage (embeddings, each layer, pooling and
//! readback); kernel launches per forward pass and per layer, and each kernel's time; and,
//! as a variant, sequence lengths padded up to a multiple of 8 or 16 (fewer distinct shapes,
//! same vectors). Build with `--features fusion,autotune` to measure burn's kernel fusion and
//! autotuning; each build writes its own entry of `bench/results/webgpu_profile.json`.
//!
//! `cargo run --release --example webgpu_profile [--features fusion,autotune] -- [OPTIONS]`
//!
//! Options: `--batch N` (32), `--shapes N` distinct lengths timed cold and warm (2), `--warm N`
//! warm calls per shape (3), `--quick` (one warm call, no per-stage or bucketing runs: for a
//! slow adapter), `--model DIR` (`models/all-MiniLM-L6-v2`; a `random_bert` folder measures
//! BERT-base), `--extract` (also time the page's whole extraction of every sample text,
//! twice: the first pass compiles each new length's kernels, the second is warm). `VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json` runs it on the
//! SwiftShader that Chromium ships, the adapter of the headless browser tests.
//!
//! Prints a table and never fails a build: without a Vulkan adapter it says so and exits 0.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bertweb::data::{self, Settings};
use bertweb::encoder::read_f32;
use bertweb::features::{Extraction, FeatureSettings};
use bertweb::{BertModel, Encoder, Pooling, TokenBatch};
use burn::tensor::Device;
use burn::tensor::wgpu::WgpuBackend;
use cubecl_runtime::config::compilation::CompilationLogLevel;
use cubecl_runtime::config::{CubeClRuntimeConfig, RuntimeConfig};
use cubecl_runtime::logging::{
    Duration, LaunchObservation, LaunchObserver, TimingMethod, TimingRequest,
};
use serde_json::json;

type Error = Box<dyn std::error::Error>;

const MAX_LEN: usize = 55;

/// Counts (and optionally times) every kernel launch while installed.
#[derive(Default)]
struct Launches {
    timed: bool,
    kernels: Mutex<BTreeMap<&'static str, (usize, f64)>>,
    system_timed: Mutex<usize>,
}

impl LaunchObserver for Launches {
    fn launched(&self, kernel: &'static str) {
        if let Ok(mut k) = self.kernels.lock() {
            k.entry(kernel).or_default().0 += 1;
        }
    }

    fn timing(&self) -> TimingRequest {
        if self.timed {
            TimingRequest::Resolved
        } else {
            TimingRequest::None
        }
    }

    fn timed(&self, kernel: &'static str, duration: Duration, method: TimingMethod) {
        if let Ok(mut k) = self.kernels.lock() {
            k.entry(kernel).or_default().1 += duration.as_secs_f64() * 1e3;
        }
        if matches!(method, TimingMethod::System)
            && let Ok(mut n) = self.system_timed.lock()
        {
            *n += 1;
        }
    }
}

impl Launches {
    fn total(&self) -> usize {
        self.kernels
            .lock()
            .map(|k| k.values().map(|v| v.0).sum())
            .unwrap_or(0)
    }

    /// Launches and ms per kernel, grouped by short name, most time (then most launches) first.
    fn by_kernel(&self) -> Vec<(String, usize, f64)> {
        let mut grouped: BTreeMap<String, (usize, f64)> = BTreeMap::new();
        if let Ok(k) = self.kernels.lock() {
            for (name, (n, ms)) in k.iter() {
                let e = grouped.entry(short_name(name)).or_default();
                e.0 += n;
                e.1 += ms;
            }
        }
        let mut rows: Vec<_> = grouped.into_iter().map(|(k, (n, ms))| (k, n, ms)).collect();
        rows.sort_by(|a, b| b.2.total_cmp(&a.2).then(b.1.cmp(&a.1)));
        rows
    }
}

/// `a::b::kernel<T, U>` → `b::kernel`.
fn short_name(name: &str) -> String {
    let mut plain = String::new();
    let mut depth = 0;
    for c in name.chars() {
        match c {
            '<' => depth += 1,
            '>' => depth -= 1,
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let parts: Vec<&str> = plain.split("::").collect();
    parts[parts.len().saturating_sub(2)..].join("::")
}

/// Runs `f` with `observer` installed.
fn observed<T>(observer: &Arc<Launches>, f: impl FnOnce() -> T) -> T {
    let watching = LaunchObservation::new(observer.clone());
    let out = f();
    drop(watching);
    out
}

/// Kernels compiled so far: lines of the compilation log (burn logs one per compiled kernel).
fn compiled(log: &Path) -> usize {
    std::thread::sleep(std::time::Duration::from_millis(50));
    std::fs::read_to_string(log)
        .map(|s| s.lines().filter(|l| !l.trim().is_empty()).count())
        .unwrap_or(0)
}

/// `batch` padded with the pad id and a zero mask up to `seq`.
fn pad_to(batch: &TokenBatch, seq: usize) -> TokenBatch {
    let mut out = TokenBatch {
        ids: Vec::with_capacity(batch.batch * seq),
        mask: Vec::with_capacity(batch.batch * seq),
        batch: batch.batch,
        seq,
    };
    for r in 0..batch.batch {
        let row = r * batch.seq..(r + 1) * batch.seq;
        out.ids.extend_from_slice(&batch.ids[row.clone()]);
        out.mask.extend_from_slice(&batch.mask[row]);
        out.ids.extend(std::iter::repeat_n(0, seq - batch.seq));
        out.mask.extend(std::iter::repeat_n(0, seq - batch.seq));
    }
    out
}

fn round_up(n: usize, m: usize) -> usize {
    n.div_ceil(m) * m
}

/// One forward pass with mean pooling and readback; ms and the vectors.
fn embed(encoder: &Encoder, batch: &TokenBatch) -> Result<(f64, Vec<f32>), Error> {
    let start = Instant::now();
    let pooled = encoder.embed_batch(batch, Pooling::Mean)?;
    let values = pollster::block_on(read_f32(pooled))?;
    Ok((start.elapsed().as_secs_f64() * 1e3, values))
}

/// ms per stage of a forward pass, syncing the device after each.
fn stages(encoder: &Encoder, batch: &TokenBatch) -> Result<Vec<(String, f64)>, Error> {
    let device = encoder.device();
    let model = encoder.model();
    let mut out = Vec::new();
    let mut start = Instant::now();
    let mut lap = |name: String, out: &mut Vec<(String, f64)>| {
        out.push((name, start.elapsed().as_secs_f64() * 1e3));
        start = Instant::now();
    };
    let (ids, mask) = BertModel::batch_tensors(batch, device);
    let bias = BertModel::mask_bias(mask.clone());
    let mut hidden = model.embed(ids);
    device.sync()?;
    lap("upload + embeddings".into(), &mut out);
    for i in 0..model.num_layers() {
        hidden = model.encode_layers(hidden, bias.clone(), i..i + 1);
        device.sync()?;
        lap(format!("layer {i}"), &mut out);
    }
    let pooled = Pooling::Mean.apply(model, hidden, mask)?;
    pollster::block_on(read_f32(pooled))?;
    lap("mean pool + readback".into(), &mut out);
    Ok(out)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn features() -> Vec<&'static str> {
    let mut f = Vec::new();
    if cfg!(feature = "fusion") {
        f.push("fusion");
    }
    if cfg!(feature = "autotune") {
        f.push("autotune");
    }
    f
}

fn variant_name() -> String {
    let f = features();
    if f.is_empty() {
        "default".into()
    } else {
        f.join("+")
    }
}

/// Merges this run's entry (keyed by adapter and build) into the results file, keeping the
/// entries of other adapters and builds.
fn write_results(root: &Path, adapter: &str, entry: serde_json::Value) -> Result<(), Error> {
    let path = root.join("bench/results/webgpu_profile.json");
    let mut all = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .filter(|v| v.is_object())
        .unwrap_or_else(|| json!({}));
    let kind = adapter
        .split(' ')
        .next()
        .unwrap_or("adapter")
        .to_lowercase();
    all[format!("{kind}/{}", variant_name())] = entry;
    std::fs::create_dir_all(root.join("bench/results"))?;
    std::fs::write(&path, serde_json::to_vec_pretty(&all)?)?;
    println!("\nwrote {}", path.display());
    Ok(())
}

/// Command-line options.
struct Options {
    batch: usize,
    shapes: usize,
    warm: usize,
    quick: bool,
    model: Option<PathBuf>,
    extract: bool,
}

impl Options {
    fn parse() -> Self {
        let mut o = Self {
            batch: 32,
            shapes: 2,
            warm: 3,
            quick: false,
            model: None,
            extract: false,
        };
        let args: Vec<String> = std::env::args().skip(1).collect();
        let number = |i: usize| args.get(i + 1).and_then(|a| a.parse::<usize>().ok());
        for (i, arg) in args.iter().enumerate() {
            match arg.as_str() {
                "--batch" => o.batch = number(i).unwrap_or(o.batch).max(1),
                "--shapes" => o.shapes = number(i).unwrap_or(o.shapes).max(1),
                "--warm" => o.warm = number(i).unwrap_or(o.warm).max(1),
                "--quick" => o.quick = true,
                "--extract" => o.extract = true,
                "--model" => o.model = args.get(i + 1).map(PathBuf::from),
                _ => {}
            }
        }
        if o.quick {
            o.warm = 1;
        }
        o
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Err(e) = run(root, &Options::parse()) {
        println!("webgpu_profile: not measured: {e}");
    }
}

/// Prints a line now, so a slow adapter shows progress.
macro_rules! say {
    ($($t:tt)*) => {{
        println!($($t)*);
        let _ = std::io::Write::flush(&mut std::io::stdout());
    }};
}

fn run(root: &Path, opts: &Options) -> Result<(), Error> {
    let batch_size = opts.batch;
    let log: PathBuf =
        std::env::temp_dir().join(format!("webgpu_profile-{}.log", std::process::id()));
    let mut config = CubeClRuntimeConfig::default();
    config.compilation.logger.level = CompilationLogLevel::Basic;
    config.compilation.logger.file = Some(log.clone());
    // As in the browser, which keeps no autotune results between page loads: tune afresh.
    let tune_log = log.with_extension("autotune.log");
    config.autotune.disable_cache = true;
    config.autotune.logger.file = Some(tune_log.clone());
    let counting_compiles = CubeClRuntimeConfig::try_set(config);

    // The adapter: Vulkan, as Chromium's WebGPU uses under SwiftShader; kernels are WGSL.
    let start = Instant::now();
    let init = std::panic::catch_unwind(|| {
        Device::wgpu_options()
            .graphics_api(WgpuBackend::Vulkan)
            .init_with_setup()
    });
    let (device, setup) = match init {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => {
            say!("webgpu_profile: no Vulkan adapter found ({e}); nothing measured.");
            say!("  On Debian: apt-get install mesa-vulkan-drivers (lavapipe, a CPU driver).");
            return Ok(());
        }
        Err(_) => {
            say!("webgpu_profile: no Vulkan adapter found (wgpu panicked); nothing measured.");
            return Ok(());
        }
    };
    let info = setup.adapter.get_info();
    let adapter = format!(
        "{} ({:?}, {})",
        info.name, info.device_type, info.driver_info
    );
    let init_ms = start.elapsed().as_secs_f64() * 1e3;

    let dir = opts
        .model
        .clone()
        .unwrap_or_else(|| root.join("models/all-MiniLM-L6-v2"));
    let csv = std::fs::read(root.join("../shared/data/amazon-fine-food/sample-2k.csv"))?;
    let dataset = data::load(&csv, &Settings::default())?;
    let texts: Vec<String> = dataset.train.iter().map(|e| e.text.clone()).collect();
    let all_texts: Vec<String> = dataset
        .train
        .iter()
        .chain(&dataset.test)
        .map(|e| e.text.clone())
        .collect();
    let start = Instant::now();
    let encoder = Encoder::load(
        &std::fs::read(dir.join("config.json"))?,
        &std::fs::read(dir.join("model.safetensors"))?,
        &std::fs::read(dir.join("tokenizer.json"))?,
        &device,
    )?;
    let load_ms = start.elapsed().as_secs_f64() * 1e3;
    // The page's warm-up: one short text.
    let warm_up = encoder.tokenize(&["warm up"], 8)?;
    let compiled_before = compiled(&log);
    let (warm_up_ms, _) = embed(&encoder, &warm_up)?;
    let warm_up_compiled = compiled(&log) - compiled_before;

    // Length-sorted batches, as an extraction makes them: how many distinct shapes.
    let lengths: Vec<usize> = texts.iter().map(|t| lengths_of(&encoder, t)).collect();
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| lengths[i]);
    let batch_seqs: Vec<usize> = order
        .chunks(batch_size)
        .map(|c| c.iter().map(|&i| lengths[i]).max().unwrap_or(0))
        .collect();
    let distinct = |m: usize| {
        let mut s: Vec<usize> = batch_seqs.iter().map(|&n| bucket(n, m)).collect();
        s.dedup();
        s.len()
    };
    let (shapes_1, shapes_8, shapes_16) = (distinct(1), distinct(8), distinct(16));

    say!(
        "webgpu_profile ({}): {adapter}, model {}",
        variant_name(),
        dir.file_name().unwrap_or_default().to_string_lossy()
    );
    say!(
        "adapter init {init_ms:.0} ms, model load {load_ms:.0} ms, warm-up [1, {}] {warm_up_ms:.0} ms ({warm_up_compiled} kernels compiled)",
        warm_up.seq
    );
    say!(
        "{} texts in length-sorted batches of {batch_size}: {} batches, {shapes_1} distinct lengths ({shapes_8} padded to ×8, {shapes_16} padded to ×16)\n",
        texts.len(),
        batch_seqs.len()
    );

    // Full length-sorted batches at evenly spread distinct lengths, the longest first (what
    // the browser bench times: a full batch right after the warm-up).
    let mut by_seq: BTreeMap<usize, TokenBatch> = BTreeMap::new();
    for chunk in order.chunks(batch_size).filter(|c| c.len() == batch_size) {
        let batch: Vec<&str> = chunk.iter().map(|&i| texts[i].as_str()).collect();
        let tokens = encoder.tokenize(&batch, MAX_LEN)?;
        by_seq.entry(tokens.seq).or_insert(tokens);
    }
    let available: Vec<TokenBatch> = by_seq.into_values().rev().collect();
    if available.is_empty() {
        return Err(format!("fewer than {batch_size} texts").into());
    }
    let step = (available.len() as f64 / opts.shapes as f64).max(1.0);
    let picked: Vec<TokenBatch> = (0..opts.shapes.min(available.len()))
        .map(|k| available[(k as f64 * step) as usize].clone())
        .collect();
    let longest = &picked[0];

    // The longest shape: cold, then one pass counting launches, then one timing each kernel.
    let before = compiled(&log);
    let (cold, reference_longest) = embed(&encoder, longest)?;
    let longest_compiled = compiled(&log) - before;
    say!(
        "cold [{batch_size}, {}]: {cold:.0} ms, {longest_compiled} kernels compiled",
        longest.seq
    );
    let counter = Arc::new(Launches::default());
    let (counted_ms, _) = observed(&counter, || embed(&encoder, longest))?;
    let per_forward = counter.total();
    let layer = Arc::new(Launches::default());
    {
        let (ids, mask) = BertModel::batch_tensors(longest, &device);
        let bias = BertModel::mask_bias(mask);
        let hidden = encoder.model().embed(ids);
        device.sync()?;
        observed(&layer, || {
            let out = encoder.model().encode_layers(hidden, bias, 0..1);
            device.sync().map(|_| out)
        })?;
    }
    let per_layer = layer.total();
    say!(
        "kernel launches: {per_forward} per forward pass [{batch_size}, {}] (that pass: {counted_ms:.0} ms), {per_layer} per encoder layer",
        longest.seq
    );
    let timed = Arc::new(Launches {
        timed: true,
        ..Default::default()
    });
    let (serial_ms, _) = observed(&timed, || embed(&encoder, longest))?;
    let system = timed.system_timed.lock().map(|n| *n).unwrap_or(0);
    say!(
        "per-kernel times, kernels run one at a time ({serial_ms:.0} ms in all; {system} of {} timed by the host clock):\n",
        timed.total()
    );
    say!("| kernel | launches | ms | share |");
    say!("|---|---|---|---|");
    let by_kernel = timed.by_kernel();
    let kernel_sum: f64 = by_kernel.iter().map(|r| r.2).sum();
    let mut kernels = Vec::new();
    for (name, n, ms) in by_kernel {
        say!(
            "| {name} | {n} | {ms:.1} | {:.0}% |",
            100.0 * ms / kernel_sum.max(1e-9)
        );
        kernels.push(json!({"kernel": name, "launches": n, "ms": ms}));
    }

    // Cold then warm, per shape.
    say!("\n| shape [batch, seq] | cold ms | kernels compiled | warm ms (median) | texts/s warm |");
    say!("|---|---|---|---|---|");
    let mut per_shape = Vec::new();
    let mut reference: BTreeMap<usize, Vec<f32>> = BTreeMap::new();
    reference.insert(longest.seq, reference_longest);
    for (k, tokens) in picked.iter().enumerate() {
        let (cold, compiles) = if k == 0 {
            (cold, longest_compiled)
        } else {
            let before = compiled(&log);
            let (cold, values) = embed(&encoder, tokens)?;
            reference.insert(tokens.seq, values);
            (cold, compiled(&log) - before)
        };
        let warm = median(
            (0..opts.warm)
                .map(|_| embed(&encoder, tokens).map(|r| r.0))
                .collect::<Result<_, _>>()?,
        );
        say!(
            "| [{batch_size}, {}] | {cold:.0} | {compiles} | {warm:.0} | {:.1} |",
            tokens.seq,
            batch_size as f64 / (warm / 1e3)
        );
        per_shape.push(
            json!({"seq": tokens.seq, "cold_ms": cold, "compiled": compiles, "warm_ms": warm}),
        );
    }

    // Time per stage, synced after each.
    let mut stage_rows = Vec::new();
    let mut bucketing = Vec::new();
    if !opts.quick {
        stage_rows = stages(&encoder, longest)?;
        say!(
            "\n| stage, [{batch_size}, {}], warm, synced | ms |",
            longest.seq
        );
        say!("|---|---|");
        for (name, ms) in &stage_rows {
            say!("| {name} | {ms:.1} |");
        }

        // Bucketing: every shape padded up to a multiple of 8 and 16; same vectors?
        say!(
            "\n| bucketing | shape | cold ms | kernels compiled | warm ms | max abs diff vs unpadded |"
        );
        say!("|---|---|---|---|---|---|");
        for m in [8usize, 16] {
            for tokens in &picked {
                let seq = bucket(tokens.seq, m);
                if seq == tokens.seq {
                    continue;
                }
                let padded = pad_to(tokens, seq);
                let before = compiled(&log);
                let (cold, values) = embed(&encoder, &padded)?;
                let compiles = compiled(&log) - before;
                let (warm, _) = embed(&encoder, &padded)?;
                let diff = max_abs_diff(&values, &reference[&tokens.seq]);
                say!(
                    "| ×{m} | [{batch_size}, {} → {seq}] | {cold:.0} | {compiles} | {warm:.0} | {diff:.1e} |",
                    tokens.seq
                );
                bucketing.push(json!({"multiple": m, "seq": tokens.seq, "padded": seq, "cold_ms": cold, "compiled": compiles, "warm_ms": warm, "max_abs_diff": diff}));
            }
        }
    }
    let mut extraction_rows = Vec::new();
    if opts.extract {
        say!(
            "\n| whole extraction, {} texts, batch {batch_size}, as the page runs it | s | texts/s | kernels compiled |",
            all_texts.len()
        );
        say!("|---|---|---|---|");
        for pass in ["first (compiles new lengths)", "second (warm)"] {
            let before = compiled(&log);
            let (seconds, rate) = extract(&encoder, &all_texts, batch_size)?;
            let compiles = compiled(&log) - before;
            say!("| {pass} | {seconds:.2} | {rate:.1} | {compiles} |");
            extraction_rows.push(json!({"pass": pass, "texts": all_texts.len(), "s": seconds, "texts_per_s": rate, "compiled": compiles}));
        }
    }
    if !counting_compiles {
        say!("(kernel compile counts are unavailable: cubecl's config was set before this run)");
    }

    write_results(
        root,
        &adapter,
        json!({
            "adapter": adapter,
            "features": features(),
            "batch": batch_size, "max_len": MAX_LEN,
            "init_ms": init_ms, "load_ms": load_ms,
            "warm_up": {"seq": warm_up.seq, "ms": warm_up_ms, "compiled": warm_up_compiled},
            "texts": texts.len(), "batches": batch_seqs.len(),
            "distinct_lengths": {"exact": shapes_1, "multiple_of_8": shapes_8, "multiple_of_16": shapes_16},
            "per_shape": per_shape,
            "launches": {"per_forward": per_forward, "per_layer": per_layer},
            "kernels_serialized": {"total_ms": serial_ms, "host_timed": system, "kernels": kernels},
            "stages_ms": stage_rows.iter().map(|(n, ms)| json!({"stage": n, "ms": ms})).collect::<Vec<_>>(),
            "bucketing": bucketing,
            "extraction": extraction_rows,
        }),
    )?;
    let _ = std::fs::remove_file(&log);
    if cfg!(feature = "autotune") {
        say!("autotune's log (its choices): {}", tune_log.display());
    }
    Ok(())
}

/// The page's extraction path (length-sorted batches, one readback each): seconds and texts/s.
fn extract(encoder: &Encoder, texts: &[String], batch: usize) -> Result<(f64, f64), Error> {
    let settings = FeatureSettings {
        pooling: Pooling::Mean,
        max_len: MAX_LEN,
    };
    let start = Instant::now();
    let mut extraction = Extraction::new(encoder, texts.to_vec(), settings, batch)?;
    while !extraction.is_finished() {
        pollster::block_on(extraction.step(encoder))?;
    }
    extraction.finish()?;
    let seconds = start.elapsed().as_secs_f64();
    Ok((seconds, texts.len() as f64 / seconds))
}

/// `n` rounded up to a multiple of `m`, but never past the max length (unless `n` is).
fn bucket(n: usize, m: usize) -> usize {
    round_up(n, m).min(MAX_LEN.max(n))
}

fn lengths_of(encoder: &Encoder, text: &str) -> usize {
    encoder
        .encode_ids(text, MAX_LEN)
        .map(|i| i.len())
        .unwrap_or(0)
}
