//! The encoder, tokenizer and weight loader reproduce Hugging Face `transformers` outputs
//! (fixtures from `scripts/make_fixtures.py`) on burn's flex CPU backend.

mod common;

use bertweb::classifier::Classifier;
use bertweb::{BertTokenizer, Encoder, Pooling};
use burn::tensor::Device;
use common::{Fixture, default_model, fixture, max_abs_diff, read};

/// Hugging Face's fp32 math and ours sum in different orders; 1e-4 is the bound and
/// leaves ~10× headroom over what we measure.
const TOLERANCE: f32 = 1e-4;

fn check_tokens(tokenizer: &BertTokenizer, fixture: &Fixture, vocab_file: bool) {
    for case in &fixture.cases {
        let expected = match (&case.input_ids_vocab, vocab_file) {
            (Some(ids), true) => ids,
            _ => &case.input_ids,
        };
        let ids = tokenizer.encode(&case.text, fixture.max_len).unwrap();
        assert_eq!(&ids, expected, "token ids of {:?}", case.text);
        assert_eq!(case.attention_mask.len(), ids.len());
    }
}

fn check_vectors(encoder: &Encoder, fixture: &Fixture, label: &str) {
    let texts: Vec<&str> = fixture.cases.iter().map(|c| c.text.as_str()).collect();
    let dim = encoder.dim();
    for pooling in [Pooling::Mean, Pooling::Pooler] {
        let got = pollster::block_on(encoder.embed(&texts, pooling, fixture.max_len)).unwrap();
        let mut worst = 0.0f32;
        for (case, row) in fixture.cases.iter().zip(got.chunks_exact(dim)) {
            let expected = match pooling {
                Pooling::Mean => &case.mean,
                Pooling::Pooler => &case.pooler,
            };
            let diff = max_abs_diff(row, expected);
            assert!(
                diff < TOLERANCE,
                "{label} {pooling:?} of {:?}: max abs diff {diff}",
                case.text
            );
            worst = worst.max(diff);
        }
        eprintln!(
            "{label} {pooling:?}: worst max abs diff {worst:e} over {} texts",
            texts.len()
        );
    }
}

#[test]
fn fixtures_cover_the_hard_cases() {
    let fixture = fixture("tests/fixtures/minilm.json");
    assert!(fixture.cases.len() >= 24);
    assert!(fixture.cases.iter().any(|c| c.text.is_empty()));
    assert!(fixture.cases.iter().any(|c| c.text.contains("<br />")));
    assert!(
        fixture
            .cases
            .iter()
            .any(|c| c.input_ids.len() == fixture.max_len)
    );
}

#[test]
fn tiny_tokenizer_matches_reference_from_json_and_vocab() {
    let fixture = fixture("tests/fixtures/tiny/expected.json");
    let json = BertTokenizer::from_bytes(&read("tests/fixtures/tiny/tokenizer.json")).unwrap();
    check_tokens(&json, &fixture, false);
    let vocab = BertTokenizer::from_bytes(&read("tests/fixtures/tiny/vocab.txt")).unwrap();
    check_tokens(&vocab, &fixture, true);
}

#[test]
fn tiny_model_matches_reference_in_every_key_layout_and_dtype() {
    let fixture = fixture("tests/fixtures/tiny/expected.json");
    let config = read("tests/fixtures/tiny/config.json");
    let tokenizer = read("tests/fixtures/tiny/tokenizer.json");
    for file in [
        "model.safetensors",
        "model-prefixed-f16.safetensors",
        "model-bf16.safetensors",
    ] {
        let weights = read(format!("tests/fixtures/tiny/{file}"));
        let encoder = Encoder::load(&config, &weights, &tokenizer, &Device::flex()).unwrap();
        check_vectors(&encoder, &fixture, file);
    }
}

