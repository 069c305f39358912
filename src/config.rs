//! The subset of a Hugging Face `config.json` that defines a BERT encoder.

use serde::Deserialize;

use crate::error::{BertError, Result};

/// Feed-forward activation, as named by `hidden_act`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Exact GELU (erf), Hugging Face's `gelu`.
    Gelu,
    /// Tanh approximation of GELU (`gelu_new`, `gelu_pytorch_tanh`).
    GeluTanh,
    /// ReLU.
    Relu,
}

/// Architecture of a BERT encoder, read from `config.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct BertConfig {
    /// Word-piece vocabulary size.
    pub vocab_size: usize,
    /// Width of every hidden state.
    pub hidden_size: usize,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer; divides `hidden_size`.
    pub num_attention_heads: usize,
    /// Width of the feed-forward block.
    pub intermediate_size: usize,
    /// Longest sequence the position embeddings cover.
    pub max_position_embeddings: usize,
    /// Number of segment (token type) embeddings.
    pub type_vocab_size: usize,
    /// Epsilon of every LayerNorm.
    pub layer_norm_eps: f64,
    /// Feed-forward activation.
    pub hidden_act: Activation,
}

#[derive(Deserialize)]
struct RawConfig {
    model_type: Option<String>,
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    type_vocab_size: usize,
    #[serde(default = "default_eps")]
    layer_norm_eps: f64,
    #[serde(default = "default_act")]
    hidden_act: String,
    position_embedding_type: Option<String>,
}

fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_act() -> String {
    "gelu".into()
}

impl BertConfig {
    /// Parses and checks `config.json` bytes.
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Self> {
        let raw: RawConfig =
            serde_json::from_slice(bytes).map_err(|e| BertError::ConfigJson(e.to_string()))?;
        // Configs written by old tooling sometimes omit model_type; their fields still tell.
        if let Some(model_type) = &raw.model_type
            && model_type != "bert"
        {
            return Err(BertError::NotBert(model_type.clone()));
        }
        if let Some(kind) = &raw.position_embedding_type
            && kind != "absolute"
        {
            return Err(BertError::ConfigInvalid(format!(
                "position_embedding_type `{kind}` is not supported, only `absolute`"
            )));
        }
        let hidden_act = match raw.hidden_act.as_str() {
            "gelu" => Activation::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            other => return Err(BertError::UnsupportedActivation(other.to_string())),
        };
        let config = Self {
            vocab_size: raw.vocab_size,
            hidden_size: raw.hidden_size,
            num_hidden_layers: raw.num_hidden_layers,
            num_attention_heads: raw.num_attention_heads,
            intermediate_size: raw.intermediate_size,
            max_position_embeddings: raw.max_position_embeddings,
            type_vocab_size: raw.type_vocab_size,
            layer_norm_eps: raw.layer_norm_eps,
            hidden_act,
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(BertError::ConfigInvalid(format!("{name} is 0")));
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(BertError::ConfigInvalid(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            )));
        }
        Ok(())
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}

/// What a Hugging Face `config.json` says of the classifier on top of the encoder
/// (`BertForSequenceClassification`): the label names and whether labels are independent.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifierConfig {
    /// Label names, index = output (`id2label`; `LABEL_i` where it names none).
    pub labels: Vec<String>,
    /// `problem_type` `multi_label_classification`: a sigmoid per label, not one softmax.
    pub multi_label: bool,
    /// The first of `architectures`, when given.
    pub architecture: Option<String>,
}

#[derive(Deserialize)]
struct RawClassifierConfig {
    #[serde(default)]
    id2label: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    problem_type: Option<String>,
    #[serde(default)]
    architectures: Option<Vec<String>>,
}

impl ClassifierConfig {
    /// Reads the classifier part of `config.json` for a classifier of `outputs` outputs (the
    /// rows of its `classifier.weight`).
    pub fn from_json_bytes(bytes: &[u8], outputs: usize) -> Result<Self> {
        let raw: RawClassifierConfig =
            serde_json::from_slice(bytes).map_err(|e| BertError::ConfigJson(e.to_string()))?;
        let invalid = |why: String| Err(BertError::ConfigInvalid(why));
        let multi_label = match raw.problem_type.as_deref() {
            None | Some("single_label_classification") => false,
            Some("multi_label_classification") => true,
            Some("regression") => {
                return invalid(
                    "its classifier is a regression (problem_type `regression`): bertweb runs classifiers with named labels".into(),
                );
            }
            Some(other) => {
                return invalid(format!("problem_type `{other}` is not one bertweb knows"));
            }
        };
        if outputs < 2 {
            return invalid(format!(
                "its classifier has {outputs} output: bertweb needs one per label, at least 2"
            ));
        }
        let names = raw.id2label.unwrap_or_default();
        if !names.is_empty() && names.len() != outputs {
            return invalid(format!(
                "id2label names {} labels, but the classifier has {outputs} outputs",
                names.len()
            ));
        }
        let labels = (0..outputs)
            .map(|i| {
                names
                    .get(&i.to_string())
                    .cloned()
                    .or_else(|| names.is_empty().then(|| format!("LABEL_{i}")))
                    .ok_or_else(|| BertError::ConfigInvalid(format!("id2label has no label {i}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            labels,
            multi_label,
            architecture: raw.architectures.and_then(|a| a.into_iter().next()),
        })
    }
}
