//! Multi-label evaluation: texts with any number of labels, one sigmoid probability per label.
//!
//! [`choose_thresholds`] picks each label's threshold on the validation part (the one that
//! gives that label its best F1 there), and [`MultiLabelReport`] scores predictions at given
//! thresholds with scikit-learn's definitions (`precision_recall_fscore_support` with
//! `average=None`, `"micro"` and `"macro"`, `zero_division=0`; `accuracy_score`, which is exact
//! match; `hamming_loss`). `scripts/multilabel_reference.py` computes the same with numpy and
//! scikit-learn, and `tests/metrics.rs` checks both agree on its fixture.
//!
//! Layout: probabilities and targets row-major, `n × labels`; a text is predicted to have
//! label `j` when its probability is at least the label's threshold.

use serde::{Deserialize, Serialize};

use crate::metrics::{MetricsError, auroc};

/// The threshold of a label with no positive validation text: nothing to choose from.
pub const DEFAULT_THRESHOLD: f32 = 0.5;

/// Precision, recall and F1 (0 where they divide by zero).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// TP / (TP + FP).
    pub precision: f64,
    /// TP / (TP + FN).
    pub recall: f64,
    /// 2·TP / (2·TP + FP + FN).
    pub f1: f64,
}

/// One label's scores.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelScores {
    /// Precision, recall, F1.
    #[serde(flatten)]
    pub scores: Scores,
    /// Texts that have the label.
    pub support: usize,
}

/// Every metric of a multi-label evaluation at given thresholds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MultiLabelReport {
    /// Texts.
    pub n: usize,
    /// The thresholds used, one per label.
    pub thresholds: Vec<f32>,
    /// Counts pooled over every label.
    pub micro: Scores,
    /// The mean over labels of each label's scores (every label counts, as scikit-learn's).
    #[serde(rename = "macro")]
    pub macro_avg: Scores,
    /// Per label.
    pub per_label: Vec<LabelScores>,
    /// Texts whose predicted labels are exactly their labels.
    pub subset_accuracy: f64,
    /// Wrong (text, label) decisions over all of them.
    pub hamming_loss: f64,
    /// Each label's AUROC; `None` where the label is on every text or none.
    pub auroc_per_label: Vec<Option<f64>>,
    /// The mean AUROC over the labels that have one.
    pub auroc: Option<f64>,
    /// How well the probabilities' confidence matches, before and after the classifier's
    /// temperature (a classifier's test report has it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<crate::calibration::Calibration>,
}

/// True and false positives and false negatives.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl Counts {
    fn scores(self) -> Scores {
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        Scores {
            precision: ratio(self.tp, self.tp + self.fp),
            recall: ratio(self.tp, self.tp + self.fn_),
            f1: ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_),
        }
    }
}

/// Checks the layout; returns the number of texts.
fn check(probs: &[f32], targets: &[bool], labels: usize) -> Result<usize, MetricsError> {
    if labels == 0 {
        return Err(MetricsError::Classes(0));
    }
    let n = targets.len() / labels;
    if n == 0 {
        return Err(MetricsError::Empty);
    }
    if targets.len() != n * labels || probs.len() != targets.len() {
        return Err(MetricsError::Shape {
            len: probs.len(),
            n,
            classes: labels,
        });
    }
    if let Some(i) = probs.iter().position(|p| !p.is_finite()) {
        return Err(MetricsError::NotFinite { row: i / labels });
    }
    Ok(n)
}

