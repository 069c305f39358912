//! Every head preset × pooling on the shared data's tutorial split, over several seeds: test
//! accuracy and AUROC (mean ± standard deviation, min–max), plus the wall time of extraction
//! and training. Prints a table and writes `bench/results/presets.json`. Features of each
//! pooling are extracted once (the slow part) and shared by every preset and seed.
//!
//! `cargo run --release --example presets -- [SEEDS]`

use std::time::Instant;

use bertweb::classifier::Classifier;
use bertweb::data;
use bertweb::features::{Extraction, FeatureSettings};
use bertweb::metrics::Report;
use bertweb::train::{Preset, TrainSettings, Trainer};
use bertweb::{Encoder, Pooling};
use burn::tensor::Device;

#[path = "shared_split.rs"]
mod shared_split;

type Failure = Box<dyn std::error::Error>;

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

fn extract(
    encoder: &Encoder,
    texts: Vec<String>,
    settings: FeatureSettings,
) -> Result<Vec<f32>, Failure> {
    let mut extraction = Extraction::new(encoder, texts, settings, 32)?;
    while !extraction.is_finished() {
        pollster::block_on(extraction.step(encoder))?;
    }
    Ok(extraction.finish()?.values)
}

fn main() -> Result<(), Failure> {
    let seeds: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3)
        .max(1);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let (encoder, dataset) = shared_split::tutorial_split()?;
    let train_labels: Vec<usize> = dataset.train.iter().map(|e| e.label).collect();
    let test_labels: Vec<usize> = dataset.test.iter().map(|e| e.label).collect();
    let texts = |rows: &[data::Example]| rows.iter().map(|e| e.text.clone()).collect::<Vec<_>>();
    println!(
        "tutorial split: {} train / {} test, {} seeds",
        dataset.train.len(),
        dataset.test.len(),
        seeds
    );
    println!("| pooling | preset | test accuracy | test AUROC | AUROC min–max | train s |");
    println!("|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    for pooling in [Pooling::Mean, Pooling::Pooler] {
        let settings = FeatureSettings {
            pooling,
            ..FeatureSettings::default()
        };
        let start = Instant::now();
        let train_x = extract(&encoder, texts(&dataset.train), settings)?;
        let test_x = extract(&encoder, texts(&dataset.test), settings)?;
        let extract_s = start.elapsed().as_secs_f64();
        for preset in [Preset::Tutorial, Preset::Linear, Preset::Default] {
            let (mut accs, mut aucs, mut secs) = (Vec::new(), Vec::new(), Vec::new());
            for seed in 0..seeds {
                let mut train_settings = TrainSettings::preset(preset);
                train_settings.seed = 42 + seed;
                let start = Instant::now();
                let mut trainer = Trainer::new(
                    &train_x,
                    encoder.dim(),
                    &train_labels,
                    2,
                    train_settings,
                    &Device::flex(),
                )?;
                while !trainer.is_finished() {
                    pollster::block_on(trainer.step())?;
                }
                secs.push(start.elapsed().as_secs_f64());
                let classifier = Classifier::new(
                    trainer.finish()?,
                    encoder.model_id(),
                    settings,
                    dataset.label_names.clone(),
                );
                let probs = pollster::block_on(classifier.predict(&test_x, &Device::flex()))?;
                let report = Report::new(&probs, 2, &test_labels)?;
                accs.push(report.accuracy);
                aucs.push(report.auroc.unwrap_or(f64::NAN));
            }
            let (acc, acc_sd) = mean_sd(&accs);
            let (auc, auc_sd) = mean_sd(&aucs);
            let lo = aucs.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = aucs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let train_s = mean_sd(&secs).0;
            println!(
                "| {} | {preset:?} | {acc:.4} ± {acc_sd:.4} | {auc:.4} ± {auc_sd:.4} | {lo:.4}–{hi:.4} | {train_s:.1} |",
                pooling.name()
            );
            rows.push(serde_json::json!({
                "pooling": pooling.name(), "preset": format!("{preset:?}"),
                "accuracy": accs, "auroc": aucs, "train_s": secs, "extract_s": extract_s,
            }));
        }
        println!(
            "(extraction with {} pooling: {extract_s:.1} s)",
            pooling.name()
        );
    }
    std::fs::create_dir_all(root.join("bench/results"))?;
    std::fs::write(
        root.join("bench/results/presets.json"),
        serde_json::to_vec_pretty(&rows)?,
    )?;
    Ok(())
}
