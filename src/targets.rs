//! What training and evaluation rows are labelled with: one class each, or any number of
//! labels each (multi-label). Head training, fine-tuning and scoring take [`Targets`], so each
//! knows the task from its labels, and the loss, the outputs and the epoch's scores follow.

use burn::tensor::{Tensor, TensorData};

use crate::error::{BertError, Result};
use crate::metrics::Report;
use crate::multilabel::MultiLabelReport;
use burn::tensor::Device;

use crate::head::outputs_for;

/// The labels of a set of rows.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// One class per row: an index below `classes`.
    Classes {
        /// Per row.
        labels: Vec<usize>,
        /// Number of classes.
        classes: usize,
    },
    /// Any number of labels per row: `rows × labels` flags, row-major.
    Sets {
        /// Whether row `i` has label `j`, at `i · labels + j`.
        flags: Vec<bool>,
        /// Number of labels.
        labels: usize,
    },
}

/// The scores an epoch reports and early stopping watches, for either kind of targets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochScores {
    /// Classes: accuracy. Labels: the fraction of (row, label) decisions at 0.5 that are
    /// right (1 − Hamming loss).
    pub accuracy: f64,
    /// Classes: AUROC (one-vs-rest macro for N classes). Labels: the mean AUROC over the
    /// labels that have one.
    pub auroc: Option<f64>,
    /// Macro-F1 (labels: at 0.5).
    pub macro_f1: f64,
}

impl From<&Report> for EpochScores {
    fn from(r: &Report) -> Self {
        EpochScores {
            accuracy: r.accuracy,
            auroc: r.auroc,
            macro_f1: r.macro_f1,
        }
    }
}

impl Targets {
    /// Single-label targets, checked: at least 2 classes, every label below their number.
    pub fn classes(labels: &[usize], classes: usize) -> Result<Self> {
        if !(2..=crate::head::MAX_CLASSES).contains(&classes)
            || labels.iter().any(|&l| l >= classes)
        {
            return Err(BertError::Data(format!(
                "training needs 2 to {} classes and labels below their number ({classes})",
                crate::head::MAX_CLASSES
            )));
        }
        Ok(Targets::Classes {
            labels: labels.to_vec(),
            classes,
        })
    }

    /// Multi-label targets from each row's label indices, checked: at least 2 labels, every
    /// index below their number.
    pub fn sets(rows: &[Vec<usize>], labels: usize) -> Result<Self> {
        if !(2..=crate::head::MAX_CLASSES).contains(&labels)
            || rows.iter().flatten().any(|&l| l >= labels)
        {
            return Err(BertError::Data(format!(
                "multi-label training needs 2 to {} labels and label indices below their number ({labels})",
                crate::head::MAX_CLASSES
            )));
        }
        let mut flags = vec![false; rows.len() * labels];
        for (i, row) in rows.iter().enumerate() {
            for &l in row {
                flags[i * labels + l] = true;
            }
        }
        Ok(Targets::Sets { flags, labels })
    }

