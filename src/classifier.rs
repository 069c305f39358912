//! A trained classifier as one file: the head's tensors — and, for a fine-tuned one, its
//! encoder layers' — (safetensors) with everything needed to use it again in its metadata: base
//! model identity, feature settings, label names, shape, training settings, standardization
//! and metrics.

use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use serde::{Deserialize, Serialize};

use crate::calibration::{Calibration, Reliability};
use crate::data::strip_html;
use crate::encoder::Encoder;
use crate::error::{BertError, Result};
use crate::evaluate::Scoring;
use crate::features::FeatureSettings;
use crate::finetune::{FineTuneSettings, FineTuned, TunedEncoder, TunedTop};
use crate::head::{Head, HeadShape, Init};
use crate::metrics::Report;
use crate::model::bert::LayerShape;
use crate::multilabel::MultiLabelReport;
use crate::params::safetensors_bytes;
use crate::targets::Targets;
use crate::train::{EpochReport, Standardizer, TrainSettings, Trained};
use crate::weights::{MAX_LAYERS, MAX_POSITIONS, layer_problem};

const FORMAT: &str = "bertweb-classifier/1";
const META_KEY: &str = "bertweb";

/// Everything about a classifier but its tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierMeta {
    /// File format tag.
    pub format: String,
    /// [`crate::Encoder::model_id`] of the base model the features came from.
    pub model_id: String,
    /// Pooling and max length of the features.
    pub features: FeatureSettings,
    /// Class names, index = label.
    pub label_names: Vec<String>,
    /// The head's shape.
    pub shape: HeadShape,
    /// Training settings of a head on frozen features; `None` for a fine-tuned classifier.
    pub settings: Option<TrainSettings>,
    /// How the encoder's top layers were fine-tuned; `None` for a head on frozen features.
    #[serde(default)]
    pub fine_tune: Option<FineTuneMeta>,
    /// Input standardization.
    pub standardizer: Standardizer,
    /// The kept epoch; `None` for a classifier that was not trained here (imported).
    pub best_epoch: Option<EpochReport>,
    /// Where an imported classifier came from; `None` for one trained here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<Imported>,
    /// Test-split metrics, when evaluated.
    pub test: Option<TestSummary>,
    /// Multi-label: each label's threshold (a text has the label when its probability is at
    /// least this), chosen on validation; `None` for classes, and 0.5 each for an imported
    /// multi-label classifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Vec<f32>>,
    /// The temperature fitted on validation that the head's logits are divided by (folded into
    /// its output layer: [`crate::head::Head::scale_output`]); `None` for one that was not
    /// calibrated (imported, or kept by an older page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
}

/// The error for a classifier file whose contents cannot work.
fn invalid(why: String) -> BertError {
    BertError::InvalidFile(format!(
        "this classifier file is damaged or was edited: {why}"
    ))
}

impl ClassifierMeta {
    /// Refuses metadata that cannot make a working classifier, before anything is built from
    /// it: out-of-range sizes (which would panic in burn or allocate without bound) and parts
    /// that disagree (label names and classes, the standardizer and the input width, the
    /// fine-tuned layers and the head).
    pub fn validate(&self) -> Result<()> {
        let shape = &self.shape;
        if let Some(problem) = shape.problem() {
            return Err(invalid(format!("its head has {problem}")));
        }
        if self.label_names.len() != shape.classes {
            return Err(invalid(format!(
                "it names {} labels for {} classes",
                self.label_names.len(),
                shape.classes
            )));
        }
        let Standardizer { mean, scale } = &self.standardizer;
        if mean.len() != shape.input || scale.len() != shape.input {
            return Err(invalid(format!(
                "its standardizer has {} means and {} scales for {} inputs",
                mean.len(),
                scale.len(),
                shape.input
            )));
        }
        if !mean.iter().all(|m| m.is_finite()) || !scale.iter().all(|s| s.is_finite() && *s > 0.0) {
            return Err(invalid(
                "its standardizer holds a NaN, infinite or non-positive value".into(),
            ));
        }
        if self
            .temperature
            .is_some_and(|t| !(t.is_finite() && t > 0.0))
        {
            return Err(invalid("its temperature is not a positive number".into()));
        }
        if let Some(thresholds) = &self.thresholds {
            if !shape.multi_label || thresholds.len() != shape.classes {
                return Err(invalid(format!(
                    "it has {} thresholds for {} {}",
                    thresholds.len(),
                    shape.classes,
                    if shape.multi_label {
                        "labels"
                    } else {
                        "classes (one label per text)"
                    }
                )));
            }
            if !thresholds.iter().all(|t| (0.0..=1.0).contains(t)) {
                return Err(invalid(
                    "a threshold is not a probability between 0 and 1".into(),
                ));
            }
        }
        let max_len = self.features.max_len;
        if !(2..=MAX_POSITIONS).contains(&max_len) {
            return Err(invalid(format!("its max length {max_len} is out of range")));
        }
        let Some(fine_tune) = &self.fine_tune else {
            return Ok(());
        };
        let layers = fine_tune.settings.layers;
        if fine_tune
            .first_layer
            .checked_add(layers)
            .is_none_or(|top| top > MAX_LAYERS)
        {
            return Err(invalid(format!(
                "it fine-tuned layers {} to {}, past any model's",
                fine_tune.first_layer,
                fine_tune.first_layer.saturating_add(layers)
            )));
        }
        let l = &fine_tune.layer_shape;
        if let Some(problem) = layer_problem(l.hidden, l.heads, l.intermediate, l.layer_norm_eps) {
            return Err(invalid(format!("its fine-tuned layers: {problem}")));
        }
        if l.activation > 2 {
            return Err(invalid(format!(
                "its fine-tuned layers name activation {}",
                l.activation
            )));
        }
        if shape.input != l.hidden {
            return Err(invalid(format!(
                "its head takes {} inputs from layers {} wide",
                shape.input, l.hidden
            )));
        }
        if (fine_tune.settings.pooling, fine_tune.settings.max_len)
            != (self.features.pooling, self.features.max_len)
        {
            return Err(invalid(
                "its feature settings differ from its fine-tuning settings".into(),
            ));
        }
        Ok(())
    }

