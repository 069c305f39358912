//! From per-token hidden states to one vector per text.

use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::tanh;

use super::BertModel;
use crate::error::{BertError, Result};

/// How a text's token states become one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Mean of the token states under the attention mask: what sentence-transformers models,
    /// the default one included, were trained for.
    Mean,
    /// BERT's pooler output (tanh dense on `[CLS]`): what the original tutorial feeds its head.
    Pooler,
}

impl Pooling {
    /// Parses `"mean"` or `"pooler"`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "mean" => Ok(Self::Mean),
            "pooler" | "cls" => Ok(Self::Pooler),
            other => Err(BertError::Pooling(other.to_string())),
        }
    }

    /// The name [`Pooling::parse`] reads.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mean => "mean",
            Self::Pooler => "pooler",
        }
    }

    /// `[batch, seq, hidden]` states and `[batch, seq]` 0/1 mask → `[batch, hidden]`.
    pub fn apply(self, model: &BertModel, hidden: Tensor<3>, mask: Tensor<2>) -> Result<Tensor<2>> {
        self.apply_with(model.pooler(), hidden, mask)
    }

    /// As [`Pooling::apply`], with a given pooler dense layer (a fine-tuned one, say).
    pub fn apply_with(
        self,
        pooler: Option<&Linear>,
        hidden: Tensor<3>,
        mask: Tensor<2>,
    ) -> Result<Tensor<2>> {
        match self {
            Self::Pooler => Ok(cls_pool(pooler.ok_or(BertError::NoPooler)?, hidden)),
            Self::Mean => Ok(mean_pool(hidden, mask)),
        }
    }
}

/// BERT's pooler: tanh of a dense layer over the `[CLS]` state.
pub fn cls_pool(pooler: &Linear, hidden: Tensor<3>) -> Tensor<2> {
    let [batch, _, width] = hidden.dims();
    let cls = hidden
        .slice([0..batch, 0..1, 0..width])
        .reshape([batch, width]);
    tanh(pooler.forward(cls))
}

/// Attention-masked mean, as sentence-transformers computes it.
pub fn mean_pool(hidden: Tensor<3>, mask: Tensor<2>) -> Tensor<2> {
    let [batch, seq, width] = hidden.dims();
    let mask = mask.reshape([batch, seq, 1]);
    let summed = (hidden * mask.clone()).sum_dim(1).reshape([batch, width]);
    let counts = mask.sum_dim(1).reshape([batch, 1]).clamp_min(1e-9);
    summed / counts
}
