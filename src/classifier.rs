//! A trained classifier as one file: the head's tensors (safetensors) with everything needed to
//! use it again in its metadata — base model identity, feature settings, label names, shape,
//! training settings, standardization and metrics.

use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use serde::{Deserialize, Serialize};

use crate::error::{BertError, Result};
use crate::features::FeatureSettings;
use crate::head::{Head, HeadShape};
use crate::metrics::Report;
use crate::train::{EpochReport, Standardizer, TrainSettings, Trained};

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
    /// Training settings.
    pub settings: TrainSettings,
    /// Input standardization.
    pub standardizer: Standardizer,
    /// The kept epoch.
    pub best_epoch: EpochReport,
    /// Test-split metrics, when evaluated.
    pub test: Option<TestSummary>,
}

/// The headline test metrics stored with a classifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestSummary {
    /// Test examples.
    pub n: usize,
    /// Accuracy.
    pub accuracy: f64,
    /// AUROC (one-vs-rest macro for N classes).
    pub auroc: Option<f64>,
    /// Macro-F1.
    pub macro_f1: f64,
}

impl From<&Report> for TestSummary {
    fn from(r: &Report) -> Self {
        Self {
            n: r.n,
            accuracy: r.accuracy,
            auroc: r.auroc,
            macro_f1: r.macro_f1,
        }
    }
}

/// A classifier ready to predict from features.
pub struct Classifier {
    /// Its metadata.
    pub meta: ClassifierMeta,
    head: Head,
}

impl Classifier {
    /// Wraps a finished training.
    pub fn new(
        trained: Trained,
        model_id: &str,
        features: FeatureSettings,
        label_names: Vec<String>,
    ) -> Self {
        Self {
            meta: ClassifierMeta {
                format: FORMAT.into(),
                model_id: model_id.into(),
                features,
                label_names,
                shape: trained.shape,
                settings: trained.settings,
                standardizer: trained.standardizer,
                best_epoch: trained.best,
                test: None,
            },
            head: trained.head,
        }
    }

    /// Refuses a base model other than the one this classifier was trained on.
    pub fn check_base(&self, model_id: &str) -> Result<()> {
        if self.meta.model_id != model_id {
            return Err(BertError::Mismatch(format!(
                "this classifier was trained on base model {}, but {} is loaded: load the model it was trained with",
                self.meta.model_id, model_id
            )));
        }
        Ok(())
    }

    /// Class probabilities for row-major features (binary: one column, P(positive)).
    pub async fn predict(&self, features: &[f32], device: &Device) -> Result<Vec<f32>> {
        let dim = self.meta.shape.input;
        if dim == 0 || !features.len().is_multiple_of(dim) || features.is_empty() {
            return Err(BertError::EmptyBatch);
        }
        let mut x = features.to_vec();
        self.meta.standardizer.apply(&mut x);
        let rows = x.len() / dim;
        let head = self.head.clone().to_device(device);
        let logits = head.forward(Tensor::from_data(TensorData::new(x, [rows, dim]), device));
        crate::encoder::read_f32(crate::train::probabilities(logits, self.meta.shape.classes)).await
    }

    /// The file: safetensors with the metadata as JSON under the `bertweb` key.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let meta = serde_json::to_string(&self.meta)
            .map_err(|e| BertError::Mismatch(format!("cannot write classifier metadata: {e}")))?;
        let mut store = SafetensorsStore::from_bytes(None).metadata(META_KEY, meta);
        self.head
            .save_into(&mut store)
            .map_err(|e| BertError::Mismatch(format!("cannot write classifier: {e}")))?;
        store
            .get_bytes()
            .map_err(|e| BertError::Mismatch(format!("cannot write classifier: {e}")))
    }

    /// Reads a classifier file onto `device`.
    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<Self> {
        let bad = |why: String| {
            BertError::Mismatch(format!("this is not a bertweb classifier file: {why}"))
        };
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
        let mut head = Head::new(&meta.shape, meta.settings.init, device);
        let mut store = SafetensorsStore::from_bytes(Some(bytes.to_vec()));
        let applied = head.load_from(&mut store).map_err(|e| bad(e.to_string()))?;
        if !applied.missing.is_empty() || !applied.errors.is_empty() {
            return Err(bad(format!(
                "tensors missing or misshaped: {:?} {:?}",
                applied.missing, applied.errors
            )));
        }
        Ok(Self {
            meta,
            head: head.valid(),
        })
    }
}
