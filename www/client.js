// Promise RPC over postMessage to www/worker.js, which owns the wasm instance.
// The UI thread (and the browser tests, through window.bertweb.client) only talk to this.

// ---- Messages between the UI (this file) and www/worker.js --------------------------------

/** @typedef {'auto' | 'webgpu' | 'cpu'} DeviceChoice  What the user asks for. */
/** @typedef {'webgpu' | 'cpu'} Device  What actually runs the model. */
/** @typedef {'mean' | 'pooler'} Pooling */

/**
 * The bytes of a Hugging Face BERT folder.
 * @typedef {object} ModelFiles
 * @property {ArrayBuffer | Uint8Array} config     config.json
 * @property {ArrayBuffer | Uint8Array} weights    model.safetensors
 * @property {ArrayBuffer | Uint8Array} tokenizer  tokenizer.json or vocab.txt (auto-detected)
 */

/**
 * UI → worker: load a new encoder; the previous one stays in use until the new one is ready.
 * The buffers are transferred.
 * @typedef {{id: number, type: 'load', files: {config: ArrayBuffer, weights: ArrayBuffer, tokenizer: ArrayBuffer}, device: DeviceChoice}} LoadRequest
 */
/**
 * UI → worker: start the wasm build for this device choice before the model files arrive.
 * @typedef {{id: number, type: 'prepare', device: DeviceChoice}} PrepareRequest
 */
/**
 * UI → worker: load the current model's bytes again on another device.
 * @typedef {{id: number, type: 'reload', device: DeviceChoice}} ReloadRequest
 */
/**
 * UI → worker: embed texts, batchSize texts per wasm call (left out: the worker picks for its
 * device, `batchSizeFor` in www/pool.js), with progress and cancel between batches.
 * @typedef {{id: number, type: 'embed', texts: string[], pooling: Pooling, maxLen: number, batchSize?: number}} EmbedRequest
 */
/**
 * UI → worker: word pieces of texts.
 * @typedef {{id: number, type: 'tokenize', texts: string[], maxLen: number}} TokenizeRequest
 */
/**
 * UI → worker: stop request `target` at its next step; it then rejects with a CancelledError.
 * @typedef {{id: number, type: 'cancel', target: number}} CancelRequest
 */
/**
 * UI → worker: the tutorial's preprocessing settings and every training preset's settings.
 * @typedef {{id: number, type: 'defaults'}} DefaultsRequest
 */
/**
 * UI → worker: the header cells of a CSV file / every cell of one of its columns.
 * @typedef {{id: number, type: 'csvHeader', csv: ArrayBuffer}} CsvHeaderRequest
 * @typedef {{id: number, type: 'csvColumn', csv: ArrayBuffer, column: string}} CsvColumnRequest
 */
/**
 * UI → worker: read, preprocess and split a CSV file; it becomes the current dataset.
 * @typedef {{id: number, type: 'dataset', csv: ArrayBuffer, settings: DataSettings}} DatasetRequest
 */
/**
 * UI → worker: features of the current dataset's texts, from IndexedDB under `key` or extracted
 * (progress stage 'extract' with done/total; cancellable between batches).
 * @typedef {{id: number, type: 'extract', key: string, pooling: Pooling, maxLen: number, batchSize?: number}} ExtractRequest
 */
/**
 * UI → worker: train a head on the features (progress stage 'epoch' with `report`, one per
 * epoch; cancellable between epochs), evaluate it on the test rows; it becomes the classifier.
 * @typedef {{id: number, type: 'train', settings: TrainSettings}} TrainRequest
 */
/**
 * UI → worker: what a fine-tuning run would take on this device, before starting it. The rate
 * of the full encoder is `textsPerSecond` when given (measured by the page), else timed on 32
 * training texts.
 * @typedef {{id: number, type: 'fineTunePlan', settings: Partial<FineTuneSettings>, textsPerSecond?: number}} FineTunePlanRequest
 */
/**
 * UI → worker: fine-tune the encoder's top layers and a head on the current dataset's training
 * part (progress stage 'finetune' per step, with `step`), then score its test part in batches
 * (stage 'test'); cancellable between steps. It becomes the classifier; a cancelled or failed
 * run leaves the dataset, the features and the previous classifier as they were.
 * @typedef {{id: number, type: 'fineTune', settings: Partial<FineTuneSettings>}} FineTuneRequest
 */
/**
 * UI → worker: classify texts with the current classifier (progress stage 'classify').
 * @typedef {{id: number, type: 'classify', texts: string[], batchSize?: number}} ClassifyRequest
 */
