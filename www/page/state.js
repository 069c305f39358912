// @ts-check
// What every part of the page shares: the client of the worker (which owns the wasm, the
// model and everything stored), what the page holds besides, the elements it writes to, the
// defaults the wasm gives, and the status and busy helpers.

import { BertClient } from '../client.js';

/** @typedef {import('../protocol.js').ClassifierMeta} ClassifierMeta */
/** @typedef {import('../protocol.js').DatasetSummary} DatasetSummary */
/** @typedef {import('../protocol.js').TestReport} TestReport */
/** @typedef {import('../protocol.js').Defaults} Defaults */
/** @typedef {import('../protocol.js').Preview} Preview */

/**
 * The element with `id`, checked to be a `type`: the page's HTML and this file must agree.
 * @template {Element} T
 * @param {string} id
 * @param {{new (): T, prototype: T}} type
 * @returns {T}
 */
function $(id, type) {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`the page has no ${type.name} #${id}`);
  return el;
}

const E = HTMLElement;
const Button = HTMLButtonElement;
const Input = HTMLInputElement;
const Select = HTMLSelectElement;
const Progress = HTMLProgressElement;
const Table = HTMLTableElement;
const Form = HTMLFormElement;

export const ui = {
  status: $('status', E),
  modelSection: $('model-section', E),
  modelName: $('model-name', E),
  deviceLabel: $('device-label', E),
  threads: $('threads', Select),
  progressLine: $('load-progress-line', E),
  progress: $('load-progress', Progress),
  bytes: $('load-bytes', E),
  device: $('device', Select),
  files: $('model-files', Input),
  urlForm: $('model-url-form', Form),
  url: $('model-url', Input),
  urlLoad: $('model-url-load', Button),
  // classify
  classifierName: $('classifier-name', E),
  classifyForm: $('classify-form', Form),
  review: $('review', HTMLTextAreaElement),
  classify: $('classify', Button),
  verdict: $('verdict', E),
  explain: $('explain', Button),
  explainStatus: $('explain-status', E),
  explanation: $('explanation', E),
  batchExplanation: $('batch-explanation', E),
  batchFile: $('batch-file', Input),
  batchColumn: $('batch-column', Select),
  batchRun: $('batch-run', Button),
  batchCancel: $('batch-cancel', Button),
  batchProgressLine: $('batch-progress-line', E),
  batchProgress: $('batch-progress', Progress),
  batchRate: $('batch-rate', E),
  classifyStatus: $('classify-status', E),
  batchResult: $('batch-result', E),
  batchDownload: $('batch-download', HTMLAnchorElement),
  batchSummary: $('batch-summary', E),
  batchTable: $('batch-table', Table),
  // train: labeling texts that have no labels yet
  labelingSection: $('label-section', HTMLDetailsElement),
  labelingFile: $('label-file', Input),
  labelingColumn: $('label-text-column', Select),
  labelingGiven: $('label-given-column', Select),
  labelingClasses: $('label-classes', Input),
  labelingStrategy: $('label-strategy', Select),
  labelingStart: $('label-start', Button),
  labelingCancel: $('label-cancel', Button),
  labelingProgressLine: $('label-progress-line', E),
  labelingProgress: $('label-progress', Progress),
  labelingRate: $('label-rate', E),
  labelingStatus: $('label-status', E),
  labelingCard: $('label-card', E),
  labelingCurrent: $('label-current', E),
  labelingText: $('label-text', E),
  labelingWhy: $('label-why', E),
  labelingButtons: $('label-buttons', E),
  labelingSkip: $('label-skip', Button),
  labelingUndo: $('label-undo', Button),
  labelingKeys: $('label-keys', E),
  labelingCounts: $('label-counts', E),
  labelingAccuracy: $('label-accuracy', E),
  labelingHistory: $('label-history', Table),
  labelingDownload: $('label-download', HTMLAnchorElement),
  labelingTrain: $('label-train', Button),
  labelingForget: $('label-forget', Button),
  // train
  csvDrop: $('csv-drop', E),
  csvFile: $('csv-file', Input),
  dataStatus: $('data-status', E),
  dataForm: $('data-form', Form),
  dataLayout: $('data-layout', E),
  delimiterFound: $('delimiter-found', E),
  delimiter: $('delimiter', Select),
  textColumn: $('text-column', Select),
  labelColumn: $('label-column', Select),
  labelMode: $('label-mode', Select),
  labelKind: $('label-kind', E),
  classes: $('classes', Table),
  classesCaption: $('classes-caption', E),
  splitLine: $('split-line', E),
  useSplit: $('use-split', Input),
  splitText: $('split-text', E),
  maxWords: $('max-words', Input),
  sampleSize: $('sample-size', Input),
  testFraction: $('test-fraction', Input),
  seed: $('seed', Input),
  stripHtml: $('strip-html', Input),
  preprocess: $('preprocess', Button),
  dataResult: $('data-result', E),
  counts: $('counts', Table),
  examples: $('examples', E),
  extract: $('extract', Button),
  extractCancel: $('extract-cancel', Button),
  preprocessCancel: $('preprocess-cancel', Button),
  readProgressLine: $('read-progress-line', E),
  readProgress: $('read-progress', Progress),
  readRate: $('read-rate', E),
  extractProgressLine: $('extract-progress-line', E),
  extractProgress: $('extract-progress', Progress),
  extractRate: $('extract-rate', E),
  extractStatus: $('extract-status', E),
  trainControls: $('train-controls', E),
  headControls: $('head-controls', E),
  fineTuneControls: $('finetune-controls', E),
  ftLayers: $('ft-layers', Input),
  ftLayersHelp: $('ft-layers-help', E),
  ftEpochs: $('ft-epochs', Input),
  ftBatch: $('ft-batch', Input),
  ftEncoderLr: $('ft-encoder-lr', Input),
  ftHeadLr: $('ft-head-lr', Input),
  ftEstimate: $('ft-estimate', E),
  fineTune: $('finetune', Button),
  fineTuneCancel: $('finetune-cancel', Button),
  ftProgressLine: $('ft-progress-line', E),
  ftProgress: $('ft-progress', Progress),
  ftPhase: $('ft-phase', E),
  ftRate: $('ft-rate', E),
  diagramCaption: $('diagram-caption', E),
  preset: $('preset', Select),
  epochs: $('epochs', Input),
  train: $('train', Button),
  trainCancel: $('train-cancel', Button),
  headDiagram: $('head-diagram', E),
  trainStatus: $('train-status', E),
  chartLoss: $('chart-loss', E),
  chartAccuracy: $('chart-accuracy', E),
  chartAuroc: $('chart-auroc', E),
  report: $('report', E),
  reportTitle: $('report-title', E),
  comparison: $('comparison', E),
  comparisonTable: $('comparison-table', Table),
  comparisonHelp: $('comparison-help', E),
  reportNLabel: $('report-n-label', E),
  reportN: $('report-n', E),
  reportAccuracyLabel: $('report-accuracy-label', E),
  reportAccuracy: $('report-accuracy', E),
  reportMicroLabel: $('report-micro-label', E),
  reportMicro: $('report-micro', E),
  reportAuroc: $('report-auroc', E),
  reportF1: $('report-f1', E),
  chartRoc: $('chart-roc', E),
  chartReliability: $('chart-reliability', E),
  reportCalibration: $('report-calibration', E),
  confusion: $('confusion', Table),
  perClass: $('per-class', Table),
  perClassCaption: $('per-class-caption', E),
  multiLabel: $('multi-label', Input),
  labelSeparator: $('label-separator', Input),
  flagLine: $('flag-line', E),
  flagLabels: $('flag-labels', Input),
  flagLabelsText: $('flag-labels-text', E),
  // keep
  classifierDownload: $('classifier-download', Button),
  exportDownload: $('export-download', Button),
  classifierFile: $('classifier-file', Input),
  classifierReset: $('classifier-reset', Button),
  keepStatus: $('keep-status', E),
  // embed
  form: $('embed-form', Form),
  text: $('text', HTMLTextAreaElement),
  embed: $('embed', Button),
  result: $('result', E),
  resultDim: $('result-dim', E),
  resultTime: $('result-time', E),
  resultNorm: $('result-norm', E),
  resultTokens: $('result-tokens', E),
  resultValues: $('result-values', E),
};

