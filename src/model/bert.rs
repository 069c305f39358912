//! BERT as in Hugging Face's `BertModel`: embeddings, post-LayerNorm encoder layers, pooler.
//!
//! The layers are a `Vec` and [`BertModel::encode_layers`] runs any sub-range of them, so a
//! trainer can run the lower layers once without gradients and only the top ones with
//! autodiff.

use std::ops::Range;

use burn::nn::{Embedding, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{gelu, gelu_approximate, relu};

use serde::{Deserialize, Serialize};

use super::gelu::gelu_inference;
use super::softmax::attention_softmax;
use crate::config::{Activation, BertConfig};

/// Token ids and attention mask of a padded batch, row-major `[batch, seq]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBatch {
    /// Word-piece ids, padded with the pad id (0).
    pub ids: Vec<i64>,
    /// 1 for real tokens, 0 for padding.
    pub mask: Vec<i64>,
    /// Number of texts.
    pub batch: usize,
    /// Padded sequence length.
    pub seq: usize,
}

impl TokenBatch {
    /// Pads rows of ids (`[CLS] … [SEP]`) with `pad` to the longest row.
    pub fn pad<R: AsRef<[u32]>>(rows: &[R], pad: u32) -> Self {
        let seq = rows.iter().map(|r| r.as_ref().len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(rows.len() * seq);
        let mut mask = Vec::with_capacity(rows.len() * seq);
        for row in rows {
            let row = row.as_ref();
            ids.extend(row.iter().map(|&id| i64::from(id)));
            ids.extend(std::iter::repeat_n(i64::from(pad), seq - row.len()));
            mask.extend(std::iter::repeat_n(1, row.len()));
            mask.extend(std::iter::repeat_n(0, seq - row.len()));
        }
        Self {
            ids,
            mask,
            batch: rows.len(),
            seq,
        }
    }
}

/// Word, position and segment embeddings, summed and normalized.
#[derive(Module, Debug)]
pub struct BertEmbeddings {
    pub(crate) word: Embedding,
    pub(crate) position: Embedding,
    pub(crate) token_type: Embedding,
    pub(crate) layer_norm: LayerNorm,
}

impl BertEmbeddings {
    /// `[batch, seq]` ids → `[batch, seq, hidden]`; segment ids are all 0 (single texts).
    pub fn forward(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        self.forward_words(self.word.forward(ids))
    }

    /// As [`BertEmbeddings::forward`], from the word embeddings `[batch, seq, hidden]` instead
    /// of ids: attributions integrate along a path between two of them.
    pub fn forward_words(&self, words: Tensor<3>) -> Tensor<3> {
        let [batch, seq, _] = words.dims();
        let device = words.device();
        let positions = Tensor::<1, Int>::arange(0..seq as i64, &device).reshape([1, seq]);
        let segments = Tensor::<2, Int>::zeros([batch, seq], &device);
        let x = words + self.position.forward(positions) + self.token_type.forward(segments);
        self.layer_norm.forward(x)
    }
}

/// Multi-head self-attention with its output projection and residual LayerNorm.
#[derive(Module, Debug)]
pub struct BertAttention {
    pub(crate) query: Linear,
    pub(crate) key: Linear,
    pub(crate) value: Linear,
    pub(crate) output: Linear,
    pub(crate) layer_norm: LayerNorm,
    pub(crate) heads: usize,
}

impl BertAttention {
    /// `x`: `[batch, seq, hidden]`; `mask_bias`: `[batch, 1, 1, seq]`, 0 for tokens and a large
    /// negative number for padding, so padded keys get no attention weight.
    pub fn forward(&self, x: Tensor<3>, mask_bias: Tensor<4>) -> Tensor<3> {
        let [batch, seq, hidden] = x.dims();
        let head_dim = hidden / self.heads;
        let split = |t: Tensor<3>| {
            t.reshape([batch, seq, self.heads, head_dim])
                .swap_dims(1, 2)
        };
        let q = split(self.query.forward(x.clone()));
        let k = split(self.key.forward(x.clone()));
        let v = split(self.value.forward(x.clone()));
        let scores = q.matmul(k.swap_dims(2, 3));
        let scale = 1.0 / (head_dim as f32).sqrt();
        let context = attention_softmax(scores, scale, mask_bias)
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([batch, seq, hidden]);
        self.layer_norm.forward(self.output.forward(context) + x)
    }
}

/// The geometry of one encoder layer: enough to rebuild an empty layer and load saved tensors
/// into it (a fine-tuned classifier stores its layers' shape this way).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerShape {
    /// Hidden width.
    pub hidden: usize,
    /// Attention heads.
    pub heads: usize,
    /// Feed-forward width.
    pub intermediate: usize,
    /// Feed-forward activation code (see [`activation_code`]).
    pub activation: usize,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
}