    /// Values the file's tensors must hold at least for this metadata (the dense layers'
    /// weights and biases); `None` on overflow.
    fn parameters(&self) -> Option<usize> {
        let head = self.shape.parameters()?;
        let Some(fine_tune) = &self.fine_tune else {
            return Some(head);
        };
        let l = &fine_tune.layer_shape;
        let (h, i) = (l.hidden, l.intermediate);
        // Four h×h projections and two feed-forward matrices, with their biases.
        let dense = |a: usize, b: usize| a.checked_mul(b)?.checked_add(b);
        let layer = dense(h, h)?
            .checked_mul(4)?
            .checked_add(dense(h, i)?)?
            .checked_add(dense(i, h)?)?;
        let pooler = match fine_tune.settings.pooling {
            crate::model::Pooling::Pooler => dense(h, h)?,
            crate::model::Pooling::Mean => 0,
        };
        layer
            .checked_mul(fine_tune.settings.layers)?
            .checked_add(pooler)?
            .checked_add(head)
    }
}

/// A classifier made elsewhere and read from its model folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Imported {
    /// Its architecture as its `config.json` names it (`BertForSequenceClassification`).
    pub architecture: String,
}

/// What a fine-tuned classifier needs beyond a head's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FineTuneMeta {
    /// Every setting of the run.
    pub settings: FineTuneSettings,
    /// Index of the first fine-tuned layer in the base model; the layers below it are the base
    /// model's own.
    pub first_layer: usize,
    /// Geometry of the fine-tuned layers.
    pub layer_shape: LayerShape,
    /// Every epoch's report.
    pub history: Vec<EpochReport>,
}

/// The headline test metrics stored with a classifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestSummary {
    /// Test examples.
    pub n: usize,
    /// Accuracy (multi-label: exact match, every label of a text right).
    pub accuracy: f64,
    /// AUROC (one-vs-rest macro for N classes; multi-label: the mean over labels).
    pub auroc: Option<f64>,
    /// Macro-F1.
    pub macro_f1: f64,
    /// Multi-label: micro-F1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub micro_f1: Option<f64>,
}

impl From<&Report> for TestSummary {
    fn from(r: &Report) -> Self {
        Self {
            n: r.n,
            accuracy: r.accuracy,
            auroc: r.auroc,
            macro_f1: r.macro_f1,
            micro_f1: None,
        }
    }
}

impl From<&MultiLabelReport> for TestSummary {
    fn from(r: &MultiLabelReport) -> Self {
        Self {
            n: r.n,
            accuracy: r.subset_accuracy,
            auroc: r.auroc,
            macro_f1: r.macro_avg.f1,
            micro_f1: Some(r.micro.f1),
        }
    }
}

/// A test report: of classes, or of labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evaluation {
    /// One class per text.
    Classes(Report),
    /// Any number of labels per text, at the classifier's thresholds.
    Labels(MultiLabelReport),
}

/// One text's prediction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// Index of the most probable class (multi-label: label).
    pub label: usize,
    /// Its name.
    pub name: String,
    /// Probability of every class, in label order (binary: both, summing to 1; multi-label:
    /// each label's own).
    pub probabilities: Vec<f32>,
    /// Multi-label: the labels at or over their thresholds, in label order (possibly none);
    /// `None` for classes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<usize>>,
}