export const client = new BertClient();

/** What the page holds besides the worker's state. */
export const state = {
  busy: false,
  /** @type {Defaults | null} from the wasm, once at start (`loadDefaults`) */
  defaults: null,
  /**
   * The CSV file chosen in section 3 and what its preview found (null while none is, and after
   * one that could not be read: nothing of an earlier file is kept). `bytes` are the whole file,
   * or its start when it is `large` (read as a stream into a sample: `defaults().stream`);
   * `hash` names its contents for the feature cache (a large file's: name, size and date).
   * @type {{name: string, file: File, bytes: ArrayBuffer, large: boolean, hash: string, preview: Preview} | null}
   */
  csv: null,
  /** @type {DatasetSummary | null} */
  summary: null,
  /** @type {number | null} the head's outputs for the summary's classes (the wasm's rule) */
  outputs: null,
  extracted: false,
  /** @type {ClassifierMeta | null} */
  classifier: null,
  /** where the current classifier came from, for its description ('' while loading) */
  classifierSource: '',
  /** @type {{name: string, bytes: ArrayBuffer, header: string[]} | null} */
  batch: null,
  /** @type {AbortController | null} the long job that a Cancel button stops */
  job: null,
  /**
   * This session's test reports, by what made them, with the data they were made on (`key`),
   * for the side-by-side comparison.
   * @type {{head?: {key: string, report: TestReport, label: string},
   *   finetune?: {key: string, report: TestReport, label: string}}}
   */
  reports: {},
};

