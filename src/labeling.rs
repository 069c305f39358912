//! Labeling in the page: which texts a user should label next, the head their labels train,
//! and how accurate it is (cross-validated on the labels).
//!
//! Until every class has two labels, texts are chosen by similarity to the class names (the
//! names' own vectors, a zero-shot start). Then a linear head trains on the labels in well
//! under a second, and the texts it is least sure about (smallest margin between its two most
//! probable classes) are taken from the most uncertain ones, each the farthest (cosine) from
//! every text labeled or already taken, so that a batch does not ask about five near-copies.
//! The random strategy is there to compare against. Plain Rust over the vectors: the same in
//! the page and in the tests.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::classifier::Classifier;
use crate::data::SeededRng;
use crate::epochs::Monitor;
use crate::error::{BertError, Result};
use crate::features::FeatureSettings;
use crate::train::{Preset, TrainSettings, Trainer};

/// Texts sampled from a CSV for labeling, at most.
pub const POOL: usize = 2_000;
/// Texts proposed at a time; the head retrains after each batch.
pub const BATCH: usize = 5;
/// Labels of a class before the head takes over from the class names.
const LABELS_PER_CLASS: usize = 2;
/// Folds of the cross-validation, at most (fewer when a class has fewer labels).
const FOLDS: usize = 5;
/// Uncertain candidates per proposed text, among which diversity chooses.
const POOL_PER_PROPOSAL: usize = 10;
/// Nearest texts that say how typical a candidate is.
const NEIGHBOURS: usize = 10;
/// Most texts one request may propose.
const MAX_COUNT: usize = 1_000;

/// How the next texts to label are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Class names first, then the head's uncertainty mixed with diversity.
    Smart,
    /// At random (seeded): what the smart choice is measured against.
    Random,
}

impl Strategy {
    /// Every strategy, in the order the page offers them.
    pub const ALL: [Strategy; 2] = [Strategy::Smart, Strategy::Random];
}

/// What a suggestion needs besides the texts' vectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// The labels so far: (row, class).
    pub labels: Vec<(usize, usize)>,
    /// Rows the user skipped: never proposed again.
    pub skipped: Vec<usize>,
    /// Number of classes.
    pub classes: usize,
    /// Each class name's vector, row-major `classes × dim` (made as the texts' were).
    pub class_vectors: Vec<f32>,
    /// Texts to propose.
    pub count: usize,
    /// How to choose them.
    pub strategy: Strategy,
    /// Seed of the random choices and of the head's training.
    pub seed: u64,
}

/// Why the proposed texts were chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Most like a class name that has too few labels.
    ClassNames,
    /// The head is unsure about them, and they differ from what is labeled.
    Uncertainty,
    /// At random.
    Random,
}

/// The labels' accuracy, cross-validated: each fold's head predicts the labels it did not
/// train on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    /// Fraction of labels predicted right.
    pub accuracy: f64,
    /// Folds.
    pub folds: usize,
    /// Labels it was measured on.
    pub labels: usize,
}

/// The next texts to label, and what the labels so far give.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    /// Rows to label next, best first.
    pub rows: Vec<usize>,
    /// Why they were chosen.
    pub source: Source,
    /// The head trained on every label: its class for each row (empty before it can train).
    pub predicted: Vec<usize>,
    /// Its probability of that class, for each row.
    pub confidence: Vec<f32>,
    /// Cross-validated accuracy of the labels (none before every class has two).
    pub accuracy: Option<Accuracy>,
}

