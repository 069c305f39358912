//! Fine-tuning the default model's top layers on the shared Amazon reviews, with the tutorial's
//! preprocessing and split: the in-browser headline, checked natively on the same code.

mod common;

use bertweb::classifier::Classifier;
use bertweb::data::{self, Settings};
use bertweb::finetune::{FineTuneSettings, FineTuner, Phase};
use bertweb::metrics::Report;
use burn::tensor::Device;
use common::{default_model, shared_data};

#[test]
fn top_two_layers_reach_test_auroc_095_and_the_file_reproduces_them() {
    let (Some(dir), Some(csv)) = (default_model(), shared_data()) else {
        return;
    };
    let dataset = data::load(&csv, &Settings::default()).unwrap();
    assert_eq!((dataset.train.len(), dataset.test.len()), (3446, 862));
    let encoder = common::load_encoder(&dir);
    let texts: Vec<String> = dataset.train.iter().map(|e| e.text.clone()).collect();
    let labels: Vec<usize> = dataset.train.iter().map(|e| e.label).collect();

    let start = std::time::Instant::now();
    let settings = FineTuneSettings::default();
    assert_eq!((settings.layers, settings.epochs), (2, 3));
    let mut tuner = FineTuner::new(&encoder, &texts, &labels, 2, settings).unwrap();
    assert!(
        tuner.caches(),
        "the tutorial split fits the default cache budget"
    );
    let mut cached_at = None;
    while !tuner.is_finished() {
        let step = pollster::block_on(tuner.step(&encoder)).unwrap();
        if step.phase != Phase::Caching && cached_at.is_none() {
            cached_at = Some(start.elapsed().as_secs_f64());
        }
        if let Some(r) = step.epoch_report {
            eprintln!(
                "epoch {} ({:.0} s): loss {:.4} acc {:.4} | val loss {:.4} acc {:.4} auroc {:.4}",
                r.epoch,
                start.elapsed().as_secs_f64(),
                r.train_loss,
                r.train_accuracy,
                r.val_loss,
                r.val_accuracy,
                r.val_auroc.unwrap_or(f64::NAN)
            );
        }
    }
    eprintln!(
        "caching {:.0} s, fine-tuning done in {:.0} s",
        cached_at.unwrap_or(0.0),
        start.elapsed().as_secs_f64()
    );
    let classifier = Classifier::from_fine_tuned(
        pollster::block_on(tuner.finish()).unwrap(),
        dataset.label_names,
    );
    let test_texts: Vec<String> = dataset.test.iter().map(|e| e.text.clone()).collect();
    let test_labels: Vec<usize> = dataset.test.iter().map(|e| e.label).collect();
    let probs = pollster::block_on(classifier.probabilities_all(&encoder, &test_texts, 64, |_| ()))
        .unwrap();
    let report = Report::new(&probs, 2, &test_labels).unwrap();
    eprintln!(
        "test: accuracy {:.4}, AUROC {:.4}, confusion {:?}",
        report.accuracy,
        report.auroc.unwrap_or(f64::NAN),
        report.confusion
    );
    assert!(report.auroc.unwrap() >= 0.95, "{report:?}");
    assert!(report.accuracy >= 0.92, "{report:?}");

    // The saved file, loaded again, gives the same probabilities.
    let loaded = Classifier::from_bytes(
        &pollster::block_on(classifier.to_bytes()).unwrap(),
        &Device::flex(),
    )
    .unwrap();
    let again =
        pollster::block_on(loaded.probabilities_all(&encoder, &test_texts, 64, |_| ())).unwrap();
    assert_eq!(again, probs);
}
