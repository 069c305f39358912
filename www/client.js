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
 * UI → worker: load the current model's bytes again on another device.
 * @typedef {{id: number, type: 'reload', device: DeviceChoice}} ReloadRequest
 */
/**
 * UI → worker: embed texts, batchSize texts per wasm call, with progress and cancel between batches.
 * @typedef {{id: number, type: 'embed', texts: string[], pooling: Pooling, maxLen: number, batchSize: number}} EmbedRequest
 */
/**
 * UI → worker: word pieces of texts.
 * @typedef {{id: number, type: 'tokenize', texts: string[], maxLen: number}} TokenizeRequest
 */
/**
 * UI → worker: stop request `target` at its next step; it then rejects with a CancelledError.
 * @typedef {{id: number, type: 'cancel', target: number}} CancelRequest
 */
/** @typedef {LoadRequest | ReloadRequest | EmbedRequest | TokenizeRequest | CancelRequest} Request */

/**
 * Worker → UI: a step of request `id` (stage: 'wasm' | 'encoder' | 'embed').
 * @typedef {{id: number, type: 'progress', stage: string, message: string, done?: number, total?: number}} ProgressMessage
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
 * @property {DeviceChoice} requested what was asked for
 * @property {string | null} fallback why WebGPU was not used although asked for (null when it was, or not asked)
 * @property {number} dim             hidden size
 * @property {number} maxPositions    the model's max position embeddings
 * @property {number} loadMs          time spent in the worker loading (wasm init + Encoder.load)
 */

/** @typedef {{ids: number[], mask: number[]}} Tokenized  One text's word pieces, unpadded. */

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
      this.#failAll(`the model worker stopped (${e.message || 'it could not load www/worker.js or pkg/bertweb.js'}). ` +
        'If pkg/ is missing, build it with scripts/build.sh; then reload the page.');
    });
    worker.addEventListener('messageerror', () => this.#failAll('a message from the worker could not be read'));
  }

  /** @returns {Device | null} the device the current encoder runs on, null before the first load */
  get device() {
    return this.info?.device ?? null;
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
    const info = await this.#request({ type: 'load', files: buffers, device }, Object.values(buffers), onProgress).promise;
    this.info = info;
    return info;
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
  embed(texts, pooling = 'mean', maxLen = 55, { batchSize = 32, onProgress, signal } = {}) {
    const { id, promise } = this.#request({ type: 'embed', texts, pooling, maxLen, batchSize }, [], onProgress);
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
