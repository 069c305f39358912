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
#[cfg(feature = "cpu")]
fn cpu_inference<const D: usize>(x: &Tensor<D>) -> bool {
    !x.is_autodiff()
        && matches!(
            x.device().as_dispatch(),
            burn::backend::DispatchDevice::Flex(_)
        )
}

/// A build without the CPU backend (the page's WebGPU one) never computes on the CPU.
#[cfg(not(feature = "cpu"))]
fn cpu_inference<const D: usize>(_: &Tensor<D>) -> bool {
    false
}

/// `x` with `update` run over its f32 values in place, where [`cpu_inference`] holds;
/// `otherwise(x)` (burn's op) anywhere else, or when `x` is not f32 (a half-precision model).
fn update_on_cpu<const D: usize>(
    x: Tensor<D>,
    update: impl FnOnce(&mut [f32]),
    otherwise: impl FnOnce(Tensor<D>) -> Tensor<D>,
) -> Tensor<D> {
    if !cpu_inference(&x) {
        return otherwise(x);
    }
    let device = x.device();
    let mut data = x.into_data();
    match data.as_mut_slice::<f32>() {
        Ok(values) => update(values),
        Err(_) => return otherwise(Tensor::from_data(data, &device)),
    }
    Tensor::from_data(data, &device)
}

/// The largest difference between two f32 tensors' values, absolute or relative to the second
/// (relative below magnitude 1 is absolute): how the CPU loops are checked against burn's ops.
#[cfg(test)]
fn largest_difference(ours: TensorData, burns: TensorData, relative: bool) -> f32 {
    let (ours, burns) = (
        ours.as_slice::<f32>().expect("f32 values"),
        burns.as_slice::<f32>().expect("f32 values"),
    );
    assert_eq!(ours.len(), burns.len());
    ours.iter()
        .zip(burns)
        .map(|(a, b)| (a - b).abs() / if relative { b.abs().max(1.0) } else { 1.0 })
        .fold(0.0f32, f32::max)
}
