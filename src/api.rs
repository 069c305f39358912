//! The whole JavaScript surface of bertweb (wasm32 only). Everything here converts between
//! JS values and the plain Rust API; no model logic lives in this file.

use std::cell::RefCell;
use std::rc::Rc;

use burn::tensor::Device;
#[cfg(feature = "webgpu")]
use burn::tensor::wgpu::WgpuBackend;
use js_sys::{Float32Array, Promise, Uint8Array};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::classifier::Classifier;
use crate::data::{self, DataError, Dataset, Settings};
use crate::encoder::Encoder;
use crate::error::{BertError, ErrorKind};
use crate::evaluate::Scoring;
use crate::features::{Extraction, FeatureSettings, Features};
use crate::finetune::{FineTuneSettings, FineTuner};
use crate::model::Pooling;
use crate::shard::ShareRunner;
use crate::targets::Targets;
use crate::train::{Preset, TrainSettings, Trainer};

/// A JS `Error` with the message shown to the user and the kind as its `name`: the page
/// branches on the name only.
fn js_error(kind: ErrorKind, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    error.set_name(kind.name());
    error.into()
}

impl From<BertError> for JsValue {
    fn from(error: BertError) -> Self {
        js_error(error.kind(), &error.to_string())
    }
}

impl From<DataError> for JsValue {
    fn from(error: DataError) -> Self {
        js_error(error.kind(), &error.to_string())
    }
}

/// A Rust value as a plain JS object (maps as objects, `None` as `null`).
fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    Ok(value.serialize(&serde_wasm_bindgen::Serializer::json_compatible())?)
}

/// A plain JS object as a Rust value; `what` names it in the error.
fn from_js<T: DeserializeOwned>(value: JsValue, what: &str) -> Result<T, JsValue> {
    serde_wasm_bindgen::from_value(value)
        .map_err(|e| js_error(ErrorKind::Settings, &format!("invalid {what}: {e}")))
}

/// An error for a handle used while one of its steps is still running.
fn busy(what: &str) -> JsValue {
    js_error(
        ErrorKind::Internal,
        &format!("the {what} is busy with another step: wait for it to finish"),
    )
}

/// A handle's value that an asynchronous call takes out while it runs, so that no `RefCell`
/// borrow is held across an await: a second call meanwhile gets a "busy" error, not a panic.
struct Slot<T> {
    value: Rc<RefCell<Option<T>>>,
    /// Names the value in errors.
    what: &'static str,
}

impl<T: 'static> Slot<T> {
    fn new(value: T, what: &'static str) -> Self {
        Slot {
            value: Rc::new(RefCell::new(Some(value))),
            what,
        }
    }

    /// Runs `f` on the value, unless an asynchronous call has it.
    fn with<R>(&self, f: impl FnOnce(&mut T) -> Result<R, JsValue>) -> Result<R, JsValue> {
        let mut guard = self.value.borrow_mut();
        f(guard.as_mut().ok_or_else(|| busy(self.what))?)
    }

    /// Whether the value is gone or `done` says so.
    fn is_none_or(&self, done: impl FnOnce(&T) -> bool) -> bool {
        self.value.borrow().as_ref().is_none_or(done)
    }

    /// Takes the value for good (the handle is used up).
    fn take(&self) -> Result<T, JsValue> {
        self.value
            .borrow_mut()
            .take()
            .ok_or_else(|| busy(self.what))
    }

    /// Another handle on the same value (for an asynchronous call that needs two values).
    fn share(&self) -> Slot<T> {
        Slot {
            value: Rc::clone(&self.value),
            what: self.what,
        }
    }

    /// A Promise of `f` run on the value, which is put back when `f` ends, failed or not.
    fn lend(&self, f: impl AsyncFnOnce(&mut T) -> Result<JsValue, JsValue> + 'static) -> Promise {
        let slot = self.share();
        future_to_promise(async move {
            let mut value = slot.take()?;
            let result = f(&mut value).await;
            *slot.value.borrow_mut() = Some(value);
            result
        })
    }
}

/// How many parts a call with an optional page helper splits its work into: `parts` with a
/// helper, else 1.
fn helper_parts(helper: Option<&js_sys::Function>, parts: Option<usize>) -> usize {
    helper.map_or(1, |_| parts.unwrap_or(1))
}

/// Calls a page's helper function with `args` now (so that its worker starts at once) and
/// returns a future of its promise's value, to await once this instance has done its own share.
fn call_helper(
    helper: Option<&js_sys::Function>,
    args: &[JsValue],
) -> impl Future<Output = Result<JsValue, BertError>> + use<> {
    let args: js_sys::Array = args.iter().collect();
    let called = helper.map(|f| f.apply(&JsValue::NULL, &args));
    async move {
        let failed = |e: JsValue| BertError::Internal(format!("a helper worker failed: {e:?}"));
        let promise = called
            .ok_or_else(|| BertError::Internal("no helper".into()))?
            .map_err(failed)?;
        wasm_bindgen_futures::JsFuture::from(Promise::from(promise))
            .await
            .map_err(failed)
    }
}

unsafe extern "C" {
    /// The static constructors (burn's GPU compiler registers its IR types with `inventory`),
    /// synthesized by the wasm linker.
    fn __wasm_call_ctors();
}

#[wasm_bindgen(start)]
fn start() {
    // Run once, here. A module that never calls this itself is linked as a "command": every
    // export then runs all constructors first, including the tiny ones wasm-bindgen's glue
    // calls for each JS value. In the WebGPU build that made tokenizing far slower than in
    // the CPU builds, most of it in `__wasm_call_ctors` (docs/PERFORMANCE.md).
    // SAFETY: wasm-bindgen calls the start function once, right after instantiation and before
    // any other export; the constructors have not run yet.
    unsafe { __wasm_call_ctors() };
    console_error_panic_hook::set_once();
}

/// For the page's crash tests: a real Rust panic, at once, or (`later`) inside an async call
/// after it has yielded to the event loop, where the trap surfaces outside the caller's `await`.
#[wasm_bindgen(js_name = panicForTest)]
pub fn panic_for_test(later: bool) -> js_sys::Promise {
    if !later {
        panic!("a panic the page's tests asked for");
    }
    future_to_promise(async {
        wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&JsValue::UNDEFINED)).await?;
        panic!("a panic the page's tests asked for, inside an async call");
    })
}

