//! Writes a BERT with random weights as a Hugging Face folder, for speed measurements at
//! sizes we cannot download here: by default BERT-base (12 layers, hidden 768, 12 heads, FFN
//! 3072), the size of the tutorial's `bert-base-uncased`. The tokenizer is the default
//! model's (the same 30,522-piece uncased vocabulary). The vectors it makes mean nothing;
//! its cost per text is BERT-base's.
//!
//! `cargo run --release --example random_bert -- [OUT_DIR] [LAYERS] [HIDDEN]`
//! (default `models/bert-base-random`, 12, 768; heads = hidden / 64, FFN = 4 × hidden).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::TensorView;
use safetensors::{Dtype, serialize};

/// xorshift64* with Box–Muller: N(0, 0.02²) like BERT's initializer, reproducible.
struct Normal(u64);

impl Normal {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn sample(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        (0.02 * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = args
        .first()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("models/bert-base-random"));
    let layers: usize = args.get(1).map_or(Ok(12), |a| a.parse())?;
    let hidden: usize = args.get(2).map_or(Ok(768), |a| a.parse())?;
    let (heads, ffn, vocab, positions) = (hidden / 64, 4 * hidden, 30522, 512);

    let mut shapes: Vec<(String, Vec<usize>)> = vec![
        (
            "embeddings.word_embeddings.weight".into(),
            vec![vocab, hidden],
        ),
        (
            "embeddings.position_embeddings.weight".into(),
            vec![positions, hidden],
        ),
        (
            "embeddings.token_type_embeddings.weight".into(),
            vec![2, hidden],
        ),
    ];
    let norm = |shapes: &mut Vec<(String, Vec<usize>)>, at: &str| {
        shapes.push((format!("{at}.LayerNorm.weight"), vec![hidden]));
        shapes.push((format!("{at}.LayerNorm.bias"), vec![hidden]));
    };
    let dense = |shapes: &mut Vec<(String, Vec<usize>)>, at: &str, d_in: usize, d_out: usize| {
        // Hugging Face stores Linear weights as [out, in].
        shapes.push((format!("{at}.weight"), vec![d_out, d_in]));
        shapes.push((format!("{at}.bias"), vec![d_out]));
    };
    norm(&mut shapes, "embeddings");
    for l in 0..layers {
        let at = format!("encoder.layer.{l}");
        for part in ["query", "key", "value"] {
            dense(
                &mut shapes,
                &format!("{at}.attention.self.{part}"),
                hidden,
                hidden,
            );
        }
        dense(
            &mut shapes,
            &format!("{at}.attention.output.dense"),
            hidden,
            hidden,
        );
        norm(&mut shapes, &format!("{at}.attention.output"));
        dense(
            &mut shapes,
            &format!("{at}.intermediate.dense"),
            hidden,
            ffn,
        );
        dense(&mut shapes, &format!("{at}.output.dense"), ffn, hidden);
        norm(&mut shapes, &format!("{at}.output"));
    }
    dense(&mut shapes, "pooler.dense", hidden, hidden);

    let mut rng = Normal(0x9e37_79b9_7f4a_7c15);
    let data: BTreeMap<String, (Vec<usize>, Vec<u8>)> = shapes
        .into_iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let values: Vec<f32> = if name.ends_with("LayerNorm.weight") {
                vec![1.0; n]
            } else if name.ends_with(".bias") {
                vec![0.0; n]
            } else {
                (0..n).map(|_| rng.sample()).collect()
            };
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name, (shape, bytes))
        })
        .collect();
    let params: usize = data.values().map(|(_, b)| b.len() / 4).sum();
    let views = data
        .iter()
        .map(|(name, (shape, bytes))| {
            Ok((
                name.as_str(),
                TensorView::new(Dtype::F32, shape.clone(), bytes)?,
            ))
        })
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;

    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("model.safetensors"), serialize(views, None)?)?;
    let config = serde_json::json!({
        "architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu",
        "hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": heads,
        "intermediate_size": ffn, "max_position_embeddings": positions, "type_vocab_size": 2,
        "vocab_size": vocab, "layer_norm_eps": 1e-12, "pad_token_id": 0,
        "_comment": "random weights (bench/random_bert.rs): for speed measurements only",
    });
    std::fs::write(out.join("config.json"), serde_json::to_vec_pretty(&config)?)?;
    std::fs::copy(
        root.join("models/all-MiniLM-L6-v2/tokenizer.json"),
        out.join("tokenizer.json"),
    )?;
    println!(
        "wrote {} ({layers} layers, hidden {hidden}, {heads} heads, {:.1} M parameters)",
        out.display(),
        params as f64 / 1e6
    );
    Ok(())
}
