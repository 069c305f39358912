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
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::utils::truncation::TruncationParams;

use serde_json::Value;

use crate::error::{BertError, Result};
use crate::model::TokenBatch;
use crate::weights::MAX_VOCAB;

/// The tutorial's `max_seq_length`.
pub const DEFAULT_MAX_LEN: usize = 55;

/// Normalizers a BERT tokenizer may have: what BERT checkpoints use, and nothing that reads
/// binary data (`Precompiled`, a SentencePiece model's) or belongs to byte-level tokenizers.
/// (`tokenizers` reads some under two names.)
const NORMALIZERS: &[&str] = &[
    "BertNormalizer",
    "Bert",
    "Lowercase",
    "NFC",
    "NFD",
    "NFKC",
    "NFKD",
    "StripAccents",
    "Strip",
    "Replace",
    "Prepend",
    "Nmt",
    "Sequence",
];

/// Pre-tokenizers a BERT tokenizer may have (as for [`NORMALIZERS`]).
const PRE_TOKENIZERS: &[&str] = &[
    "BertPreTokenizer",
    "Whitespace",
    "WhitespaceSplit",
    "Punctuation",
    "Digits",
    "Split",
    "CharDelimiterSplit",
    "Delimiter",
    "UnicodeScripts",
    "Sequence",
];

/// The `type` of a `tokenizer.json` component, or what it is instead.
fn component_type(value: &Value) -> std::result::Result<&str, String> {
    match value.get("type") {
        Some(Value::String(kind)) => Ok(kind),
        Some(other) => Err(format!("a type {other}")),
        None => Err("no type".into()),
    }
}

/// Checks a normalizer or pre-tokenizer (`what`), and the steps of a `Sequence`, against
/// `allowed`.
fn check_component(value: &Value, what: &str, list: &str, allowed: &[&str]) -> Result<()> {
    if value.is_null() {
        return Ok(());
    }
    let kind = component_type(value)
        .map_err(|e| BertError::Tokenizer(format!("tokenizer.json has a {what} with {e}")))?;
    if !allowed.contains(&kind) {
        return Err(BertError::Tokenizer(format!(
            "tokenizer.json has a {kind} {what}, which BERT tokenizers do not use; supported: {}",
            allowed.join(", ")
        )));
    }
    if kind == "Sequence" {
        let steps = value.get(list).and_then(Value::as_array).ok_or_else(|| {
            BertError::Tokenizer(format!(
                "tokenizer.json has a {what} Sequence without `{list}`"
            ))
        })?;
        for step in steps {
            check_component(step, what, list, allowed)?;
        }
    }
    Ok(())
}

/// Refuses a `tokenizer.json` that is not a BERT WordPiece tokenizer before the `tokenizers`
/// crate builds it: other models (BPE, Unigram, WordLevel) give other ids than the model was
/// trained with, and some crafted ones panic inside `tokenizers`.
fn check_wordpiece(json: &Value) -> Result<()> {
    let bad = |why: String| Err(BertError::Tokenizer(why));
    let Some(model) = json.get("model") else {
        return bad("tokenizer.json has no `model`: is it a tokenizers file?".into());
    };
    match component_type(model) {
        Ok("WordPiece") => {}
        Ok(other) => {
            return bad(format!(
                "tokenizer.json holds a {other} tokenizer, not BERT's WordPiece: choose a BERT checkpoint's tokenizer.json or its vocab.txt"
            ));
        }
        Err(e) => {
            return bad(format!(
                "tokenizer.json's model has {e}, not \"WordPiece\": choose a BERT checkpoint's tokenizer.json or its vocab.txt"
            ));
        }
    }
    let Some(vocab) = model.get("vocab").and_then(Value::as_object) else {
        return bad("tokenizer.json's WordPiece model has no vocabulary".into());
    };
    if vocab.is_empty() || vocab.len() > MAX_VOCAB {
        return bad(format!(
            "tokenizer.json's vocabulary has {} tokens; a BERT one has between 1 and {MAX_VOCAB}",
            vocab.len()
        ));
    }
    match model.get("unk_token").and_then(Value::as_str) {
        Some(unk) if vocab.contains_key(unk) => {}
        Some(unk) => {
            return bad(format!(
                "tokenizer.json's unknown token {unk} is not in its vocabulary"
            ));
        }
        None => return bad("tokenizer.json's WordPiece model names no unknown token".into()),
    }
    if !model
        .get("continuing_subword_prefix")
        .is_none_or(Value::is_string)
    {
        return bad("tokenizer.json's continuing_subword_prefix is not a string".into());
    }
    let null = Value::Null;
    check_component(
        json.get("normalizer").unwrap_or(&null),
        "normalizer",
        "normalizers",
        NORMALIZERS,
    )?;
    check_component(
        json.get("pre_tokenizer").unwrap_or(&null),
        "pre-tokenizer",
        "pretokenizers",
        PRE_TOKENIZERS,
    )
}