#[cfg(feature = "webgpu")]
thread_local! {
    // burn registers one wgpu runtime per adapter selector; it cannot be initialized twice,
    // so a second model load reuses the first device.
    static WEBGPU: RefCell<Option<Device>> = const { RefCell::new(None) };
}

#[cfg(feature = "webgpu")]
async fn webgpu_device() -> Result<Device, BertError> {
    if let Some(device) = WEBGPU.with(|d| d.borrow().clone()) {
        return Ok(device);
    }
    let device = Device::wgpu_options()
        .graphics_api(WgpuBackend::WebGpu)
        .init_async()
        .await
        .map_err(|e| {
            BertError::Device(format!("WebGPU could not start ({e}); use the CPU instead"))
        })?;
    WEBGPU.with(|d| *d.borrow_mut() = Some(device.clone()));
    Ok(device)
}

/// The CPU builds (`pkg/cpu/`, `pkg/cpu-baseline/`): the worker loads `pkg/` for WebGPU, so
/// this is reached only by a caller that picked the wrong module.
#[cfg(not(feature = "webgpu"))]
async fn webgpu_device() -> Result<Device, BertError> {
    Err(BertError::Internal(
        "this is a CPU build of bertweb (pkg/cpu/): load pkg/bertweb.js for WebGPU".into(),
    ))
}

#[cfg(feature = "cpu")]
fn cpu_device() -> Result<Device, BertError> {
    Ok(Device::flex())
}

/// The WebGPU build (`pkg/`) has no CPU backend; the worker loads a CPU build for the CPU.
#[cfg(not(feature = "cpu"))]
fn cpu_device() -> Result<Device, BertError> {
    Err(BertError::Internal(
        "this is the WebGPU build of bertweb (pkg/): load pkg/cpu/bertweb.js for the CPU".into(),
    ))
}

/// Where heads train and classify vectors: the CPU where the build has one (the features are
/// in wasm memory already); in the WebGPU build, which has no CPU backend, the WebGPU device
/// its encoder started.
#[cfg(feature = "cpu")]
fn head_device() -> Result<Device, BertError> {
    cpu_device()
}

#[cfg(not(feature = "cpu"))]
fn head_device() -> Result<Device, BertError> {
    WEBGPU.with(|d| d.borrow().clone()).ok_or_else(|| {
        BertError::Device(
            "WebGPU has not started in this module yet: load the model on WebGPU first".into(),
        )
    })
}

/// Texts as the classifier sees them (HTML tags removed, as in training).
#[wasm_bindgen(js_name = cleanTexts)]
pub fn clean_texts(texts: Vec<String>) -> Vec<String> {
    texts
        .iter()
        .map(|t| crate::classifier::input_text(t))
        .collect()
}

/// A BERT encoder loaded in this wasm instance.
#[wasm_bindgen(js_name = Encoder)]
pub struct WebEncoder {
    inner: Rc<Encoder>,
    device: &'static str,
    /// The classifier the model folder carries beside the encoder (Hugging Face's
    /// `BertForSequenceClassification`), or why it could not be read.
    folder_classifier: Option<Result<Classifier, BertError>>,
}

#[derive(Serialize)]
struct Tokenized {
    ids: Vec<i64>,
    mask: Vec<i64>,
}

#[wasm_bindgen(js_class = Encoder)]
impl WebEncoder {
    /// Loads `config.json`, `model.safetensors` and `tokenizer.json`/`vocab.txt` bytes on
    /// `device` ("webgpu" or "cpu"), then runs one warm-up pass so the first real request
    /// does not pay for kernel compilation. `weights_sha256`: the 32-byte SHA-256 of the
    /// weights when the caller has it (WebCrypto is much faster than hashing here); computed
    /// here otherwise.
    pub async fn load(
        config: Vec<u8>,
        weights: Vec<u8>,
        tokenizer: Vec<u8>,
        device: String,
        weights_sha256: Option<Vec<u8>>,
    ) -> Result<WebEncoder, JsValue> {
        let (burn_device, name) = match device.as_str() {
            "webgpu" => (webgpu_device().await?, "webgpu"),
            "cpu" => (cpu_device()?, "cpu"),
            other => {
                return Err(BertError::Device(format!(
                    "unknown device `{other}`: use \"webgpu\" or \"cpu\""
                ))
                .into());
            }
        };
        let encoder = match weights_sha256 {
            Some(digest) => {
                let digest: [u8; 32] = digest.try_into().map_err(|d: Vec<u8>| {
                    BertError::Device(format!(
                        "the weights' SHA-256 must be 32 bytes, not {}",
                        d.len()
                    ))
                })?;
                Encoder::load_hashed(&config, &weights, &tokenizer, &burn_device, &digest)?
            }
            None => Encoder::load(&config, &weights, &tokenizer, &burn_device)?,
        };
        // A broken classifier part leaves the encoder usable: it is reported when asked for.
        let folder_classifier = Classifier::from_hugging_face(
            &config,
            &weights,
            &encoder,
            crate::tokenizer::DEFAULT_MAX_LEN,
        )
        .transpose();
        drop((config, weights, tokenizer));
        encoder.embed(&["warm up"], Pooling::Mean, 8).await?;
        Ok(WebEncoder {
            inner: Rc::new(encoder),
            device: name,
            folder_classifier,
        })
    }

    /// The classifier the model folder carries (`BertForSequenceClassification`: its pooler,
    /// `classifier.*` weights and `id2label`), ready to classify; `undefined` when the folder
    /// is an encoder only. Throws (ModelFileError) when its classifier part cannot be used; the
    /// encoder still works then. Each call gives the classifier once.
    #[wasm_bindgen(js_name = takeFolderClassifier)]
    pub fn take_folder_classifier(&mut self) -> Result<Option<WebClassifier>, JsValue> {
        match self.folder_classifier.take() {
            None => Ok(None),
            Some(Ok(classifier)) => Ok(Some(WebClassifier::new(classifier))),
            Some(Err(err)) => Err(err.into()),
        }
    }

    /// "webgpu" or "cpu": what actually runs the model.
    #[wasm_bindgen(getter)]
    pub fn device(&self) -> String {
        self.device.to_string()
    }

    /// Identity of the base model (architecture and a hash of the weights): features and
    /// classifiers made with it carry it.
    #[wasm_bindgen(getter, js_name = modelId)]
    pub fn model_id(&self) -> String {
        self.inner.model_id().to_string()
    }