impl Prediction {
    /// What was decided, in words: the class's name, or the labels' names joined by `; `.
    pub fn verdict(&self, names: &[String]) -> String {
        match &self.labels {
            None => self.name.clone(),
            Some(labels) => labels
                .iter()
                .filter_map(|&j| names.get(j).map(String::as_str))
                .collect::<Vec<_>>()
                .join("; "),
        }
    }
}

/// `head` with its logits divided by `temperature`.
fn calibrated(mut head: Head, temperature: Option<f32>) -> Head {
    if let Some(t) = temperature.filter(|t| t.is_finite() && *t > 0.0) {
        head.scale_output(1.0 / t);
    }
    head
}

/// A text as every classifier sees it: HTML tags removed, as preprocessing removes them from
/// the texts it trains on. The one place the page, the command line and `classify` get it.
pub fn input_text(text: &str) -> String {
    strip_html(text)
}

/// A classifier ready to predict.
pub struct Classifier {
    /// Its metadata.
    pub meta: ClassifierMeta,
    head: Head,
    /// The fine-tuned top layers, which replace the base model's own.
    tuned: Option<TunedEncoder>,
}

impl Classifier {
    /// Wraps a finished training.
    pub fn new(
        trained: Trained,
        model_id: &str,
        features: FeatureSettings,
        label_names: Vec<String>,
    ) -> Self {
        let head = calibrated(trained.head, trained.best.temperature);
        Self {
            meta: ClassifierMeta {
                format: FORMAT.into(),
                model_id: model_id.into(),
                features,
                label_names,
                shape: trained.shape,
                settings: Some(trained.settings),
                fine_tune: None,
                standardizer: trained.standardizer,
                thresholds: trained.best.thresholds.clone(),
                temperature: trained.best.temperature,
                best_epoch: Some(trained.best),
                imported: None,
                test: None,
            },
            head,
            tuned: None,
        }
    }

    /// Wraps a finished fine-tuning run.
    pub fn from_fine_tuned(tuned: FineTuned, label_names: Vec<String>) -> Self {
        let TunedTop { encoder, head } = tuned.top;
        let head = calibrated(head, tuned.best.temperature);
        Self {
            meta: ClassifierMeta {
                format: FORMAT.into(),
                model_id: tuned.model_id,
                features: FeatureSettings {
                    pooling: tuned.settings.pooling,
                    max_len: tuned.settings.max_len,
                },
                label_names,
                standardizer: Standardizer::identity(tuned.head_shape.input),
                shape: tuned.head_shape,
                settings: None,
                fine_tune: Some(FineTuneMeta {
                    settings: tuned.settings,
                    first_layer: tuned.first_layer,
                    layer_shape: tuned.layer_shape,
                    history: tuned.history,
                }),
                thresholds: tuned.best.thresholds.clone(),
                temperature: tuned.best.temperature,
                best_epoch: Some(tuned.best),
                imported: None,
                test: None,
            },
            head,
            tuned: Some(encoder),
        }
    }

    /// The classifier a Hugging Face model folder carries beside its encoder
    /// (`BertForSequenceClassification`: the pooler, then `classifier.*`, with `id2label` and
    /// `problem_type` in `config.json`), on `encoder` loaded from the same folder, reading
    /// `max_len` tokens of each text; `None` when the folder has no classifier weights. Its
    /// scores are transformers' `softmax` (or `sigmoid`, multi-label) of the same logits.
    pub fn from_hugging_face(
        config: &[u8],
        weights: &[u8],
        encoder: &Encoder,
        max_len: usize,
    ) -> Result<Option<Self>> {
        let width = encoder.dim();
        let device = encoder.device();
        let Some(crate::weights::DenseWeights {
            outputs,
            weight,
            bias,
        }) = crate::weights::sequence_classifier(weights, width, device)?
        else {
            return Ok(None);
        };
        let config = crate::config::ClassifierConfig::from_json_bytes(config, outputs)?;
        if !encoder.model().has_pooler() {
            return Err(BertError::MissingTensor("pooler.dense.weight".into()));
        }
        encoder.check_max_len(max_len)?;
        // A two-label softmax is the sigmoid of the difference of its logits: one output,
        // as every binary head here has.
        let (outputs, weight, bias) = if outputs == 2 && !config.multi_label {
            let difference = weight[width..]
                .iter()
                .zip(&weight[..width])
                .map(|(positive, negative)| positive - negative)
                .collect();
            (1, difference, vec![bias[1] - bias[0]])
        } else {
            (outputs, weight, bias)
        };
        let shape = HeadShape {
            input: width,
            hidden: vec![],
            batch_norm: false,
            dropout: 0.0,
            classes: config.labels.len(),
            multi_label: config.multi_label,
        };
        // Hugging Face stores `[out, in]`; burn's `Linear` wants `[in, out]`.
        let kernel =
            Tensor::<2>::from_data(TensorData::new(weight, [outputs, width]), device).transpose();
        let output = burn::nn::Linear {
            weight: burn::module::Param::from_tensor(kernel),
            bias: Some(burn::module::Param::from_tensor(Tensor::from_data(
                TensorData::new(bias, [outputs]),
                device,
            ))),
        };
        Ok(Some(Self {
            meta: ClassifierMeta {
                format: FORMAT.into(),
                model_id: encoder.model_id().into(),
                features: FeatureSettings {
                    pooling: crate::model::Pooling::Pooler,
                    max_len,
                },
                label_names: config.labels,
                standardizer: Standardizer::identity(width),
                shape,
                settings: None,
                fine_tune: None,
                best_epoch: None,
                imported: Some(Imported {
                    architecture: config
                        .architecture
                        .unwrap_or_else(|| "BertForSequenceClassification".into()),
                }),
                test: None,
                thresholds: None,
                temperature: None,
            },
            head: Head {
                hidden: vec![],
                norm: None,
                dropout: burn::nn::DropoutConfig::new(0.0).init(),
                output,
            },
            tuned: None,
        }))
    }

