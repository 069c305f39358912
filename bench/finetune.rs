//! Fine-tuning benchmark on the shared data's tutorial split (3,446 train / 862 test), natively
//! on burn's flex backend: for each K (top layers trained), the caching pass, seconds per
//! epoch, test accuracy and AUROC, and the process's peak resident memory. Prints a table and
//! writes `bench/results/finetune.json`.
//!
//! `cargo run --release --example finetune -- [K …]` (default: 1 2 6)

use std::time::Instant;

use bertweb::classifier::Classifier;
use bertweb::finetune::{FineTuneSettings, FineTuner, Phase};
use bertweb::metrics::Report;

#[path = "shared_split.rs"]
mod shared_split;

type Failure = Box<dyn std::error::Error>;

/// Peak resident set size of this process so far, in MiB (Linux; `None` elsewhere).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() -> Result<(), Failure> {
    let ks: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let ks = if ks.is_empty() { vec![1, 2, 6] } else { ks };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let (encoder, dataset) = shared_split::tutorial_split()?;
    let texts: Vec<String> = dataset.train.iter().map(|e| e.text.clone()).collect();
    let labels: Vec<usize> = dataset.train.iter().map(|e| e.label).collect();
    let test_texts: Vec<String> = dataset.test.iter().map(|e| e.text.clone()).collect();
    let test_labels: Vec<usize> = dataset.test.iter().map(|e| e.label).collect();

    println!(
        "| K | caching s | s / epoch (train + val) | test accuracy | test AUROC | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    for k in ks {
        let settings = FineTuneSettings {
            layers: k,
            ..FineTuneSettings::default()
        };
        let mut tuner = FineTuner::new(&encoder, &texts, &labels, 2, settings)?;
        let start = Instant::now();
        let (mut caching, mut epoch_start, mut epochs) = (0.0, 0.0, Vec::new());
        while !tuner.is_finished() {
            let step = pollster::block_on(tuner.step(&encoder))?;
            let now = start.elapsed().as_secs_f64();
            if step.phase != Phase::Caching && caching == 0.0 {
                caching = now;
                epoch_start = now;
            }
            if step.epoch_report.is_some() {
                epochs.push(now - epoch_start);
                epoch_start = now;
            }
        }
        let classifier = Classifier::from_fine_tuned(
            pollster::block_on(tuner.finish())?,
            dataset.label_names.clone(),
        );
        let probs =
            pollster::block_on(classifier.probabilities_all(&encoder, &test_texts, 64, |_| ()))?;
        let report = Report::new(&probs, 2, &test_labels)?;
        let per_epoch = epochs.iter().sum::<f64>() / epochs.len().max(1) as f64;
        let peak = peak_rss_mib().unwrap_or(f64::NAN);
        println!(
            "| {k} | {caching:.1} | {per_epoch:.1} | {:.4} | {:.4} | {peak:.0} |",
            report.accuracy,
            report.auroc.unwrap_or(f64::NAN)
        );
        rows.push(serde_json::json!({
            "layers": k, "caching_s": caching, "epoch_s": epochs,
            "test_accuracy": report.accuracy, "test_auroc": report.auroc, "peak_rss_mib": peak,
        }));
    }
    std::fs::create_dir_all(root.join("bench/results"))?;
    std::fs::write(
        root.join("bench/results/finetune.json"),
        serde_json::to_vec_pretty(&rows)?,
    )?;
    Ok(())
}