/// The texts to label next, with the head and accuracy of the labels so far. `vectors` are the
/// texts' (row-major, `dim` wide); heads train on `device`.
pub async fn suggest(
    vectors: &[f32],
    dim: usize,
    request: &Request,
    device: &Device,
) -> Result<Suggestion> {
    let rows = check(vectors, dim, request)?;
    let mut taken = vec![false; rows];
    for &(row, _) in &request.labels {
        taken[row] = true;
    }
    for &row in &request.skipped {
        taken[row] = true;
    }
    let mut counts = vec![0usize; request.classes];
    for &(_, class) in &request.labels {
        counts[class] += 1;
    }
    let trained = counts.iter().all(|&c| c >= LABELS_PER_CLASS);
    // The head reads each text's direction (what sentence models are trained for, and what
    // the cosines below compare), scaled so that a component is about 1, not 1/√dim: a few
    // labels cannot estimate each feature's own spread, which standardizing would divide by.
    let unit = normalized(vectors, dim);
    let scale = (dim as f32).sqrt();
    let inputs: Vec<f32> = unit.iter().map(|v| v * scale).collect();
    let (predicted, confidence, probabilities) = if trained {
        let head = fit(
            &inputs,
            dim,
            &request.labels,
            request.classes,
            request.seed,
            device,
        )
        .await?;
        let probabilities = head.predict(&inputs, device).await?;
        let predictions = head.predictions(&probabilities);
        let predicted = predictions.iter().map(|p| p.label).collect();
        let confidence = predictions
            .iter()
            .map(|p| p.probabilities.get(p.label).copied().unwrap_or(0.0))
            .collect();
        let probabilities: Vec<Vec<f32>> =
            predictions.into_iter().map(|p| p.probabilities).collect();
        (predicted, confidence, Some(probabilities))
    } else {
        (Vec::new(), Vec::new(), None)
    };
    let accuracy = if trained {
        cross_validate(&inputs, dim, request, device).await?
    } else {
        None
    };
    let count = request.count;
    let (rows, source) = match (request.strategy, probabilities) {
        (Strategy::Random, _) => (at_random(&taken, count, request), Source::Random),
        (Strategy::Smart, Some(p)) => (
            uncertain_and_varied(&unit, dim, &taken, &request.labels, &p, count),
            Source::Uncertainty,
        ),
        (Strategy::Smart, None) => (
            like_class_names(&unit, dim, &taken, &counts, &request.class_vectors, count),
            Source::ClassNames,
        ),
    };
    Ok(Suggestion {
        rows,
        source,
        predicted,
        confidence,
        accuracy,
    })
}

/// The number of rows, once every index and size in the request is checked.
fn check(vectors: &[f32], dim: usize, request: &Request) -> Result<usize> {
    let bad = |why: String| Err(BertError::Settings(format!("labeling: {why}")));
    if dim == 0 || vectors.is_empty() || !vectors.len().is_multiple_of(dim) {
        return bad(format!("{} values are not rows of {dim}", vectors.len()));
    }
    let rows = vectors.len() / dim;
    if !(2..=crate::head::MAX_CLASSES).contains(&request.classes) {
        return bad(format!(
            "{} classes; name between 2 and {}",
            request.classes,
            crate::head::MAX_CLASSES
        ));
    }
    if request.class_vectors.len() != request.classes * dim {
        return bad(format!(
            "{} values for the class names' vectors; {} classes of {dim} need {}",
            request.class_vectors.len(),
            request.classes,
            request.classes * dim
        ));
    }
    if !(1..=MAX_COUNT).contains(&request.count) {
        return bad(format!(
            "{} texts to propose; ask for 1 to {MAX_COUNT}",
            request.count
        ));
    }
    if let Some((row, class)) = request
        .labels
        .iter()
        .find(|&&(row, class)| row >= rows || class >= request.classes)
    {
        return bad(format!(
            "label {class} of row {row}; there are {rows} rows and {} classes",
            request.classes
        ));
    }
    if let Some(row) = request.skipped.iter().find(|&&row| row >= rows) {
        return bad(format!("skipped row {row}; there are {rows} rows"));
    }
    Ok(rows)
}

/// The head a user's labels train: a linear one, one L2 penalty, full-batch steps, so that it
/// takes well under a second on a few hundred labels.
fn settings(seed: u64) -> TrainSettings {
    TrainSettings {
        standardize: false,
        l2: vec![1e-3],
        learning_rate: 1e-2,
        batch_size: 1024,
        epochs: 150,
        early_stopping: None,
        // The validation part of a few labels is a handful of texts: an epoch chosen on it is
        // chosen by chance, and every epoch fits a few labels perfectly, the barely trained
        // first one too.
        monitor: Monitor::TrainLoss,
        seed,
        ..TrainSettings::preset(Preset::Linear)
    }
}