/** @type {Promise<Defaults> | null} */
let defaultsLoading = null;

/**
 * Ask the worker for the defaults, once. Called at start after `client.prepare`, so that the
 * wasm build the worker starts to answer is the one for the chosen device.
 * @returns {Promise<Defaults>}
 */
export function loadDefaults() {
  defaultsLoading ??= client.defaults().then((d) => {
    state.defaults = d;
    return d;
  });
  return defaultsLoading;
}

/**
 * The defaults; loaded at start, before the model, so every control that needs them (all but
 * the CSV picker, which waits for `loadDefaults`) finds them.
 * @returns {Defaults}
 */
export function defaults() {
  if (!state.defaults) throw new Error('the page is still starting: try again in a moment');
  return state.defaults;
}

/** @type {Promise<boolean> | null} */
let persisting = null;

/**
 * Ask the browser, once, not to evict what this page stores (kept classifiers, features) when
 * space runs low. Called when the user first keeps something or extracts features; a refusal,
 * or a browser without the API, changes nothing.
 */
export function askPersistentStorage() {
  persisting ??= Promise.resolve()
    .then(() => navigator.storage?.persist?.() ?? false)
    .catch(() => false);
}

/**
 * Show a message in one section's status line.
 * @param {HTMLElement} el
 * @param {string} text
 * @param {'info' | 'ok' | 'warn' | 'error'} [kind]
 */
export function say(el, text, kind = 'info') {
  el.hidden = false;
  el.dataset.kind = kind;
  el.textContent = kind === 'error' ? `Error: ${text}` : text;
}

/**
 * Show a message in the status area at the top (model and page state).
 * @param {string} text
 * @param {'info' | 'ok' | 'warn' | 'error'} [kind]
 */
