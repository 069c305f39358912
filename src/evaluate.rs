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
        self.step_with(classifier, encoder, 1, |_, _| async {
            Err(BertError::Internal("one part has no helpers".into()))
        })
        .await
    }

    /// Scores the next `parts` batches: the last here, each other one, `p`, by
    /// `helper(p, texts)` (the classifier's probabilities on another thread: call the JS first,
    /// await later); a batch whose helper fails is scored here. Returns the texts done so far.
    pub async fn step_with<F, Fut>(
        &mut self,
        classifier: &Classifier,
        encoder: &Encoder,
        parts: usize,
        mut helper: F,
    ) -> Result<usize>
    where
        F: FnMut(usize, Vec<String>) -> Fut,
        Fut: Future<Output = Result<Vec<f32>>>,
    {
        let mut batches = Vec::new();
        let mut start = self.next;
        while batches.len() < parts.max(1) && start < self.order.len() {
            let end = (start + self.batch_size).min(self.order.len());
            batches.push(start..end);
            start = end;
        }
        let Some((local, remote)) = batches.split_last() else {
            return Ok(self.next);
        };
        let waiting: Vec<_> = remote
            .iter()
            .enumerate()
            .map(|(i, range)| {
                (
                    range.clone(),
                    helper(i + 1, self.batch_texts(range.clone())),
                )
            })
            .collect();
        let out = self.score_here(classifier, encoder, local.clone()).await?;
        self.keep(local.clone(), &out)?;
        for (range, answer) in waiting {
            let out = match answer.await {
                Ok(out) if out.len() == range.len() * self.width => out,
                _ => self.score_here(classifier, encoder, range.clone()).await?,
            };
            self.keep(range, &out)?;
        }
        self.next = start;
        Ok(self.next)
    }

    /// The texts of the batch at `range` of the order.
    fn batch_texts(&self, range: std::ops::Range<usize>) -> Vec<String> {
        self.order[range]
            .iter()
            .map(|&i| self.texts[i].clone())
            .collect()
    }

    async fn score_here(
        &self,
        classifier: &Classifier,
        encoder: &Encoder,
        range: std::ops::Range<usize>,
    ) -> Result<Vec<f32>> {
        let texts: Vec<&str> = self.order[range]
            .iter()
            .map(|&i| self.texts[i].as_str())
            .collect();
        classifier.probabilities(encoder, &texts).await
    }

    /// Keeps the probabilities of the batch at `range` of the order.
    fn keep(&mut self, range: std::ops::Range<usize>, out: &[f32]) -> Result<()> {
        let rows = &self.order[range];
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
        Ok(())
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
