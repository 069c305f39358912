//! Fine-tuning: the top K encoder layers and a linear head trained together with burn's
//! autodiff, the embeddings and the lower L − K layers frozen.
//!
//! The frozen part's output for every text is computed once (a caching pass, length-sorted so
//! batches carry little padding) and reused every epoch while it fits a memory budget; above
//! the budget it is recomputed per batch, so memory stays bounded for any number of texts.
//! [`FineTuner::step`] does one unit of work (one batch of the caching pass, one optimizer step,
//! or one validation batch) so the page's worker can report progress and honour cancel.
//! K = 0 trains only the head on the frozen encoder's pooled output.

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::Linear;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::encoder::{Encoder, read_f32};
use crate::epochs::{BestEpoch, EpochMetrics, Epochs, Monitor};
use crate::error::{BertError, Result};
use crate::head::{Head, HeadShape, Init};
use crate::model::bert::{BertLayer, BertModel, LayerShape};
use crate::model::{Pooling, TokenBatch};
use crate::params::flat_values;
#[cfg(feature = "cpu")]
use crate::params::to_device_async;
use crate::shard::{Answer, Input, Setup, Share, Work, add_flat_gradients, answer_with, split};
use crate::targets::Targets;
use crate::train::EpochReport;

/// Optimizer steps a [`FineTuner::probe`] times: the first pays for warm-up, so a clock keeps
/// the others.
const PROBE_STEPS: usize = 3;

/// A run's work in each phase, in passes of the full encoder over one text.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PhaseWork {
    /// The frozen layers' pass over every text (0 without the cache).
    pub caching: f64,
    /// Every epoch's optimizer steps.
    pub training: f64,
    /// Every epoch's validation.
    pub validating: f64,
}

/// A head step's work when no encoder layer is trained, in passes of the full encoder over one
/// text: the head's arithmetic is nothing, its dispatches and readbacks are not.
const HEAD_COST: f64 = 0.02;

/// Every setting of a fine-tuning run; [`Default`] is the measured recipe (top 2 layers, AdamW
/// with lr 5e-5 for the layers and 1e-3 for the head, linear decay, weight decay 0.01, batch
/// 32, 3 epochs, mean pooling, max 55 tokens).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FineTuneSettings {
    /// How many of the top encoder layers are trained (0 = only the head).
    pub layers: usize,
    /// Pooling of the last hidden states (with `pooler`, the pooler is trained too).
    pub pooling: Pooling,
    /// Longest input, `[CLS]` and `[SEP]` included.
    pub max_len: usize,
    /// Texts per optimizer step.
    pub batch_size: usize,
    /// Passes over the training part.
    pub epochs: usize,
    /// Peak learning rate of the encoder layers (and pooler).
    pub encoder_lr: f64,
    /// Peak learning rate of the head.
    pub head_lr: f64,
    /// Fraction of the steps over which the learning rates rise linearly from 0; they then fall
    /// linearly to 0 at the last step.
    pub warmup_fraction: f64,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    /// Gradients are scaled down to this global L2 norm (`None`: no clipping).
    pub max_grad_norm: Option<f64>,
    /// Seed of the head's initialization and of the shuffling.
    pub seed: u64,
    /// Fraction of the training rows (the last ones) held out for validation.
    pub validation_fraction: f64,
    /// Stop after this many epochs without a better validation score (the best epoch is kept
    /// either way); `None` runs every epoch.
    pub early_stopping: Option<usize>,
    /// Most memory, in MiB, for the frozen layers' outputs kept between epochs; above it they
    /// are recomputed for every batch.
    pub cache_budget_mb: usize,
}

impl Default for FineTuneSettings {
    fn default() -> Self {
        Self {
            layers: 2,
            pooling: Pooling::Mean,
            max_len: crate::tokenizer::DEFAULT_MAX_LEN,
            batch_size: 32,
            epochs: 3,
            encoder_lr: 5e-5,
            head_lr: 1e-3,
            warmup_fraction: 0.0,
            weight_decay: 0.01,
            max_grad_norm: Some(1.0),
            seed: 42,
            validation_fraction: 0.2,
            early_stopping: Some(2),
            cache_budget_mb: 512,
        }
    }
}

/// Most texts per optimizer step (the page offers up to 512).
pub const MAX_BATCH_SIZE: usize = 65_536;
/// Most epochs of a fine-tuning run (the page offers up to 100).
pub const MAX_EPOCHS: usize = 1_000;

impl FineTuneSettings {
    /// Refuses settings that cannot train: out of range, or numbers that would turn every
    /// weight into NaN. [`FineTuner::new`] calls it, and so does the page's boundary, where
    /// settings arrive from JavaScript; what depends on the model (layers, max length) is
    /// checked against it there.
    pub fn validate(&self) -> Result<()> {
        let bad = |why: String| Err(BertError::Settings(format!("fine-tuning settings: {why}")));
        if self.layers > crate::weights::MAX_LAYERS {
            return bad(format!("{} layers is more than any model has", self.layers));
        }
        if !(2..=crate::weights::MAX_POSITIONS).contains(&self.max_len) {
            return bad(format!(
                "max length {}; it must be between 2 and the model's max positions",
                self.max_len
            ));
        }
        if !(1..=MAX_BATCH_SIZE).contains(&self.batch_size) {
            return bad(format!(
                "batch size {}; choose between 1 and {MAX_BATCH_SIZE}",
                self.batch_size
            ));
        }
        if !(1..=MAX_EPOCHS).contains(&self.epochs) {
            return bad(format!(
                "{} epochs; choose between 1 and {MAX_EPOCHS}",
                self.epochs
            ));
        }
        for (name, lr) in [("encoder", self.encoder_lr), ("head", self.head_lr)] {
            if !(crate::train::finite_f32(lr) && lr > 0.0) {
                return bad(format!(
                    "{name} learning rate {lr}; it must be a positive number"
                ));
            }
        }
        if !(crate::train::finite_f32(self.weight_decay) && self.weight_decay >= 0.0) {
            return bad(format!(
                "weight decay {}; it must be 0 or more",
                self.weight_decay
            ));
        }
        if let Some(norm) = self.max_grad_norm
            && !(norm.is_finite() && norm > 0.0)
        {
            return bad(format!(
                "gradient norm limit {norm}; it must be a positive number (or none)"
            ));
        }
        if !(self.validation_fraction > 0.0 && self.validation_fraction < 1.0) {
            return bad(format!(
                "validation fraction {}; it must be between 0 and 1, such as 0.2",
                self.validation_fraction
            ));
        }
        if !(self.warmup_fraction >= 0.0 && self.warmup_fraction < 1.0) {
            return bad(format!(
                "warm-up fraction {}; it must be at least 0 and below 1",
                self.warmup_fraction
            ));
        }
        Ok(())
    }
}

/// The trained part of the encoder: its top layers, and the pooler when pooling uses it.
#[derive(Module, Debug)]
pub struct TunedEncoder {
    pub(crate) layers: Vec<BertLayer>,
    pub(crate) pooler: Option<Linear>,
}

