// UI thread: fetches files, renders state. All model work (and CSV parsing, training, metrics)
// happens in www/worker.js, reached through the promise RPC in www/client.js. User text goes
// into the DOM as textContent only, never as HTML.

import { BertClient, CancelledError } from './client.js';
import { epochChart, fineTuneDiagram, headDiagram, rocChart } from './charts.js';
import { csvLine } from './csv.js';
import { evictFolders, markUsed, openModelCache } from './model_cache.js';
import { idbDelete, idbGet, idbPut, storageError } from './store.js';

/** Folder of the default model, relative to this file (fetched by scripts/fetch_model.py). */
const DEFAULT_MODEL_URL = new URL('../models/all-MiniLM-L6-v2/', import.meta.url);
const DEFAULT_MODEL_NAME = 'all-MiniLM-L6-v2';
const DEFAULT_CLASSIFIER_URL = new URL('../classifiers/default-minilm.safetensors', import.meta.url);
/** IndexedDB key of the classifier in use. */
const CURRENT_CLASSIFIER = 'current';
const MAX_LEN = 55;
const POOLING = 'mean';
/** Rows of a classified CSV shown in the page (the download has them all). */
const TABLE_ROWS = 200;

const $ = (id) => /** @type {any} */ (document.getElementById(id));
const ui = {
  status: $('status'),
  modelSection: $('model-section'),
  modelName: $('model-name'),
  deviceLabel: $('device-label'),
  threads: $('threads'),
  progressLine: $('load-progress-line'),
  progress: $('load-progress'),
  bytes: $('load-bytes'),
  device: $('device'),
  files: $('model-files'),
  ownModel: $('own-model'),
  urlForm: $('model-url-form'),
  url: $('model-url'),
  urlLoad: $('model-url-load'),
  // classify
  classifierName: $('classifier-name'),
  classifyForm: $('classify-form'),
  review: $('review'),
  classify: $('classify'),
  verdict: $('verdict'),
  batchFile: $('batch-file'),
  batchColumn: $('batch-column'),
  batchRun: $('batch-run'),
  batchCancel: $('batch-cancel'),
  batchProgressLine: $('batch-progress-line'),
  batchProgress: $('batch-progress'),
  batchRate: $('batch-rate'),
  classifyStatus: $('classify-status'),
  batchResult: $('batch-result'),
  batchDownload: $('batch-download'),
  batchSummary: $('batch-summary'),
  batchTable: $('batch-table'),
  // train
  csvDrop: $('csv-drop'),
  csvFile: $('csv-file'),
  dataStatus: $('data-status'),
  dataForm: $('data-form'),
  dataLayout: $('data-layout'),
  textColumn: $('text-column'),
  labelColumn: $('label-column'),
  labelMode: $('label-mode'),
  maxWords: $('max-words'),
  sampleSize: $('sample-size'),
  testFraction: $('test-fraction'),
  seed: $('seed'),
  stripHtml: $('strip-html'),
  preprocess: $('preprocess'),
  dataResult: $('data-result'),
  counts: $('counts'),
  examples: $('examples'),
  extract: $('extract'),
  extractCancel: $('extract-cancel'),
  extractProgressLine: $('extract-progress-line'),
  extractProgress: $('extract-progress'),
  extractRate: $('extract-rate'),
  extractStatus: $('extract-status'),
  trainControls: $('train-controls'),
  headControls: $('head-controls'),
  fineTuneControls: $('finetune-controls'),
  ftLayers: $('ft-layers'),
  ftLayersHelp: $('ft-layers-help'),
  ftEpochs: $('ft-epochs'),
  ftBatch: $('ft-batch'),
  ftEncoderLr: $('ft-encoder-lr'),
  ftHeadLr: $('ft-head-lr'),
  ftEstimate: $('ft-estimate'),
  fineTune: $('finetune'),
  fineTuneCancel: $('finetune-cancel'),
  ftProgressLine: $('ft-progress-line'),
  ftProgress: $('ft-progress'),
  ftPhase: $('ft-phase'),
  ftRate: $('ft-rate'),
  diagramCaption: $('diagram-caption'),
  preset: $('preset'),
  epochs: $('epochs'),
  train: $('train'),
  trainCancel: $('train-cancel'),
  headDiagram: $('head-diagram'),
  trainStatus: $('train-status'),
  chartLoss: $('chart-loss'),
  chartAccuracy: $('chart-accuracy'),
  chartAuroc: $('chart-auroc'),
  report: $('report'),
  reportTitle: $('report-title'),
  comparison: $('comparison'),
  comparisonTable: $('comparison-table'),
  comparisonHelp: $('comparison-help'),
  reportN: $('report-n'),
  reportAccuracy: $('report-accuracy'),
  reportAuroc: $('report-auroc'),
  reportF1: $('report-f1'),
  chartRoc: $('chart-roc'),
  confusion: $('confusion'),
  perClass: $('per-class'),
  // keep
  classifierDownload: $('classifier-download'),
  classifierFile: $('classifier-file'),
  classifierReset: $('classifier-reset'),
  keepStatus: $('keep-status'),
  // embed
  form: $('embed-form'),
  text: $('text'),
  embed: $('embed'),
  result: $('result'),
  resultDim: $('result-dim'),
  resultTime: $('result-time'),
  resultNorm: $('result-norm'),
  resultTokens: $('result-tokens'),
  resultValues: $('result-values'),
};

const client = new BertClient();

/** What the page holds besides the worker's state. */
const state = {
  busy: false,
  /** @type {{name: string, bytes: ArrayBuffer, hash: string, header: string[]} | null} */
  csv: null,
  /** @type {import('./client.js').DatasetSummary | null} */
  summary: null,
  extracted: false,
  /** @type {{data: import('./client.js').DataSettings, presets: Record<string, import('./client.js').TrainSettings>} | null} */
  defaults: null,
  /** @type {import('./client.js').ClassifierMeta | null} */
  classifier: null,
  /** @type {{name: string, bytes: ArrayBuffer, header: string[]} | null} */
  batch: null,
  /** @type {AbortController | null} the long job that a Cancel button stops */
  job: null,
  /**
   * The full encoder's measured rate on this device, for fine-tuning estimates.
   * @type {{textsPerSecond: number, how: string, device: string, modelId: string} | null}
   */
  rate: null,
  /**
   * This session's test reports, by what made them, with the data they were made on (`key`),
   * for the side-by-side comparison.
   * @type {{head?: {key: string, report: import('./client.js').Report, label: string},
   *   finetune?: {key: string, report: import('./client.js').Report, label: string}}}
   */
  reports: {},
};

// ---- small helpers ------------------------------------------------------------------------

/** End a message with a full stop unless it already ends with punctuation. */
function sentence(text) {
  const t = String(text).trim();
  return /[.!?:]$/.test(t) ? t : `${t}.`;
}

/**
 * Show a message in the status area at the top (model and page state).
 * @param {string} text
 * @param {'info' | 'ok' | 'warn' | 'error'} [kind]
 */
function setStatus(text, kind = 'info') {
  say(ui.status, text, kind);
}

/** Show a message in one section's status line. */
function say(el, text, kind = 'info') {
  el.hidden = false;
  el.dataset.kind = kind;
  el.textContent = kind === 'error' ? `Error: ${text}` : text;
}

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

function formatSeconds(s) {
  if (!Number.isFinite(s)) return '…';
  if (s < 60) return `${Math.ceil(s)} s`;
  return `${Math.floor(s / 60)} min ${Math.ceil(s % 60)} s`;
}