export function setStatus(text, kind = 'info') {
  say(ui.status, text, kind);
}

/**
 * A long job: a Cancel button that aborts it, shown while it runs.
 * @param {HTMLButtonElement} cancelButton
 */
export function startJob(cancelButton) {
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

/** @param {HTMLButtonElement} cancelButton */
export function endJob(cancelButton) {
  cancelButton.hidden = true;
  cancelButton.onclick = null;
  state.job = null;
}

/** @param {boolean} value */
export function setBusy(value) {
  state.busy = value;
  refreshControls();
}

/** The "what to train" radio buttons. */
export function trainModeRadios() {
  return /** @type {NodeListOf<HTMLInputElement>} */ (document.querySelectorAll('input[name="train-mode"]'));
}

/** Enable what can be used now. */
export function refreshControls() {
  const busy = state.busy;
  const model = client.info !== null;
  ui.embed.disabled = busy || !model;
  ui.device.disabled = busy || !model;
  ui.threads.disabled = busy || !model;
  ui.files.disabled = busy;
  ui.urlLoad.disabled = busy;
  ui.classify.disabled = busy || !model || !state.classifier;
  ui.explain.disabled = ui.classify.disabled;
  for (const why of ui.batchTable.querySelectorAll('button')) why.disabled = ui.classify.disabled;
  ui.batchRun.disabled = busy || !model || !state.classifier || !state.batch;
  ui.batchColumn.disabled = busy || !state.batch;
  ui.labelingFile.disabled = busy;
  ui.labelingColumn.disabled = busy || ui.labelingColumn.options.length === 0;
  ui.labelingGiven.disabled = ui.labelingColumn.disabled;
  ui.labelingClasses.disabled = busy;
  ui.labelingStart.disabled = busy || !model;
  // Labeling's class buttons, Skip and Undo; `data-off`: nothing to do now (label.js sets it).
  for (const b of ui.labelingButtons.querySelectorAll('button'))
    b.disabled = busy || b.dataset.off === 'true';
  ui.labelingTrain.disabled = busy;
  ui.labelingForget.disabled = busy;
  ui.csvFile.disabled = busy;
  ui.preprocess.disabled = busy || !state.csv;
  ui.delimiter.disabled = busy || !state.csv;
  ui.extract.disabled = busy || !model || !state.summary;
  ui.train.disabled = busy || !state.extracted;
  ui.fineTune.disabled = busy || !model || !state.extracted;
  for (const input of [ui.ftLayers, ui.ftEpochs, ui.ftBatch, ui.ftEncoderLr, ui.ftHeadLr])
    input.disabled = busy;
  for (const radio of trainModeRadios()) radio.disabled = busy;
  ui.classifierDownload.disabled = busy || !state.classifier;
  ui.exportDownload.disabled = ui.classifierDownload.disabled;
  ui.classifierFile.disabled = busy;
  ui.classifierReset.disabled = busy;
  document.body.setAttribute('aria-busy', String(busy));
}

/** What the devices are called on the page. */
const DEVICE_NAMES = { webgpu: 'WebGPU', cpu: 'CPU (WebAssembly)' };

/**
 * A device's name on the page.
 * @param {string | null | undefined} device
 */
export function deviceName(device) {
  return device === 'webgpu' || device === 'cpu' ? DEVICE_NAMES[device] : String(device);
}

/**
 * Make a select offer exactly `values`, in their order (the wasm's list): an option the HTML
 * already has keeps its text, which describes it; one it lacks shows its value.
 * @param {HTMLSelectElement} select
 * @param {readonly string[]} values
 */
export function offer(select, values) {
  const have = new Map([...select.options].map((o) => [o.value, o]));
  const selected = select.value;
  select.replaceChildren(...values.map((v) => have.get(v) ?? new Option(v, v)));
  if (values.includes(selected)) select.value = selected;
}