impl TunedEncoder {
    /// Pooled vectors `[batch, hidden]` from the frozen layers' output `[batch, seq, hidden]`
    /// and the batch's 0/1 mask.
    pub fn forward(
        &self,
        hidden: Tensor<3>,
        mask: Tensor<2>,
        pooling: Pooling,
    ) -> Result<Tensor<2>> {
        let bias = BertModel::mask_bias(mask.clone());
        let hidden = self
            .layers
            .iter()
            .fold(hidden, |h, layer| layer.forward(h, bias.clone()));
        pooling.apply_with(self.pooler.as_ref(), hidden, mask)
    }
}

/// Everything a fine-tuning run trains: the top layers and the head on their pooled output.
#[derive(Module, Debug)]
pub struct TunedTop {
    pub(crate) encoder: TunedEncoder,
    pub(crate) head: Head,
}

impl TunedTop {
    /// Copies of `base`'s top `layers` layers (and pooler, for pooler pooling) with a fresh
    /// linear head, on `device` (give an autodiff device to train them).
    pub fn from_base(
        base: &BertModel,
        layers: usize,
        pooling: Pooling,
        head: &HeadShape,
        device: &Device,
    ) -> Result<Self> {
        let first = base.num_layers().checked_sub(layers).ok_or_else(|| {
            BertError::Settings(format!(
                "cannot fine-tune {layers} layers: the model has {}",
                base.num_layers()
            ))
        })?;
        let pooler = match pooling {
            Pooling::Mean => None,
            Pooling::Pooler => Some(base.pooler().ok_or(BertError::NoPooler)?.clone()),
        };
        let encoder = TunedEncoder {
            layers: base.layers()[first..].to_vec(),
            pooler,
        };
        // The base model's parameters live on a plain device: `train` moves them onto its
        // autodiff twin with gradients on (`fork` keeps a plain tensor plain).
        Ok(Self {
            encoder: encoder.fork(&device.clone().without_autodiff()).train(),
            head: Head::new(head, Init::Standard, device),
        })
    }

    /// An untrained top of the given geometry, to load saved tensors into.
    pub fn skeleton(
        layer: &LayerShape,
        layers: usize,
        pooler: bool,
        head: &HeadShape,
        device: &Device,
    ) -> Self {
        let width = layer.hidden;
        Self {
            encoder: TunedEncoder {
                layers: (0..layers).map(|_| BertLayer::new(layer, device)).collect(),
                pooler: pooler.then(|| burn::nn::LinearConfig::new(width, width).init(device)),
            },
            head: Head::new(head, Init::Standard, device),
        }
    }

    /// Number of encoder layers it holds.
    pub fn num_layers(&self) -> usize {
        self.encoder.layers.len()
    }

    /// The head.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// Logits `[batch, outputs]` from the frozen layers' output `[batch, seq, hidden]` and the
    /// batch's 0/1 mask.
    pub fn forward(
        &self,
        hidden: Tensor<3>,
        mask: Tensor<2>,
        pooling: Pooling,
    ) -> Result<Tensor<2>> {
        Ok(self
            .head
            .forward(self.encoder.forward(hidden, mask, pooling)?))
    }
}

/// What a run is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Running the frozen layers once over every text.
    Caching,
    /// Optimizer steps over the training part.
    Training,
    /// Scoring the validation part after an epoch.
    Validating,
    /// Every epoch has run.
    Finished,
}

/// What one [`FineTuner::step`] did, for progress reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// The phase after this step.
    pub phase: Phase,
    /// 1-based epoch in progress (0 while caching).
    pub epoch: usize,
    /// Texts done in the current phase (this epoch's, for training and validation).
    pub done: usize,
    /// Texts in the current phase.
    pub total: usize,
    /// The phase this step worked in: another than `phase` when the step ended it.
    pub worked: Phase,
    /// Texts this step processed.
    pub texts: usize,
    /// Work done so far, in passes of the full encoder over one text (the unit of
    /// [`FineTuner::work_total`]).
    pub work_done: f64,
    /// Optimizer steps taken.
    pub step: usize,
    /// Optimizer steps of the whole run.
    pub total_steps: usize,
    /// Mean training loss over this epoch's steps so far.
    pub running_loss: Option<f64>,
    /// Set by the step that finished an epoch's validation.
    pub epoch_report: Option<EpochReport>,
}

/// A finished run: the best epoch's top, with what made it.
pub struct FineTuned {
    /// The best epoch's layers and head, in inference mode.
    pub top: TunedTop,
    /// Its settings.
    pub settings: FineTuneSettings,
    /// Index of the first trained layer in the base model.
    pub first_layer: usize,
    /// Geometry of the trained layers.
    pub layer_shape: LayerShape,
    /// The head's shape.
    pub head_shape: HeadShape,
    /// The base model's id.
    pub model_id: String,
    /// The best epoch's report.
    pub best: EpochReport,
    /// Every epoch's report.
    pub history: Vec<EpochReport>,
}

/// Running sums of one pass over texts.
#[derive(Default)]
struct Pass {
    next: usize,
    loss_sum: f64,
    logits: Vec<f32>,
    /// The rows scored, in the order of `logits`.
    rows: Vec<usize>,
}

impl Pass {
    fn add(&mut self, loss: f64, logits: Vec<f32>, rows: &[usize]) {
        self.loss_sum += loss * rows.len() as f64;
        self.logits.extend(logits);
        self.rows.extend_from_slice(rows);
        self.next += rows.len();
    }

    fn mean_loss(&self) -> Option<f64> {
        (!self.rows.is_empty()).then(|| self.loss_sum / self.rows.len() as f64)
    }
}

/// A fine-tuning run in progress.
pub struct FineTuner {
    settings: FineTuneSettings,
    model_id: String,
    first: usize,
    width: usize,
    layer_shape: LayerShape,
    head_shape: HeadShape,
    device: Device,
    pad: u32,
    tokens: Vec<Vec<u32>>,
    /// Values of the trained parameters.
    parameters: usize,
    /// The trained parameters as sent to other threads, and the optimizer step they are at.
    shared: Option<(usize, std::sync::Arc<Vec<f32>>)>,
    targets: Targets,
    n_fit: usize,
    /// Frozen-layer outputs per text (`len × width`), when they fit the budget.
    cache: Option<Vec<Vec<f32>>>,
    /// Texts shortest first, the order of the caching pass.
    cache_order: Vec<usize>,
    cache_next: usize,
    top: Option<TunedTop>,
    encoder_optim: ModuleOptimizer,
    head_optim: ModuleOptimizer,
    epochs: Epochs,
    phase: Phase,
    /// The epoch in progress' order of the fitted rows.
    order: Vec<usize>,
    train: Pass,
    val: Pass,
    step: usize,
    total_steps: usize,
    work_done: f64,
    best: BestEpoch<TunedTop>,
    history: Vec<EpochReport>,
}