#[test]
fn default_model_tokenizer_matches_reference_from_json_and_vocab() {
    let Some(dir) = default_model() else { return };
    let fixture = fixture("tests/fixtures/minilm.json");
    let json = BertTokenizer::from_bytes(&read(dir.join("tokenizer.json"))).unwrap();
    check_tokens(&json, &fixture, false);
    let vocab = BertTokenizer::from_bytes(&read(dir.join("vocab.txt"))).unwrap();
    check_tokens(&vocab, &fixture, true);
}

#[test]
fn default_model_matches_reference() {
    let Some(dir) = default_model() else { return };
    let fixture = fixture("tests/fixtures/minilm.json");
    let encoder = common::load_encoder(&dir);
    assert_eq!(encoder.dim(), 384);
    check_vectors(&encoder, &fixture, "all-MiniLM-L6-v2");
}

#[test]
fn one_text_alone_equals_the_same_text_in_a_padded_batch() {
    let config = read("tests/fixtures/tiny/config.json");
    let weights = read("tests/fixtures/tiny/model.safetensors");
    let tokenizer = read("tests/fixtures/tiny/tokenizer.json");
    let encoder = Encoder::load(&config, &weights, &tokenizer, &Device::flex()).unwrap();
    let short = "good";
    let long = "this tea is very good and i would buy it again for my family";
    let alone = pollster::block_on(encoder.embed(&[short], Pooling::Mean, 55)).unwrap();
    let batch = pollster::block_on(encoder.embed(&[long, short], Pooling::Mean, 55)).unwrap();
    assert!(max_abs_diff(&alone, &batch[encoder.dim()..]) < 1e-5);
}

/// `tests/fixtures/tiny-cls/`: tiny random `BertForSequenceClassification` folders and
/// transformers' logits and probabilities for their texts.
fn sequence_classifier_fixture() -> serde_json::Value {
    serde_json::from_slice(&read("tests/fixtures/tiny-cls/expected.json")).unwrap()
}

fn numbers(value: &serde_json::Value) -> Vec<f32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect()
}

/// Loads a folder's encoder and classifier and checks its probabilities for the fixture's
/// texts against `expected(case)`.
fn check_sequence_classifier(
    config: &[u8],
    weights: &[u8],
    labels: &[&str],
    expected: impl Fn(&serde_json::Value) -> Vec<f32>,
    what: &str,
) {
    let fixture = sequence_classifier_fixture();
    let max_len = fixture["max_len"].as_u64().unwrap() as usize;
    let tokenizer = read("tests/fixtures/tiny-cls/single/tokenizer.json");
    let encoder = Encoder::load(config, weights, &tokenizer, &Device::flex()).unwrap();
    let classifier = Classifier::from_hugging_face(config, weights, &encoder, max_len)
        .unwrap()
        .expect("the folder has a classifier");
    assert_eq!(classifier.meta.label_names, labels, "{what}");
    // Through the classifier file, as the page keeps it.
    let bytes = pollster::block_on(classifier.to_bytes()).unwrap();
    let classifier = Classifier::from_bytes(&bytes, &Device::flex()).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    let texts: Vec<&str> = cases.iter().map(|c| c["text"].as_str().unwrap()).collect();
    let probs = pollster::block_on(classifier.probabilities(&encoder, &texts)).unwrap();
    let mut worst = 0.0f32;
    for (case, prediction) in cases.iter().zip(classifier.predictions(&probs)) {
        let want = expected(case);
        let diff = max_abs_diff(&prediction.probabilities, &want);
        assert!(diff < TOLERANCE, "{what} {:?}: {diff}", case["text"]);
        worst = worst.max(diff);
    }
    eprintln!(
        "{what}: worst max abs diff {worst:e} over {} texts",
        texts.len()
    );
}

