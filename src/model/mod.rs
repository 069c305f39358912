//! The BERT encoder (`bert.rs`; its CPU GELU in `gelu.rs` and attention softmax in
//! `softmax.rs`) and how its hidden states become one vector per text (`pooling.rs`). Plain
//! burn modules: the same code runs on any `Device`.

pub mod bert;
pub mod gelu;
pub mod pooling;
pub mod softmax;

pub use bert::{BertModel, TokenBatch};
pub use pooling::Pooling;

use burn::prelude::*;

/// Whether `x` is computed by our own CPU loops (`gelu.rs`, `softmax.rs`): it lives on burn's
/// flex CPU backend and needs no gradient. GPUs have their own kernels, and autodiff needs
/// burn's ops to record the gradient.
fn cpu_inference<const D: usize>(x: &Tensor<D>) -> bool {
    !x.is_autodiff()
        && matches!(
            x.device().as_dispatch(),
            burn::backend::DispatchDevice::Flex(_)
        )
}