impl FineTuner {
    /// Plans a run on the training split's `texts` and `labels` (`classes` classes); the last
    /// `validation_fraction` of them are held out for validation. Tokenizes, nothing more.
    pub fn new(
        encoder: &Encoder,
        texts: &[String],
        labels: &[usize],
        classes: usize,
        settings: FineTuneSettings,
    ) -> Result<Self> {
        let targets = Targets::classes(labels, classes).map_err(|_| {
            BertError::Settings(format!("labels must be class indices below {classes}"))
        })?;
        Self::with_targets(encoder, texts, targets, settings)
    }

    /// Plans a run on the training split's `texts` and their `targets` (one class each, or
    /// several labels each: a sigmoid per label, and thresholds chosen on validation); the last
    /// `validation_fraction` of them are held out for validation. Tokenizes, nothing more.
    pub fn with_targets(
        encoder: &Encoder,
        texts: &[String],
        targets: Targets,
        settings: FineTuneSettings,
    ) -> Result<Self> {
        settings.validate()?;
        let config = encoder.config();
        let bad = |why: String| Err(BertError::Settings(why));
        if settings.layers > config.num_hidden_layers {
            return bad(format!(
                "cannot fine-tune {} layers: the model has {}",
                settings.layers, config.num_hidden_layers
            ));
        }
        let n = targets.len();
        if texts.len() != n || n < 2 {
            return bad("fine-tuning needs at least 2 texts, each with a label".into());
        }
        encoder.check_max_len(settings.max_len)?;
        let tokens = texts
            .iter()
            .map(|t| encoder.encode_ids(t, settings.max_len))
            .collect::<Result<Vec<_>>>()?;
        let epochs = Epochs::new(
            n,
            settings.validation_fraction,
            settings.epochs,
            settings.seed,
        );
        let n_fit = epochs.n_fit();
        let width = config.hidden_size;
        // u64: on wasm32 a usize would overflow past 4 GiB, which 100,000 reviews exceed.
        let cached_bytes: u64 = tokens.iter().map(|t| (t.len() * width * 4) as u64).sum();
        let budget = (settings.cache_budget_mb as u64).saturating_mul(1 << 20);
        let cache = (cached_bytes <= budget).then(|| vec![Vec::new(); n]);
        let mut cache_order: Vec<usize> = (0..n).collect();
        cache_order.sort_by_key(|&i| tokens[i].len());

        let device = encoder.device().clone();
        let autodiff = device.clone().autodiff();
        autodiff.seed(settings.seed);
        let head_shape = HeadShape {
            input: width,
            hidden: vec![],
            batch_norm: false,
            dropout: 0.0,
            classes: targets.names(),
            multi_label: targets.is_multi_label(),
        };
        let top = TunedTop::from_base(
            encoder.model(),
            settings.layers,
            settings.pooling,
            &head_shape,
            &autodiff,
        )?;
        let adamw = AdamWConfig::new()
            .with_epsilon(1e-8)
            .with_weight_decay(settings.weight_decay as f32);
        let steps_per_epoch = n_fit.div_ceil(settings.batch_size);
        let parameters = crate::params::flat_sizes(&top).iter().sum();
        let mut tuner = Self {
            model_id: encoder.model_id().to_string(),
            first: config.num_hidden_layers - settings.layers,
            width,
            layer_shape: LayerShape::of(config),
            head_shape,
            device,
            pad: encoder.tokenizer().pad_id(),
            tokens,
            parameters,
            shared: None,
            targets,
            n_fit,
            phase: if cache.is_some() {
                Phase::Caching
            } else {
                Phase::Training
            },
            cache,
            cache_order,
            cache_next: 0,
            top: Some(top),
            encoder_optim: adamw.init(),
            head_optim: adamw.init(),
            epochs,
            order: Vec::new(),
            train: Pass::default(),
            val: Pass::default(),
            step: 0,
            total_steps: steps_per_epoch * settings.epochs,
            work_done: 0.0,
            best: BestEpoch::new(Monitor::ValidationAuroc, settings.early_stopping),
            history: Vec::new(),
            settings,
        };
        if tuner.phase == Phase::Training {
            tuner.start_epoch();
        }
        Ok(tuner)
    }

    /// Whether the frozen layers' outputs are kept between epochs (they fit the budget).
    pub fn caches(&self) -> bool {
        self.cache.is_some()
    }

    /// Texts held out for validation.
    pub fn validation_size(&self) -> usize {
        self.targets.len() - self.n_fit
    }

    /// The whole run's work, in passes of the full encoder over one text.
    pub fn work_total(&self) -> f64 {
        let work = self.work_by_phase();
        work.caching + work.training + work.validating
    }

    /// The whole run's work in each phase, in passes of the full encoder over one text: what
    /// a clock multiplies by each phase's measured seconds per unit (see [`FineTuner::probe`]).
    pub fn work_by_phase(&self) -> PhaseWork {
        let (n_fit, n_val) = (self.n_fit as f64, self.validation_size() as f64);
        let epochs = self.settings.epochs as f64;
        PhaseWork {
            caching: if self.cache.is_some() {
                self.targets.len() as f64 * self.cost(Phase::Caching)
            } else {
                0.0
            },
            training: epochs * n_fit * self.cost(Phase::Training),
            validating: epochs * n_val * self.cost(Phase::Validating),
        }
    }

    /// A short run of the same settings on a few of `texts` (drawn at random from the seed), to
    /// time real steps on this device before the real run: the caching pass over them, three
    /// optimizer steps and one validation batch, one epoch. A clock divides each phase's
    /// seconds by its work (`StepReport::work_done`) and multiplies by the real run's
    /// [`FineTuner::work_by_phase`].
    pub fn probe(
        encoder: &Encoder,
        texts: &[String],
        targets: &Targets,
        settings: &FineTuneSettings,
    ) -> Result<Self> {
        let batch = settings.batch_size.max(1);
        let (train, validation) = (PROBE_STEPS * batch, 2 * batch);
        let mut rows: Vec<usize> = (0..targets.len().min(texts.len())).collect();
        crate::data::SeededRng::new(settings.seed).shuffle(&mut rows);
        rows.truncate(train + validation);
        let sample: Vec<String> = rows.iter().map(|&r| texts[r].clone()).collect();
        let probe = FineTuneSettings {
            epochs: 1,
            early_stopping: None,
            validation_fraction: validation as f64 / (train + validation) as f64,
            ..settings.clone()
        };
        Self::with_targets(encoder, &sample, targets.select(&rows), probe)
    }

    /// The work of one text in `phase`, in passes of the full encoder. A training step's
    /// forward and backward pass through a layer costs about three forward passes (measured
    /// natively: docs/PERFORMANCE.md).
    fn cost(&self, phase: Phase) -> f64 {
        let layers = (self.first + self.settings.layers).max(1) as f64;
        let frozen = self.first as f64 / layers;
        // The head alone (no trained layers) still costs a step's dispatches and readbacks.
        let trained = (self.settings.layers as f64 / layers).max(HEAD_COST);
        // With the cache the frozen layers run once; without it, at every pass over a text.
        let per_pass = if self.cache.is_some() { 0.0 } else { frozen };
        match phase {
            Phase::Caching => frozen,
            Phase::Training => 3.0 * trained + per_pass,
            Phase::Validating => trained + per_pass,
            Phase::Finished => 0.0,
        }
    }

