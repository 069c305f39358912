//! Probabilities that mean what they say: temperature scaling (Guo et al., 2017) and the
//! reliability of probabilities (expected calibration error, reliability diagram).
//!
//! [`fit_temperature`] finds the one temperature `T` that minimizes the validation part's
//! cross-entropy of `logits / T`. Dividing every logit by the same positive `T` keeps each
//! text's ranking of classes, so accuracy, AUROC and a binary head's 0.5 decisions do not change;
//! only how sure the probabilities are does. The trainers fit it on each epoch's validation
//! logits, and the classifier folds it into its output layer ([`crate::head::Head::scale_output`]).
//!
//! [`Reliability::of`] measures calibration: the texts (or, multi-label, the text-label pairs)
//! are put in [`BINS`] equal-width bins by the confidence of their decision, and the expected
//! calibration error is the mean gap between a bin's confidence and its accuracy, weighted by
//! its share of the rows.

use serde::{Deserialize, Serialize};

use crate::targets::Targets;

/// Bins of a reliability diagram and of the expected calibration error.
pub const BINS: usize = 10;

/// The temperatures searched (a factor of 20 either way is far past any head's miscalibration).
const T_RANGE: (f64, f64) = (0.05, 20.0);

/// Mean cross-entropy of `logits / t` against `targets` (row-major, `targets.outputs()` per row).
fn nll(logits: &[f32], targets: &Targets, t: f64) -> f64 {
    let width = targets.outputs();
    let rows = logits.len() / width.max(1);
    let mut sum = 0.0;
    // log(1 + e^z) − y·z, stable for large |z|.
    let bce = |z: f64, y: bool| z.max(0.0) + (-z.abs()).exp().ln_1p() - if y { z } else { 0.0 };
    for (i, row) in logits.chunks_exact(width).enumerate() {
        match targets {
            Targets::Classes { labels, classes } if *classes == 2 => {
                sum += bce(f64::from(row[0]) / t, labels[i] == 1);
            }
            Targets::Classes { labels, .. } => {
                let z: Vec<f64> = row.iter().map(|&v| f64::from(v) / t).collect();
                let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let log_sum = max + z.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
                sum += log_sum - z[labels[i]];
            }
            Targets::Sets { flags, .. } => {
                for (j, &v) in row.iter().enumerate() {
                    sum += bce(f64::from(v) / t, flags[i * width + j]);
                }
            }
        }
    }
    sum / rows.max(1) as f64
}

/// The temperature that minimizes the cross-entropy of `logits / T` on `targets` (the
/// validation part), by golden-section search over `ln T` (the loss is unimodal in it); 1 when
/// there are no rows or the logits are not finite.
pub fn fit_temperature(logits: &[f32], targets: &Targets) -> f32 {
    let width = targets.outputs();
    if targets.is_empty()
        || logits.len() != targets.len() * width
        || !logits.iter().all(|v| v.is_finite())
    {
        return 1.0;
    }
    let f = |ln_t: f64| nll(logits, targets, ln_t.exp());
    let (mut a, mut b) = (T_RANGE.0.ln(), T_RANGE.1.ln());
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (b - ratio * (b - a), a + ratio * (b - a));
    let (mut fc, mut fd) = (f(c), f(d));
    // 60 steps shrink the interval by 0.618^60 ≈ 3e-13 of its width.
    for _ in 0..60 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - ratio * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + ratio * (b - a);
            fd = f(d);
        }
    }
    ((a + b) / 2.0).exp() as f32
}

/// One bin of a reliability diagram.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    /// Rows whose confidence falls in it.
    pub count: usize,
    /// Their mean confidence (`None` when the bin is empty).
    pub confidence: Option<f64>,
    /// The fraction of them decided right (`None` when the bin is empty).
    pub accuracy: Option<f64>,
}

/// How well probabilities' confidence matches how often they are right.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reliability {
    /// Expected calibration error: the rows' mean |confidence − accuracy| over the bins.
    pub ece: f64,
    /// [`BINS`] bins of confidence, from 0 to 1 (a decision's confidence is at least 1/k for k
    /// classes, so the low bins stay empty).
    pub bins: Vec<Bin>,
}

