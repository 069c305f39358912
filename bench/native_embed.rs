//! Native embedding benchmark on burn's flex CPU backend (all cores, through rayon): model
//! load time and texts/s through the page's extraction path (length-sorted batches of 32, each
//! padded to its longest text, max length 55) over real review texts: the tutorial's
//! preprocessing of the shared sample, so real lengths. Models: the default MiniLM-L6 and,
//! when `models/bert-base-random` exists (`cargo run --release --example random_bert`), a
//! random-weight BERT-base, the tutorial's model size.
//!
//! Memory: resident set size while one extraction runs, at each quarter of it, next to the
//! features written so far, to show that memory grows with the features only.
//!
//! Prints a table and writes `bench/results/native.json`. Never fails a build.
//!
//! `cargo run --release --example native_embed -- [RUNS] [TEXTS]` (default 3 runs, 256 texts)

use std::path::Path;
use std::time::Instant;

use bertweb::data::{self, Settings};
use bertweb::features::{Extraction, FeatureSettings};
use bertweb::{Encoder, Pooling};
use burn::tensor::Device;

const BATCH: usize = 32;

fn median_min_max(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

/// A field of /proc/self/status in MiB (Linux); `None` elsewhere.
fn proc_status_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

struct ModelRun {
    name: String,
    rates: Vec<f64>,
    loads: Vec<f64>,
    mean_tokens: f64,
    /// (texts done, RSS MiB, features MiB so far) during the last run.
    memory: Vec<(usize, f64, f64)>,
    peak_mib: Option<f64>,
}

fn measure(
    name: &str,
    dir: &Path,
    texts: &[String],
    runs: usize,
) -> Result<ModelRun, Box<dyn std::error::Error>> {
    let (config, weights, tokenizer) = (
        std::fs::read(dir.join("config.json"))?,
        std::fs::read(dir.join("model.safetensors"))?,
        std::fs::read(dir.join("tokenizer.json"))?,
    );
    let settings = FeatureSettings {
        pooling: Pooling::Mean,
        max_len: 55,
    };
    let mut run = ModelRun {
        name: name.to_string(),
        rates: Vec::new(),
        loads: Vec::new(),
        mean_tokens: 0.0,
        memory: Vec::new(),
        peak_mib: None,
    };
    for r in 0..runs {
        let start = Instant::now();
        let encoder = Encoder::load(&config, &weights, &tokenizer, &Device::flex())?;
        pollster::block_on(encoder.embed(&["warm up"], Pooling::Mean, 8))?;
        run.loads.push(start.elapsed().as_secs_f64());
        if r == 0 {
            let tokens: usize = texts
                .iter()
                .map(|t| encoder.tokenizer().encode(t, 55).map(|ids| ids.len()))
                .sum::<Result<_, _>>()?;
            run.mean_tokens = tokens as f64 / texts.len() as f64;
        }
        let start = Instant::now();
        let mut extraction = Extraction::new(&encoder, texts.to_vec(), settings, BATCH)?;
        let quarter = texts.len().div_ceil(4);
        let mut next_mark = quarter;
        run.memory.clear();
        while !extraction.is_finished() {
            let done = pollster::block_on(extraction.step(&encoder))?;
            if done >= next_mark || done == texts.len() {
                let features = (done * encoder.dim() * 4) as f64 / 1048576.0;
                if let Some(rss) = proc_status_mib("VmRSS:") {
                    run.memory.push((done, rss, features));
                }
                next_mark += quarter;
            }
        }
        extraction.finish()?;
        run.rates
            .push(texts.len() as f64 / start.elapsed().as_secs_f64());
    }
    run.peak_mib = proc_status_mib("VmHWM:");
    Ok(run)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let runs = args.first().copied().unwrap_or(3).max(1);
    let count = args.get(1).copied().unwrap_or(256).max(1);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let csv = std::fs::read(root.join("../shared/data/amazon-fine-food/sample-2k.csv"))?;
    let dataset = data::load(&csv, &Settings::default())?;
    let texts: Vec<String> = dataset
        .train
        .iter()
        .chain(&dataset.test)
        .take(count)
        .map(|e| e.text.clone())
        .collect();

    let mut results = vec![measure(
        "MiniLM-L6 (6×384)",
        &root.join("models/all-MiniLM-L6-v2"),
        &texts,
        runs,
    )?];
    let base = root.join("models/bert-base-random");
    if base.join("model.safetensors").exists() {
        results.push(measure("BERT-base random (12×768)", &base, &texts, runs)?);
    } else {
        println!(
            "(no models/bert-base-random: `cargo run --release --example random_bert` makes it)"
        );
    }

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "native flex, {threads} threads, {} tutorial texts, batch {BATCH}, max 55, {runs} runs",
        texts.len()
    );
    println!(
        "| model | mean tokens | texts/s median | min | max | load + warm-up s | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut json = Vec::new();
    for r in &results {
        let (rate, rate_min, rate_max) = median_min_max(r.rates.clone());
        let (load, load_min, load_max) = median_min_max(r.loads.clone());
        let peak = r.peak_mib.map_or("n/a".into(), |p| format!("{p:.0}"));
        println!(
            "| {} | {:.1} | {rate:.1} | {rate_min:.1} | {rate_max:.1} | {load:.2} ({load_min:.2}–{load_max:.2}) | {peak} |",
            r.name, r.mean_tokens
        );
        json.push(serde_json::json!({
            "model": r.name, "mean_tokens": r.mean_tokens,
            "texts_per_s": {"median": rate, "min": rate_min, "max": rate_max, "runs": r.rates},
            "load_s": {"median": load, "min": load_min, "max": load_max},
            "peak_rss_mib_process_so_far": r.peak_mib,
            "rss_during_last_run": r.memory.iter().map(|(done, rss, features)| serde_json::json!({
                "texts_done": done, "rss_mib": rss, "features_mib": features,
            })).collect::<Vec<_>>(),
        }));
    }
    for r in &results {
        let line: Vec<String> = r
            .memory
            .iter()
            .map(|(done, rss, features)| {
                format!("{done}: {rss:.0} MiB ({features:.1} MiB features)")
            })
            .collect();
        println!("RSS during extraction, {}: {}", r.name, line.join(", "));
    }
    let report = serde_json::json!({
        "device": "flex (native)", "threads": threads, "runs": runs, "texts": texts.len(),
        "batch_size": BATCH, "max_len": 55,
        "data": "shared sample-2k.csv, tutorial preprocessing (no score 3, under 50 words, HTML stripped)",
        "models": json,
    });
    std::fs::create_dir_all(root.join("bench/results"))?;
    std::fs::write(
        root.join("bench/results/native.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    Ok(())
}
