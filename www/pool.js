// @ts-check
// Feature extraction on several cores: the main worker's own encoder plus helper workers
// (www/embed_worker.js), each a wasm instance with its own copy of the model, all claiming
// batches of one Rust `Extraction` until every batch is filled. A batch is embedded the same
// way wherever it runs (padded to its own longest text), so the features do not depend on
// how many helpers took part. The same helpers compute shares of fine-tuning steps
// (src/shard.rs), batches of a fine-tuned classifier's texts and parts of explanations, each
// handed out by the Rust side of the main worker (`helper` callbacks), which computes a share
// itself when its helper fails. Messages between this file and the helpers: www/protocol.js.

/** @typedef {import('./protocol.js').Encoder} Encoder */
/** @typedef {import('./protocol.js').Extraction} Extraction */
/** @typedef {import('./protocol.js').HelperRequest} HelperRequest */
/** @typedef {import('./protocol.js').HelperResponse} HelperResponse */
/** @typedef {import('./protocol.js').HelperResults} HelperResults */
/** @typedef {import('./protocol.js').ModelBuffers} ModelBuffers */
/** @typedef {import('./protocol.js').Pooling} Pooling */
/** @typedef {import('./protocol.js').SharedClassifier} SharedClassifier */
/**
 * A request to a helper as the pool writes it, before it gets its id.
 * @typedef {HelperRequest extends infer R ? R extends HelperRequest ? Omit<R, 'id'> : never : never} HelperCall
 */
/**
 * Where `runExtraction` sends batches: this worker's encoder (`local`) or a helper, ready once
 * it has loaded a model (its id), embedding a batch's texts; `fail` drops a helper.
 * @typedef {{local: boolean, ready: Promise<string>, embed: (texts: string[]) => Promise<Float32Array>,
 *   fail?: (err: Error) => void}} Lane
 */

/** Threads (this worker and its helpers) at most: each holds a copy of the model. */
export const MAX_THREADS = 8;

/**
 * Wasm memory of one thread per byte of model weights, at its peak after embedding (measured
 * for MiniLM and a BERT-base: docs/PERFORMANCE.md).
 */
const MEMORY_PER_WEIGHT_BYTE = 2.3;
/** Share of the machine's memory that the model copies may take together. */
const MEMORY_SHARE = 0.25;
/** Memory to assume where the browser does not say (navigator.deviceMemory is Chromium's). */
const DEFAULT_DEVICE_GB = 4;

/**
 * Threads to use when the user did not choose: one per core, as many as the model's copies fit
 * in a quarter of the memory (navigator.deviceMemory: GB, at most 8), at most MAX_THREADS.
 * A 2-core machine gets 2; 8 cores with 8 GB get 8 for MiniLM and 2 for a BERT-base.
 * @param {number} weightBytes size of model.safetensors (0: memory not counted)
 */
export function autoThreads(weightBytes = 0) {
  const cores = navigator.hardwareConcurrency || 1;
  const { deviceMemory } = /** @type {{deviceMemory?: number}} */ (navigator);
  const budget = (deviceMemory ?? DEFAULT_DEVICE_GB) * 2 ** 30 * MEMORY_SHARE;
  const byMemory =
    weightBytes > 0 ? Math.floor(budget / (weightBytes * MEMORY_PER_WEIGHT_BYTE)) : MAX_THREADS;
  return Math.max(1, Math.min(cores, byMemory, MAX_THREADS));
}

/**
 * Texts per wasm call on WebGPU when the caller does not choose. A batch there is one round of
 * kernel launches and one readback, so a small batch leaves the GPU idle; past this size the
 * rate stops growing. The first pass, which compiles a kernel set per new length, gains most
 * (fewer batches, fewer distinct lengths). Measured with `bench/webgpu_profile.rs --extract`:
 * docs/PERFORMANCE.md.
 */
export const WEBGPU_BATCH = 128;

/**
 * Texts per batch: the caller's choice, else WEBGPU_BATCH on WebGPU and `cpuDefault` on the
 * CPU, where small batches share an extraction evenly between threads.
 * @param {'cpu' | 'webgpu' | undefined} device the encoder's device
 * @param {number | undefined} requested
 * @param {number} cpuDefault
 * @returns {number}
 */
export function batchSizeFor(device, requested, cpuDefault) {
  const chosen = Math.floor(requested ?? 0);
  if (chosen >= 1) return chosen;
  return device === 'webgpu' ? WEBGPU_BATCH : cpuDefault;
}

/** A helper worker and its pending requests. */
class Helper {
  #worker;
  /** @type {Map<number, {resolve: (value: HelperResults[HelperCall['type']]) => void, reject: (err: Error) => void}>} */
  #pending = new Map();
  #nextId = 1;
  /** @type {string | null} Why this helper can no longer be used, or null. */
  broken = null;
  /** @type {string | null} the model it loaded, once it has */
  modelId = null;
  /** The version of the main worker's classifier it holds for explanations (0: none). */
  classifierVersion = 0;

