//! One typed error for everything a user can get wrong: the wasm surface turns it into a JS
//! `Error` with the same message, so the page can show it verbatim, and with its
//! [`ErrorKind`]'s name as the error's `name`, so the page decides what to do by the kind
//! (fall back to the CPU, keep the previous model, extract again) and never by the wording.

use serde::Serialize;
use thiserror::Error;

/// What a failure is about: what the page does next depends on this, never on the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ErrorKind {
    /// A model folder's `config.json`, `model.safetensors` or tokenizer: the previous model
    /// stays in use, and another device would not help.
    ModelFile,
    /// A CSV file or the data set made from it.
    Data,
    /// A setting out of range or unknown (a preset, a pooling, a max length, training settings).
    Settings,
    /// The compute device (WebGPU start, a lost device, a failed readback): the CPU may work.
    Device,
    /// A classifier or features file that cannot be read, or that does not fit the loaded
    /// model or data.
    Classifier,
    /// A state the page should not reach (a busy or finished handle) or a failure of ours.
    Internal,
}

impl ErrorKind {
    /// Every kind, in a fixed order (the page's type for `Error.name` lists the same).
    pub const ALL: [ErrorKind; 6] = [
        ErrorKind::ModelFile,
        ErrorKind::Data,
        ErrorKind::Settings,
        ErrorKind::Device,
        ErrorKind::Classifier,
        ErrorKind::Internal,
    ];

    /// The JS `Error.name` of this kind.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::ModelFile => "ModelFileError",
            ErrorKind::Data => "DataError",
            ErrorKind::Settings => "SettingsError",
            ErrorKind::Device => "DeviceError",
            ErrorKind::Classifier => "ClassifierError",
            ErrorKind::Internal => "InternalError",
        }
    }
}

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
    /// A tensor holds NaN or infinite values: every output computed with it would be NaN.
    #[error(
        "model.safetensors: tensor `{0}` holds NaN or infinite values: the file is damaged, download it again"
    )]
    TensorNotFinite(String),
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
    /// A setting that cannot work: an unknown preset, settings out of range.
    #[error("{0}")]
    Settings(String),
    /// Too little or unusable data for what was asked (e.g. training on one example).
    #[error("{0}")]
    Data(String),
    /// Features or a classifier made with another model, other settings or other data.
    #[error("{0}")]
    Incompatible(String),
    /// Bytes that are not a bertweb classifier or features file.
    #[error("{0}")]
    NotOurFile(String),
    /// A bertweb classifier or features file whose contents cannot work: metadata out of
    /// range or inconsistent with itself or its tensors, or values that are NaN or infinite
    /// (a damaged or hand-edited file).
    #[error("{0}")]
    InvalidFile(String),
    /// A step asked of a run in a state that cannot take it, or a failure of ours (writing a
    /// file, computing metrics): a bug to report, not something the user did.
    #[error("{0}")]
    Internal(String),
    /// The compute device failed (WebGPU init, a lost device, a failed readback).
    #[error("compute device error: {0}")]
    Device(String),
}

impl BertError {
    /// What this failure is about.
    pub fn kind(&self) -> ErrorKind {
        match self {
            BertError::ConfigJson(_)
            | BertError::NotBert(_)
            | BertError::ConfigInvalid(_)
            | BertError::UnsupportedActivation(_)
            | BertError::WeightsFormat(_)
            | BertError::MissingTensor(_)
            | BertError::TensorShape { .. }
            | BertError::TensorDtype { .. }
            | BertError::TensorNotFinite(_)
            | BertError::Tokenizer(_)
            | BertError::TokenOutOfVocab { .. } => ErrorKind::ModelFile,
            BertError::EmptyBatch | BertError::Data(_) => ErrorKind::Data,
            BertError::MaxLen { .. }
            | BertError::Pooling(_)
            | BertError::NoPooler
            | BertError::Settings(_) => ErrorKind::Settings,
            BertError::Incompatible(_) | BertError::NotOurFile(_) | BertError::InvalidFile(_) => {
                ErrorKind::Classifier
            }
            BertError::Device(_) => ErrorKind::Device,
            BertError::Internal(_) => ErrorKind::Internal,
        }
    }
}

/// Result alias used across the crate.
pub type Result<T, E = BertError> = std::result::Result<T, E>;