const pct = (p, digits = 0) => `${(p * 100).toFixed(digits)} %`;
const num = (v, digits = 3) => (v === null || v === undefined ? 'n/a' : Number(v).toFixed(digits));

function cell(tag, text) {
  const el = document.createElement(tag);
  el.textContent = String(text);
  return el;
}

function row(cells, headerFirst = false) {
  const tr = document.createElement('tr');
  cells.forEach((c, i) => tr.append(cell(headerFirst && i === 0 ? 'th' : 'td', c)));
  return tr;
}

async function sha256(bytes) {
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** A long job: a Cancel button that aborts it, shown while it runs. */
function startJob(cancelButton) {
  const job = new AbortController();
  state.job = job;
  cancelButton.hidden = false;
  cancelButton.disabled = false;
  cancelButton.onclick = () => {
    cancelButton.disabled = true;
    job.abort();
  };
  return job;
}

function endJob(cancelButton) {
  cancelButton.hidden = true;
  cancelButton.onclick = null;
  state.job = null;
}

function setBusy(value) {
  state.busy = value;
  refreshControls();
}

/** Enable what can be used now. */
function refreshControls() {
  const busy = state.busy;
  const model = client.info !== null;
  ui.embed.disabled = busy || !model;
  ui.device.disabled = busy || !model;
  ui.threads.disabled = busy || !model;
  ui.files.disabled = busy;
  ui.urlLoad.disabled = busy;
  ui.classify.disabled = busy || !model || !state.classifier;
  ui.batchRun.disabled = busy || !model || !state.classifier || !state.batch;
  ui.batchColumn.disabled = busy || !state.batch;
  ui.csvFile.disabled = busy;
  ui.preprocess.disabled = busy || !state.csv;
  ui.extract.disabled = busy || !model || !state.summary;
  ui.train.disabled = busy || !state.extracted;
  ui.fineTune.disabled = busy || !model || !state.extracted;
  for (const input of [ui.ftLayers, ui.ftEpochs, ui.ftBatch, ui.ftEncoderLr, ui.ftHeadLr])
    input.disabled = busy;
  for (const radio of document.querySelectorAll('input[name="train-mode"]')) radio.disabled = busy;
  ui.classifierDownload.disabled = busy || !state.classifier;
  ui.classifierFile.disabled = busy;
  ui.classifierReset.disabled = busy;
  document.body.setAttribute('aria-busy', String(busy));
}

// ---- model --------------------------------------------------------------------------------

const DEVICE_NAMES = { webgpu: 'WebGPU', cpu: 'CPU (WebAssembly)' };

/** The device line: "CPU (WebAssembly), 2 threads". */
function showDevice(device, threads = 1) {
  const name = DEVICE_NAMES[device] ?? device;
  ui.deviceLabel.textContent = device === 'cpu' && threads > 1 ? `${name}, ${threads} threads` : name;
  ui.deviceLabel.dataset.device = device;
  ui.deviceLabel.dataset.threads = String(threads);
}

/** @param {import('./client.js').EncoderInfo} info */
function showEncoder(info, modelName) {
  ui.modelName.textContent = modelName;
  showDevice(info.device, info.threads);
  ui.threads.options[0].textContent = `Automatic (${info.autoThreads})`;
  const seconds = (info.loadMs / 1000).toFixed(1);
  if (info.fallback) {
    setStatus(
      `The model runs on the CPU because WebGPU is not available: ${sentence(info.fallback)} ` +
        `Ready: ${modelName}, ${info.dim} dimensions, loaded in ${seconds} s.`,
      'warn',
    );
  } else {
    setStatus(
      `Ready: ${modelName} on ${DEVICE_NAMES[info.device] ?? info.device}, ` +
        `${info.dim} dimensions, loaded in ${seconds} s.`,
      'ok',
    );
  }
  showClassifier();
  if (!ui.trainControls.hidden && trainMode() === 'finetune') scheduleEstimate();
}

/** A model load's steps, in the status line. */
function onLoadProgress(p) {
  if (p.stage === 'wasm' || p.stage === 'encoder') setStatus(p.message);
}

/**
 * Every request's progress: a switch to the CPU, whatever request it happened in. (Other
 * requests' steps stay out of the status line: a classifier loading after the model failed
 * would hide that error.)
 */
function onWorkerProgress(p) {
  if (p.stage === 'fallback' && client.info) {
    client.info = { ...client.info, device: 'cpu', fallback: p.reason };
    showDevice('cpu', 1);
    setStatus(`${sentence(p.reason)} Your data and results are kept.`, 'warn');
  }
}
client.onProgress(onWorkerProgress);

class HttpError extends Error {
  constructor(name, status, statusText) {
    super(`${name}: HTTP ${status} ${statusText}`);
    this.status = status;
  }
}

/** Read a response body into one ArrayBuffer, reporting each chunk's size. */
async function readBody(response, onChunk) {
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
  const out = new Uint8Array(received);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out.buffer;
}

/**
 * Fetch a Hugging Face folder's config.json, model.safetensors and tokenizer.json (or
 * vocab.txt) with one progress bar over all their bytes; the Cache API keeps them, so the next
 * visit (and an offline one) reads them from there, along with the default model and the most
 * recently used other folders (www/model_cache.js).
 * @param {URL} base folder URL ending in '/'
 * @param {string} label what to call it in messages
 */
async function fetchModelFolder(base, label) {
  const cache = await openModelCache();
  const get = async (name) => {
    const url = new URL(name, base).href;
    const hit = await cache?.match(url);
    if (hit) return { url, response: hit, cached: true };
    let response;
    try {
      response = await fetch(url);
    } catch (err) {
      throw new Error(`${name}: ${err.message} (offline, or the server does not allow this page to read it)`);
    }
    if (!response.ok) throw new HttpError(name, response.status, response.statusText);
    return { url, response, cached: false };
  };
  const tokenizer = get('tokenizer.json').catch((first) =>
    get('vocab.txt').catch(() => {
      throw first;
    }),
  );
  const settled = await Promise.allSettled([get('config.json'), get('model.safetensors'), tokenizer]);
  const failed = settled.filter((r) => r.status === 'rejected').map((r) => r.reason.message);
  if (failed.length) throw new Error(failed.join('; '));
  const [config, weights, tok] = settled.map((r) => /** @type {PromiseFulfilledResult<any>} */ (r).value);
  const parts = { config, weights, tokenizer: tok };
  const lengths = Object.values(parts).map((p) => Number(p.response.headers.get('Content-Length')));
  const total = lengths.every((n) => n > 0) ? lengths.reduce((a, b) => a + b, 0) : 0;
  const fromCache = Object.values(parts).every((p) => p.cached);
  let loaded = 0;
  ui.progressLine.hidden = false;
  ui.progressLine.querySelector('label').textContent = fromCache ? 'Reading from cache' : 'Downloading';
  ui.progress.max = total || 1;
  if (!total) ui.progress.removeAttribute('value');
  const onChunk = (n) => {
    loaded += n;
    if (total) ui.progress.value = loaded;
    ui.bytes.textContent = total ? `${formatBytes(loaded)} of ${formatBytes(total)}` : formatBytes(loaded);
  };
  setStatus(`${fromCache ? 'Reading' : 'Downloading'} ${label}…`);
  const entries = await Promise.all(
    Object.entries(parts).map(async ([key, p]) => [key, await readBody(p.response, onChunk)]),
  );
  ui.progressLine.querySelector('label').textContent = fromCache ? 'Read from cache' : 'Downloaded';
  const files = Object.fromEntries(entries);
  if (!cache) return { files, stored: Promise.resolve(null) };
  // Copied now, since the caller hands the originals to the worker; stored while the model loads.
  const fresh = Object.entries(parts)
    .filter(([, p]) => !p.cached)
    .map(([key, p]) => ({
      url: p.url,
      bytes: files[key].slice(0),
      type: p.response.headers.get('Content-Type') ?? 'application/octet-stream',
    }));
  const stored = markUsed(cache, base.href).then(async () => {
    if (!fresh.length) return null;
    // Room first: the folders beyond the most recently used go before this one is stored.
    await evictFolders(cache, DEFAULT_MODEL_URL.href).catch(() => {});
    return storeModelFiles(cache, fresh);
  });
  return { files, stored };
}

/** Put fetched model files into the Cache API; resolves to why that failed, or null. */
async function storeModelFiles(cache, fresh) {
  let warning = null;
  for (const { url, bytes, type } of fresh) {
    const headers = { 'Content-Type': type, 'Content-Length': String(bytes.byteLength) };
    try {
      await cache.put(url, new Response(bytes, { headers }));
    } catch (err) {
      warning = storageError(err).message;
    }
  }
  return warning;
}

/** Load the default model on the chosen device. Resolves to the encoder info. */
async function loadDefault() {
  setBusy(true);
  try {
    let fetched;
    try {
      fetched = await fetchModelFolder(DEFAULT_MODEL_URL, DEFAULT_MODEL_NAME);
    } catch (err) {
      throw new Error(
        `could not download the default model (${err.message}). ` +
          'Run `python3 scripts/fetch_model.py` and reload, or use your own model files below.',
      );
    }
    const info = await client.load(fetched.files, ui.device.value, onLoadProgress);
    showEncoder(info, DEFAULT_MODEL_NAME);
    const cacheWarning = await fetched.stored;
    if (cacheWarning)
      setStatus(`${ui.status.textContent} Not cached for offline use: ${cacheWarning}`, 'warn');
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
    throw new Error(
      `missing ${missing.join(', ')}. Pick config.json, model.safetensors and ` +
        'tokenizer.json (or vocab.txt) together from one Hugging Face BERT folder.',
    );
  }
  return { config, weights, tokenizer };
}

/** After a new model: features belong to the old one, the classifier may not fit. */
function modelChanged() {
  state.extracted = false;
  ui.trainControls.hidden = true;
  ui.result.hidden = true;
  ui.verdict.textContent = '';
  showClassifier();
}

async function loadModelFiles(fileList) {
  if (!fileList?.length || state.busy) return;
  setBusy(true);
  try {
    const picked = pickModelFiles(fileList);
    setStatus(`Reading ${picked.weights.name} (${formatBytes(picked.weights.size)})…`);
    const [config, weights, tokenizer] = await Promise.all(
      [picked.config, picked.weights, picked.tokenizer].map((f) => f.arrayBuffer()),
    );
    const info = await client.load({ config, weights, tokenizer }, ui.device.value, onLoadProgress);
    showEncoder(info, `your files (${picked.weights.name}, ${picked.tokenizer.name})`);
    modelChanged();
  } catch (err) {
    const keep = client.info ? ' The previous model is still loaded and usable.' : '';
    setStatus(`could not load your model: ${sentence(err.message)}${keep}`, 'error');
  } finally {
    ui.files.value = '';
    setBusy(false);
  }
}

async function onModelUrl(event) {
  event.preventDefault();
  if (state.busy) return;
  let base;
  try {
    base = new URL(ui.url.value.trim());
    if (!/^https?:$/.test(base.protocol)) throw new Error('not http(s)');
  } catch {
    setStatus(
      'that is not a web address: give the folder URL, e.g. https://huggingface.co/bert-base-uncased/resolve/main/',
      'error',
    );
    return;
  }
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  setBusy(true);
  try {
    const { files, stored } = await fetchModelFolder(base, base.href);
    const info = await client.load(files, ui.device.value, onLoadProgress);
    const name =
      base.pathname
        .split('/')
        .filter(Boolean)
        .filter((p) => !['resolve', 'main'].includes(p))
        .join('/') || base.host;
    showEncoder(info, name);
    modelChanged();
    const cacheWarning = await stored;
    if (cacheWarning)
      say(ui.status, `${ui.status.textContent} Not cached for offline use: ${cacheWarning}`, 'warn');
  } catch (err) {
    const keep = client.info ? ' The previous model is still loaded and usable.' : '';
    setStatus(
      `could not load the model from ${base.href}: ${sentence(err.message)} The folder must hold ` +
        `config.json, model.safetensors and tokenizer.json (or vocab.txt).${keep}`,
      'error',
    );
  } finally {
    setBusy(false);
  }
}

async function onDeviceChanged() {
  if (state.busy || !client.info) return;
  setBusy(true);
  try {
    const info = await client.reload(ui.device.value, onLoadProgress);
    showEncoder(info, ui.modelName.textContent ?? '');
  } catch (err) {
    setStatus(
      `could not switch device: ${sentence(err.message)} Choose another device or reload the page.`,
      'error',
    );
  } finally {
    setBusy(false);
  }
}

async function onThreadsChanged() {
  if (state.busy || !client.info) return;
  setBusy(true);
  try {
    const { threads } = await client.setThreads(threadsChoice());
    showDevice(client.info.device, threads);
    client.info = { ...client.info, threads };
  } catch (err) {
    setStatus(`could not change the CPU threads: ${sentence(err.message)}`, 'error');
  } finally {
    setBusy(false);
  }
}

/** The threads select's value: 'auto' or a number. */
function threadsChoice() {
  return ui.threads.value === 'auto' ? 'auto' : Number(ui.threads.value);
}

// ---- classifier ---------------------------------------------------------------------------

/** @type {string} where the current classifier came from, for its description */
let classifierSource = '';

function showClassifier() {
  const meta = state.classifier;
  if (!meta) {
    ui.classifierName.textContent = classifierSource === '' ? 'loading…' : 'none loaded';
    refreshControls();
    return;
  }
  const test = meta.test ? `, test accuracy ${pct(meta.test.accuracy, 1)} on ${meta.test.n} reviews` : '';
  const fits =
    client.info && client.info.modelId !== meta.model_id
      ? ' (trained on another base model: load that model to use it)'
      : '';
  const tuned = meta.fine_tune?.settings?.layers;
  const kind = meta.settings
    ? `${meta.settings.preset} head`
    : meta.fine_tune
      ? `fine-tuned encoder layers${Number.isInteger(tuned) ? ` (top ${tuned})` : ''} and head`
      : 'head';
  ui.classifierName.textContent = `${classifierSource}: ${meta.label_names.join(' / ')}, ${kind}${test}${fits}`;
  ui.classifierName.dataset.testN = String(meta.test?.n ?? '');
  refreshControls();
}

/**
 * Make classifier bytes the one in use; `persist` keeps them in IndexedDB for the next visit.
 * Resolves to a warning (or null) about the base model or storage.
 */
async function useClassifier(bytes, source, persist) {
  const { meta, mismatch } = await client.setClassifier(bytes);
  state.classifier = meta;
  classifierSource = source;
  showClassifier();
  let warning = mismatch;
  if (persist) {
    try {
      await idbPut('classifiers', CURRENT_CLASSIFIER, { bytes, source });
    } catch (err) {
      warning = [warning, err.message].filter(Boolean).join(' ');
    }
  }
  return warning;
}

async function fetchDefaultClassifier() {
  const response = await fetch(DEFAULT_CLASSIFIER_URL);
  if (!response.ok) throw new HttpError('default-minilm.safetensors', response.status, response.statusText);
  return response.arrayBuffer();
}

/** The classifier kept from the last visit, else the default one. */
async function loadClassifier() {
  // Read it while the model loads; the worker takes it once the model is there (to check that
  // they belong together). The default one is fetched only when none is kept.
  const kept = idbGet('classifiers', CURRENT_CLASSIFIER).catch(() => undefined);
  const fallback = kept.then((k) => (k?.bytes ? null : fetchDefaultClassifier()));
  fallback.catch(() => {}); // reported below, if it is used
  await ready.catch(() => {}); // a classifier loads even when the model did not
  const stored = await kept;
  try {
    if (stored?.bytes) {
      await useClassifier(stored.bytes, stored.source ?? 'kept from your last visit', false);
      return state.classifier;
    }
  } catch (err) {
    say(
      ui.keepStatus,
      `the classifier kept in this browser could not be read (${err.message}); using the default one.`,
      'warn',
    );
  }
  try {
    const bytes = (await fallback) ?? (await fetchDefaultClassifier());
    await useClassifier(bytes, 'default (all-MiniLM-L6-v2, Amazon reviews)', false);
  } catch (err) {
    classifierSource = 'none';
    ui.classifierName.textContent = 'none loaded';
    say(
      ui.classifyStatus,
      `could not load the default classifier (${err.message}): train one below or load a classifier file.`,
      'error',
    );
  }
  return state.classifier;
}

// ---- classify -----------------------------------------------------------------------------

async function onClassify(event) {
  event.preventDefault();
  if (state.busy) return;
  const text = ui.review.value;
  if (!text.trim()) {
    say(ui.classifyStatus, 'type a review to classify first.', 'error');
    ui.review.focus();
    return;
  }
  setBusy(true);
  try {
    const [p] = await client.classify([text]);
    ui.verdict.textContent = `${p.name} ${pct(p.probabilities[p.label])}`;
    ui.verdict.dataset.label = p.name;
    ui.classifyStatus.hidden = true;
  } catch (err) {
    ui.verdict.textContent = '';
    say(ui.classifyStatus, `could not classify: ${sentence(err.message)}`, 'error');
  } finally {
    setBusy(false);
  }
}

async function onBatchFile() {
  const file = ui.batchFile.files?.[0];
  if (!file || state.busy) return;
  setBusy(true);
  try {
    const bytes = await file.arrayBuffer();
    const header = await client.csvHeader(bytes);
    state.batch = { name: file.name, bytes, header };
    ui.batchColumn.replaceChildren(...header.map((h) => new Option(h, h)));
    const guess =
      header.find((h) => h.toLowerCase() === 'text') ??
      header.find((h) => /text|review/i.test(h)) ??
      header[0];
    ui.batchColumn.value = guess;
    say(
      ui.classifyStatus,
      `${file.name}: ${header.length} columns. Choose the text column and press Classify all.`,
    );
  } catch (err) {
    state.batch = null;
    ui.batchColumn.replaceChildren();
    say(ui.classifyStatus, `cannot use ${file.name}: ${sentence(err.message)}`, 'error');
  } finally {
    setBusy(false);
  }
}

async function onBatchRun() {
  if (!state.batch || state.busy) return;
  const { name, bytes } = state.batch;
  const column = ui.batchColumn.value;
  setBusy(true);
  const job = startJob(ui.batchCancel);
  try {
    const texts = await client.csvColumn(bytes, column);
    if (!texts.length) throw new Error(`${name} has a header but no rows to classify`);
    ui.batchProgressLine.hidden = false;
    ui.batchProgress.max = texts.length;
    ui.batchProgress.value = 0;
    const started = performance.now();
    const predictions = await client.classify(texts, {
      signal: job.signal,
      onProgress: (p) => {
        if (p.stage !== 'classify') return;
        ui.batchProgress.value = p.done;
        const rate = p.done / ((performance.now() - started) / 1000);
        ui.batchRate.textContent = `${p.done} of ${p.total} · ${rate.toFixed(1)} texts/s · ${formatSeconds((p.total - p.done) / rate)} left`;
      },
    });
    ui.batchProgress.value = texts.length;
    showBatch(texts, predictions);
    const seconds = (performance.now() - started) / 1000;
    say(ui.classifyStatus, `Classified ${texts.length} texts of ${name} in ${seconds.toFixed(1)} s.`, 'ok');
  } catch (err) {
    if (err instanceof CancelledError)
      say(ui.classifyStatus, 'Classification cancelled; nothing was changed.', 'warn');
    else say(ui.classifyStatus, `could not classify ${name}: ${sentence(err.message)}`, 'error');
  } finally {
    endJob(ui.batchCancel);
    setBusy(false);
  }
}

/** @param {string[]} texts @param {import('./client.js').Prediction[]} predictions */
function showBatch(texts, predictions) {
  const names = state.classifier?.label_names ?? [];
  const head = ['text', 'label', ...names.map((n) => `p_${n}`)];
  ui.batchTable.tHead.replaceChildren(row(['#', ...head]));
  const body = predictions
    .slice(0, TABLE_ROWS)
    .map((p, i) => row([i + 1, texts[i], p.name, ...p.probabilities.map((v) => v.toFixed(3))]));
  ui.batchTable.tBodies[0].replaceChildren(...body);
  const lines = [csvLine(head)];
  predictions.forEach((p, i) => {
    lines.push(
      csvLine(
        [texts[i], p.name],
        p.probabilities.map((v) => v.toFixed(6)),
      ),
    );
  });
  if (ui.batchDownload.href.startsWith('blob:')) URL.revokeObjectURL(ui.batchDownload.href);
  ui.batchDownload.href = URL.createObjectURL(new Blob([`${lines.join('\r\n')}\r\n`], { type: 'text/csv' }));
  const tally = names.map((n, c) => `${predictions.filter((p) => p.label === c).length} ${n}`).join(', ');
  const shown =
    predictions.length > TABLE_ROWS ? ` The first ${TABLE_ROWS} are shown; the download has all.` : '';
  ui.batchSummary.textContent = `${predictions.length} rows: ${tally}.${shown}`;
  ui.batchResult.hidden = false;
}

// ---- data ---------------------------------------------------------------------------------

async function ensureDefaults() {
  state.defaults ??= await client.defaults();
  return state.defaults;
}

function fillSettings(settings) {
  ui.labelMode.value = settings.label_mode;
  ui.maxWords.value = settings.max_words ?? '';
  ui.sampleSize.value = settings.sample_size ?? '';
  ui.testFraction.value = settings.test_fraction;
  ui.seed.value = settings.seed;
  ui.stripHtml.checked = settings.strip_html;
}

/** The settings in the form. */
function readSettings() {
  const header = state.csv?.header ?? [];
  const text = ui.textColumn.value;
  const label = ui.labelColumn.value;
  const amazon = header.includes('Text') && header.includes('Score') && text === 'Text' && label === 'Score';
  const optional = (input) => (input.value === '' ? null : Math.max(1, Math.floor(Number(input.value))));
  return {
    columns: amazon ? 'amazon' : { named: { text, label } },
    label_mode: ui.labelMode.value,
    max_words: optional(ui.maxWords),
    sample_size: optional(ui.sampleSize),
    seed: Math.max(0, Math.floor(Number(ui.seed.value) || 0)),
    test_fraction: Number(ui.testFraction.value),
    strip_html: ui.stripHtml.checked,
  };
}

async function onCsvFile(file) {
  if (!file || state.busy) return;
  setBusy(true);
  try {
    const bytes = await file.arrayBuffer();
    const defaults = await ensureDefaults();
    const [header, hash] = await Promise.all([client.csvHeader(bytes), sha256(bytes)]);
    state.csv = { name: file.name, bytes, hash, header };
    const options = () => header.map((h) => new Option(h, h));
    ui.textColumn.replaceChildren(...options());
    ui.labelColumn.replaceChildren(...options());
    const amazon = header.includes('Text') && header.includes('Score');
    ui.textColumn.value = amazon
      ? 'Text'
      : (header.find((h) => /text|review|sentence/i.test(h)) ?? header[0]);
    ui.labelColumn.value = amazon
      ? 'Score'
      : (header.find((h) => /label|score|rating|star|sentiment|class/i.test(h)) ?? header[1] ?? header[0]);
    if (!state.summary) fillSettings(defaults.data);
    ui.dataLayout.textContent = amazon
      ? `${file.name}: the Amazon Fine Food Reviews layout (Text and Score columns) was found.`
      : `${file.name}: ${header.length} columns. Choose the text and the label column.`;
    ui.dataForm.hidden = false;
  } catch (err) {
    say(ui.dataStatus, `cannot use ${file.name}: ${sentence(err.message)}`, 'error');
    setBusy(false);
    return;
  }
  setBusy(false);
  await preprocess();
}

async function preprocess() {
  if (!state.csv || state.busy) return;
  setBusy(true);
  try {
    const summary = await client.dataset(state.csv.bytes, readSettings());
    state.summary = summary;
    state.extracted = false;
    ui.ftEstimate.textContent = '';
    ui.trainControls.hidden = true;
    showCounts(summary);
    ui.dataResult.hidden = false;
    say(
      ui.dataStatus,
      `${state.csv.name}: ${summary.counts.train} training and ${summary.counts.test} test reviews, ` +
        `classes ${summary.label_names.join(', ')}.`,
      'ok',
    );
    ui.extractStatus.hidden = true;
  } catch (err) {
    // The previous dataset stays loaded in the worker; only this attempt failed.
    say(ui.dataStatus, `cannot use ${state.csv.name}: ${sentence(err.message)}`, 'error');
  } finally {
    setBusy(false);
  }
}

/** @param {import('./client.js').DatasetSummary} s */
function showCounts(s) {
  const c = /** @type {Record<string, any>} */ (s.counts);
  const settings = s.settings;
  const labelDrops = [];
  if (c.dropped_neutral) labelDrops.push(`${c.dropped_neutral} neutral (score 3)`);
  if (c.dropped_unusable_label) {
    labelDrops.push(
      `${c.dropped_unusable_label} unusable, e.g. ${c.unusable_label_examples.map((x) => JSON.stringify(x)).join(', ')}`,
    );
  }
  const rows = [
    ['Rows read', c.rows_read, c.blank_lines ? `${c.blank_lines} blank lines skipped` : ''],
    ['Text and label not empty', c.after_empty, c.dropped_empty || ''],
    [`Labels (${settings.label_mode})`, c.after_labels, labelDrops.join('; ')],
    [
      settings.max_words ? `Fewer than ${settings.max_words} words` : 'Any length',
      c.after_words,
      c.dropped_long || '',
    ],
    [
      settings.sample_size ? `Sample of at most ${settings.sample_size}` : 'No sampling',
      c.after_sampling,
      c.dropped_by_sampling || '',
    ],
    ...s.label_names.map((n, i) => [`  class ${n}`, c.per_class[i], '']),
    [
      `Training part (validation: its last 20 %)`,
      c.train,
      s.label_names.map((n, i) => `${c.train_per_class[i]} ${n}`).join(', '),
    ],
    [
      `Test part (${settings.test_fraction})`,
      c.test,
      s.label_names.map((n, i) => `${c.test_per_class[i]} ${n}`).join(', '),
    ],
  ];
  if (c.blank_after_html) rows.push(['Blank once HTML tags are removed', c.blank_after_html, 'kept']);
  ui.counts.tBodies[0].replaceChildren(...rows.map((r) => row(r, true)));
  ui.examples.replaceChildren(
    ...s.examples.map((e) => {
      const li = document.createElement('li');
      li.append(cell('strong', s.label_names[e.label] ?? e.label), ' ', cell('span', e.text));
      return li;
    }),
  );
}

// ---- features -----------------------------------------------------------------------------

async function onExtract() {
  if (!state.summary || !client.info || state.busy) return;
  const key = [
    client.info.modelId,
    state.csv.hash,
    JSON.stringify(state.summary.settings),
    POOLING,
    MAX_LEN,
  ].join('|');
  setBusy(true);
  const job = startJob(ui.extractCancel);
  const total = state.summary.counts.train + state.summary.counts.test;
  ui.extractProgressLine.hidden = false;
  ui.extractProgress.max = total;
  ui.extractProgress.value = 0;
  ui.extractRate.textContent = '';
  say(ui.extractStatus, `Extracting features of ${total} texts on ${DEVICE_NAMES[client.device]}…`);
  const started = performance.now();
  let done = 0;
  try {
    const result = await client.extract({
      key,
      pooling: POOLING,
      maxLen: MAX_LEN,
      signal: job.signal,
      onProgress: (p) => {
        if (p.stage !== 'extract') return;
        done = p.done;
        ui.extractProgress.value = p.done;
        const seconds = (performance.now() - started) / 1000;
        const rate = p.done / seconds;
        ui.extractRate.textContent = p.done
          ? `${p.done} of ${p.total} texts · ${rate.toFixed(1)} texts/s · ${formatSeconds((p.total - p.done) / rate)} left`
          : `0 of ${p.total} texts`;
      },
    });
    ui.extractProgress.value = total;
    state.extracted = true;
    if (result.cached) {
      ui.extractRate.textContent = `${result.rows} of ${result.rows} texts`;
      say(
        ui.extractStatus,
        `Features of ${result.rows} texts loaded from this browser's cache (extracted earlier with the same model, data and settings).`,
        'ok',
      );
    } else {
      const seconds = result.ms / 1000;
      if (seconds > 0 && result.rows > 0) {
        state.rate = {
          textsPerSecond: result.rows / seconds,
          device: client.device,
          modelId: client.info.modelId,
          how: `measured while extracting the features of ${result.rows} texts`,
        };
      }
      const stored = result.storeError
        ? ` They could not be kept for next time: ${result.storeError}`
        : ' They are kept in this browser for next time.';
      say(
        ui.extractStatus,
        `Extracted features of ${result.rows} texts in ${seconds.toFixed(1)} s ` +
          `(${(result.rows / seconds).toFixed(1)} texts/s).${stored}`,
        result.storeError ? 'warn' : 'ok',
      );
    }
    showTrainControls();
  } catch (err) {
    if (err instanceof CancelledError) {
      say(
        ui.extractStatus,
        `Extraction cancelled after ${done} of ${total} texts. Your data and settings are kept: ` +
          'press Extract features to start again.',
        'warn',
      );
    } else {
      say(
        ui.extractStatus,
        `feature extraction failed: ${sentence(err.message)} Your data is kept: try again, or choose the CPU.`,
        'error',
      );
    }
  } finally {
    endJob(ui.extractCancel);
    setBusy(false);
  }
}

// ---- training -----------------------------------------------------------------------------

function presetSettings() {
  return state.defaults?.presets[ui.preset.value];
}

/** 'head' or 'finetune': what the Training part trains. */
function trainMode() {
  return (
    /** @type {HTMLInputElement | null} */ (document.querySelector('input[name="train-mode"]:checked'))
      ?.value ?? 'head'
  );
}

/** The data a report was made on: the model, the CSV and its preprocessing. */
function dataKey() {
  return [client.info?.modelId, state.csv?.hash, JSON.stringify(state.summary?.settings)].join('|');
}

function drawHead() {
  if (!client.info || !state.summary) return;
  const classes = state.summary.label_names.length;
  if (trainMode() === 'finetune') {
    const settings = readFineTuneSettings();
    ui.diagramCaption.textContent = 'The fine-tuned layers and the head';
    fineTuneDiagram(ui.headDiagram, {
      layers: client.info.layers ?? settings.layers,
      trained: settings.layers,
      dim: client.info.dim,
      maxLen: settings.max_len,
      pooling: settings.pooling,
      classes,
    });
    return;
  }
  const settings = presetSettings();
  if (!settings) return;
  ui.diagramCaption.textContent = "The head's layers";
  headDiagram(ui.headDiagram, {
    input: client.info.dim,
    hidden: settings.hidden,
    batch_norm: settings.batch_norm,
    dropout: settings.dropout,
    classes,
    standardize: settings.standardize,
  });
}

function showTrainControls() {
  ui.trainControls.hidden = false;
  if (!ui.epochs.value) ui.epochs.value = String(presetSettings()?.epochs ?? 10);
  const ft = state.defaults?.fineTune;
  const layers = client.info?.layers;
  if (layers) {
    ui.ftLayers.max = String(layers);
    ui.ftLayersHelp.textContent = `of ${layers} (0: only the head)`;
  }
  if (ft && !ui.ftLayers.value) {
    ui.ftLayers.value = String(Math.min(ft.layers, layers ?? ft.layers));
    ui.ftEpochs.value = String(ft.epochs);
    ui.ftBatch.value = String(ft.batch_size);
    ui.ftEncoderLr.value = String(ft.encoder_lr);
    ui.ftHeadLr.value = String(ft.head_lr);
  }
  onModeChanged();
}

function onPresetChanged() {
  ui.epochs.value = String(presetSettings()?.epochs ?? 10);
  drawHead();
}

function onModeChanged() {
  const finetune = trainMode() === 'finetune';
  ui.headControls.hidden = finetune;
  ui.fineTuneControls.hidden = !finetune;
  drawHead();
  if (finetune) scheduleEstimate();
}

/** Persist the worker's current classifier for the next visit, saying so in section 4. */
async function keepClassifier() {
  try {
    const bytes = await client.classifierBytes();
    await idbPut('classifiers', CURRENT_CLASSIFIER, { bytes, source: classifierSource });
    say(ui.keepStatus, 'Your classifier is kept in this browser. Download it to keep a copy.', 'ok');
  } catch (err) {
    say(ui.keepStatus, `${sentence(err.message)} Download it to keep it.`, 'warn');
  }
}

function epochCharts() {
  return {
    loss: epochChart(ui.chartLoss),
    accuracy: epochChart(ui.chartAccuracy, { yRange: [0, 1] }),
    auroc: epochChart(ui.chartAuroc, { yRange: [0, 1] }),
  };
}

function plotHistory(charts, history) {
  const x = history.map((h) => h.epoch);
  charts.loss.set(
    x,
    history.map((h) => h.train_loss),
    history.map((h) => h.val_loss),
  );
  charts.accuracy.set(
    x,
    history.map((h) => h.train_accuracy),
    history.map((h) => h.val_accuracy),
  );
  charts.auroc.set(
    x,
    history.map((h) => h.train_auroc),
    history.map((h) => h.val_auroc),
  );
}

async function onTrain() {
  if (!state.extracted || state.busy) return;
  const epochs = Math.max(1, Math.floor(Number(ui.epochs.value) || 1));
  const settings = { ...presetSettings(), epochs };
  const key = dataKey();
  setBusy(true);
  const job = startJob(ui.trainCancel);
  drawHead();
  const charts = epochCharts();
  const history = [];
  ui.report.hidden = true;
  say(ui.trainStatus, `Training the ${settings.preset} head for at most ${epochs} epochs…`);
  const started = performance.now();
  try {
    const { meta, report } = await client.train(settings, {
      signal: job.signal,
      onProgress: (p) => {
        if (p.stage !== 'epoch') return;
        const r = p.report;
        history.push(r);
        plotHistory(charts, history);
        say(
          ui.trainStatus,
          `Epoch ${r.epoch} of ${epochs}: loss ${num(r.train_loss)}, validation accuracy ` +
            `${pct(r.val_accuracy, 1)}, validation AUROC ${num(r.val_auroc)}${r.best ? ' (best so far)' : ''}.`,
        );
      },
    });
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    state.classifier = meta;
    classifierSource = `trained here on ${state.csv?.name ?? 'your data'}`;
    state.reports.head = { key, report, label: `Frozen head (${settings.preset})` };
    showReport(report, `Test report: the ${settings.preset} head on frozen features`);
    showComparison('head');
    say(
      ui.trainStatus,
      `Trained in ${seconds} s; kept epoch ${meta.best_epoch.epoch} of ${history.length}. ` +
        'This classifier is now in use above.',
      'ok',
    );
    showClassifier();
    await keepClassifier();
  } catch (err) {
    if (err instanceof CancelledError) {
      say(
        ui.trainStatus,
        `Training cancelled after ${history.length} epochs. The features are kept and the ` +
          'previous classifier is still in use: press Train to start again.',
        'warn',
      );
    } else {
      say(
        ui.trainStatus,
        `training failed: ${sentence(err.message)} The features and the previous classifier are kept.`,
        'error',
      );
    }
  } finally {
    endJob(ui.trainCancel);
    setBusy(false);
  }
}

// ---- fine-tuning --------------------------------------------------------------------------

/** A whole number from an input within [min, max], else `fallback`. */
function intInput(input, min, max, fallback) {
  const v = Math.floor(Number(input.value));
  return input.value !== '' && Number.isFinite(v) ? Math.min(max, Math.max(min, v)) : fallback;
}

/** A positive rate from an input, else `fallback`. */
function rateInput(input, fallback) {
  const v = Number(input.value);
  return input.value !== '' && Number.isFinite(v) && v > 0 ? v : fallback;
}

/** @returns {import('./client.js').FineTuneSettings} the settings in the form, over the defaults */
function readFineTuneSettings() {
  const d =
    state.defaults?.fineTune ??
    /** @type {any} */ ({ layers: 2, epochs: 3, batch_size: 32, encoder_lr: 5e-5, head_lr: 1e-3 });
  const maxLayers = client.info?.layers ?? 12;
  return {
    ...d,
    pooling: POOLING,
    max_len: MAX_LEN,
    layers: intInput(ui.ftLayers, 0, maxLayers, Math.min(d.layers, maxLayers)),
    epochs: intInput(ui.ftEpochs, 1, 100, d.epochs),
    batch_size: intInput(ui.ftBatch, 1, 512, d.batch_size),
    encoder_lr: rateInput(ui.ftEncoderLr, d.encoder_lr),
    head_lr: rateInput(ui.ftHeadLr, d.head_lr),
  };
}

/** The measured rate when it is for the model and device in use now. */
function currentRate() {
  const r = state.rate;
  return r && r.device === client.device && r.modelId === client.info?.modelId ? r : null;
}

let estimateTimer = 0;
let estimateGeneration = 0;

/** Show the expected time of fine-tuning with the form's settings, shortly after they change. */
function scheduleEstimate() {
  clearTimeout(estimateTimer);
  estimateTimer = setTimeout(() => updateEstimate(), 250);
}

async function updateEstimate() {
  if (trainMode() !== 'finetune' || !state.summary || !client.info) return;
  if (state.busy) {
    scheduleEstimate(); // after the running job: the worker answers one request at a time
    return;
  }
  const generation = ++estimateGeneration;
  const settings = readFineTuneSettings();
  const known = currentRate();
  const device = DEVICE_NAMES[client.device] ?? client.device;
  if (!known)
    ui.ftEstimate.textContent = `Estimating the time on ${device} (timing the model on 32 training texts)…`;
  ui.ftEstimate.dataset.seconds = '';
  try {
    const plan = await client.fineTunePlan(settings, { textsPerSecond: known?.textsPerSecond });
    if (generation !== estimateGeneration) return;
    if (plan.measured) {
      state.rate = {
        textsPerSecond: plan.textsPerSecond,
        device: plan.device,
        modelId: client.info.modelId,
        how: `timed on ${plan.measured.texts} training texts`,
      };
    }
    const how = state.rate?.how ?? 'measured here';
    ui.ftEstimate.textContent =
      `Estimated time on ${DEVICE_NAMES[plan.device] ?? plan.device}: about ` +
      `${formatSeconds(plan.seconds)} for ${settings.epochs} epoch${settings.epochs === 1 ? '' : 's'} and the test ` +
      `(the whole model runs ${plan.textsPerSecond.toFixed(1)} texts/s here, ${how}).`;
    ui.ftEstimate.dataset.seconds = String(plan.seconds);
  } catch (err) {
    if (generation !== estimateGeneration) return;
    ui.ftEstimate.textContent = `No time estimate: ${sentence(err.message)}`;
  }
}

/** What a fine-tuning step is doing, in words. */
function phaseText(p, epochs) {
  if (p.stage === 'test') return `Testing: ${p.done} of ${p.total} test texts`;
  const step = p.step;
  if (!step) return 'Starting…';
  switch (step.phase) {
    case 'caching':
      return `Caching frozen layers: ${step.done} of ${step.total} texts`;
    case 'training':
      return `Epoch ${step.epoch} of ${epochs}: training, ${step.done} of ${step.total} texts`;
    case 'validating':
      return `Epoch ${step.epoch} of ${epochs}: validating, ${step.done} of ${step.total} texts`;
    default:
      return 'Training done: testing…';
  }
}

async function onFineTune() {
  if (!state.extracted || state.busy || !client.info) return;
  const settings = readFineTuneSettings();
  const epochs = settings.epochs;
  const layers = settings.layers;
  const key = dataKey();
  setBusy(true);
  const job = startJob(ui.fineTuneCancel);
  drawHead();
  const charts = epochCharts();
  const history = [];
  ui.report.hidden = true;
  ui.ftProgressLine.hidden = false;
  ui.ftProgress.max = 1;
  ui.ftProgress.value = 0;
  ui.ftPhase.textContent = 'Starting…';
  ui.ftRate.hidden = false;
  ui.ftRate.textContent = '';
  const what = `the top ${layers} layer${layers === 1 ? '' : 's'} and a linear head`;
  say(
    ui.trainStatus,
    `Fine-tuning ${what} for ${epochs} epoch${epochs === 1 ? '' : 's'} on ` +
      `${DEVICE_NAMES[client.device] ?? client.device}…`,
  );
  const started = performance.now();
  let last = null;
  try {
    const { meta, report } = await client.fineTune(settings, {
      signal: job.signal,
      onProgress: (p) => {
        if (p.stage !== 'finetune' && p.stage !== 'test') return;
        last = p;
        ui.ftProgress.value = p.fraction ?? 0;
        ui.ftPhase.textContent = phaseText(p, epochs);
        const parts = [];
        if (p.textsPerSecond) parts.push(`${p.textsPerSecond.toFixed(1)} texts/s`);
        if (p.secondsLeft !== null && p.secondsLeft !== undefined)
          parts.push(`${formatSeconds(p.secondsLeft)} left`);
        if (p.step?.running_loss !== null && p.step?.running_loss !== undefined)
          parts.push(`running loss ${num(p.step.running_loss)}`);
        if (p.step) parts.push(`step ${p.step.step} of ${p.step.total_steps}`);
        ui.ftRate.textContent = parts.join(' · ');
        const r = p.step?.epoch_report;
        if (r) {
          history.push(r);
          plotHistory(charts, history);
          say(
            ui.trainStatus,
            `Epoch ${r.epoch} of ${epochs}: loss ${num(r.train_loss)}, validation accuracy ` +
              `${pct(r.val_accuracy, 1)}, validation AUROC ${num(r.val_auroc)}${r.best ? ' (best so far)' : ''}.`,
          );
        }
      },
    });
    const seconds = (performance.now() - started) / 1000;
    ui.ftProgress.value = 1;
    ui.ftPhase.textContent = 'Done';
    const estimated = Number(ui.ftEstimate.dataset.seconds);
    ui.ftRate.textContent =
      `${formatSeconds(seconds)} in all` + (estimated > 0 ? ` (estimated: ${formatSeconds(estimated)})` : '');
    state.classifier = meta;
    classifierSource = `fine-tuned here on ${state.csv?.name ?? 'your data'}`;
    state.reports.finetune = { key, report, label: `Fine-tuned BERT (top ${layers})` };
    showReport(
      report,
      `Test report: BERT fine-tuned (top ${layers} layer${layers === 1 ? '' : 's'} and a linear head)`,
    );
    showComparison('finetune');
    const best = meta.best_epoch?.epoch;
    say(
      ui.trainStatus,
      `Fine-tuned in ${formatSeconds(seconds)}${best ? `; kept epoch ${best} of ${history.length}` : ''}. ` +
        'This classifier is now in use above.',
      'ok',
    );
    showClassifier();
    await keepClassifier();
  } catch (err) {
    ui.ftPhase.textContent = err instanceof CancelledError ? 'Cancelled' : 'Failed';
    const where = last ? ` (${phaseText(last, epochs).toLowerCase()})` : '';
    const kept = 'The data, the extracted features and the previous classifier are kept';
    if (err instanceof CancelledError) {
      say(
        ui.trainStatus,
        `Fine-tuning cancelled${where}. ${kept}: press Fine-tune to start again, ` +
          'no new feature extraction is needed.',
        'warn',
      );
    } else {
      say(
        ui.trainStatus,
        `fine-tuning failed: ${sentence(err.message)} ${kept}. Try fewer layers or a smaller ` +
          'batch size, or choose the CPU.',
        'error',
      );
    }
  } finally {
    endJob(ui.fineTuneCancel);
    setBusy(false);
  }
}

/**
 * Under the report: the frozen head and the fine-tuned BERT side by side when both were
 * trained in this session on the same data, else how to get the comparison.
 * @param {'head' | 'finetune'} latest
 */
function showComparison(latest) {
  const key = dataKey();
  const head = state.reports.head?.key === key ? state.reports.head : null;
  const tuned = state.reports.finetune?.key === key ? state.reports.finetune : null;
  if (head && tuned) {
    const a = head.report;
    const b = tuned.report;
    ui.comparisonTable.tHead.replaceChildren(row(['', head.label, tuned.label]));
    ui.comparisonTable.tBodies[0].replaceChildren(
      row(['Test reviews', a.n, b.n], true),
      row(['Accuracy', pct(a.accuracy, 1), pct(b.accuracy, 1)], true),
      row(['AUROC', num(a.auroc), num(b.auroc)], true),
      row(['Macro F1', num(a.macro_f1), num(b.macro_f1)], true),
    );
    ui.comparison.hidden = false;
    ui.comparisonHelp.hidden = true;
    return;
  }
  ui.comparison.hidden = true;
  ui.comparisonHelp.hidden = false;
  ui.comparisonHelp.textContent =
    latest === 'finetune'
      ? 'To compare with a frozen head on the same test reviews, choose "Train the head" above and press Train: ' +
        'it uses the features already extracted and takes seconds.'
      : 'To compare with fine-tuned BERT on the same test reviews, choose "Fine-tune BERT" above and press Fine-tune.';
}

/** @param {import('./client.js').Report} report @param {string} title */
function showReport(report, title) {
  const names = state.classifier?.label_names ?? [];
  ui.reportTitle.textContent = title;
  ui.reportN.textContent = String(report.n);
  ui.reportAccuracy.textContent = pct(report.accuracy, 1);
  ui.reportAuroc.textContent = num(report.auroc);
  ui.reportF1.textContent = num(report.macro_f1);
  ui.confusion.tHead.replaceChildren(row(['true \\ predicted', ...names]));
  ui.confusion.tBodies[0].replaceChildren(...report.confusion.map((r, i) => row([names[i], ...r], true)));
  ui.perClass.tBodies[0].replaceChildren(
    ...report.per_class.map((m, i) =>
      row([names[i], num(m.precision), num(m.recall), num(m.f1), m.support], true),
    ),
  );
  ui.report.hidden = false;
  const curve = report.roc.find(Boolean);
  if (curve) rocChart(ui.chartRoc, curve);
  else ui.chartRoc.textContent = 'No ROC curve: the test part has a single class.';
}

// ---- keep ---------------------------------------------------------------------------------

async function onClassifierDownload() {
  if (state.busy) return;
  try {
    const bytes = await client.classifierBytes();
    const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = 'bertweb-classifier.safetensors';
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (err) {
    say(ui.keepStatus, `could not save the classifier: ${sentence(err.message)}`, 'error');
  }
}

async function onClassifierFile() {
  const file = ui.classifierFile.files?.[0];
  if (!file || state.busy) return;
  setBusy(true);
  try {
    const warning = await useClassifier(await file.arrayBuffer(), `from ${file.name}`, true);
    if (warning) say(ui.keepStatus, `Loaded ${file.name}, but: ${sentence(warning)}`, 'warn');
    else say(ui.keepStatus, `Loaded ${file.name}; it is in use and kept in this browser.`, 'ok');
  } catch (err) {
    say(
      ui.keepStatus,
      `could not load ${file.name}: ${sentence(err.message)} The previous classifier is still in use.`,
      'error',
    );
  } finally {
    ui.classifierFile.value = '';
    setBusy(false);
  }
}

async function onClassifierReset() {
  if (state.busy) return;
  setBusy(true);
  try {
    await useClassifier(await fetchDefaultClassifier(), 'default (all-MiniLM-L6-v2, Amazon reviews)', false);
    await idbDelete('classifiers', CURRENT_CLASSIFIER).catch(() => {});
    say(ui.keepStatus, 'The default classifier is in use again.', 'ok');
  } catch (err) {
    say(ui.keepStatus, `could not load the default classifier: ${sentence(err.message)}`, 'error');
  } finally {
    setBusy(false);
  }
}

// ---- embed --------------------------------------------------------------------------------

async function onEmbed(event) {
  event.preventDefault();
  if (state.busy) return;
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

// ---- wiring -------------------------------------------------------------------------------

/** Files dropped on `zone` go to `onFiles`; anywhere else a drop does nothing (no navigation). */
function dropZone(zone, onFiles) {
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('dragging');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    e.stopPropagation();
    zone.classList.remove('dragging');
    if (e.dataTransfer?.files?.length) onFiles(e.dataTransfer.files);
  });
}
document.addEventListener('dragover', (e) => e.preventDefault());
document.addEventListener('drop', (e) => e.preventDefault());

dropZone(ui.modelSection, (files) => loadModelFiles(files));
dropZone(ui.csvDrop, (files) => onCsvFile(files[0]));
ui.files.addEventListener('change', () => loadModelFiles(ui.files.files));
ui.urlForm.addEventListener('submit', onModelUrl);
ui.device.addEventListener('change', onDeviceChanged);
ui.threads.addEventListener('change', onThreadsChanged);
ui.classifyForm.addEventListener('submit', onClassify);
ui.review.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) ui.classifyForm.requestSubmit();
});
ui.batchFile.addEventListener('change', onBatchFile);
ui.batchRun.addEventListener('click', onBatchRun);
ui.csvFile.addEventListener('change', () => onCsvFile(ui.csvFile.files?.[0]));
ui.dataForm.addEventListener('submit', (e) => {
  e.preventDefault();
  preprocess();
});
ui.extract.addEventListener('click', onExtract);
ui.preset.addEventListener('change', onPresetChanged);
ui.train.addEventListener('click', onTrain);
ui.fineTune.addEventListener('click', onFineTune);
for (const radio of document.querySelectorAll('input[name="train-mode"]'))
  radio.addEventListener('change', onModeChanged);
