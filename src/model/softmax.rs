//! Attention weights for inference on the CPU: softmax(scores · scale + mask) over the keys,
//! in a few vectorized loops over each row.
//!
//! burn-flex's fused softmax calls libm's scalar `expf` for each score, a visible share of the
//! page's extraction once the matrix products were fast (`bench/wasm_profile.mjs`); this whole
//! function takes a fraction of that (docs/PERFORMANCE.md). Scaling and masking were two more passes, each allocating a tensor.
//! Here `exp` is a polynomial with the exponent put in by bit arithmetic, without branches, so
//! the loops compile to SIMD (SIMD128 in the page).

use burn::prelude::*;
use burn::tensor::activation::softmax;

use super::{cpu_inference, update_on_cpu};

/// softmax(`scores` · `scale` + `mask_bias`) over the last dimension. `scores`:
/// `[batch, heads, queries, keys]`; `mask_bias`: `[batch, 1, 1, keys]`. One pass over the
/// scores' values where they live on burn's flex CPU backend without autodiff; burn's ops
/// anywhere else.
pub fn attention_softmax(scores: Tensor<4>, scale: f32, mask_bias: Tensor<4>) -> Tensor<4> {
    let burns =
        |scores: Tensor<4>, mask_bias: Tensor<4>| softmax(scores.mul_scalar(scale) + mask_bias, 3);
    let [batch, heads, queries, keys] = scores.dims();
    // Checked before reading the mask, which on a GPU would be a readback.
    if !cpu_inference(&scores) || mask_bias.dims() != [batch, 1, 1, keys] || keys == 0 {
        return burns(scores, mask_bias);
    }
    let bias = mask_bias.clone().into_data();
    let Ok(bias) = bias.as_slice::<f32>() else {
        return burns(scores, mask_bias);
    };
    let rows_per_text = heads * queries;
    update_on_cpu(
        scores,
        |values| {
            for (row_index, row) in values.chunks_exact_mut(keys).enumerate() {
                let text = row_index / rows_per_text;
                softmax_row(row, scale, &bias[text * keys..(text + 1) * keys]);
            }
        },
        |scores| burns(scores, mask_bias),
    )
}

/// One row in place: `row[j] = exp(s_j - max s) / Σ exp(s - max s)` with `s = row · scale +
/// bias`. Each step is its own loop over the row (which stays in L1), so each vectorizes.
fn softmax_row(row: &mut [f32], scale: f32, bias: &[f32]) {
    row.iter_mut()
        .zip(bias)
        .for_each(|(s, b)| *s = *s * scale + b);
    let max = reduce(row, f32::NEG_INFINITY, |m, s| if s > m { s } else { m });
    row.iter_mut().for_each(|s| *s = exp(*s - max));
    // At least 1: the largest score contributes exp(0).
    let inverse = 1.0 / reduce(row, 0.0, |sum, s| sum + s);
    row.iter_mut().for_each(|s| *s *= inverse);
}

/// Lanes of [`reduce`]'s accumulators.
const LANES: usize = 8;

/// `values` folded with `op` in [`LANES`] independent accumulators, then combined: a chain of
/// dependent steps over the whole row neither vectorizes nor pipelines. `op` is a plain
/// comparison or addition (`f32::max` would call libm's `fmaxf` per value in wasm).
#[inline]
fn reduce(values: &[f32], init: f32, op: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [init; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = op(*lane, v);
        }
    }
    let lanes = lanes.into_iter().fold(init, &op);
    rest.iter().fold(lanes, |acc, &v| op(acc, v))
}

/// e^x on f32, within 3e-7 (relative) of libm's `expf` from -87.3 to 88.3, where e^x is a
/// normal number: e^x = 2^n · e^r with n = round(x · log2 e) and |r| ≤ ln 2 / 2, e^r from
/// Cephes' degree-6 polynomial, 2^n put into the exponent bits. Below about -87.7 it gives 0
/// (the true value is subnormal, under 1.2e-38), so masked keys get exactly nothing; NaN
/// stays NaN.
#[inline]
fn exp(x: f32) -> f32 {
    const HI: f32 = 88.376_26;
    // ln 2 in two parts, so n · LN2_HI is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const P: [f32; 6] = [
        1.987_569_2e-4,
        1.398_2e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        0.5, // Cephes writes 5.0000001201e-1, which is 0.5 in f32
    ];
    let x = x.clamp(-HI, HI);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = P.iter().fold(0.0, |acc, &c| acc * r + c);
    let er = p * r * r + r + 1.0;
    // n is in [-127, 127]: biased, 0..=254, so the bits are 0 (giving 0) or a normal power.
    let two_n = f32::from_bits(((n as i32 + 127) as u32) << 23);
    er * two_n
}

#[cfg(test)]
mod tests {
    use super::super::largest_difference;
    use super::*;

    #[test]
    fn exp_matches_libm() {
        let mut worst = 0.0f32;
        for i in -87_300..=88_300 {
            let x = i as f32 / 1000.0;
            let (ours, libm) = (exp(x), x.exp());
            worst = worst.max((ours - libm).abs() / libm);
        }
        assert!(
            worst < 3e-7,
            "exp differs from libm by {worst:e} (relative)"
        );
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-1e9), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert!(exp(f32::NAN).is_nan());
    }

    /// Scores over many magnitudes, with some keys masked out in one of the texts.
    #[test]
    fn matches_burns_softmax_on_flex() {
        let device = Device::flex();
        let [batch, heads, queries, keys] = [2, 3, 5, 19];
        let n = batch * heads * queries * keys;
        let scores: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 * 40.0 - 20.0)
            .collect();
        let scores = Tensor::<1>::from_floats(scores.as_slice(), &device)
            .reshape([batch, heads, queries, keys]);
        let mut mask = vec![0.0f32; batch * keys];
        mask[keys + 15..].iter_mut().for_each(|m| *m = -1e9);
        let mask = Tensor::<1>::from_floats(mask.as_slice(), &device).reshape([batch, 1, 1, keys]);
        let scale = 0.125;

        let ours = attention_softmax(scores.clone(), scale, mask.clone()).into_data();
        let burns = softmax(scores.mul_scalar(scale) + mask, 3).into_data();
        let worst = largest_difference(ours.clone(), burns, false);
        assert!(
            worst < 1e-6,
            "attention weights differ from burn's by {worst:e}"
        );
        // The masked keys of the second text get exactly nothing.
        let ours = ours.as_slice::<f32>().expect("f32 weights");
        let second_text = &ours[heads * queries * keys..];
        assert!(
            second_text
                .chunks(keys)
                .all(|row| row[15..].iter().all(|&w| w == 0.0))
        );
    }

    #[test]
    fn autodiff_tensors_keep_burns_ops() {
        let device = Device::flex().autodiff();
        let scores = Tensor::<1>::from_floats([1.0, -2.0, 0.5], &device)
            .reshape([1, 1, 1, 3])
            .require_grad();
        let mask = Tensor::<4>::zeros([1, 1, 1, 3], &device);
        let weights = attention_softmax(scores.clone(), 0.5, mask);
        let grads = (weights
            * Tensor::<1>::from_floats([1.0, 2.0, 3.0], &device).reshape([1, 1, 1, 3]))
        .sum()
        .backward();
        assert!(
            scores.grad(&grads).is_some(),
            "the gradient reaches the scores"
        );
    }
}
