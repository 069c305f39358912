//! Every bad input a user can hand us gives its typed error, naming what is wrong.

mod common;

use std::collections::HashMap;

use bertweb::classifier::Classifier;
use bertweb::features::{FeatureSettings, Features};
use bertweb::finetune::{FineTuneSettings, FineTuner};
use bertweb::train::{Plateau, Preset, TrainSettings, Trainer};
use bertweb::{BertError, BertTokenizer, Encoder, ErrorKind, Pooling, data};
use burn::tensor::Device;
use common::{
    edit_meta, f32_bytes, features_file, poke_f32, read, tiny_encoder, tiny_files, tuned_file,
};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde_json::{Value, json};

/// One line of the table of bad inputs and the errors they get, which
/// `cargo test --test errors -- --nocapture --test-threads 1` prints.
fn row(what: &str, err: &BertError) {
    let message = err.to_string().replace('|', "\\|").replace('\n', " ");
    println!("| {what} | {:?} | {message} |", err.kind());
}

fn load_err(config: &[u8], weights: &[u8], tokenizer: &[u8]) -> BertError {
    match Encoder::load(config, weights, tokenizer, &Device::flex()) {
        Ok(_) => panic!("loading should fail"),
        Err(e) => e,
    }
}

/// Rewrites the tiny model's safetensors, replacing or dropping tensors.
fn edited_weights(edit: impl Fn(&str) -> Option<Option<(Vec<usize>, Vec<u8>)>>) -> Vec<u8> {
    let original = read("tests/fixtures/tiny/model.safetensors");
    let tensors = SafeTensors::deserialize(&original).unwrap();
    let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, view) in tensors.tensors() {
        match edit(&name) {
            None => owned.push((
                name,
                view.dtype(),
                view.shape().to_vec(),
                view.data().to_vec(),
            )),
            Some(None) => {}
            Some(Some((shape, data))) => owned.push((name, Dtype::F32, shape, data)),
        }
    }
    let views: HashMap<String, TensorView> = owned
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize(&views, None).unwrap()
}

#[test]
fn truncated_safetensors_is_a_format_error() {
    let (config, weights, tokenizer) = tiny_files();
    for cut in [0, 7, 100, weights.len() / 2, weights.len() - 1] {
        let err = load_err(&config, &weights[..cut], &tokenizer);
        row(&format!("model.safetensors cut at byte {cut}"), &err);
        assert!(
            matches!(err, BertError::WeightsFormat(_)),
            "cut at {cut}: {err}"
        );
    }
}

#[test]
fn misshaped_tensor_names_tensor_expected_and_found_shape() {
    let (config, _, tokenizer) = tiny_files();
    let name = "encoder.layer.1.attention.self.query.weight";
    let weights =
        edited_weights(|n| (n == name).then(|| Some((vec![32, 16], vec![0u8; 32 * 16 * 4]))));
    let err = load_err(&config, &weights, &tokenizer);
    match &err {
        BertError::TensorShape {
            name: n,
            expected,
            found,
        } => {
            assert_eq!(n, name);
            assert_eq!(expected, &vec![32, 32]);
            assert_eq!(found, &vec![32, 16]);
        }
        other => panic!("expected a shape error, got {other}"),
    }
    let message = err.to_string();
    assert!(message.contains(name) && message.contains("[32, 16]") && message.contains("[32, 32]"));
}

#[test]
fn missing_tensor_is_named() {
    let (config, _, tokenizer) = tiny_files();
    let weights = edited_weights(|n| (n == "encoder.layer.0.output.dense.bias").then_some(None));
    let err = load_err(&config, &weights, &tokenizer);
    assert!(
        matches!(&err, BertError::MissingTensor(n) if n == "encoder.layer.0.output.dense.bias"),
        "{err}"
    );
}

