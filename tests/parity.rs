//! The encoder, tokenizer and weight loader reproduce Hugging Face `transformers` outputs
//! (fixtures from `scripts/make_fixtures.py`) on burn's flex CPU backend.

mod common;

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
