//! One trainer for every head preset: the tutorial's MLP, a linear probe, and the default.
//! Presets are settings of this loop, not copies of it. One epoch per call, so the page can
//! draw curves and cancel between epochs; the epochs themselves (validation split, shuffling,
//! best epoch, early stopping) are `crate::epochs`', shared with fine-tuning.

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, decay::WeightDecayConfig};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, sigmoid, softmax};
use serde::{Deserialize, Serialize};

use crate::encoder::read_f32;
use crate::epochs::{BestEpoch, EpochMetrics, Epochs};
pub use crate::epochs::{EpochReport, Monitor};
use crate::error::{BertError, Result};
use crate::head::{Head, HeadShape, Init};
use crate::metrics::Report;
use crate::targets::Targets;

/// A named set of training settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// Exactly the tutorial's head and schedule.
    Tutorial,
    /// Logistic / softmax regression on standardized features, L2 chosen on validation.
    Linear,
    /// The best-measured setting; see [`TrainSettings::preset`].
    Default,
}

impl Preset {
    /// Every preset, in the order the page offers them.
    pub const ALL: [Preset; 3] = [Preset::Default, Preset::Linear, Preset::Tutorial];

    /// The preset's name, as [`Preset::parse`] reads it.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Tutorial => "tutorial",
            Preset::Linear => "linear",
            Preset::Default => "default",
        }
    }

    /// Parses `tutorial`, `linear` or `default`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "tutorial" => Ok(Self::Tutorial),
            "linear" => Ok(Self::Linear),
            "default" => Ok(Self::Default),
            other => Err(BertError::Settings(format!(
                "unknown preset `{other}`: use tutorial, linear or default"
            ))),
        }
    }
}

/// Keras' `ReduceLROnPlateau`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Plateau {
    /// Multiplier applied to the learning rate.
    pub factor: f64,
    /// Epochs without improvement before reducing.
    pub patience: usize,
    /// Floor of the learning rate.
    pub min_lr: f64,
}

/// Every setting of a head's training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    /// The preset these settings started from.
    pub preset: Preset,
    /// ReLU layer widths.
    pub hidden: Vec<usize>,
    /// BatchNorm after the first hidden layer.
    pub batch_norm: bool,
    /// Dropout after each hidden layer.
    pub dropout: f64,
    /// Kernel initialization.
    pub init: Init,
    /// Standardize features with the fitted part's mean and deviation.
    pub standardize: bool,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// L2 penalties to try, one model each; the best on validation AUROC wins.
    pub l2: Vec<f64>,
    /// Examples per step.
    pub batch_size: usize,
    /// Most epochs.
    pub epochs: usize,
    /// Seed for initialization, shuffling and dropout.
    pub seed: u64,
    /// Learning-rate reduction on plateau.
    pub plateau: Option<Plateau>,
    /// What picks the best epoch (and drives the plateau schedule).
    pub monitor: Monitor,
    /// Stop after this many epochs without improvement.
    pub early_stopping: Option<usize>,
    /// Fraction of the training rows (the last ones) held out for validation.
    pub validation_fraction: f64,
}

impl TrainSettings {
    /// The settings of a preset.
    pub fn preset(preset: Preset) -> Self {
        let tutorial = Self {
            preset,
            hidden: vec![50, 30, 30],
            batch_norm: true,
            dropout: 0.0,
            init: Init::Tutorial,
            standardize: false,
            learning_rate: 1e-3,
            l2: vec![0.0],
            batch_size: 300,
            epochs: 10,
            seed: 42,
            plateau: Some(Plateau {
                factor: 0.2,
                patience: 2,
                min_lr: 1e-4,
            }),
            monitor: Monitor::TrainAccuracy,
            early_stopping: None,
            validation_fraction: 0.2,
        };
        match preset {
            Preset::Tutorial => tutorial,
            Preset::Linear => Self {
                hidden: vec![],
                batch_norm: false,
                init: Init::Standard,
                standardize: true,
                learning_rate: 1e-3,
                l2: vec![1e-4, 1e-3, 1e-2, 3e-2, 1e-1],
                batch_size: 32,
                epochs: 60,
                plateau: None,
                monitor: Monitor::ValidationAuroc,
                early_stopping: Some(12),
                ..tutorial
            },
            Preset::Default => Self {
                hidden: vec![64],
                batch_norm: false,
                dropout: 0.5,
                init: Init::Standard,
                standardize: true,
                learning_rate: 1e-3,
                l2: vec![1e-3],
                batch_size: 32,
                epochs: 40,
                plateau: None,
                monitor: Monitor::ValidationAuroc,
                early_stopping: Some(8),
                ..tutorial
            },
        }
    }
}