#[test]
fn config_that_is_not_json_or_not_bert_is_refused() {
    let (_, weights, tokenizer) = tiny_files();
    let err = load_err(b"not json at all", &weights, &tokenizer);
    assert!(matches!(err, BertError::ConfigJson(_)), "{err}");
    let gpt2 = br#"{"model_type": "gpt2", "vocab_size": 50257, "hidden_size": 768,
        "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
        "max_position_embeddings": 1024}"#;
    let err = load_err(gpt2, &weights, &tokenizer);
    assert!(
        matches!(&err, BertError::NotBert(t) if t == "gpt2"),
        "{err}"
    );
    let err = load_err(br#"{"model_type": "bert"}"#, &weights, &tokenizer);
    assert!(matches!(err, BertError::ConfigJson(_)), "{err}");
}

#[test]
fn tokenizer_that_is_not_a_tokenizer_is_refused() {
    let (config, weights, _) = tiny_files();
    for bad in [
        &b"{\"this\": \"is json but no tokenizer\"}"[..],
        &b"just some words\nwithout the special tokens\n"[..],
        &[0xff, 0xfe, 0x00, 0x81][..],
    ] {
        let err = load_err(&config, &weights, bad);
        assert!(matches!(err, BertError::Tokenizer(_)), "{err}");
    }
    let weights_as_tokenizer = read("tests/fixtures/tiny/model.safetensors");
    assert!(BertTokenizer::from_bytes(&weights_as_tokenizer).is_err());
}

#[test]
fn empty_batch_and_bad_lengths_are_refused() {
    let (config, weights, tokenizer) = tiny_files();
    let encoder = Encoder::load(&config, &weights, &tokenizer, &Device::flex()).unwrap();
    let none: [&str; 0] = [];
    let err = pollster::block_on(encoder.embed(&none, Pooling::Mean, 55)).unwrap_err();
    assert!(matches!(err, BertError::EmptyBatch), "{err}");
    for max_len in [0, 1, 65] {
        let err = pollster::block_on(encoder.embed(&["x"], Pooling::Mean, max_len)).unwrap_err();
        assert!(matches!(err, BertError::MaxLen { limit: 64, .. }), "{err}");
    }
    assert!(matches!(Pooling::parse("max"), Err(BertError::Pooling(_))));
}

#[test]
fn checkpoint_without_pooler_embeds_mean_but_refuses_pooler() {
    let (config, _, tokenizer) = tiny_files();
    let weights = edited_weights(|n| n.starts_with("pooler.").then_some(None));
    let encoder = Encoder::load(&config, &weights, &tokenizer, &Device::flex()).unwrap();
    assert!(pollster::block_on(encoder.embed(&["fine"], Pooling::Mean, 55)).is_ok());
    let err = pollster::block_on(encoder.embed(&["fine"], Pooling::Pooler, 55)).unwrap_err();
    assert!(matches!(err, BertError::NoPooler), "{err}");
}

