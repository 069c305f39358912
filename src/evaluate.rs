//! Scoring a classifier on texts, one batch per step, in batches of similar token length (each
//! padded only to its longest text). The one way texts are scored against their labels: the
//! page's worker reports progress between steps; the command line, `probabilities_all` and the
//! tests run the steps to the end.

use crate::classifier::{Classifier, Evaluation};
use crate::encoder::Encoder;
use crate::error::{BertError, Result};
use crate::targets::Targets;

/// A scoring in progress.
pub struct Scoring {
    texts: Vec<String>,
    /// Text indices, shortest first.
    order: Vec<usize>,
    batch_size: usize,
    /// Probabilities per text (the classifier's output width).
    width: usize,
    next: usize,
    probs: Vec<f32>,
}

impl Scoring {
    /// Plans scoring `classifier` on `texts` (as given: no HTML stripping), `batch_size` texts
    /// a step. Tokenizes to order them, nothing more.
    pub fn new(
        classifier: &Classifier,
        encoder: &Encoder,
        texts: Vec<String>,
        batch_size: usize,
    ) -> Result<Self> {
        classifier.check_fits(encoder)?;
        let max_len = classifier.meta.features.max_len;
        let lengths = texts
            .iter()
            .map(|t| Ok(encoder.encode_ids(t, max_len)?.len()))
            .collect::<Result<Vec<_>>>()?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| lengths[i]);
        let width = classifier.meta.shape.outputs();
        Ok(Scoring {
            probs: vec![0f32; texts.len() * width],
            texts,
            order,
            batch_size: batch_size.max(1),
            width,
            next: 0,
        })
    }

    /// Texts scored so far.
    pub fn done(&self) -> usize {
        self.next
    }

    /// Texts to score.
    pub fn total(&self) -> usize {
        self.texts.len()
    }

    /// Whether every text is scored.
    pub fn is_finished(&self) -> bool {
        self.next >= self.texts.len()
    }

    /// Scores the next batch; returns the texts done so far.
    pub async fn step(&mut self, classifier: &Classifier, encoder: &Encoder) -> Result<usize> {
        let end = (self.next + self.batch_size).min(self.order.len());
        let rows = &self.order[self.next..end];
        let batch: Vec<&str> = rows.iter().map(|&i| self.texts[i].as_str()).collect();
        let out = classifier.probabilities(encoder, &batch).await?;
        if out.len() != rows.len() * self.width {
            return Err(BertError::Internal(format!(
                "a batch of {} texts gave {} probabilities, expected {} each",
                rows.len(),
                out.len(),
                self.width
            )));
        }
        for (row, &i) in out.chunks_exact(self.width).zip(rows) {
            self.probs[i * self.width..(i + 1) * self.width].copy_from_slice(row);
        }
        self.next = end;
        Ok(self.next)
    }

    /// The probabilities, in the order the texts were given.
    pub fn into_probabilities(self) -> Result<Vec<f32>> {
        if !self.is_finished() {
            return Err(BertError::Internal(format!(
                "scoring stopped after {} of {} texts",
                self.next,
                self.texts.len()
            )));
        }
        Ok(self.probs)
    }

    /// The report against `targets` (one row per text, in order); `classifier` keeps its
    /// headline numbers, so its saved file carries them.
    pub fn report(self, classifier: &mut Classifier, targets: &Targets) -> Result<Evaluation> {
        let probs = self.into_probabilities()?;
        classifier.score_targets(&probs, targets)
    }
}
