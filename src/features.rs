//! Frozen-encoder features: texts → pooled vectors, extracted one batch per call so a caller
//! (the page's worker, the command line) can report progress and cancel between batches.
//!
//! Texts are processed in order of token length, so each batch is padded only to its own
//! longest text; results go back to the callers' order.

use serde::{Deserialize, Serialize};

use crate::encoder::{Encoder, read_f32};
use crate::error::{BertError, Result};
use crate::model::Pooling;

/// How features are computed; part of their identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureSettings {
    /// Pooling of token states.
    pub pooling: Pooling,
    /// Longest input, `[CLS]` and `[SEP]` included.
    pub max_len: usize,
}

impl Default for FeatureSettings {
    fn default() -> Self {
        Self {
            pooling: Pooling::Mean,
            max_len: crate::tokenizer::DEFAULT_MAX_LEN,
        }
    }
}

/// Pooled vectors of `rows` texts, with the model and settings that made them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Features {
    /// [`Encoder::model_id`] of the encoder that computed them.
    pub model_id: String,
    /// Settings used.
    pub settings: FeatureSettings,
    /// Vector width.
    pub dim: usize,
    /// Number of texts.
    pub rows: usize,
    /// Row-major `rows × dim`.
    #[serde(skip)]
    pub values: Vec<f32>,
}

const MAGIC: &[u8; 8] = b"BWFEAT1\n";

impl Features {
    /// The vector of text `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }

    /// Refuses to combine features of different models or settings.
    pub fn check_compatible(&self, model_id: &str, settings: &FeatureSettings) -> Result<()> {
        if self.model_id != model_id || &self.settings != settings {
            return Err(BertError::Mismatch(format!(
                "these features were computed by {} with {:?}, not by {} with {:?}: extract them again",
                self.model_id, self.settings, model_id, settings
            )));
        }
        Ok(())
    }

    /// Serializes for caching: a magic line, a JSON header, then little-endian f32 values.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = serde_json::to_vec(self).unwrap_or_default();
        let mut bytes = Vec::with_capacity(MAGIC.len() + 4 + header.len() + self.values.len() * 4);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&header);
        for v in &self.values {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        bytes
    }

    /// Reads what [`Features::to_bytes`] wrote.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = |why: &str| BertError::Mismatch(format!("not a bertweb features file: {why}"));
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or_else(|| bad("wrong magic"))?;
        let (len, rest) = rest.split_at_checked(4).ok_or_else(|| bad("truncated"))?;
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let (header, data) = rest.split_at_checked(len).ok_or_else(|| bad("truncated"))?;
        let mut features: Features =
            serde_json::from_slice(header).map_err(|e| bad(&e.to_string()))?;
        if data.len() != features.rows * features.dim * 4 {
            return Err(bad("data length does not match its header"));
        }
        features.values = data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(features)
    }
}

/// A feature extraction in progress.
pub struct Extraction {
    texts: Vec<String>,
    /// Text indices, shortest first.
    order: Vec<usize>,
    next: usize,
    batch_size: usize,
    settings: FeatureSettings,
    model_id: String,
    dim: usize,
    values: Vec<f32>,
}

impl Extraction {
    /// Plans the extraction of `texts` with `encoder`, `batch_size` texts per step.
    pub fn new(
        encoder: &Encoder,
        texts: Vec<String>,
        settings: FeatureSettings,
        batch_size: usize,
    ) -> Result<Self> {
        encoder.check_max_len(settings.max_len)?;
        if texts.is_empty() {
            return Err(BertError::EmptyBatch);
        }
        let lengths = texts
            .iter()
            .map(|t| Ok(encoder.tokenizer().encode(t, settings.max_len)?.len()))
            .collect::<Result<Vec<_>>>()?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| lengths[i]);
        let dim = encoder.dim();
        Ok(Self {
            values: vec![0.0; texts.len() * dim],
            texts,
            order,
            next: 0,
            batch_size: batch_size.max(1),
            settings,
            model_id: encoder.model_id().to_string(),
            dim,
        })
    }

    /// Texts embedded so far.
    pub fn done(&self) -> usize {
        self.next
    }

    /// All texts.
    pub fn total(&self) -> usize {
        self.texts.len()
    }

    /// Whether every text has been embedded.
    pub fn is_finished(&self) -> bool {
        self.next >= self.texts.len()
    }

    /// Embeds the next batch; returns how many texts are done.
    pub async fn step(&mut self, encoder: &Encoder) -> Result<usize> {
        if encoder.model_id() != self.model_id {
            return Err(BertError::Mismatch(
                "the model changed during extraction: start it again".into(),
            ));
        }
        let end = (self.next + self.batch_size).min(self.texts.len());
        let indices = &self.order[self.next..end];
        let batch: Vec<&str> = indices.iter().map(|&i| self.texts[i].as_str()).collect();
        let tokens = encoder.tokenize(&batch, self.settings.max_len)?;
        let pooled = read_f32(encoder.embed_batch(&tokens, self.settings.pooling)?).await?;
        for (row, &i) in pooled.chunks_exact(self.dim).zip(indices) {
            self.values[i * self.dim..(i + 1) * self.dim].copy_from_slice(row);
        }
        self.next = end;
        Ok(self.next)
    }

    /// The finished features, in the order the texts were given.
    pub fn finish(self) -> Result<Features> {
        if !self.is_finished() {
            return Err(BertError::Mismatch(format!(
                "extraction stopped after {} of {} texts",
                self.next,
                self.texts.len()
            )));
        }
        Ok(Features {
            model_id: self.model_id,
            settings: self.settings,
            dim: self.dim,
            rows: self.texts.len(),
            values: self.values,
        })
    }
}
