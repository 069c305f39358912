//! What the native benchmarks share: the default model on flex and the tutorial's split of the
//! shared Amazon reviews.

use std::io::Read;
use std::path::Path;

use bertweb::Encoder;
use bertweb::data::{self, Dataset, Settings};
use burn::tensor::Device;

/// The default model (fetched into `models/`) and the shared data's tutorial split.
pub fn tutorial_split() -> Result<(Encoder, Dataset), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("models/all-MiniLM-L6-v2");
    let mut csv = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(
        root.join("../shared/data/amazon-fine-food/Reviews.partial.csv.gz"),
    )?)
    .read_to_end(&mut csv)?;
    let dataset = data::load(&csv, &Settings::default())?;
    let encoder = Encoder::load(
        &std::fs::read(dir.join("config.json"))?,
        &std::fs::read(dir.join("model.safetensors"))?,
        &std::fs::read(dir.join("tokenizer.json"))?,
        &Device::flex(),
    )?;
    Ok((encoder, dataset))
}
