//! The epoch loop that head training ([`crate::train::Trainer`]) and fine-tuning
//! ([`crate::finetune::FineTuner`]) share: which training rows are held out for validation,
//! each epoch's shuffled order, the epoch's report, the rule that picks the best epoch, and early
//! stopping. What differs between the two is the batch step, which each keeps.

use serde::{Deserialize, Serialize};

use crate::data::SeededRng;
use crate::targets::EpochScores;

/// What "best epoch" (and a head's learning-rate schedule) looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    /// Training accuracy, as the tutorial's callbacks do.
    TrainAccuracy,
    /// Validation AUROC (validation accuracy where there is no AUROC).
    ValidationAuroc,
    /// Training loss: in effect the last epoch, for a validation part too small to choose by
    /// (labeling's few labels).
    TrainLoss,
}

impl Monitor {
    /// The epoch's score under this monitor: higher is better.
    pub fn score(self, report: &EpochReport) -> f64 {
        match self {
            Monitor::TrainAccuracy => report.train_accuracy,
            Monitor::ValidationAuroc => report.val_auroc.unwrap_or(report.val_accuracy),
            Monitor::TrainLoss => -report.train_loss,
        }
    }
}

/// Metrics of one epoch (of the best candidate when several L2 values are tried).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// 1-based epoch.
    pub epoch: usize,
    /// Learning rate used.
    pub learning_rate: f64,
    /// Mean training loss over the epoch's steps.
    pub train_loss: f64,
    /// Training accuracy, over the epoch's steps in training mode (as Keras reports it).
    pub train_accuracy: f64,
    /// Training AUROC, same examples.
    pub train_auroc: Option<f64>,
    /// Validation loss.
    pub val_loss: f64,
    /// Validation accuracy.
    pub val_accuracy: f64,
    /// Validation AUROC (one-vs-rest macro for N classes).
    pub val_auroc: Option<f64>,
    /// Validation macro-F1.
    pub val_macro_f1: f64,
    /// The L2 penalty (or weight decay) of the candidate reported.
    pub l2: f64,
    /// Whether this epoch became the kept checkpoint.
    pub best: bool,
    /// Multi-label: each label's threshold, chosen on this epoch's validation predictions (the
    /// best epoch's are the classifier's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Vec<f32>>,
    /// The temperature fitted on this epoch's validation logits ([`crate::calibration`]); the
    /// best epoch's calibrates the classifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
}

/// One pass over the fitted rows and one over the validation rows, as measured.
pub struct EpochMetrics {
    /// Mean training loss.
    pub train_loss: f64,
    /// The training rows' scores, from the predictions made while training.
    pub train: EpochScores,
    /// Mean validation loss.
    pub val_loss: f64,
    /// The validation rows' scores.
    pub val: EpochScores,
}

impl EpochReport {
    /// The report of epoch `epoch`, trained at `learning_rate` with penalty `l2`.
    pub fn new(epoch: usize, learning_rate: f64, l2: f64, m: EpochMetrics) -> Self {
        EpochReport {
            epoch,
            learning_rate,
            train_loss: m.train_loss,
            train_accuracy: m.train.accuracy,
            train_auroc: m.train.auroc,
            val_loss: m.val_loss,
            val_accuracy: m.val.accuracy,
            val_auroc: m.val.auroc,
            val_macro_f1: m.val.macro_f1,
            l2,
            best: false,
            thresholds: None,
            temperature: None,
        }
    }
}

/// How many of `n` training rows are fitted when the last `validation_fraction` of them are
/// held out, as Keras' `validation_split` does (`floor(n · (1 − fraction))`), with at least one
/// row on each side when there are two or more.
pub fn fitted_rows(n: usize, validation_fraction: f64) -> usize {
    let fraction = if validation_fraction.is_finite() {
        validation_fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    // The margin keeps a fraction of exactly v/n rows (a file's own validation part) from
    // rounding to one row fewer; no fraction a person types lands that close below a whole.
    let at = ((n as f64) * (1.0 - fraction) + 1e-6) as usize;
    if n < 2 { at.min(n) } else { at.clamp(1, n - 1) }
}

/// The epochs of a run: the fitted rows, each epoch's shuffled order, and when it ends.
#[derive(Debug, Clone)]
pub struct Epochs {
    rng: SeededRng,
    n_fit: usize,
    epochs: usize,
    epoch: usize,
    stopped: bool,
}

impl Epochs {
    /// At most `epochs` epochs over the fitted part of `n` rows (see [`fitted_rows`]),
    /// shuffled by `seed`.
    pub fn new(n: usize, validation_fraction: f64, epochs: usize, seed: u64) -> Self {
        Epochs {
            rng: SeededRng::new(seed),
            n_fit: fitted_rows(n, validation_fraction),
            epochs,
            epoch: 0,
            stopped: false,
        }
    }

    /// Rows fitted (the first ones); the rest are the validation part.
    pub fn n_fit(&self) -> usize {
        self.n_fit
    }

    /// The epoch in progress (1-based), 0 before the first.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// Starts the next epoch: the fitted rows in this epoch's order.
    pub fn start(&mut self) -> Vec<usize> {
        self.epoch += 1;
        let mut order: Vec<usize> = (0..self.n_fit).collect();
        self.rng.shuffle(&mut order);
        order
    }

    /// Ends the run after the epoch in progress (early stopping).
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// Whether the last epoch has run, or early stopping ended the run.
    pub fn is_finished(&self) -> bool {
        self.stopped || self.epoch >= self.epochs
    }
}

/// The best epoch so far and its model, by one rule for every run: the first epoch, then any
/// epoch whose [`Monitor::score`] beats the best; with a patience, the run may stop after that
/// many epochs without a better one (the best one is kept, so more epochs never make the result
/// worse).
#[derive(Debug, Clone)]
pub struct BestEpoch<T> {
    monitor: Monitor,
    patience: Option<usize>,
    kept: Option<(T, EpochReport)>,
    score: f64,
    since_best: usize,
}

impl<T> BestEpoch<T> {
    /// Nothing kept yet.
    pub fn new(monitor: Monitor, patience: Option<usize>) -> Self {
        BestEpoch {
            monitor,
            patience,
            kept: None,
            score: f64::NEG_INFINITY,
            since_best: 0,
        }
    }

    /// Keeps `model` when `report`'s epoch is the best so far, marking the report so.
    pub fn offer(&mut self, report: &mut EpochReport, model: T) {
        let score = self.monitor.score(report);
        if self.kept.is_none() || score > self.score {
            self.score = score;
            self.since_best = 0;
            report.best = true;
            self.kept = Some((model, report.clone()));
        } else {
            self.since_best += 1;
        }
    }

    /// Whether the patience ran out: that many epochs since the best one.
    pub fn out_of_patience(&self) -> bool {
        self.patience.is_some_and(|p| self.since_best >= p)
    }

    /// The best epoch's report.
    pub fn report(&self) -> Option<&EpochReport> {
        self.kept.as_ref().map(|(_, r)| r)
    }

    /// The best epoch's model and report.
    pub fn take(self) -> Option<(T, EpochReport)> {
        self.kept
    }
}
