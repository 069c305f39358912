// @ts-check
// Promise RPC over postMessage to www/worker.js, which owns the wasm instance.
// The UI thread (and the browser tests, through window.bertweb.client) only talk to this.
// The messages, the values they carry and the error kinds: www/protocol.js.

/** @typedef {import('./protocol.js').ClassifierMeta} ClassifierMeta */
/** @typedef {import('./protocol.js').ClassifierSet} ClassifierSet */
/** @typedef {import('./protocol.js').CallBody} CallBody */
/** @typedef {import('./protocol.js').CallType} CallType */
/** @typedef {import('./protocol.js').DataSettings} DataSettings */
/** @typedef {import('./protocol.js').DatasetSummary} DatasetSummary */
/** @typedef {import('./protocol.js').Defaults} Defaults */
/** @typedef {import('./protocol.js').DelimiterChoice} DelimiterChoice */
/** @typedef {import('./protocol.js').Device} Device */
/** @typedef {import('./protocol.js').DeviceChoice} DeviceChoice */
/** @typedef {import('./protocol.js').EncoderInfo} EncoderInfo */
/** @typedef {import('./protocol.js').ErrorKind} ErrorKind */
/** @typedef {import('./protocol.js').ExtractResult} ExtractResult */
/** @typedef {import('./protocol.js').FineTunePlan} FineTunePlan */
/** @typedef {import('./protocol.js').FineTuneSettings} FineTuneSettings */
/** @typedef {import('./protocol.js').KeptClassifier} KeptClassifier */
/** @typedef {import('./protocol.js').ModelFiles} ModelFiles */
/** @typedef {import('./protocol.js').Pooling} Pooling */
/** @typedef {import('./protocol.js').Prediction} Prediction */
/** @typedef {import('./protocol.js').ProgressMessage} ProgressMessage */
/** @typedef {import('./protocol.js').Report} Report */
/** @typedef {import('./protocol.js').Response} Response */
/** @typedef {import('./protocol.js').Results} Results */
/** @typedef {import('./protocol.js').Tokenized} Tokenized */
/** @typedef {import('./protocol.js').Trained} Trained */
/** @typedef {import('./protocol.js').TrainSettings} TrainSettings */
/** @typedef {(p: ProgressMessage) => void} OnProgress */
/** @typedef {{onProgress?: OnProgress, signal?: AbortSignal}} RunOptions  Progress of one request, and a signal that cancels it. */

/** Rejection of a request that was cancelled. */
export class CancelledError extends Error {
  constructor(message = 'cancelled') {
    super(message);
    /** @type {'CancelledError'} */
    this.name = 'CancelledError';
  }
}

/**
 * Rejection of a request that failed: `message` is for the user, verbatim; `name` is its kind
 * (www/protocol.js `ErrorKind`), what the page branches on.
 */
class WorkerError extends Error {
  /**
   * @param {string} message
   * @param {ErrorKind} [name] InternalError when the worker could not answer at all
   */
  constructor(message, name = 'InternalError') {
    super(message);
    /** @type {ErrorKind} */
    this.name = name;
  }
}

/**
 * Copy (or take) bytes as a standalone ArrayBuffer that can be transferred.
 * @param {ArrayBuffer | ArrayBufferView} bytes
 * @returns {ArrayBuffer}
 */
function toBuffer(bytes) {
  if (bytes instanceof ArrayBuffer) return bytes;
  if (ArrayBuffer.isView(bytes)) {
    const { buffer, byteOffset, byteLength } = bytes;
    if (byteOffset === 0 && byteLength === buffer.byteLength && buffer instanceof ArrayBuffer) return buffer;
    return new Uint8Array(buffer, byteOffset, byteLength).slice().buffer;
  }
  throw new TypeError('model files must be ArrayBuffer or Uint8Array');
}

/**
 * A request waiting for its answer.
 * @typedef {{resolve: (value: unknown) => void, reject: (err: Error) => void, onProgress?: OnProgress}} Pending
 */

