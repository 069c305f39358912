//! Classification metrics for binary and N-class heads, matching scikit-learn's definitions.
//!
//! Probabilities come in row-major, one row per example:
//! - **binary** (`n_classes == 2`): either one column, P(positive) — the tutorial's sigmoid
//!   output — or two columns, of which the second is P(positive). An example is predicted
//!   positive when P(positive) > 0.5 (as Keras' binary accuracy and an argmax over two
//!   columns do).
//! - **N classes**: `n_classes` columns; the prediction is the first column with the largest
//!   probability (as `numpy.argmax`).
//!
//! Degenerate cases never panic: an AUROC (or ROC curve) that is undefined because a class is
//! absent from the labels, or is every label, is `None` (scikit-learn raises there); precision,
//! recall and F1 divided by zero are 0 (scikit-learn's `zero_division` default).

use serde::Serialize;
use thiserror::Error;

/// Inputs that cannot be evaluated.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum MetricsError {
    /// No examples.
    #[error("no examples to evaluate")]
    Empty,
    /// Fewer than two classes.
    #[error("{0} classes: metrics need at least two")]
    Classes(usize),
    /// The probabilities do not have one row per label.
    #[error(
        "{len} probabilities for {n} labels and {classes} classes: expected {n} × {classes} values (or {n} for two classes)"
    )]
    Shape {
        /// Values given.
        len: usize,
        /// Labels given.
        n: usize,
        /// Classes.
        classes: usize,
    },
    /// A label outside `0..n_classes`.
    #[error("label {label} at row {row} is not a class index below {classes}")]
    Label {
        /// Row index.
        row: usize,
        /// The label.
        label: usize,
        /// Classes.
        classes: usize,
    },
    /// A probability that is NaN or infinite.
    #[error(
        "the probability at row {row} is not a finite number: training diverged (try a lower learning rate)"
    )]
    NotFinite {
        /// Row index.
        row: usize,
    },
}

/// Points of a ROC curve as scikit-learn's `roc_curve(drop_intermediate=True)` gives them:
/// starting at (0, 0) with threshold +∞ (which JSON writes as `null`), then one point per
/// kept distinct score, from the highest.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RocCurve {
    /// False-positive rates, increasing.
    pub fpr: Vec<f64>,
    /// True-positive rates, increasing.
    pub tpr: Vec<f64>,
    /// Score thresholds: a point counts scores ≥ its threshold as positive.
    pub thresholds: Vec<f64>,
}

impl RocCurve {
    /// At most `max_points` points (at least 2), evenly spaced along the curve, first and
    /// last kept, for drawing.
    pub fn thinned(&self, max_points: usize) -> RocCurve {
        let len = self.fpr.len();
        let max_points = max_points.max(2);
        if len <= max_points {
            return self.clone();
        }
        let mut keep: Vec<usize> = (0..max_points)
            .map(|i| (i * (len - 1) + (max_points - 1) / 2) / (max_points - 1))
            .collect();
        keep.dedup();
        RocCurve {
            fpr: keep.iter().map(|&i| self.fpr[i]).collect(),
            tpr: keep.iter().map(|&i| self.tpr[i]).collect(),
            thresholds: keep.iter().map(|&i| self.thresholds[i]).collect(),
        }
    }
}

/// Precision, recall and F1 of one class.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassMetrics {
    /// Of the examples predicted as this class, the fraction that are (0 when none is).
    pub precision: f64,
    /// Of the examples of this class, the fraction predicted as it (0 when there are none).
    pub recall: f64,
    /// 2·TP / (2·TP + FP + FN), 0 when that is 0/0.
    pub f1: f64,
    /// Examples of this class.
    pub support: usize,
}