/// The page decides what to do from an error's kind (its JS `name`), never from its words:
/// each kind of bad input gives its kind.
#[test]
fn every_error_has_the_kind_the_page_acts_on() {
    let (config, weights, tokenizer) = tiny_files();
    let device = Device::flex();
    let model_file = [
        load_err(&config, &weights[..100], &tokenizer),
        load_err(b"not json", &weights, &tokenizer),
        load_err(&config, &weights, b"just some words"),
        load_err(br#"{"model_type": "gpt2"}"#, &weights, &tokenizer),
    ];
    for err in model_file {
        assert_eq!(err.kind(), ErrorKind::ModelFile, "{err}");
    }

    let encoder = Encoder::load(&config, &weights, &tokenizer, &device).unwrap();
    let settings = [
        pollster::block_on(encoder.embed(&["x"], Pooling::Mean, 0)).unwrap_err(),
        Pooling::parse("max").unwrap_err(),
        Preset::parse("best").unwrap_err(),
    ];
    for err in settings {
        assert_eq!(err.kind(), ErrorKind::Settings, "{err}");
    }
    let none: [&str; 0] = [];
    let err = pollster::block_on(encoder.embed(&none, Pooling::Mean, 55)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Data, "{err}");
    let err = data::load(b"", &data::Settings::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Data, "{err}");

    let not_ours = [
        Classifier::from_bytes(b"these are not a classifier's bytes", &device)
            .err()
            .expect("random bytes are not a classifier"),
        Features::from_bytes(b"nor a features file").unwrap_err(),
    ];
    for err in not_ours {
        assert_eq!(err.kind(), ErrorKind::Classifier, "{err}");
    }
    let classifier =
        Classifier::from_bytes(&read("classifiers/default-minilm.safetensors"), &device).unwrap();
    let err = classifier.check_base(encoder.model_id()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Classifier, "{err}");
}

/// The names the page types `Error.name` with: one per kind, all different.
#[test]
fn error_kind_names_are_distinct() {
    let names: std::collections::HashSet<_> = ErrorKind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(names.len(), ErrorKind::ALL.len());
    assert!(names.iter().all(|n| n.ends_with("Error")));
}

// ---------------------------------------------------------------------------------------------
// No file can break the page: every classifier, tokenizer, weights, features file and setting
// below crashed (or would allocate without bound) before it was validated; each now gives its
// named error, of the kind the page acts on, and what was loaded before keeps working.

/// Separable random features of width `dim`, with labels alternating 0, 1.
fn separable(dim: usize) -> (Vec<f32>, Vec<usize>) {
    common::labelled_rows(3, 40, dim, 2, |l, _, u| {
        let shift = if l == 1 { 1.0 } else { -1.0 };
        shift + u - 0.5
    })
}

fn quick_settings() -> TrainSettings {
    let mut settings = TrainSettings::preset(Preset::Default);
    settings.hidden = vec![8];
    settings.epochs = 2;
    settings
}

/// A head trained on random features of width `dim`, as a file claiming `model_id`.
fn quick_head(dim: usize, model_id: &str) -> Vec<u8> {
    common::head_file(
        &separable(dim),
        dim,
        vec!["negative".into(), "positive".into()],
        model_id,
        quick_settings(),
        FeatureSettings::default(),
    )
}

fn classifier_err(bytes: &[u8]) -> BertError {
    match Classifier::from_bytes(bytes, &Device::flex()) {
        Ok(_) => panic!("the classifier file should be refused"),
        Err(e) => e,
    }
}

#[test]
fn classifier_metadata_that_cannot_work_is_refused_before_anything_is_built() {
    let encoder = tiny_encoder();
    let good = quick_head(encoder.dim(), encoder.model_id());
    let classifier = Classifier::from_bytes(&good, &Device::flex()).unwrap();
    let texts = ["great coffee", "stale and bad"];
    let before = pollster::block_on(classifier.classify(&encoder, &texts)).unwrap();

    type Edit = fn(&mut Value);
    let cases: [(&str, Edit, &str); 14] = [
        (
            "empty standardizer",
            |m| m["standardizer"]["mean"] = json!([]),
            "standardizer",
        ),
        (
            "standardizer of the wrong length",
            |m| {
                m["standardizer"]["scale"].as_array_mut().unwrap().pop();
            },
            "standardizer",
        ),
        (
            "a zero scale",
            |m| m["standardizer"]["scale"][3] = json!(0.0),
            "standardizer",
        ),
        (
            "more label names than classes",
            |m| {
                m["label_names"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("neutral"));
            },
            "3 labels for 2 classes",
        ),
        (
            "dropout 1",
            |m| m["shape"]["dropout"] = json!(1.0),
            "dropout",
        ),
        (
            "dropout 1.5",
            |m| m["shape"]["dropout"] = json!(1.5),
            "dropout",
        ),
        (
            "negative dropout",
            |m| m["shape"]["dropout"] = json!(-0.1),
            "dropout",
        ),
        (
            "a huge hidden width",
            |m| m["shape"]["hidden"] = json!([1u64 << 40]),
            "width",
        ),
        (
            "a hidden width of 0",
            |m| m["shape"]["hidden"] = json!([0]),
            "width",
        ),
        (
            "a huge input width",
            |m| m["shape"]["input"] = json!(1u64 << 40),
            "input width",
        ),
        ("one class", |m| m["shape"]["classes"] = json!(1), "classes"),
        (
            "a million classes",
            |m| m["shape"]["classes"] = json!(1_000_000),
            "classes",
        ),
        (
            "max length 1",
            |m| m["features"]["max_len"] = json!(1),
            "max length",
        ),
        (
            "more parameters than tensors",
            |m| m["shape"]["hidden"] = json!([4000]),
            "parameters",
        ),
    ];
    for (what, edit, expected) in cases {
        let err = classifier_err(&edit_meta(&good, edit));
        row(&format!("classifier file: {what}"), &err);
        assert!(matches!(err, BertError::InvalidFile(_)), "{what}: {err}");
        assert_eq!(err.kind(), ErrorKind::Classifier, "{what}: {err}");
        assert!(err.to_string().contains(expected), "{what}: {err}");
        assert!(
            err.to_string()
                .starts_with("this classifier file is damaged"),
            "{what}: {err}"
        );
    }

    // What was loaded before still works.
    let after = pollster::block_on(classifier.classify(&encoder, &texts)).unwrap();
    assert_eq!(before, after);
}

#[test]
fn classifier_tensors_that_are_not_finite_are_refused() {
    let encoder = tiny_encoder();
    let good = quick_head(encoder.dim(), encoder.model_id());
    for value in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        for tensor in ["hidden.0.weight", "output.bias"] {
            let err = classifier_err(&poke_f32(&good, tensor, value));
            row(&format!("classifier file: {value} in {tensor}"), &err);
            assert!(matches!(err, BertError::InvalidFile(_)), "{err}");
            assert_eq!(err.kind(), ErrorKind::Classifier, "{err}");
            assert!(err.to_string().contains(tensor), "{err}");
            assert!(err.to_string().contains("NaN or infinite"), "{err}");
        }
    }
    assert!(Classifier::from_bytes(&good, &Device::flex()).is_ok());
}