    /// Whether every epoch has run.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// Every finished epoch's report.
    pub fn history(&self) -> &[EpochReport] {
        &self.history
    }

    fn start_epoch(&mut self) {
        self.order = self.epochs.start();
        self.train = Pass::default();
        self.val = Pass {
            next: self.n_fit,
            ..Pass::default()
        };
        self.phase = Phase::Training;
    }

    /// Does the next unit of work on this thread: one caching batch, one optimizer step or one
    /// validation batch.
    pub async fn step(&mut self, encoder: &Encoder) -> Result<StepReport> {
        self.step_with(encoder, 1, |_, _| async {
            Err(BertError::Internal("one part has no helpers".into()))
        })
        .await
    }

    /// [`FineTuner::step`] with its texts split into `parts` shares ([`crate::shard`]): the last
    /// computed here, each other one, `p`, by `helper(p, bytes)`, which another thread answers
    /// with [`crate::shard::ShareRunner`] while this one computes its own (the page's helper
    /// workers: call the JS first, await later). A share whose helper fails is computed here.
    pub async fn step_with<F, Fut>(
        &mut self,
        encoder: &Encoder,
        parts: usize,
        mut helper: F,
    ) -> Result<StepReport>
    where
        F: FnMut(usize, Vec<u8>) -> Fut,
        Fut: Future<Output = Result<Vec<u8>>>,
    {
        if encoder.model_id() != self.model_id {
            return Err(BertError::Incompatible(
                "the model changed during fine-tuning: start it again".into(),
            ));
        }
        let before = self.phase;
        let parts = parts.max(1);
        let (texts, epoch_report) = match before {
            Phase::Caching => (self.cache_batch(encoder, parts, &mut helper).await?, None),
            Phase::Training => (self.train_batch(encoder, parts, &mut helper).await?, None),
            Phase::Validating => self.validate_batch(encoder, parts, &mut helper).await?,
            Phase::Finished => (0, None),
        };
        self.work_done += texts as f64 * self.cost(before);
        let (done, total) = match self.phase {
            Phase::Caching => (self.cache_next, self.targets.len()),
            Phase::Training => (self.train.next, self.n_fit),
            Phase::Validating => (self.val.next - self.n_fit, self.validation_size()),
            Phase::Finished => (self.targets.len(), self.targets.len()),
        };
        Ok(StepReport {
            phase: self.phase,
            epoch: self.epochs.epoch(),
            done,
            total,
            worked: before,
            texts,
            work_done: self.work_done,
            step: self.step,
            total_steps: self.total_steps,
            running_loss: self.train.mean_loss(),
            epoch_report,
        })
    }

    /// What the frozen layers give for `rows`: their cached output, padded to the longest, with
    /// the mask, or the tokens to compute it from.
    fn input(&self, rows: &[usize]) -> Input {
        let seq = rows
            .iter()
            .map(|&r| self.tokens[r].len())
            .max()
            .unwrap_or(0);
        if let Some(cache) = self.cache.as_ref().filter(|_| self.phase != Phase::Caching) {
            let mut values = vec![0f32; rows.len() * seq * self.width];
            let mut mask = vec![0f32; rows.len() * seq];
            for (b, &r) in rows.iter().enumerate() {
                let start = b * seq * self.width;
                values[start..start + cache[r].len()].copy_from_slice(&cache[r]);
                mask[b * seq..b * seq + self.tokens[r].len()].fill(1.0);
            }
            let shape = [rows.len(), seq, self.width];
            return Input::Hidden {
                values,
                mask,
                shape,
            };
        }
        let ids: Vec<&[u32]> = rows.iter().map(|&r| self.tokens[r].as_slice()).collect();
        Input::Tokens(TokenBatch::pad(&ids, self.pad))
    }

    /// The frozen layers' output for `rows`, padded to the longest, with the mask.
    fn frozen(&self, encoder: &Encoder, rows: &[usize]) -> (Tensor<3>, Tensor<2>) {
        self.input(rows).frozen(encoder, self.first)
    }

    /// What another thread needs to rebuild this run's top.
    fn setup(&self) -> Setup {
        Setup {
            model_id: self.model_id.clone(),
            first: self.first,
            layers: self.settings.layers,
            pooling: self.settings.pooling,
            head: self.head_shape.clone(),
        }
    }

    /// Sends each group of `groups` but the last to a helper (parts 1, 2, …) as a share of
    /// `work`, of a step of `step_rows` texts; each share is kept, to compute it here should its
    /// helper fail.
    fn dispatch<F, Fut>(
        &self,
        work: Work,
        groups: &[Vec<usize>],
        step_rows: usize,
        params: &std::sync::Arc<Vec<f32>>,
        helper: &mut F,
    ) -> Result<Vec<(Vec<usize>, Share, Fut)>>
    where
        F: FnMut(usize, Vec<u8>) -> Fut,
    {
        let remote = &groups[..groups.len().saturating_sub(1)];
        let setup = self.setup();
        remote
            .iter()
            .enumerate()
            .map(|(i, rows)| {
                let targets = self.targets.select(rows);
                let share = Share {
                    work,
                    setup: setup.clone(),
                    input: self.input(rows),
                    weight: rows.len() as f64 / step_rows as f64,
                    params: params.clone(),
                    targets: if work == Work::Cache {
                        Vec::new()
                    } else {
                        targets.values()
                    },
                    per_output: targets.per_output(),
                };
                let bytes = share.to_bytes()?;
                Ok((rows.clone(), share, helper(i + 1, bytes)))
            })
            .collect()
    }

    /// A helper's answer to `share`, if it has the sizes the share asks for; else the share
    /// computed here (with `top`, for training and validation).
    async fn receive(
        &self,
        encoder: &Encoder,
        top: Option<&TunedTop>,
        share: Share,
        answer: impl Future<Output = Result<Vec<u8>>>,
    ) -> Result<Answer> {
        let (rows, seq) = (share.input.rows(), share.input.seq());
        let outputs = self.head_shape.outputs();
        let fits = |a: &Answer| match share.work {
            Work::Cache => a.hidden.len() == rows * seq * self.width,
            Work::Train => a.logits.len() == rows * outputs && a.grads.len() == self.parameters,
            Work::Validate => a.logits.len() == rows * outputs,
        };
        match answer.await.and_then(|bytes| Answer::from_bytes(&bytes)) {
            Ok(answer) if fits(&answer) => Ok(answer),
            _ => answer_with(top, encoder, share).await,
        }
    }

