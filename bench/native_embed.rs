//! Native embedding benchmark on burn's flex CPU backend: model load time and texts/s at max
//! length 55, batch 32, over real review texts (the tutorial's preprocessing of the shared
//! sample). Prints a table and writes `bench/results/native.json`. Never fails a build.
//!
//! `cargo run --release --example native_embed -- [RUNS] [BATCHES]`

use std::time::Instant;

use bertweb::data::{self, Settings};
use bertweb::{Encoder, Pooling};
use burn::tensor::Device;

fn median_min_max(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let runs = args.first().copied().unwrap_or(3).max(1);
    let batches = args.get(1).copied().unwrap_or(8).max(1);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("models/all-MiniLM-L6-v2");
    let csv = std::fs::read(root.join("../shared/data/amazon-fine-food/sample-2k.csv"))?;
    let dataset = data::load(&csv, &Settings::default())?;
    let texts: Vec<String> = dataset.train.iter().map(|e| e.text.clone()).collect();
    let (config, weights, tokenizer) = (
        std::fs::read(dir.join("config.json"))?,
        std::fs::read(dir.join("model.safetensors"))?,
        std::fs::read(dir.join("tokenizer.json"))?,
    );

    let mut loads = Vec::new();
    let mut rates = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let encoder = Encoder::load(&config, &weights, &tokenizer, &Device::flex())?;
        pollster::block_on(encoder.embed(&["warm up"], Pooling::Mean, 8))?;
        loads.push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        let mut n = 0;
        for chunk in texts.chunks(32).take(batches) {
            pollster::block_on(encoder.embed(chunk, Pooling::Mean, 55))?;
            n += chunk.len();
        }
        rates.push(n as f64 / start.elapsed().as_secs_f64());
    }
    let (rate, rate_min, rate_max) = median_min_max(rates);
    let (load, load_min, load_max) = median_min_max(loads);
    println!("| what (native, flex, {runs} runs) | median | min | max |");
    println!("|---|---|---|---|");
    println!(
        "| texts/s, MiniLM-L6, batch 32, max 55 | {rate:.1} | {rate_min:.1} | {rate_max:.1} |"
    );
    println!("| model load + warm-up, s | {load:.2} | {load_min:.2} | {load_max:.2} |");
    let json = serde_json::json!({
        "device": "flex (native)", "runs": runs, "batches": batches, "batch_size": 32, "max_len": 55,
        "texts_per_s": {"median": rate, "min": rate_min, "max": rate_max},
        "load_s": {"median": load, "min": load_min, "max": load_max},
    });
    std::fs::create_dir_all(root.join("bench/results"))?;
    std::fs::write(
        root.join("bench/results/native.json"),
        serde_json::to_vec_pretty(&json)?,
    )?;
    Ok(())
}
