//! The tutorial's pipeline end to end on the shared Amazon reviews with the real default model:
//! preprocessing → frozen features → each head preset → test metrics → classifier file.

mod common;

use std::sync::OnceLock;

use bertweb::classifier::{Classifier, TestSummary};
use bertweb::data::{self, Dataset, LabelMode, Settings};
use bertweb::features::{Extraction, FeatureSettings, Features};
use bertweb::metrics::Report;
use bertweb::train::{Preset, TrainSettings, Trainer};
use bertweb::{Encoder, Pooling};
use burn::tensor::Device;
use common::{default_model, read, shared_data};

struct Prepared {
    encoder: Encoder,
    dataset: Dataset,
    train: Features,
    test: Features,
}

fn extract(encoder: &Encoder, texts: Vec<String>, settings: FeatureSettings) -> Features {
    let mut extraction = Extraction::new(encoder, texts, settings, 32).unwrap();
    while !extraction.is_finished() {
        pollster::block_on(extraction.step(encoder)).unwrap();
    }
    extraction.finish().unwrap()
}

/// Features of the tutorial split, extracted once per test binary (the slow part).
fn prepared(label_mode: LabelMode) -> Option<&'static Prepared> {
    static BINARY: OnceLock<Option<Prepared>> = OnceLock::new();
    static THREE: OnceLock<Option<Prepared>> = OnceLock::new();
    let cell = match label_mode {
        LabelMode::Three => &THREE,
        _ => &BINARY,
    };
    cell.get_or_init(|| {
        let dir = default_model()?;
        let csv = shared_data()?;
        let settings = Settings {
            label_mode,
            ..Settings::default()
        };
        let dataset = data::load(&csv, &settings).unwrap();
        let encoder = common::load_encoder(&dir);
        let fs = FeatureSettings::default();
        let start = std::time::Instant::now();
        let texts = |rows: &[data::Example]| rows.iter().map(|e| e.text.clone()).collect();
        let train = extract(&encoder, texts(&dataset.train), fs);
        let test = extract(&encoder, texts(&dataset.test), fs);
        eprintln!(
            "extracted {} + {} texts in {:.1} s",
            train.rows,
            test.rows,
            start.elapsed().as_secs_f64()
        );
        Some(Prepared {
            encoder,
            dataset,
            train,
            test,
        })
    })
    .as_ref()
}

fn train_and_test(p: &Prepared, settings: TrainSettings) -> (Classifier, Report) {
    let labels: Vec<usize> = p.dataset.train.iter().map(|e| e.label).collect();
    let classes = p.dataset.label_names.len();
    let start = std::time::Instant::now();
    let mut trainer = Trainer::new(
        &p.train.values,
        p.train.dim,
        &labels,
        classes,
        settings,
        &Device::flex(),
    )
    .unwrap();
    while !trainer.is_finished() {
        pollster::block_on(trainer.step()).unwrap();
    }
    let epochs = trainer.epoch();
    let mut classifier = Classifier::new(
        trainer.finish().unwrap(),
        p.encoder.model_id(),
        p.train.settings,
        p.dataset.label_names.clone(),
    );
    let probs = pollster::block_on(classifier.predict(&p.test.values, &Device::flex())).unwrap();
    let test_labels: Vec<usize> = p.dataset.test.iter().map(|e| e.label).collect();
    let report = classifier.score(&probs, &test_labels).unwrap();
    let calibration = report
        .calibration
        .clone()
        .expect("a classifier's report is calibrated");
    eprintln!(
        "{:?}: {epochs} epochs in {:.1} s, test accuracy {:.4}, AUROC {:.4}; temperature {:.3}, test ECE {:.4} → {:.4}",
        classifier.meta.settings.as_ref().map(|s| s.preset),
        start.elapsed().as_secs_f64(),
        report.accuracy,
        report.auroc.unwrap_or(f64::NAN),
        calibration.temperature,
        calibration.before.ece,
        calibration.after.ece,
    );
    // The temperature changes how sure the probabilities are, not what they decide.
    let own = bertweb::calibration::uncalibrated(
        &probs,
        classifier.meta.shape.outputs(),
        classes == 2,
        calibration.temperature,
    );
    let own_report = Report::new(&own, classes, &test_labels).unwrap();
    assert_eq!(own_report.accuracy, report.accuracy);
    assert_eq!(own_report.confusion, report.confusion);
    // And on the shared data, the temperature fitted on validation lowers the test part's
    // expected calibration error.
    assert!(
        calibration.after.ece < calibration.before.ece,
        "ECE {} → {}",
        calibration.before.ece,
        calibration.after.ece
    );
    (classifier, report)
}