#[test]
fn a_classifier_must_fit_the_encoder_it_meets() {
    let encoder = tiny_encoder();
    let texts = ["good", "bad"];
    // A consistent file of another width that names the loaded model: burn's shape check
    // panicked in the head.
    let narrow = Classifier::from_bytes(&quick_head(16, encoder.model_id()), &Device::flex())
        .expect("the file itself is fine");
    let err = narrow.check_fits(&encoder).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Classifier, "{err}");
    assert!(err.to_string().contains("vectors of 16 numbers"), "{err}");
    for err in [
        pollster::block_on(narrow.classify(&encoder, &texts)).unwrap_err(),
        pollster::block_on(narrow.probabilities(&encoder, &texts)).unwrap_err(),
        pollster::block_on(narrow.probabilities_all(&encoder, &texts, 8, |_| {})).unwrap_err(),
    ] {
        assert!(matches!(err, BertError::Incompatible(_)), "{err}");
    }
    // Longer than the model's 64 positions.
    let good = quick_head(encoder.dim(), encoder.model_id());
    let long = edit_meta(&good, |m| m["features"]["max_len"] = json!(100));
    let long = Classifier::from_bytes(&long, &Device::flex()).unwrap();
    let err = pollster::block_on(long.classify(&encoder, &texts)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Classifier, "{err}");
    assert!(
        err.to_string().contains("past the model's 64 positions"),
        "{err}"
    );
    // Another model altogether.
    let other = Classifier::from_bytes(&quick_head(encoder.dim(), "bert-2x32-0"), &Device::flex());
    let err = other.unwrap().check_fits(&encoder).unwrap_err();
    assert!(
        err.to_string()
            .contains("load the model it was trained with"),
        "{err}"
    );
}