/// Most epochs a run may ask for (the presets use at most 60).
pub const MAX_EPOCHS: usize = 10_000;
/// Most L2 penalties tried side by side: each is a model trained on every batch.
pub const MAX_L2_CANDIDATES: usize = 32;

/// Whether `x` stays finite once narrowed to the f32 the optimizers take.
pub(crate) fn finite_f32(x: f64) -> bool {
    x.is_finite() && (x as f32).is_finite()
}

impl TrainSettings {
    /// Refuses settings that cannot train: each would otherwise panic (an empty `l2`, a
    /// dropout of 1, a width of 0), allocate without bound or train on NaN. The trainer calls
    /// it, and so does the page's boundary, where settings arrive from JavaScript.
    pub fn validate(&self) -> Result<()> {
        let bad = |why: String| Err(BertError::Settings(format!("training settings: {why}")));
        if let Some(problem) = crate::head::hidden_problem(&self.hidden, self.dropout) {
            return bad(problem);
        }
        if !(finite_f32(self.learning_rate) && self.learning_rate > 0.0) {
            return bad(format!(
                "learning rate {}; it must be a positive number",
                self.learning_rate
            ));
        }
        if self.l2.is_empty() || self.l2.len() > MAX_L2_CANDIDATES {
            return bad(format!(
                "{} L2 penalties; give between 1 and {MAX_L2_CANDIDATES}",
                self.l2.len()
            ));
        }
        if let Some(l2) = self.l2.iter().find(|&&l2| !(finite_f32(l2) && l2 >= 0.0)) {
            return bad(format!("L2 penalty {l2}; penalties must be 0 or more"));
        }
        if self.batch_size == 0 {
            return bad("batch size 0; it must be at least 1".into());
        }
        if !(1..=MAX_EPOCHS).contains(&self.epochs) {
            return bad(format!(
                "{} epochs; choose between 1 and {MAX_EPOCHS}",
                self.epochs
            ));
        }
        if !(self.validation_fraction > 0.0 && self.validation_fraction < 1.0) {
            return bad(format!(
                "validation fraction {}; it must be between 0 and 1, such as 0.2",
                self.validation_fraction
            ));
        }
        if let Some(p) = self.plateau {
            if !(p.factor > 0.0 && p.factor < 1.0) {
                return bad(format!(
                    "plateau factor {}; it must be between 0 and 1",
                    p.factor
                ));
            }
            if !(p.min_lr.is_finite() && p.min_lr >= 0.0) {
                return bad(format!(
                    "plateau minimum learning rate {}; it must be 0 or more",
                    p.min_lr
                ));
            }
        }
        Ok(())
    }
}

/// One model per L2 penalty tried, trained side by side on the same batches.
struct Candidate {
    l2: f64,
    head: Head,
    optim: ModuleOptimizer,
    lr: f64,
    best: BestEpoch<Head>,
    plateau_best: f64,
    plateau_wait: usize,
}

/// Standardization applied before the head (identity when off).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    /// Per-feature mean.
    pub mean: Vec<f32>,
    /// Per-feature standard deviation (1 for constant features).
    pub scale: Vec<f32>,
}

impl Standardizer {
    fn fit(x: &[f32], dim: usize) -> Self {
        let n = (x.len() / dim).max(1) as f64;
        let mut mean = vec![0f64; dim];
        for row in x.chunks_exact(dim) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += *v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0f64; dim];
        for row in x.chunks_exact(dim) {
            for ((s, v), m) in var.iter_mut().zip(row).zip(&mean) {
                *s += (*v as f64 - m).powi(2);
            }
        }
        Self {
            mean: mean.iter().map(|&m| m as f32).collect(),
            // A constant feature (some models have dead dimensions) is only centred: dividing
            // by a near-zero deviation would turn rounding noise in new texts into huge inputs.
            scale: var
                .iter()
                .map(|&s| match (s / n).sqrt() as f32 {
                    d if d > 1e-6 => d,
                    _ => 1.0,
                })
                .collect(),
        }
    }

    /// No change: zero mean, unit scale.
    pub fn identity(dim: usize) -> Self {
        Self {
            mean: vec![0.0; dim],
            scale: vec![1.0; dim],
        }
    }

    /// Standardizes row-major `x` in place.
    pub fn apply(&self, x: &mut [f32]) {
        let dim = self.mean.len();
        for row in x.chunks_exact_mut(dim) {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *v = (*v - m) / s;
            }
        }
    }
}

/// A head's training in progress.
pub struct Trainer {
    settings: TrainSettings,
    shape: HeadShape,
    device: Device,
    standardizer: Standardizer,
    x_fit: Tensor<2>,
    y_fit: Targets,
    x_val: Tensor<2>,
    y_val: Targets,
    candidates: Vec<Candidate>,
    epochs: Epochs,
    history: Vec<EpochReport>,
}