#[test]
fn hugging_face_sequence_classifiers_give_transformers_probabilities() {
    let dir = "tests/fixtures/tiny-cls";
    let single = |case: &serde_json::Value| numbers(&case["single"]["probs"]);
    let labels = ["negative", "neutral", "positive"];
    let config = read(format!("{dir}/single/config.json"));
    for weights in ["model.safetensors", "model-bare.safetensors"] {
        let weights = read(format!("{dir}/single/{weights}"));
        check_sequence_classifier(&config, &weights, &labels, single, "single-label");
    }
    let multi = |case: &serde_json::Value| numbers(&case["multi"]["probs"]);
    check_sequence_classifier(
        &read(format!("{dir}/multi/config.json")),
        &read(format!("{dir}/multi/model.safetensors")),
        &["sports", "politics", "tech", "food"],
        multi,
        "multi-label",
    );

    // Two labels: the single-label folder without its "neutral" row. Its softmax over two
    // logits becomes one sigmoid output, as every binary head here has.
    let weights = read(format!("{dir}/single/model.safetensors"));
    let tensors = safetensors::SafeTensors::deserialize(&weights).unwrap();
    let kept: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let (shape, data) = (view.shape().to_vec(), view.data());
            let row = data.len() / shape[0];
            match name.as_str() {
                "classifier.weight" | "classifier.bias" => {
                    let mut two = data[..row].to_vec();
                    two.extend_from_slice(&data[2 * row..]);
                    let mut shape = shape;
                    shape[0] = 2;
                    (name, shape, two)
                }
                _ => (name, shape, data.to_vec()),
            }
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = kept
        .iter()
        .map(|(n, s, d)| {
            let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d);
            (n.clone(), view.unwrap())
        })
        .collect();
    let two_weights = safetensors::serialize(views, None).unwrap();
    let mut two_config: serde_json::Value = serde_json::from_slice(&config).unwrap();
    two_config["id2label"] = serde_json::json!({"0": "negative", "1": "positive"});
    let two = |case: &serde_json::Value| {
        let logits = numbers(&case["single"]["logits"]);
        let p = 1.0 / (1.0 + (logits[0] - logits[2]).exp());
        vec![1.0 - p, p]
    };
    check_sequence_classifier(
        two_config.to_string().as_bytes(),
        &two_weights,
        &["negative", "positive"],
        two,
        "two labels",
    );

    // An encoder-only folder has none; a regression head or labels that do not match the
    // weights are named errors.
    let (tiny_config, tiny_weights, tiny_tokenizer) = (
        read("tests/fixtures/tiny/config.json"),
        read("tests/fixtures/tiny/model.safetensors"),
        read("tests/fixtures/tiny/tokenizer.json"),
    );
    let tiny = Encoder::load(
        &tiny_config,
        &tiny_weights,
        &tiny_tokenizer,
        &Device::flex(),
    )
    .unwrap();
    assert!(
        Classifier::from_hugging_face(&tiny_config, &tiny_weights, &tiny, 55)
            .unwrap()
            .is_none()
    );
    let tokenizer = read(format!("{dir}/single/tokenizer.json"));
    let encoder = Encoder::load(&config, &weights, &tokenizer, &Device::flex()).unwrap();
    for (edit, expected) in [
        (
            serde_json::json!({"problem_type": "regression"}),
            "regression",
        ),
        (
            serde_json::json!({"id2label": {"0": "a", "1": "b"}}),
            "id2label names 2 labels",
        ),
        (
            serde_json::json!({"id2label": {"0": "a", "1": "b", "7": "c"}}),
            "no label 2",
        ),
    ] {
        let mut bad: serde_json::Value = serde_json::from_slice(&config).unwrap();
        for (key, value) in edit.as_object().unwrap() {
            bad[key] = value.clone();
        }
        let err = Classifier::from_hugging_face(bad.to_string().as_bytes(), &weights, &encoder, 55)
            .err()
            .expect("refused");
        assert_eq!(err.kind(), bertweb::ErrorKind::ModelFile, "{err}");
        assert!(err.to_string().contains(expected), "{expected}: {err}");
    }
}