/// A head trained on `labels` (row, class) of `vectors`, in a seeded order (the trainer holds
/// out the last rows to pick its epoch, which must not be the latest labels).
async fn fit(
    vectors: &[f32],
    dim: usize,
    labels: &[(usize, usize)],
    classes: usize,
    seed: u64,
    device: &Device,
) -> Result<Classifier> {
    let mut order = labels.to_vec();
    SeededRng::new(seed).shuffle(&mut order);
    let features: Vec<f32> = order
        .iter()
        .flat_map(|&(row, _)| vectors[row * dim..(row + 1) * dim].iter().copied())
        .collect();
    let targets: Vec<usize> = order.iter().map(|&(_, class)| class).collect();
    let mut trainer = Trainer::new(&features, dim, &targets, classes, settings(seed), device)?;
    while !trainer.is_finished() {
        trainer.step().await?;
    }
    let names = (0..classes).map(|c| c.to_string()).collect();
    Ok(Classifier::new(
        trainer.finish()?,
        "",
        FeatureSettings::default(),
        names,
    ))
}

/// Stratified k-fold accuracy of the labels: each class's labels dealt round the folds in a
/// seeded order; `None` while a class has fewer than two.
async fn cross_validate(
    vectors: &[f32],
    dim: usize,
    request: &Request,
    device: &Device,
) -> Result<Option<Accuracy>> {
    let mut by_class: Vec<Vec<(usize, usize)>> = vec![Vec::new(); request.classes];
    for &(row, class) in &request.labels {
        by_class[class].push((row, class));
    }
    let smallest = by_class.iter().map(Vec::len).min().unwrap_or(0);
    if smallest < LABELS_PER_CLASS {
        return Ok(None);
    }
    let folds = smallest.min(FOLDS);
    let mut rng = SeededRng::new(request.seed ^ 0x5eed);
    let mut fold_of: Vec<((usize, usize), usize)> = Vec::with_capacity(request.labels.len());
    for class in &mut by_class {
        rng.shuffle(class);
        fold_of.extend(
            class
                .iter()
                .enumerate()
                .map(|(i, &label)| (label, i % folds)),
        );
    }
    let mut right = 0;
    for fold in 0..folds {
        let train: Vec<(usize, usize)> = fold_of
            .iter()
            .filter(|(_, f)| *f != fold)
            .map(|(l, _)| *l)
            .collect();
        let held: Vec<(usize, usize)> = fold_of
            .iter()
            .filter(|(_, f)| *f == fold)
            .map(|(l, _)| *l)
            .collect();
        let head = fit(vectors, dim, &train, request.classes, request.seed, device).await?;
        let held_vectors: Vec<f32> = held
            .iter()
            .flat_map(|&(row, _)| vectors[row * dim..(row + 1) * dim].iter().copied())
            .collect();
        let predictions = head.predictions(&head.predict(&held_vectors, device).await?);
        right += predictions
            .iter()
            .zip(&held)
            .filter(|(p, (_, class))| p.label == *class)
            .count();
    }
    Ok(Some(Accuracy {
        accuracy: right as f64 / fold_of.len() as f64,
        folds,
        labels: fold_of.len(),
    }))
}

