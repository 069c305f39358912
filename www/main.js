// UI thread: fetches model files, renders state. All model work happens in www/worker.js,
// reached through the promise RPC in www/client.js. Text goes into the DOM as textContent only.

import { BertClient } from './client.js';

/** Folder of the default model, relative to this file (fetched by scripts/fetch_model.py). */
const DEFAULT_MODEL_URL = new URL('../models/all-MiniLM-L6-v2/', import.meta.url);
const DEFAULT_MODEL_NAME = 'all-MiniLM-L6-v2';
const MAX_LEN = 55;
const POOLING = 'mean';

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const ui = {
  modelName: $('model-name'),
  deviceLabel: $('device-label'),
  progressLine: $('load-progress-line'),
  progress: /** @type {HTMLProgressElement} */ ($('load-progress')),
  bytes: $('load-bytes'),
  device: /** @type {HTMLSelectElement} */ ($('device')),
  files: /** @type {HTMLInputElement} */ ($('model-files')),
  form: /** @type {HTMLFormElement} */ ($('embed-form')),
  text: /** @type {HTMLTextAreaElement} */ ($('text')),
  embed: /** @type {HTMLButtonElement} */ ($('embed')),
  result: $('result'),
  resultDim: $('result-dim'),
  resultTime: $('result-time'),
  resultNorm: $('result-norm'),
  resultTokens: $('result-tokens'),
  resultValues: $('result-values'),
  status: $('status'),
};

const client = new BertClient();
let busy = false;

/**
 * Show a message in the status area.
 * @param {string} text
 * @param {'info' | 'ok' | 'warn' | 'error'} [kind]
 */
function setStatus(text, kind = 'info') {
  ui.status.dataset.kind = kind;
  ui.status.textContent = kind === 'error' ? `Error: ${text}` : text;
}

function setBusy(value) {
  busy = value;
  const noModel = client.info === null;
  ui.embed.disabled = value || noModel;
  ui.device.disabled = value || noModel;
  ui.files.disabled = value;
  document.body.setAttribute('aria-busy', String(value));
}

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

const DEVICE_NAMES = { webgpu: 'WebGPU', cpu: 'CPU (WebAssembly)' };

/** @param {import('./client.js').EncoderInfo} info */
function showEncoder(info, modelName) {
  ui.modelName.textContent = modelName;
  ui.deviceLabel.textContent = DEVICE_NAMES[info.device] ?? info.device;
  ui.deviceLabel.dataset.device = info.device;
  const seconds = (info.loadMs / 1000).toFixed(1);
  if (info.fallback) {
    setStatus(`The model runs on the CPU because WebGPU is not available: ${sentence(info.fallback)} ` +
      `Ready: ${modelName}, ${info.dim} dimensions, loaded in ${seconds} s.`, 'warn');
  } else {
    setStatus(`Ready: ${modelName} on ${DEVICE_NAMES[info.device] ?? info.device}, ` +
      `${info.dim} dimensions, loaded in ${seconds} s.`, 'ok');
  }
}

function onWorkerProgress(p) {
  if (p.stage === 'wasm' || p.stage === 'encoder') setStatus(p.message);
}

/** End a message with a full stop unless it already ends with punctuation. */
function sentence(text) {
  const t = String(text).trim();
  return /[.!?:]$/.test(t) ? t : `${t}.`;
}

/**
 * Fetch a URL, rejecting on an HTTP error status; the body is left unread.
 * @param {URL} url
 * @returns {Promise<Response>}
 */