    /// Rows.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes { labels, .. } => labels.len(),
            Targets::Sets { flags, labels } => flags.len() / labels.max(&1),
        }
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Classes, or labels.
    pub fn names(&self) -> usize {
        match self {
            Targets::Classes { classes, .. } => *classes,
            Targets::Sets { labels, .. } => *labels,
        }
    }

    /// Whether rows may have several labels.
    pub fn is_multi_label(&self) -> bool {
        matches!(self, Targets::Sets { .. })
    }

    /// A head's logits per row: one for two classes, one per class or per label otherwise.
    pub fn outputs(&self) -> usize {
        match self {
            Targets::Classes { classes, .. } => outputs_for(*classes),
            Targets::Sets { labels, .. } => *labels,
        }
    }

    /// The targets of `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Targets {
        match self {
            Targets::Classes { labels, classes } => Targets::Classes {
                labels: rows.iter().map(|&r| labels[r]).collect(),
                classes: *classes,
            },
            Targets::Sets { flags, labels } => Targets::Sets {
                flags: rows
                    .iter()
                    .flat_map(|&r| flags[r * labels..(r + 1) * labels].iter().copied())
                    .collect(),
                labels: *labels,
            },
        }
    }

    /// The first `n` rows and the rest.
    pub fn split_at(&self, n: usize) -> (Targets, Targets) {
        let rows = self.len();
        let n = n.min(rows);
        (
            self.select(&(0..n).collect::<Vec<_>>()),
            self.select(&(n..rows).collect::<Vec<_>>()),
        )
    }

    /// The loss's targets: a 0/1 column (two classes), one-hot rows (N classes) or the flags.
    pub fn tensor(&self, device: &Device) -> Tensor<2> {
        let data = TensorData::new(self.values(), [self.len(), self.outputs()]);
        Tensor::from_data(data, device)
    }

    /// [`Targets::tensor`]'s values, row-major.
    pub fn values(&self) -> Vec<f32> {
        let width = self.outputs();
        match self {
            Targets::Classes { labels, classes } => {
                let mut values = vec![0f32; labels.len() * width];
                for (i, &l) in labels.iter().enumerate() {
                    if *classes == 2 {
                        values[i] = l as f32;
                    } else {
                        values[i * width + l] = 1.0;
                    }
                }
                values
            }
            Targets::Sets { flags, .. } => flags.iter().map(|&f| f32::from(u8::from(f))).collect(),
        }
    }

    /// Whether each output has its own sigmoid (two classes, or labels), not a softmax per row.
    pub fn per_output(&self) -> bool {
        match self {
            Targets::Classes { classes, .. } => *classes == 2,
            Targets::Sets { .. } => true,
        }
    }

    /// Mean cross-entropy of `logits` against these targets: a sigmoid's per output (two
    /// classes, or every label), else a softmax's.
    pub fn loss(&self, logits: Tensor<2>) -> Tensor<1> {
        let device = logits.device();
        crate::train::loss(logits, self.tensor(&device), self.per_output())
    }

    /// The temperature fitted on these rows' logits (the validation part's), and the
    /// probabilities at it ([`crate::calibration`]).
    pub fn calibrate(&self, logits: &[f32]) -> (f32, Vec<f32>) {
        let t = crate::calibration::fit_temperature(logits, self);
        (t, self.probabilities(logits, t))
    }

    /// The probabilities of these rows' logits divided by `t`: a sigmoid per output or a
    /// softmax per row, as the loss has them.
    pub fn probabilities(&self, logits: &[f32], t: f32) -> Vec<f32> {
        crate::calibration::probabilities(logits, self.outputs(), self.per_output(), t)
    }

    /// Multi-label: each label's threshold chosen on these rows' probabilities
    /// ([`crate::multilabel::choose_thresholds`]); `None` for classes.
    pub fn thresholds(&self, probs: &[f32]) -> Result<Option<Vec<f32>>> {
        match self {
            Targets::Classes { .. } => Ok(None),
            Targets::Sets { flags, labels } => {
                crate::multilabel::choose_thresholds(probs, flags, *labels)
                    .map(Some)
                    .map_err(|e| BertError::Internal(e.to_string()))
            }
        }
    }

    /// The epoch's scores of probabilities (a head's outputs, after its sigmoid or softmax).
    pub fn scores(&self, probs: &[f32]) -> Result<EpochScores> {
        match self {
            Targets::Classes { labels, classes } => Ok(EpochScores::from(&crate::train::report(
                probs, *classes, labels,
            )?)),
            Targets::Sets { flags, labels } => {
                let report = MultiLabelReport::new(probs, flags, *labels, &vec![0.5; *labels])
                    .map_err(|e| BertError::Internal(e.to_string()))?;
                Ok(EpochScores {
                    accuracy: 1.0 - report.hamming_loss,
                    auroc: report.auroc,
                    macro_f1: report.macro_avg.f1,
                })
            }
        }
    }
}