    /// Width of the vectors `embed` returns.
    #[wasm_bindgen(getter)]
    pub fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// Number of encoder layers (how many can be fine-tuned).
    #[wasm_bindgen(getter, js_name = numLayers)]
    pub fn num_layers(&self) -> usize {
        self.inner.config().num_hidden_layers
    }

    /// The longest input the model's position embeddings allow.
    #[wasm_bindgen(getter, js_name = maxPositions)]
    pub fn max_positions(&self) -> usize {
        self.inner.config().max_position_embeddings
    }

    /// Whether the checkpoint has pooler weights ("pooler" pooling needs them).
    #[wasm_bindgen(getter, js_name = hasPooler)]
    pub fn has_pooler(&self) -> bool {
        self.inner.model().has_pooler()
    }

    /// Embeds `texts` → Promise<Float32Array> of `texts.length × dim`, row-major.
    /// `pooling` is "mean" or "pooler".
    pub fn embed(&self, texts: Vec<String>, pooling: String, max_len: usize) -> Promise {
        let encoder = Rc::clone(&self.inner);
        future_to_promise(async move {
            let pooling = Pooling::parse(&pooling)?;
            let vectors = encoder.embed(&texts, pooling, max_len).await?;
            Ok(Float32Array::from(vectors.as_slice()).into())
        })
    }

    /// Token ids and masks of `texts` (unpadded), as the model will see them.
    pub fn tokenize(&self, texts: Vec<String>, max_len: usize) -> Result<JsValue, JsValue> {
        let rows = texts
            .iter()
            .map(|text| {
                let ids: Vec<i64> = self
                    .inner
                    .tokenizer()
                    .encode(text, max_len)?
                    .into_iter()
                    .map(i64::from)
                    .collect();
                let mask = vec![1; ids.len()];
                Ok(Tokenized { ids, mask })
            })
            .collect::<Result<Vec<_>, BertError>>()?;
        Ok(serde_wasm_bindgen::to_value(&rows)?)
    }
}

/// The header cells of a CSV file, to let a user choose its text and label columns.
#[wasm_bindgen(js_name = csvHeader)]
pub fn csv_header(csv: &[u8], delimiter: Option<String>) -> Result<Vec<String>, JsValue> {
    Ok(data::header_with(csv, delimiter_of(delimiter)?)?)
}

/// A delimiter's name from JS (`auto` when left out).
fn delimiter_of(name: Option<String>) -> Result<data::Delimiter, JsValue> {
    Ok(data::Delimiter::parse(name.as_deref().unwrap_or("auto"))?)
}

/// What a CSV file holds before preprocessing (`data::Preview`: the delimiter, the columns it
/// would use, the labels and their counts, a given split), read with `settings`
/// (`data::Settings`: its delimiter and named columns).
///
/// `start`: the bytes are only the start of a larger file, so the preview stops at their last
/// whole record.
#[wasm_bindgen(js_name = csvPreview)]
pub fn csv_preview(csv: &[u8], settings: JsValue, start: bool) -> Result<JsValue, JsValue> {
    let settings = data_settings(settings)?;
    // A byte-order mark only lengthens the first field: the records end where they end.
    let csv = if start {
        crate::stream::whole_records(csv, settings.delimiter)
    } else {
        csv
    };
    to_js(&data::preview(csv, &settings)?)
}

/// `data::Settings` from a plain object; missing fields take the tutorial's values.
fn data_settings(settings: JsValue) -> Result<Settings, JsValue> {
    if settings.is_undefined() || settings.is_null() {
        Ok(Settings::default())
    } else {
        from_js(settings, "preprocessing settings")
    }
}

/// Every cell of one column of a CSV file (e.g. the texts to classify).
#[wasm_bindgen(js_name = csvColumn)]
pub fn csv_column(
    csv: &[u8],
    column: &str,
    delimiter: Option<String>,
) -> Result<Vec<String>, JsValue> {
    Ok(data::read_column_with(
        csv,
        column,
        delimiter_of(delimiter)?,
    )?)
}

/// The tutorial's preprocessing settings (`data::Settings` as a plain object).
#[wasm_bindgen(js_name = defaultDataSettings)]
pub fn default_data_settings() -> Result<JsValue, JsValue> {
    to_js(&Settings::default())
}

/// Every default and choice the page offers, so that none is typed again in JS.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Defaults {
    /// Tokens per text, [CLS] and [SEP] included.
    max_len: usize,
    pooling: Pooling,
    poolings: [Pooling; 2],
    label_modes: [data::LabelMode; 4],
    /// The preprocessing settings.
    data: Settings,
    /// Preset names in the order the page offers them.
    preset_names: Vec<&'static str>,
    presets: std::collections::BTreeMap<&'static str, TrainSettings>,
    fine_tune: FineTuneSettings,
    /// The `name`s errors from this module carry.
    error_kinds: Vec<&'static str>,
    /// CSV files larger than `above_bytes` are read as a stream, `chunk_bytes` at a time, and
    /// previewed from their first `preview_bytes`.
    stream: StreamDefaults,
    labeling: LabelingDefaults,
}