impl LayerShape {
    /// The layer geometry `config` describes.
    pub fn of(config: &BertConfig) -> Self {
        Self {
            hidden: config.hidden_size,
            heads: config.num_attention_heads,
            intermediate: config.intermediate_size,
            activation: activation_code(config.hidden_act),
            layer_norm_eps: config.layer_norm_eps,
        }
    }
}

/// One encoder layer: attention, then the feed-forward block with its residual LayerNorm.
#[derive(Module, Debug)]
pub struct BertLayer {
    pub(crate) attention: BertAttention,
    pub(crate) intermediate: Linear,
    pub(crate) output: Linear,
    pub(crate) layer_norm: LayerNorm,
    pub(crate) activation: usize,
}

impl BertLayer {
    /// A randomly initialized layer of `shape`, to load saved tensors into.
    pub fn new(shape: &LayerShape, device: &Device) -> Self {
        let (h, i) = (shape.hidden, shape.intermediate);
        let norm = || {
            LayerNormConfig::new(h)
                .with_epsilon(shape.layer_norm_eps)
                .init(device)
        };
        let dense = |d_in, d_out| LinearConfig::new(d_in, d_out).init(device);
        Self {
            attention: BertAttention {
                query: dense(h, h),
                key: dense(h, h),
                value: dense(h, h),
                output: dense(h, h),
                layer_norm: norm(),
                heads: shape.heads,
            },
            intermediate: dense(h, i),
            output: dense(i, h),
            layer_norm: norm(),
            activation: shape.activation,
        }
    }

    /// `[batch, seq, hidden]` → `[batch, seq, hidden]`.
    pub fn forward(&self, x: Tensor<3>, mask_bias: Tensor<4>) -> Tensor<3> {
        let x = self.attention.forward(x, mask_bias);
        let h = self.intermediate.forward(x.clone());
        let h = match activation_from_code(self.activation) {
            Activation::Gelu if h.is_autodiff() => guarded(h, gelu),
            Activation::GeluTanh if h.is_autodiff() => guarded(h, gelu_approximate),
            Activation::Gelu => gelu_inference(h),
            Activation::GeluTanh => gelu_approximate(h),
            Activation::Relu => relu(h),
        };
        self.layer_norm.forward(self.output.forward(h) + x)
    }
}

/// The encoder with its pooler.
#[derive(Module, Debug)]
pub struct BertModel {
    pub(crate) embeddings: BertEmbeddings,
    pub(crate) layers: Vec<BertLayer>,
    pub(crate) pooler: Option<Linear>,
}

impl BertModel {
    /// Number of encoder layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Moves a batch of token ids and masks to `device`.
    pub fn batch_tensors(batch: &TokenBatch, device: &Device) -> (Tensor<2, Int>, Tensor<2>) {
        let shape = [batch.batch, batch.seq];
        let ids = Tensor::<2, Int>::from_data(TensorData::new(batch.ids.clone(), shape), device);
        let mask: Vec<f32> = batch.mask.iter().map(|&m| m as f32).collect();
        let mask = Tensor::<2>::from_data(TensorData::new(mask, shape), device);
        (ids, mask)
    }