    /// The head.
    pub(crate) fn head(&self) -> &Head {
        &self.head
    }

    /// The fine-tuned top layers (and pooler), which replace the base model's own.
    pub(crate) fn tuned(&self) -> Option<&TunedEncoder> {
        self.tuned.as_ref()
    }

    /// Whether encoder layers were fine-tuned (it then classifies texts, not features).
    pub fn is_fine_tuned(&self) -> bool {
        self.tuned.is_some()
    }

    /// Refuses an encoder this classifier cannot run on: another base model (see
    /// [`Classifier::check_base`]), or one whose width, layers or positions differ from what
    /// the file says (a crafted file can name the right model and still disagree with it).
    /// Everything that runs this classifier on an encoder calls it first.
    pub fn check_fits(&self, encoder: &Encoder) -> Result<()> {
        self.check_base(encoder.model_id())?;
        let config = encoder.config();
        let unfit = |why: String| {
            Err(BertError::Incompatible(format!(
                "this classifier does not fit the loaded model: {why}"
            )))
        };
        if self.meta.shape.input != encoder.dim() {
            return unfit(format!(
                "it takes vectors of {} numbers, the model gives {}",
                self.meta.shape.input,
                encoder.dim()
            ));
        }
        let max_len = self.meta.features.max_len;
        if max_len > config.max_position_embeddings {
            return unfit(format!(
                "its max length {max_len} is past the model's {} positions",
                config.max_position_embeddings
            ));
        }
        if let Some(fine_tune) = &self.meta.fine_tune {
            let layers = fine_tune.settings.layers;
            if fine_tune.first_layer.checked_add(layers) != Some(config.num_hidden_layers) {
                return unfit(format!(
                    "it replaces layers {} to {} of a model with {}",
                    fine_tune.first_layer,
                    fine_tune.first_layer.saturating_add(layers),
                    config.num_hidden_layers
                ));
            }
            if fine_tune.layer_shape != LayerShape::of(config) {
                return unfit(format!(
                    "its layers are {:?}, the model's {:?}",
                    fine_tune.layer_shape,
                    LayerShape::of(config)
                ));
            }
        }
        Ok(())
    }

    /// Refuses a base model other than the one this classifier was trained on.
    pub fn check_base(&self, model_id: &str) -> Result<()> {
        if self.meta.model_id != model_id {
            return Err(BertError::Incompatible(format!(
                "this classifier was trained on base model {}, but {} is loaded: load the model it was trained with",
                self.meta.model_id, model_id
            )));
        }
        Ok(())
    }

    /// Class probabilities for row-major features (binary: one column, P(positive)).
    pub async fn predict(&self, features: &[f32], device: &Device) -> Result<Vec<f32>> {
        if self.is_fine_tuned() {
            return Err(BertError::Incompatible(
                "this classifier fine-tuned its encoder layers: classify texts, not features"
                    .into(),
            ));
        }
        let dim = self.meta.shape.input;
        if dim == 0 || !features.len().is_multiple_of(dim) || features.is_empty() {
            return Err(BertError::EmptyBatch);
        }
        let mut x = features.to_vec();
        self.meta.standardizer.apply(&mut x);
        let rows = x.len() / dim;
        let head = self.head.clone().to_device(device);
        let logits = head.forward(Tensor::from_data(TensorData::new(x, [rows, dim]), device));
        crate::encoder::read_f32(self.meta.shape.probabilities(logits)).await
    }