impl Reliability {
    /// The reliability of `probs` (a classifier's outputs: one column for two classes, one per
    /// class, or one per label) against `targets`. Classes: each text's most probable class,
    /// with its probability as the confidence. Labels: every text-label pair, decided "has it"
    /// at 0.5, with the probability of that decision as the confidence.
    pub fn of(probs: &[f32], targets: &Targets) -> Reliability {
        let width = targets.outputs();
        let mut pairs: Vec<(f64, bool)> = Vec::with_capacity(probs.len());
        for (i, row) in probs.chunks_exact(width.max(1)).enumerate() {
            match targets {
                Targets::Classes { labels, classes } if *classes == 2 => {
                    let p = f64::from(row[0]);
                    let positive = p > 0.5;
                    pairs.push((p.max(1.0 - p), positive == (labels[i] == 1)));
                }
                Targets::Classes { labels, .. } => {
                    let best = (0..row.len())
                        .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                        .unwrap_or(0);
                    pairs.push((f64::from(row[best]), best == labels[i]));
                }
                Targets::Sets { flags, .. } => {
                    for (j, &p) in row.iter().enumerate() {
                        let p = f64::from(p);
                        pairs.push((p.max(1.0 - p), (p >= 0.5) == flags[i * width + j]));
                    }
                }
            }
        }
        let mut sums = vec![(0usize, 0.0f64, 0usize); BINS];
        for &(confidence, right) in &pairs {
            let bin = ((confidence * BINS as f64) as usize).min(BINS - 1);
            let s = &mut sums[bin];
            s.0 += 1;
            s.1 += confidence;
            s.2 += usize::from(right);
        }
        let total = pairs.len().max(1) as f64;
        let mut ece = 0.0;
        let bins = sums
            .into_iter()
            .map(|(count, confidence, right)| {
                if count == 0 {
                    return Bin {
                        count,
                        confidence: None,
                        accuracy: None,
                    };
                }
                let (c, a) = (confidence / count as f64, right as f64 / count as f64);
                ece += count as f64 / total * (c - a).abs();
                Bin {
                    count,
                    confidence: Some(c),
                    accuracy: Some(a),
                }
            })
            .collect();
        Reliability { ece, bins }
    }
}

/// A test part's calibration, before and after the classifier's temperature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The temperature the logits are divided by (fitted on the validation part).
    pub temperature: f32,
    /// Of the probabilities at temperature 1.
    pub before: Reliability,
    /// Of the classifier's probabilities.
    pub after: Reliability,
}