/// What a finished training keeps.
pub struct Trained {
    /// The best head, in inference mode.
    pub head: Head,
    /// Its input standardization.
    pub standardizer: Standardizer,
    /// Its shape.
    pub shape: HeadShape,
    /// The settings that made it.
    pub settings: TrainSettings,
    /// Its best epoch's report.
    pub best: EpochReport,
    /// Every epoch's report.
    pub history: Vec<EpochReport>,
}

fn tensor(values: Vec<f32>, rows: usize, dim: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values, [rows, dim]), device)
}

/// Mean cross-entropy of logits against targets ([`Targets::tensor`]): of a sigmoid per output
/// (`per_output`: two classes, or multi-label), else of a softmax over each row's outputs.
pub fn loss(logits: Tensor<2>, targets: Tensor<2>, per_output: bool) -> Tensor<1> {
    if per_output {
        // log(1 + e^z) − y·z, written so that large |z| cannot overflow.
        let softplus =
            logits.clone().clamp_min(0.0) + logits.clone().abs().neg().exp().add_scalar(1.0).log();
        (softplus - logits * targets).mean()
    } else {
        (log_softmax(logits, 1) * targets).sum_dim(1).neg().mean()
    }
}

/// Probabilities in [`Report`]'s layout.
pub fn probabilities(logits: Tensor<2>, classes: usize) -> Tensor<2> {
    if classes == 2 {
        sigmoid(logits)
    } else {
        softmax(logits, 1)
    }
}

pub(crate) fn report(probs: &[f32], classes: usize, labels: &[usize]) -> Result<Report> {
    Report::new(probs, classes, labels).map_err(|e| BertError::Internal(e.to_string()))
}

impl Trainer {
    /// [`Trainer::with_targets`] for one class per row: `labels` are indices below `classes`.
    pub fn new(
        features: &[f32],
        dim: usize,
        labels: &[usize],
        classes: usize,
        settings: TrainSettings,
        device: &Device,
    ) -> Result<Self> {
        Self::with_targets(
            features,
            dim,
            Targets::classes(labels, classes)?,
            settings,
            device,
        )
    }

    /// Prepares training on `features` (row-major, `targets.len() × dim`) of the training
    /// split; its last `validation_fraction` rows are held out for validation. `device` gets
    /// autodiff. Multi-label targets give a sigmoid per label, and each best epoch keeps the
    /// labels' thresholds chosen on its validation predictions.
    pub fn with_targets(
        features: &[f32],
        dim: usize,
        targets: Targets,
        settings: TrainSettings,
        device: &Device,
    ) -> Result<Self> {
        settings.validate()?;
        let n = targets.len();
        if !(1..=crate::head::MAX_WIDTH).contains(&dim)
            || Some(features.len()) != n.checked_mul(dim)
            || n < 2
        {
            return Err(BertError::Data(format!(
                "training needs at least 2 examples with {dim} features each"
            )));
        }
        let epochs = Epochs::new(
            n,
            settings.validation_fraction,
            settings.epochs,
            settings.seed,
        );
        let n_fit = epochs.n_fit();
        let device = device.clone().autodiff();
        let (fit, val) = features.split_at(n_fit * dim);
        let standardizer = if settings.standardize {
            Standardizer::fit(fit, dim)
        } else {
            Standardizer::identity(dim)
        };
        let (mut fit, mut val) = (fit.to_vec(), val.to_vec());
        standardizer.apply(&mut fit);
        standardizer.apply(&mut val);
        let shape = HeadShape {
            input: dim,
            hidden: settings.hidden.clone(),
            batch_norm: settings.batch_norm,
            dropout: settings.dropout,
            classes: targets.names(),
            multi_label: targets.is_multi_label(),
        };
        device.seed(settings.seed);
        let candidates = settings
            .l2
            .iter()
            .map(|&l2| {
                let mut adam = AdamConfig::new().with_epsilon(1e-7);
                if l2 > 0.0 {
                    adam = adam.with_weight_decay(Some(WeightDecayConfig::new(l2 as f32)));
                }
                Candidate {
                    l2,
                    head: Head::new(&shape, settings.init, &device),
                    optim: adam.init(),
                    lr: settings.learning_rate,
                    best: BestEpoch::new(settings.monitor, settings.early_stopping),
                    plateau_best: f64::NEG_INFINITY,
                    plateau_wait: 0,
                }
            })
            .collect();
        let (y_fit, y_val) = targets.split_at(n_fit);
        Ok(Self {
            x_fit: tensor(fit, n_fit, dim, &device),
            y_fit,
            x_val: tensor(val, n - n_fit, dim, &device),
            y_val,
            epochs,
            settings,
            shape,
            device,
            standardizer,
            candidates,
            history: Vec::new(),
        })
    }