/// Each row scaled to length 1, so that a dot product is the cosine.
fn normalized(vectors: &[f32], dim: usize) -> Vec<f32> {
    vectors
        .chunks_exact(dim)
        .flat_map(|row| {
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            row.iter().map(move |v| v / norm)
        })
        .collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Seeded random rows not yet taken; the seed moves with the number of rows taken, so every
/// batch differs and the same session gives the same batches.
fn at_random(taken: &[bool], count: usize, request: &Request) -> Vec<usize> {
    let mut free: Vec<usize> = (0..taken.len()).filter(|&r| !taken[r]).collect();
    let moved = (request.labels.len() + request.skipped.len()) as u64;
    SeededRng::new(request.seed.wrapping_add(moved.wrapping_mul(0x9E37_79B9))).shuffle(&mut free);
    free.truncate(count);
    free
}

/// Rows most like the class names of the classes with the fewest labels, in turn: for class
/// `c`, a row's cosine with `c`'s name minus its mean cosine with the other names (a text about
/// everything is like no class in particular).
fn like_class_names(
    unit: &[f32],
    dim: usize,
    taken: &[bool],
    counts: &[usize],
    class_vectors: &[f32],
    count: usize,
) -> Vec<usize> {
    let names = normalized(class_vectors, dim);
    let classes = counts.len();
    let similarity: Vec<Vec<f32>> = unit
        .chunks_exact(dim)
        .map(|row| names.chunks_exact(dim).map(|name| dot(row, name)).collect())
        .collect();
    let mut taken = taken.to_vec();
    let mut counts = counts.to_vec();
    let mut rows = Vec::with_capacity(count);
    while rows.len() < count {
        // The class with the fewest labels (and proposals) so far.
        let Some(class) = (0..classes).min_by_key(|&c| counts[c]) else {
            break;
        };
        let score = |r: usize| {
            let own = similarity[r][class];
            let others = (similarity[r].iter().sum::<f32>() - own) / (classes - 1).max(1) as f32;
            own - others
        };
        let best = (0..taken.len())
            .filter(|&r| !taken[r])
            .max_by(|&a, &b| score(a).total_cmp(&score(b)));
        let Some(row) = best else { break };
        taken[row] = true;
        counts[class] += 1;
        rows.push(row);
    }
    rows
}

/// Rows the head is least sure about (smallest margin between its two most probable classes),
/// chosen among the `POOL_PER_PROPOSAL × count` least sure for being far (cosine) from every
/// labeled row and from each other: the score is uncertainty × distance to the nearest.
fn uncertain_and_varied(
    unit: &[f32],
    dim: usize,
    taken: &[bool],
    labels: &[(usize, usize)],
    probabilities: &[Vec<f32>],
    count: usize,
) -> Vec<usize> {
    let uncertainty = |p: &Vec<f32>| {
        let mut sorted = p.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        1.0 - (sorted.first().copied().unwrap_or(0.0) - sorted.get(1).copied().unwrap_or(0.0))
    };
    let mut candidates: Vec<(usize, f32)> = (0..taken.len())
        .filter(|&r| !taken[r])
        .map(|r| (r, probabilities.get(r).map_or(0.0, uncertainty)))
        .collect();
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1));
    candidates.truncate((POOL_PER_PROPOSAL * count).max(count));
    let row = |r: usize| &unit[r * dim..(r + 1) * dim];
    // How typical each candidate is: its mean cosine with its nearest texts. An outlier is
    // uncertain too, but its label teaches the head about no other text.
    let rows_total = unit.len() / dim;
    let density: Vec<f32> = candidates
        .iter()
        .map(|&(c, _)| {
            let mut near: Vec<f32> = (0..rows_total)
                .filter(|&r| r != c)
                .map(|r| dot(row(c), row(r)))
                .collect();
            let k = NEIGHBOURS.min(near.len());
            if k == 0 {
                return 1.0;
            }
            near.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
            (near[..k].iter().sum::<f32>() / k as f32).max(0.0)
        })
        .collect();
    // Distance of each candidate to the nearest labeled row, lowered as rows are chosen.
    let mut nearest: Vec<f32> = candidates
        .iter()
        .map(|&(c, _)| {
            labels
                .iter()
                .map(|&(l, _)| 1.0 - dot(row(c), row(l)))
                .fold(f32::INFINITY, f32::min)
        })
        .collect();
    let mut rows = Vec::with_capacity(count);
    let mut used = vec![false; candidates.len()];
    while rows.len() < count {
        let best = (0..candidates.len())
            .filter(|&i| !used[i])
            .max_by(|&a, &b| {
                let score = |i: usize| candidates[i].1 * density[i] * nearest[i].min(2.0);
                score(a).total_cmp(&score(b))
            });
        let Some(i) = best else { break };
        used[i] = true;
        let chosen = candidates[i].0;
        rows.push(chosen);
        for (j, &(c, _)) in candidates.iter().enumerate() {
            nearest[j] = nearest[j].min(1.0 - dot(row(c), row(chosen)));
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIM: usize = 4;

    /// Rows around two directions (class 0 near e0, class 1 near e1), with their classes;
    /// `middle` more rows half-way between, all the same.
    fn clusters(per_class: usize, middle: usize) -> (Vec<f32>, Vec<usize>) {
        let mut rng = SeededRng::new(3);
        let mut vectors = Vec::new();
        let mut truth = Vec::new();
        for i in 0..2 * per_class {
            let class = i % 2;
            let mut row: Vec<f32> = (0..DIM).map(|_| 0.2 * rng.next_f64() as f32).collect();
            row[class] += 1.0;
            vectors.extend(row);
            truth.push(class);
        }
        vectors.extend([0.7, 0.7, 0.1, 0.1].repeat(middle));
        truth.resize(truth.len() + middle, 0);
        (vectors, truth)
    }

    fn request(labels: Vec<(usize, usize)>, strategy: Strategy, count: usize) -> Request {
        Request {
            labels,
            skipped: Vec::new(),
            classes: 2,
            class_vectors: vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0],
            count,
            strategy,
            seed: 42,
        }
    }

    fn run(vectors: &[f32], request: &Request) -> Suggestion {
        pollster::block_on(suggest(vectors, DIM, request, &Device::flex())).unwrap()
    }

    #[test]
    fn the_class_names_choose_until_every_class_has_labels() {
        let _rng = crate::test_rng();
        let (vectors, truth) = clusters(10, 0);
        let s = run(&vectors, &request(Vec::new(), Strategy::Smart, 4));
        assert_eq!(s.source, Source::ClassNames);
        assert!(s.predicted.is_empty() && s.accuracy.is_none());
        // Taken in turn, each the most like its class's name.
        let classes: Vec<usize> = s.rows.iter().map(|&r| truth[r]).collect();
        assert_eq!(classes, [0, 1, 0, 1], "{:?}", s.rows);
        // One class labeled twice: the other class's name leads.
        let s = run(&vectors, &request(vec![(0, 0), (2, 0)], Strategy::Smart, 2));
        assert_eq!(s.source, Source::ClassNames);
        assert!(s.rows.iter().all(|&r| truth[r] == 1), "{:?}", s.rows);
    }

    #[test]
    fn then_the_head_proposes_uncertain_texts_once_each_and_is_cross_validated() {
        let _rng = crate::test_rng();
        let (vectors, truth) = clusters(20, 6);
        let labels: Vec<(usize, usize)> = (0..8).map(|r| (r, truth[r])).collect();
        let s = run(&vectors, &request(labels.clone(), Strategy::Smart, 3));
        assert_eq!(s.source, Source::Uncertainty);
        let accuracy = s.accuracy.unwrap();
        assert_eq!((accuracy.folds, accuracy.labels), (4, 8));
        // Each fold's head learns from six labels, and sees the other two only there.
        assert!(accuracy.accuracy >= 0.75, "{accuracy:?}");
        assert_eq!(s.predicted[..40], truth[..40]);
        assert_eq!(s.predicted.len(), 46);
        assert_eq!(s.confidence.len(), 46);
        // The half-way texts are the least sure, but one of six copies is enough.
        assert_eq!(s.rows.len(), 3);
        assert!(s.rows.iter().all(|r| !labels.iter().any(|(l, _)| l == r)));
        assert_eq!(
            s.rows.iter().filter(|&&r| r >= 40).count(),
            1,
            "{:?}",
            s.rows
        );
        let mut unique = s.rows.clone();
        unique.dedup();
        assert_eq!(unique.len(), 3);
    }

    #[test]
    fn random_choices_are_seeded_and_skip_what_is_taken() {
        let _rng = crate::test_rng();
        let (vectors, _) = clusters(10, 0);
        let mut asked = request(vec![(0, 0), (1, 1)], Strategy::Random, 5);
        asked.skipped = vec![2, 3];
        let first = run(&vectors, &asked);
        assert_eq!(first.source, Source::Random);
        assert_eq!(first.rows, run(&vectors, &asked).rows);
        assert!(first.rows.iter().all(|r| ![0, 1, 2, 3].contains(r)));
        // Everything taken: nothing left to propose.
        asked.skipped = (2..20).collect();
        assert!(run(&vectors, &asked).rows.is_empty());
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let (vectors, _) = clusters(4, 0);
        let device = Device::flex();
        let mut bad = vec![
            request(vec![(99, 0)], Strategy::Smart, 2),
            request(vec![(0, 2)], Strategy::Smart, 2),
            request(Vec::new(), Strategy::Smart, 0),
        ];
        let mut names = request(Vec::new(), Strategy::Smart, 2);
        names.class_vectors.pop();
        bad.push(names);
        let mut skipped = request(Vec::new(), Strategy::Random, 2);
        skipped.skipped = vec![8];
        bad.push(skipped);
        for asked in bad {
            let err = pollster::block_on(suggest(&vectors, DIM, &asked, &device)).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Settings, "{err}");
        }
        let err = pollster::block_on(suggest(
            &vectors[..7],
            DIM,
            &request(Vec::new(), Strategy::Smart, 1),
            &device,
        ));
        assert!(err.is_err());
    }
}