/// Labeling: texts sampled for it, at most; proposed at a time; the seed of random choices;
/// the strategies the page offers.
#[derive(Serialize)]
struct LabelingDefaults {
    pool: usize,
    batch: usize,
    seed: u64,
    strategies: [crate::labeling::Strategy; 2],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StreamDefaults {
    above_bytes: u64,
    preview_bytes: u64,
    chunk_bytes: u64,
}

/// Every default the page uses: max length, pooling, label modes, preprocessing, each preset's
/// training settings, fine-tuning, and the error kinds.
#[wasm_bindgen]
pub fn defaults() -> Result<JsValue, JsValue> {
    to_js(&Defaults {
        max_len: crate::DEFAULT_MAX_LEN,
        pooling: FeatureSettings::default().pooling,
        poolings: [Pooling::Mean, Pooling::Pooler],
        label_modes: data::LabelMode::ALL,
        data: Settings::default(),
        preset_names: Preset::ALL.iter().map(|p| p.name()).collect(),
        presets: Preset::ALL
            .iter()
            .map(|&p| (p.name(), TrainSettings::preset(p)))
            .collect(),
        fine_tune: FineTuneSettings::default(),
        error_kinds: ErrorKind::ALL.iter().map(|k| k.name()).collect(),
        stream: StreamDefaults {
            above_bytes: crate::stream::STREAM_ABOVE_BYTES,
            preview_bytes: crate::stream::PREVIEW_BYTES,
            chunk_bytes: crate::stream::CHUNK_BYTES,
        },
        labeling: LabelingDefaults {
            pool: crate::labeling::POOL,
            batch: crate::labeling::BATCH,
            seed: Settings::default().seed,
            strategies: crate::labeling::Strategy::ALL,
        },
    })
}

/// The texts to label next (`labeling::Suggestion`), the head trained on the labels so far
/// and their cross-validated accuracy, from the texts' vectors (row-major, `dim` wide) and a
/// `labeling::Request` → Promise<Suggestion>.
#[wasm_bindgen(js_name = labelingSuggest)]
pub fn labeling_suggest(vectors: Vec<f32>, dim: usize, request: JsValue) -> Promise {
    future_to_promise(async move {
        let request: crate::labeling::Request = from_js(request, "labeling request")?;
        to_js(&crate::labeling::suggest(&vectors, dim, &request, &head_device()?).await?)
    })
}

/// The training settings of a preset: "tutorial", "linear" or "default".
#[wasm_bindgen(js_name = trainSettings)]
pub fn train_settings(preset: &str) -> Result<JsValue, JsValue> {
    to_js(&TrainSettings::preset(Preset::parse(preset)?))
}

/// A preprocessed, split CSV file.
#[wasm_bindgen(js_name = Dataset)]
pub struct WebDataset {
    inner: Dataset,
}

#[derive(Serialize)]
struct DatasetSummary<'a> {
    layout: data::Layout,
    text_column: &'a str,
    label_column: &'a str,
    label_names: &'a [String],
    /// Outputs a head has for these classes ([`crate::head::outputs_for`]), or one per label.
    outputs: usize,
    /// Whether texts have any number of labels.
    multi_label: bool,
    counts: &'a data::Counts,
    settings: &'a Settings,
    /// `given` when the file's split column made the parts, else `random`.
    split: &'static str,
}

#[wasm_bindgen(js_class = Dataset)]
impl WebDataset {
    /// Reads and preprocesses CSV bytes. `settings` is a `data::Settings` object; missing
    /// fields take the tutorial's values.
    pub fn load(csv: &[u8], settings: JsValue) -> Result<WebDataset, JsValue> {
        Ok(WebDataset {
            inner: data::load(csv, &data_settings(settings)?)?,
        })
    }

    /// Layout, columns, label names, counts after each step, and the settings used.
    pub fn summary(&self) -> Result<JsValue, JsValue> {
        let d = &self.inner;
        to_js(&DatasetSummary {
            layout: d.layout,
            text_column: &d.text_column,
            label_column: &d.label_column,
            label_names: &d.label_names,
            outputs: if d.multi_label {
                d.label_names.len()
            } else {
                crate::head::outputs_for(d.label_names.len())
            },
            multi_label: d.multi_label,
            counts: &d.counts,
            settings: &d.settings,
            split: if d.counts.validation_given.is_some() {
                "given"
            } else {
                "random"
            },
        })
    }

    /// Every text, the training rows first, then the test rows (the order features follow).
    pub fn texts(&self) -> Vec<String> {
        let d = &self.inner;
        d.train
            .iter()
            .chain(&d.test)
            .map(|e| e.text.clone())
            .collect()
    }

    /// Up to `n` training examples (`{text, label}`), to preview.
    pub fn examples(&self, n: usize) -> Result<JsValue, JsValue> {
        to_js(&self.inner.train.iter().take(n).collect::<Vec<_>>())
    }
}

/// A CSV file too large to read whole, read a chunk at a time into a sample of its rows
/// (`stream::CsvStream`).
#[wasm_bindgen(js_name = CsvStream)]
pub struct WebCsvStream {
    /// `None` once finished or failed.
    inner: Option<crate::stream::CsvStream>,
}

#[wasm_bindgen(js_class = CsvStream)]
impl WebCsvStream {
    /// A stream preprocessed with `settings` (a `data::Settings` object; it needs a sample size).
    #[wasm_bindgen(constructor)]
    pub fn new(settings: JsValue) -> Result<WebCsvStream, JsValue> {
        Ok(WebCsvStream {
            inner: Some(crate::stream::CsvStream::new(&data_settings(settings)?)?),
        })
    }

    /// Reads the next chunk of the file.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), JsValue> {
        let stream = self.inner.as_mut().ok_or_else(stream_used)?;
        stream.push(chunk).map_err(|e| {
            self.inner = None;
            JsValue::from(e)
        })
    }

    /// The end of the file: the dataset of its sample. The stream is used up.
    pub fn finish(&mut self) -> Result<WebDataset, JsValue> {
        let stream = self.inner.take().ok_or_else(stream_used)?;
        Ok(WebDataset {
            inner: stream.finish()?,
        })
    }
}

fn stream_used() -> JsValue {
    BertError::Internal("this CSV stream has ended: read the file again".into()).into()
}

/// A feature extraction in progress, cut into batches that any encoder with the same weights
/// can compute: the worker claims a batch, embeds its texts with its own encoder or hands
/// them to a helper worker (its own wasm instance, on another core), and fills the vectors in.
#[wasm_bindgen(js_name = Extraction)]
pub struct WebExtraction {
    inner: Option<Extraction>,
}

#[wasm_bindgen(js_class = Extraction)]
impl WebExtraction {
    /// Plans the extraction of `texts` with `encoder` (`pooling` "mean" or "pooler").
    #[wasm_bindgen(constructor)]
    pub fn new(
        encoder: &WebEncoder,
        texts: Vec<String>,
        pooling: &str,
        max_len: usize,
        batch_size: usize,
    ) -> Result<WebExtraction, JsValue> {
        let settings = FeatureSettings {
            pooling: Pooling::parse(pooling)?,
            max_len,
        };
        Ok(WebExtraction {
            inner: Some(Extraction::new(
                &encoder.inner,
                texts,
                settings,
                batch_size,
            )?),
        })
    }

    fn get(&self) -> Result<&Extraction, JsValue> {
        self.inner.as_ref().ok_or_else(|| used_up("extraction"))
    }

    fn get_mut(&mut self) -> Result<&mut Extraction, JsValue> {
        self.inner.as_mut().ok_or_else(|| used_up("extraction"))
    }

    /// A batch nobody works on yet, or `undefined` when all are handed out.
    pub fn claim(&mut self) -> Result<Option<usize>, JsValue> {
        Ok(self.get_mut()?.claim())
    }