    /// The additive attention bias for a `[batch, seq]` 0/1 mask: `[batch, 1, 1, seq]`.
    pub fn mask_bias(mask: Tensor<2>) -> Tensor<4> {
        let [batch, seq] = mask.dims();
        // -1e9 rather than -inf: exp underflows to exactly 0 either way, and a finite value
        // can never turn a row into NaN.
        (mask.neg() + 1.0)
            .mul_scalar(-1e9)
            .reshape([batch, 1, 1, seq])
    }

    /// Embedding layer output for `[batch, seq]` ids.
    pub fn embed(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        self.embeddings.forward(ids)
    }

    /// The word embeddings alone (no positions, no LayerNorm) of `[batch, seq]` ids.
    pub fn word_embeddings(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        self.embeddings.word.forward(ids)
    }

    /// Embedding layer output for given word embeddings `[batch, seq, hidden]`.
    pub fn embed_words(&self, words: Tensor<3>) -> Tensor<3> {
        self.embeddings.forward_words(words)
    }

    /// Runs the encoder layers in `range` over `hidden`.
    pub fn encode_layers(
        &self,
        hidden: Tensor<3>,
        mask_bias: Tensor<4>,
        range: Range<usize>,
    ) -> Tensor<3> {
        self.layers[range]
            .iter()
            .fold(hidden, |h, layer| layer.forward(h, mask_bias.clone()))
    }

    /// The layers, bottom first.
    pub fn layers(&self) -> &[BertLayer] {
        &self.layers
    }

    /// The pooler's dense layer, when the checkpoint has one.
    pub fn pooler(&self) -> Option<&Linear> {
        self.pooler.as_ref()
    }

    /// Hidden states after the embeddings and the first `upto` layers, with the batch's 0/1
    /// mask, both on `device`.
    pub fn lower_hidden(
        &self,
        batch: &TokenBatch,
        upto: usize,
        device: &Device,
    ) -> (Tensor<3>, Tensor<2>) {
        let (ids, mask) = Self::batch_tensors(batch, device);
        let hidden = self.encode_layers(self.embed(ids), Self::mask_bias(mask.clone()), 0..upto);
        (hidden, mask)
    }

    /// Last hidden state, `[batch, seq, hidden]`.
    pub fn forward(&self, ids: Tensor<2, Int>, mask: Tensor<2>) -> Tensor<3> {
        let hidden = self.embed(ids);
        self.encode_layers(hidden, Self::mask_bias(mask), 0..self.layers.len())
    }

    /// Whether the checkpoint carried pooler weights.
    pub fn has_pooler(&self) -> bool {
        self.pooler.is_some()
    }

    /// The pooler: tanh of a dense layer over the `[CLS]` state, `[batch, hidden]`; `None`
    /// for checkpoints without pooler weights.
    pub fn pool_cls(&self, hidden: Tensor<3>) -> Option<Tensor<2>> {
        Some(super::pooling::cls_pool(self.pooler.as_ref()?, hidden))
    }
}

/// GELU evaluated only on [-12, 12]: burn's GELU backward on WebGPU gives NaN for |x| ≥ 15,
/// and outside that range GELU equals x (above) or 0 (below) to f32 precision, so the output
/// is unchanged and the gradient is exact.
fn guarded(x: Tensor<3>, activation: fn(Tensor<3>) -> Tensor<3>) -> Tensor<3> {
    const LIMIT: f64 = 12.0;
    let above = x.clone().greater_elem(LIMIT);
    let below = x.clone().lower_elem(-LIMIT);
    activation(x.clone().clamp(-LIMIT, LIMIT))
        .mask_where(above, x)
        .mask_fill(below, 0.0)
}

/// Activation stored as a plain number so the module derive treats it as a constant.
pub(crate) fn activation_code(activation: Activation) -> usize {
    match activation {
        Activation::Gelu => 0,
        Activation::GeluTanh => 1,
        Activation::Relu => 2,
    }
}

fn activation_from_code(code: usize) -> Activation {
    match code {
        1 => Activation::GeluTanh,
        2 => Activation::Relu,
        _ => Activation::Gelu,
    }
}
