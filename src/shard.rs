//! Fine-tuning on several threads, data parallel: the texts of one step (a caching batch, an
//! optimizer step's batch or a validation batch) are split into shares, and other threads —
//! the page's helper workers, each with its own copy of the model — compute theirs while the
//! fine-tuner computes its own. An optimizer step's gradients are summed and applied once, by
//! the fine-tuner, whose parameters go with the next share, so every thread always computes
//! with the same weights and the run is the one-thread run up to the order of floating-point
//! sums.
//!
//! A share crosses to another thread as bytes: safetensors, its inputs and the trained
//! parameters as tensors and what to do as JSON metadata. [`ShareRunner`] answers it on that
//! thread, keeping the run's top between shares. The texts of a step are split into groups
//! of similar length ([`split`]), so that each share pads little and all take about as long.

use std::collections::HashMap;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::encoder::{Encoder, read_f32};
use crate::error::{BertError, Result};
use crate::finetune::TunedTop;
use crate::head::HeadShape;
use crate::model::{Pooling, TokenBatch};
use crate::params::{flat_sizes, load_flat};

/// What a share computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Work {
    /// The frozen layers' output for its texts.
    Cache,
    /// The gradients of its texts' part of an optimizer step's loss.
    Train,
    /// Its texts' logits and loss with the trained top.
    Validate,
}

/// What another thread needs to build the run's trained top from its own copy of the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Setup {
    /// The base model's id: a thread with another model refuses the share.
    pub model_id: String,
    /// Frozen layers below the trained ones.
    pub first: usize,
    /// Trained layers.
    pub layers: usize,
    /// Pooling of the last hidden states.
    pub pooling: Pooling,
    /// The head's shape.
    pub head: HeadShape,
}

/// The frozen layers' output for a share's texts, or their tokens to compute it from.
#[derive(Debug, Clone)]
pub enum Input {
    /// `[rows, seq, width]` values (the run's cache) and the `[rows, seq]` 0/1 mask.
    Hidden {
        /// Row-major, padded rows zero.
        values: Vec<f32>,
        /// 1 at a token, 0 at padding.
        mask: Vec<f32>,
        /// `[rows, seq, width]`.
        shape: [usize; 3],
    },
    /// Token ids padded to the longest (the frozen layers run on the share's thread).
    Tokens(TokenBatch),
}

impl Input {
    /// Texts in it.
    pub fn rows(&self) -> usize {
        match self {
            Input::Hidden { shape, .. } => shape[0],
            Input::Tokens(batch) => batch.batch,
        }
    }

    /// Its padded length.
    pub fn seq(&self) -> usize {
        match self {
            Input::Hidden { shape, .. } => shape[1],
            Input::Tokens(batch) => batch.seq,
        }
    }

    /// The frozen layers' output `[rows, seq, width]` and the mask, on the encoder's device.
    pub fn frozen(self, encoder: &Encoder, first: usize) -> (Tensor<3>, Tensor<2>) {
        let device = encoder.device();
        match self {
            Input::Hidden {
                values,
                mask,
                shape,
            } => (
                Tensor::from_data(TensorData::new(values, shape), device),
                Tensor::from_data(TensorData::new(mask, [shape[0], shape[1]]), device),
            ),
            Input::Tokens(batch) => encoder.model().lower_hidden(&batch, first, device),
        }
    }
}

/// One share of a step.
#[derive(Debug, Clone)]
pub struct Share {
    /// What to compute.
    pub work: Work,
    /// The run it belongs to.
    pub setup: Setup,
    /// Its texts.
    pub input: Input,
    /// Its texts' part of the step's mean loss: its rows over the step's.
    pub weight: f64,
    /// The trained top's parameters ([`crate::params::flat_values`]); empty for caching.
    pub params: std::sync::Arc<Vec<f32>>,
    /// The loss's targets `[rows, outputs]` (training and validation).
    pub targets: Vec<f32>,
    /// Whether each output has its own sigmoid (else a softmax per row).
    pub per_output: bool,
}

/// What a share gives back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    /// Mean loss over its texts (training and validation).
    pub loss: f64,
    /// `[rows, outputs]` logits (training and validation).
    pub logits: Vec<f32>,
    /// The gradient of its weighted loss for every trained parameter, flattened in the order
    /// the top visits them (training).
    pub grads: Vec<f32>,
    /// The frozen layers' output `[rows, seq, width]` (caching).
    pub hidden: Vec<f32>,
}

const SHARE_KEY: &str = "bertweb_share";
const ANSWER_KEY: &str = "bertweb_answer";