    /// Gives back a claimed batch that could not be computed.
    pub fn release(&mut self, batch: usize) -> Result<(), JsValue> {
        self.get_mut()?.release(batch);
        Ok(())
    }

    /// The texts of `batch`: embed them with `Encoder.embed(texts, pooling, maxLen)`.
    #[wasm_bindgen(js_name = batchTexts)]
    pub fn batch_texts(&self, batch: usize) -> Result<Vec<String>, JsValue> {
        let texts = self.get()?.batch_texts(batch)?;
        Ok(texts.into_iter().map(str::to_string).collect())
    }

    /// Stores the vectors of `batch` made by the encoder of `modelId`; returns texts done.
    pub fn fill(
        &mut self,
        batch: usize,
        model_id: &str,
        vectors: &[f32],
    ) -> Result<usize, JsValue> {
        Ok(self.get_mut()?.fill(batch, model_id, vectors)?)
    }

    /// What is done so far, to store while the extraction runs (see `resume`).
    pub fn checkpoint(&self) -> Result<Vec<u8>, JsValue> {
        Ok(self.get()?.checkpoint())
    }

    /// Takes the rows of a `checkpoint` of the same texts, model and settings, so only the
    /// rest is computed; returns the texts done. Refused when it is of something else.
    pub fn resume(&mut self, bytes: &[u8]) -> Result<usize, JsValue> {
        Ok(self.get_mut()?.resume(bytes)?)
    }

    /// Texts embedded so far.
    #[wasm_bindgen(getter)]
    pub fn done(&self) -> Result<usize, JsValue> {
        Ok(self.get()?.done())
    }

    /// All texts.
    #[wasm_bindgen(getter)]
    pub fn total(&self) -> Result<usize, JsValue> {
        Ok(self.get()?.total())
    }

    /// Number of batches.
    #[wasm_bindgen(getter)]
    pub fn batches(&self) -> Result<usize, JsValue> {
        Ok(self.get()?.batches())
    }

    /// The finished features (the extraction is used up).
    pub fn finish(&mut self) -> Result<WebFeatures, JsValue> {
        let extraction = self.inner.take().ok_or_else(|| used_up("extraction"))?;
        Ok(WebFeatures {
            inner: Rc::new(extraction.finish()?),
        })
    }
}

fn used_up(what: &str) -> JsValue {
    js_error(
        ErrorKind::Internal,
        &format!("this {what} is finished: start a new one"),
    )
}

/// Pooled vectors of a dataset's texts, with the model and settings that made them.
#[wasm_bindgen(js_name = Features)]
pub struct WebFeatures {
    inner: Rc<Features>,
}

#[wasm_bindgen(js_class = Features)]
impl WebFeatures {
    /// Reads bytes written by `toBytes` (the IndexedDB cache).
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> Result<WebFeatures, JsValue> {
        Ok(WebFeatures {
            inner: Rc::new(Features::from_bytes(bytes)?),
        })
    }

    /// The cacheable bytes.
    #[wasm_bindgen(js_name = toBytes)]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.inner.to_bytes()
    }

    /// Number of texts.
    #[wasm_bindgen(getter)]
    pub fn rows(&self) -> usize {
        self.inner.rows
    }

    /// The vectors, row-major `rows × dim` (a copy).
    #[wasm_bindgen(getter)]
    pub fn values(&self) -> Float32Array {
        Float32Array::from(self.inner.values.as_slice())
    }

    /// Refuses features of another model, other settings or another row count.
    pub fn check(
        &self,
        encoder: &WebEncoder,
        pooling: &str,
        max_len: usize,
        rows: usize,
    ) -> Result<(), JsValue> {
        let settings = FeatureSettings {
            pooling: Pooling::parse(pooling)?,
            max_len,
        };
        self.inner
            .check_compatible(encoder.inner.model_id(), &settings)?;
        if self.inner.rows != rows {
            return Err(BertError::Incompatible(format!(
                "these features have {} rows, the data has {rows}: extract them again",
                self.inner.rows
            ))
            .into());
        }
        Ok(())
    }
}

/// Refuses features with another row count than the dataset.
fn check_rows(features: &Features, dataset: &Dataset) -> Result<(), JsValue> {
    let rows = dataset.train.len() + dataset.test.len();
    if features.rows != rows {
        return Err(BertError::Incompatible(format!(
            "the features have {} rows but the data has {rows}: extract them again",
            features.rows
        ))
        .into());
    }
    Ok(())
}

/// The training rows of features (the dataset's training part comes first), checked.
fn training_part<'a>(features: &'a Features, dataset: &'a Dataset) -> Result<&'a [f32], JsValue> {
    check_rows(features, dataset)?;
    Ok(&features.values[..dataset.train.len() * features.dim])
}

/// A head's training in progress: one epoch per `step`, on the head's device (`head_device`).
#[wasm_bindgen(js_name = Trainer)]
pub struct WebTrainer {
    inner: Slot<Trainer>,
    model_id: String,
    features: FeatureSettings,
    label_names: Vec<String>,
}

#[wasm_bindgen(js_class = Trainer)]
impl WebTrainer {
    /// Prepares training on the training part of `features` with `settings` (a
    /// `TrainSettings` object, e.g. from `trainSettings(preset)`).
    #[wasm_bindgen(constructor)]
    pub fn new(
        features: &WebFeatures,
        dataset: &WebDataset,
        settings: JsValue,
    ) -> Result<WebTrainer, JsValue> {
        let mut settings: TrainSettings = from_js(settings, "training settings")?;
        settings.validate()?;
        let (f, d) = (&features.inner, &dataset.inner);
        settings.validation_fraction = d.validation_fraction(settings.validation_fraction);
        let x = training_part(f, d)?;
        let trainer =
            Trainer::with_targets(x, f.dim, d.train_targets()?, settings, &head_device()?)?;
        Ok(WebTrainer {
            inner: Slot::new(trainer, "trainer"),
            model_id: f.model_id.clone(),
            features: f.settings,
            label_names: d.label_names.clone(),
        })
    }

    /// Runs one epoch → Promise<EpochReport>.
    pub fn step(&self) -> Promise {
        self.inner
            .lend(async |trainer| to_js(&trainer.step().await?))
    }

    /// Whether the last epoch ran (or early stopping ended training).
    #[wasm_bindgen(getter)]
    pub fn finished(&self) -> bool {
        self.inner.is_none_or(Trainer::is_finished)
    }