#[test]
fn presets_reach_their_test_auroc_and_classifier_round_trips() {
    let Some(p) = prepared(LabelMode::Binary) else {
        return;
    };
    assert_eq!((p.dataset.train.len(), p.dataset.test.len()), (3446, 862));

    let (_, tutorial) = train_and_test(p, TrainSettings::preset(Preset::Tutorial));
    assert!(
        tutorial.auroc.unwrap() >= 0.70,
        "tutorial {:?}",
        tutorial.auroc
    );
    let (_, linear) = train_and_test(p, TrainSettings::preset(Preset::Linear));
    assert!(linear.auroc.unwrap() >= 0.90, "linear {:?}", linear.auroc);
    let (mut default, report) = train_and_test(p, TrainSettings::preset(Preset::Default));
    assert!(report.auroc.unwrap() >= 0.90, "default {:?}", report.auroc);

    // Saved and loaded, it predicts identically, and refuses another base model.
    default.meta.test = Some(TestSummary::from(&report));
    let bytes = pollster::block_on(default.to_bytes()).unwrap();
    let loaded = Classifier::from_bytes(&bytes, &Device::flex()).unwrap();
    assert_eq!(loaded.meta, default.meta);
    let before = pollster::block_on(default.predict(&p.test.values, &Device::flex())).unwrap();
    let after = pollster::block_on(loaded.predict(&p.test.values, &Device::flex())).unwrap();
    assert_eq!(before, after);
    assert!(loaded.check_base(p.encoder.model_id()).is_ok());
    assert!(loaded.check_base("bert-12x768-0000000000000000").is_err());
}

#[test]
fn three_class_mode_trains_and_reports_per_class_metrics() {
    let Some(p) = prepared(LabelMode::Three) else {
        return;
    };
    assert_eq!(p.dataset.label_names.len(), 3);
    let (_, report) = train_and_test(p, TrainSettings::preset(Preset::Default));
    assert_eq!(report.per_class.len(), 3);
    assert_eq!(report.confusion.len(), 3);
    assert!(
        report.auroc.unwrap() > 0.75,
        "three-class macro AUROC {:?}",
        report.auroc
    );
}

#[test]
fn features_round_trip_and_refuse_another_model() {
    let config = read("tests/fixtures/tiny/config.json");
    let weights = read("tests/fixtures/tiny/model.safetensors");
    let tokenizer = read("tests/fixtures/tiny/tokenizer.json");
    let encoder = Encoder::load(&config, &weights, &tokenizer, &Device::flex()).unwrap();
    let texts: Vec<String> = [
        "a long text with many words in it",
        "short",
        "",
        "mid size text",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let settings = FeatureSettings::default();
    let features = extract(&encoder, texts.clone(), settings);
    // Length-sorted batches give exactly what one padded batch gives, in the callers' order.
    let direct = pollster::block_on(encoder.embed(&texts, Pooling::Mean, 55)).unwrap();
    assert!(common::max_abs_diff(&features.values, &direct) < 1e-5);
    let back = Features::from_bytes(&features.to_bytes()).unwrap();
    assert_eq!(back, features);
    assert!(back.check_compatible(encoder.model_id(), &settings).is_ok());
    assert!(
        back.check_compatible("bert-6x384-0123456789abcdef", &settings)
            .is_err()
    );
    let pooler = FeatureSettings {
        pooling: Pooling::Pooler,
        ..settings
    };
    assert!(back.check_compatible(encoder.model_id(), &pooler).is_err());
    assert!(Features::from_bytes(b"garbage").is_err());
}

#[test]
fn committed_default_classifier_classifies_typed_reviews() {
    let Some(dir) = default_model() else { return };
    let classifier = Classifier::from_bytes(
        &read("classifiers/default-minilm.safetensors"),
        &Device::flex(),
    )
    .unwrap();
    let encoder = common::load_encoder(&dir);
    classifier.check_base(encoder.model_id()).unwrap();
    assert_eq!(classifier.meta.label_names, ["negative", "positive"]);
    let texts = [
        "Great coffee, rich and smooth. Will buy again!",
        "Stale, tasteless and overpriced. Never again.",
    ];
    let features =
        pollster::block_on(encoder.embed(&texts, classifier.meta.features.pooling, 55)).unwrap();
    let p = pollster::block_on(classifier.predict(&features, &Device::flex())).unwrap();
    assert!(p[0] > 0.9 && p[1] < 0.1, "P(positive) = {p:?}");
}

/// Integrated gradients on the real model: short reviews of the shared data with their own
/// words as noise, and one made-up word, inserted anywhere, that alone decides the label. A
/// head trained on them puts that word first in each explanation, toward the predicted class.
#[test]
fn the_word_that_decides_the_label_ranks_first() {
    let Some(p) = prepared(LabelMode::Binary) else {
        return;
    };
    let markers = ["quandix", "zorblet"];
    let mut seed = 11u64;
    let mut draw = |n: usize| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize % n
    };
    let (texts, labels): (Vec<String>, Vec<usize>) = p
        .dataset
        .train
        .iter()
        .take(328)
        .enumerate()
        .map(|(i, example)| {
            let label = i % 2;
            let mut words: Vec<&str> = example.text.split_whitespace().take(6).collect();
            let at = draw(words.len() + 1);
            words.insert(at, markers[label]);
            (words.join(" "), label)
        })
        .unzip();
    let (train_texts, held_out) = texts.split_at(320);
    let settings = FeatureSettings::default();
    let features = extract(&p.encoder, train_texts.to_vec(), settings);
    let mut trainer = Trainer::new(
        &features.values,
        features.dim,
        &labels[..320],
        2,
        TrainSettings::preset(Preset::Linear),
        &Device::flex(),
    )
    .unwrap();
    while !trainer.is_finished() {
        pollster::block_on(trainer.step()).unwrap();
    }
    let classifier = Classifier::new(
        trainer.finish().unwrap(),
        p.encoder.model_id(),
        settings,
        vec!["quandix".into(), "zorblet".into()],
    );
    for (text, &label) in held_out.iter().zip(&labels[320..]) {
        let explained = pollster::block_on(bertweb::attribution::attribute(
            &classifier,
            &p.encoder,
            text,
            None,
            bertweb::attribution::DEFAULT_STEPS,
        ))
        .unwrap();
        assert_eq!(explained.label, label, "{text}: {explained:?}");
        let first = explained
            .words
            .iter()
            .max_by(|a, b| a.value.total_cmp(&b.value))
            .unwrap();
        assert_eq!(first.text, markers[label], "{text}: {:?}", explained.words);
        let change = explained.log_odds - explained.baseline_log_odds;
        assert!(explained.gap.abs() <= 0.05 * change.abs(), "{explained:?}");
    }
}