#[derive(Serialize, Deserialize)]
struct ShareHeader {
    work: Work,
    setup: Setup,
    weight: f64,
    per_output: bool,
}

#[derive(Serialize, Deserialize)]
struct AnswerHeader {
    loss: f64,
}

fn broken(why: impl std::fmt::Display) -> BertError {
    BertError::Internal(format!("a fine-tuning share could not be read: {why}"))
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn i64_bytes(values: &[i64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Named tensors and JSON metadata as one safetensors buffer.
fn serialize(
    tensors: Vec<(&str, safetensors::Dtype, Vec<usize>, Vec<u8>)>,
    key: &str,
    meta: String,
) -> Result<Vec<u8>> {
    let views = tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes)
                .map(|view| (*name, view))
                .map_err(|e| BertError::Internal(format!("cannot write a share: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let info = HashMap::from([(key.to_string(), meta)]);
    safetensors::serialize(views, Some(info))
        .map_err(|e| BertError::Internal(format!("cannot write a share: {e}")))
}

/// A parsed buffer: its tensors and its metadata under `key`.
struct Parsed<'a> {
    tensors: safetensors::SafeTensors<'a>,
    meta: String,
}

impl<'a> Parsed<'a> {
    fn new(bytes: &'a [u8], key: &str) -> Result<Self> {
        let tensors = safetensors::SafeTensors::deserialize(bytes).map_err(broken)?;
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(broken)?;
        let meta = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(key))
            .cloned()
            .ok_or_else(|| broken(format!("no {key}")))?;
        Ok(Self { tensors, meta })
    }

    /// The tensor `name` of `dtype` and its shape, if there is one.
    fn get(&self, name: &str, dtype: safetensors::Dtype) -> Result<Option<(&[u8], Vec<usize>)>> {
        match self.tensors.tensor(name) {
            Ok(view) if view.dtype() == dtype => Ok(Some((view.data(), view.shape().to_vec()))),
            Ok(view) => Err(broken(format!("{name} is {:?}", view.dtype()))),
            Err(_) => Ok(None),
        }
    }

    fn f32s(&self, name: &str) -> Result<Option<(Vec<f32>, Vec<usize>)>> {
        Ok(self
            .get(name, safetensors::Dtype::F32)?
            .map(|(bytes, shape)| {
                let values = bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                (values, shape)
            }))
    }

    fn i64s(&self, name: &str) -> Result<Option<(Vec<i64>, Vec<usize>)>> {
        Ok(self
            .get(name, safetensors::Dtype::I64)?
            .map(|(bytes, shape)| {
                let values = bytes
                    .chunks_exact(8)
                    .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                    .collect();
                (values, shape)
            }))
    }
}

impl Share {
    /// The share as bytes for another thread.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        use safetensors::Dtype::{F32, I64};
        let mut tensors = Vec::new();
        match &self.input {
            Input::Hidden {
                values,
                mask,
                shape,
            } => {
                tensors.push(("hidden", F32, shape.to_vec(), f32_bytes(values)));
                tensors.push(("mask", F32, vec![shape[0], shape[1]], f32_bytes(mask)));
            }
            Input::Tokens(batch) => {
                let shape = vec![batch.batch, batch.seq];
                tensors.push(("ids", I64, shape.clone(), i64_bytes(&batch.ids)));
                tensors.push(("token_mask", I64, shape, i64_bytes(&batch.mask)));
            }
        }
        if !self.params.is_empty() {
            tensors.push((
                "params",
                F32,
                vec![self.params.len()],
                f32_bytes(&self.params),
            ));
        }
        if self.work != Work::Cache {
            let rows = self.input.rows();
            let outputs = self.targets.len() / rows.max(1);
            tensors.push((
                "targets",
                F32,
                vec![rows, outputs],
                f32_bytes(&self.targets),
            ));
        }
        let header = ShareHeader {
            work: self.work,
            setup: self.setup.clone(),
            weight: self.weight,
            per_output: self.per_output,
        };
        let meta =
            serde_json::to_string(&header).map_err(|e| BertError::Internal(e.to_string()))?;
        serialize(tensors, SHARE_KEY, meta)
    }

    /// A share from [`Share::to_bytes`], its tensors' shapes checked against each other.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let parsed = Parsed::new(bytes, SHARE_KEY)?;
        let header: ShareHeader = serde_json::from_str(&parsed.meta).map_err(broken)?;
        let input = match (parsed.f32s("hidden")?, parsed.f32s("mask")?) {
            (Some((values, shape)), Some((mask, mask_shape))) => {
                let [rows, seq, width] = shape[..] else {
                    return Err(broken("hidden is not 3-D"));
                };
                if mask_shape != [rows, seq] {
                    return Err(broken("the mask does not match the hidden states"));
                }
                Input::Hidden {
                    values,
                    mask,
                    shape: [rows, seq, width],
                }
            }
            _ => match (parsed.i64s("ids")?, parsed.i64s("token_mask")?) {
                (Some((ids, shape)), Some((mask, mask_shape))) if shape == mask_shape => {
                    let [batch, seq] = shape[..] else {
                        return Err(broken("ids are not 2-D"));
                    };
                    Input::Tokens(TokenBatch {
                        ids,
                        mask,
                        batch,
                        seq,
                    })
                }
                _ => return Err(broken("it has neither hidden states nor tokens")),
            },
        };
        let params = parsed.f32s("params")?.map(|(v, _)| v).unwrap_or_default();
        let targets = parsed.f32s("targets")?.map(|(v, _)| v).unwrap_or_default();
        let rows = input.rows();
        if header.work != Work::Cache && (rows == 0 || targets.len() % rows != 0) {
            return Err(broken("its targets do not match its texts"));
        }
        Ok(Share {
            work: header.work,
            setup: header.setup,
            input,
            weight: header.weight,
            params: std::sync::Arc::new(params),
            targets,
            per_output: header.per_output,
        })
    }
}

impl Answer {
    /// The answer as bytes for the fine-tuner's thread.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        use safetensors::Dtype::F32;
        let tensors = [
            ("logits", &self.logits),
            ("grads", &self.grads),
            ("hidden", &self.hidden),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(name, v)| (name, F32, vec![v.len()], f32_bytes(v)))
        .collect();
        let meta = serde_json::to_string(&AnswerHeader { loss: self.loss })
            .map_err(|e| BertError::Internal(e.to_string()))?;
        serialize(tensors, ANSWER_KEY, meta)
    }

    /// An answer from [`Answer::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let parsed = Parsed::new(bytes, ANSWER_KEY)?;
        let header: AnswerHeader = serde_json::from_str(&parsed.meta).map_err(broken)?;
        let take = |name| -> Result<Vec<f32>> {
            Ok(parsed.f32s(name)?.map(|(v, _)| v).unwrap_or_default())
        };
        Ok(Answer {
            loss: header.loss,
            logits: take("logits")?,
            grads: take("grads")?,
            hidden: take("hidden")?,
        })
    }
}