    /// `rows` split for `parts` threads, and the trained parameters to send with the shares:
    /// none when this thread computes them all, else read once per optimizer step.
    async fn plan_shares(
        &mut self,
        rows: &[usize],
        parts: usize,
        top: &TunedTop,
    ) -> Result<(Vec<Vec<usize>>, std::sync::Arc<Vec<f32>>)> {
        let groups = split(rows, |r| self.tokens[r].len(), parts);
        if groups.len() < 2 {
            return Ok((groups, Default::default()));
        }
        if let Some((step, params)) = &self.shared
            && *step == self.step
        {
            return Ok((groups, params.clone()));
        }
        let params = std::sync::Arc::new(flat_values(top).await?);
        self.shared = Some((self.step, params.clone()));
        Ok((groups, params))
    }

    async fn cache_batch<F, Fut>(
        &mut self,
        encoder: &Encoder,
        parts: usize,
        helper: &mut F,
    ) -> Result<usize>
    where
        F: FnMut(usize, Vec<u8>) -> Fut,
        Fut: Future<Output = Result<Vec<u8>>>,
    {
        // Inference only, so twice the training batch costs no more memory than a step.
        let end = (self.cache_next + 2 * self.settings.batch_size).min(self.cache_order.len());
        let rows = self.cache_order[self.cache_next..end].to_vec();
        let groups = split(&rows, |r| self.tokens[r].len(), parts);
        let remote = self.dispatch(
            Work::Cache,
            &groups,
            rows.len(),
            &Default::default(),
            helper,
        )?;
        let local = groups.last().map(Vec::as_slice).unwrap_or_default();
        let (hidden, _) = self.frozen(encoder, local);
        let seq = hidden.dims()[1];
        let values = read_f32(hidden).await?;
        self.keep(local, &values, seq)?;
        for (rows, share, answer) in remote {
            let seq = share.input.seq();
            let answer = self.receive(encoder, None, share, answer).await?;
            self.keep(&rows, &answer.hidden, seq)?;
        }
        self.cache_next = end;
        if self.cache_next >= self.cache_order.len() {
            self.start_epoch();
        }
        Ok(rows.len())
    }

    /// Keeps the frozen layers' output `[rows, seq, width]` of `rows` in the cache, each text
    /// without its padding.
    fn keep(&mut self, rows: &[usize], values: &[f32], seq: usize) -> Result<()> {
        let width = self.width;
        let Some(cache) = self.cache.as_mut() else {
            return Ok(());
        };
        for (b, &r) in rows.iter().enumerate() {
            let start = b * seq * width;
            let row = values
                .get(start..start + self.tokens[r].len() * width)
                .ok_or_else(|| BertError::Internal("a caching batch came back short".into()))?;
            cache[r] = row.to_vec();
        }
        Ok(())
    }

    /// The learning-rate multiplier of the next step: linear warm-up, then linear decay to 0.
    fn schedule(&self) -> f64 {
        let total = self.total_steps.max(1) as f64;
        let warmup = (self.settings.warmup_fraction * total).round();
        let t = self.step as f64;
        if t < warmup {
            (t + 1.0) / warmup
        } else {
            ((total - t) / (total - warmup).max(1.0)).max(0.0)
        }
    }

    async fn train_batch<F, Fut>(
        &mut self,
        encoder: &Encoder,
        parts: usize,
        helper: &mut F,
    ) -> Result<usize>
    where
        F: FnMut(usize, Vec<u8>) -> Fut,
        Fut: Future<Output = Result<Vec<u8>>>,
    {
        let start = self.train.next;
        let end = (start + self.settings.batch_size).min(self.order.len());
        let rows = self.order[start..end].to_vec();
        let top = self
            .top
            .take()
            .ok_or_else(|| BertError::Internal("fine-tuning failed earlier".into()))?;
        let (groups, params) = self.plan_shares(&rows, parts, &top).await?;
        let remote = self.dispatch(Work::Train, &groups, rows.len(), &params, helper)?;
        // This thread's share: its part of the batch's mean loss.
        let local = groups.last().map(Vec::as_slice).unwrap_or_default();
        let (hidden, mask) = self.frozen(encoder, local);
        let logits = top.forward(hidden.autodiff(), mask.autodiff(), self.settings.pooling)?;
        let batch_loss = self.targets.select(local).loss(logits.clone());
        let weight = local.len() as f64 / rows.len() as f64;
        let mut grads = batch_loss.clone().mul_scalar(weight).backward();
        let mut encoder_grads = GradientsParams::from_module(&mut grads, &top.encoder);
        let mut head_grads = GradientsParams::from_module(&mut grads, &top.head);
        let mut theirs = Vec::with_capacity(remote.len());
        for (rows, share, answer) in remote {
            let answer = self.receive(encoder, Some(&top), share, answer).await?;
            add_flat_gradients(
                &top,
                &mut encoder_grads,
                &mut head_grads,
                &answer.grads,
                &self.device,
            )?;
            theirs.push((answer, rows));
        }
        if let Some(max_norm) = self.settings.max_grad_norm {
            clip_global_norm(&top, &mut encoder_grads, &mut head_grads, max_norm).await?;
        }
        let factor = self.schedule();
        let TunedTop {
            encoder: layers,
            head,
        } = top;
        self.top = Some(TunedTop {
            encoder: self.encoder_optim.step(
                self.settings.encoder_lr * factor,
                layers,
                encoder_grads,
            ),
            head: self
                .head_optim
                .step(self.settings.head_lr * factor, head, head_grads),
        });
        self.step += 1;
        let loss = read_f32(batch_loss.detach()).await?[0] as f64;
        let logits = read_f32(logits.detach()).await?;
        self.train.add(loss, logits, local);
        for (answer, rows) in theirs {
            self.train.add(answer.loss, answer.logits, &rows);
        }
        if self.train.next >= self.order.len() {
            self.phase = Phase::Validating;
        }
        Ok(rows.len())
    }

    /// Scores one validation batch: its size, and the epoch's report after the last batch.
    async fn validate_batch<F, Fut>(
        &mut self,
        encoder: &Encoder,
        parts: usize,
        helper: &mut F,
    ) -> Result<(usize, Option<EpochReport>)>
    where
        F: FnMut(usize, Vec<u8>) -> Fut,
        Fut: Future<Output = Result<Vec<u8>>>,
    {
        let start = self.val.next;
        let end = (start + 2 * self.settings.batch_size).min(self.targets.len());
        let rows: Vec<usize> = (start..end).collect();
        let top = self
            .top
            .clone()
            .ok_or_else(|| BertError::Internal("fine-tuning failed earlier".into()))?;
        let (groups, params) = self.plan_shares(&rows, parts, &top).await?;
        let remote = self.dispatch(Work::Validate, &groups, rows.len(), &params, helper)?;
        let local = groups.last().map(Vec::as_slice).unwrap_or_default();
        let (hidden, mask) = self.frozen(encoder, local);
        let eval = top.valid();
        let logits = eval.forward(hidden, mask, self.settings.pooling)?;
        let loss = read_f32(self.targets.select(local).loss(logits.clone())).await?[0] as f64;
        let logits = read_f32(logits).await?;
        self.val.add(loss, logits, local);
        for (rows, share, answer) in remote {
            let answer = self.receive(encoder, Some(&top), share, answer).await?;
            self.val.add(answer.loss, answer.logits, &rows);
        }
        if end < self.targets.len() {
            return Ok((rows.len(), None));
        }
        let epoch_report = self.end_epoch(eval)?;
        Ok((rows.len(), Some(epoch_report)))
    }

