//! BERT as in Hugging Face's `BertModel`: embeddings, post-LayerNorm encoder layers, pooler.
//!
//! The layers are a `Vec` and [`BertModel::encode_layers`] runs any sub-range of them, so a
//! trainer can run the lower layers once without gradients and only the top ones with
//! autodiff.

use std::ops::Range;

use burn::nn::{Embedding, LayerNorm, Linear};
use burn::prelude::*;
use burn::tensor::activation::{gelu, gelu_approximate, relu, softmax, tanh};

use crate::config::Activation;

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
        let [batch, seq] = ids.dims();
        let device = ids.device();
        let positions = Tensor::<1, Int>::arange(0..seq as i64, &device).reshape([1, seq]);
        let segments = Tensor::<2, Int>::zeros([batch, seq], &device);
        let x = self.word.forward(ids)
            + self.position.forward(positions)
            + self.token_type.forward(segments);
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
        let scores = q
            .matmul(k.swap_dims(2, 3))
            .div_scalar((head_dim as f64).sqrt())
            + mask_bias;
        let context = softmax(scores, 3)
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([batch, seq, hidden]);
        self.layer_norm.forward(self.output.forward(context) + x)
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
    /// `[batch, seq, hidden]` → `[batch, seq, hidden]`.
    pub fn forward(&self, x: Tensor<3>, mask_bias: Tensor<4>) -> Tensor<3> {
        let x = self.attention.forward(x, mask_bias);
        let h = self.intermediate.forward(x.clone());
        let h = match activation_from_code(self.activation) {
            Activation::Gelu => gelu(h),
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
        let pooler = self.pooler.as_ref()?;
        let [batch, _, width] = hidden.dims();
        let cls = hidden
            .slice([0..batch, 0..1, 0..width])
            .reshape([batch, width]);
        Some(tanh(pooler.forward(cls)))
    }
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
