//! Shared helpers for the native tests: fixture files, the default model's location, and the
//! tiny model with the classifier, features and safetensors files the error and fuzz tests make.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use bertweb::classifier::Classifier;
use bertweb::data::SeededRng;
use bertweb::features::FeatureSettings;
use bertweb::finetune::{FineTuneSettings, FineTuner};
use bertweb::train::{TrainSettings, Trainer};
use bertweb::{Encoder, Pooling};
use burn::tensor::Device;
use serde::Deserialize;
use serde_json::Value;

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

// ---------------------------------------------------------------------------------------------
// The tiny model and files made from it, for the error and fuzz tests.

/// The tiny model's `config.json`, `model.safetensors` and `tokenizer.json`.
pub fn tiny_files() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    (
        read("tests/fixtures/tiny/config.json"),
        read("tests/fixtures/tiny/model.safetensors"),
        read("tests/fixtures/tiny/tokenizer.json"),
    )
}

/// The tiny model's encoder, on flex.
pub fn tiny_encoder() -> Encoder {
    let (config, weights, tokenizer) = tiny_files();
    Encoder::load(&config, &weights, &tokenizer, &Device::flex()).unwrap()
}

/// A safetensors file's JSON header and the bytes after it, or `None` if it has none.
pub fn split_safetensors(bytes: &[u8]) -> Option<(Value, &[u8])> {
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let end = 8usize.checked_add(usize::try_from(n).ok()?)?;
    Some((
        serde_json::from_slice(bytes.get(8..end)?).ok()?,
        &bytes[end..],
    ))
}

/// A safetensors file of a JSON header (padded to 8 bytes) and data.
pub fn join_safetensors(header: &Value, data: &[u8]) -> Vec<u8> {
    let mut header = serde_json::to_vec(header).unwrap_or_default();
    while !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header);
    bytes.extend_from_slice(data);
    bytes
}

/// A classifier file with its `bertweb` metadata edited as JSON.
pub fn edit_meta(bytes: &[u8], edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let (mut header, data) = split_safetensors(bytes).unwrap();
    let meta = header["__metadata__"]["bertweb"].as_str().unwrap();
    let mut meta: Value = serde_json::from_str(meta).unwrap();
    edit(&mut meta);
    header["__metadata__"]["bertweb"] = Value::String(meta.to_string());
    join_safetensors(&header, data)
}

/// A safetensors file with the first f32 of tensor `name` (or of the first tensor whose
/// name contains it) set to `value`.
pub fn poke_f32(bytes: &[u8], name: &str, value: f32) -> Vec<u8> {
    let (header, data) = split_safetensors(bytes).unwrap();
    let (_, info) = header
        .as_object()
        .unwrap()
        .iter()
        .find(|(n, _)| n.as_str() != "__metadata__" && n.contains(name))
        .unwrap_or_else(|| panic!("no tensor {name}"));
    let start = info["data_offsets"][0].as_u64().unwrap() as usize;
    let mut data = data.to_vec();
    data[start..start + 4].copy_from_slice(&value.to_le_bytes());
    join_safetensors(&header, &data)
}

/// The first bytes of a features file.
pub const FEATURES_MAGIC: &[u8] = b"BWFEAT1\n";

/// A features file with the given header (JSON, or not) and data.
pub fn features_file(header: &[u8], data: &[u8]) -> Vec<u8> {
    let mut bytes = FEATURES_MAGIC.to_vec();
    bytes.extend((header.len() as u32).to_le_bytes());
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(data);
    bytes
}

/// Floats as little-endian bytes, as a features file's data holds them.
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// `rows` random rows of `dim` features with labels cycling through `classes`: feature `j` of
/// a row labelled `l` is `value(l, j, u)`, `u` drawn uniformly in [0, 1) from a generator
/// seeded with `seed` (make `value` separate the classes).
pub fn labelled_rows(
    seed: u64,
    rows: usize,
    dim: usize,
    classes: usize,
    value: impl Fn(usize, usize, f32) -> f32,
) -> (Vec<f32>, Vec<usize>) {
    let mut rng = SeededRng::new(seed);
    let labels: Vec<usize> = (0..rows).map(|i| i % classes).collect();
    let features = labels
        .iter()
        .flat_map(|&l| {
            (0..dim)
                .map(|j| value(l, j, rng.next_f64() as f32))
                .collect::<Vec<_>>()
        })
        .collect();
    (features, labels)
}

/// A head trained with `settings` on `rows` (features of width `dim`, labels), as a classifier
/// file claiming `model_id` and `features`, with one class per name.
pub fn head_file(
    rows: &(Vec<f32>, Vec<usize>),
    dim: usize,
    names: Vec<String>,
    model_id: &str,
    settings: TrainSettings,
    features: FeatureSettings,
) -> Vec<u8> {
    let (values, labels) = rows;
    let device = Device::flex();
    let mut trainer = Trainer::new(values, dim, labels, names.len(), settings, &device).unwrap();
    while !trainer.is_finished() {
        pollster::block_on(trainer.step()).unwrap();
    }
    let classifier = Classifier::new(trainer.finish().unwrap(), model_id, features, names);
    pollster::block_on(classifier.to_bytes()).unwrap()
}

/// The encoder's top `layers` fine-tuned for one epoch with `pooling` on `rows` texts
/// "this `subject` is good" / "… bad", as a classifier file.
pub fn tuned_file(
    encoder: &Encoder,
    subject: &str,
    rows: usize,
    layers: usize,
    pooling: Pooling,
) -> Vec<u8> {
    let texts: Vec<String> = (0..rows)
        .map(|i| format!("this {subject} is {}", ["good", "bad"][i % 2]))
        .collect();
    let labels: Vec<usize> = (0..rows).map(|i| i % 2).collect();
    let settings = FineTuneSettings {
        layers,
        pooling,
        epochs: 1,
        batch_size: 4,
        max_len: 16,
        ..FineTuneSettings::default()
    };
    let mut tuner = FineTuner::new(encoder, &texts, &labels, 2, settings).unwrap();
    while !tuner.is_finished() {
        pollster::block_on(tuner.step(encoder)).unwrap();
    }
    let tuned = pollster::block_on(tuner.finish()).unwrap();
    let classifier = Classifier::from_fine_tuned(tuned, vec!["bad".into(), "good".into()]);
    pollster::block_on(classifier.to_bytes()).unwrap()
}