    fn end_epoch(&mut self, eval: TunedTop) -> Result<EpochReport> {
        let train_targets = self.targets.select(&self.train.rows);
        let train = train_targets.scores(&train_targets.probabilities(&self.train.logits, 1.0))?;
        let val_targets = self.targets.select(&self.val.rows);
        let val = val_targets.scores(&val_targets.probabilities(&self.val.logits, 1.0))?;
        let mut epoch_report = EpochReport::new(
            self.epochs.epoch(),
            self.settings.encoder_lr * self.schedule(),
            self.settings.weight_decay,
            EpochMetrics {
                train_loss: self.train.mean_loss().unwrap_or(f64::NAN),
                train,
                val_loss: self.val.mean_loss().unwrap_or(f64::NAN),
                val,
            },
        );
        // The thresholds are chosen on the probabilities the calibrated head will give.
        let (temperature, calibrated) = val_targets.calibrate(&self.val.logits);
        epoch_report.temperature = Some(temperature);
        epoch_report.thresholds = val_targets.thresholds(&calibrated)?;
        self.best.offer(&mut epoch_report, eval);
        self.history.push(epoch_report.clone());
        if self.best.out_of_patience() {
            self.epochs.stop();
        }
        if self.epochs.is_finished() {
            self.phase = Phase::Finished;
        } else {
            self.start_epoch();
        }
        Ok(epoch_report)
    }

    /// The best epoch's top (training may stop early: the best epoch so far is kept), copied to
    /// the CPU where the build has one; the page's WebGPU build keeps it on its device.
    pub async fn finish(self) -> Result<FineTuned> {
        let (top, best) = self
            .best
            .take()
            .ok_or_else(|| BertError::Internal("no epoch of fine-tuning has finished".into()))?;
        #[cfg(feature = "cpu")]
        let top = to_device_async(top, &Device::flex()).await?;
        Ok(FineTuned {
            top,
            settings: self.settings,
            first_layer: self.first,
            layer_shape: self.layer_shape,
            head_shape: self.head_shape,
            model_id: self.model_id,
            best,
            history: self.history,
        })
    }
}

/// Squared L2 norm of a module's gradients, summed on the device.
struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let squares = (g.clone() * g).sum();
            self.total = Some(match self.total.take() {
                Some(total) => total + squares,
                None => squares,
            });
        }
    }
}

/// Multiplies a module's gradients by `factor`.
struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: f64,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, g.mul_scalar(self.factor));
        }
    }
}

