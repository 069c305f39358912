//! Builds a [`BertModel`] from the bytes of a Hugging Face `model.safetensors`.
//!
//! All name mapping lives here: our modules are named after Hugging Face's `BertModel`
//! keys, which appear bare (`BertModel`, sentence-transformers) or under `bert.`
//! (`BertForSequenceClassification`, `BertForPreTraining`), and old TF-converted checkpoints
//! such as bert-base-uncased call LayerNorm parameters `gamma`/`beta`. Tensors the encoder does
//! not use (`cls.*`, `position_ids`, a classifier) are ignored.

use burn::module::Param;
use burn::nn::{Embedding, LayerNorm, LayerNormConfig, Linear};
use burn::prelude::*;
use safetensors::{Dtype, SafeTensors};

use crate::config::BertConfig;
use crate::error::{BertError, Result};
use crate::model::bert::{BertAttention, BertEmbeddings, BertLayer, BertModel, activation_code};

/// Widest hidden state a model or a fine-tuned classifier may have. BERT-large is 1,024 wide;
/// the cap only keeps a crafted `config.json` from allocating before its tensors are read.
pub const MAX_HIDDEN: usize = 16_384;
/// Widest feed-forward block (BERT-large: 4,096).
pub const MAX_INTERMEDIATE: usize = 65_536;
/// Most encoder layers (BERT-large: 24).
pub const MAX_LAYERS: usize = 256;
/// Largest vocabulary (multilingual BERT: 119,547).
pub const MAX_VOCAB: usize = 1 << 20;
/// Most position embeddings, and so the longest max length anything may ask for (BERT: 512).
pub const MAX_POSITIONS: usize = 16_384;
/// Most token types (BERT: 2).
pub const MAX_TYPE_VOCAB: usize = 1_024;

/// Why an encoder layer of this geometry cannot work, if it cannot: burn's attention splits
/// `hidden` into `heads` equal parts and LayerNorm needs a positive epsilon.
pub(crate) fn layer_problem(
    hidden: usize,
    heads: usize,
    intermediate: usize,
    layer_norm_eps: f64,
) -> Option<String> {
    if !(1..=MAX_HIDDEN).contains(&hidden) {
        return Some(format!(
            "hidden size {hidden} is not between 1 and {MAX_HIDDEN}"
        ));
    }
    if heads == 0 || !hidden.is_multiple_of(heads) {
        return Some(format!(
            "{heads} attention heads do not divide the hidden size {hidden}"
        ));
    }
    if !(1..=MAX_INTERMEDIATE).contains(&intermediate) {
        return Some(format!(
            "intermediate size {intermediate} is not between 1 and {MAX_INTERMEDIATE}"
        ));
    }
    if !(layer_norm_eps.is_finite() && layer_norm_eps > 0.0 && layer_norm_eps < 1.0) {
        return Some(format!(
            "layer_norm_eps {layer_norm_eps} is not a small positive number"
        ));
    }
    None
}

/// Refuses sizes no BERT has before anything is allocated from them.
fn check_config(config: &BertConfig) -> Result<()> {
    let caps = [
        ("vocab_size", config.vocab_size, MAX_VOCAB),
        ("num_hidden_layers", config.num_hidden_layers, MAX_LAYERS),
        (
            "max_position_embeddings",
            config.max_position_embeddings,
            MAX_POSITIONS,
        ),
        ("type_vocab_size", config.type_vocab_size, MAX_TYPE_VOCAB),
    ];
    if let Some((name, value, cap)) = caps.iter().find(|(_, v, cap)| !(1..=*cap).contains(v)) {
        return Err(BertError::ConfigInvalid(format!(
            "{name} is {value}; it must be between 1 and {cap}"
        )));
    }
    match layer_problem(
        config.hidden_size,
        config.num_attention_heads,
        config.intermediate_size,
        config.layer_norm_eps,
    ) {
        Some(problem) => Err(BertError::ConfigInvalid(problem)),
        None => Ok(()),
    }
}

/// Reads tensors by their `BertModel` name, whatever the file's naming convention.
struct WeightFile<'a> {
    tensors: SafeTensors<'a>,
    device: &'a Device,
}

impl<'a> WeightFile<'a> {
    fn candidates(name: &str) -> Vec<String> {
        let mut names = vec![name.to_string()];
        if let Some(stem) = name.strip_suffix("LayerNorm.weight") {
            names.push(format!("{stem}LayerNorm.gamma"));
        }
        if let Some(stem) = name.strip_suffix("LayerNorm.bias") {
            names.push(format!("{stem}LayerNorm.beta"));
        }
        let prefixed: Vec<String> = names.iter().map(|n| format!("bert.{n}")).collect();
        names.extend(prefixed);
        names
    }

    /// The tensor `name` as f32 values, checked against `expected`.
    fn values(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>> {
        let (found_name, view) = Self::candidates(name)
            .into_iter()
            .find_map(|n| self.tensors.tensor(&n).ok().map(|v| (n, v)))
            .ok_or_else(|| BertError::MissingTensor(name.to_string()))?;
        if view.shape() != expected {
            return Err(BertError::TensorShape {
                name: found_name,
                expected: expected.to_vec(),
                found: view.shape().to_vec(),
            });
        }
        let bytes = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => bytes
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            other => {
                return Err(BertError::TensorDtype {
                    name: found_name,
                    dtype: format!("{other:?}"),
                });
            }
        };
        if !values.iter().all(|v| v.is_finite()) {
            return Err(BertError::TensorNotFinite(found_name));
        }
        Ok(values)
    }

    fn tensor<const D: usize>(&self, name: &str, shape: [usize; D]) -> Result<Tensor<D>> {
        let values = self.values(name, &shape)?;
        Ok(Tensor::from_data(
            TensorData::new(values, shape),
            self.device,
        ))
    }