    /// Whether the last epoch has run (or early stopping ended training).
    pub fn is_finished(&self) -> bool {
        self.epochs.is_finished()
    }

    /// Epochs run so far.
    pub fn epoch(&self) -> usize {
        self.epochs.epoch()
    }

    /// Runs one epoch of every candidate and reports the best one's metrics.
    pub async fn step(&mut self) -> Result<EpochReport> {
        let order = self.epochs.start();
        let batches: Vec<&[usize]> = order.chunks(self.settings.batch_size.max(1)).collect();
        let mut epoch_reports = Vec::with_capacity(self.candidates.len());
        for candidate in &mut self.candidates {
            let mut train_logits = Vec::with_capacity(batches.len());
            let mut loss_sum = Tensor::<1>::zeros([1], &self.device);
            for batch in &batches {
                let idx: Vec<i64> = batch.iter().map(|&i| i as i64).collect();
                let idx =
                    Tensor::<1, Int>::from_data(TensorData::new(idx, [batch.len()]), &self.device);
                let x = self.x_fit.clone().select(0, idx);
                let logits = candidate.head.forward(x);
                let batch_loss = self.y_fit.select(batch).loss(logits.clone());
                loss_sum = loss_sum + batch_loss.clone().detach().mul_scalar(batch.len() as f64);
                let grads = GradientsParams::from_grads(batch_loss.backward(), &candidate.head);
                candidate.head = candidate
                    .optim
                    .step(candidate.lr, candidate.head.clone(), grads);
                train_logits.push(logits.detach());
            }
            let train_logits = read_f32(Tensor::cat(train_logits, 0)).await?;
            let train_loss = read_f32(loss_sum).await?[0] as f64 / order.len() as f64;
            let train_targets = self.y_fit.select(&order);
            let train = train_targets.scores(&train_targets.probabilities(&train_logits, 1.0))?;

            let eval = candidate.head.valid();
            let val_logits = eval.forward(self.x_val.clone().without_autodiff());
            let val_loss = read_f32(self.y_val.loss(val_logits.clone())).await?[0] as f64;
            let val_logits = read_f32(val_logits).await?;
            let val = self
                .y_val
                .scores(&self.y_val.probabilities(&val_logits, 1.0))?;

            let mut epoch_report = EpochReport::new(
                self.epochs.epoch(),
                candidate.lr,
                candidate.l2,
                EpochMetrics {
                    train_loss,
                    train,
                    val_loss,
                    val,
                },
            );
            // The thresholds are chosen on the probabilities the calibrated head will give.
            let (temperature, calibrated) = self.y_val.calibrate(&val_logits);
            epoch_report.temperature = Some(temperature);
            epoch_report.thresholds = self.y_val.thresholds(&calibrated)?;
            let score = self.settings.monitor.score(&epoch_report);
            candidate.best.offer(&mut epoch_report, eval);
            if let Some(plateau) = self.settings.plateau {
                // Keras: an improvement must beat the best by min_delta = 1e-4.
                if score > candidate.plateau_best + 1e-4 {
                    candidate.plateau_best = score;
                    candidate.plateau_wait = 0;
                } else {
                    candidate.plateau_wait += 1;
                    if candidate.plateau_wait >= plateau.patience && candidate.lr > plateau.min_lr {
                        candidate.lr = (candidate.lr * plateau.factor).max(plateau.min_lr);
                        candidate.plateau_wait = 0;
                    }
                }
            }
            epoch_reports.push(epoch_report);
        }
        if self.candidates.iter().all(|c| c.best.out_of_patience()) {
            self.epochs.stop();
        }
        let best = self.best_candidate();
        let chosen = epoch_reports.swap_remove(best);
        self.history.push(chosen.clone());
        Ok(chosen)
    }

    fn best_candidate(&self) -> usize {
        // Candidates are compared on validation whatever picks each one's best epoch.
        let key = |c: &Candidate| match c.best.report() {
            Some(r) => Monitor::ValidationAuroc.score(r),
            None => f64::NEG_INFINITY,
        };
        (0..self.candidates.len())
            .max_by(|&a, &b| key(&self.candidates[a]).total_cmp(&key(&self.candidates[b])))
            .unwrap_or(0)
    }

    /// The kept checkpoint of the best candidate.
    pub fn finish(mut self) -> Result<Trained> {
        let best = self.best_candidate();
        let candidate = self.candidates.swap_remove(best);
        let (head, report) = candidate
            .best
            .take()
            .ok_or_else(|| BertError::Internal("no epoch has run yet".into()))?;
        Ok(Trained {
            head,
            standardizer: self.standardizer,
            shape: self.shape,
            settings: self.settings,
            best: report,
            history: self.history,
        })
    }
}
