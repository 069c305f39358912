//! Why a classifier decided: each word's contribution to a class's log-odds, by integrated
//! gradients (Sundararajan, Taly and Yan, 2017) over the word embeddings.
//!
//! Log-odds (`ln(p / (1 − p))`, from the calibrated logits), not the probability: a probability
//! near 0 or 1 has almost no gradient, so a confident prediction would show every word at 0;
//! the log-odds keeps saying which words pushed it there, and is monotone in the probability.
//!
//! The path runs from a baseline to the text: in the baseline every word piece is `[PAD]`'s
//! embedding, while `[CLS]` and `[SEP]` stay, so the contributions belong to the words alone.
//! The integral along the path is Gauss–Legendre quadrature: every node goes through the model
//! in one batch with one backward pass. The contributions then sum to the log-odds' change
//! from the baseline to the text, up to the quadrature's error, which is reported beside them.
//! Heads, fine-tuned classifiers and imported ones all run here, with their calibration.

use burn::module::Module;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::classifier::{Classifier, input_text};
use crate::encoder::{Encoder, read_f32};
use crate::error::{BertError, Result};
use crate::model::BertModel;
use crate::tokenizer::{Piece, WordOf, WordPieces};
use crate::train::Standardizer;

/// Quadrature nodes when none are asked for: the contributions of 20 already agree with a
/// 2,000-step Riemann sum to far below what a display shows (`make_fixtures.py` checks it).
pub const DEFAULT_STEPS: usize = 20;
/// Most nodes one explanation may use: each is one more text through the model.
pub const MAX_STEPS: usize = 160;
/// The contributions' largest miss of the log-odds' change before the nodes double (see
/// [`attribute`]), as a fraction of the larger of that change and the contributions' total
/// size: a text whose words push hard both ways yet barely move the log-odds would otherwise
/// ask for an accuracy far below what its display shows.
const REFINE_ABOVE: f32 = 0.05;
/// Nodes per forward and backward pass.
const CHUNK: usize = 20;

/// One word (as the tokenizer's pre-tokenizer splits the text) and its contribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WordAttribution {
    /// The word as it appears in the text.
    pub text: String,
    /// The sum of its pieces' contributions to the explained class's log-odds.
    pub value: f32,
}

/// A stretch of the text: a word, or what lies between words (spaces; a part past the
/// classifier's length, which it never read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// The stretch of the text.
    pub text: String,
    /// The index in [`Attribution::words`] of the word it is, if it is one.
    pub word: Option<usize>,
}

/// One word piece the model read and its contribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenAttribution {
    /// The piece as the vocabulary spells it (`##ing`).
    pub piece: String,
    /// The index in [`Attribution::words`] of the word it belongs to.
    pub word: usize,
    /// Its contribution.
    pub value: f32,
}

/// Why a classifier gave a text the probability it gave one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    /// The class (or label) explained: the predicted one unless another was asked for.
    pub label: usize,
    /// Its name.
    pub name: String,
    /// Its probability for the text (calibrated, as the classifier reports it).
    pub probability: f32,
    /// Its probability for the baseline: the same length of text, every word `[PAD]`.
    pub baseline_probability: f32,
    /// Its log-odds for the text, `ln(p / (1 − p))`, computed from the logits.
    pub log_odds: f32,
    /// Its log-odds for the baseline.
    pub baseline_log_odds: f32,
    /// The words the classifier read, in the order of the text.
    pub words: Vec<WordAttribution>,
    /// The whole text, in order: each word, and the stretches between them.
    pub spans: Vec<Span>,
    /// The word pieces, in order (without `[CLS]` and `[SEP]`, whose contribution is 0).
    pub tokens: Vec<TokenAttribution>,
    /// Quadrature nodes used.
    pub steps: usize,
    /// Whether the text was longer than the classifier reads: the rest had no say.
    pub truncated: bool,
    /// The contributions' sum minus `log_odds − baseline_log_odds`: the integration's error,
    /// which is 0 for an exact integral.
    pub gap: f32,
}