  constructor() {
    this.#worker = new Worker(new URL('./embed_worker.js', import.meta.url), { type: 'module' });
    this.#worker.addEventListener('message', (event) => {
      /** @type {HelperResponse} */
      const data = event.data;
      const pending = this.#pending.get(data.id);
      if (!pending) return;
      this.#pending.delete(data.id);
      if ('error' in data) {
        if (data.crashed) this.broken = data.error;
        pending.reject(new Error(data.error));
      } else {
        pending.resolve(data.value);
      }
    });
    this.#worker.addEventListener('error', (event) => {
      event.preventDefault();
      this.fail(new Error(`helper worker failed: ${event.message || 'could not start'}`));
    });
  }

  /**
   * @template {HelperCall} M
   * @param {M} message
   * @param {Transferable[]} [transfer]
   * @returns {Promise<HelperResults[M['type']]>}
   */
  request(message, transfer = []) {
    if (this.broken) return Promise.reject(new Error(this.broken));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve: /** @type {(value: unknown) => void} */ (resolve), reject });
      this.#worker.postMessage({ ...message, id }, transfer);
    });
  }

  /** @param {Error} err */
  fail(err) {
    this.broken ??= err.message;
    for (const { reject } of this.#pending.values()) reject(err);
    this.#pending.clear();
  }

  terminate() {
    this.fail(new Error('helper stopped'));
    this.#worker.terminate();
  }
}

export class EmbedPool {
  /** @type {{helper: Helper, ready: Promise<string>}[]} */
  #helpers = [];
  /** @type {ModelBuffers | null} */
  #files = null;
  /** @type {WebAssembly.Module | null} */
  #module = null;

  /** Helpers started (loading or ready). */
  get size() {
    return this.#helpers.length;
  }

  /**
   * Start `count` helpers, replacing the current ones, each loading a copy of `files` in the
   * background into an instance of `build`: a compiled wasm `module` and the URL of its
   * wasm-bindgen `glue` (www/builds.js). A helper that fails to load is left out.
   * @param {number} count
   * @param {{module: WebAssembly.Module, glue: string}} build
   * @param {ModelBuffers} files
   */
  start(count, { module, glue }, files) {
    if (count === this.#helpers.length && files === this.#files && module === this.#module) return;
    this.stop();
    this.#files = files;
    this.#module = module;
    for (let i = 0; i < count; i++) {
      const helper = new Helper();
      const ready = helper
        .request({ type: 'load', module, glue, files: { ...files } })
        .then(({ modelId }) => {
          helper.modelId = modelId;
          return modelId;
        });
      ready.catch((err) => helper.fail(err));
      this.#helpers.push({ helper, ready });
    }
  }

  /** Resolves once every helper has loaded or failed; to the number that loaded. */
  async settled() {
    const loaded = await Promise.allSettled(this.#helpers.map(({ ready }) => ready));
    return loaded.filter((r) => r.status === 'fulfilled').length;
  }

  /** Each ready helper's wasm memory in bytes (it only grows: the peak so far). */
  async memory() {
    const sizes = await Promise.allSettled(
      this.#helpers.map(async ({ helper, ready }) => {
        await ready;
        return helper.request({ type: 'memory' });
      }),
    );
    return sizes.map((r) => (r.status === 'fulfilled' ? r.value : null));
  }

  /**
   * Each helper that has loaded `modelId` and works, as a function computing one part of an
   * explanation with the classifier `shared` (its file goes to a helper once per version).
   * Helpers still loading are left out: an explanation takes seconds, a load longer.
   * @param {string} modelId
   * @returns {((request: {shared: SharedClassifier, text: string, label: number,
   *   steps: number, part: number, parts: number}) => Promise<Float32Array>)[]}
   */
  explainers(modelId) {
    return this.#ready(modelId).map((helper) => async ({ shared, text, label, steps, part, parts }) => {
      const values = await helper.request({
        type: 'explainPart',
        classifier: classifierFor(helper, shared),
        text,
        label,
        steps,
        part,
        parts,
      });
      helper.classifierVersion = shared.version;
      return values;
    });
  }

  /**
   * Each helper that has loaded `modelId` and works, as a function giving the probabilities of
   * the classifier `shared` (its file goes to a helper once per version) for a batch of texts.
   * @param {string} modelId
   * @param {SharedClassifier} shared
   * @returns {((texts: string[]) => Promise<Float32Array>)[]}
   */
  scorers(modelId, shared) {
    return this.#ready(modelId).map((helper) => async (texts) => {
      const values = await helper.request({
        type: 'probabilities',
        classifier: classifierFor(helper, shared),
        texts,
      });
      helper.classifierVersion = shared.version;
      return values;
    });
  }

  /**
   * The helpers that have loaded `modelId` and work; those still loading are left out.
   * @param {string} modelId
   */
  #ready(modelId) {
    return this.#helpers
      .filter(({ helper }) => helper.modelId === modelId && !helper.broken)
      .map(({ helper }) => helper);
  }

  /**
   * Each helper that has loaded `modelId` and works, as a function answering one share of a
   * fine-tuning step (`FineTuner.step`'s helper). Helpers still loading are left out.
   * @param {string} modelId
   * @returns {((share: Uint8Array) => Promise<Uint8Array>)[]}
   */
  tuners(modelId) {
    return this.#ready(modelId).map((helper) => (share) => {
      // The bytes are a copy out of the main worker's wasm memory: sent, not copied again.
      const buffer = /** @type {ArrayBuffer} */ (share.buffer);
      return helper.request({ type: 'tuneShare', share: buffer }, [buffer]);
    });
  }

  stop() {
    for (const { helper } of this.#helpers) helper.terminate();
    this.#helpers = [];
    this.#files = null;
    this.#module = null;
  }

  /**
   * Lanes for `extract`: the local `encoder` first, then each helper once it has loaded a
   * model with the same id.
   * @param {Encoder} encoder
   * @param {Pooling} pooling
   * @param {number} maxLen
   * @returns {Lane[]}
   */
  lanes(encoder, pooling, maxLen) {
    /** @type {Lane} */
    const local = {
      local: true,
      ready: Promise.resolve(encoder.modelId),
      embed: (texts) => encoder.embed(texts, pooling, maxLen),
    };
    /** @type {Lane[]} */
    const helpers = this.#helpers.map(({ helper, ready }) => ({
      local: false,
      ready: ready.then((modelId) => {
        if (modelId !== encoder.modelId) throw new Error('helper holds another model');
        return modelId;
      }),
      embed: (texts) => helper.request({ type: 'embed', texts, pooling, maxLen }),
      fail: (/** @type {Error} */ err) => helper.fail(err),
    }));
    return [local, ...helpers];
  }
}

