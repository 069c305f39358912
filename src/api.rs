//! The whole JavaScript surface of bertweb (wasm32 only). Everything here converts between
//! JS values and the plain Rust API; no model logic lives in this file.

use std::cell::RefCell;
use std::rc::Rc;

use burn::tensor::Device;
use burn::tensor::wgpu::WgpuBackend;
use js_sys::{Float32Array, Promise, Reflect};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::encoder::Encoder;
use crate::error::BertError;
use crate::model::Pooling;

impl From<BertError> for JsValue {
    fn from(error: BertError) -> Self {
        JsError::new(&error.to_string()).into()
    }
}

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

thread_local! {
    // burn registers one wgpu runtime per adapter selector; it cannot be initialized twice,
    // so a second model load reuses the first device.
    static WEBGPU: RefCell<Option<Device>> = const { RefCell::new(None) };
}

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

/// Whether this JS realm exposes `navigator.gpu` (an adapter may still be refused).
#[wasm_bindgen(js_name = webgpuSupported)]
pub fn webgpu_supported() -> bool {
    let global = js_sys::global();
    Reflect::get(&global, &"navigator".into())
        .and_then(|nav| Reflect::get(&nav, &"gpu".into()))
        .is_ok_and(|gpu| !gpu.is_undefined() && !gpu.is_null())
}

/// A BERT encoder loaded in this wasm instance.
#[wasm_bindgen(js_name = Encoder)]
pub struct WebEncoder {
    inner: Rc<Encoder>,
    device: &'static str,
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
    /// does not pay for kernel compilation.
    pub async fn load(
        config: Vec<u8>,
        weights: Vec<u8>,
        tokenizer: Vec<u8>,
        device: String,
    ) -> Result<WebEncoder, JsValue> {
        let (burn_device, name) = match device.as_str() {
            "webgpu" => (webgpu_device().await?, "webgpu"),
            "cpu" => (Device::flex(), "cpu"),
            other => {
                return Err(BertError::Device(format!(
                    "unknown device `{other}`: use \"webgpu\" or \"cpu\""
                ))
                .into());
            }
        };
        let encoder = Encoder::load(&config, &weights, &tokenizer, &burn_device)?;
        drop((config, weights, tokenizer));
        encoder.embed(&["warm up"], Pooling::Mean, 8).await?;
        Ok(WebEncoder {
            inner: Rc::new(encoder),
            device: name,
        })
    }

    /// "webgpu" or "cpu": what actually runs the model.
    #[wasm_bindgen(getter)]
    pub fn device(&self) -> String {
        self.device.to_string()
    }

    /// Width of the vectors `embed` returns.
    #[wasm_bindgen(getter)]
    pub fn dim(&self) -> usize {
        self.inner.dim()
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