/// Explains `classifier`'s log-odds of class `target` (the predicted class when `None`)
/// for `text`, read as the classifier reads texts (HTML stripped, its `max_len`), with
/// `steps` quadrature nodes or more (see [`REFINE_ABOVE`]). `encoder` must be the
/// classifier's base model.
pub async fn attribute(
    classifier: &Classifier,
    encoder: &Encoder,
    text: &str,
    target: Option<usize>,
    steps: usize,
) -> Result<Attribution> {
    attribute_with(
        classifier,
        encoder,
        text,
        target,
        steps,
        1,
        |_, _, _| async { Err(BertError::Internal("one part has no helpers".into())) },
    )
    .await
}

/// [`attribute`] with the quadrature nodes dealt into `parts` (node `i` to part `i % parts`):
/// part 0 here, and each other part `p` by `helper(label, steps, p)`, which another thread
/// computes with [`attribute_part`] while this one computes its own (the page's helper
/// workers: call the JS first, await later). A part whose helper fails is computed here.
pub async fn attribute_with<F, Fut>(
    classifier: &Classifier,
    encoder: &Encoder,
    text: &str,
    target: Option<usize>,
    steps: usize,
    parts: usize,
    mut helper: F,
) -> Result<Attribution>
where
    F: FnMut(usize, usize, usize) -> Fut,
    Fut: Future<Output = Result<Vec<f32>>>,
{
    classifier.check_fits(encoder)?;
    check_steps(steps)?;
    let parts = parts.max(1);
    let text = input_text(text);
    let pieces = encoder.encode_words(&text, classifier.meta.features.max_len)?;
    let model = encoder.model();

    // The text and its baseline, once through the model without gradients: the probabilities
    // at both ends of the path and the class to explain.
    let ends = ends(encoder, &pieces);
    let end_logits = logits(classifier, model, ends.clone())?;
    let shape = &classifier.meta.shape;
    let at_ends = classifier.predictions(&read_f32(shape.probabilities(end_logits.clone())).await?);
    let (Some(text_end), Some(baseline_end)) = (at_ends.first(), at_ends.get(1)) else {
        return Err(BertError::Internal("no probabilities for the text".into()));
    };
    let classes = text_end.probabilities.len();
    let label = target.unwrap_or(text_end.label);
    if label >= classes {
        return Err(BertError::Settings(format!(
            "class {label} to explain; this classifier has {classes} (0 to {})",
            classes - 1
        )));
    }

    let end_log_odds = read_f32(log_odds(end_logits, label, shape.multi_label)).await?;
    let (Some(&text_log_odds), Some(&baseline_log_odds)) =
        (end_log_odds.first(), end_log_odds.get(1))
    else {
        return Err(BertError::Internal("no log-odds for the text".into()));
    };

    let path = Path::new(ends, label, shape.multi_label);
    // A head with ReLU layers has a gradient that jumps wherever a unit switches along the
    // path, which no quadrature integrates fast: where the contributions miss the change in
    // log-odds by more than REFINE_ABOVE of its scale, the nodes double, up to MAX_STEPS.
    let change = text_log_odds - baseline_log_odds;
    let mut steps = steps;
    let (values, gap) = loop {
        let rule = gauss_legendre(steps);
        let waiting: Vec<(usize, Fut)> = (1..parts).map(|p| (p, helper(label, steps, p))).collect();
        let mut values = path
            .integrate(classifier, model, &dealt(&rule, 0, parts))
            .await?;
        for (part, answer) in waiting {
            let theirs = match answer.await {
                Ok(theirs) if theirs.len() == values.len() => theirs,
                _ => {
                    path.integrate(classifier, model, &dealt(&rule, part, parts))
                        .await?
                }
            };
            values.iter_mut().zip(theirs).for_each(|(v, t)| *v += t);
        }
        let gap = values.iter().sum::<f32>() - change;
        let scale = change.abs().max(values.iter().map(|v| v.abs()).sum());
        if gap.abs() <= REFINE_ABOVE * scale || steps * 2 > MAX_STEPS {
            break (values, gap);
        }
        steps *= 2;
    };

    let probability = text_end.probabilities[label];
    let baseline_probability = baseline_end.probabilities[label];
    let (words, spans, tokens) = by_word(&text, &pieces, &values);
    Ok(Attribution {
        label,
        name: classifier
            .meta
            .label_names
            .get(label)
            .cloned()
            .unwrap_or_default(),
        probability,
        baseline_probability,
        log_odds: text_log_odds,
        baseline_log_odds,
        words,
        spans,
        tokens,
        steps,
        truncated: pieces.truncated,
        gap,
    })
}