#[test]
fn fine_tuned_classifiers_are_checked_against_themselves_and_the_encoder() {
    let encoder = tiny_encoder();
    let good = tuned_file(&encoder, "coffee", 12, 1, Pooling::Mean);
    let classifier = Classifier::from_bytes(&good, &Device::flex()).unwrap();
    let texts = ["good coffee", "bad coffee"];
    let before = pollster::block_on(classifier.classify(&encoder, &texts)).unwrap();

    // Layers past the encoder's: the slice of lower layers panicked.
    for first_layer in [0, 5] {
        let file = edit_meta(&good, |m| {
            m["fine_tune"]["first_layer"] = json!(first_layer)
        });
        let past = Classifier::from_bytes(&file, &Device::flex()).unwrap();
        let err = pollster::block_on(past.classify(&encoder, &texts)).unwrap_err();
        assert!(matches!(err, BertError::Incompatible(_)), "{err}");
        assert_eq!(err.kind(), ErrorKind::Classifier, "{err}");
        assert!(err.to_string().contains("of a model with 2"), "{err}");
    }
    // Another layer geometry than the model's.
    let file = edit_meta(&good, |m| {
        m["fine_tune"]["layer_shape"]["layer_norm_eps"] = json!(1e-5)
    });
    let other = Classifier::from_bytes(&file, &Device::flex()).unwrap();
    let err = pollster::block_on(other.probabilities(&encoder, &texts)).unwrap_err();
    assert!(err.to_string().contains("its layers are"), "{err}");

    type Edit = fn(&mut Value);
    let cases: [(&str, Edit, &str); 7] = [
        (
            "first layer past any model",
            |m| m["fine_tune"]["first_layer"] = json!(u64::MAX),
            "past any model",
        ),
        (
            "heads that do not divide the width",
            |m| m["fine_tune"]["layer_shape"]["heads"] = json!(5),
            "heads",
        ),
        (
            "no heads",
            |m| m["fine_tune"]["layer_shape"]["heads"] = json!(0),
            "heads",
        ),
        (
            "a huge feed-forward block",
            |m| m["fine_tune"]["layer_shape"]["intermediate"] = json!(1u64 << 40),
            "intermediate",
        ),
        (
            "an unknown activation",
            |m| m["fine_tune"]["layer_shape"]["activation"] = json!(9),
            "activation",
        ),
        (
            "a zero LayerNorm epsilon",
            |m| m["fine_tune"]["layer_shape"]["layer_norm_eps"] = json!(0.0),
            "layer_norm_eps",
        ),
        (
            "feature settings unlike the fine-tuning's",
            |m| m["features"]["max_len"] = json!(20),
            "feature settings",
        ),
    ];
    for (what, edit, expected) in cases {
        let err = classifier_err(&edit_meta(&good, edit));
        row(&format!("classifier file: {what}"), &err);
        assert!(matches!(err, BertError::InvalidFile(_)), "{what}: {err}");
        assert_eq!(err.kind(), ErrorKind::Classifier, "{what}: {err}");
        assert!(err.to_string().contains(expected), "{what}: {err}");
    }
    let err = classifier_err(&poke_f32(&good, "layer_norm.gamma", f32::NAN));
    assert!(err.to_string().contains("NaN or infinite"), "{err}");

    let after = pollster::block_on(classifier.classify(&encoder, &texts)).unwrap();
    assert_eq!(before, after);
}

