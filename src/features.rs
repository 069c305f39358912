//! Frozen-encoder features: texts → pooled vectors, extracted one batch per call so a caller
//! (the page's worker, the command line) can report progress and cancel between batches.
//!
//! Texts are processed in order of token length, longest first, so each batch is padded only
//! to its own longest text, and the batches that end an extraction, when some threads may
//! already be idle, are the shortest; results go back to the callers' order.

use serde::{Deserialize, Serialize};

use crate::encoder::Encoder;
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
            return Err(BertError::Incompatible(format!(
                "these features were computed by {} with {:?}, not by {} with {:?}: extract them again",
                self.model_id, self.settings, model_id, settings
            )));
        }
        Ok(())
    }

    /// Serializes for caching: a magic line, a JSON header, then little-endian f32 values.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.write(MAGIC, &[])
    }

    /// `magic`, the JSON header, the values, then `tail`.
    fn write(&self, magic: &[u8; 8], tail: &[u8]) -> Vec<u8> {
        let header = serde_json::to_vec(self).unwrap_or_default();
        let mut bytes =
            Vec::with_capacity(magic.len() + 4 + header.len() + self.values.len() * 4 + tail.len());
        bytes.extend_from_slice(magic);
        bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&header);
        for v in &self.values {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        bytes.extend_from_slice(tail);
        bytes
    }

    /// Reads what [`Features::to_bytes`] wrote, checked before anything is allocated from
    /// it: sizes in range, the data exactly `rows × dim` values, every value finite.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (mut features, data, _) = Self::read(bytes, MAGIC, |_| 0)?;
        features.values = decode(data);
        if let Some(i) = features.values.iter().position(|v| !v.is_finite()) {
            return Err(damaged(format!(
                "row {} holds a NaN or infinite value",
                i / features.dim
            )));
        }
        Ok(features)
    }

    /// Reads [`Features::write`]'s layout with a tail of `tail_len(rows)` bytes: the header
    /// (values not read yet), the values' bytes and the tail, all sizes checked.
    fn read<'a>(
        bytes: &'a [u8],
        magic: &[u8; 8],
        tail_len: impl Fn(usize) -> usize,
    ) -> Result<(Self, &'a [u8], &'a [u8])> {
        let bad = |why: &str| BertError::NotOurFile(format!("not a bertweb features file: {why}"));
        let rest = bytes
            .strip_prefix(magic)
            .ok_or_else(|| bad("wrong magic"))?;
        let (len, rest) = rest.split_at_checked(4).ok_or_else(|| bad("truncated"))?;
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let (header, data) = rest.split_at_checked(len).ok_or_else(|| bad("truncated"))?;
        let features: Features = serde_json::from_slice(header).map_err(|e| bad(&e.to_string()))?;
        let dim = features.dim;
        if !(1..=crate::head::MAX_WIDTH).contains(&dim) {
            return Err(damaged(format!(
                "its vectors are {dim} wide, not between 1 and {}",
                crate::head::MAX_WIDTH
            )));
        }
        if features.rows == 0 {
            return Err(damaged("it holds no rows".into()));
        }
        let max_len = features.settings.max_len;
        if !(2..=crate::weights::MAX_POSITIONS).contains(&max_len) {
            return Err(damaged(format!("its max length {max_len} is out of range")));
        }
        let values = features
            .rows
            .checked_mul(dim)
            .and_then(|n| n.checked_mul(4));
        let tail = tail_len(features.rows);
        if values.and_then(|n| n.checked_add(tail)) != Some(data.len()) {
            return Err(bad("data length does not match its header"));
        }
        let (values, tail) = data.split_at(data.len() - tail);
        Ok((features, values, tail))
    }
}

fn damaged(why: String) -> BertError {
    BertError::InvalidFile(format!(
        "this features file is damaged: {why}; extract the features again"
    ))
}