/// One part of [`attribute_with`]'s integral, for another thread: each token's integrated
/// gradient over the nodes `i` of the `steps`-node rule with `i % parts == part`, for class
/// `label` (which the caller chose). Sums of all parts are [`Attribution::tokens`]' values,
/// with `[CLS]` first and `[SEP]` last.
pub async fn attribute_part(
    classifier: &Classifier,
    encoder: &Encoder,
    text: &str,
    label: usize,
    steps: usize,
    (part, parts): (usize, usize),
) -> Result<Vec<f32>> {
    classifier.check_fits(encoder)?;
    check_steps(steps)?;
    let outputs = classifier.meta.shape.outputs();
    if label >= outputs.max(2) || part >= parts {
        return Err(BertError::Settings(format!(
            "part {part} of {parts} for class {label}: there are {} classes",
            outputs.max(2)
        )));
    }
    let text = input_text(text);
    let pieces = encoder.encode_words(&text, classifier.meta.features.max_len)?;
    let path = Path::new(
        ends(encoder, &pieces),
        label,
        classifier.meta.shape.multi_label,
    );
    let nodes = dealt(&gauss_legendre(steps), part, parts);
    path.integrate(classifier, encoder.model(), &nodes).await
}

fn check_steps(steps: usize) -> Result<()> {
    if !(2..=MAX_STEPS).contains(&steps) {
        return Err(BertError::Settings(format!(
            "{steps} integration steps; choose between 2 and {MAX_STEPS} ({DEFAULT_STEPS} is \
             the default)"
        )));
    }
    Ok(())
}

/// The word embeddings `[2, seq, hidden]` of the text (first) and of its baseline: `[CLS]`,
/// `[PAD]` for every piece, `[SEP]`.
fn ends(encoder: &Encoder, pieces: &WordPieces) -> Tensor<3> {
    let seq = pieces.ids.len();
    let pad = i64::from(encoder.tokenizer().pad_id());
    let text_ids = pieces.ids.iter().map(|&id| i64::from(id));
    let baseline_ids = text_ids
        .clone()
        .enumerate()
        .map(|(i, id)| if i == 0 || i + 1 == seq { id } else { pad });
    let ids: Vec<i64> = text_ids.chain(baseline_ids).collect();
    encoder.model().word_embeddings(Tensor::from_data(
        TensorData::new(ids, [2, seq]),
        encoder.device(),
    ))
}

/// The nodes of `rule` that fall to `part` of `parts`.
fn dealt(rule: &[(f64, f64)], part: usize, parts: usize) -> Vec<(f64, f64)> {
    rule.iter()
        .enumerate()
        .filter(|(i, _)| i % parts == part)
        .map(|(_, &node)| node)
        .collect()
}

/// The straight line from a baseline's word embeddings to a text's, and what is integrated
/// along it.
struct Path {
    /// `[1, seq, hidden]`.
    baseline: Tensor<3>,
    /// The text's word embeddings minus the baseline's, `[1, seq, hidden]`.
    delta: Tensor<3>,
    /// The class whose log-odds is explained.
    label: usize,
    /// Whether the head has a sigmoid per label.
    multi_label: bool,
}

impl Path {
    /// The path between the `[2, seq, hidden]` ends (text first, baseline second).
    fn new(ends: Tensor<3>, label: usize, multi_label: bool) -> Self {
        let [_, seq, width] = ends.dims();
        let baseline = ends.clone().slice([1..2, 0..seq, 0..width]);
        Path {
            delta: ends.slice([0..1, 0..seq, 0..width]) - baseline.clone(),
            baseline,
            label,
            multi_label,
        }
    }

