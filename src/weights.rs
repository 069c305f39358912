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
        let values = match view.dtype() {
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
pub fn load_bert(config: &BertConfig, safetensors: &[u8], device: &Device) -> Result<BertModel> {
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