    /// The classifier of the best epoch (the trainer is used up).
    pub fn finish(&self) -> Result<WebClassifier, JsValue> {
        let trainer = self.inner.take()?;
        let classifier = Classifier::new(
            trainer.finish()?,
            &self.model_id,
            self.features,
            self.label_names.clone(),
        );
        Ok(WebClassifier::new(classifier))
    }
}

/// A trained classifier: a head on top of one base model.
#[wasm_bindgen(js_name = Classifier)]
pub struct WebClassifier {
    inner: Slot<Classifier>,
}

impl WebClassifier {
    fn new(classifier: Classifier) -> Self {
        WebClassifier {
            inner: Slot::new(classifier, "classifier"),
        }
    }
}

#[wasm_bindgen(js_class = Classifier)]
impl WebClassifier {
    /// Reads a classifier file.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> Result<WebClassifier, JsValue> {
        Ok(WebClassifier::new(Classifier::from_bytes(
            bytes,
            &head_device()?,
        )?))
    }

    /// The classifier file's bytes → Promise<Uint8Array>.
    #[wasm_bindgen(js_name = toBytes)]
    pub fn to_bytes(&self) -> Promise {
        self.inner.lend(async |c| {
            let bytes = c.to_bytes().await?;
            Ok(js_sys::Uint8Array::from(bytes.as_slice()).into())
        })
    }

    /// A zip of the model folder other tools run (`export::export_folder`: `config.json`, the
    /// tokenizer files, `onnx/model.onnx`, a model card) for this classifier on `encoder`, with
    /// the base model's `config.json` bytes and a `ModelCard` (data set name, rows, base model
    /// name, date) → Promise<Uint8Array>.
    #[wasm_bindgen(js_name = exportForOtherTools)]
    pub fn export_for_other_tools(
        &self,
        encoder: &WebEncoder,
        config: Vec<u8>,
        card: JsValue,
    ) -> Result<Promise, JsValue> {
        let card: crate::export::ModelCard = from_js(card, "model card")?;
        let encoder = encoder.inner.clone();
        Ok(self.inner.lend(async move |classifier| {
            let files = crate::export::export_folder(&encoder, classifier, &config, &card).await?;
            let zip = crate::export::zip::stored(&files)?;
            Ok(js_sys::Uint8Array::from(zip.as_slice()).into())
        }))
    }

    /// Its metadata (`ClassifierMeta`): base model, label names, head shape, settings, metrics.
    pub fn meta(&self) -> Result<JsValue, JsValue> {
        self.inner.with(|c| to_js(&c.meta))
    }

    /// Classifies the vectors of texts (row-major, made with this classifier's pooling and max
    /// length from its `cleanTexts`) → Promise<{label, name, probabilities}[]>. Lets the worker
    /// embed a whole file on every thread first; a fine-tuned classifier refuses (its layers
    /// must see the texts).
    #[wasm_bindgen(js_name = classifyVectors)]
    pub fn classify_vectors(&self, vectors: Vec<f32>) -> Promise {
        self.inner.lend(async move |classifier| {
            let probs = classifier.predict(&vectors, &head_device()?).await?;
            to_js(&classifier.predictions(&probs))
        })
    }

    /// Fails with a message unless this classifier runs on `encoder`: its base model, with
    /// the width, layers and positions the file says (`Classifier::check_fits`).
    #[wasm_bindgen(js_name = checkBase)]
    pub fn check_base(&self, encoder: &WebEncoder) -> Result<(), JsValue> {
        self.inner.with(|c| Ok(c.check_fits(&encoder.inner)?))
    }

    /// Each text's probabilities → Promise<Float32Array> (`texts.length ×` outputs): a batch of
    /// another worker's scoring (`scoreStep`).
    pub fn probabilities(&self, encoder: &WebEncoder, texts: Vec<String>) -> Promise {
        let encoder = Rc::clone(&encoder.inner);
        self.inner.lend(async move |classifier| {
            let probs = classifier.probabilities(&encoder, &texts).await?;
            Ok(Float32Array::from(probs.as_slice()).into())
        })
    }

    /// Classifies raw texts → Promise<{label, name, probabilities}[]>.
    pub fn classify(&self, encoder: &WebEncoder, texts: Vec<String>) -> Promise {
        let encoder = Rc::clone(&encoder.inner);
        self.inner
            .lend(async move |classifier| to_js(&classifier.classify(&encoder, &texts).await?))
    }

    /// Why it decided → Promise<Attribution>: each word's contribution to a class's log-odds
    /// (integrated gradients over the word embeddings). `label` undefined: the predicted
    /// class; `steps` undefined: the default number of quadrature nodes. With `helper` and
    /// `parts` > 1, the nodes are dealt into `parts`: `helper(label, steps, part)` returns a
    /// Promise<Float32Array> of part `part` (another worker's `explainPart`), called before
    /// this instance computes part 0; a part whose promise fails is computed here.
    pub fn explain(
        &self,
        encoder: &WebEncoder,
        text: String,
        label: Option<usize>,
        steps: Option<usize>,
        helper: Option<js_sys::Function>,
        parts: Option<usize>,
    ) -> Promise {
        let encoder = Rc::clone(&encoder.inner);
        let steps = steps.unwrap_or(crate::attribution::DEFAULT_STEPS);
        let parts = helper_parts(helper.as_ref(), parts);
        self.inner.lend(async move |classifier| {
            let remote = |label: usize, steps: usize, part: usize| {
                let args = [label, steps, part].map(JsValue::from);
                let answer = call_helper(helper.as_ref(), &args);
                async move { Ok(Float32Array::from(answer.await?).to_vec()) }
            };
            let explained = crate::attribution::attribute_with(
                classifier, &encoder, &text, label, steps, parts, remote,
            )
            .await?;
            to_js(&explained)
        })
    }

    /// One part of another worker's `explain` (`attribution::attribute_part`): each token's
    /// integrated gradient over the nodes `i % parts == part` → Promise<Float32Array>.
    #[wasm_bindgen(js_name = explainPart)]
    pub fn explain_part(
        &self,
        encoder: &WebEncoder,
        text: String,
        label: usize,
        steps: usize,
        part: usize,
        parts: usize,
    ) -> Promise {
        let encoder = Rc::clone(&encoder.inner);
        self.inner.lend(async move |classifier| {
            let values = crate::attribution::attribute_part(
                classifier,
                &encoder,
                &text,
                label,
                steps,
                (part, parts),
            )
            .await?;
            Ok(Float32Array::from(values.as_slice()).into())
        })
    }

    /// Evaluates on the test part of `features` → Promise<Report>; the headline numbers are
    /// kept in the metadata.
    pub fn evaluate(&self, features: &WebFeatures, dataset: &WebDataset) -> Promise {
        let features = Rc::clone(&features.inner);
        let rows = check_rows(&features, &dataset.inner);
        let targets = dataset.inner.test_targets();
        let test_start = dataset.inner.train.len() * features.dim;
        self.inner.lend(async move |classifier| {
            rows?;
            let test = &features.values[test_start..];
            to_js(
                &classifier
                    .evaluate_targets(test, &targets?, &head_device()?)
                    .await?,
            )
        })
    }
}

