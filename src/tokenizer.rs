//! BERT word-piece tokenization from the bytes of a `tokenizer.json` or a bare `vocab.txt`.
//!
//! Special tokens are added here rather than by the file's post-processor, so truncation
//! always keeps `[CLS] … [SEP]` intact whatever padding or truncation a `tokenizer.json` has
//! baked in (the default model's pads to 128).

use ahash::AHashMap;
use tokenizers::Tokenizer;
use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;

use crate::error::{BertError, Result};
use crate::model::TokenBatch;

/// The tutorial's `max_seq_length`.
pub const DEFAULT_MAX_LEN: usize = 55;

/// A BERT tokenizer: text → `[CLS] pieces… [SEP]` ids.
pub struct BertTokenizer {
    inner: Tokenizer,
    cls: u32,
    sep: u32,
    pad: u32,
}

impl BertTokenizer {
    /// Reads a `tokenizer.json` (starts with `{`) or a `vocab.txt` (one token per line).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let text = std::str::from_utf8(bytes).map_err(|_| {
            BertError::Tokenizer(
                "the file is not UTF-8 text: give tokenizer.json or vocab.txt".into(),
            )
        })?;
        if text.trim_start().starts_with('{') {
            Self::from_tokenizer_json(text)
        } else {
            Self::from_vocab_txt(text)
        }
    }

    /// A `tokenizers` JSON file. Its padding and truncation settings are dropped.
    pub fn from_tokenizer_json(json: &str) -> Result<Self> {
        let mut inner: Tokenizer = json
            .parse()
            .map_err(|e| BertError::Tokenizer(format!("tokenizer.json cannot be parsed: {e}")))?;
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| BertError::Tokenizer(e.to_string()))?;
        Self::with_specials(inner)
    }

    /// A BERT `vocab.txt`, as Google's original `FullTokenizer` reads it. Lower-cases unless the
    /// vocabulary itself has capitalized ASCII words (a cased model; uncased vocabularies still
    /// hold a few non-ASCII capitals).
    pub fn from_vocab_txt(text: &str) -> Result<Self> {
        let vocab: AHashMap<String, u32> = text
            .lines()
            .enumerate()
            .map(|(id, token)| (token.trim_end_matches('\r').to_string(), id as u32))
            .collect();
        if !vocab.contains_key("[UNK]") {
            return Err(BertError::Tokenizer(
                "this is neither a tokenizer.json nor a BERT vocab.txt (no [UNK] token)".into(),
            ));
        }
        let cased = vocab
            .keys()
            .any(|t| t.chars().next().is_some_and(|c| c.is_ascii_uppercase()));
        let model = WordPiece::builder()
            .vocab(vocab)
            .unk_token("[UNK]".into())
            .continuing_subword_prefix("##".into())
            .build()
            .map_err(|e| BertError::Tokenizer(e.to_string()))?;
        let mut inner = Tokenizer::new(model);
        inner
            .with_normalizer(Some(BertNormalizer::new(true, true, None, !cased)))
            .with_pre_tokenizer(Some(BertPreTokenizer))
            .with_decoder(Some(WordPieceDecoder::default()));
        Self::with_specials(inner)
    }

    fn with_specials(inner: Tokenizer) -> Result<Self> {
        let id = |token: &str| {
            inner.token_to_id(token).ok_or_else(|| {
                BertError::Tokenizer(format!(
                    "the vocabulary has no {token} token: is this a BERT tokenizer?"
                ))
            })
        };
        Ok(Self {
            cls: id("[CLS]")?,
            sep: id("[SEP]")?,
            pad: id("[PAD]")?,
            inner,
        })
    }

    /// Vocabulary size, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// `[CLS] pieces… [SEP]`, keeping the first `max_len - 2` pieces.
    pub fn encode(&self, text: &str, max_len: usize) -> Result<Vec<u32>> {
        let pieces = self
            .inner
            .encode(text, false)
            .map_err(|e| BertError::Tokenizer(e.to_string()))?;
        let keep = max_len.saturating_sub(2).min(pieces.get_ids().len());
        let mut ids = Vec::with_capacity(keep + 2);
        ids.push(self.cls);
        ids.extend_from_slice(&pieces.get_ids()[..keep]);
        ids.push(self.sep);
        Ok(ids)
    }

    /// The word pieces of `text` (no specials, no truncation), for display.
    pub fn pieces(&self, text: &str) -> Result<Vec<String>> {
        let encoding = self
            .inner
            .encode(text, false)
            .map_err(|e| BertError::Tokenizer(e.to_string()))?;
        Ok(encoding.get_tokens().to_vec())
    }

    /// Encodes `texts` and pads them to the longest, with the attention mask.
    pub fn batch<S: AsRef<str>>(&self, texts: &[S], max_len: usize) -> Result<TokenBatch> {
        if texts.is_empty() {
            return Err(BertError::EmptyBatch);
        }
        let encoded = texts
            .iter()
            .map(|t| self.encode(t.as_ref(), max_len))
            .collect::<Result<Vec<_>>>()?;
        Ok(TokenBatch::pad(&encoded, self.pad))
    }

    /// The padding id.
    pub fn pad_id(&self) -> u32 {
        self.pad
    }
}