    /// One [`Prediction`] per row of [`Classifier::predict`]'s output.
    pub fn predictions(&self, probs: &[f32]) -> Vec<Prediction> {
        let names = &self.meta.label_names;
        let width = self.meta.shape.outputs().max(1);
        probs
            .chunks_exact(width)
            .map(|p| {
                let probabilities = if width == 1 {
                    vec![1.0 - p[0], p[0]]
                } else {
                    p.to_vec()
                };
                let label = (0..probabilities.len())
                    .max_by(|&a, &b| probabilities[a].total_cmp(&probabilities[b]))
                    .unwrap_or(0);
                let labels = self.meta.shape.multi_label.then(|| {
                    let thresholds = self.thresholds();
                    (0..probabilities.len())
                        .filter(|&j| probabilities[j] >= thresholds[j])
                        .collect()
                });
                Prediction {
                    label,
                    name: names.get(label).cloned().unwrap_or_default(),
                    probabilities,
                    labels,
                }
            })
            .collect()
    }

    /// Classifies raw texts as in training: HTML tags stripped, features of `encoder` (which
    /// must be the base model) with this classifier's feature settings.
    pub async fn classify<S: AsRef<str>>(
        &self,
        encoder: &Encoder,
        texts: &[S],
    ) -> Result<Vec<Prediction>> {
        self.check_fits(encoder)?;
        let cleaned: Vec<String> = texts.iter().map(|t| input_text(t.as_ref())).collect();
        let probs = self.probabilities(encoder, &cleaned).await?;
        Ok(self.predictions(&probs))
    }