/// The default fine-tuning settings (`FineTuneSettings`: top 2 layers, 3 epochs, batch 32…).
#[wasm_bindgen(js_name = fineTuneSettings)]
pub fn fine_tune_settings() -> Result<JsValue, JsValue> {
    to_js(&FineTuneSettings::default())
}

/// Fine-tuning settings from JS (missing fields take the defaults), checked, with the
/// dataset's own validation part when it has one.
fn settings_for_fine_tuning(
    settings: JsValue,
    dataset: &WebDataset,
) -> Result<FineTuneSettings, JsValue> {
    let mut settings: FineTuneSettings = if settings.is_undefined() || settings.is_null() {
        FineTuneSettings::default()
    } else {
        from_js(settings, "fine-tuning settings")?
    };
    settings.validate()?;
    settings.validation_fraction = dataset
        .inner
        .validation_fraction(settings.validation_fraction);
    Ok(settings)
}

/// A fine-tuning run of the encoder's top layers on a dataset's training part: one caching
/// batch, optimizer step or validation batch per `step`, on the encoder's device.
#[wasm_bindgen(js_name = FineTuner)]
pub struct WebFineTuner {
    encoder: Rc<Encoder>,
    inner: Slot<FineTuner>,
    label_names: Vec<String>,
}

#[wasm_bindgen(js_class = FineTuner)]
impl WebFineTuner {
    /// Plans a run with `settings` (a `FineTuneSettings` object; missing fields take the
    /// defaults).
    #[wasm_bindgen(constructor)]
    pub fn new(
        encoder: &WebEncoder,
        dataset: &WebDataset,
        settings: JsValue,
    ) -> Result<WebFineTuner, JsValue> {
        Self::on_training_part(encoder, dataset, settings, FineTuner::with_targets)
    }

    /// A short run of these settings on a few of the training texts (`FineTuner::probe`), to
    /// time its steps: seconds per unit of each phase's work (`work_done`) on this device.
    pub fn probe(
        encoder: &WebEncoder,
        dataset: &WebDataset,
        settings: JsValue,
    ) -> Result<WebFineTuner, JsValue> {
        Self::on_training_part(encoder, dataset, settings, |e, texts, targets, s| {
            FineTuner::probe(e, texts, &targets, &s)
        })
    }

    /// `make`'s fine-tuner on the dataset's training texts and labels, with checked settings.
    fn on_training_part(
        encoder: &WebEncoder,
        dataset: &WebDataset,
        settings: JsValue,
        make: impl FnOnce(
            &Encoder,
            &[String],
            Targets,
            FineTuneSettings,
        ) -> Result<FineTuner, BertError>,
    ) -> Result<WebFineTuner, JsValue> {
        let settings = settings_for_fine_tuning(settings, dataset)?;
        let d = &dataset.inner;
        let texts: Vec<String> = d.train.iter().map(|e| e.text.clone()).collect();
        let tuner = make(&encoder.inner, &texts, d.train_targets()?, settings)?;
        Ok(WebFineTuner {
            encoder: Rc::clone(&encoder.inner),
            inner: Slot::new(tuner, "fine-tuning"),
            label_names: d.label_names.clone(),
        })
    }

    /// The run's work in each phase (`{caching, training, validating}`), in passes of the full
    /// encoder over one text, the unit of a step's `work_done`.
    #[wasm_bindgen(js_name = workByPhase)]
    pub fn work_by_phase(&self) -> Result<JsValue, JsValue> {
        self.inner.with(|tuner| to_js(&tuner.work_by_phase()))
    }

    /// Does the next unit of work → Promise<StepReport> (`phase`, `worked`, `epoch`, `done`,
    /// `total`, `texts`, `work_done`, `step`, `total_steps`, `running_loss`, and
    /// `epoch_report` when an epoch ended). With `helper` and `parts` > 1 its texts are split
    /// into `parts` shares (`FineTuner::step_with`): `helper(part, bytes)` returns a
    /// Promise<Uint8Array> of share `part` (another worker's `ShareRunner.run`), called before
    /// this instance computes its own; a share whose promise fails is computed here.
    pub fn step(&self, helper: Option<js_sys::Function>, parts: Option<usize>) -> Promise {
        let encoder = Rc::clone(&self.encoder);
        let parts = helper_parts(helper.as_ref(), parts);
        self.inner.lend(async move |tuner| {
            let remote = |part: usize, bytes: Vec<u8>| {
                let args = [
                    JsValue::from(part),
                    Uint8Array::from(bytes.as_slice()).into(),
                ];
                let answer = call_helper(helper.as_ref(), &args);
                async move { Ok(Uint8Array::from(answer.await?).to_vec()) }
            };
            to_js(&tuner.step_with(&encoder, parts, remote).await?)
        })
    }

    /// Whether every epoch has run.
    #[wasm_bindgen(getter)]
    pub fn finished(&self) -> bool {
        self.inner.is_none_or(FineTuner::is_finished)
    }

    /// → Promise<Classifier> of the best epoch (the run is used up).
    pub fn finish(&self) -> Promise {
        let tuner = self.inner.take();
        let label_names = self.label_names.clone();
        future_to_promise(async move {
            let tuned = tuner?.finish().await?;
            Ok(WebClassifier::new(Classifier::from_fine_tuned(tuned, label_names)).into())
        })
    }
}

/// A helper worker's side of fine-tuning on several threads: answers the shares of another
/// worker's `FineTuner.step` with this instance's copy of the model (`shard::ShareRunner`).
#[wasm_bindgen(js_name = ShareRunner)]
pub struct WebShareRunner {
    inner: Slot<ShareRunner>,
}