#[test]
fn tokenizers_other_than_bert_wordpiece_are_refused_by_name() {
    let (config, weights, tokenizer) = tiny_files();
    let encoder = tiny_encoder();
    let before = pollster::block_on(encoder.embed(&["fine"], Pooling::Mean, 16)).unwrap();
    let tiny: Value = serde_json::from_slice(&tokenizer).unwrap();
    let vocab = json!({"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "[PAD]": 3, "a": 4, "b": 5, "ab": 6});
    let bpe = |prefix: Value| {
        json!({
            "version": "1.0",
            "model": {
                "type": "BPE", "vocab": vocab, "merges": ["a b"], "unk_token": "[UNK]",
                "continuing_subword_prefix": prefix, "end_of_word_suffix": null,
                "dropout": null, "fuse_unk": false, "byte_fallback": false
            }
        })
    };
    let with_model = |model: Value| {
        let mut t = tiny.clone();
        t["model"] = model;
        t
    };
    let with = |key: &str, value: Value| {
        let mut t = tiny.clone();
        t[key] = value;
        t
    };
    let mut untyped = tiny["model"].clone();
    untyped.as_object_mut().unwrap().remove("type");
    let mut unk_elsewhere = tiny["model"].clone();
    unk_elsewhere["unk_token"] = json!("<unk>");
    let cases = [
        // `tokenizers` panicked building this one (a merge shorter than the prefix).
        (bpe(json!("##")), "BPE tokenizer"),
        (bpe(Value::Null), "BPE tokenizer"),
        (
            with_model(json!({"type": "Unigram", "unk_id": 0, "vocab": [["[UNK]", 0.0]]})),
            "Unigram tokenizer",
        ),
        (
            with_model(json!({"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"})),
            "WordLevel tokenizer",
        ),
        (with_model(untyped), "no type"),
        (with_model(unk_elsewhere), "<unk> is not in its vocabulary"),
        (
            with(
                "normalizer",
                json!({"type": "Precompiled", "precompiled_charsmap": "AAAA"}),
            ),
            "Precompiled normalizer",
        ),
        (
            with(
                "normalizer",
                json!({"type": "Sequence", "normalizers": [{"type": "Lowercase"}, {"type": "Precompiled"}]}),
            ),
            "Precompiled normalizer",
        ),
        (
            with(
                "pre_tokenizer",
                json!({"type": "ByteLevel", "add_prefix_space": false}),
            ),
            "ByteLevel pre-tokenizer",
        ),
    ];
    for (json, expected) in cases {
        let err = load_err(&config, &weights, json.to_string().as_bytes());
        row(&format!("tokenizer.json: {expected}"), &err);
        assert!(matches!(err, BertError::Tokenizer(_)), "{expected}: {err}");
        assert_eq!(err.kind(), ErrorKind::ModelFile, "{err}");
        assert!(err.to_string().contains(expected), "{expected}: {err}");
    }
    // Its own post-processor, decoder, padding and truncation are not used: a file whose
    // post-processor would fail still tokenizes.
    let odd = with(
        "post_processor",
        json!({"type": "ByteLevel", "trim_offsets": true}),
    );
    let odd = BertTokenizer::from_bytes(odd.to_string().as_bytes()).unwrap();
    assert_eq!(
        odd.encode("good coffee", 16).unwrap(),
        encoder.tokenizer().encode("good coffee", 16).unwrap()
    );
    let after = pollster::block_on(encoder.embed(&["fine"], Pooling::Mean, 16)).unwrap();
    assert_eq!(before, after);
}

#[test]
fn weights_that_are_not_finite_are_named() {
    let (config, weights, tokenizer) = tiny_files();
    let encoder = tiny_encoder();
    let name = "encoder.layer.1.attention.self.query.weight";
    for value in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let damaged = poke_f32(&weights, name, value);
        let err = load_err(&config, &damaged, &tokenizer);
        row(&format!("model weights: {value} in {name}"), &err);
        assert!(
            matches!(&err, BertError::TensorNotFinite(n) if n == name),
            "{err}"
        );
        assert_eq!(err.kind(), ErrorKind::ModelFile, "{err}");
        assert!(err.to_string().contains(name), "{err}");
    }
    assert!(pollster::block_on(encoder.embed(&["still fine"], Pooling::Mean, 16)).is_ok());
}

#[test]
fn config_sizes_no_bert_has_are_refused_before_allocating() {
    let (config, weights, tokenizer) = tiny_files();
    let config: Value = serde_json::from_slice(&config).unwrap();
    let cases = [
        ("hidden_size", json!(1u64 << 40), "hidden size"),
        ("num_attention_heads", json!(1u64 << 40), "heads"),
        (
            "num_hidden_layers",
            json!(1_000_000_000),
            "num_hidden_layers",
        ),
        ("vocab_size", json!(1u64 << 40), "vocab_size"),
        (
            "max_position_embeddings",
            json!(1u64 << 40),
            "max_position_embeddings",
        ),
        ("intermediate_size", json!(1u64 << 40), "intermediate size"),
        ("type_vocab_size", json!(100_000), "type_vocab_size"),
        ("layer_norm_eps", json!(-1.0), "layer_norm_eps"),
        ("layer_norm_eps", json!(0.0), "layer_norm_eps"),
    ];
    for (field, value, expected) in cases {
        let mut bad = config.clone();
        bad[field] = value;
        if field == "hidden_size" {
            bad["num_attention_heads"] = json!(1);
        }
        let err = load_err(bad.to_string().as_bytes(), &weights, &tokenizer);
        row(&format!("config.json: {field} {}", bad[field]), &err);
        assert!(matches!(err, BertError::ConfigInvalid(_)), "{field}: {err}");
        assert_eq!(err.kind(), ErrorKind::ModelFile, "{err}");
        assert!(err.to_string().contains(expected), "{field}: {err}");
    }
}

#[test]
fn features_files_are_checked_before_allocating() {
    let header = |rows: u64, dim: u64, max_len: u64| {
        json!({"model_id": "m", "settings": {"pooling": "mean", "max_len": max_len},
               "dim": dim, "rows": rows})
        .to_string()
        .into_bytes()
    };
    let good = features_file(&header(2, 2, 55), &f32_bytes(&[1.0, 2.0, 3.0, 4.0]));
    assert_eq!(
        Features::from_bytes(&good).unwrap().values,
        [1.0, 2.0, 3.0, 4.0]
    );
    let cases = [
        // rows × dim × 4 overflowed (a panic with overflow checks, a wrong check without).
        (features_file(&header(1 << 62, 4, 55), &[]), "data length"),
        (features_file(&header(u64::MAX, u64::MAX, 55), &[]), "wide"),
        // Width 0 divided by zero in the trainer's standardizer.
        (features_file(&header(0, 0, 55), &[]), "wide"),
        (features_file(&header(0, 2, 55), &[]), "no rows"),
        (
            features_file(&header(2, 2, 0), &f32_bytes(&[0.0; 4])),
            "max length",
        ),
        (
            features_file(&header(2, 2, 55), &f32_bytes(&[1.0, f32::NAN, 3.0, 4.0])),
            "row 0",
        ),
        (
            features_file(
                &header(2, 2, 55),
                &f32_bytes(&[1.0, 2.0, 3.0, f32::INFINITY]),
            ),
            "row 1",
        ),
        (
            features_file(&header(2, 2, 55), &f32_bytes(&[1.0, 2.0, 3.0])),
            "data length",
        ),
    ];
    for (bytes, expected) in cases {
        let err = Features::from_bytes(&bytes).unwrap_err();
        row(&format!("features file: {expected}"), &err);
        assert_eq!(err.kind(), ErrorKind::Classifier, "{err}");
        assert!(err.to_string().contains(expected), "{expected}: {err}");
    }
}

#[test]
fn training_settings_that_would_panic_are_settings_errors() {
    let (features, labels) = separable(4);
    let device = Device::flex();
    type Edit = fn(&mut TrainSettings);
    let cases: [(Edit, &str); 14] = [
        (|s| s.l2 = vec![], "L2 penalties"),
        (|s| s.l2 = vec![-1.0], "L2 penalty"),
        (|s| s.l2 = vec![f64::NAN], "L2 penalty"),
        (|s| s.dropout = 1.0, "dropout"),
        (|s| s.dropout = f64::NAN, "dropout"),
        (|s| s.hidden = vec![0], "width 0"),
        (|s| s.hidden = vec![1 << 40], "width"),
        (|s| s.hidden = vec![8; 100], "hidden layers"),
        (|s| s.batch_size = 0, "batch size"),
        (|s| s.epochs = 0, "epochs"),
        (|s| s.learning_rate = f64::INFINITY, "learning rate"),
        (|s| s.validation_fraction = 1.0, "validation fraction"),
        (|s| s.validation_fraction = f64::NAN, "validation fraction"),
        (
            |s| {
                s.plateau = Some(Plateau {
                    factor: 1.5,
                    patience: 2,
                    min_lr: 0.0,
                })
            },
            "plateau factor",
        ),
    ];
    for (edit, expected) in cases {
        let mut settings = quick_settings();
        edit(&mut settings);
        let err = settings.validate().unwrap_err();
        row(&format!("head training settings: {expected}"), &err);
        assert!(matches!(err, BertError::Settings(_)), "{err}");
        assert!(err.to_string().contains(expected), "{expected}: {err}");
        let err = Trainer::new(&features, 4, &labels, 2, settings, &device)
            .err()
            .expect("the trainer validates its settings");
        assert_eq!(err.kind(), ErrorKind::Settings, "{err}");
    }
    for preset in Preset::ALL {
        TrainSettings::preset(preset).validate().unwrap();
    }
    // Width 0 and labels past the classes are data errors.
    let err = Trainer::new(&[], 0, &[0, 1], 2, quick_settings(), &device)
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::Data, "{err}");
    let err = Trainer::new(&features, 4, &labels, 1, quick_settings(), &device)
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::Data, "{err}");
}