    /// Each token's integrated gradient over the quadrature nodes `rule` (position, weight):
    /// the gradient of the weighted sum of the log-odds at the nodes, dotted with the path's
    /// direction. The nodes go through the model CHUNK at a time, one backward pass each,
    /// which bounds the memory the backward pass holds.
    async fn integrate(
        &self,
        classifier: &Classifier,
        model: &BertModel,
        rule: &[(f64, f64)],
    ) -> Result<Vec<f32>> {
        let [_, seq, width] = self.delta.dims();
        let device = self.delta.device();
        let mut total = Tensor::<3>::zeros([1, seq, width], &device);
        for chunk in rule.chunks(CHUNK) {
            let n = chunk.len();
            let (alphas, weights): (Vec<f32>, Vec<f32>) =
                chunk.iter().map(|&(a, w)| (a as f32, w as f32)).unzip();
            let alphas = Tensor::<1>::from_data(TensorData::new(alphas, [n]), &device);
            let nodes = (self.baseline.clone().expand([n, seq, width])
                + self.delta.clone().expand([n, seq, width]) * alphas.reshape([n, 1, 1]))
            .autodiff()
            .require_grad();
            let outputs = logits(classifier, model, nodes.clone())?;
            let weights = Tensor::<2>::from_data(TensorData::new(weights, [n, 1]), &device);
            let objective = (log_odds(outputs, self.label, self.multi_label) * weights).sum();
            let gradients = objective.backward();
            let gradient = nodes
                .grad(&gradients)
                .ok_or_else(|| BertError::Internal("the path got no gradient".into()))?;
            total = total + gradient.sum_dim(0);
        }
        read_f32((total * self.delta.clone()).sum_dim(2).reshape([seq])).await
    }
}

/// The classifier's logits `[n, outputs]` (calibrated) for the word embeddings
/// `[n, seq, hidden]` of unpadded texts: embeddings, the base model's layers (the frozen ones,
/// for a fine-tuned classifier, then its own), pooling, standardization, head.
fn logits(classifier: &Classifier, model: &BertModel, words: Tensor<3>) -> Result<Tensor<2>> {
    let [n, seq, _] = words.dims();
    let device = words.device();
    let mask = Tensor::<2>::ones([n, seq], &device.clone().without_autodiff());
    let bias = BertModel::mask_bias(mask.clone());
    let meta = &classifier.meta;
    let pooling = meta.features.pooling;
    let plain = device.without_autodiff();
    let pooled = match (classifier.tuned(), &meta.fine_tune) {
        (Some(tuned), Some(fine_tune)) => {
            let hidden =
                model.encode_layers(model.embed_words(words), bias, 0..fine_tune.first_layer);
            // `valid`: inference mode, whatever mode the file was saved in.
            tuned
                .valid()
                .to_device(&plain)
                .forward(hidden, mask, pooling)?
        }
        _ => {
            let hidden = model.encode_layers(model.embed_words(words), bias, 0..model.num_layers());
            pooling.apply(model, hidden, mask)?
        }
    };
    let pooled = standardized(&meta.standardizer, pooled);
    let head = classifier.head().valid().to_device(&plain);
    Ok(head.forward(pooled))
}

/// `(x − mean) / scale` per feature, as [`Standardizer::apply`] does on the host.
fn standardized(standardizer: &Standardizer, x: Tensor<2>) -> Tensor<2> {
    let device = x.device().without_autodiff();
    let dim = standardizer.mean.len();
    let row = |values: &[f32]| {
        Tensor::<2>::from_data(TensorData::new(values.to_vec(), [1, dim]), &device)
    };
    (x - row(&standardizer.mean)) / row(&standardizer.scale)
}

/// Class `label`'s log-odds `[n, 1]` from a head's logits `[n, outputs]`, without going
/// through a probability that rounds to 0 or 1: a sigmoid output's own logit (negated for the
/// first class of a binary head, whose one output is the second class's), or for a softmax
/// `z_c − ln Σ_{j≠c} exp z_j`.
fn log_odds(logits: Tensor<2>, label: usize, multi_label: bool) -> Tensor<2> {
    let [n, width] = logits.dims();
    match (width, label) {
        (1, 0) => logits.neg(),
        (1, _) => logits,
        _ if multi_label => logits.slice([0..n, label..label + 1]),
        _ => {
            let own = logits.clone().slice([0..n, label..label + 1]);
            let mut shift = vec![0f32; width];
            // exp of this is exactly 0, and unlike -inf it cannot make a NaN gradient.
            shift[label] = -1e9;
            let device = logits.device().without_autodiff();
            let others =
                logits + Tensor::<2>::from_data(TensorData::new(shift, [1, width]), &device);
            // ln Σ exp, shifted by the row's largest term so that no exp overflows.
            let largest = others.clone().max_dim(1).detach();
            own - ((others - largest.clone()).exp().sum_dim(1).log() + largest)
        }
    }
}