/// The loss `[1]` (the mean over the texts) and the logits of `top` on the frozen layers'
/// output.
pub fn forward_loss(
    top: &TunedTop,
    (hidden, mask): (Tensor<3>, Tensor<2>),
    targets: Tensor<2>,
    per_output: bool,
    pooling: Pooling,
) -> Result<(Tensor<1>, Tensor<2>)> {
    let logits = top.forward(hidden, mask, pooling)?;
    Ok((
        crate::train::loss(logits.clone(), targets, per_output),
        logits,
    ))
}

/// Computes `share` with `top`, which holds the share's parameters on an autodiff device
/// (caching needs none): on another thread through [`ShareRunner`], and on the fine-tuner's
/// own when a helper failed.
pub async fn answer_with(
    top: Option<&TunedTop>,
    encoder: &Encoder,
    share: Share,
) -> Result<Answer> {
    let rows = share.input.rows();
    let frozen = share.input.frozen(encoder, share.setup.first);
    if share.work == Work::Cache {
        return Ok(Answer {
            hidden: read_f32(frozen.0).await?,
            ..Answer::default()
        });
    }
    let top = top.ok_or_else(|| BertError::Internal("a share to train without a top".into()))?;
    let device = encoder.device();
    let outputs = share.targets.len() / rows.max(1);
    let targets = Tensor::from_data(TensorData::new(share.targets, [rows, outputs]), device);
    let pooling = share.setup.pooling;
    if share.work == Work::Validate {
        let (loss, logits) =
            forward_loss(&top.valid(), frozen, targets, share.per_output, pooling)?;
        return Ok(Answer {
            loss: f64::from(read_f32(loss).await?.first().copied().unwrap_or(f32::NAN)),
            logits: read_f32(logits).await?,
            ..Answer::default()
        });
    }
    let (hidden, mask) = frozen;
    let (loss, logits) = forward_loss(
        top,
        (hidden.autodiff(), mask.autodiff()),
        targets.autodiff(),
        share.per_output,
        pooling,
    )?;
    let mut grads = loss.clone().mul_scalar(share.weight).backward();
    let grads = GradientsParams::from_module(&mut grads, top);
    Ok(Answer {
        loss: f64::from(
            read_f32(loss.detach())
                .await?
                .first()
                .copied()
                .unwrap_or(f32::NAN),
        ),
        logits: read_f32(logits.detach()).await?,
        grads: flat_gradients(top, &grads).await?,
        hidden: Vec::new(),
    })
}

