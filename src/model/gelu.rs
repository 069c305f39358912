//! Exact GELU for inference on the CPU in one vectorized pass.
//!
//! burn-flex computes GELU with libm's scalar `erff` for each element, a large share of a
//! native MiniLM forward pass (perf; docs/PERFORMANCE.md), and WebAssembly has no vector `erf`
//! either. Here `erf` is a
//! rational function of x² (the f32 approximation Eigen and XLA use), without branches, so
//! the loop over a tensor's values compiles to SIMD (SIMD128 in the page).

use burn::prelude::*;
use burn::tensor::activation::gelu;

use super::update_on_cpu;

/// GELU of `x`: one pass over its values where `x` lives on burn's flex CPU backend without
/// autodiff; burn's `gelu` anywhere else (GPUs have their own kernels; autodiff needs burn's
/// op to record the gradient).
pub fn gelu_inference(x: Tensor<3>) -> Tensor<3> {
    let update = |values: &mut [f32]| values.iter_mut().for_each(|v| *v = gelu_f32(*v));
    update_on_cpu(x, update, gelu)
}

/// x · Φ(x) = x/2 · (1 + erf(x/√2)).
#[inline]
fn gelu_f32(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// erf on f32: x·P(x²)/Q(x²), the coefficients of Eigen's `generic_fast_erf_float`, and ±1
/// from |x| = 3.93 on, where erf rounds to ±1 in f32 (so GELU is exactly x or 0 there, as
/// with libm). Within 1e-6 of libm's `erff` (tested against burn's GELU).
#[inline]
fn erf(x: f32) -> f32 {
    const P: [f32; 7] = [
        -2.726_142_4e-10,
        2.770_681_5e-8,
        -2.101_024e-6,
        -5.692_506_2e-5,
        -7.349_906_4e-4,
        -2.954_6e-3,
        -1.609_603_3e-2,
    ];
    const Q: [f32; 5] = [
        -1.456_607_15e-5,
        -2.133_740_5e-4,
        -1.682_827e-3,
        -7.373_329_3e-3,
        -1.426_473_9e-2,
    ];
    let z = x.clamp(-4.0, 4.0);
    let z2 = z * z;
    let p = P.iter().fold(0.0, |acc, &c| acc * z2 + c);
    let q = Q.iter().fold(0.0, |acc, &c| acc * z2 + c);
    // A select, not a branch: the loop still vectorizes.
    if x.abs() >= 3.93 {
        1.0f32.copysign(x)
    } else {
        z * p / q
    }
}

#[cfg(test)]
mod tests {
    use super::super::largest_difference;
    use super::*;

    /// Values from -10 to 10 in steps of 1/1024, plus the extremes.
    fn grid() -> Vec<f32> {
        let mut v: Vec<f32> = (-10 * 1024..=10 * 1024)
            .map(|i| i as f32 / 1024.0)
            .collect();
        v.extend([-1e30, -100.0, 100.0, 1e30, f32::MIN_POSITIVE, -0.0]);
        v
    }

    #[test]
    fn matches_burns_gelu_on_flex() {
        let device = Device::flex();
        let values = grid();
        let n = values.len();
        let x = Tensor::<1>::from_floats(values.as_slice(), &device).reshape([1, 1, n]);
        let worst = largest_difference(
            gelu_inference(x.clone()).into_data(),
            gelu(x).into_data(),
            true,
        );
        assert!(worst < 1e-6, "GELU differs from burn's by {worst:e}");
    }

    #[test]
    fn keeps_nan_and_the_limits() {
        assert!(gelu_f32(f32::NAN).is_nan());
        assert_eq!(gelu_f32(0.0), 0.0);
        assert_eq!(gelu_f32(50.0), 50.0);
        assert_eq!(gelu_f32(-50.0), -0.0);
    }

    #[test]
    fn autodiff_tensors_keep_burns_op() {
        let device = Device::flex().autodiff();
        let x = Tensor::<1>::from_floats([-2.0, 0.5, 3.0], &device)
            .reshape([1, 1, 3])
            .require_grad();
        let y = gelu_inference(x.clone());
        let grads = y.sum().backward();
        assert!(x.grad(&grads).is_some(), "the gradient reaches x");
    }
}