#[wasm_bindgen(js_class = ShareRunner)]
impl WebShareRunner {
    /// A runner with no run yet.
    #[wasm_bindgen(constructor)]
    pub fn new() -> WebShareRunner {
        WebShareRunner {
            inner: Slot::new(ShareRunner::new(), "fine-tuning shares"),
        }
    }

    /// Answers the share in `bytes` with `encoder` → Promise<Uint8Array>.
    pub fn run(&self, encoder: &WebEncoder, bytes: Vec<u8>) -> Promise {
        let encoder = Rc::clone(&encoder.inner);
        self.inner.lend(async move |runner| {
            let answer = runner.run(&encoder, &bytes).await?;
            Ok(Uint8Array::from(answer.as_slice()).into())
        })
    }
}

impl Default for WebShareRunner {
    fn default() -> Self {
        Self::new()
    }
}

#[wasm_bindgen(js_class = Classifier)]
impl WebClassifier {
    /// Whether the encoder's top layers were fine-tuned (it then needs texts, not features).
    #[wasm_bindgen(getter, js_name = fineTuned)]
    pub fn fine_tuned(&self) -> Result<bool, JsValue> {
        self.inner.with(|c| Ok(c.is_fine_tuned()))
    }
}

/// Scoring a classifier on a dataset's test texts, or on any texts, one batch per step
/// (`evaluate::Scoring`).
#[wasm_bindgen(js_name = Scoring)]
pub struct WebScoring {
    inner: Slot<Scoring>,
    encoder: Rc<Encoder>,
    /// The test texts' labels; `None` for texts to classify.
    targets: Option<Targets>,
}

#[wasm_bindgen(js_class = Scoring)]
impl WebScoring {
    /// Plans scoring `classifier` (on `encoder`) on `dataset`'s test texts, `batch_size` a step.
    #[wasm_bindgen(constructor)]
    pub fn new(
        classifier: &WebClassifier,
        encoder: &WebEncoder,
        dataset: &WebDataset,
        batch_size: usize,
    ) -> Result<WebScoring, JsValue> {
        let texts = dataset.inner.test.iter().map(|e| e.text.clone()).collect();
        let targets = dataset.inner.test_targets()?;
        Self::planned(classifier, encoder, texts, batch_size, Some(targets))
    }

    /// Plans classifying `texts` (read as `classify` reads them: HTML stripped) with
    /// `classifier`, `batch_size` a step, in order of length; `Classifier.scoredPredictions`
    /// gives the predictions in the order given.
    #[wasm_bindgen(js_name = ofTexts)]
    pub fn of_texts(
        classifier: &WebClassifier,
        encoder: &WebEncoder,
        texts: Vec<String>,
        batch_size: usize,
    ) -> Result<WebScoring, JsValue> {
        let texts = texts
            .iter()
            .map(|t| crate::classifier::input_text(t))
            .collect();
        Self::planned(classifier, encoder, texts, batch_size, None)
    }

    fn planned(
        classifier: &WebClassifier,
        encoder: &WebEncoder,
        texts: Vec<String>,
        batch_size: usize,
        targets: Option<Targets>,
    ) -> Result<WebScoring, JsValue> {
        let scoring = classifier
            .inner
            .with(|c| Ok(Scoring::new(c, &encoder.inner, texts, batch_size)?))?;
        Ok(WebScoring {
            inner: Slot::new(scoring, "scoring"),
            encoder: Rc::clone(&encoder.inner),
            targets,
        })
    }

    /// Texts scored so far.
    #[wasm_bindgen(getter)]
    pub fn done(&self) -> Result<usize, JsValue> {
        self.inner.with(|s| Ok(s.done()))
    }

    /// Texts to score.
    #[wasm_bindgen(getter)]
    pub fn total(&self) -> Result<usize, JsValue> {
        self.inner.with(|s| Ok(s.total()))
    }

    /// Whether every text is scored.
    #[wasm_bindgen(getter)]
    pub fn finished(&self) -> bool {
        self.inner.is_none_or(Scoring::is_finished)
    }
}

#[wasm_bindgen(js_class = Classifier)]
impl WebClassifier {
    /// Scores the next batch of `scoring` → Promise<number> (texts done so far). With `helper`
    /// and `parts` > 1, the next `parts` batches: `helper(part, texts)` returns a
    /// Promise<Float32Array> of batch `part`'s probabilities (another worker's
    /// `probabilities`), called before this instance scores its own; a batch whose promise
    /// fails is scored here.
    #[wasm_bindgen(js_name = scoreStep)]
    pub fn score_step(
        &self,
        scoring: &WebScoring,
        helper: Option<js_sys::Function>,
        parts: Option<usize>,
    ) -> Promise {
        let (slot, encoder) = (scoring.inner.share(), Rc::clone(&scoring.encoder));
        let parts = helper_parts(helper.as_ref(), parts);
        self.inner.lend(async move |classifier| {
            let mut s = slot.take()?;
            let remote = |part: usize, texts: Vec<String>| {
                let texts: js_sys::Array =
                    texts.iter().map(|t| JsValue::from(t.as_str())).collect();
                let answer = call_helper(helper.as_ref(), &[JsValue::from(part), texts.into()]);
                async move { Ok(Float32Array::from(answer.await?).to_vec()) }
            };
            let done = s.step_with(classifier, &encoder, parts, remote).await;
            *slot.value.borrow_mut() = Some(s);
            Ok(JsValue::from(done? as u32))
        })
    }

    /// The predictions of a finished `scoring` (used up), in the order its texts were given.
    #[wasm_bindgen(js_name = scoredPredictions)]
    pub fn scored_predictions(&self, scoring: &WebScoring) -> Result<JsValue, JsValue> {
        let probs = scoring.inner.take()?.into_probabilities()?;
        self.inner
            .with(|classifier| to_js(&classifier.predictions(&probs)))
    }

    /// The test report of a finished `scoring` (used up); the headline numbers are kept in the
    /// metadata.
    #[wasm_bindgen(js_name = scoreFinish)]
    pub fn score_finish(&self, scoring: &WebScoring) -> Result<JsValue, JsValue> {
        let s = scoring.inner.take()?;
        let targets = scoring.targets.as_ref().ok_or_else(|| {
            BertError::Internal("these texts have no labels to score against".into())
        })?;
        self.inner
            .with(|classifier| to_js(&s.report(classifier, targets)?))
    }
}