/// The gradients of `module`'s parameters in the order it visits them (zeros for one without).
async fn flat_gradients<M: Module>(module: &M, grads: &GradientsParams) -> Result<Vec<f32>> {
    struct Collect<'a> {
        grads: &'a GradientsParams,
        found: Vec<std::result::Result<Tensor<1>, usize>>,
    }
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let n = param.shape().num_elements();
            self.found.push(
                self.grads
                    .get::<D>(param.id)
                    .map(|g| g.reshape([n]))
                    .ok_or(n),
            );
        }
    }
    let mut collect = Collect {
        grads,
        found: Vec::new(),
    };
    module.visit(&mut collect);
    let mut flat = Vec::new();
    for found in collect.found {
        match found {
            Ok(g) => flat.extend(read_f32(g).await?),
            Err(n) => flat.extend(std::iter::repeat_n(0.0, n)),
        }
    }
    Ok(flat)
}

/// Adds another thread's flat gradients ([`Answer::grads`]) to the fine-tuner's: the top
/// layers' (`encoder`) and the head's, on `device`.
pub fn add_flat_gradients(
    top: &TunedTop,
    encoder: &mut GradientsParams,
    head: &mut GradientsParams,
    flat: &[f32],
    device: &Device,
) -> Result<()> {
    let needed: usize = flat_sizes(top).iter().sum();
    if flat.len() != needed {
        return Err(BertError::Internal(format!(
            "a share gave {} gradients for {needed} parameters",
            flat.len()
        )));
    }
    struct Add<'a> {
        grads: &'a mut GradientsParams,
        flat: &'a [f32],
        offset: usize,
        device: &'a Device,
    }
    impl ModuleVisitor for Add<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let shape = param.shape();
            let end = self.offset + shape.num_elements();
            // The total was checked above, so every slice is in range.
            let slice = self.flat.get(self.offset..end).unwrap_or_default();
            self.offset = end;
            let data = TensorData::new(slice.to_vec(), [slice.len()]);
            let theirs = Tensor::<1>::from_data(data, self.device).reshape(shape);
            let sum = match self.grads.remove::<D>(param.id) {
                Some(ours) => ours + theirs,
                None => theirs,
            };
            self.grads.register(param.id, sum);
        }
    }
    let mut add = Add {
        grads: encoder,
        flat,
        offset: 0,
        device,
    };
    top.encoder.visit(&mut add);
    let offset = add.offset;
    top.head.visit(&mut Add {
        grads: head,
        flat,
        offset,
        device,
    });
    Ok(())
}

/// Another thread's side: answers shares with its own copy of the model, keeping the run's
/// top (rebuilt when a share of another run comes).
#[derive(Default)]
pub struct ShareRunner {
    top: Option<(Setup, TunedTop)>,
}

impl ShareRunner {
    /// A runner with no run yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers the share in `bytes` ([`Share::to_bytes`]) → [`Answer::to_bytes`].
    pub async fn run(&mut self, encoder: &Encoder, bytes: &[u8]) -> Result<Vec<u8>> {
        let share = Share::from_bytes(bytes)?;
        self.answer(encoder, share).await?.to_bytes()
    }

    /// Answers `share`.
    pub async fn answer(&mut self, encoder: &Encoder, share: Share) -> Result<Answer> {
        let setup = &share.setup;
        if setup.model_id != encoder.model_id() {
            return Err(BertError::Incompatible(
                "a fine-tuning share came for another model than this thread's".into(),
            ));
        }
        if setup.first + setup.layers != encoder.model().num_layers() {
            return Err(broken("its layers do not match the model's"));
        }
        if let Some(why) = setup.head.problem() {
            return Err(broken(why));
        }
        if share.work == Work::Cache {
            return answer_with(None, encoder, share).await;
        }
        let built = match self.top.take() {
            Some((made, top)) if made == *setup => top,
            _ => TunedTop::from_base(
                encoder.model(),
                setup.layers,
                setup.pooling,
                &setup.head,
                encoder.device(),
            )?
            .valid(),
        };
        let loaded = load_flat(built, &share.params, encoder.device())?;
        self.top = Some((setup.clone(), loaded.clone()));
        answer_with(Some(&loaded.train()), encoder, share).await
    }
}