for (const input of [ui.ftLayers, ui.ftEpochs, ui.ftBatch, ui.ftEncoderLr, ui.ftHeadLr]) {
  input.addEventListener('input', () => {
    drawHead();
    scheduleEstimate();
  });
}
ui.classifierDownload.addEventListener('click', onClassifierDownload);
ui.classifierFile.addEventListener('change', onClassifierFile);
ui.classifierReset.addEventListener('click', onClassifierReset);
ui.form.addEventListener('submit', onEmbed);
ui.text.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) ui.form.requestSubmit();
});
ui.progressLine.hidden = true;
refreshControls();

// `?device=cpu|webgpu|auto` picks the first device (a shareable link; the tests use it too).
const askedDevice = new URLSearchParams(location.search).get('device');
if ([...ui.device.options].some((o) => o.value === askedDevice)) ui.device.value = askedDevice;
// `?threads=N` sets the CPU threads for extraction (the benchmark compares 1 and all).
const cores = navigator.hardwareConcurrency || 1;
for (let n = 1; n <= Math.min(Math.max(cores, 2), 8); n++) ui.threads.add(new Option(String(n), String(n)));
const askedThreads = new URLSearchParams(location.search).get('threads');
if ([...ui.threads.options].some((o) => o.value === askedThreads)) ui.threads.value = askedThreads;
client.setThreads(threadsChoice()).catch((err) => console.warn(`CPU threads: ${err.message}`));
// The worker starts the wasm build for this device while the model files are read below.
client.prepare(ui.device.value).catch((err) => console.warn(`WebAssembly: ${err.message}`));

const ready = loadDefault();
ready.catch(() => {}); // shown in the status area; tests await `ready` themselves

/**
 * The app shell and pkg/ cached by sw.js, so the next visit works offline. Registered once the
 * model has loaded: installing it downloads both wasm builds, which would compete with the
 * first visit's own downloads.
 */
const serviceWorker =
  'serviceWorker' in navigator
    ? ready
        .catch(() => {})
        .then(() => navigator.serviceWorker.register(new URL('../sw.js', import.meta.url)))
        .then(() => navigator.serviceWorker.ready)
    : Promise.reject(new Error('this browser has no service workers'));
serviceWorker.catch((err) => console.warn(`offline use is not available: ${err.message}`));
const classifierReady = loadClassifier();
classifierReady.catch(() => {});

/** Test and console hook: `await bertweb.ready; await bertweb.client.classify([...])`. */
window.bertweb = { ready, classifierReady, serviceWorker, client };