/// Probabilities of `logits / t` (row-major, `width` per row): a sigmoid per output when
/// `per_output` (two classes, or labels), else a softmax per row.
pub fn probabilities(logits: &[f32], width: usize, per_output: bool, t: f32) -> Vec<f32> {
    let t = f64::from(t);
    if per_output {
        return logits
            .iter()
            .map(|&z| (1.0 / (1.0 + (-f64::from(z) / t).exp())) as f32)
            .collect();
    }
    logits
        .chunks_exact(width.max(1))
        .flat_map(|row| {
            let z: Vec<f64> = row.iter().map(|&v| f64::from(v) / t).collect();
            let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = z.iter().map(|v| (v - max).exp()).sum();
            z.into_iter()
                .map(move |v| ((v - max).exp() / sum) as f32)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The probabilities a classifier would give at temperature 1, from the ones it gives at
/// `temperature` (its logits divided by it): a sigmoid's `σ(T · logit p)`, a softmax's
/// `p^T`, renormalized. Every output is a sigmoid's when `per_output` (two classes, or labels).
pub fn uncalibrated(probs: &[f32], width: usize, per_output: bool, temperature: f32) -> Vec<f32> {
    // Logits that give these probabilities (a softmax's up to a constant per row), taken back
    // through the temperature's inverse.
    let logits: Vec<f32> = probs
        .iter()
        .map(|&p| {
            let p = f64::from(p);
            let z = if per_output {
                let p = p.clamp(1e-12, 1.0 - 1e-12);
                (p / (1.0 - p)).ln()
            } else {
                p.max(1e-300).ln()
            };
            z as f32
        })
        .collect();
    probabilities(&logits, width, per_output, 1.0 / temperature)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Logits of a head that is sure of itself by a factor of 3: the fitted temperature undoes
    /// it, and the error of its probabilities drops.
    #[test]
    fn the_temperature_undoes_overconfidence() {
        let mut rng = crate::data::SeededRng::new(5);
        let (mut logits, mut labels) = (Vec::new(), Vec::new());
        for _ in 0..4000 {
            // A calibrated logit z: P(y = 1) = σ(z); the head says 3z.
            let z = 4.0 * rng.next_f64() - 2.0;
            let y = rng.next_f64() < 1.0 / (1.0 + (-z).exp());
            logits.push((3.0 * z) as f32);
            labels.push(usize::from(y));
        }
        let targets = Targets::classes(&labels, 2).unwrap();
        let t = fit_temperature(&logits, &targets);
        assert!((t - 3.0).abs() < 0.3, "temperature {t}");
        let probs = |t: f32| -> Vec<f32> {
            logits
                .iter()
                .map(|&z| 1.0 / (1.0 + (-z / t).exp()))
                .collect()
        };
        let (before, after) = (
            Reliability::of(&probs(1.0), &targets),
            Reliability::of(&probs(t), &targets),
        );
        assert!(
            after.ece < before.ece / 2.0,
            "{} → {}",
            before.ece,
            after.ece
        );
        assert_eq!(before.bins.iter().map(|b| b.count).sum::<usize>(), 4000);
        // Back from the calibrated probabilities to the head's own.
        let back = uncalibrated(&probs(t), 1, true, t);
        let own = probs(1.0);
        assert!(back.iter().zip(&own).all(|(a, b)| (a - b).abs() < 1e-4));
    }

    #[test]
    fn a_softmax_temperature_and_its_inverse() {
        let targets = Targets::classes(&[0, 1, 2, 2], 3).unwrap();
        let logits = [4.0, 0.0, -1.0, 0.5, 3.0, 0.0, 0.0, 1.0, 5.0, 2.0, 2.5, 0.0];
        let t = fit_temperature(&logits, &targets);
        assert!(t.is_finite() && t > 0.0);
        let softmax = |row: &[f32], t: f32| -> Vec<f32> {
            let e: Vec<f32> = row.iter().map(|v| (v / t).exp()).collect();
            let s: f32 = e.iter().sum();
            e.iter().map(|v| v / s).collect()
        };
        let calibrated: Vec<f32> = logits.chunks(3).flat_map(|r| softmax(r, 2.0)).collect();
        let own: Vec<f32> = logits.chunks(3).flat_map(|r| softmax(r, 1.0)).collect();
        let back = uncalibrated(&calibrated, 3, false, 2.0);
        assert!(
            back.iter().zip(&own).all(|(a, b)| (a - b).abs() < 1e-5),
            "{back:?} {own:?}"
        );
        // Nothing to fit: 1.
        assert_eq!(
            fit_temperature(&[], &Targets::classes(&[], 3).unwrap()),
            1.0
        );
        assert_eq!(
            fit_temperature(&[f32::NAN; 3], &Targets::classes(&[0], 3).unwrap()),
            1.0
        );
    }

    /// A hand-checked diagram: two bins used, the error their weighted gaps.
    #[test]
    fn the_expected_calibration_error_by_hand() {
        // Binary: confidences 0.95 (right), 0.95 (wrong), 0.65 (right), 0.65 (right).
        let probs = [0.95, 0.05, 0.65, 0.35];
        let targets = Targets::classes(&[1, 1, 1, 0], 2).unwrap();
        let r = Reliability::of(&probs, &targets);
        assert_eq!(r.bins[9].count, 2);
        assert_eq!(r.bins[6].count, 2);
        let gap = 0.5 * (0.95f64 - 0.5).abs() + 0.5 * (0.65f64 - 1.0).abs();
        assert!((r.ece - gap).abs() < 1e-6, "{} vs {gap}", r.ece);
    }
}
