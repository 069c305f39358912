//! A loaded model: config, weights and tokenizer on one device, turning texts into vectors.

use burn::prelude::*;

use crate::config::BertConfig;
use crate::error::{BertError, Result};
use crate::model::{BertModel, Pooling, TokenBatch};
use crate::tokenizer::{BertTokenizer, WordPieces};
use crate::weights::load_bert;

/// A BERT encoder ready to embed texts.
pub struct Encoder {
    config: BertConfig,
    model_id: String,
    model: BertModel,
    tokenizer: BertTokenizer,
    device: Device,
}

impl Encoder {
    /// Loads a Hugging Face folder's files, given as bytes, onto `device`.
    pub fn load(config: &[u8], weights: &[u8], tokenizer: &[u8], device: &Device) -> Result<Self> {
        use sha2::{Digest, Sha256};
        let digest: [u8; 32] = Sha256::digest(weights).into();
        Self::load_hashed(config, weights, tokenizer, device, &digest)
    }

    /// As [`Encoder::load`], with the SHA-256 of `weights` already computed by the caller. The
    /// page computes it with the browser's own implementation (WebCrypto), far faster than
    /// hashing in wasm, which was most of a model load (docs/PERFORMANCE.md).
    pub fn load_hashed(
        config: &[u8],
        weights: &[u8],
        tokenizer: &[u8],
        device: &Device,
        weights_sha256: &[u8; 32],
    ) -> Result<Self> {
        let config = BertConfig::from_json_bytes(config)?;
        let tokenizer = BertTokenizer::from_bytes(tokenizer)?;
        let model = load_bert(&config, weights, device)?;
        Ok(Self {
            model_id: model_id(&config, weights_sha256),
            config,
            model,
            tokenizer,
            device: device.clone(),
        })
    }

    /// Identity of the base model: `bert-<layers>x<hidden>-<first 16 hex of sha256(weights)>`.
    /// Features and classifiers carry it, so nothing computed with one model is mixed with
    /// another's.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// The architecture.
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// The encoder's modules.
    pub fn model(&self) -> &BertModel {
        &self.model
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &BertTokenizer {
        &self.tokenizer
    }

    /// The device the model lives on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Width of the vectors [`Encoder::embed`] returns.
    pub fn dim(&self) -> usize {
        self.config.hidden_size
    }

    /// Checks a requested max length against the model's position embeddings.
    pub fn check_max_len(&self, max_len: usize) -> Result<()> {
        let limit = self.config.max_position_embeddings;
        if !(2..=limit).contains(&max_len) {
            return Err(BertError::MaxLen { max_len, limit });
        }
        Ok(())
    }

    /// `[CLS] … [SEP]` ids of one text (at most `max_len`), checked against the vocabulary.
    pub fn encode_ids(&self, text: &str, max_len: usize) -> Result<Vec<u32>> {
        let ids = self.tokenizer.encode(text, max_len)?;
        self.check_vocab(ids.iter().map(|&id| id as i64))?;
        Ok(ids)
    }

    /// [`Encoder::encode_ids`] with the words behind the pieces (for attributions).
    pub fn encode_words(&self, text: &str, max_len: usize) -> Result<WordPieces> {
        self.check_max_len(max_len)?;
        let words = self.tokenizer.encode_words(text, max_len)?;
        self.check_vocab(words.ids.iter().map(|&id| id as i64))?;
        Ok(words)
    }

    fn check_vocab(&self, mut ids: impl Iterator<Item = i64>) -> Result<()> {
        let vocab_size = self.config.vocab_size;
        match ids.find(|&id| id as usize >= vocab_size) {
            Some(id) => Err(BertError::TokenOutOfVocab {
                id: id as u32,
                vocab_size,
            }),
            None => Ok(()),
        }
    }

    /// Tokenizes `texts`, padded to the longest of them (at most `max_len`).
    pub fn tokenize<S: AsRef<str>>(&self, texts: &[S], max_len: usize) -> Result<TokenBatch> {
        self.check_max_len(max_len)?;
        let batch = self.tokenizer.batch(texts, max_len)?;
        self.check_vocab(batch.ids.iter().copied())?;
        Ok(batch)
    }

    /// Pooled vectors of a tokenized batch, `[batch, hidden]`, still on the device.
    pub fn embed_batch(&self, batch: &TokenBatch, pooling: Pooling) -> Result<Tensor<2>> {
        let (ids, mask) = BertModel::batch_tensors(batch, &self.device);
        let hidden = self.model.forward(ids, mask.clone());
        pooling.apply(&self.model, hidden, mask)
    }

    /// Pooled vectors of `texts`, row-major `texts.len() × dim`.
    pub async fn embed<S: AsRef<str>>(
        &self,
        texts: &[S],
        pooling: Pooling,
        max_len: usize,
    ) -> Result<Vec<f32>> {
        let batch = self.tokenize(texts, max_len)?;
        let pooled = self.embed_batch(&batch, pooling)?;
        read_f32(pooled).await
    }
}

fn model_id(config: &BertConfig, weights_sha256: &[u8; 32]) -> String {
    let hex: String = weights_sha256[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "bert-{}x{}-{hex}",
        config.num_hidden_layers, config.hidden_size
    )
}

/// Reads a float tensor back to the host. Asynchronous because the browser allows no
/// blocking GPU readback.
pub async fn read_f32<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    tensor
        .into_data_async()
        .await
        .map_err(|e| BertError::Device(e.to_string()))?
        .try_into_vec::<f32>()
        .map_err(|e| BertError::Device(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiny_encoder;

    /// The id is the weights' SHA-256 (checked against Python's hashlib), whether hashed here
    /// or handed in by the page.
    #[test]
    fn model_id_is_the_weights_sha256_hashed_here_or_given() {
        let encoder = tiny_encoder();
        assert_eq!(encoder.model_id(), "bert-2x32-b05fcb0f56d6d635");

        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny");
        let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
        let weights = read("model.safetensors");
        use sha2::{Digest, Sha256};
        let digest: [u8; 32] = Sha256::digest(&weights).into();
        let given = Encoder::load_hashed(
            &read("config.json"),
            &weights,
            &read("tokenizer.json"),
            &Device::flex(),
            &digest,
        )
        .unwrap();
        assert_eq!(given.model_id(), encoder.model_id());
    }
}
