//! Every bad input a user can hand us gives its typed error, naming what is wrong.

mod common;

use std::collections::HashMap;

use bertweb::classifier::Classifier;
use bertweb::features::Features;
use bertweb::train::Preset;
use bertweb::{BertError, BertTokenizer, Encoder, ErrorKind, Pooling, data};
use burn::tensor::Device;
use common::read;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

fn tiny() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    (
        read("tests/fixtures/tiny/config.json"),
        read("tests/fixtures/tiny/model.safetensors"),
        read("tests/fixtures/tiny/tokenizer.json"),
    )
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
    let (config, weights, tokenizer) = tiny();
    for cut in [0, 7, 100, weights.len() / 2, weights.len() - 1] {
        let err = load_err(&config, &weights[..cut], &tokenizer);
        assert!(
            matches!(err, BertError::WeightsFormat(_)),
            "cut at {cut}: {err}"
        );
    }
}

#[test]
fn misshaped_tensor_names_tensor_expected_and_found_shape() {
    let (config, _, tokenizer) = tiny();
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
    let (config, _, tokenizer) = tiny();
    let weights = edited_weights(|n| (n == "encoder.layer.0.output.dense.bias").then_some(None));
    let err = load_err(&config, &weights, &tokenizer);
    assert!(
        matches!(&err, BertError::MissingTensor(n) if n == "encoder.layer.0.output.dense.bias"),
        "{err}"
    );
}

#[test]
fn config_that_is_not_json_or_not_bert_is_refused() {
    let (_, weights, tokenizer) = tiny();
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
    let (config, weights, _) = tiny();
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
    let (config, weights, tokenizer) = tiny();
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
    let (config, _, tokenizer) = tiny();
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
    let (config, weights, tokenizer) = tiny();
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