/// Little-endian f32s.
fn decode(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Checkpoints of an extraction: [`Features::to_bytes`]'s layout (rows not done yet are
/// zeros), then one bit per row, set for rows done.
const CHECKPOINT_MAGIC: &[u8; 8] = b"BWPART1\n";

/// A feature extraction in progress.
///
/// The texts are cut into batches (in length order, longest first) that can be computed anywhere: [`step`]
/// embeds the next one with a local encoder, while [`claim`], [`batch_texts`] and [`fill`] let
/// a caller hand batches to other encoders (the page's helper workers, each its own wasm
/// instance on its own core) and put their vectors back. Every path embeds a batch the same
/// way ([`Encoder::embed`]: padded to the batch's longest text), so the result does not
/// depend on who computed which batch.
///
/// [`step`]: Extraction::step
/// [`claim`]: Extraction::claim
/// [`batch_texts`]: Extraction::batch_texts
/// [`fill`]: Extraction::fill
pub struct Extraction {
    texts: Vec<String>,
    /// Text indices, longest first.
    order: Vec<usize>,
    batch_size: usize,
    /// The next batch never handed out.
    next_batch: usize,
    /// Batches handed out and given back unfilled (a helper failed): handed out again first.
    returned: Vec<usize>,
    filled: Vec<bool>,
    done: usize,
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
        // Longest first: with several threads, the last batch keeps one thread busy while the
        // others have nothing left, so it should be the cheapest (measured with BERT-base on
        // 2 threads: docs/PERFORMANCE.md).
        order.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
        let dim = encoder.dim();
        let batch_size = batch_size.max(1);
        Ok(Self {
            values: vec![0.0; texts.len() * dim],
            filled: vec![false; texts.len().div_ceil(batch_size)],
            texts,
            order,
            batch_size,
            next_batch: 0,
            returned: Vec::new(),
            done: 0,
            settings,
            model_id: encoder.model_id().to_string(),
            dim,
        })
    }

    /// Texts embedded so far.
    pub fn done(&self) -> usize {
        self.done
    }

    /// All texts.
    pub fn total(&self) -> usize {
        self.texts.len()
    }

    /// Number of batches.
    pub fn batches(&self) -> usize {
        self.filled.len()
    }

    /// The settings every batch must be embedded with.
    pub fn settings(&self) -> FeatureSettings {
        self.settings
    }

    /// Whether every text has been embedded.
    pub fn is_finished(&self) -> bool {
        self.done >= self.texts.len()
    }

    /// Hands out a batch nobody is working on, or `None` when all are handed out.
    pub fn claim(&mut self) -> Option<usize> {
        if let Some(batch) = self.returned.pop() {
            return Some(batch);
        }
        // Batches a checkpoint filled (`resume`) are never handed out.
        while self.next_batch < self.batches() && self.filled[self.next_batch] {
            self.next_batch += 1;
        }
        let batch = self.next_batch;
        (batch < self.batches()).then(|| {
            self.next_batch += 1;
            batch
        })
    }

    /// Gives back a claimed batch that was not computed, so another caller claims it.
    pub fn release(&mut self, batch: usize) {
        if batch < self.next_batch && !self.filled[batch] && !self.returned.contains(&batch) {
            self.returned.push(batch);
        }
    }

    fn batch_indices(&self, batch: usize) -> Result<&[usize]> {
        let start = batch * self.batch_size;
        if batch >= self.batches() {
            return Err(BertError::Internal(format!(
                "no batch {batch}: this extraction has {}",
                self.batches()
            )));
        }
        Ok(&self.order[start..(start + self.batch_size).min(self.texts.len())])
    }

    /// The texts of `batch`, in the order its vectors are expected.
    pub fn batch_texts(&self, batch: usize) -> Result<Vec<&str>> {
        Ok(self
            .batch_indices(batch)?
            .iter()
            .map(|&i| self.texts[i].as_str())
            .collect())
    }

    /// Stores the vectors of `batch` (row-major, `batch_texts(batch)` order) computed by an
    /// encoder of `model_id`; returns how many texts are done.
    pub fn fill(&mut self, batch: usize, model_id: &str, vectors: &[f32]) -> Result<usize> {
        if model_id != self.model_id {
            return Err(BertError::Incompatible(format!(
                "batch {batch} was embedded by {model_id}, this extraction uses {}: start it again",
                self.model_id
            )));
        }
        let dim = self.dim;
        let rows = self.batch_indices(batch)?.len();
        if vectors.len() != rows * dim {
            return Err(BertError::Internal(format!(
                "batch {batch} needs {rows} vectors of {dim}, got {} numbers",
                vectors.len()
            )));
        }
        if self.filled[batch] {
            return Ok(self.done);
        }
        let start = batch * self.batch_size;
        for (row, &i) in vectors
            .chunks_exact(dim)
            .zip(&self.order[start..start + rows])
        {
            self.values[i * dim..(i + 1) * dim].copy_from_slice(row);
        }
        self.done += rows;
        self.filled[batch] = true;
        Ok(self.done)
    }

    /// What is done so far, to keep beside the page (IndexedDB) while it runs: after a crash
    /// or a closed tab, [`Extraction::resume`] takes it back and only the rest is computed.
    pub fn checkpoint(&self) -> Vec<u8> {
        let mut done_rows = vec![0u8; self.texts.len().div_ceil(8)];
        for batch in (0..self.batches()).filter(|&b| self.filled[b]) {
            let start = batch * self.batch_size;
            let end = (start + self.batch_size).min(self.texts.len());
            for &row in &self.order[start..end] {
                done_rows[row / 8] |= 1 << (row % 8);
            }
        }
        let partial = Features {
            model_id: self.model_id.clone(),
            settings: self.settings,
            dim: self.dim,
            rows: self.texts.len(),
            values: self.values.clone(),
        };
        partial.write(CHECKPOINT_MAGIC, &done_rows)
    }

    /// Takes the rows a [`Extraction::checkpoint`] of the same texts (same model, settings and
    /// count) holds; batches whose rows are all there are not computed again. Returns the
    /// texts done. Refused, with nothing changed, when the checkpoint is of something else.
    pub fn resume(&mut self, bytes: &[u8]) -> Result<usize> {
        let (saved, values, done_rows) =
            Features::read(bytes, CHECKPOINT_MAGIC, |rows| rows.div_ceil(8))?;
        saved.check_compatible(&self.model_id, &self.settings)?;
        if saved.rows != self.texts.len() || saved.dim != self.dim {
            return Err(BertError::Incompatible(format!(
                "this checkpoint holds {} texts of {} numbers, the extraction {} of {}",
                saved.rows,
                saved.dim,
                self.texts.len(),
                self.dim
            )));
        }
        let values = decode(values);
        let dim = self.dim;
        let is_done = |row: usize| done_rows[row / 8] & (1 << (row % 8)) != 0;
        if let Some(row) = (0..saved.rows).find(|&row| {
            is_done(row)
                && values[row * dim..(row + 1) * dim]
                    .iter()
                    .any(|v| !v.is_finite())
        }) {
            return Err(damaged(format!("row {row} holds a NaN or infinite value")));
        }
        for batch in 0..self.batches() {
            let start = batch * self.batch_size;
            let rows = &self.order[start..(start + self.batch_size).min(self.texts.len())];
            if self.filled[batch] || !rows.iter().all(|&row| is_done(row)) {
                continue;
            }
            for &row in rows {
                self.values[row * dim..(row + 1) * dim]
                    .copy_from_slice(&values[row * dim..(row + 1) * dim]);
            }
            self.filled[batch] = true;
            self.done += rows.len();
        }
        self.returned.retain(|&b| !self.filled[b]);
        Ok(self.done)
    }

    /// Embeds the next unclaimed batch with `encoder`; returns how many texts are done.
    pub async fn step(&mut self, encoder: &Encoder) -> Result<usize> {
        let Some(batch) = self.claim() else {
            return Ok(self.done);
        };
        let texts = self.batch_texts(batch)?;
        let embedded = encoder
            .embed(&texts, self.settings.pooling, self.settings.max_len)
            .await;
        match embedded {
            Ok(vectors) => self.fill(batch, encoder.model_id(), &vectors),
            Err(err) => {
                self.release(batch);
                Err(err)
            }
        }
    }

    /// The finished features, in the order the texts were given.
    pub fn finish(self) -> Result<Features> {
        if !self.is_finished() {
            return Err(BertError::Internal(format!(
                "extraction stopped after {} of {} texts",
                self.done,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiny_encoder;

    fn texts() -> Vec<String> {
        [
            "good coffee",
            "bad",
            "great tea and chips",
            "no",
            "love chocolate milk",
            "worst",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect()
    }

    fn sequential(encoder: &Encoder) -> Features {
        let mut extraction =
            Extraction::new(encoder, texts(), FeatureSettings::default(), 2).unwrap();
        while !extraction.is_finished() {
            pollster::block_on(extraction.step(encoder)).unwrap();
        }
        extraction.finish().unwrap()
    }

    /// Batches computed out of order, one handed back and claimed again, as the page's worker
    /// pool does: the features equal a plain run's.
    #[test]
    fn batches_computed_in_any_order_give_the_same_features() {
        let encoder = tiny_encoder();
        let expected = sequential(&encoder);
        let settings = FeatureSettings::default();
        let mut extraction = Extraction::new(&encoder, texts(), settings, 2).unwrap();
        assert_eq!(extraction.batches(), 3);
        let (a, b) = (extraction.claim().unwrap(), extraction.claim().unwrap());
        extraction.release(a);
        let embed = |extraction: &Extraction, batch| {
            let texts = extraction.batch_texts(batch).unwrap();
            pollster::block_on(encoder.embed(&texts, settings.pooling, settings.max_len)).unwrap()
        };
        let vectors = embed(&extraction, b);
        assert_eq!(extraction.fill(b, encoder.model_id(), &vectors).unwrap(), 2);
        assert_eq!(
            extraction.claim(),
            Some(a),
            "a released batch is handed out again"
        );
        let c = extraction.claim().unwrap();
        assert_eq!(extraction.claim(), None);
        for batch in [c, a] {
            let vectors = embed(&extraction, batch);
            extraction
                .fill(batch, encoder.model_id(), &vectors)
                .unwrap();
        }
        assert!(extraction.is_finished());
        assert_eq!(extraction.finish().unwrap(), expected);
    }

    /// A checkpoint taken part way, resumed in a new extraction of the same texts: only the
    /// batches it lacks are computed, and the features equal an uninterrupted run's.
    #[test]
    fn a_resumed_checkpoint_gives_the_same_features() {
        let encoder = tiny_encoder();
        let expected = sequential(&encoder);
        let settings = FeatureSettings::default();
        let mut first = Extraction::new(&encoder, texts(), settings, 2).unwrap();
        pollster::block_on(first.step(&encoder)).unwrap();
        let held = first.claim().unwrap();
        pollster::block_on(first.step(&encoder)).unwrap();
        assert_eq!(first.done(), 4);
        let checkpoint = first.checkpoint();

        let mut second = Extraction::new(&encoder, texts(), settings, 2).unwrap();
        assert_eq!(second.resume(&checkpoint).unwrap(), 4);
        assert_eq!(
            second.claim(),
            Some(held),
            "only the missing batch is handed out"
        );
        assert_eq!(second.claim(), None);
        second.release(held);
        while !second.is_finished() {
            pollster::block_on(second.step(&encoder)).unwrap();
        }
        assert_eq!(second.finish().unwrap(), expected);

        // Another batch size: whole batches of the checkpoint's rows are taken, the rest
        // computed again.
        let mut other = Extraction::new(&encoder, texts(), settings, 3).unwrap();
        let resumed = other.resume(&checkpoint).unwrap();
        assert!(resumed <= 4, "{resumed}");
        while !other.is_finished() {
            pollster::block_on(other.step(&encoder)).unwrap();
        }
        assert_eq!(other.finish().unwrap(), expected);
    }

    #[test]
    fn a_checkpoint_of_something_else_is_refused() {
        let encoder = tiny_encoder();
        let settings = FeatureSettings::default();
        let mut first = Extraction::new(&encoder, texts(), settings, 2).unwrap();
        pollster::block_on(first.step(&encoder)).unwrap();
        let checkpoint = first.checkpoint();
        let fewer: Vec<String> = texts().into_iter().take(5).collect();
        let mut other = Extraction::new(&encoder, fewer, settings, 2).unwrap();
        let err = other.resume(&checkpoint).unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::Classifier, "{err}");
        let longer = FeatureSettings {
            max_len: 20,
            ..settings
        };
        let mut other = Extraction::new(&encoder, texts(), longer, 2).unwrap();
        assert!(other.resume(&checkpoint).is_err());
        assert!(other.resume(&checkpoint[..checkpoint.len() - 1]).is_err());
        assert!(other.resume(&first.checkpoint()[..20]).is_err());
        assert_eq!(other.done(), 0);
        // A NaN in a row marked done: refused.
        let dim = encoder.dim();
        let done_text = first.batch_texts(0).unwrap()[0].to_string();
        let row = texts().iter().position(|t| *t == done_text).unwrap();
        let at = checkpoint.len() - 1 - texts().len() * dim * 4 + row * dim * 4;
        let mut nan = checkpoint.clone();
        nan[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        let mut same = Extraction::new(&encoder, texts(), settings, 2).unwrap();
        assert!(same.resume(&nan).is_err());
        assert_eq!(same.done(), 0);
        assert_eq!(same.resume(&checkpoint).unwrap(), 2);
    }

    #[test]
    fn batches_go_out_longest_first() {
        let encoder = tiny_encoder();
        let settings = FeatureSettings::default();
        let mut extraction = Extraction::new(&encoder, texts(), settings, 2).unwrap();
        let mut longest = Vec::new();
        while let Some(batch) = extraction.claim() {
            let texts = extraction.batch_texts(batch).unwrap();
            let lengths = texts.iter().map(|t| {
                encoder
                    .tokenizer()
                    .encode(t, settings.max_len)
                    .unwrap()
                    .len()
            });
            longest.push(lengths.max().unwrap());
        }
        assert_eq!(longest.len(), 3);
        assert!(longest.windows(2).all(|w| w[0] >= w[1]), "{longest:?}");
        assert!(longest[0] > longest[2], "{longest:?}");
    }

    #[test]
    fn fill_refuses_another_model_or_a_wrong_length() {
        let encoder = tiny_encoder();
        let mut extraction =
            Extraction::new(&encoder, texts(), FeatureSettings::default(), 4).unwrap();
        let batch = extraction.claim().unwrap();
        let dim = encoder.dim();
        let err = extraction.fill(batch, "bert-other", &vec![0.0; 4 * dim]);
        assert!(err.unwrap_err().to_string().contains("start it again"));
        let err = extraction.fill(batch, encoder.model_id(), &vec![0.0; 3 * dim]);
        assert!(err.unwrap_err().to_string().contains("needs 4 vectors"));
        assert!(extraction.fill(9, encoder.model_id(), &[]).is_err());
        assert_eq!(extraction.done(), 0);
        let err = extraction.finish().unwrap_err();
        assert!(err.to_string().contains("after 0 of 6"));
    }
}