/// Which word a piece belongs to: the pre-tokenizer's word number, or the piece alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordOf {
    /// The pre-tokenizer's word index.
    Word(usize),
    /// The pre-tokenizer numbered no words: the piece at this index stands alone.
    Piece(usize),
}

/// One word piece of a text and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// The piece as the vocabulary spells it (`##ing`).
    pub text: String,
    /// The word it is part of.
    pub word: WordOf,
    /// Its byte span in the text.
    pub span: (usize, usize),
}

/// A text's ids with the words behind its pieces ([`BertTokenizer::encode_words`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordPieces {
    /// `[CLS] pieces… [SEP]`, as [`BertTokenizer::encode`] gives.
    pub ids: Vec<u32>,
    /// The kept pieces, in order: `ids[1..ids.len() - 1]`.
    pub pieces: Vec<Piece>,
    /// Whether pieces past `max_len` were cut off.
    pub truncated: bool,
}

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

    /// A `tokenizers` JSON file of a BERT WordPiece tokenizer, checked before the `tokenizers`
    /// crate sees it (see [`check_wordpiece`]). Its padding, truncation, post-processor and
    /// decoder are dropped: we add `[CLS]`/`[SEP]` and truncate ourselves, and never decode.
    pub fn from_tokenizer_json(json: &str) -> Result<Self> {
        let mut value: Value = serde_json::from_str(json)
            .map_err(|e| BertError::Tokenizer(format!("tokenizer.json cannot be parsed: {e}")))?;
        check_wordpiece(&value)?;
        if let Some(fields) = value.as_object_mut() {
            for unused in ["padding", "truncation", "post_processor", "decoder"] {
                fields.insert(unused.into(), Value::Null);
            }
        }
        let inner: Tokenizer = serde_json::from_value(value)
            .map_err(|e| BertError::Tokenizer(format!("tokenizer.json cannot be parsed: {e}")))?;
        Self::with_specials(inner)
    }

    /// A BERT `vocab.txt`, as Google's original `FullTokenizer` reads it. Lower-cases unless the
    /// vocabulary itself has capitalized ASCII words (a cased model; uncased vocabularies still
    /// hold a few non-ASCII capitals).
    pub fn from_vocab_txt(text: &str) -> Result<Self> {
        if text.lines().count() > MAX_VOCAB {
            return Err(BertError::Tokenizer(format!(
                "vocab.txt has more than {MAX_VOCAB} lines: is it a BERT vocabulary?"
            )));
        }
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

    /// [`BertTokenizer::encode`]'s ids with, for each kept piece (not `[CLS]`/`[SEP]`), the
    /// word it belongs to and its byte span in `text`; and whether pieces were cut off.
    pub fn encode_words(&self, text: &str, max_len: usize) -> Result<WordPieces> {
        let encoding = self
            .inner
            .encode(text, false)
            .map_err(|e| BertError::Tokenizer(e.to_string()))?;
        let all = encoding.get_ids();
        let keep = max_len.saturating_sub(2).min(all.len());
        let mut ids = Vec::with_capacity(keep + 2);
        ids.push(self.cls);
        ids.extend_from_slice(&all[..keep]);
        ids.push(self.sep);
        let pieces = (0..keep)
            .map(|i| Piece {
                text: encoding.get_tokens().get(i).cloned().unwrap_or_default(),
                // A pre-tokenizer that does not number words makes each piece its own word.
                word: encoding
                    .get_word_ids()
                    .get(i)
                    .copied()
                    .flatten()
                    .map_or(WordOf::Piece(i), |w| WordOf::Word(w as usize)),
                span: encoding.get_offsets().get(i).copied().unwrap_or((0, 0)),
            })
            .collect();
        Ok(WordPieces {
            ids,
            pieces,
            truncated: keep < all.len(),
        })
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

    /// Whether the vocabulary has `token`.
    pub fn has_token(&self, token: &str) -> bool {
        self.inner.token_to_id(token).is_some()
    }

    /// This tokenizer as a Hugging Face `tokenizer.json` that encodes as [`BertTokenizer::encode`]
    /// does: `[CLS] pieces… [SEP]`, truncated to `max_len` ids, for other tools (an export).
    pub fn to_hugging_face_json(&self, max_len: usize) -> Result<String> {
        let failed = |e: tokenizers::Error| BertError::Tokenizer(e.to_string());
        let template = TemplateProcessing::builder()
            .try_single("[CLS] $A [SEP]")
            .and_then(|t| t.try_pair("[CLS] $A [SEP] $B:1 [SEP]:1"))
            .map_err(|e| BertError::Tokenizer(e.to_string()))?
            .special_tokens(vec![("[CLS]", self.cls), ("[SEP]", self.sep)])
            .build()
            .map_err(|e| BertError::Tokenizer(e.to_string()))?;
        let mut tokenizer = self.inner.clone();
        tokenizer
            .with_post_processor(Some(template))
            .with_decoder(Some(WordPieceDecoder::default()))
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                ..TruncationParams::default()
            }))
            .map_err(failed)?;
        tokenizer.to_string(false).map_err(failed)
    }
}