/**
 * UI → worker: make a classifier file the current classifier / get the current one's bytes.
 * @typedef {{id: number, type: 'setClassifier', bytes: ArrayBuffer}} SetClassifierRequest
 * @typedef {{id: number, type: 'classifierBytes'}} ClassifierBytesRequest
 */
/**
 * @typedef {LoadRequest | PrepareRequest | ReloadRequest | EmbedRequest | TokenizeRequest | CancelRequest | DefaultsRequest
 *   | CsvHeaderRequest | CsvColumnRequest | DatasetRequest | ExtractRequest | TrainRequest | FineTunePlanRequest
 *   | FineTuneRequest | ClassifyRequest
 *   | SetClassifierRequest | ClassifierBytesRequest} Request
 */

/**
 * Worker → UI: a step of request `id` (stage: 'wasm' | 'encoder' | 'embed' | 'extract' | 'epoch'
 * | 'finetune' | 'test' | 'classify' | 'fallback'; `report` with 'epoch', `reason` with
 * 'fallback'; with 'finetune' and 'test': `textsPerSecond` of the current phase and
 * `secondsLeft` and `fraction` (0…1) of the whole run (null until measured), and with 'finetune' the `step`
 * (null before the first), `done`/`total` being optimizer steps).
 * @typedef {{id: number, type: 'progress', stage: string, message: string, done?: number, total?: number,
 *   report?: EpochReport, reason?: string, step?: StepReport | null, textsPerSecond?: number | null,
 *   secondsLeft?: number | null, fraction?: number}} ProgressMessage
 */
/**
 * Worker → UI: request `id` succeeded.
 * @typedef {{id: number, type: 'result', value: any}} ResultMessage
 */
/**
 * Worker → UI: request `id` failed; `message` is the wasm's typed error text, verbatim.
 * @typedef {{id: number, type: 'error', name: string, message: string}} ErrorMessage
 */
/** @typedef {ProgressMessage | ResultMessage | ErrorMessage} Response */

/**
 * The result of load/reload.
 * @typedef {object} EncoderInfo
 * @property {Device} device          what runs
 * @property {string} modelId         identity of the base model (architecture + weights hash)
 * @property {number} threads         CPU threads that extract features (1 on WebGPU)
 * @property {number} autoThreads     what "Automatic" means for this model on this machine (cores, and copies that fit in memory)
 * @property {DeviceChoice} requested what was asked for
 * @property {string | null} fallback why WebGPU was not used although asked for (null when it was, or not asked)
 * @property {number} dim             hidden size
 * @property {number | null} layers   number of encoder layers
 * @property {number} maxPositions    the model's max position embeddings
 * @property {number} loadMs          time spent in the worker loading (wasm init + Encoder.load)
 * @property {'webgpu' | 'cpu' | 'cpu-baseline'} build  the wasm build it runs in (www/builds.js):
 *   pkg/ (WebGPU), pkg/cpu/ (CPU, relaxed SIMD) or pkg/cpu-baseline/ (CPU, for engines without it)
 */

/** @typedef {{ids: number[], mask: number[]}} Tokenized  One text's word pieces, unpadded. */

/**
 * Preprocessing settings (Rust `data::Settings`); `columns` is "amazon" or
 * `{named: {text, label}}`, `label_mode` "binary" | "three" | "five" | "named".
 * @typedef {{columns: 'amazon' | {named: {text: string, label: string}}, label_mode: string,
 *   max_words: number | null, sample_size: number | null, seed: number, test_fraction: number,
 *   strip_html: boolean}} DataSettings
 */
/**
 * Rows kept and dropped by each preprocessing step (Rust `data::Counts`).
 * @typedef {Record<string, number | number[] | string[]>} Counts
 */
/**
 * A preprocessed CSV file.
 * @typedef {{layout: 'amazon' | 'named', text_column: string, label_column: string,
 *   label_names: string[], counts: Counts, settings: DataSettings,
 *   examples: {text: string, label: number}[]}} DatasetSummary
 */
/** @typedef {{rows: number, cached: boolean, ms: number, storeError: string | null}} ExtractResult */
/**
 * Training settings (Rust `train::TrainSettings`): preset, hidden, batch_norm, dropout, epochs, …
 * @typedef {{preset: string, hidden: number[], batch_norm: boolean, dropout: number, epochs: number} & Record<string, any>} TrainSettings
 */
/**
 * One epoch's metrics (Rust `train::EpochReport`).
 * @typedef {{epoch: number, train_loss: number, train_accuracy: number, train_auroc: number | null,
 *   val_loss: number, val_accuracy: number, val_auroc: number | null, best: boolean} & Record<string, any>} EpochReport
 */