/// Every metric of one evaluation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Examples.
    pub n: usize,
    /// Classes.
    pub n_classes: usize,
    /// Fraction predicted right.
    pub accuracy: f64,
    /// Binary: the AUROC of P(positive). N classes: the one-vs-rest macro AUROC, the mean
    /// over the classes whose AUROC is defined (scikit-learn raises when one is not).
    /// `None` when no AUROC is defined.
    pub auroc: Option<f64>,
    /// One-vs-rest AUROC per class (binary: both entries are the AUROC of P(positive));
    /// `None` for a class that is absent from the labels or is every label.
    pub auroc_per_class: Vec<Option<f64>>,
    /// Binary: one curve, for the positive class. N classes: one-vs-rest, one per class.
    pub roc: Vec<Option<RocCurve>>,
    /// `confusion[true][predicted]`, as scikit-learn's `confusion_matrix`.
    pub confusion: Vec<Vec<usize>>,
    /// Precision, recall, F1 and support per class.
    pub per_class: Vec<ClassMetrics>,
    /// Mean F1 over the classes that occur in the labels or the predictions (scikit-learn's
    /// `f1_score(average="macro")`).
    pub macro_f1: f64,
    /// How well the probabilities' confidence matches, before and after the classifier's
    /// temperature (a classifier's test report has it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<crate::calibration::Calibration>,
}

impl Report {
    /// Evaluates probabilities (layout in the module documentation) against labels.
    pub fn new(probs: &[f32], n_classes: usize, labels: &[usize]) -> Result<Report, MetricsError> {
        let columns = check(probs, n_classes, labels)?;
        let n = labels.len();
        let predicted = predict_checked(probs, n_classes, columns);
        let confusion = confusion_matrix(&predicted, labels, n_classes);
        let correct: usize = (0..n_classes).map(|c| confusion[c][c]).sum();

        let mut per_class = Vec::with_capacity(n_classes);
        let mut f1_sum = 0.0;
        let mut f1_classes = 0;
        for c in 0..n_classes {
            let tp = confusion[c][c];
            let support: usize = confusion[c].iter().sum();
            let predicted_c: usize = confusion.iter().map(|row| row[c]).sum();
            let (fp, fn_) = (predicted_c - tp, support - tp);
            let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
            let f1 = ratio(2 * tp, 2 * tp + fp + fn_);
            if support + predicted_c > 0 {
                f1_sum += f1;
                f1_classes += 1;
            }
            per_class.push(ClassMetrics {
                precision: ratio(tp, predicted_c),
                recall: ratio(tp, support),
                f1,
                support,
            });
        }

        let (auroc, auroc_per_class, roc) = if n_classes == 2 {
            let scores = column(probs, columns, columns - 1);
            let positive: Vec<bool> = labels.iter().map(|&l| l == 1).collect();
            let auc = auroc(&scores, &positive);
            (auc, vec![auc; 2], vec![roc_curve(&scores, &positive)])
        } else {
            let mut per = Vec::with_capacity(n_classes);
            let mut curves = Vec::with_capacity(n_classes);
            for c in 0..n_classes {
                let scores = column(probs, columns, c);
                let positive: Vec<bool> = labels.iter().map(|&l| l == c).collect();
                per.push(auroc(&scores, &positive));
                curves.push(roc_curve(&scores, &positive));
            }
            let defined: Vec<f64> = per.iter().flatten().copied().collect();
            let mean =
                (!defined.is_empty()).then(|| defined.iter().sum::<f64>() / defined.len() as f64);
            (mean, per, curves)
        };

        Ok(Report {
            n,
            n_classes,
            accuracy: correct as f64 / n as f64,
            auroc,
            auroc_per_class,
            roc,
            confusion,
            per_class,
            macro_f1: if f1_classes == 0 {
                0.0
            } else {
                f1_sum / f1_classes as f64
            },
            calibration: None,
        })
    }
}

/// Validates the inputs; returns the number of probability columns.
fn check(probs: &[f32], n_classes: usize, labels: &[usize]) -> Result<usize, MetricsError> {
    let n = labels.len();
    if n == 0 {
        return Err(MetricsError::Empty);
    }
    if n_classes < 2 {
        return Err(MetricsError::Classes(n_classes));
    }
    let columns = if probs.len() == n * n_classes {
        n_classes
    } else if n_classes == 2 && probs.len() == n {
        1
    } else {
        return Err(MetricsError::Shape {
            len: probs.len(),
            n,
            classes: n_classes,
        });
    };
    if let Some((row, &label)) = labels.iter().enumerate().find(|&(_, &l)| l >= n_classes) {
        return Err(MetricsError::Label {
            row,
            label,
            classes: n_classes,
        });
    }
    if let Some(i) = probs.iter().position(|p| !p.is_finite()) {
        return Err(MetricsError::NotFinite { row: i / columns });
    }
    Ok(columns)
}

fn column(probs: &[f32], columns: usize, c: usize) -> Vec<f32> {
    probs.iter().skip(c).step_by(columns).copied().collect()
}

