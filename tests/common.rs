//! Shared helpers for the native tests: fixture files and the default model's location.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One text with the reference implementation's outputs.
#[derive(Deserialize)]
pub struct Case {
    pub text: String,
    pub input_ids: Vec<u32>,
    pub input_ids_vocab: Option<Vec<u32>>,
    pub attention_mask: Vec<u32>,
    pub mean: Vec<f32>,
    pub pooler: Vec<f32>,
}

/// A fixture file written by `scripts/make_fixtures.py`.
#[derive(Deserialize)]
pub struct Fixture {
    pub max_len: usize,
    pub cases: Vec<Case>,
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn read(path: impl AsRef<Path>) -> Vec<u8> {
    let path = root().join(path);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

pub fn fixture(path: &str) -> Fixture {
    serde_json::from_slice(&read(path)).expect("fixture JSON")
}

/// The default model's folder, or `None` (with a message) when it has not been fetched.
/// Under CI a missing model is a failure, not a skip.
pub fn default_model() -> Option<PathBuf> {
    let dir = root().join("models/all-MiniLM-L6-v2");
    if dir.join("model.safetensors").exists() {
        return Some(dir);
    }
    let message = "default model missing: run `python3 scripts/fetch_model.py`";
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    eprintln!("SKIPPED: {message}");
    None
}

/// The encoder of a Hugging Face folder, on flex.
pub fn load_encoder(dir: &Path) -> bertweb::Encoder {
    bertweb::Encoder::load(
        &std::fs::read(dir.join("config.json")).unwrap(),
        &std::fs::read(dir.join("model.safetensors")).unwrap(),
        &std::fs::read(dir.join("tokenizer.json")).unwrap(),
        &burn::tensor::Device::flex(),
    )
    .unwrap()
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "vector lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The shared Amazon reviews (`../shared/data/amazon-fine-food/Reviews.partial.csv.gz`),
/// decompressed, or `None` (with a message) when absent. Under CI a missing file is a failure.
pub fn shared_data() -> Option<Vec<u8>> {
    let path = root().join("../shared/data/amazon-fine-food/Reviews.partial.csv.gz");
    if !path.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "shared data missing at {}",
            path.display()
        );
        eprintln!("SKIPPED: shared data missing");
        return None;
    }
    let mut csv = Vec::new();
    let file = std::fs::File::open(path).unwrap();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(file), &mut csv).unwrap();
    Some(csv)
}