/// Scales the gradients of both parts so that their global L2 norm is at most `max_norm`, as
/// PyTorch's `clip_grad_norm_` does (burn's own clipping works per tensor, which changes the
/// update's direction).
async fn clip_global_norm(
    top: &TunedTop,
    encoder: &mut GradientsParams,
    head: &mut GradientsParams,
    max_norm: f64,
) -> Result<()> {
    let mut norm = SquaredNorm {
        grads: encoder,
        total: None,
    };
    top.encoder.visit(&mut norm);
    let mut norm = SquaredNorm {
        grads: head,
        total: norm.total,
    };
    top.head.visit(&mut norm);
    let Some(total) = norm.total else {
        return Ok(());
    };
    let norm = (read_f32(total).await?[0] as f64).sqrt();
    if norm > max_norm {
        let factor = max_norm / (norm + 1e-6);
        top.encoder.visit(&mut Scale {
            grads: encoder,
            factor,
        });
        top.head.visit(&mut Scale {
            grads: head,
            factor,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::Classifier;
    use crate::tiny_encoder;

    /// Reviews the tiny vocabulary can spell, labelled by their sentiment word.
    fn reviews(n: usize) -> (Vec<String>, Vec<usize>) {
        let good = ["good", "great", "best", "love"];
        let bad = ["bad", "worst", "not good", "no"];
        let things = ["coffee", "tea", "chocolate", "dog food", "chips", "milk"];
        (0..n)
            .map(|i| {
                let label = (i * 7 / 3) % 2;
                let word = if label == 1 { good[i % 4] } else { bad[i % 4] };
                (
                    format!("this {} is {word} !", things[i % things.len()]),
                    label,
                )
            })
            .unzip()
    }

    fn head_shape(input: usize) -> HeadShape {
        HeadShape {
            input,
            hidden: vec![],
            batch_norm: false,
            dropout: 0.0,
            classes: 2,
            multi_label: false,
        }
    }

    fn set(param: &Param<Tensor<2>>, at: [usize; 2], delta: f32) -> Param<Tensor<2>> {
        let tensor = param.val();
        let [rows, cols] = tensor.dims();
        let mut values = tensor.to_data().try_into_vec::<f32>().expect("f32 weights");
        values[at[0] * cols + at[1]] += delta;
        Param::from_tensor(Tensor::from_data(
            TensorData::new(values, [rows, cols]),
            &tensor.device(),
        ))
    }

    /// Autodiff gradients of a top-layer weight, an attention weight and the head agree with
    /// central finite differences of the loss.
    ///
    /// Each weight is probed where its gradient is largest. Tolerance: the loss (≈0.7) is
    /// computed in f32, and the two evaluations' rounding errors (a few ulps, ~1e-7) divided by
    /// 2h = 2e-2 leave up to ~5e-6 of noise in the central difference (4e-6 was seen on a
    /// small gradient); the truncation error h²·|f'''|/6 is smaller for these small random
    /// weights. 1e-5 absolute plus 2 % relative covers that, while a wrong or missing gradient
    /// term shows up as an error of the gradient's own size (the largest gradients here are
    /// 1e-3 to 4e-2).
    #[test]
    fn gradients_match_finite_differences() {
        let _rng = crate::test_rng();
        let encoder = tiny_encoder();
        let (texts, labels) = reviews(6);
        let tokens = encoder.tokenize(&texts, 16).expect("tokenize");
        let (hidden, mask) = encoder.model().lower_hidden(&tokens, 1, encoder.device());
        let autodiff = encoder.device().clone().autodiff();
        autodiff.seed(3);
        let shape = head_shape(encoder.dim());
        let top =
            TunedTop::from_base(encoder.model(), 1, Pooling::Mean, &shape, &autodiff).expect("top");
        let loss_of = |top: &TunedTop, hidden: Tensor<3>, mask: Tensor<2>| {
            let device = hidden.device();
            let logits = top.forward(hidden, mask, Pooling::Mean).expect("forward");
            Targets::classes(&labels, 2)
                .expect("targets")
                .loss(logits.to_device(&device))
        };
        let grads = loss_of(&top, hidden.clone().autodiff(), mask.clone().autodiff()).backward();
        let eval = top.valid();
        let value =
            |top: &TunedTop| loss_of(top, hidden.clone(), mask.clone()).into_scalar::<f32>() as f64;
        let h = 1e-2;
        type Pick = fn(&mut TunedTop) -> &mut Param<Tensor<2>>;
        let picks: [(&str, Pick); 4] = [
            ("intermediate", |t| {
                &mut t.encoder.layers[0].intermediate.weight
            }),
            ("output", |t| &mut t.encoder.layers[0].output.weight),
            ("value", |t| &mut t.encoder.layers[0].attention.value.weight),
            ("head", |t| &mut t.head.output.weight),
        ];
        for (name, pick) in picks {
            let mut trained = top.clone();
            let param = pick(&mut trained);
            let grad = param.grad(&grads).expect("the weight has a gradient");
            let cols = grad.dims()[1];
            let values = grad.to_data().try_into_vec::<f32>().expect("f32");
            // The element with the largest gradient: there the finite difference's rounding
            // noise is smallest relative to what is measured.
            let (i, &largest) = values
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
                .expect("a non-empty weight");
            let (at, analytic) = ([i / cols, i % cols], largest as f64);
            let mut plus = eval.clone();
            *pick(&mut plus) = set(pick(&mut eval.clone()), at, h as f32);
            let mut minus = eval.clone();
            *pick(&mut minus) = set(pick(&mut eval.clone()), at, -h as f32);
            let numeric = (value(&plus) - value(&minus)) / (2.0 * h);
            assert!(
                (analytic - numeric).abs() <= 1e-5 + 0.02 * numeric.abs(),
                "{name}{at:?}: autodiff {analytic:.6e}, finite differences {numeric:.6e}"
            );
            assert!(
                analytic.abs() > 5e-4,
                "{name}: gradient {analytic} is too small to test"
            );
        }
    }

    fn run(encoder: &Encoder, settings: FineTuneSettings) -> (FineTuner, Vec<StepReport>) {
        let (texts, labels) = reviews(48);
        let mut tuner = FineTuner::new(encoder, &texts, &labels, 2, settings).expect("plan");
        let mut steps = Vec::new();
        while !tuner.is_finished() {
            steps.push(pollster::block_on(tuner.step(encoder)).expect("step"));
        }
        (tuner, steps)
    }

    fn small() -> FineTuneSettings {
        FineTuneSettings {
            layers: 1,
            batch_size: 8,
            epochs: 3,
            encoder_lr: 1e-3,
            head_lr: 1e-2,
            max_len: 16,
            ..FineTuneSettings::default()
        }
    }

    /// Several labels per text: fine-tuning gives a sigmoid per label, a finite loss, and the
    /// best epoch's thresholds, which the classifier keeps and predicts with.
    #[test]
    fn fine_tuning_takes_several_labels_per_text() {
        let _rng = crate::test_rng();
        let encoder = tiny_encoder();
        let (texts, sentiment) = reviews(48);
        // Label 0: the sentiment; label 1: a drink; either, both or neither.
        let sets: Vec<Vec<usize>> = texts
            .iter()
            .zip(&sentiment)
            .map(|(t, &s)| {
                let drink = ["coffee", "tea", "milk"].iter().any(|d| t.contains(d));
                [(s == 1).then_some(0), drink.then_some(1)]
                    .into_iter()
                    .flatten()
                    .collect()
            })
            .collect();
        let targets = Targets::sets(&sets, 2).unwrap();
        let mut tuner = FineTuner::with_targets(&encoder, &texts, targets, small()).unwrap();
        assert!(tuner.head_shape.multi_label);
        while !tuner.is_finished() {
            if let Some(report) = pollster::block_on(tuner.step(&encoder))
                .unwrap()
                .epoch_report
            {
                assert!(report.train_loss.is_finite() && report.val_loss.is_finite());
                assert_eq!(report.thresholds.as_ref().map(Vec::len), Some(2));
            }
        }
        let classifier = Classifier::from_fine_tuned(
            pollster::block_on(tuner.finish()).unwrap(),
            vec!["positive".into(), "drink".into()],
        );
        assert_eq!(classifier.meta.thresholds.as_ref().map(Vec::len), Some(2));
        let probs = pollster::block_on(classifier.probabilities(&encoder, &texts[..4])).unwrap();
        assert_eq!(probs.len(), 8);
        let predictions = classifier.predictions(&probs);
        assert!(predictions.iter().all(|p| p.labels.is_some()));
    }

    #[test]
    fn steps_report_progress_and_learn() {
        let _rng = crate::test_rng();
        let encoder = tiny_encoder();
        let (tuner, steps) = run(&encoder, small());
        assert!(tuner.caches());
        // 48 texts: a caching pass of 3 batches, then per epoch 5 steps on the 38 training
        // texts and 1 validation batch of 10.
        assert_eq!(steps.len(), 3 + 3 * (5 + 1));
        assert_eq!(steps[0].phase, Phase::Caching);
        assert_eq!(steps.last().map(|s| s.step), Some(15));
        let epochs: Vec<_> = steps
            .iter()
            .filter_map(|s| s.epoch_report.clone())
            .collect();
        assert_eq!(epochs.len(), 3);
        assert!(epochs[2].train_loss < epochs[0].train_loss, "{epochs:#?}");
        assert!(epochs[0].best, "the first epoch is the best so far");
        // The work reported adds up to the plan's, one step's texts at a time.
        assert_eq!(steps.iter().map(|s| s.texts).sum::<usize>(), 48 + 3 * 48);
        assert!(steps.windows(2).all(|w| w[0].work_done < w[1].work_done));
        let last = steps.last().map_or(0.0, |s| s.work_done);
        assert!(
            (last - tuner.work_total()).abs() < 1e-9,
            "{last} vs {}",
            tuner.work_total()
        );
        let done = pollster::block_on(tuner.finish()).expect("finish");
        assert!(done.best.val_auroc.is_some());
    }

    #[test]
    fn the_work_counts_frozen_and_trained_layers_by_phase() {
        let _rng = crate::test_rng();
        let encoder = tiny_encoder();
        let (texts, labels) = reviews(50);
        let plan = |settings| FineTuner::new(&encoder, &texts, &labels, 2, settings).unwrap();
        // Tiny model: 2 layers. K = 1, cached: 50 texts × ½ once, then per epoch 40 × 3 × ½
        // and 10 × ½.
        let cached = plan(small());
        let expected = PhaseWork {
            caching: 25.0,
            training: 180.0,
            validating: 15.0,
        };
        assert_eq!(cached.work_by_phase(), expected);
        assert!((cached.work_total() - 220.0).abs() < 1e-9);
        // Without the cache the frozen half runs at every pass: 3 × (40 × 2 + 10 × 1).
        let uncached = plan(FineTuneSettings {
            cache_budget_mb: 0,
            ..small()
        });
        let expected = PhaseWork {
            caching: 0.0,
            training: 240.0,
            validating: 30.0,
        };
        assert_eq!(uncached.work_by_phase(), expected);
    }

    /// A probe is a short run of the same settings on a sample: three optimizer steps and one
    /// validation batch, one epoch.
    #[test]
    fn a_probe_takes_three_steps_and_one_validation_batch() {
        let _rng = crate::test_rng();
        let encoder = tiny_encoder();
        let (texts, labels) = reviews(200);
        let settings = FineTuneSettings {
            batch_size: 8,
            ..small()
        };
        let targets = Targets::classes(&labels, 2).unwrap();
        let mut probe = FineTuner::probe(&encoder, &texts, &targets, &settings).unwrap();
        let mut worked = Vec::new();
        while !probe.is_finished() {
            worked.push(pollster::block_on(probe.step(&encoder)).unwrap().worked);
        }
        let count = |phase| worked.iter().filter(|&&w| w == phase).count();
        assert_eq!(count(Phase::Caching), 3, "{worked:?}");
        assert_eq!(count(Phase::Training), 3, "{worked:?}");
        assert_eq!(count(Phase::Validating), 1, "{worked:?}");
    }

    /// Shares answered by "helpers" — other copies of the model, given the bytes a page's
    /// helper worker gets — give the one-thread run, cached or not, up to the order of
    /// floating-point sums: every epoch's losses and scores, and the test texts' probabilities
    /// scored in shares too. A helper that fails has its share computed here.
    #[test]
    fn shares_on_other_threads_give_the_one_thread_run() {
        use crate::evaluate::Scoring;
        use crate::shard::ShareRunner;
        let _rng = crate::test_rng();
        let encoder = tiny_encoder();
        let other = tiny_encoder();
        let (texts, labels) = reviews(48);
        for budget in [512, 0] {
            let settings = FineTuneSettings {
                cache_budget_mb: budget,
                ..small()
            };
            let (alone, _) = run(&encoder, settings.clone());
            let mut runners = [ShareRunner::new(), ShareRunner::new()];
            let mut tuner = FineTuner::new(&encoder, &texts, &labels, 2, settings).unwrap();
            let (mut calls, mut failed) = (0, 0);
            while !tuner.is_finished() {
                let helper = |part: usize, bytes: Vec<u8>| {
                    calls += 1;
                    let answer = if calls % 7 == 0 {
                        failed += 1;
                        Err(BertError::Internal("this helper stopped".into()))
                    } else {
                        pollster::block_on(runners[part - 1].run(&other, &bytes))
                    };
                    async move { answer }
                };
                pollster::block_on(tuner.step_with(&encoder, 3, helper)).unwrap();
            }
            assert!(calls > 20 && failed > 2, "{calls} shares, {failed} failed");
            assert_eq!(tuner.history().len(), alone.history().len());
            for (a, b) in alone.history().iter().zip(tuner.history()) {
                assert!((a.train_loss - b.train_loss).abs() < 1e-5, "{a:?} vs {b:?}");
                assert!((a.val_loss - b.val_loss).abs() < 1e-5, "{a:?} vs {b:?}");
                assert_eq!(a.val_accuracy, b.val_accuracy);
                let (x, y) = (a.val_auroc.unwrap_or(0.0), b.val_auroc.unwrap_or(1.0));
                assert!((x - y).abs() < 0.005, "{a:?} vs {b:?}");
            }
            let alone = Classifier::from_fine_tuned(
                pollster::block_on(alone.finish()).unwrap(),
                vec!["negative".into(), "positive".into()],
            );
            let shared = Classifier::from_fine_tuned(
                pollster::block_on(tuner.finish()).unwrap(),
                vec!["negative".into(), "positive".into()],
            );
            let expected = pollster::block_on(alone.probabilities(&encoder, &texts)).unwrap();
            let mut scoring = Scoring::new(&shared, &encoder, texts.clone(), 5).unwrap();
            while !scoring.is_finished() {
                let helper = |_part: usize, batch: Vec<String>| {
                    let answer = pollster::block_on(shared.probabilities(&other, &batch));
                    async move { answer }
                };
                pollster::block_on(scoring.step_with(&shared, &encoder, 3, helper)).unwrap();
            }
            let got = scoring.into_probabilities().unwrap();
            assert_eq!(got.len(), expected.len());
            for (g, e) in got.iter().zip(&expected) {
                assert!((g - e).abs() < 1e-5, "{g} vs {e}");
            }
        }
    }

    #[test]
    fn recomputing_the_frozen_layers_gives_the_cached_result() {
        let _rng = crate::test_rng();
        let encoder = tiny_encoder();
        let (cached, _) = run(&encoder, small());
        let (recomputed, _) = run(
            &encoder,
            FineTuneSettings {
                cache_budget_mb: 0,
                ..small()
            },
        );
        assert!(!recomputed.caches());
        for (a, b) in cached.history().iter().zip(recomputed.history()) {
            assert!((a.train_loss - b.train_loss).abs() < 1e-5, "{a:?} vs {b:?}");
            assert!((a.val_loss - b.val_loss).abs() < 1e-5, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn the_classifier_file_reproduces_predictions_and_checks_its_base() {
        let _rng = crate::test_rng();
        let encoder = tiny_encoder();
        let (tuner, _) = run(&encoder, small());
        let classifier = Classifier::from_fine_tuned(
            pollster::block_on(tuner.finish()).expect("finish"),
            vec!["negative".into(), "positive".into()],
        );
        let texts = ["this tea is great !", "the worst chips", ""];
        let before = pollster::block_on(classifier.probabilities(&encoder, &texts)).expect("probs");
        let bytes = pollster::block_on(classifier.to_bytes()).expect("save");
        let loaded = Classifier::from_bytes(&bytes, &Device::flex()).expect("load");
        assert!(loaded.is_fine_tuned());
        let after = pollster::block_on(loaded.probabilities(&encoder, &texts)).expect("probs");
        assert_eq!(before, after);
        let err = pollster::block_on(loaded.predict(&[0.0; 32], &Device::flex())).unwrap_err();
        assert!(err.to_string().contains("classify texts"), "{err}");

        let mut other = loaded;
        other.meta.model_id = "bert-2x32-0000000000000000".into();
        let err = pollster::block_on(other.probabilities(&encoder, &texts)).unwrap_err();
        assert!(
            err.to_string()
                .contains("load the model it was trained with")
        );
    }

    #[test]
    fn impossible_settings_are_clear_errors() {
        let _rng = crate::test_rng();
        let encoder = tiny_encoder();
        let (texts, labels) = reviews(10);
        let too_many = FineTuneSettings {
            layers: 3,
            ..FineTuneSettings::default()
        };
        let err = FineTuner::new(&encoder, &texts, &labels, 2, too_many)
            .err()
            .expect("3 of 2 layers");
        assert!(err.to_string().contains("the model has 2"), "{err}");
        let err = FineTuner::new(&encoder, &texts[..1], &labels[..1], 2, small())
            .err()
            .expect("one text");
        assert!(err.to_string().contains("at least 2"), "{err}");
    }
}
