// Feature extraction on several cores: the main worker's own encoder plus helper workers
// (www/embed_worker.js), each a wasm instance with its own copy of the model, all claiming
// batches of one Rust `Extraction` until every batch is filled. A batch is embedded the same
// way wherever it runs (padded to its own longest text), so the features do not depend on
// how many helpers took part.

/** Threads (this worker and its helpers) at most: each holds a copy of the model. */
export const MAX_THREADS = 8;

/**
 * Wasm memory of one thread per byte of model weights. Measured after embedding (peak): 185 MiB
 * for MiniLM's 91 MB of weights, 968 MiB for a BERT-base's 438 MB.
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
  const budget = (navigator.deviceMemory ?? DEFAULT_DEVICE_GB) * 2 ** 30 * MEMORY_SHARE;
  const byMemory =
    weightBytes > 0 ? Math.floor(budget / (weightBytes * MEMORY_PER_WEIGHT_BYTE)) : MAX_THREADS;
  return Math.max(1, Math.min(cores, byMemory, MAX_THREADS));
}

/**
 * Texts per wasm call on WebGPU when the caller does not choose. A batch there is one round of
 * kernel launches and one readback, so a small batch leaves the GPU idle. Measured on an H100
 * (burn's wgpu on Vulkan, the page's WGSL kernels, `bench/webgpu_profile.rs --extract`), MiniLM
 * over 790 tutorial texts, texts/s warm: 811 at 16, 1,182 at 32, 2,337 at 64, 2,411 at 128,
 * 2,251 at 256. The first pass, which compiles a kernel set per new length, gains most: 289
 * texts/s at 16, 1,076 at 128 (fewer batches, fewer distinct lengths).
 */
export const WEBGPU_BATCH = 128;

/**
 * Texts per batch: the caller's choice, else WEBGPU_BATCH on WebGPU and `cpuDefault` on the
 * CPU, where small batches share an extraction evenly between threads.
 * @param {'cpu' | 'webgpu' | undefined} device the encoder's device
 * @param {number | undefined} requested
 * @param {number} cpuDefault
 */
export function batchSizeFor(device, requested, cpuDefault) {
  const chosen = Math.floor(requested);
  if (chosen >= 1) return chosen;
  return device === 'webgpu' ? WEBGPU_BATCH : cpuDefault;
}

/** A helper worker and its pending requests. */
class Helper {
  #worker;
  #pending = new Map();
  #nextId = 1;
  /** Why this helper can no longer be used, or null. */
  broken = null;

  constructor() {
    this.#worker = new Worker(new URL('./embed_worker.js', import.meta.url), { type: 'module' });
    this.#worker.addEventListener('message', ({ data }) => {
      const pending = this.#pending.get(data.id);
      if (!pending) return;
      this.#pending.delete(data.id);
      if (data.crashed) this.broken = data.error;
      if (data.error !== undefined) pending.reject(new Error(data.error));
      else pending.resolve(data.value);
    });
    this.#worker.addEventListener('error', (event) => {
      event.preventDefault();
      this.fail(new Error(`helper worker failed: ${event.message || 'could not start'}`));
    });
  }

  request(message, transfer = []) {
    if (this.broken) return Promise.reject(new Error(this.broken));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ ...message, id }, transfer);
    });
  }

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
  #files = null;
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
   * @param {object} files
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
        .then(({ modelId }) => modelId);
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

  stop() {
    for (const { helper } of this.#helpers) helper.terminate();
    this.#helpers = [];
    this.#files = null;
    this.#module = null;
  }

  /**
   * Lanes for `extract`: the local `encoder` first, then each helper once it has loaded a
   * model with the same id.
   */
  lanes(encoder, pooling, maxLen) {
    const local = {
      local: true,
      ready: Promise.resolve(encoder.modelId),
      embed: (texts) => encoder.embed(texts, pooling, maxLen),
    };
    const helpers = this.#helpers.map(({ helper, ready }) => ({
      local: false,
      ready: ready.then((modelId) => {
        if (modelId !== encoder.modelId) throw new Error('helper holds another model');
        return modelId;
      }),
      embed: (texts) => helper.request({ type: 'embed', texts, pooling, maxLen }),
      fail: (err) => helper.fail(err),
    }));
    return [local, ...helpers];
  }
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Batches each helper has in flight. The main worker computes batches too, and while it does
 * it cannot answer a helper: with one request at a time, a helper that finished would wait for
 * the main worker's batch to end before it got its next one (measured: 2 threads gave 1.3× one
 * thread). With a second batch queued it keeps working.
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
 * @param {import('../pkg/bertweb.js').Extraction} extraction
 * @param {ReturnType<EmbedPool['lanes']>} lanes
 * @param {{cancelled: () => Error | null, onDone: (done: number) => void}} hooks
 */
export function runExtraction(extraction, lanes, { cancelled, onDone }) {
  const total = extraction.total;
  const batches = lanes.map(() => 0);
  return new Promise((resolve, reject) => {
    let closed = false;
    const finish = (err) => {
      if (closed) return;
      closed = true;
      if (err) reject(err);
      else resolve(batches);
    };
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
          console.warn(`bertweb: a helper worker dropped out (${err.message}); the others go on`);
          fail(err);
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