    /// [`Classifier::probabilities`] of many texts, `batch_size` at a time in order of token
    /// length (each batch is padded only to its longest text), returned in the given order;
    /// `progress` gets the number of texts done after each batch.
    pub async fn probabilities_all<S: AsRef<str>>(
        &self,
        encoder: &Encoder,
        texts: &[S],
        batch_size: usize,
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<f32>> {
        let texts = texts.iter().map(|t| t.as_ref().to_string()).collect();
        let mut scoring = Scoring::new(self, encoder, texts, batch_size)?;
        while !scoring.is_finished() {
            progress(scoring.step(self, encoder).await?);
        }
        scoring.into_probabilities()
    }

    /// Class probabilities of texts as given (no HTML stripping), in [`Classifier::predict`]'s
    /// layout: frozen features and the head, or the base model's lower layers, the fine-tuned
    /// layers and the head.
    pub async fn probabilities<S: AsRef<str>>(
        &self,
        encoder: &Encoder,
        texts: &[S],
    ) -> Result<Vec<f32>> {
        self.check_fits(encoder)?;
        let (pooling, max_len) = (self.meta.features.pooling, self.meta.features.max_len);
        let (Some(tuned), Some(fine_tune)) = (&self.tuned, &self.meta.fine_tune) else {
            let features = encoder.embed(texts, pooling, max_len).await?;
            return self.predict(&features, encoder.device()).await;
        };
        let device = encoder.device();
        let tokens = encoder.tokenize(texts, max_len)?;
        let (hidden, mask) = encoder
            .model()
            .lower_hidden(&tokens, fine_tune.first_layer, device);
        let pooled = tuned
            .clone()
            .to_device(device)
            .forward(hidden, mask, pooling)?;
        let logits = self.head.clone().to_device(device).forward(pooled);
        crate::encoder::read_f32(self.meta.shape.probabilities(logits)).await
    }

    /// [`Classifier::evaluate`] for either kind of targets.
    pub async fn evaluate_targets(
        &mut self,
        features: &[f32],
        targets: &Targets,
        device: &Device,
    ) -> Result<Evaluation> {
        let probs = self.predict(features, device).await?;
        self.score_targets(&probs, targets)
    }

    /// Evaluates on labelled features (e.g. the test split) and keeps the headline numbers in
    /// the metadata, so the saved file carries them.
    pub async fn evaluate(
        &mut self,
        features: &[f32],
        labels: &[usize],
        device: &Device,
    ) -> Result<Report> {
        let probs = self.predict(features, device).await?;
        self.score(&probs, labels)
    }

    /// The report of probabilities (from [`Classifier::probabilities`] or
    /// [`Classifier::predict`]) against the true labels; the headline numbers are kept in the
    /// metadata, so the saved file carries them.
    pub fn score(&mut self, probs: &[f32], labels: &[usize]) -> Result<Report> {
        let mut report = Report::new(probs, self.meta.label_names.len(), labels)
            .map_err(|e| BertError::Internal(e.to_string()))?;
        let classes = self.meta.label_names.len();
        report.calibration = Some(self.calibration(probs, &Targets::classes(labels, classes)?));
        self.meta.test = Some(TestSummary::from(&report));
        Ok(report)
    }

    /// The reliability of these probabilities (the classifier's, of labelled texts), and of
    /// the ones its head gave before its temperature.
    fn calibration(&self, probs: &[f32], targets: &Targets) -> Calibration {
        let after = Reliability::of(probs, targets);
        let t = self.meta.temperature.unwrap_or(1.0);
        let before = if t == 1.0 {
            after.clone()
        } else {
            Reliability::of(
                &crate::calibration::uncalibrated(
                    probs,
                    targets.outputs(),
                    targets.per_output(),
                    t,
                ),
                targets,
            )
        };
        Calibration {
            temperature: t,
            before,
            after,
        }
    }

    /// [`Classifier::score`] for either kind of targets: multi-label ones are scored at the
    /// classifier's thresholds.
    pub fn score_targets(&mut self, probs: &[f32], targets: &Targets) -> Result<Evaluation> {
        match targets {
            Targets::Classes { labels, .. } if !self.meta.shape.multi_label => {
                Ok(Evaluation::Classes(self.score(probs, labels)?))
            }
            Targets::Classes { .. } => Err(BertError::Incompatible(
                "this classifier gives each text any number of labels, the data one class per text: choose the label separator, or train a classifier on these classes"
                    .into(),
            )),
            Targets::Sets { flags, labels } => {
                if !self.meta.shape.multi_label || *labels != self.meta.shape.classes {
                    return Err(BertError::Incompatible(format!(
                        "this classifier has {} {}, the data {labels} labels per text",
                        self.meta.shape.classes,
                        if self.meta.shape.multi_label {
                            "labels"
                        } else {
                            "classes"
                        }
                    )));
                }
                let mut report = MultiLabelReport::new(probs, flags, *labels, &self.thresholds())
                    .map_err(|e| BertError::Internal(e.to_string()))?;
                report.calibration = Some(self.calibration(probs, targets));
                self.meta.test = Some(TestSummary::from(&report));
                Ok(Evaluation::Labels(report))
            }
        }
    }

    /// Multi-label: each label's threshold (0.5 where the file gives none).
    pub fn thresholds(&self) -> Vec<f32> {
        self.meta
            .thresholds
            .clone()
            .unwrap_or_else(|| vec![crate::multilabel::DEFAULT_THRESHOLD; self.meta.shape.classes])
    }

    /// The file: safetensors with the metadata as JSON under the `bertweb` key. Asynchronous:
    /// the page's WebGPU build keeps heads on the GPU, which a browser reads back only so.
    pub async fn to_bytes(&self) -> Result<Vec<u8>> {
        let meta = serde_json::to_string(&self.meta)
            .map_err(|e| BertError::Internal(format!("cannot write classifier metadata: {e}")))?;
        let metadata = [(META_KEY, meta)];
        match &self.tuned {
            None => safetensors_bytes(&self.head, &metadata).await,
            Some(encoder) => {
                let top = TunedTop {
                    encoder: encoder.clone(),
                    head: self.head.clone(),
                };
                safetensors_bytes(&top, &metadata).await
            }
        }
    }

    /// Reads a classifier file onto `device`. The metadata is checked against itself
    /// ([`ClassifierMeta::validate`]) and the tensors (all F32 and finite, enough of them for
    /// the shape it describes) before any module is built from it.
    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<Self> {
        let bad = |why: String| {
            BertError::NotOurFile(format!("this is not a bertweb classifier file: {why}"))
        };
        let tensors =
            safetensors::SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
        let (_, header) =
            safetensors::SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
        let json = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(META_KEY))
            .ok_or_else(|| bad("no bertweb metadata".into()))?;
        let meta: ClassifierMeta = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
        if meta.format != FORMAT {
            return Err(bad(format!("format {} (expected {FORMAT})", meta.format)));
        }
        meta.validate()?;
        let mut values = 0usize;
        for (name, view) in tensors.tensors() {
            if view.dtype() != safetensors::Dtype::F32 {
                return Err(invalid(format!(
                    "tensor `{name}` is stored as {:?}, not F32",
                    view.dtype()
                )));
            }
            let mut floats = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            if !floats.all(f32::is_finite) {
                return Err(invalid(format!(
                    "tensor `{name}` holds NaN or infinite values"
                )));
            }
            values = values.saturating_add(view.data().len() / 4);
        }
        let needed = meta.parameters();
        if needed.is_none_or(|n| n > values) {
            return Err(invalid(format!(
                "its metadata describes {} parameters, but its tensors hold {values} values",
                needed.map_or_else(|| "too many".to_string(), |n| n.to_string())
            )));
        }
        let mut store = SafetensorsStore::from_bytes(Some(bytes.to_vec()));
        let check = |applied: burn::store::ApplyResult| {
            if applied.missing.is_empty() && applied.errors.is_empty() {
                Ok(())
            } else {
                Err(bad(format!(
                    "tensors missing or misshaped: {:?} {:?}",
                    applied.missing, applied.errors
                )))
            }
        };
        let (head, tuned) = match &meta.fine_tune {
            None => {
                let init = meta.settings.as_ref().map_or(Init::Standard, |s| s.init);
                let mut head = Head::new(&meta.shape, init, device);
                check(head.load_from(&mut store).map_err(|e| bad(e.to_string()))?)?;
                (head.valid(), None)
            }
            Some(fine_tune) => {
                let mut top = TunedTop::skeleton(
                    &fine_tune.layer_shape,
                    fine_tune.settings.layers,
                    fine_tune.settings.pooling == crate::model::Pooling::Pooler,
                    &meta.shape,
                    device,
                );
                check(top.load_from(&mut store).map_err(|e| bad(e.to_string()))?)?;
                let TunedTop { encoder, head } = top.valid();
                (head, Some(encoder))
            }
        };
        Ok(Self { meta, head, tuned })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiny_encoder;
    use crate::train::{Preset, TrainSettings, Trainer};

    /// A classifier trained on separable random features of width `dim`.
    fn trained(dim: usize, model_id: &str) -> (Classifier, Vec<f32>, Vec<usize>) {
        trained_with(Preset::Linear, dim, model_id)
    }

    fn trained_with(
        preset: Preset,
        dim: usize,
        model_id: &str,
    ) -> (Classifier, Vec<f32>, Vec<usize>) {
        let mut rng = crate::data::SeededRng::new(7);
        let labels: Vec<usize> = (0..60).map(|i| i % 2).collect();
        let features: Vec<f32> = labels
            .iter()
            .flat_map(|&l| {
                let shift = if l == 1 { 2.0 } else { -2.0 };
                (0..dim)
                    .map(|_| shift + rng.next_f64() as f32 - 0.5)
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut settings = TrainSettings::preset(preset);
        // Enough steps to move well away from the random initialization.
        settings.epochs = 20;
        settings.learning_rate = 0.05;
        settings.l2 = vec![0.0];
        let device = Device::flex();
        let mut trainer = Trainer::new(&features, dim, &labels, 2, settings, &device).unwrap();
        while !trainer.is_finished() {
            pollster::block_on(trainer.step()).unwrap();
        }
        let classifier = Classifier::new(
            trainer.finish().unwrap(),
            model_id,
            FeatureSettings::default(),
            vec!["negative".into(), "positive".into()],
        );
        (classifier, features, labels)
    }

    #[test]
    fn evaluate_reports_and_keeps_the_summary() {
        let _rng = crate::test_rng();
        let (mut classifier, features, labels) = trained(4, "m");
        let report =
            pollster::block_on(classifier.evaluate(&features, &labels, &Device::flex())).unwrap();
        assert_eq!(report.n, 60);
        assert!(report.accuracy > 0.9, "{report:?}");
        assert_eq!(classifier.meta.test.as_ref().map(|t| t.n), Some(60));
        let probs = pollster::block_on(classifier.predict(&features, &Device::flex())).unwrap();
        let predictions = classifier.predictions(&probs);
        assert_eq!(predictions.len(), 60);
        for p in &predictions {
            assert_eq!(p.probabilities.len(), 2);
            assert!((p.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            assert_eq!(p.name, classifier.meta.label_names[p.label]);
        }
    }

    #[test]
    fn classify_checks_the_base_model_and_gives_one_prediction_per_text() {
        let _rng = crate::test_rng();
        let encoder = tiny_encoder();
        let (classifier, _, _) = trained(encoder.dim(), encoder.model_id());
        let texts = ["<b>good</b> food", "", "bad"];
        let out = pollster::block_on(classifier.classify(&encoder, &texts)).unwrap();
        assert_eq!(out.len(), 3);
        let (other, _, _) = trained(encoder.dim(), "another-model");
        let err = pollster::block_on(other.classify(&encoder, &texts)).unwrap_err();
        assert!(
            err.to_string()
                .contains("load the model it was trained with")
        );
    }

    #[test]
    fn the_file_reproduces_predictions_batch_norm_included() {
        let _rng = crate::test_rng();
        // The tutorial's head has a BatchNorm, whose running statistics are saved too.
        let (classifier, features, _) = trained_with(Preset::Tutorial, 6, "m");
        let bytes = pollster::block_on(classifier.to_bytes()).unwrap();
        let loaded = Classifier::from_bytes(&bytes, &Device::flex()).unwrap();
        assert_eq!(loaded.meta, classifier.meta);
        let predict = |c: &Classifier| pollster::block_on(c.predict(&features, &Device::flex()));
        assert_eq!(predict(&loaded).unwrap(), predict(&classifier).unwrap());
    }

    /// Several labels per text: a sigmoid per label, a threshold per label chosen on
    /// validation and kept in the file, every label at or over its threshold predicted, and
    /// the test report of labels.
    #[test]
    fn a_multi_label_head_learns_each_label_and_keeps_its_thresholds() {
        let _rng = crate::test_rng();
        let (dim, labels, rows) = (6, 3, 240);
        let mut rng = crate::data::SeededRng::new(11);
        let mut features = Vec::new();
        let mut sets = Vec::new();
        for _ in 0..rows {
            let x: Vec<f32> = (0..dim)
                .map(|_| 2.0 * rng.next_f64() as f32 - 1.0)
                .collect();
            // Label j when feature j is positive: any number of labels, none included.
            sets.push((0..labels).filter(|&j| x[j] > 0.0).collect::<Vec<usize>>());
            features.extend(x);
        }
        let targets = Targets::sets(&sets, labels).unwrap();
        let split = 200;
        let (train_t, test_t) = targets.split_at(split);
        let mut settings = TrainSettings::preset(Preset::Linear);
        settings.epochs = 30;
        settings.learning_rate = 0.05;
        settings.l2 = vec![0.0];
        let device = Device::flex();
        let mut trainer =
            Trainer::with_targets(&features[..split * dim], dim, train_t, settings, &device)
                .unwrap();
        while !trainer.is_finished() {
            let report = pollster::block_on(trainer.step()).unwrap();
            assert!(report.train_loss.is_finite());
            assert_eq!(report.thresholds.as_ref().map(Vec::len), Some(labels));
        }
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let mut classifier = Classifier::new(
            trainer.finish().unwrap(),
            "m",
            FeatureSettings::default(),
            names.clone(),
        );
        assert!(classifier.meta.shape.multi_label);
        assert_eq!(classifier.meta.shape.outputs(), labels);
        let thresholds = classifier.meta.thresholds.clone().expect("thresholds");
        assert!(thresholds.iter().all(|t| (0.0..=1.0).contains(t)));
        let test_x = &features[split * dim..];
        let Evaluation::Labels(report) =
            pollster::block_on(classifier.evaluate_targets(test_x, &test_t, &device)).unwrap()
        else {
            panic!("a report of labels")
        };
        assert!(report.micro.f1 > 0.9, "micro-F1 {}", report.micro.f1);
        assert!(
            report.macro_avg.f1 > 0.9,
            "macro-F1 {}",
            report.macro_avg.f1
        );
        assert_eq!(report.thresholds, thresholds);
        assert_eq!(
            classifier.meta.test.as_ref().and_then(|t| t.micro_f1),
            Some(report.micro.f1)
        );

        // Predictions: each label at or over its threshold, independently.
        let probs = pollster::block_on(classifier.predict(test_x, &device)).unwrap();
        for (p, row) in classifier
            .predictions(&probs)
            .iter()
            .zip(probs.chunks(labels))
        {
            let want: Vec<usize> = (0..labels).filter(|&j| row[j] >= thresholds[j]).collect();
            assert_eq!(p.labels.as_ref(), Some(&want));
            assert_eq!(p.probabilities, row);
            let verdict = want
                .iter()
                .map(|&j| names[j].as_str())
                .collect::<Vec<_>>()
                .join("; ");
            assert_eq!(p.verdict(&names), verdict);
        }
        // The file keeps the thresholds; one of another length is refused.
        let bytes = pollster::block_on(classifier.to_bytes()).unwrap();
        let loaded = Classifier::from_bytes(&bytes, &device).unwrap();
        assert_eq!(loaded.meta, classifier.meta);
        let mut bad = classifier.meta.clone();
        bad.thresholds = Some(vec![0.5; 2]);
        assert!(bad.validate().is_err());
        bad.thresholds = Some(vec![0.5, 1.5, 0.5]);
        assert!(bad.validate().is_err());
        // Single-label targets cannot score it.
        let classes = Targets::classes(&[0, 1, 2], 3).unwrap();
        assert!(
            classifier.score_targets(&[0.5; 9], &classes).is_err()
                || !classifier.meta.shape.multi_label
        );
    }
}