/**
 * Test metrics (Rust `metrics::Report`).
 * @typedef {{n: number, n_classes: number, accuracy: number, auroc: number | null,
 *   roc: ({fpr: number[], tpr: number[]} | null)[], confusion: number[][],
 *   per_class: {precision: number, recall: number, f1: number, support: number}[], macro_f1: number}} Report
 */
/**
 * A classifier's metadata (Rust `classifier::ClassifierMeta`).
 * @typedef {{model_id: string, label_names: string[], shape: {input: number, hidden: number[],
 *   batch_norm: boolean, dropout: number, classes: number}, settings: TrainSettings | null,
 *   test: {n: number, accuracy: number, auroc: number | null, macro_f1: number} | null} & Record<string, any>} ClassifierMeta
 */
/** @typedef {{label: number, name: string, probabilities: number[]}} Prediction */
/**
 * Fine-tuning settings (Rust `finetune::FineTuneSettings`); any field may be left out.
 * @typedef {{layers: number, pooling: Pooling, max_len: number, batch_size: number, epochs: number,
 *   encoder_lr: number, head_lr: number, warmup_fraction: number, weight_decay: number,
 *   max_grad_norm: number | null, seed: number, validation_fraction: number, cache_budget_mb: number}} FineTuneSettings
 */
/**
 * One fine-tuning step (Rust `finetune::StepReport`): the phase after it and the one it worked
 * in, texts done of the phase's total (this epoch's, for training and validation), texts this
 * step did, the run's work so far (full-encoder passes over one text), optimizer steps, and
 * the epoch's report on the step that ended its validation.
 * @typedef {{phase: FineTunePhase, worked: FineTunePhase, epoch: number, done: number,
 *   total: number, texts: number, work_done: number, step: number, total_steps: number,
 *   running_loss: number | null, epoch_report: EpochReport | null}} StepReport
 * @typedef {'caching' | 'training' | 'validating' | 'finished'} FineTunePhase
 */
/**
 * The expected time of a fine-tuning run on this device. `measured` says how the rate was
 * timed when the worker timed it (null: the rate was given).
 * @typedef {{seconds: number, textsPerSecond: number, measured: {texts: number, seconds: number} | null,
 *   device: Device, layers: number | null, testTexts: number}} FineTunePlan
 */

/** Rejection of a request that was cancelled. */
export class CancelledError extends Error {
  constructor(message = 'cancelled') {
    super(message);
    this.name = 'CancelledError';
  }
}

/** Rejection carrying the worker's error text verbatim (the wasm's typed error message). */
export class WorkerError extends Error {
  constructor(message, name = 'Error') {
    super(message);
    this.name = name;
  }
}

/** Copy (or take) bytes as a standalone ArrayBuffer that can be transferred. */
function toBuffer(bytes) {
  if (bytes instanceof ArrayBuffer) return bytes;
  if (ArrayBuffer.isView(bytes)) {
    const { buffer, byteOffset, byteLength } = bytes;
    if (byteOffset === 0 && byteLength === buffer.byteLength && buffer instanceof ArrayBuffer) return buffer;
    return buffer.slice(byteOffset, byteOffset + byteLength);
  }
  throw new TypeError('model files must be ArrayBuffer or Uint8Array');
}