export class BertClient {
  /** @param {Worker} [worker] defaults to a module worker running www/worker.js */
  constructor(worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })) {
    this.worker = worker;
    /** @type {Map<number, Pending>} */
    this.pending = new Map();
    this.nextId = 1;
    /** @type {EncoderInfo | null} */
    this.info = null;
    /** @type {Set<OnProgress>} progress listeners for every request */
    this.listeners = new Set();
    /** @type {string | null} why the worker cannot answer any more (set once it died) */
    this.dead = null;
    /** @type {Promise<Defaults> | null} asked once: they do not change while the page runs */
    this.defaultsAnswer = null;
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
   */
  prepare(device = 'auto') {
    return this.#request({ type: 'prepare', device }).promise;
  }

  /**
   * Load an encoder from a model's bytes (taken: the buffers are transferred to the worker).
   * @param {ModelFiles} files
   * @param {DeviceChoice} [device]
   * @param {OnProgress} [onProgress]
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
   * loaded the model, to the threads in use now (1 on WebGPU), and the batches each thread
   * computed in the last extraction.
   * @param {number | 'auto'} threads
   */
  setThreads(threads) {
    return this.#request({ type: 'threads', threads }).promise;
  }

  /**
   * Wasm memory of the worker and of each helper worker, in bytes: the peaks so far, since
   * wasm memory never shrinks (for the benchmark).
   */
  memory() {
    return this.#request({ type: 'memory' }).promise;
  }

  /**
   * Load the current model again on another device.
   * @param {DeviceChoice} device
   * @param {OnProgress} [onProgress]
   */
  async reload(device, onProgress) {
    const info = await this.#request({ type: 'reload', device }, [], onProgress).promise;
    this.info = info;
    return info;
  }

  /**
   * Embed texts: texts.length * dim floats, row-major. Pooling and max length left out: the
   * defaults' (`defaults()`).
   * @param {string[]} texts
   * @param {Pooling} [pooling]
   * @param {number} [maxLen]
   * @param {{batchSize?: number} & RunOptions} [options]
   * @returns {Promise<Float32Array>}
   */
  async embed(texts, pooling, maxLen, { batchSize, onProgress, signal } = {}) {
    const defaults = pooling && maxLen ? null : await this.defaults();
    return this.#cancellable(
      {
        type: 'embed',
        texts,
        pooling: pooling ?? /** @type {Defaults} */ (defaults).pooling,
        maxLen: maxLen ?? /** @type {Defaults} */ (defaults).maxLen,
        batchSize,
      },
      onProgress,
      signal,
    );
  }

  /**
   * Word pieces of each text, with [CLS]/[SEP], truncated to maxLen (left out: the defaults'),
   * unpadded.
   * @param {string[]} texts
   * @param {number} [maxLen]
   * @returns {Promise<Tokenized[]>}
   */
  async tokenize(texts, maxLen) {
    maxLen ??= (await this.defaults()).maxLen;
    return this.#request({ type: 'tokenize', texts, maxLen }).promise;
  }

  /**
   * Every default and choice the page offers, from the wasm module (asked once).
   * @returns {Promise<Defaults>}
   */
  defaults() {
    if (!this.defaultsAnswer) {
      const answer = this.#request({ type: 'defaults' }).promise;
      this.defaultsAnswer = answer;
      // A failure (the wasm could not start) is not kept: the next call asks again.
      answer.catch(() => {
        if (this.defaultsAnswer === answer) this.defaultsAnswer = null;
      });
    }
    return this.defaultsAnswer;
  }

  /**
   * @param {ArrayBuffer} csv (copied, not taken)
   * @param {DelimiterChoice} [delimiter] left out: found from the file
   */
  csvHeader(csv, delimiter) {
    return this.#request({ type: 'csvHeader', csv, delimiter }).promise;
  }

  /**
   * @param {ArrayBuffer} csv (copied, not taken)
   * @param {string} column
   * @param {DelimiterChoice} [delimiter] left out: found from the file
   */
  csvColumn(csv, column, delimiter) {
    return this.#request({ type: 'csvColumn', csv, column, delimiter }).promise;
  }

  /**
   * What a CSV file holds before preprocessing: its delimiter, header, likely text and label
   * columns, labels and split column, read with `settings`' delimiter and columns.
   * @param {ArrayBuffer} csv (copied, not taken)
   * @param {Partial<DataSettings>} settings
   * @param {boolean} [start] `csv` is only the start of a larger file
   */
  csvPreview(csv, settings, start = false) {
    return this.#request({ type: 'csvPreview', csv, settings, start }).promise;
  }

  /**
   * Read, preprocess and split a CSV file in the worker. A file larger than
   * `defaults().stream.aboveBytes` is read a chunk at a time into a sample (progress 'read').
   * @param {Blob} csv
   * @param {Partial<DataSettings>} settings
   * @param {RunOptions} [options]
   */
  dataset(csv, settings, { onProgress, signal } = {}) {
    return this.#cancellable({ type: 'dataset', csv, settings }, onProgress, signal);
  }

  /**
   * Features of the current dataset, cached in IndexedDB under `key` (and checkpointed there
   * every `checkpointMs` while they are extracted). Pooling and max length left out: the
   * defaults'.
   * @param {{key: string, pooling?: Pooling, maxLen?: number, batchSize?: number, checkpointMs?: number} & RunOptions} options
   * @returns {Promise<ExtractResult>}
   */
  async extract({ key, pooling, maxLen, batchSize, checkpointMs, onProgress, signal }) {
    const defaults = pooling && maxLen ? null : await this.defaults();
    return this.#cancellable(
      {
        type: 'extract',
        key,
        pooling: pooling ?? /** @type {Defaults} */ (defaults).pooling,
        maxLen: maxLen ?? /** @type {Defaults} */ (defaults).maxLen,
        batchSize,
        checkpointMs,
      },
      onProgress,
      signal,
    );
  }

  /**
   * Train a head; it becomes the worker's classifier.
   * @param {TrainSettings} settings
   * @param {RunOptions} [options]
   */
  train(settings, { onProgress, signal } = {}) {
    return this.#cancellable({ type: 'train', settings }, onProgress, signal);
  }

  /**
   * The expected time of fine-tuning the current dataset with `settings` on this device.
   * @param {Partial<FineTuneSettings>} settings
   */
  fineTunePlan(settings) {
    return this.#request({ type: 'fineTunePlan', settings }).promise;
  }

  /**
   * Fine-tune the top encoder layers and a head; the result, scored on the test part, becomes
   * the worker's classifier.
   * @param {Partial<FineTuneSettings>} settings
   * @param {RunOptions} [options]
   */
  fineTune(settings, { onProgress, signal } = {}) {
    return this.#cancellable({ type: 'fineTune', settings }, onProgress, signal);
  }

  /**
   * @param {string[]} texts
   * @param {{batchSize?: number} & RunOptions} [options]
   */
  classify(texts, { batchSize, onProgress, signal } = {}) {
    return this.#cancellable({ type: 'classify', texts, batchSize }, onProgress, signal);
  }

  /**
   * Why the current classifier decided what it did for `text`: each word's contribution to a
   * class's log-odds (the predicted class unless `label`).
   * @param {string} text
   * @param {{label?: number, steps?: number}} [options]
   */
  explain(text, { label, steps } = {}) {
    return this.#request({ type: 'explain', text, label, steps }).promise;
  }

  /**
   * The next rows to label, the head trained on the labels so far (its prediction for every
   * row) and their cross-validated accuracy.
   * @param {Float32Array} vectors the texts' vectors, row-major (copied)
   * @param {number} dim
   * @param {import('./protocol.js').LabelingRequest} request
   */
  labelingSuggest(vectors, dim, request) {
    return this.#request({ type: 'labelingSuggest', vectors, dim, request }).promise;
  }

  /**
   * Keep a labeling session in this browser (IndexedDB), replacing the one kept; without its
   * texts and vectors, only its progress (the texts and vectors kept with it before stay).
   * @param {import('./protocol.js').LabelingSession | import('./protocol.js').LabelingProgress} session
   */
  keepLabeling(session) {
    return this.#request({ type: 'keepLabeling', session }).promise;
  }

  /** The kept labeling session, or null. */
  loadLabeling() {
    return this.#request({ type: 'loadLabeling' }).promise;
  }

  /** Forget the kept labeling session. */
  forgetLabeling() {
    return this.#request({ type: 'forgetLabeling' }).promise;
  }

  /**
   * Make a classifier file the worker's classifier. `mismatch` says why it does not fit the
   * loaded model (it is kept anyway, for when that model is loaded).
   * @param {ArrayBuffer} bytes (copied, not taken)
   */
  setClassifier(bytes) {
    return this.#request({ type: 'setClassifier', bytes }).promise;
  }

  /** The current classifier's file. */
  classifierBytes() {
    return this.#request({ type: 'classifierBytes' }).promise;
  }

  /**
   * The current classifier as a zip of a model folder other tools run (transformers.js,
   * onnxruntime): ONNX graph, config, tokenizer files and a model card saying `card`.
   * @param {import('./protocol.js').ModelCard} [card]
   * @returns {Promise<ArrayBuffer>}
   */
  exportForOtherTools(card = {}) {
    return this.#request({ type: 'exportForOtherTools', card }).promise;
  }

  /**
   * Keep the worker's current classifier in this browser for the next visit, with `source`
   * (where it came from, in words). A full or missing storage resolves with a warning that says
   * what to do; it does not reject.
   * @param {string} source
   */
  keepClassifier(source) {
    return this.#request({ type: 'keepClassifier', source }).promise;
  }

  /**
   * Make the classifier kept in this browser the worker's classifier, as `setClassifier` does;
   * null when none is kept. A kept file that cannot be read rejects (ClassifierError).
   */
  loadKeptClassifier() {
    return this.#request({ type: 'loadKeptClassifier' }).promise;
  }

  /** Delete the classifier kept in this browser. */
  forgetKeptClassifier() {
    return this.#request({ type: 'forgetKeptClassifier' }).promise;
  }

  /**
   * For tests: a Rust panic in the worker's wasm instance (`later`: inside an async call), which
   * the worker then restarts; rejects with the InternalError that says what was restored.
   * @param {boolean} [later]
   */
  crashForTest(later = false) {
    return this.#request({ type: 'crashForTest', later }).promise;
  }

  /**
   * A request that `signal` cancels.
   * @template {CallBody} M
   * @param {M} message
   * @param {OnProgress | undefined} onProgress
   * @param {AbortSignal | undefined} signal
   * @returns {Promise<Results[M['type']]>}
   */
  #cancellable(message, onProgress, signal) {
    const { id, promise } = this.#request(message, [], onProgress);
    if (signal) {
      if (signal.aborted) this.cancel(id);
      else signal.addEventListener('abort', () => this.cancel(id), { once: true });
    }
    return promise;
  }

  /**
   * Ask the worker to stop request `id` at its next step.
   * @param {number} id
   */
  cancel(id) {
    if (this.pending.has(id)) {
      /** @type {import('./protocol.js').CancelRequest} */
      const message = { id: this.nextId++, type: 'cancel', target: id };
      this.worker.postMessage(message);
    }
  }

  /**
   * Listen to progress of every request; returns a function that stops listening.
   * @param {OnProgress} listener
   */
  onProgress(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  terminate() {
    this.worker.terminate();
    this.#failAll('the worker was terminated');
  }

  /**
   * Send a request; its promise resolves to what the worker answers for its type.
   * @template {CallBody} M
   * @param {M} message
   * @param {Transferable[]} [transfer]
   * @param {OnProgress} [onProgress]
   * @returns {{id: number, promise: Promise<Results[M['type']]>}}
   */
  #request(message, transfer = [], onProgress) {
    const id = this.nextId++;
    if (this.dead) return { id, promise: Promise.reject(new WorkerError(this.dead)) };
    /** @type {Promise<Results[M['type']]>} */
    const promise = new Promise((resolve, reject) => {
      this.pending.set(id, {
        resolve: /** @type {(value: unknown) => void} */ (resolve),
        reject,
        onProgress,
      });
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

  /** @param {string} message */
  #failAll(message) {
    this.dead ??= message;
    for (const [, entry] of this.pending) entry.reject(new WorkerError(message));
    this.pending.clear();
  }
}
