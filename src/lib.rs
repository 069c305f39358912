//! bertweb: a real BERT in the browser.
//!
//! The crate is plain Rust that runs natively (tests, command line) and in wasm. Model code
//! takes a burn [`Device`](burn::tensor::Device), so the same code runs on burn's flex CPU
//! backend and on WebGPU. Only [`api`] (wasm32 only) knows about JavaScript.

pub mod attribution;
pub mod calibration;
pub mod classifier;
pub mod config;
pub mod data;
pub mod encoder;
pub mod epochs;
pub mod error;
pub mod evaluate;
pub mod export;
pub mod features;
pub mod finetune;
pub mod head;
pub mod labeling;
pub mod metrics;
pub mod model;
pub mod multilabel;
pub mod params;
pub mod shard;
pub mod stream;
pub mod targets;
pub mod tokenizer;
pub mod train;
pub mod weights;

#[cfg(target_arch = "wasm32")]
pub mod api;

/// Held by unit tests that seed burn's device RNG and draw from it: the RNG is shared by the
/// test threads, so a concurrent draw would make a seeded run differ from the next.
#[cfg(test)]
pub(crate) static TEST_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(test)]
pub(crate) fn test_rng() -> std::sync::MutexGuard<'static, ()> {
    TEST_RNG
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The tiny BERT of `tests/fixtures/tiny` on the CPU, for unit tests.
#[cfg(test)]
pub(crate) fn tiny_encoder() -> Encoder {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny");
    let read = |name: &str| std::fs::read(dir.join(name)).expect("tiny fixture");
    Encoder::load(
        &read("config.json"),
        &read("model.safetensors"),
        &read("tokenizer.json"),
        &burn::tensor::Device::flex(),
    )
    .expect("tiny model loads")
}

pub use config::BertConfig;
pub use encoder::Encoder;
pub use error::{BertError, ErrorKind, Result};
pub use model::{BertModel, Pooling, TokenBatch};
pub use tokenizer::{BertTokenizer, DEFAULT_MAX_LEN};
