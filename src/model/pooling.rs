//! From per-token hidden states to one vector per text.

use burn::prelude::*;

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
        match self {
            Self::Pooler => model.pool_cls(hidden).ok_or(BertError::NoPooler),
            Self::Mean => Ok(mean_pool(hidden, mask)),
        }
    }
}

/// Attention-masked mean, as sentence-transformers computes it.
pub fn mean_pool(hidden: Tensor<3>, mask: Tensor<2>) -> Tensor<2> {
    let [batch, seq, width] = hidden.dims();
    let mask = mask.reshape([batch, seq, 1]);
    let summed = (hidden * mask.clone()).sum_dim(1).reshape([batch, width]);
    let counts = mask.sum_dim(1).reshape([batch, 1]).clamp_min(1e-9);
    summed / counts
}