/**
 * The classifier of a request to `helper`: its file only when the helper does not hold that
 * version yet.
 * @param {Helper} helper
 * @param {SharedClassifier} shared
 */
function classifierFor(helper, shared) {
  const fresh = helper.classifierVersion !== shared.version;
  return { version: shared.version, bytes: fresh ? shared.bytes.slice(0) : null };
}

/** @param {number} ms */
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Batches each helper has in flight. The main worker computes batches too, and while it does
 * it cannot answer a helper: with one request at a time, a helper that finished would wait for
 * the main worker's batch to end before it got its next one, and two threads gained little over
 * one (docs/PERFORMANCE.md). With a second batch queued it keeps working.
 */
const HELPER_DEPTH = 2;

/**
 * How long this worker waits before its first batch, so that the helpers that are ready claim
 * theirs first: its batch starts in a microtask and blocks the thread, and the helpers'
 * claims would wait for all of it (with the longest batch first, most of a short extraction).
 */
const HELPER_HEAD_START_MS = 5;

/**
 * Fill every batch of `extraction` using `lanes` in parallel. Resolves, once all texts are
 * done, to the number of batches each lane computed; rejects with the local lane's error, or with `cancelled()`'s error when it returns one.
 * A helper that fails hands its batches back and drops out; the others carry on. The extraction
 * is not touched after this settles, so the caller may free it.
 * @param {Extraction} extraction
 * @param {Lane[]} lanes
 * @param {{cancelled: () => Error | null, onDone: (done: number) => void}} hooks
 * @returns {Promise<number[]>}
 */
export function runExtraction(extraction, lanes, { cancelled, onDone }) {
  const total = extraction.total;
  const batches = lanes.map(() => 0);
  return new Promise((resolve, reject) => {
    let closed = false;
    /** @param {unknown} [err] */
    const finish = (err) => {
      if (closed) return;
      closed = true;
      if (err) reject(err);
      else resolve(batches);
    };
    /**
     * @param {Lane} lane
     * @param {number} n
     * @returns {Promise<void>}
     */
    const lane = async ({ local, ready, embed, fail }, n) => {
      let modelId;
      try {
        modelId = await ready;
      } catch {
        return; // a helper that could not load takes no part
      }
      if (local) await pause(HELPER_HEAD_START_MS);
      while (!closed) {
        // Between two batches: lets a cancel message and helpers' answers in.
        await pause(0);
        if (closed) return;
        const stop = cancelled();
        if (stop) return finish(stop);
        const batch = extraction.claim();
        if (batch === undefined) {
          if (!local) return;
          // All handed out: the local lane waits for the helpers' last batches, and takes
          // over any a failing helper hands back.
          if (extraction.done >= total) return finish();
          await pause(20);
          continue;
        }
        let vectors;
        try {
          vectors = await embed(extraction.batchTexts(batch));
        } catch (err) {
          if (closed) return;
          extraction.release(batch);
          if (local) return finish(err);
          const error = err instanceof Error ? err : new Error(String(err));
          console.warn(`bertweb: a helper worker dropped out (${error.message}); the others go on`);
          fail?.(error);
          return;
        }
        if (closed) return;
        const done = extraction.fill(batch, modelId, vectors);
        batches[n] += 1;
        onDone(done);
        if (done >= total) return finish();
      }
    };
    lanes.forEach((l, n) => {
      for (let k = 0; k < (l.local ? 1 : HELPER_DEPTH); k++) lane(l, n).catch(finish);
    });
  });
}