#[test]
fn fine_tuning_settings_out_of_range_are_settings_errors() {
    let encoder = tiny_encoder();
    let texts: Vec<String> = (0..8).map(|i| format!("text {i}")).collect();
    let labels: Vec<usize> = (0..8).map(|i| i % 2).collect();
    type Edit = fn(&mut FineTuneSettings);
    let cases: [(Edit, &str); 12] = [
        (|s| s.encoder_lr = 0.0, "encoder learning rate"),
        (|s| s.head_lr = f64::NAN, "head learning rate"),
        (|s| s.head_lr = 1e300, "head learning rate"),
        (|s| s.weight_decay = -0.1, "weight decay"),
        (|s| s.weight_decay = f64::INFINITY, "weight decay"),
        (|s| s.max_grad_norm = Some(0.0), "gradient norm"),
        (|s| s.batch_size = 0, "batch size"),
        (|s| s.epochs = 0, "epochs"),
        (|s| s.validation_fraction = 1.0, "validation fraction"),
        (|s| s.warmup_fraction = 1.0, "warm-up fraction"),
        (|s| s.max_len = 1, "max length"),
        (|s| s.layers = 1 << 40, "layers"),
    ];
    for (edit, expected) in cases {
        let mut settings = FineTuneSettings::default();
        edit(&mut settings);
        let err = settings.validate().unwrap_err();
        row(&format!("fine-tuning settings: {expected}"), &err);
        assert!(err.to_string().contains(expected), "{expected}: {err}");
        let err = FineTuner::new(&encoder, &texts, &labels, 2, settings)
            .err()
            .expect("the fine-tuner validates its settings");
        assert!(matches!(err, BertError::Settings(_)), "{err}");
        assert_eq!(err.kind(), ErrorKind::Settings, "{err}");
    }
    FineTuneSettings::default().validate().unwrap();
}