export class BertClient {
  /** @param {Worker} [worker] defaults to a module worker running www/worker.js */
  constructor(worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })) {
    this.worker = worker;
    /** @type {Map<number, {resolve: Function, reject: Function, onProgress?: (p: ProgressMessage) => void}>} */
    this.pending = new Map();
    this.nextId = 1;
    /** @type {EncoderInfo | null} */
    this.info = null;
    /** @type {Set<(p: ProgressMessage) => void>} progress listeners for every request */
    this.listeners = new Set();
    /** @type {string | null} why the worker cannot answer any more (set once it died) */
    this.dead = null;
    worker.addEventListener('message', (e) => this.#onMessage(e.data));
    worker.addEventListener('error', (e) => {
      e.preventDefault();
      this.#failAll(
        `the model worker stopped (${e.message || 'it could not load www/worker.js or pkg/bertweb.js'}). ` +
          'If pkg/ is missing, build it with scripts/build.sh; then reload the page.',
      );
    });
    worker.addEventListener('messageerror', () =>
      this.#failAll('a message from the worker could not be read'),
    );
  }

  /** @returns {Device | null} the device the current encoder runs on, null before the first load */
  get device() {
    return this.info?.device ?? null;
  }

  /**
   * Start the WebAssembly build `device` needs (WebGPU's or the CPU's) while the page
   * fetches the model files, so that its compile overlaps with them. Optional: `load` starts
   * it otherwise.
   * @param {DeviceChoice} [device]
   * @returns {Promise<{build: 'webgpu' | 'cpu' | 'cpu-baseline'}>}
   */
  prepare(device = 'auto') {
    return this.#request({ type: 'prepare', device }, []).promise;
  }

  /**
   * Load an encoder from a model's bytes (taken: the buffers are transferred to the worker).
   * @param {ModelFiles} files
   * @param {DeviceChoice} [device]
   * @param {(p: ProgressMessage) => void} [onProgress]
   * @returns {Promise<EncoderInfo>}
   */
  async load(files, device = 'auto', onProgress) {
    const buffers = {
      config: toBuffer(files.config),
      weights: toBuffer(files.weights),
      tokenizer: toBuffer(files.tokenizer),
    };
    const info = await this.#request(
      { type: 'load', files: buffers, device },
      Object.values(buffers),
      onProgress,
    ).promise;
    this.info = info;
    return info;
  }

  /**
   * CPU threads for feature extraction (this worker plus helper workers, each with its own
   * copy of the model): a number, or 'auto' (one per core, as many copies as fit in memory).
   * Applies to the loaded model at once and to later loads; resolves once the helpers have
   * loaded the model.
   * @param {number | 'auto'} threads
   * @returns {Promise<{threads: number, wanted: number, lastRun: number[]}>} threads in use
   *   now (1 on WebGPU), and the batches each thread computed in the last extraction
   */
  setThreads(threads) {
    return this.#request({ type: 'threads', threads }, []).promise;
  }

  /**
   * Wasm memory of the worker and of each helper worker, in bytes: the peaks so far, since
   * wasm memory never shrinks (for the benchmark).
   * @returns {Promise<{worker: number, helpers: (number | null)[]}>}
   */
  memory() {
    return this.#request({ type: 'memory' }, []).promise;
  }

  /**
   * Load the current model again on another device.
   * @param {DeviceChoice} device
   * @param {(p: ProgressMessage) => void} [onProgress]
   * @returns {Promise<EncoderInfo>}
   */
  async reload(device, onProgress) {
    const info = await this.#request({ type: 'reload', device }, [], onProgress).promise;
    this.info = info;
    return info;
  }

  /**
   * Embed texts: texts.length * dim floats, row-major.
   * @param {string[]} texts
   * @param {Pooling} [pooling]
   * @param {number} [maxLen]
   * @param {{batchSize?: number, onProgress?: (p: ProgressMessage) => void, signal?: AbortSignal}} [options]
   * @returns {Promise<Float32Array>}
   */
  embed(texts, pooling = 'mean', maxLen = 55, { batchSize, onProgress, signal } = {}) {
    const { id, promise } = this.#request(
      { type: 'embed', texts, pooling, maxLen, batchSize },
      [],
      onProgress,
    );
    if (signal) {
      if (signal.aborted) this.cancel(id);
      else signal.addEventListener('abort', () => this.cancel(id), { once: true });
    }
    return promise;
  }

  /**
   * Word pieces of each text, with [CLS]/[SEP], truncated to maxLen, unpadded.
   * @param {string[]} texts
   * @param {number} [maxLen]
   * @returns {Promise<Tokenized[]>}
   */
  tokenize(texts, maxLen = 55) {
    return this.#request({ type: 'tokenize', texts, maxLen }, []).promise;
  }

  /** @returns {Promise<{data: DataSettings, presets: Record<string, TrainSettings>, fineTune: FineTuneSettings}>} */
  defaults() {
    return this.#request({ type: 'defaults' }, []).promise;
  }

  /**
   * @param {ArrayBuffer} csv (copied, not taken)
   * @returns {Promise<string[]>}
   */
  csvHeader(csv) {
    return this.#request({ type: 'csvHeader', csv }, []).promise;
  }

  /**
   * @param {ArrayBuffer} csv (copied, not taken)
   * @param {string} column
   * @returns {Promise<string[]>}
   */
  csvColumn(csv, column) {
    return this.#request({ type: 'csvColumn', csv, column }, []).promise;
  }

  /**
   * Read, preprocess and split a CSV file in the worker.
   * @param {ArrayBuffer} csv (copied, not taken)
   * @param {Partial<DataSettings>} settings
   * @returns {Promise<DatasetSummary>}
   */
  dataset(csv, settings) {
    return this.#request({ type: 'dataset', csv, settings }, []).promise;
  }

  /**
   * Features of the current dataset, cached in IndexedDB under `key`.
   * @param {{key: string, pooling?: Pooling, maxLen?: number, batchSize?: number,
   *   onProgress?: (p: ProgressMessage) => void, signal?: AbortSignal}} options
   * @returns {Promise<ExtractResult>}
   */
  extract({ key, pooling = 'mean', maxLen = 55, batchSize, onProgress, signal }) {
    return this.#cancellable({ type: 'extract', key, pooling, maxLen, batchSize }, onProgress, signal);
  }

  /**
   * Train a head; it becomes the worker's classifier.
   * @param {TrainSettings} settings
   * @param {{onProgress?: (p: ProgressMessage) => void, signal?: AbortSignal}} [options]
   * @returns {Promise<{meta: ClassifierMeta, report: Report}>}
   */
  train(settings, { onProgress, signal } = {}) {
    return this.#cancellable({ type: 'train', settings }, onProgress, signal);
  }

  /**
   * The expected time of fine-tuning the current dataset with `settings` on this device.
   * @param {Partial<FineTuneSettings>} settings
   * @param {{textsPerSecond?: number}} [options] the full encoder's measured rate, when known
   * @returns {Promise<FineTunePlan>}
   */
  fineTunePlan(settings, { textsPerSecond } = {}) {
    return this.#request({ type: 'fineTunePlan', settings, textsPerSecond }, []).promise;
  }

  /**
   * Fine-tune the top encoder layers and a head; the result, scored on the test part, becomes
   * the worker's classifier.
   * @param {Partial<FineTuneSettings>} settings
   * @param {{onProgress?: (p: ProgressMessage) => void, signal?: AbortSignal}} [options]
   * @returns {Promise<{meta: ClassifierMeta, report: Report}>}
   */
  fineTune(settings, { onProgress, signal } = {}) {
    return this.#cancellable({ type: 'fineTune', settings }, onProgress, signal);
  }

  /**
   * @param {string[]} texts
   * @param {{batchSize?: number, onProgress?: (p: ProgressMessage) => void, signal?: AbortSignal}} [options]
   * @returns {Promise<Prediction[]>}
   */
  classify(texts, { batchSize, onProgress, signal } = {}) {
    return this.#cancellable({ type: 'classify', texts, batchSize }, onProgress, signal);
  }

  /**
   * Make a classifier file the worker's classifier. `mismatch` says why it does not fit the
   * loaded model (it is kept anyway, for when that model is loaded).
   * @param {ArrayBuffer} bytes (copied, not taken)
   * @returns {Promise<{meta: ClassifierMeta, mismatch: string | null}>}
   */
  setClassifier(bytes) {
    return this.#request({ type: 'setClassifier', bytes }, []).promise;
  }

  /** @returns {Promise<ArrayBuffer>} the current classifier's file */
  classifierBytes() {
    return this.#request({ type: 'classifierBytes' }, []).promise;
  }

  #cancellable(message, onProgress, signal) {
    const { id, promise } = this.#request(message, [], onProgress);
    if (signal) {
      if (signal.aborted) this.cancel(id);
      else signal.addEventListener('abort', () => this.cancel(id), { once: true });
    }
    return promise;
  }

  /** Ask the worker to stop request `id` at its next step. */
  cancel(id) {
    if (this.pending.has(id)) this.worker.postMessage({ id: this.nextId++, type: 'cancel', target: id });
  }

  /** Listen to progress of every request; returns a function that stops listening. */
  onProgress(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  terminate() {
    this.worker.terminate();
    this.#failAll('the worker was terminated');
  }

  #request(message, transfer, onProgress) {
    const id = this.nextId++;
    if (this.dead) return { id, promise: Promise.reject(new WorkerError(this.dead)) };
    const promise = new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
    });
    this.worker.postMessage({ ...message, id }, transfer);
    return { id, promise };
  }

  /** @param {Response} msg */
  #onMessage(msg) {
    const entry = this.pending.get(msg?.id);
    if (msg?.type === 'progress') {
      entry?.onProgress?.(msg);
      for (const l of this.listeners) l(msg);
      return;
    }
    if (!entry) return;
    this.pending.delete(msg.id);
    if (msg.type === 'result') entry.resolve(msg.value);
    else if (msg.name === 'CancelledError') entry.reject(new CancelledError(msg.message));
    else entry.reject(new WorkerError(msg.message, msg.name));
  }

  #failAll(message) {
    this.dead ??= message;
    for (const [, entry] of this.pending) entry.reject(new WorkerError(message));
    this.pending.clear();
  }
}