/// Labeling on the shared reviews, labels given by their known scores: the page's choice of
/// texts (class names, then uncertainty with typicality and diversity) reaches the target
/// accuracy on the whole pool with fewer labels than a random choice with the same seed, and
/// is more accurate on average over the first 100 labels. Sentiment from a few dozen labels is
/// hard for a frozen MiniLM (about 0.7 at 100 labels either way), so the target is modest.
#[test]
fn chosen_texts_reach_the_target_with_fewer_labels_than_random_ones() {
    use bertweb::labeling::{Request, Strategy, suggest};
    let Some(p) = prepared(LabelMode::Binary) else {
        return;
    };
    // A pool with as many negative reviews as positive ones, so that accuracy says more than
    // the share of the larger class.
    const PER_CLASS: usize = 300;
    const TARGET: f64 = 0.65;
    const MOST: usize = 100;
    let dim = p.train.dim;
    let rows: Vec<usize> = (0..2)
        .flat_map(|class| {
            (0..p.dataset.train.len())
                .filter(move |&r| p.dataset.train[r].label == class)
                .take(PER_CLASS)
        })
        .collect();
    let vectors: Vec<f32> = rows
        .iter()
        .flat_map(|&r| p.train.values[r * dim..(r + 1) * dim].iter().copied())
        .collect();
    let truth: Vec<usize> = rows.iter().map(|&r| p.dataset.train[r].label).collect();
    let names = pollster::block_on(
        p.encoder
            .embed(&["negative", "positive"], Pooling::Mean, 55),
    )
    .unwrap();
    // Accuracy on the pool after each batch, from the first batch a head trains on.
    let curve = |strategy: Strategy| {
        let mut request = Request {
            labels: Vec::new(),
            skipped: Vec::new(),
            classes: 2,
            class_vectors: names.clone(),
            count: bertweb::labeling::BATCH,
            strategy,
            seed: 42,
        };
        let mut curve = Vec::new();
        while request.labels.len() <= MOST {
            let s = pollster::block_on(suggest(&vectors, dim, &request, &Device::flex())).unwrap();
            if !s.predicted.is_empty() {
                let right = s
                    .predicted
                    .iter()
                    .zip(&truth)
                    .filter(|(a, b)| a == b)
                    .count();
                curve.push((request.labels.len(), right as f64 / truth.len() as f64));
            }
            assert_eq!(s.rows.len(), bertweb::labeling::BATCH);
            request.labels.extend(s.rows.iter().map(|&r| (r, truth[r])));
        }
        eprintln!("{strategy:?}: {curve:?}");
        curve
    };
    let (smart, random) = (curve(Strategy::Smart), curve(Strategy::Random));
    let reached = |curve: &[(usize, f64)]| {
        curve
            .iter()
            .find(|(_, accuracy)| *accuracy >= TARGET)
            .map_or(usize::MAX, |&(labels, _)| labels)
    };
    // Over the same label counts: from 10 labels (random's first head may come later).
    let mean = |curve: &[(usize, f64)]| {
        let kept: Vec<f64> = curve
            .iter()
            .filter(|(n, _)| *n >= 10)
            .map(|&(_, a)| a)
            .collect();
        kept.iter().sum::<f64>() / kept.len() as f64
    };
    eprintln!(
        "labels to reach {TARGET}: chosen {}, random {}; mean accuracy from 10 to {MOST} labels: \
         chosen {:.3}, random {:.3}",
        reached(&smart),
        reached(&random),
        mean(&smart),
        mean(&random)
    );
    assert!(reached(&smart) < reached(&random));
    assert!(mean(&smart) > mean(&random));
}
