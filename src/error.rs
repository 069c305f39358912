//! One typed error for everything a user can get wrong: the wasm surface turns it into a
//! `JsError` with the same message, so the page can show it verbatim.

use thiserror::Error;

/// Everything that can go wrong when loading a model or embedding texts.
#[derive(Debug, Error)]
pub enum BertError {
    /// `config.json` is not valid JSON or lacks a field we need.
    #[error("config.json is not a valid BERT config: {0}")]
    ConfigJson(String),
    /// `config.json` describes another architecture.
    #[error(
        "config.json describes a `{0}` model, not BERT: choose a BERT checkpoint (model_type \"bert\")"
    )]
    NotBert(String),
    /// `config.json` holds numbers that cannot make a working model.
    #[error("config.json is inconsistent: {0}")]
    ConfigInvalid(String),
    /// An activation we do not implement.
    #[error(
        "config.json asks for hidden_act `{0}`; supported: gelu, gelu_new, gelu_pytorch_tanh, relu"
    )]
    UnsupportedActivation(String),
    /// The weights file cannot be parsed as safetensors.
    #[error("model.safetensors cannot be read ({0}): is it a complete safetensors file?")]
    WeightsFormat(String),
    /// A tensor the model needs is not in the file.
    #[error(
        "model.safetensors has no tensor `{0}` (nor `bert.{0}`): is this the checkpoint that goes with config.json?"
    )]
    MissingTensor(String),
    /// A tensor is present with the wrong shape.
    #[error(
        "model.safetensors: tensor `{name}` has shape {found:?}, expected {expected:?} from config.json"
    )]
    TensorShape {
        /// The tensor's name as found in the file.
        name: String,
        /// The shape config.json implies.
        expected: Vec<usize>,
        /// The shape stored in the file.
        found: Vec<usize>,
    },
    /// A tensor is stored in a dtype we cannot convert to f32.
    #[error("model.safetensors: tensor `{name}` is stored as {dtype}; supported: F32, F16, BF16")]
    TensorDtype {
        /// The tensor's name.
        name: String,
        /// The stored dtype.
        dtype: String,
    },
    /// The tokenizer file is neither a `tokenizer.json` nor a `vocab.txt`.
    #[error("tokenizer cannot be read: {0}")]
    Tokenizer(String),
    /// Tokenizer and model disagree.
    #[error(
        "tokenizer produced token id {id}, but the model's vocabulary has {vocab_size} entries"
    )]
    TokenOutOfVocab {
        /// The offending id.
        id: u32,
        /// The model's vocab size.
        vocab_size: usize,
    },
    /// Nothing to embed.
    #[error("no texts to embed: give at least one text")]
    EmptyBatch,
    /// A maximum length the model cannot take.
    #[error(
        "max length {max_len} is out of range: it must be between 2 and {limit} (the model's max positions)"
    )]
    MaxLen {
        /// What was asked for.
        max_len: usize,
        /// The model's limit.
        limit: usize,
    },
    /// An unknown pooling name.
    #[error("unknown pooling `{0}`: use \"mean\" or \"pooler\"")]
    Pooling(String),
    /// Pooler output asked of a checkpoint that has no pooler weights.
    #[error("this checkpoint has no pooler weights (pooler.dense): use mean pooling")]
    NoPooler,
    /// Features, a classifier or a file made with another model or other settings.
    #[error("{0}")]
    Mismatch(String),
    /// The compute device failed (WebGPU init, a lost device, a failed readback).
    #[error("compute device error: {0}")]
    Device(String),
}

/// Result alias used across the crate.
pub type Result<T, E = BertError> = std::result::Result<T, E>;