/// Contributions per word and the text cut into words and the stretches between them, from
/// the per-token values (`[CLS]` first, `[SEP]` last).
fn by_word(
    text: &str,
    pieces: &WordPieces,
    values: &[f32],
) -> (Vec<WordAttribution>, Vec<Span>, Vec<TokenAttribution>) {
    let mut keys: Vec<WordOf> = Vec::new();
    let mut bounds: Vec<(usize, usize)> = Vec::new();
    let mut words: Vec<WordAttribution> = Vec::new();
    let mut tokens = Vec::with_capacity(pieces.pieces.len());
    for (
        i,
        Piece {
            text: piece,
            word,
            span,
        },
    ) in pieces.pieces.iter().enumerate()
    {
        let value = values.get(i + 1).copied().unwrap_or(0.0);
        let index = match keys.iter().position(|k| k == word) {
            Some(index) => index,
            None => {
                keys.push(*word);
                bounds.push(*span);
                words.push(WordAttribution {
                    text: String::new(),
                    value: 0.0,
                });
                keys.len() - 1
            }
        };
        bounds[index] = (bounds[index].0.min(span.0), bounds[index].1.max(span.1));
        words[index].value += value;
        tokens.push(TokenAttribution {
            piece: piece.clone(),
            word: index,
            value,
        });
    }
    for (index, (word, &(start, end))) in words.iter_mut().zip(&bounds).enumerate() {
        word.text = match text.get(start..end) {
            Some(s) if !s.is_empty() => s.to_string(),
            // Spans that do not cut the text at character boundaries: the pieces spell it.
            _ => tokens
                .iter()
                .filter(|t| t.word == index)
                .map(|t| t.piece.trim_start_matches("##"))
                .collect(),
        };
    }
    let spans = spans(text, &bounds);
    (words, spans, tokens)
}

/// The whole text cut at the words' byte spans: words, and the stretches between and after.
fn spans(text: &str, bounds: &[(usize, usize)]) -> Vec<Span> {
    let mut order: Vec<usize> = (0..bounds.len()).collect();
    order.sort_by_key(|&i| bounds[i]);
    let mut out = Vec::new();
    let mut cursor = 0;
    let push = |start: usize, end: usize, word: Option<usize>, out: &mut Vec<Span>| {
        if let Some(s) = text.get(start..end).filter(|s| !s.is_empty()) {
            out.push(Span {
                text: s.to_string(),
                word,
            });
        }
    };
    for i in order {
        let (start, end) = bounds[i];
        let start = start.max(cursor);
        if end <= start || text.get(start..end).is_none() {
            continue;
        }
        push(cursor, start, None, &mut out);
        push(start, end, Some(i), &mut out);
        cursor = end;
    }
    push(cursor, text.len(), None, &mut out);
    out
}