    /// A dense layer; Hugging Face stores `[out, in]`, burn's `Linear` wants `[in, out]`.
    fn linear(&self, prefix: &str, d_in: usize, d_out: usize) -> Result<Linear> {
        let stored = self.values(&format!("{prefix}.weight"), &[d_out, d_in])?;
        let mut transposed = vec![0.0f32; stored.len()];
        for (o, row) in stored.chunks_exact(d_in).enumerate() {
            for (i, &w) in row.iter().enumerate() {
                transposed[i * d_out + o] = w;
            }
        }
        Ok(Linear {
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(transposed, [d_in, d_out]),
                self.device,
            )),
            bias: Some(Param::from_tensor(
                self.tensor(&format!("{prefix}.bias"), [d_out])?,
            )),
        })
    }

    fn layer_norm(&self, prefix: &str, width: usize, eps: f64) -> Result<LayerNorm> {
        let mut norm = LayerNormConfig::new(width)
            .with_epsilon(eps)
            .init(self.device);
        norm.gamma = Param::from_tensor(self.tensor(&format!("{prefix}.weight"), [width])?);
        norm.beta = Some(Param::from_tensor(
            self.tensor(&format!("{prefix}.bias"), [width])?,
        ));
        Ok(norm)
    }

    fn embedding(&self, name: &str, rows: usize, width: usize) -> Result<Embedding> {
        Ok(Embedding {
            weight: Param::from_tensor(self.tensor(name, [rows, width])?),
        })
    }
}

/// Builds the encoder described by `config` from `model.safetensors` bytes on `device`.
/// A sequence classifier's dense layer stored beside the encoder (Hugging Face's
/// `BertForSequenceClassification`: `classifier.weight` `[labels, hidden]` and
/// `classifier.bias`).
pub struct DenseWeights {
    /// Rows of the weight: one per output.
    pub outputs: usize,
    /// Row-major `[outputs, hidden]`, as Hugging Face stores it.
    pub weight: Vec<f32>,
    /// One per output.
    pub bias: Vec<f32>,
}

/// The file's [`DenseWeights`] of a sequence classifier; `None` when it has none.
pub fn sequence_classifier(
    safetensors: &[u8],
    hidden: usize,
    device: &Device,
) -> Result<Option<DenseWeights>> {
    let tensors = SafeTensors::deserialize(safetensors)
        .map_err(|e| BertError::WeightsFormat(e.to_string()))?;
    let Some(shape) = WeightFile::candidates("classifier.weight")
        .iter()
        .find_map(|n| tensors.tensor(n).ok().map(|v| v.shape().to_vec()))
    else {
        return Ok(None);
    };
    let labels = match shape[..] {
        [labels, width] if width == hidden && (1..=crate::head::MAX_CLASSES).contains(&labels) => {
            labels
        }
        _ => {
            return Err(BertError::TensorShape {
                name: "classifier.weight".into(),
                expected: vec![shape.first().copied().unwrap_or(0), hidden],
                found: shape,
            });
        }
    };
    let file = WeightFile { tensors, device };
    let weight = file.values("classifier.weight", &[labels, hidden])?;
    let bias = file.values("classifier.bias", &[labels])?;
    Ok(Some(DenseWeights {
        outputs: labels,
        weight,
        bias,
    }))
}

pub fn load_bert(config: &BertConfig, safetensors: &[u8], device: &Device) -> Result<BertModel> {
    check_config(config)?;
    let tensors = SafeTensors::deserialize(safetensors)
        .map_err(|e| BertError::WeightsFormat(e.to_string()))?;
    let file = WeightFile { tensors, device };
    let (h, i) = (config.hidden_size, config.intermediate_size);
    let eps = config.layer_norm_eps;

    let embeddings = BertEmbeddings {
        word: file.embedding("embeddings.word_embeddings.weight", config.vocab_size, h)?,
        position: file.embedding(
            "embeddings.position_embeddings.weight",
            config.max_position_embeddings,
            h,
        )?,
        token_type: file.embedding(
            "embeddings.token_type_embeddings.weight",
            config.type_vocab_size,
            h,
        )?,
        layer_norm: file.layer_norm("embeddings.LayerNorm", h, eps)?,
    };
    let layers = (0..config.num_hidden_layers)
        .map(|n| {
            let p = format!("encoder.layer.{n}");
            Ok(BertLayer {
                attention: BertAttention {
                    query: file.linear(&format!("{p}.attention.self.query"), h, h)?,
                    key: file.linear(&format!("{p}.attention.self.key"), h, h)?,
                    value: file.linear(&format!("{p}.attention.self.value"), h, h)?,
                    output: file.linear(&format!("{p}.attention.output.dense"), h, h)?,
                    layer_norm: file.layer_norm(
                        &format!("{p}.attention.output.LayerNorm"),
                        h,
                        eps,
                    )?,
                    heads: config.num_attention_heads,
                },
                intermediate: file.linear(&format!("{p}.intermediate.dense"), h, i)?,
                output: file.linear(&format!("{p}.output.dense"), i, h)?,
                layer_norm: file.layer_norm(&format!("{p}.output.LayerNorm"), h, eps)?,
                activation: activation_code(config.hidden_act),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // Checkpoints saved from heads without a pooler (masked LM, token classification) still
    // give mean-pooled features; only the pooler output is unavailable for them.
    let pooler = match file.linear("pooler.dense", h, h) {
        Ok(pooler) => Some(pooler),
        Err(BertError::MissingTensor(_)) => None,
        Err(other) => return Err(other),
    };
    Ok(BertModel {
        embeddings,
        layers,
        pooler,
    })
}