/// `rows` (of token count `length(row)`) in at most `parts` groups for that many threads: with
/// one part, as they are; else
/// sorted longest first and cut into runs whose padded size (texts × the longest) is as even
/// as such runs allow, so each group pads little and all take about as long.
pub fn split(rows: &[usize], length: impl Fn(usize) -> usize, parts: usize) -> Vec<Vec<usize>> {
    let len = |r: &usize| length(*r).max(1);
    if parts <= 1 || rows.len() <= 1 {
        return vec![rows.to_vec()];
    }
    let mut sorted = rows.to_vec();
    sorted.sort_by_key(|r| std::cmp::Reverse(len(r)));
    // Greedy runs under a bound on each run's padded size: the smallest bound that needs at
    // most `parts` runs, found by bisection.
    let runs = |bound: usize| {
        let mut runs: Vec<Vec<usize>> = Vec::new();
        for &r in &sorted {
            match runs.last_mut() {
                Some(run) if (run.len() + 1) * run.first().map_or(0, len) <= bound => run.push(r),
                _ => runs.push(vec![r]),
            }
        }
        runs
    };
    let longest = sorted.first().map_or(1, len);
    let (mut low, mut high) = (longest, longest * sorted.len());
    while low < high {
        let mid = low + (high - low) / 2;
        if runs(mid).len() <= parts {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    runs(low)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_part_keeps_the_rows_and_more_split_them_evenly() {
        let lengths = [10, 3, 7, 7, 2, 9, 4, 4];
        let rows: Vec<usize> = (0..8).collect();
        let length = |r: usize| lengths[r];
        assert_eq!(split(&rows, length, 1), vec![rows.clone()]);
        let groups = split(&rows, length, 2);
        assert_eq!(groups.len(), 2);
        let mut all: Vec<usize> = groups.concat();
        all.sort_unstable();
        assert_eq!(all, rows);
        // Longest first: [10, 9, 7] (padded 30) and [7, 4, 4, 3, 2] (padded 35).
        assert_eq!(groups[0], vec![0, 5, 2]);
        let padded = |g: &Vec<usize>| g.len() * g.iter().map(|&r| lengths[r]).max().unwrap_or(0);
        assert!(groups.iter().map(padded).max() <= Some(35), "{groups:?}");
        // More parts than rows: one row each.
        assert_eq!(split(&rows[..3], length, 8).len(), 3);
    }

    fn share(model_id: &str) -> Share {
        Share {
            work: Work::Cache,
            setup: Setup {
                model_id: model_id.into(),
                first: 1,
                layers: 1,
                pooling: Pooling::Mean,
                head: HeadShape {
                    input: 32,
                    hidden: vec![],
                    batch_norm: false,
                    dropout: 0.0,
                    classes: 2,
                    multi_label: false,
                },
            },
            input: Input::Tokens(TokenBatch::pad(&[vec![2u32, 5, 3], vec![2, 3]], 0)),
            weight: 1.0,
            params: Default::default(),
            targets: Vec::new(),
            per_output: true,
        }
    }

    /// A share survives its bytes; one for another model, or bytes that are not a share, are
    /// errors, not panics.
    #[test]
    fn shares_travel_as_bytes_and_bad_ones_are_refused() {
        let _rng = crate::test_rng();
        let encoder = crate::tiny_encoder();
        let mut runner = ShareRunner::new();
        let good = share(encoder.model_id()).to_bytes().unwrap();
        let read = Share::from_bytes(&good).unwrap();
        assert_eq!(read.work, Work::Cache);
        assert_eq!(read.setup, share(encoder.model_id()).setup);
        let answer = pollster::block_on(runner.run(&encoder, &good)).unwrap();
        // Two texts padded to 3 tokens, 32 wide.
        assert_eq!(
            Answer::from_bytes(&answer).unwrap().hidden.len(),
            2 * 3 * 32
        );

        let other = share("bert-2x32-0000000000000000").to_bytes().unwrap();
        let err = pollster::block_on(runner.run(&encoder, &other)).unwrap_err();
        assert!(matches!(err, BertError::Incompatible(_)), "{err}");
        for bytes in [&b"not a share"[..], &good[..good.len() / 2], &[]] {
            assert!(pollster::block_on(runner.run(&encoder, bytes)).is_err());
        }
    }
}