impl MultiLabelReport {
    /// Scores `probs` against `targets` (both `n × labels`) at `thresholds` (one per label).
    pub fn new(
        probs: &[f32],
        targets: &[bool],
        labels: usize,
        thresholds: &[f32],
    ) -> Result<Self, MetricsError> {
        let n = check(probs, targets, labels)?;
        if thresholds.len() != labels {
            return Err(MetricsError::Shape {
                len: thresholds.len(),
                n: 1,
                classes: labels,
            });
        }
        let mut per = vec![Counts::default(); labels];
        let mut support = vec![0usize; labels];
        let (mut exact, mut wrong) = (0usize, 0usize);
        for (p_row, t_row) in probs.chunks_exact(labels).zip(targets.chunks_exact(labels)) {
            let mut all_right = true;
            for (j, (&p, &t)) in p_row.iter().zip(t_row).enumerate() {
                let predicted = p >= thresholds[j];
                let c = &mut per[j];
                match (predicted, t) {
                    (true, true) => c.tp += 1,
                    (true, false) => c.fp += 1,
                    (false, true) => c.fn_ += 1,
                    (false, false) => {}
                }
                support[j] += usize::from(t);
                if predicted != t {
                    all_right = false;
                    wrong += 1;
                }
            }
            exact += usize::from(all_right);
        }
        let pooled = per.iter().fold(Counts::default(), |a, c| Counts {
            tp: a.tp + c.tp,
            fp: a.fp + c.fp,
            fn_: a.fn_ + c.fn_,
        });
        let per_label: Vec<LabelScores> = per
            .iter()
            .zip(&support)
            .map(|(c, &support)| LabelScores {
                scores: c.scores(),
                support,
            })
            .collect();
        let mean = |f: fn(&Scores) -> f64| {
            per_label.iter().map(|l| f(&l.scores)).sum::<f64>() / labels as f64
        };
        let (auroc_per_label, auroc) = label_aurocs(probs, targets, labels);
        Ok(MultiLabelReport {
            n,
            auroc_per_label,
            auroc,
            thresholds: thresholds.to_vec(),
            micro: pooled.scores(),
            macro_avg: Scores {
                precision: mean(|s| s.precision),
                recall: mean(|s| s.recall),
                f1: mean(|s| s.f1),
            },
            per_label,
            subset_accuracy: exact as f64 / n as f64,
            hamming_loss: wrong as f64 / (n * labels) as f64,
            calibration: None,
        })
    }
}

/// Each label's threshold, chosen on validation probabilities and targets (`n × labels`): of
/// the label's distinct validation probabilities, the one whose "at least this" gives the best
/// F1 (the largest of equal ones), lowered to the midpoint with the next lower probability (or
/// 0), so that validation's decisions stay the same and a test text between the two goes the
/// way of the lower one's side. A label with no positive validation text keeps
/// [`DEFAULT_THRESHOLD`].
pub fn choose_thresholds(
    probs: &[f32],
    targets: &[bool],
    labels: usize,
) -> Result<Vec<f32>, MetricsError> {
    check(probs, targets, labels)?;
    let mut thresholds = Vec::with_capacity(labels);
    for j in 0..labels {
        let mut column: Vec<(f32, bool)> = probs
            .iter()
            .zip(targets)
            .skip(j)
            .step_by(labels)
            .map(|(&p, &t)| (p, t))
            .collect();
        let positives = column.iter().filter(|(_, t)| *t).count();
        if positives == 0 {
            thresholds.push(DEFAULT_THRESHOLD);
            continue;
        }
        // Descending: lowering the threshold past each distinct value adds its texts.
        column.sort_by(|a, b| b.0.total_cmp(&a.0));
        let (mut tp, mut fp) = (0usize, 0usize);
        // The best F1 as the fraction 2·TP / (2·TP + FP + FN), compared exactly.
        let mut best: Option<(usize, usize, usize)> = None;
        let mut i = 0;
        while i < column.len() {
            let value = column[i].0;
            while i < column.len() && column[i].0 == value {
                if column[i].1 {
                    tp += 1;
                } else {
                    fp += 1;
                }
                i += 1;
            }
            let (num, den) = (2 * tp, 2 * tp + fp + (positives - tp));
            // Strictly better only: among equal F1, the larger threshold (seen first) stays.
            let better = match best {
                None => true,
                Some((_, b_num, b_den)) => num * b_den > b_num * den,
            };
            if better {
                best = Some((i, num, den));
            }
        }
        let Some((end, _, _)) = best else {
            thresholds.push(DEFAULT_THRESHOLD);
            continue;
        };
        let chosen = column[end - 1].0;
        let below = column.get(end).map_or(0.0, |c| c.0);
        thresholds.push(0.5 * (chosen + below));
    }
    Ok(thresholds)
}

/// The AUROC of each label's probabilities (`None` where the label is on every row or none),
/// and their mean over the labels that have one.
pub fn label_aurocs(
    probs: &[f32],
    flags: &[bool],
    labels: usize,
) -> (Vec<Option<f64>>, Option<f64>) {
    let per: Vec<Option<f64>> = (0..labels)
        .map(|j| {
            let scores: Vec<f32> = probs.iter().skip(j).step_by(labels).copied().collect();
            let positive: Vec<bool> = flags.iter().skip(j).step_by(labels).copied().collect();
            auroc(&scores, &positive)
        })
        .collect();
    let defined: Vec<f64> = per.iter().flatten().copied().collect();
    let mean = (!defined.is_empty()).then(|| defined.iter().sum::<f64>() / defined.len() as f64);
    (per, mean)
}