/// Gauss–Legendre nodes and weights on [0, 1]: Newton's method on the Legendre polynomial
/// from the Chebyshev guess, as in Numerical Recipes' `gauleg`.
fn gauss_legendre(n: usize) -> Vec<(f64, f64)> {
    (0..n)
        .map(|i| {
            let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
            let mut slope = 1.0;
            for _ in 0..100 {
                let (mut previous, mut value) = (1.0, x);
                for k in 2..=n {
                    let k = k as f64;
                    let next = ((2.0 * k - 1.0) * x * value - (k - 1.0) * previous) / k;
                    previous = value;
                    value = next;
                }
                slope = n as f64 * (x * value - previous) / (x * x - 1.0);
                let step = value / slope;
                x -= step;
                if step.abs() < 1e-15 {
                    break;
                }
            }
            ((x + 1.0) / 2.0, 1.0 / ((1.0 - x * x) * slope * slope))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finetune::{FineTuneSettings, FineTuner};
    use crate::model::Pooling;
    use crate::tiny_encoder;
    use serde_json::Value;
    use std::path::Path;

    /// A tiny `BertForSequenceClassification` folder of `tests/fixtures/tiny-cls/`, imported
    /// as the page imports one: its encoder and classifier.
    fn imported(dir: &str, max_len: usize) -> (Encoder, Classifier) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tiny-cls")
            .join(dir);
        let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
        let encoder = Encoder::load(
            &read("config.json"),
            &read("model.safetensors"),
            &read("tokenizer.json"),
            &Device::flex(),
        )
        .unwrap();
        let classifier = Classifier::from_hugging_face(
            &read("config.json"),
            &read("model.safetensors"),
            &encoder,
            max_len,
        )
        .unwrap()
        .unwrap();
        (encoder, classifier)
    }

    fn explain(classifier: &Classifier, encoder: &Encoder, text: &str) -> Attribution {
        pollster::block_on(attribute(classifier, encoder, text, None, DEFAULT_STEPS)).unwrap()
    }

    /// The contributions sum to the log-odds' change along the path (the bar is 5 %;
    /// the quadrature does far better).
    fn assert_complete(a: &Attribution) {
        let change = a.log_odds - a.baseline_log_odds;
        assert!(
            a.gap.abs() <= 0.05 * change.abs() + 1e-5,
            "sum {} vs change {change}: {a:?}",
            a.words.iter().map(|w| w.value).sum::<f32>()
        );
    }

    #[test]
    fn quadrature_is_exact_for_polynomials_up_to_twice_its_nodes() {
        for n in [2, 5, 20, 64] {
            let rule = gauss_legendre(n);
            for k in 0..2 * n {
                let integral: f64 = rule.iter().map(|(x, w)| w * x.powi(k as i32)).sum();
                let exact = 1.0 / (k as f64 + 1.0);
                assert!((integral - exact).abs() < 1e-12, "n {n}, x^{k}: {integral}");
            }
            assert!(
                rule.iter()
                    .all(|&(x, w)| (0.0..=1.0).contains(&x) && w > 0.0)
            );
        }
    }

    /// The PyTorch reference (`make_fixtures.py --only attributions`, float64) on the tiny
    /// `BertForSequenceClassification` folders, softmax and sigmoid heads, imported as the page
    /// imports them.
    #[test]
    fn matches_pytorch_integrated_gradients() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-cls");
        let reference: Value =
            serde_json::from_slice(&std::fs::read(root.join("attributions.json")).unwrap())
                .unwrap();
        let max_len = reference["max_len"].as_u64().unwrap() as usize;
        let heads = reference["heads"].as_object().unwrap();
        assert_eq!(heads.len(), 2);
        for head in heads.values() {
            let (encoder, classifier) = imported(head["dir"].as_str().unwrap(), max_len);
            for case in head["cases"].as_array().unwrap() {
                let text = case["text"].as_str().unwrap();
                let a = explain(&classifier, &encoder, text);
                let expected: Vec<f64> = case["attributions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap())
                    .collect();
                assert_eq!(a.label as u64, case["label"].as_u64().unwrap(), "{text}");
                assert_eq!(a.tokens.len() + 2, expected.len(), "{text}");
                assert_eq!(a.steps, reference["steps"].as_u64().unwrap() as usize);
                for (token, want) in a.tokens.iter().zip(&expected[1..]) {
                    assert!(
                        (f64::from(token.value) - want).abs() < 1e-3,
                        "{text}: {} {} vs {want}",
                        token.piece,
                        token.value
                    );
                }
                for (got, key) in [
                    (a.probability, "probability"),
                    (a.baseline_probability, "baseline_probability"),
                ] {
                    let want = case[key].as_f64().unwrap();
                    assert!((f64::from(got) - want).abs() < 1e-4, "{text}: {key}");
                }
                assert_complete(&a);
                assert_eq!(a.truncated, text.split_whitespace().count() > 40, "{text}");
                // The spans give back the text, every word once.
                let joined: String = a.spans.iter().map(|s| s.text.as_str()).collect();
                assert_eq!(joined, text);
                if a.truncated {
                    // What the classifier never read stays in the text, as no word.
                    let tail = a.spans.last().unwrap();
                    assert!(
                        tail.word.is_none() && tail.text.trim().len() > 10,
                        "{tail:?}"
                    );
                }
                let mut seen: Vec<usize> = a.spans.iter().filter_map(|s| s.word).collect();
                seen.sort_unstable();
                assert_eq!(seen, (0..a.words.len()).collect::<Vec<_>>(), "{text}");
            }
        }
    }

    /// The nodes dealt into parts, some computed by "helpers" (here the same thread), one of
    /// which fails and is computed locally instead: the same contributions as in one part.
    #[test]
    fn parts_computed_elsewhere_add_up_to_the_whole() {
        let (encoder, classifier) = imported("single", 55);
        let text = "Worst product ever. Do not buy.";
        let whole = explain(&classifier, &encoder, text);
        let mut asked = Vec::new();
        let parted = pollster::block_on(attribute_with(
            &classifier,
            &encoder,
            text,
            None,
            DEFAULT_STEPS,
            3,
            |label, steps, part| {
                asked.push(part);
                let answer = (part == 1).then(|| {
                    pollster::block_on(attribute_part(
                        &classifier,
                        &encoder,
                        text,
                        label,
                        steps,
                        (part, 3),
                    ))
                });
                async move { answer.unwrap_or_else(|| Err(BertError::Internal("lost".into()))) }
            },
        ))
        .unwrap();
        assert_eq!(asked, [1, 2]);
        assert_eq!(parted.label, whole.label);
        for (a, b) in parted.tokens.iter().zip(&whole.tokens) {
            assert!((a.value - b.value).abs() < 1e-5, "{a:?} {b:?}");
        }
        let bad = pollster::block_on(attribute_part(&classifier, &encoder, text, 0, 20, (3, 3)));
        assert_eq!(bad.unwrap_err().kind(), crate::ErrorKind::Settings);
    }

    /// A fine-tuned classifier (its own top layer and pooler) is explained through its layers,
    /// with its calibration, and another class can be asked for.
    #[test]
    fn explains_fine_tuned_classifiers_and_any_class() {
        let _rng = crate::test_rng();
        let encoder = tiny_encoder();
        let texts: Vec<String> = (0..24)
            .map(|i| format!("this tea is {}", ["bad", "good"][i % 2]))
            .collect();
        let labels: Vec<usize> = (0..24).map(|i| i % 2).collect();
        let settings = FineTuneSettings {
            layers: 1,
            pooling: Pooling::Pooler,
            epochs: 1,
            batch_size: 8,
            max_len: 16,
            ..FineTuneSettings::default()
        };
        let mut tuner = FineTuner::new(&encoder, &texts, &labels, 2, settings).unwrap();
        while !tuner.is_finished() {
            pollster::block_on(tuner.step(&encoder)).unwrap();
        }
        let classifier = Classifier::from_fine_tuned(
            pollster::block_on(tuner.finish()).unwrap(),
            vec!["bad".into(), "good".into()],
        );
        let text = "this tea is <b>good</b>, i love it";
        let predicted = explain(&classifier, &encoder, text);
        let probs = pollster::block_on(classifier.classify(&encoder, &[text])).unwrap();
        assert_eq!(predicted.label, probs[0].label);
        assert!((predicted.probability - probs[0].probabilities[probs[0].label]).abs() < 1e-5);
        assert_complete(&predicted);
        // HTML is read as the classifier reads it: stripped.
        assert!(
            predicted
                .words
                .iter()
                .all(|w| w.text != "<" && w.text != "b")
        );
        let other = 1 - predicted.label;
        let a =
            pollster::block_on(attribute(&classifier, &encoder, text, Some(other), 32)).unwrap();
        assert_eq!(a.label, other);
        assert_complete(&a);
        // The two classes' probabilities move in opposite directions, word by word.
        for (x, y) in a.words.iter().zip(&predicted.words) {
            assert!((x.value + y.value).abs() < 1e-3, "{x:?} {y:?}");
        }
        for bad in [
            pollster::block_on(attribute(&classifier, &encoder, text, Some(2), 20)),
            pollster::block_on(attribute(&classifier, &encoder, text, None, 1)),
            pollster::block_on(attribute(&classifier, &encoder, text, None, MAX_STEPS + 1)),
        ] {
            assert_eq!(bad.unwrap_err().kind(), crate::ErrorKind::Settings);
        }
    }
}
