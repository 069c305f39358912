// Module Worker that owns the bertweb wasm instance. It answers the requests of www/client.js
// (message shapes: the @typedefs there), one at a time, and posts progress between steps.

import init, { Encoder } from '../pkg/bertweb.js';

/** @type {Promise<unknown> | null} */
let wasmReady = null;
/** @type {Encoder | null} */
let encoder = null;
/** The bytes the current encoder was loaded from, kept so the user can switch device. */
let currentFiles = null;
/** Set once the wasm instance trapped (a Rust panic): it cannot be trusted afterwards. */
let crashed = null;
/** Messages of the wasm's typed errors that are about the files, not the device. */
const MODEL_ERROR = /^(config\.json|model\.safetensors|tokenizer)/;
/** Ids of requests asked to stop. */
const cancelled = new Set();
/** Requests run one after another: a load must not free the encoder under a running embed. */
let queue = Promise.resolve();

class CancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'CancelledError';
  }
}

function progress(id, stage, message, extra = {}) {
  self.postMessage({ id, type: 'progress', stage, message, ...extra });
}

/** Let queued messages (a cancel) in between two wasm calls. */
function yieldToEvents() {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function checkCancelled(id) {
  if (cancelled.delete(id)) throw new CancelledError();
}

/** Whether navigator.gpu gives an adapter here; a reason string when it does not. */
async function webgpuAdapter() {
  if (!('gpu' in navigator) || !navigator.gpu) {
    return { ok: false, reason: 'this browser does not offer WebGPU (it has no navigator.gpu)' };
  }
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return { ok: false, reason: 'the browser gave no WebGPU adapter (no usable GPU, or WebGPU is turned off)' };
    return { ok: true, reason: null };
  } catch (err) {
    return { ok: false, reason: `WebGPU adapter request failed: ${err?.message ?? err}` };
  }
}

/**
 * Load an encoder on the device asked for, falling back from WebGPU to CPU with a reason.
 * The previous encoder is freed only once the new one is ready.
 */
async function loadEncoder(id, files, requested) {
  const started = performance.now();
  if (!wasmReady) {
    progress(id, 'wasm', 'Starting the WebAssembly module…');
    wasmReady = init();
  }
  try {
    await wasmReady;
  } catch (err) {
    wasmReady = null;
    throw new Error(`the WebAssembly module (pkg/bertweb_bg.wasm) could not be started: ${err?.message ?? err}`);
  }

  const bytes = {
    config: new Uint8Array(files.config),
    weights: new Uint8Array(files.weights),
    tokenizer: new Uint8Array(files.tokenizer),
  };

  let device = requested === 'cpu' ? 'cpu' : 'webgpu';
  let fallback = null;
  if (device === 'webgpu') {
    const gpu = await webgpuAdapter();
    if (!gpu.ok) {
      fallback = gpu.reason;
      device = 'cpu';
    }
  }

  let next;
  if (device === 'webgpu') {
    progress(id, 'encoder', 'Loading the model on WebGPU (compiling shaders and a warm-up pass)…');
    try {
      next = await Encoder.load(bytes.config, bytes.weights, bytes.tokenizer, 'webgpu');
    } catch (err) {
      const message = err?.message ?? String(err);
      // A model error (bad file) is the same on any device: report it instead of retrying on CPU.
      if (MODEL_ERROR.test(message) || err instanceof WebAssembly.RuntimeError) throw err;
      fallback = `WebGPU failed: ${message}`;
      device = 'cpu';
    }
  }
  if (device === 'cpu') {
    progress(id, 'encoder', fallback ? `${fallback}. Loading the model on CPU…` : 'Loading the model on CPU…');
    next = await Encoder.load(bytes.config, bytes.weights, bytes.tokenizer, 'cpu');
  }

  const previous = encoder;
  encoder = next;
  currentFiles = files;
  previous?.free();
  return {
    device: encoder.device,
    requested,
    fallback,
    dim: encoder.dim,
    maxPositions: encoder.maxPositions,
    loadMs: performance.now() - started,
  };
}

function requireEncoder() {
  if (!encoder) throw new Error('no model is loaded yet: load one first');
  return encoder;
}

async function embed(id, { texts, pooling, maxLen, batchSize }) {
  if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string')) {
    throw new TypeError('texts must be an array of strings');
  }
  const enc = requireEncoder();
  const dim = enc.dim;
  const step = Math.max(1, Math.floor(batchSize) || 32);
  if (texts.length <= step) return enc.embed(texts, pooling, maxLen);

  const out = new Float32Array(texts.length * dim);
  for (let start = 0; start < texts.length; start += step) {
    checkCancelled(id);
    const batch = texts.slice(start, start + step);
    out.set(await enc.embed(batch, pooling, maxLen), start * dim);
    const done = Math.min(start + step, texts.length);
    progress(id, 'embed', `Embedded ${done} of ${texts.length} texts`, { done, total: texts.length });
    await yieldToEvents();
  }
  return out;
}

async function handle(msg) {
  const { id, type } = msg;
  if (crashed) throw new Error(`the model crashed earlier (${crashed}): reload the page`);
  switch (type) {
    case 'load':
      return loadEncoder(id, msg.files, msg.device ?? 'auto');
    case 'reload':
      if (!currentFiles) throw new Error('no model is loaded yet: load one first');
      return loadEncoder(id, currentFiles, msg.device ?? 'auto');
    case 'embed':
      return embed(id, msg);
    case 'tokenize':
      return requireEncoder().tokenize(msg.texts, msg.maxLen);
    default:
      throw new Error(`unknown request type ${JSON.stringify(type)}`);
  }
}

function reply(id, value) {
  const own = value instanceof Float32Array && value.byteLength === value.buffer.byteLength;
  try {
    self.postMessage({ id, type: 'result', value }, own ? [value.buffer] : []);
  } catch {
    // A buffer that cannot be transferred (e.g. a view on wasm memory): send a copy.
    self.postMessage({ id, type: 'result', value: value instanceof Float32Array ? value.slice() : value });
  }
}

function replyError(id, err) {
  if (err instanceof WebAssembly.RuntimeError) {
    crashed = err.message;
    self.postMessage({
      id,
      type: 'error',
      name: 'RuntimeError',
      message: `the model crashed inside WebAssembly (${err.message}): reload the page`,
    });
    return;
  }
  const message = err instanceof Error ? err.message : String(err);
  self.postMessage({ id, type: 'error', name: err?.name ?? 'Error', message });
}

self.addEventListener('message', (event) => {
  const msg = event.data;
  if (msg?.type === 'cancel') {
    cancelled.add(msg.target);
    return;
  }
  queue = queue.then(async () => {
    try {
      checkCancelled(msg.id);
      reply(msg.id, await handle(msg));
    } catch (err) {
      replyError(msg.id, err);
    } finally {
      cancelled.delete(msg.id);
    }
  });
});