fn predict_checked(probs: &[f32], n_classes: usize, columns: usize) -> Vec<usize> {
    if n_classes == 2 {
        return column(probs, columns, columns - 1)
            .iter()
            .map(|&p| usize::from(p > 0.5))
            .collect();
    }
    probs
        .chunks(columns)
        .map(|row| {
            row.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (i, &p)| {
                    if p > best.1 { (i, p) } else { best }
                })
                .0
        })
        .collect()
}

/// The predicted class of each example (layout and rule in the module documentation).
pub fn predict(probs: &[f32], n_classes: usize, n: usize) -> Result<Vec<usize>, MetricsError> {
    let columns = check(probs, n_classes, &vec![0; n])?;
    Ok(predict_checked(probs, n_classes, columns))
}

/// `confusion[true][predicted]` counts; labels or predictions outside `0..n_classes` are
/// left out.
pub fn confusion_matrix(
    predicted: &[usize],
    labels: &[usize],
    n_classes: usize,
) -> Vec<Vec<usize>> {
    let mut m = vec![vec![0; n_classes]; n_classes];
    for (&p, &l) in predicted.iter().zip(labels) {
        if p < n_classes && l < n_classes {
            m[l][p] += 1;
        }
    }
    m
}

/// Area under the ROC curve of `scores` for the examples marked `positive`, with tied scores
/// given their average rank (the Mann–Whitney U statistic; equal to scikit-learn's
/// `roc_auc_score`). `None` when there are no positives or no negatives, or a score is NaN.
pub fn auroc(scores: &[f32], positive: &[bool]) -> Option<f64> {
    let n = scores.len().min(positive.len());
    let n_pos = positive[..n].iter().filter(|&&p| p).count();
    let n_neg = n - n_pos;
    if n_pos == 0 || n_neg == 0 || scores[..n].iter().any(|s| s.is_nan()) {
        return None;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Sum of the (1-based, tie-averaged) ranks of the positives.
    let mut rank_sum = 0.0f64;
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        let average_rank = (start + 1 + end) as f64 / 2.0;
        let positives = order[start..end].iter().filter(|&&i| positive[i]).count();
        rank_sum += average_rank * positives as f64;
        start = end;
    }
    let (p, q) = (n_pos as f64, n_neg as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * q))
}

/// The ROC curve of `scores` for the examples marked `positive`, as scikit-learn's
/// `roc_curve(drop_intermediate=True)`. `None` when there are no positives or no negatives,
/// or a score is NaN.
pub fn roc_curve(scores: &[f32], positive: &[bool]) -> Option<RocCurve> {
    let n = scores.len().min(positive.len());
    let n_pos = positive[..n].iter().filter(|&&p| p).count();
    if n_pos == 0 || n_pos == n || scores[..n].iter().any(|s| s.is_nan()) {
        return None;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    // Cumulative true and false positives at the last index of each distinct score.
    let (mut tps, mut fps, mut thresholds) = (Vec::new(), Vec::new(), Vec::new());
    let mut tp = 0usize;
    for (k, &i) in order.iter().enumerate() {
        tp += usize::from(positive[i]);
        if k + 1 == n || scores[order[k + 1]] != scores[i] {
            tps.push(tp);
            fps.push(k + 1 - tp);
            thresholds.push(f64::from(scores[i]));
        }
    }
    // drop_intermediate: keep the ends and every point where the curve bends.
    let len = tps.len();
    let keep: Vec<usize> = if len > 2 {
        (0..len)
            .filter(|&i| {
                i == 0
                    || i == len - 1
                    || fps[i + 1] + fps[i - 1] != 2 * fps[i]
                    || tps[i + 1] + tps[i - 1] != 2 * tps[i]
            })
            .collect()
    } else {
        (0..len).collect()
    };
    let (total_tp, total_fp) = (tps[len - 1] as f64, fps[len - 1] as f64);
    let mut curve = RocCurve {
        fpr: vec![0.0],
        tpr: vec![0.0],
        thresholds: vec![f64::INFINITY],
    };
    for i in keep {
        curve.fpr.push(fps[i] as f64 / total_fp);
        curve.tpr.push(tps[i] as f64 / total_tp);
        curve.thresholds.push(thresholds[i]);
    }
    Some(curve)
}