async function fetchOk(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url.pathname.split('/').pop()}: HTTP ${response.status} ${response.statusText}`);
  return response;
}

/** Read a response body into one ArrayBuffer, reporting each chunk's size. */
async function readBody(response, onChunk) {
  const length = Number(response.headers.get('Content-Length')) || 0;
  if (!response.body) {
    const buf = await response.arrayBuffer();
    onChunk(buf.byteLength);
    return buf;
  }
  const reader = response.body.getReader();
  const chunks = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.byteLength;
    onChunk(value.byteLength);
  }
  const out = new Uint8Array(length === received ? length : received);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out.buffer;
}

/** Fetch the default model's files with one progress bar over all their bytes. */
async function fetchDefaultModel() {
  const at = (name) => new URL(name, DEFAULT_MODEL_URL);
  const tokenizerResponse = fetch(at('tokenizer.json')).then((r) => (r.ok ? r : fetchOk(at('vocab.txt'))));
  const [config, weights, tokenizer] = await Promise.all([
    fetchOk(at('config.json')),
    fetchOk(at('model.safetensors')),
    tokenizerResponse,
  ]);
  const responses = { config, weights, tokenizer };
  const lengths = Object.values(responses).map((r) => Number(r.headers.get('Content-Length')));
  const total = lengths.every((n) => n > 0) ? lengths.reduce((a, b) => a + b, 0) : 0;
  let loaded = 0;
  ui.progressLine.hidden = false;
  if (total) ui.progress.max = total;
  else ui.progress.removeAttribute('value'); // indeterminate
  const onChunk = (n) => {
    loaded += n;
    if (total) {
      ui.progress.value = loaded;
      ui.bytes.textContent = `${formatBytes(loaded)} of ${formatBytes(total)}`;
    } else {
      ui.bytes.textContent = formatBytes(loaded);
    }
  };
  setStatus(`Downloading ${DEFAULT_MODEL_NAME}…`);
  const entries = await Promise.all(
    Object.entries(responses).map(async ([key, r]) => [key, await readBody(r, onChunk)]),
  );
  ui.progressLine.querySelector('label').textContent = 'Downloaded';
  return Object.fromEntries(entries);
}

/** Load the default model on the best device. Resolves to the encoder info. */
async function loadDefault() {
  setBusy(true);
  try {
    let files;
    try {
      files = await fetchDefaultModel();
    } catch (err) {
      throw new Error(`could not download the default model (${err.message}). ` +
        'Run `python3 scripts/fetch_model.py` and reload, or pick your own model files above.');
    }
    const info = await client.load(files, ui.device.value, onWorkerProgress);
    showEncoder(info, DEFAULT_MODEL_NAME);
    return info;
  } catch (err) {
    setStatus(err.message, 'error');
    throw err;
  } finally {
    setBusy(false);
  }
}

/** Sort picked files into the three an encoder needs; throws a message saying what is missing. */
function pickModelFiles(fileList) {
  const files = [...fileList];
  const byName = (name) => files.find((f) => f.name === name);
  const config = byName('config.json');
  const weights = byName('model.safetensors') ?? files.find((f) => f.name.endsWith('.safetensors'));
  const tokenizer = byName('tokenizer.json') ?? byName('vocab.txt');
  const missing = [];
  if (!config) missing.push('config.json');
  if (!weights) missing.push('model.safetensors');
  if (!tokenizer) missing.push('tokenizer.json or vocab.txt');
  if (missing.length) {
    throw new Error(`missing ${missing.join(', ')}. Pick config.json, model.safetensors and ` +
      'tokenizer.json (or vocab.txt) together from one Hugging Face BERT folder.');
  }
  return { config, weights, tokenizer };
}

async function onFilesPicked() {
  if (!ui.files.files?.length || busy) return;
  setBusy(true);
  try {
    const picked = pickModelFiles(ui.files.files);
    setStatus(`Reading ${picked.weights.name} (${formatBytes(picked.weights.size)})…`);
    const [config, weights, tokenizer] = await Promise.all(
      [picked.config, picked.weights, picked.tokenizer].map((f) => f.arrayBuffer()),
    );
    const info = await client.load({ config, weights, tokenizer }, ui.device.value, onWorkerProgress);
    ui.result.hidden = true;
    showEncoder(info, `your files (${picked.weights.name}, ${picked.tokenizer.name})`);
  } catch (err) {
    const keep = client.info ? ' The previous model is still loaded and usable.' : '';
    setStatus(`could not load your model: ${sentence(err.message)}${keep}`, 'error');
  } finally {
    ui.files.value = '';
    setBusy(false);
  }
}

async function onDeviceChanged() {
  if (busy || !client.info) return;
  setBusy(true);
  try {
    const info = await client.reload(ui.device.value, onWorkerProgress);
    showEncoder(info, ui.modelName.textContent ?? '');
  } catch (err) {
    setStatus(`could not switch device: ${sentence(err.message)} Choose another device or reload the page.`, 'error');
  } finally {
    setBusy(false);
  }
}

async function onEmbed(event) {
  event.preventDefault();
  if (busy) return;
  const text = ui.text.value;
  if (!text.trim()) {
    setStatus('type some text to embed first.', 'error');
    ui.text.focus();
    return;
  }
  setBusy(true);
  setStatus('Embedding…');
  try {
    const started = performance.now();
    const vector = await client.embed([text], POOLING, MAX_LEN);
    const ms = performance.now() - started;
    const [tokens] = await client.tokenize([text], MAX_LEN);
    const norm = Math.sqrt(vector.reduce((s, v) => s + v * v, 0));
    ui.resultDim.textContent = String(vector.length);
    ui.resultTime.textContent = `${ms.toFixed(1)} ms on ${DEVICE_NAMES[client.device] ?? client.device}`;
    ui.resultNorm.textContent = norm.toFixed(4);
    ui.resultTokens.textContent = `${tokens.ids.length} (with [CLS] and [SEP], at most ${MAX_LEN})`;
    ui.resultValues.textContent = [...vector.subarray(0, 8)].map((v) => v.toFixed(4)).join(', ');
    ui.result.hidden = false;
    setStatus(`Embedded ${text.length} characters in ${ms.toFixed(1)} ms.`, 'ok');
  } catch (err) {
    setStatus(`could not embed: ${sentence(err.message)} Try another device, or reload the page.`, 'error');
  } finally {
    setBusy(false);
  }
}

ui.files.addEventListener('change', onFilesPicked);
ui.device.addEventListener('change', onDeviceChanged);
ui.form.addEventListener('submit', onEmbed);
ui.text.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) ui.form.requestSubmit();
});
ui.progressLine.hidden = true;

// `?device=cpu|webgpu|auto` picks the first device (a shareable link; the tests use it too).
const askedDevice = new URLSearchParams(location.search).get('device');
if ([...ui.device.options].some((o) => o.value === askedDevice)) ui.device.value = askedDevice;

const ready = loadDefault();
ready.catch(() => {}); // shown in the status area; tests await `ready` themselves

/** Test and console hook: `await bertweb.ready; await bertweb.client.embed([...])`. */
window.bertweb = { ready, client };
