// @ts-check
// Module Worker that owns the bertweb wasm instance and the page's IndexedDB. It answers the
// requests of www/client.js (message shapes: www/protocol.js), one at a time, and posts
// progress between steps.

import { BUILDS, cpuBuild } from './builds.js';
import { EmbedPool, MAX_THREADS, autoThreads, batchSizeFor, runExtraction } from './pool.js';
import {
  deleteFeatures,
  getFeatures,
  idbDelete,
  idbGet,
  idbPut,
  putFeatures,
  storageError,
} from './store.js';

/** @typedef {import('./protocol.js').Build} Build */
/** @typedef {import('./protocol.js').Call} Call */
/** @typedef {import('./protocol.js').CallType} CallType */
/** @typedef {import('./protocol.js').Classifier} Classifier */
/** @typedef {import('./protocol.js').ClassifierMeta} ClassifierMeta */
/** @typedef {import('./protocol.js').ClassifierSet} ClassifierSet */
/** @typedef {import('./protocol.js').DataSettings} DataSettings */
/** @typedef {import('./protocol.js').Dataset} Dataset */
/** @typedef {import('./protocol.js').Device} Device */
/** @typedef {import('./protocol.js').DeviceChoice} DeviceChoice */
/** @typedef {import('./protocol.js').Encoder} Encoder */
/** @typedef {import('./protocol.js').EncoderInfo} EncoderInfo */
/** @typedef {import('./protocol.js').ErrorKind} ErrorKind */
/** @typedef {import('./protocol.js').ErrorMessage} ErrorMessage */
/** @typedef {import('./protocol.js').Features} Features */
/** @typedef {import('./protocol.js').FineTunePlan} FineTunePlan */
/** @typedef {import('./protocol.js').LabelingSession} LabelingSession */
/** @typedef {import('./protocol.js').StepRates} StepRates */
/** @typedef {import('./protocol.js').FineTunePhase} FineTunePhase */
/** @typedef {import('./protocol.js').FineTuner} FineTuner */
/** @typedef {import('./protocol.js').FineTuneSettings} FineTuneSettings */
/** @typedef {import('./protocol.js').KeptClassifier} KeptClassifier */
/** @typedef {import('./protocol.js').KeptClassifierRecord} KeptClassifierRecord */
/** @typedef {import('./protocol.js').ModelBuffers} ModelBuffers */
/** @typedef {import('./protocol.js').Pooling} Pooling */
/** @typedef {import('./protocol.js').Scoring} Scoring */
/** @typedef {import('./protocol.js').SharedClassifier} SharedClassifier */
/** @typedef {import('./protocol.js').Prediction} Prediction */
/** @typedef {import('./protocol.js').ProgressMessage} ProgressMessage */
/** @typedef {import('./protocol.js').ProgressStage} ProgressStage */
/** @typedef {import('./protocol.js').Request} Request */
/** @typedef {import('./protocol.js').Results} Results */
/** @typedef {import('./protocol.js').RunRates} RunRates */
/** @typedef {import('./protocol.js').StepReport} StepReport */
/** @typedef {import('./protocol.js').Trained} Trained */
/** @typedef {import('./protocol.js').Wasm} Wasm */
/** @typedef {{kind: Build, api: Wasm, memory: WebAssembly.Memory}} Instance  A started wasm build. */
/** @typedef {{ok: true, reason: null} | {ok: false, reason: string}} AdapterCheck */

const scope = /** @type {DedicatedWorkerGlobalScope} */ (/** @type {unknown} */ (self));

/** @type {Partial<Record<Build, Promise<WebAssembly.Module>>>} compiled once each, shared with the helpers */
const compiled = {};
/** @type {Partial<Record<Build, Promise<Instance>>>} started instances */
const instances = {};
/**
 * The instance every object below lives in: the wasm-bindgen module's exports (Encoder,
 * Dataset, …) with its kind. A wasm object can only be passed to the instance that made it.
 * @type {Instance | null}
 */
let wasm = null;
/**
 * The CSV and settings `dataset` came from, to rebuild it in another instance (a Blob: off the wasm heap).
 * @type {{csv: Blob, settings: Partial<DataSettings>} | null}
 */
let datasetSource = null;
/** Helper workers that embed extraction batches on the other cores (CPU only). */
const pool = new EmbedPool();
/** @type {number | 'auto'} CPU threads for extraction, this worker included. */
let threadsWanted = 'auto';
/** @type {number[]} Batches each thread computed in the last extraction (this worker first). */
let lastRun = [];
/** @type {Encoder | null} */
let encoder = null;
/** @type {ModelBuffers | null} The bytes the current encoder was loaded from, kept so the user can switch device. */
let currentFiles = null;
/**
 * @type {string | null} Set once a trap (a Rust panic) could not be recovered from (`recover`):
 * every request fails until the page reloads.
 */
let crashed = null;
/** @type {Dataset | null} the preprocessed CSV the user is working on */
let dataset = null;
/** @type {Features | null} features of `dataset`'s texts (training rows first) */
let features = null;
/**
 * Where `features` are stored in IndexedDB, to read them back after a crash; null when they are
 * not stored (a full storage, no IndexedDB).
 * @type {{key: string, pooling: Pooling, maxLen: number} | null}
 */
let featuresStored = null;
/**
 * The last checkpoint of a running extraction (`extractAll`), kept in memory too, so that after a
 * crash of the instance it resumes from here even when IndexedDB could not keep it.
 * @type {{key: string, bytes: Uint8Array} | null}
 */
let lastCheckpoint = null;
/** How often a long extraction keeps what it has done, unless a request says otherwise. */
const CHECKPOINT_MS = 30_000;
/** @type {Classifier | null} the classifier `classify` uses */
let classifier = null;
/**
 * @type {Uint8Array<ArrayBuffer> | null} its file, written when it becomes the classifier: what
 * restores it after a crash, moves it to another build or downloads it, so nothing is read back
 * from an instance or a GPU that may have failed
 */
let classifierBytes = null;
/** IndexedDB key (store 'classifiers') of the classifier kept for the next visit. */
const KEPT_CLASSIFIER = 'current';
/**
 * The IndexedDB keys of the labeling session (one at a time): its progress, saved at every
 * label, and its texts and vectors, saved once.
 */
const LABELING_SESSION = 'current';
const LABELING_TEXTS = 'current-texts';
/** Ids of requests asked to stop. */
const cancelled = new Set();
/** Requests run one after another: a load must not free the encoder under a running embed. */
let queue = Promise.resolve();

// ---- errors -----------------------------------------------------------------------------------

/** An error this worker raises itself, with its kind as its name (www/protocol.js ErrorKind). */
class KindError extends Error {
  /**
   * @param {ErrorKind} kind
   * @param {string} message
   */
  constructor(kind, message) {
    super(message);
    this.name = kind;
    this.kind = kind;
  }
}

class CancelledError extends KindError {
  constructor() {
    super('CancelledError', 'cancelled');
  }
}

/** @type {Set<string> | null} the names the wasm module gives its errors, read once from it */
let wasmErrorKinds = null;

/**
 * The kind of an error: this worker's own, or the wasm module's (its `name`); anything else (a
 * TypeError of a bad argument, a DOMException) is an InternalError.
 * @param {unknown} err
 * @returns {ErrorKind}
 */
function kindOf(err) {
  if (err instanceof KindError) return err.kind;
  if (!(err instanceof Error)) return 'InternalError';
  if (!wasmErrorKinds && wasm) {
    try {
      wasmErrorKinds = new Set(wasm.api.defaults().errorKinds);
    } catch {
      // The instance cannot answer: no name of its is known.
    }
  }
  return wasmErrorKinds?.has(err.name) ? /** @type {ErrorKind} */ (err.name) : 'InternalError';
}

/**
 * An error's message, for the user.
 * @param {unknown} err
 */
function messageOf(err) {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Free a wasm object, ignoring a failure: one of an instance that trapped may still be borrowed
 * by the call that trapped, and a failed free must not replace the error being thrown.
 * @param {{free: () => void} | null | undefined} object
 */
function release(object) {
  try {
    object?.free();
  } catch {
    // Its memory goes with its instance.
  }
}

// ---- messages -----------------------------------------------------------------------------------

/**
 * Post a step of request `id`.
 * @param {number} id
 * @param {{message: string} & ProgressStage} step
 */
function progress(id, step) {
  /** @type {ProgressMessage} */
  const message = { id, type: 'progress', ...step };
  scope.postMessage(message);
}

/** Let queued messages (a cancel) in between two wasm calls. */
function yieldToEvents() {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** @param {number} id */
function checkCancelled(id) {
  if (cancelled.delete(id)) throw new CancelledError();
}

// ---- wasm builds and devices ------------------------------------------------------------------

/**
 * Whether the adapter emulates a GPU on the CPU (SwiftShader, a "fallback adapter"): its shader
 * compiler makes the model's kernels far slower there than the CPU path
 * (bench/webgpu_profile.rs, bench/browser_bench.mjs; figures in docs/PERFORMANCE.md).
 * @param {GPUAdapter & {isFallbackAdapter?: boolean}} adapter
 */
function isSoftwareAdapter(adapter) {
  const info = /** @type {Partial<GPUAdapterInfo>} */ (adapter.info ?? {});
  if (adapter.isFallbackAdapter || info.isFallbackAdapter) return true;
  return /swiftshader|llvmpipe|lavapipe|software/i.test(
    `${info.vendor} ${info.architecture} ${info.device} ${info.description}`,
  );
}

/**
 * Whether navigator.gpu gives an adapter worth using here; a reason string when it does not.
 * `automatic`: the user let the page choose, so a software adapter counts as none.
 * @param {boolean} automatic
 * @returns {Promise<AdapterCheck>}
 */
async function webgpuAdapter(automatic) {
  if (!('gpu' in navigator) || !navigator.gpu) {
    return { ok: false, reason: 'this browser does not offer WebGPU (it has no navigator.gpu)' };
  }
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter)
      return {
        ok: false,
        reason: 'the browser gave no WebGPU adapter (no usable GPU, or WebGPU is turned off)',
      };
    if (automatic && isSoftwareAdapter(adapter)) {
      return {
        ok: false,
        reason:
          'the only WebGPU adapter is a software emulation of a GPU (such as SwiftShader), far slower than the CPU path; choose WebGPU to use it anyway',
      };
    }
    return { ok: true, reason: null };
  } catch (err) {
    return { ok: false, reason: `WebGPU adapter request failed: ${messageOf(err)}` };
  }
}

/**
 * Compile a build's wasm once; the helpers instantiate the same compiled module.
 * @param {Build} kind
 */
function compileBuild(kind) {
  const module = (compiled[kind] ??= compileWasm(BUILDS[kind].wasm));
  module.catch(() => delete compiled[kind]);
  return module;
}

/** @param {string} url */
async function compileWasm(url) {
  try {
    return await WebAssembly.compileStreaming(fetch(url));
  } catch {
    // A server that does not say application/wasm: compile from the bytes instead.
    const response = await fetch(url);
    if (!response.ok) throw new KindError('InternalError', `HTTP ${response.status} for ${url}`);
    return WebAssembly.compile(await response.arrayBuffer());
  }
}

/**
 * Instances of each build started again after a trap. Each needs a fresh copy of the glue (it
 * keeps its instance in a module variable), imported under another URL; the trapped one's
 * memory stays with its copy until the page reloads, as modules are never unloaded.
 * @type {Partial<Record<Build, number>>}
 */
const restartsOf = {};

/**
 * Start (once) the wasm build of `kind`.
 * @param {Build} kind
 * @returns {Promise<Instance>}
 */
function instantiate(kind) {
  const started = (instances[kind] ??= (async () => {
    const glue = new URL(BUILDS[kind].glue);
    if (restartsOf[kind]) glue.searchParams.set('instance', String(restartsOf[kind]));
    const api = /** @type {Wasm} */ (await import(glue.href));
    const { memory } = await api.default({ module_or_path: await compileBuild(kind) });
    return { kind, api, memory };
  })());
  started.catch(() => delete instances[kind]);
  return started;
}

/**
 * The running instance, started when there is none: `kind` when given, else the build for
 * the device the page asked for (prepare), else the CPU one.
 * @param {number} id
 * @param {Build | null} [kind]
 * @returns {Promise<Wasm>}
 */
async function startWasm(id, kind = null) {
  if (wasm && !kind) return wasm.api;
  const build = kind ?? preferredBuild ?? cpuBuild();
  if (!wasm) progress(id, { stage: 'wasm', message: 'Starting the WebAssembly module…' });
  try {
    const started = await instantiate(build);
    wasm ??= started;
    return started.api;
  } catch (err) {
    throw new KindError(
      'InternalError',
      `the WebAssembly module (${new URL(BUILDS[build].wasm).pathname}) could not be started: ${messageOf(err)}`,
    );
  }
}

/** The running instance; every request that reaches for it comes after a start. */
function running() {
  if (!wasm) throw new KindError('InternalError', 'the WebAssembly module has not started yet');
  return wasm;
}

/** @type {Build | null} Build the page asked for in `prepare`, or null. */
let preferredBuild = null;
/**
 * `prepare`'s adapter check, which the first load for the same choice uses instead of asking again.
 * @type {{device: DeviceChoice, check: Promise<AdapterCheck>} | null}
 */
let preparedAdapter = null;

/**
 * Start the wasm build for `device` while the page reads the model files: the adapter check
 * and the compile then cost no time of their own.
 * @param {number} id
 * @param {DeviceChoice} device
 * @returns {Promise<{build: Build}>}
 */
async function prepare(id, device) {
  if (device !== 'cpu') preparedAdapter = { device, check: webgpuAdapter(device !== 'webgpu') };
  preferredBuild = preparedAdapter && (await preparedAdapter.check).ok ? 'webgpu' : cpuBuild();
  await startWasm(id);
  return { build: running().kind };
}

/**
 * Move what lives in the running instance (classifier, features, data set) into `next`, which
 * the new encoder was loaded in, and make it the running one: a change of device is a change
 * of build (the WebGPU build has no CPU backend, the CPU builds no WebGPU).
 * @param {Instance} next
 */
async function moveTo(next) {
  if (!wasm || wasm === next) {
    wasm = next;
    return;
  }
  const { api } = next;
  const file = classifier && (await classifierFile());
  /** @type {Classifier | null} */
  let movedClassifier = null;
  /** @type {Features | null} */
  let movedFeatures = null;
  /** @type {Dataset | null} */
  let movedDataset = null;
  try {
    movedClassifier = file && api.Classifier.fromBytes(file);
    movedFeatures = features && api.Features.fromBytes(features.toBytes());
    movedDataset =
      dataset && datasetSource && (await readDataset(api, datasetSource.csv, datasetSource.settings, null));
  } catch (err) {
    // Everything stays where it was.
    for (const copy of [movedClassifier, movedFeatures, movedDataset]) release(copy);
    throw err;
  }
  for (const old of [classifier, features, dataset, encoder]) old?.free();
  [classifier, features, dataset] = [movedClassifier, movedFeatures, movedDataset];
  classifierBytes = file;
  encoder = null;
  wasm = next;
}

/**
 * SHA-256 by the browser (WebCrypto), much faster than hashing in wasm (docs/PERFORMANCE.md).
 * Undefined where WebCrypto is missing (a page not on https or localhost): the wasm hashes.
 * @param {Uint8Array<ArrayBuffer>} bytes
 */
async function sha256(bytes) {
  if (!globalThis.crypto?.subtle) return undefined;
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

// ---- the encoder ------------------------------------------------------------------------------

/**
 * Load an encoder on the device asked for, falling back from WebGPU to CPU with a reason.
 * The previous encoder is freed only once the new one is ready.
 * @param {number} id
 * @param {ModelBuffers} files
 * @param {DeviceChoice} requested
 * @returns {Promise<EncoderInfo>}
 */
async function loadEncoder(id, files, requested) {
  const started = performance.now();
  // A folder's own classifier is taken when its files are new, not when the same model moves
  // to another device or comes back after a crash (the classifier in use stays then).
  const newFiles = files !== currentFiles;
  const prepared = preparedAdapter?.device === requested ? preparedAdapter.check : null;
  preparedAdapter = null;

  const bytes = {
    config: new Uint8Array(files.config),
    weights: new Uint8Array(files.weights),
    tokenizer: new Uint8Array(files.tokenizer),
  };
  // The model's id is the weights' SHA-256; the helpers get it with the files.
  files = { ...files, sha256: files.sha256 ?? (await sha256(bytes.weights)) };

  /** @type {Device} */
  let device = requested === 'cpu' ? 'cpu' : 'webgpu';
  /** @type {string | null} */
  let fallback = null;
  if (device === 'webgpu') {
    const gpu = await (prepared ?? webgpuAdapter(requested !== 'webgpu'));
    if (!gpu.ok) {
      fallback = gpu.reason;
      device = 'cpu';
    }
  }

  // Each device has its build: the WebGPU one has no CPU backend, the CPU ones no WebGPU.
  /** @type {Encoder | null} */
  let next = null;
  if (device === 'webgpu') {
    const api = await startWasm(id, 'webgpu');
    progress(id, {
      stage: 'encoder',
      message: 'Loading the model on WebGPU (compiling shaders and a warm-up pass)…',
    });
    try {
      next = await api.Encoder.load(bytes.config, bytes.weights, bytes.tokenizer, 'webgpu', files.sha256);
    } catch (err) {
      // A model file's error is the same on any device: report it instead of retrying on CPU.
      if (kindOf(err) === 'ModelFileError' || err instanceof WebAssembly.RuntimeError) throw err;
      fallback = `WebGPU failed: ${messageOf(err)}`;
      device = 'cpu';
    }
  }
  if (!next) {
    // On the CPU: asked for, or WebGPU is missing or failed.
    const api = await startWasm(id, cpuBuild());
    progress(id, {
      stage: 'encoder',
      message: fallback ? `${fallback}. Loading the model on CPU…` : 'Loading the model on CPU…',
    });
    next = await api.Encoder.load(bytes.config, bytes.weights, bytes.tokenizer, 'cpu', files.sha256);
  }

  try {
    await moveTo(await instantiate(device === 'webgpu' ? 'webgpu' : cpuBuild()));
  } catch (err) {
    next.free();
    throw new KindError(
      kindOf(err),
      `the model loaded, but the data could not be moved to its WebAssembly module (${messageOf(err)}); the previous model is still in use`,
    );
  }
  /** @type {ClassifierMeta | null} */
  let folderClassifier = null;
  let folderClassifierError = null;
  if (newFiles) {
    try {
      const found = next.takeFolderClassifier();
      if (found) {
        folderClassifier = found.meta();
        await adoptClassifier(found);
      }
    } catch (err) {
      if (err instanceof WebAssembly.RuntimeError) throw err;
      folderClassifierError = messageOf(err);
    }
  }
  const previous = encoder;
  encoder = next;
  currentFiles = files;
  previous?.free();
  // Helpers start with the first extraction, not here: loading them beside the first
  // classification would slow the page's start on a machine with few cores.
  pool.stop();
  return {
    device: encoder.device,
    threads: encoder.device === 'cpu' ? threadCount() : 1,
    autoThreads: autoThreads(files.weights.byteLength),
    modelId: encoder.modelId,
    requested,
    fallback,
    dim: encoder.dim,
    layers: encoderLayers(encoder),
    maxPositions: encoder.maxPositions,
    loadMs: performance.now() - started,
    build: running().kind,
    folderClassifier,
    folderClassifierError,
  };
}

/** CPU threads the user asked for (a number or 'auto'), capped at MAX_THREADS. */
function threadCount() {
  const n =
    threadsWanted === 'auto'
      ? autoThreads(currentFiles?.weights.byteLength ?? 0)
      : Math.floor(Number(threadsWanted));
  return Number.isFinite(n) ? Math.max(1, Math.min(n, MAX_THREADS)) : 1;
}

/**
 * Helpers for the current encoder: threads − 1 of them on the CPU, none on WebGPU (the GPU
 * does the work there). They load in the background; an extraction uses those that are ready
 * and the others join it once loaded. Nothing happens when they already run.
 */
async function startPool() {
  const helpers = encoder?.device === 'cpu' ? threadCount() - 1 : 0;
  if (helpers === 0 || !currentFiles) {
    pool.stop();
    return;
  }
  const kind = cpuBuild();
  pool.start(helpers, { module: await compileBuild(kind), glue: BUILDS[kind].glue }, currentFiles);
}

/**
 * Number of encoder layers (what fine-tuning can train).
 * @param {Encoder} enc
 */
function encoderLayers(enc) {
  return enc.numLayers;
}

function requireEncoder() {
  if (!encoder) throw new KindError('InternalError', 'no model is loaded yet: load one first');
  return encoder;
}

/**
 * Embed `texts` in length-sorted batches on every thread: `texts.length × dim` floats,
 * row-major, in the order given.
 * @param {number} id
 * @param {import('./protocol.js').EmbedRequest} request
 */
async function embed(id, { texts, pooling, maxLen, batchSize }) {
  if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string')) {
    throw new KindError('InternalError', 'texts must be an array of strings');
  }
  const step = batchSizeFor(encoder?.device, batchSize, 32);
  const { features: done } = await extractAll(id, texts, pooling, maxLen, step, (n) =>
    progress(id, {
      stage: 'embed',
      message: `Embedded ${n} of ${texts.length} texts`,
      done: n,
      total: texts.length,
    }),
  );
  try {
    return done.values;
  } finally {
    release(done);
  }
}

/**
 * Keeping an extraction's progress (`extract`): a checkpoint after `everyMs`, then again when
 * as long again has passed, and never more often than ten times the last one took to store.
 * @typedef {{resume: Uint8Array | null, everyMs: number, save: (bytes: Uint8Array) => Promise<unknown>}} Checkpoints
 */

/**
 * Features of `texts` (length-sorted batches on this worker's encoder and the pool's helpers;
 * cancellable), in the order given. The caller frees them. With `checkpoints`, the rows of its
 * `resume` are taken first, and what is done is saved as it goes.
 * @param {number} id
 * @param {string[]} texts
 * @param {Pooling} pooling
 * @param {number} maxLen
 * @param {number} batchSize
 * @param {(done: number, resumed: number) => void} onDone
 * @param {Checkpoints | null} [checkpoints]
 * @returns {Promise<{features: Features, resumed: number}>}
 */
async function extractAll(id, texts, pooling, maxLen, batchSize, onDone, checkpoints = null) {
  const enc = requireEncoder();
  const extraction = new (running().api.Extraction)(enc, texts, pooling, maxLen, batchSize);
  try {
    let resumed = 0;
    if (checkpoints?.resume) {
      try {
        resumed = extraction.resume(checkpoints.resume);
      } catch (err) {
        // A checkpoint of other texts, settings or model, or damaged: start from the beginning.
        if (err instanceof WebAssembly.RuntimeError) throw err;
      }
      if (resumed) onDone(resumed, resumed);
    }
    let nextCheckpoint = performance.now() + (checkpoints?.everyMs ?? 0);
    /** @type {Promise<unknown> | null} */
    let saving = null;
    const keep = () => {
      if (!checkpoints || saving || performance.now() < nextCheckpoint) return;
      const started = performance.now();
      const bytes = extraction.checkpoint();
      saving = checkpoints
        .save(bytes)
        .catch((err) => console.warn(`bertweb: a checkpoint could not be stored (${messageOf(err)})`))
        .finally(() => {
          const took = performance.now() - started;
          nextCheckpoint = performance.now() + Math.max(checkpoints.everyMs, 10 * took);
          saving = null;
        });
    };
    // The pool has helpers only while the encoder runs on the CPU; one batch needs none.
    if (extraction.batches > 1) await startPool();
    try {
      lastRun = await runExtraction(extraction, pool.lanes(enc, pooling, maxLen), {
        cancelled: () => (cancelled.delete(id) ? new CancelledError() : null),
        onDone: (done) => {
          onDone(done, resumed);
          if (done < texts.length) keep();
        },
      });
    } catch (err) {
      // A cancelled run keeps all it did, for the next to go on from.
      if (checkpoints && err instanceof CancelledError && extraction.done > resumed) {
        await saving;
        await checkpoints.save(extraction.checkpoint()).catch(() => {});
      }
      throw err;
    }
    await saving;
    return { features: extraction.finish(), resumed };
  } finally {
    release(extraction);
  }
}

/**
 * Whether an error is the GPU failing (not the data or the model files).
 * @param {unknown} err
 */
function isDeviceFailure(err) {
  return encoder?.device === 'webgpu' && kindOf(err) === 'DeviceError';
}

/**
 * Run `work`; when WebGPU fails under it (a device error, or a crash of the instance, as when
 * the GPU is lost), load the same model on the CPU, say so, and run it once more. The dataset,
 * features and classifier are kept (or restored: `recover`), and an extraction resumes from its
 * last checkpoint.
 * @template T
 * @param {number} id
 * @param {CallType} type
 * @param {() => Promise<T>} work
 * @returns {Promise<T>}
 */
async function withCpuFallback(id, type, work) {
  const onGpu = encoder?.device === 'webgpu';
  try {
    return await untilTrap(work());
  } catch (err) {
    if (!onGpu || !currentFiles) throw err;
    let reason;
    let info;
    if (err instanceof WebAssembly.RuntimeError) {
      const recovered = await recover(id, type, err, 'cpu');
      if (!recovered.info) throw recovered.error;
      info = recovered.info;
      reason = `WebGPU failed (${messageOf(recovered.error)}); switched to the CPU and went on with this step`;
    } else if (isDeviceFailure(err)) {
      reason = `WebGPU failed (${messageOf(err)}); switched to the CPU and went on with this step`;
      info = await loadEncoder(id, currentFiles, 'cpu');
    } else {
      throw err;
    }
    progress(id, { stage: 'fallback', message: reason, reason, info });
    return work();
  }
}

// ---- data, features, training -----------------------------------------------------------------

function requireDataset() {
  if (!dataset) throw new KindError('InternalError', 'no data is loaded yet: choose a CSV file first');
  return dataset;
}

function requireClassifier() {
  if (!classifier) {
    throw new KindError('InternalError', 'no classifier is loaded: train one, or load a classifier file');
  }
  return classifier;
}

/**
 * Preprocess a CSV file; the previous dataset (and its features) are replaced only on success.
 * @param {number} id
 * @param {import('./protocol.js').DatasetRequest} request
 */
async function loadDataset(id, { csv, settings }) {
  const api = await startWasm(id);
  const next = await readDataset(api, csv, settings, id);
  dataset?.free();
  features?.free();
  features = null;
  featuresStored = null;
  dataset = next;
  datasetSource = { csv, settings };
  return { ...next.summary(), examples: next.examples(5) };
}

/**
 * A CSV file as a dataset: read whole, or, when it is larger than `defaults().stream.aboveBytes`,
 * a chunk at a time into a sample, so that wasm memory holds the sample, not the file. With an
 * `id`, reading a stream reports progress ('read') and can be cancelled between chunks.
 * @param {Wasm} api
 * @param {Blob} csv
 * @param {Partial<import('./protocol.js').DataSettings>} settings
 * @param {number | null} id
 * @returns {Promise<Dataset>}
 */
async function readDataset(api, csv, settings, id) {
  const { aboveBytes, chunkBytes } = api.defaults().stream;
  if (csv.size <= aboveBytes) return api.Dataset.load(new Uint8Array(await csv.arrayBuffer()), settings);
  const stream = new api.CsvStream(settings);
  const started = performance.now();
  const megabytes = (/** @type {number} */ bytes) => (bytes / 1e6).toFixed(0);
  try {
    for (let at = 0; at < csv.size; at += chunkBytes) {
      const chunk = new Uint8Array(await csv.slice(at, at + chunkBytes).arrayBuffer());
      if (id !== null) checkCancelled(id);
      stream.push(chunk);
      if (id === null) continue;
      const done = Math.min(at + chunkBytes, csv.size);
      const bytesPerSecond = done / ((performance.now() - started) / 1000);
      const secondsLeft = (csv.size - done) / bytesPerSecond;
      progress(id, {
        stage: 'read',
        message: `Read ${megabytes(done)} of ${megabytes(csv.size)} MB`,
        done,
        total: csv.size,
        bytesPerSecond,
        secondsLeft,
      });
    }
    return stream.finish();
  } finally {
    stream.free();
  }
}

/**
 * Features of the dataset's texts: from IndexedDB under `key` when there, else extracted one
 * batch per step (progress, cancel between batches) and stored under `key`.
 * @param {number} id
 * @param {import('./protocol.js').ExtractRequest} request
 * @returns {Promise<import('./protocol.js').ExtractResult>}
 */
async function extract(id, { key, pooling, maxLen, batchSize, checkpointMs }) {
  const data = requireDataset();
  const enc = requireEncoder();
  const texts = data.texts();
  const cached = await storedFeatures({ key, pooling, maxLen }, enc, texts.length);
  if (cached) {
    features?.free();
    features = cached;
    featuresStored = { key, pooling, maxLen };
    return { rows: cached.rows, cached: true, resumed: 0, ms: 0, storeError: null };
  }
  const started = performance.now();
  const total = texts.length;
  progress(id, {
    stage: 'extract',
    message: `Extracting features of ${total} texts…`,
    done: 0,
    total,
    resumed: 0,
  });
  const step = batchSizeFor(enc.device, batchSize, 16);
  const partial = `${key}|partial`;
  /** @type {Checkpoints} */
  const checkpoints = {
    // In memory after a crash of this worker's instance; in IndexedDB after a reload.
    resume:
      lastCheckpoint?.key === partial
        ? lastCheckpoint.bytes
        : await idbGet('features', partial).then(
            (b) => (b instanceof ArrayBuffer ? new Uint8Array(b) : null),
            () => null,
          ),
    everyMs: checkpointMs ?? CHECKPOINT_MS,
    save: (bytes) => {
      lastCheckpoint = { key: partial, bytes };
      return putFeatures(partial, bytes.slice().buffer);
    },
  };
  const next = await extractAll(
    id,
    texts,
    pooling,
    maxLen,
    step,
    (done, resumed) =>
      progress(id, {
        stage: 'extract',
        message: resumed
          ? `Extracted ${done} of ${total} texts (${resumed} kept from an earlier run)`
          : `Extracted ${done} of ${total} texts`,
        done,
        total,
        resumed,
      }),
    checkpoints,
  );
  features?.free();
  features = next.features;
  featuresStored = null;
  lastCheckpoint = null;
  let storeError = null;
  try {
    await putFeatures(key, features.toBytes().buffer);
    featuresStored = { key, pooling, maxLen };
    await deleteFeatures(partial).catch(() => {});
  } catch (err) {
    storeError = messageOf(err);
  }
  return {
    rows: features.rows,
    cached: false,
    resumed: next.resumed,
    ms: performance.now() - started,
    storeError,
  };
}

/**
 * The features stored under `stored.key` when they fit `enc` and a data set of `rows` texts,
 * else null (none stored, no storage, stale or from another model).
 * @param {{key: string, pooling: Pooling, maxLen: number}} stored
 * @param {Encoder} enc
 * @param {number} rows
 * @returns {Promise<Features | null>}
 */
async function storedFeatures({ key, pooling, maxLen }, enc, rows) {
  /** @type {Features | null} */
  let read = null;
  try {
    const bytes = await getFeatures(key);
    if (!bytes) return null;
    read = running().api.Features.fromBytes(new Uint8Array(bytes));
    read.check(enc, pooling, maxLen, rows);
    return read;
  } catch (err) {
    release(read);
    if (err instanceof WebAssembly.RuntimeError) throw err;
    return null;
  }
}

/**
 * Train a head on the features, one epoch per step; the new classifier replaces the old.
 * @param {number} id
 * @param {import('./protocol.js').TrainRequest} request
 * @returns {Promise<Trained>}
 */
async function train(id, { settings }) {
  const data = requireDataset();
  if (!features) throw new KindError('InternalError', 'extract the features first');
  const trainer = new (running().api.Trainer)(features, data, settings);
  /** @type {Classifier | null} */
  let next = null;
  try {
    while (!trainer.finished) {
      await yieldToEvents();
      checkCancelled(id);
      const report = await trainer.step();
      progress(id, { stage: 'epoch', message: `Epoch ${report.epoch} of ${settings.epochs}`, report });
    }
    next = trainer.finish();
    const report = await next.evaluate(features, data);
    const meta = next.meta();
    await adoptClassifier(next);
    return { meta, report };
  } catch (err) {
    release(next);
    throw err;
  } finally {
    release(trainer);
  }
}

// ---- fine-tuning ------------------------------------------------------------------------------

/** Test texts per `probabilities` call when scoring a fine-tuned classifier. */
const TEST_BATCH = 32;

/**
 * Seconds per unit of each phase's work, as a probe timed them, by what they depend on: the
 * model, the device, the thread count and the settings that shape a step. Timed once for each.
 * @type {Map<string, StepRates>}
 */
const stepRates = new Map();

/**
 * What the seconds of a fine-tuning step's unit of work depend on.
 * @param {Encoder} enc
 * @param {FineTuneSettings} settings
 * @param {number} threads this worker and the helpers that share its steps
 */
function stepKey(enc, settings, threads) {
  const { layers, pooling, max_len: maxLen, batch_size: batch, cache_budget_mb: budget } = settings;
  return JSON.stringify([enc.modelId, enc.device, threads, layers, pooling, maxLen, batch, budget]);
}

/**
 * The helpers that share fine-tuning steps with this worker: on the CPU, every helper that has
 * loaded the encoder's model (waiting for those still loading: a run takes minutes, a load
 * seconds); on WebGPU none, the GPU does the work.
 * @param {Encoder} enc
 */
async function tuningHelpers(enc) {
  if (enc.device !== 'cpu') return [];
  await pool.settled();
  return pool.tuners(enc.modelId);
}

/**
 * One step of `tuner`, its texts shared between this worker and `helpers`.
 * @param {FineTuner} tuner
 * @param {((share: Uint8Array) => Promise<Uint8Array>)[]} helpers
 */
function tuneStep(tuner, helpers) {
  if (!helpers.length) return tuner.step();
  return tuner.step(
    (part, share) =>
      helpers[part - 1](share).catch((err) => {
        // The share is computed here instead (slower, the same result).
        console.warn(`bertweb: a helper worker's fine-tuning share failed (${messageOf(err)})`);
        throw err;
      }),
    helpers.length + 1,
  );
}

/**
 * Time real fine-tuning steps of `settings` on this device (`FineTuner.probe`: a short run on a
 * few training texts), or give the rates timed earlier for the same kind of step.
 * @param {number} id
 * @param {Encoder} enc
 * @param {Dataset} data
 * @param {FineTuneSettings} settings
 * @returns {Promise<{rates: StepRates, fresh: boolean, threads: number}>}
 */
async function timeSteps(id, enc, data, settings) {
  const helpers = await tuningHelpers(enc);
  const threads = helpers.length + 1;
  const key = stepKey(enc, settings, threads);
  const known = stepRates.get(key);
  if (known) return { rates: known, fresh: false, threads };
  const probe = running().api.FineTuner.probe(enc, data, settings);
  /** @type {Record<FineTunePhase, {units: number, seconds: number}[]>} */
  const seen = { caching: [], training: [], validating: [], finished: [] };
  const started = performance.now();
  let steps = 0;
  try {
    for (let before = 0; !probe.finished; steps++) {
      await yieldToEvents();
      checkCancelled(id);
      const t0 = performance.now();
      const r = await tuneStep(probe, helpers);
      seen[/** @type {FineTunePhase} */ (r.worked)].push({
        units: r.work_done - before,
        seconds: (performance.now() - t0) / 1000,
      });
      before = r.work_done;
    }
  } finally {
    release(probe);
  }
  /** Seconds per unit of a phase's steps, the first (which pays for warm-up) left out. */
  const rate = (/** @type {{units: number, seconds: number}[]} */ timed) => {
    const kept = timed.length > 1 ? timed.slice(1) : timed;
    const units = kept.reduce((sum, t) => sum + t.units, 0);
    return units > 0 ? kept.reduce((sum, t) => sum + t.seconds, 0) / units : null;
  };
  const caching = rate(seen.caching);
  const validating = rate(seen.validating);
  /** @type {StepRates} */
  const rates = {
    caching,
    training: rate(seen.training),
    validating,
    // Scoring a test text runs the whole encoder forward, as caching runs its frozen part.
    inference: caching ?? validating,
    steps,
    seconds: (performance.now() - started) / 1000,
  };
  stepRates.set(key, rates);
  return { rates, fresh: true, threads };
}

/**
 * Seconds of `work` (units by phase) and `testTexts` test texts at `rates`; null when a phase
 * with work has no rate.
 * @param {{caching: number, training: number, validating: number}} work
 * @param {number} testTexts
 * @param {StepRates} rates
 */
function secondsAt(work, testTexts, rates) {
  /** @type {[number, number | null][]} */
  const parts = [
    [work.caching, rates.caching],
    [work.training, rates.training],
    [work.validating, rates.validating],
    [testTexts, rates.inference],
  ];
  let seconds = 0;
  for (const [units, perUnit] of parts) {
    if (units <= 0) continue;
    if (perUnit === null) return null;
    seconds += units * perUnit;
  }
  return seconds;
}

/**
 * What a fine-tuning run with `settings` would take on this device, before starting it: its
 * work in each phase at the seconds per unit that real steps took here (`timeSteps`).
 * @param {number} id
 * @param {import('./protocol.js').FineTunePlanRequest} request
 * @returns {Promise<FineTunePlan>}
 */
async function fineTunePlan(id, { settings }) {
  const data = requireDataset();
  const enc = requireEncoder();
  const { api } = running();
  const full = { ...api.fineTuneSettings(), ...settings };
  const tuner = new api.FineTuner(enc, data, full);
  try {
    const { rates, fresh, threads } = await timeSteps(id, enc, data, full);
    const testTexts = data.summary().counts.test;
    const seconds = secondsAt(tuner.workByPhase(), testTexts, rates);
    if (seconds === null) throw new KindError('InternalError', 'the timed steps did not cover every phase');
    return { seconds, rates, fresh, device: enc.device, threads, layers: encoderLayers(enc), testTexts };
  } finally {
    release(tuner);
  }
}

/**
 * Times a run from the work its steps report (in full-encoder passes over one text) and the
 * seconds per unit each phase takes: as the run measured them once a phase has run a step past
 * its first, else as a probe timed them before (`timeSteps`). Time left is the work left in
 * each phase at its rate, so it is right from the start and follows the run as it goes.
 */
class FineTuneClock {
  /**
   * @param {{caching: number, training: number, validating: number}} work the run's, by phase
   * @param {number} testTexts
   * @param {StepRates | null} timed a probe's rates for these settings, when there is one
   */
  constructor(work, testTexts, timed) {
    /** @type {Record<'caching' | 'training' | 'validating' | 'test', number>} work left */
    this.left = { ...work, test: testTexts };
    this.totalUnits = work.caching + work.training + work.validating + testTexts;
    this.doneUnits = 0;
    this.timed = timed;
    /** Measured in this run: each phase's steps, and the seconds and units of all but its first. */
    /** @type {Record<string, {steps: number, seconds: number, units: number}>} */
    this.measured = {};
    this.started = performance.now();
    this.lastStep = this.started;
    this.phaseTexts = 0;
    this.phaseStarted = this.started;
    /** @type {number | null} */
    this.lastRate = null;
  }

  /**
   * Account for one step's report.
   * @param {StepReport} r
   * @returns {RunRates}
   */
  step(r) {
    const units = r.work_done - this.doneUnits;
    this.doneUnits = r.work_done;
    const phase = r.worked === 'finished' ? 'validating' : r.worked;
    return this.#account(phase, units, r.texts, r.worked !== r.phase);
  }

  /**
   * Account for `texts` test texts scored (`first`: the first batch of them).
   * @param {number} texts
   * @param {boolean} first
   * @returns {RunRates}
   */
  test(texts, first) {
    this.doneUnits += texts;
    return this.#account('test', texts, texts, first);
  }

  /** Seconds per unit of `phase`: this run's, else the probe's, else the run's overall. */
  #perUnit(/** @type {'caching' | 'training' | 'validating' | 'test'} */ phase) {
    const own = this.measured[phase];
    if (own && own.units > 0) return own.seconds / own.units;
    const timed = this.timed && (phase === 'test' ? this.timed.inference : this.timed[phase]);
    if (timed) return timed;
    const elapsed = (performance.now() - this.started) / 1000;
    return this.doneUnits > 0 ? elapsed / this.doneUnits : null;
  }

  /**
   * @param {'caching' | 'training' | 'validating' | 'test'} phase
   * @param {number} units
   * @param {number} texts
   * @param {boolean} newPhase the step ended its phase (or began the test)
   * @returns {RunRates}
   */
  #account(phase, units, texts, newPhase) {
    const now = performance.now();
    const stepSeconds = (now - this.lastStep) / 1000;
    this.lastStep = now;
    this.left[phase] = Math.max(0, this.left[phase] - units);
    const own = (this.measured[phase] ??= { steps: 0, seconds: 0, units: 0 });
    // A phase's first step pays for warm-up (kernels, allocations): its rate starts at the second.
    if (++own.steps > 1) {
      own.seconds += stepSeconds;
      own.units += units;
    }
    if (newPhase) {
      this.lastRate = stepSeconds > 0 ? texts / stepSeconds : null;
      this.phaseTexts = 0;
      this.phaseStarted = now;
    } else {
      this.phaseTexts += texts;
    }
    const phaseSeconds = (now - this.phaseStarted) / 1000;
    let secondsLeft = 0;
    for (const p of /** @type {const} */ (['caching', 'training', 'validating', 'test'])) {
      if (this.left[p] <= 0) continue;
      const perUnit = this.#perUnit(p);
      if (perUnit === null) {
        secondsLeft = NaN;
        break;
      }
      secondsLeft += this.left[p] * perUnit;
    }
    return {
      fraction: this.totalUnits > 0 ? Math.min(1, this.doneUnits / this.totalUnits) : 0,
      textsPerSecond:
        this.phaseTexts > 0 && phaseSeconds > 0 ? this.phaseTexts / phaseSeconds : (this.lastRate ?? null),
      secondsLeft: Number.isFinite(secondsLeft) ? secondsLeft : null,
      elapsed: (now - this.started) / 1000,
    };
  }
}

/**
 * Fine-tune the encoder's top layers and a head on the dataset's training part, one step per
 * call (progress stage 'finetune' with the StepReport; cancellable between steps), then score
 * the test texts in batches (stage 'test'). The result becomes the classifier; on cancel or
 * error the dataset, the features and the previous classifier are untouched.
 * @param {number} id
 * @param {import('./protocol.js').FineTuneRequest} request
 * @returns {Promise<Trained>}
 */
async function fineTune(id, { settings }) {
  const data = requireDataset();
  const enc = requireEncoder();
  const { api } = running();
  const full = { ...api.fineTuneSettings(), ...settings };
  const tuner = new api.FineTuner(enc, data, full);
  /** @type {Classifier | null} */
  let next = null;
  /** @type {Scoring | null} */
  let scoring = null;
  try {
    const testCount = data.summary().counts.test;
    const helpers = await tuningHelpers(enc);
    // The rates of the estimate the page showed, when it asked for one.
    const clock = new FineTuneClock(
      tuner.workByPhase(),
      testCount,
      stepRates.get(stepKey(enc, full, helpers.length + 1)) ?? null,
    );
    progress(id, {
      stage: 'finetune',
      message: 'Starting fine-tuning…',
      step: null,
      textsPerSecond: null,
      secondsLeft: null,
      device: enc.device,
      threads: helpers.length + 1,
    });
    while (!tuner.finished) {
      await yieldToEvents();
      checkCancelled(id);
      const step = await tuneStep(tuner, helpers);
      const rates = clock.step(step);
      progress(id, {
        stage: 'finetune',
        message: `${step.phase}, epoch ${step.epoch}: ${step.done} of ${step.total}`,
        step,
        ...rates,
        done: step.step,
        total: step.total_steps,
      });
    }
    await yieldToEvents();
    checkCancelled(id);
    next = await tuner.finish();
    const clf = next;
    const file = await clf.toBytes();
    // The test texts are scored on every thread too, a batch each.
    const scorers = helpers.length ? pool.scorers(enc.modelId, await shareClassifier(clf, file)) : [];
    scoring = new api.Scoring(clf, enc, data, TEST_BATCH);
    for (let last = 0; !scoring.finished;) {
      await yieldToEvents();
      checkCancelled(id);
      const done = await scoreStep(clf, scoring, scorers);
      const rates = clock.test(done - last, last === 0);
      last = done;
      progress(id, {
        stage: 'test',
        message: `Scored ${done} of ${testCount} test texts`,
        done,
        total: testCount,
        ...rates,
      });
    }
    const report = next.scoreFinish(scoring);
    const meta = next.meta();
    await adoptClassifier(next, file);
    next = null;
    return { meta, report };
  } catch (err) {
    release(next);
    throw err;
  } finally {
    release(scoring);
    release(tuner);
  }
}

// ---- the classifier ---------------------------------------------------------------------------

/**
 * Classify texts in batches (progress, cancel between them).
 * @param {number} id
 * @param {import('./protocol.js').ClassifyRequest} request
 * @returns {Promise<Prediction[]>}
 */
async function classify(id, { texts, batchSize }) {
  const clf = requireClassifier();
  const step = batchSizeFor(encoder?.device, batchSize, 32);
  if (texts.length > step) {
    return clf.fineTuned ? classifyTuned(id, clf, texts, step) : classifyMany(id, clf, texts, step);
  }
  /** @type {Prediction[]} */
  const out = [];
  for (let start = 0; start < texts.length; start += step) {
    if (start > 0) await yieldToEvents();
    checkCancelled(id);
    out.push(...(await clf.classify(requireEncoder(), texts.slice(start, start + step))));
    if (texts.length > step) {
      const done = Math.min(start + step, texts.length);
      progress(id, {
        stage: 'classify',
        message: `Classified ${done} of ${texts.length} texts`,
        done,
        total: texts.length,
      });
    }
  }
  return out;
}

/**
 * Classify many texts with a fine-tuned classifier: length-sorted batches, shared with the
 * helpers that have the model loaded, each scoring a batch with its copy of the classifier.
 * @param {number} id
 * @param {Classifier} clf
 * @param {string[]} texts
 * @param {number} step
 * @returns {Promise<Prediction[]>}
 */
async function classifyTuned(id, clf, texts, step) {
  const enc = requireEncoder();
  const scorers =
    enc.device === 'cpu' && pool.size
      ? pool.scorers(enc.modelId, await shareClassifier(clf, await classifierFile()))
      : [];
  const scoring = running().api.Scoring.ofTexts(clf, enc, texts, step);
  try {
    while (!scoring.finished) {
      await yieldToEvents();
      checkCancelled(id);
      const done = await scoreStep(clf, scoring, scorers);
      progress(id, {
        stage: 'classify',
        message: `Classified ${done} of ${texts.length} texts`,
        done,
        total: texts.length,
      });
    }
    return clf.scoredPredictions(scoring);
  } finally {
    release(scoring);
  }
}

/**
 * Score the next batches of `scoring` with `clf`: one here, and one on each of `scorers` (the
 * helpers' copies of the classifier) in parallel. Resolves to the texts done so far.
 * @param {Classifier} clf
 * @param {Scoring} scoring
 * @param {((texts: string[]) => Promise<Float32Array>)[]} scorers
 */
function scoreStep(clf, scoring, scorers) {
  if (!scorers.length) return clf.scoreStep(scoring);
  return clf.scoreStep(scoring, (part, texts) => scorers[part - 1](texts), scorers.length + 1);
}

/**
 * The classifier's file for the helpers that compute parts of an explanation or score test
 * texts, once per classifier (a new one is a new object).
 * @type {WeakMap<Classifier, SharedClassifier>}
 */
const sharedClassifiers = new WeakMap();
let sharedVersion = 0;

/**
 * `clf` as helpers receive it: its file, written once per classifier.
 * @param {Classifier} clf
 * @param {Uint8Array<ArrayBuffer>} [file] its file, when the caller has it
 */
async function shareClassifier(clf, file) {
  let shared = sharedClassifiers.get(clf);
  if (!shared) {
    shared = { version: ++sharedVersion, bytes: (file ?? (await clf.toBytes())).buffer };
    sharedClassifiers.set(clf, shared);
  }
  return shared;
}

/**
 * Why the classifier decided, for one text: on the CPU, the integral's nodes are shared with
 * the helpers that have the model loaded, each computing its part in parallel.
 * @param {import('./protocol.js').ExplainRequest} request
 */
async function explain({ text, label, steps }) {
  const clf = requireClassifier();
  const enc = requireEncoder();
  const helpers = enc.device === 'cpu' ? pool.explainers(enc.modelId) : [];
  if (!helpers.length) return clf.explain(enc, text, label, steps);
  const share = await shareClassifier(clf);
  const parts = 1 + helpers.length;
  return clf.explain(
    enc,
    text,
    label,
    steps,
    (l, s, part) => helpers[part - 1]({ shared: share, text, label: l, steps: s, part, parts }),
    parts,
  );
}

/**
 * Classify many texts with a frozen-encoder classifier: embed them like an extraction
 * (length-sorted batches on every thread), then run the head once over all vectors.
 * @param {number} id
 * @param {Classifier} clf
 * @param {string[]} texts
 * @param {number} step
 */
async function classifyMany(id, clf, texts, step) {
  const enc = requireEncoder();
  clf.checkBase(enc);
  const { pooling, max_len: maxLen } = clf.meta().features;
  const { features: vectors } = await extractAll(
    id,
    running().api.cleanTexts(texts),
    pooling,
    maxLen,
    step,
    (done) =>
      progress(id, {
        stage: 'classify',
        message: `Classified ${done} of ${texts.length} texts`,
        done,
        total: texts.length,
      }),
  );
  try {
    return await clf.classifyVectors(vectors.values);
  } finally {
    release(vectors);
  }
}

/**
 * Replace the classifier with one read from a file's bytes.
 * @param {number} id
 * @param {ArrayBuffer} bytes
 * @returns {Promise<ClassifierSet>}
 */
async function setClassifier(id, bytes) {
  await startWasm(id);
  // In the WebGPU build a classifier lives on the encoder's device; with no encoder there (its
  // load failed) it waits in a CPU build, and the next model load moves it.
  if (!encoder && running().kind === 'webgpu') await moveTo(await instantiate(cpuBuild()));
  const next = running().api.Classifier.fromBytes(new Uint8Array(bytes));
  let mismatch = null;
  if (encoder) {
    try {
      next.checkBase(encoder);
    } catch (err) {
      mismatch = messageOf(err);
    }
  }
  const meta = next.meta();
  await adoptClassifier(next, new Uint8Array(bytes));
  return { meta, mismatch };
}

/**
 * Make `next` the classifier. Its file (`bytes`, or written now, while the instance and the GPU
 * that trained it still answer) stays beside it, to restore it after a crash: a copy in memory
 * (tens of MB for a fine-tuned encoder top) and a serialization per training.
 * @param {Classifier} next
 * @param {Uint8Array<ArrayBuffer> | null} [bytes]
 */
async function adoptClassifier(next, bytes = null) {
  const file = bytes ?? (await next.toBytes());
  classifier?.free();
  classifier = next;
  classifierBytes = file;
}

/** The current classifier's file: the kept copy, or written now. */
async function classifierFile() {
  return classifierBytes ?? (await requireClassifier().toBytes());
}

/**
 * Keep the current classifier in IndexedDB for the next visit, as pages have always kept it
 * ({bytes, source}). A storage failure (a full quota, no IndexedDB) is a warning: the
 * classifier still works until the page reloads.
 * @param {string} source where it came from, in the page's words
 * @returns {Promise<{warning: string | null}>}
 */
async function keepClassifier(source) {
  const file = await classifierFile();
  /** @type {KeptClassifierRecord} */
  const record = {
    bytes: file.byteLength === file.buffer.byteLength ? file.buffer : file.slice().buffer,
    source,
  };
  try {
    await idbPut('classifiers', KEPT_CLASSIFIER, record);
    return { warning: null };
  } catch (err) {
    return { warning: storageError(err).message };
  }
}

/**
 * Make the kept classifier the current one, as `setClassifier` does; null when none is kept
 * (or this page has no storage). A kept file that cannot be read fails as any classifier file.
 * @param {number} id
 * @returns {Promise<KeptClassifier | null>}
 */
async function loadKeptClassifier(id) {
  /** @type {KeptClassifierRecord | undefined} */
  let kept;
  try {
    kept = /** @type {KeptClassifierRecord | undefined} */ (await idbGet('classifiers', KEPT_CLASSIFIER));
  } catch {
    return null; // no storage (private mode): nothing kept
  }
  if (!kept?.bytes) return null;
  return { ...(await setClassifier(id, kept.bytes)), source: kept.source ?? null };
}

// ---- crashes -----------------------------------------------------------------------------------

/**
 * A trap inside an async Rust call (a panic after it has awaited) is thrown from the event
 * loop, not from the call: its promise never settles. It surfaces here instead, as an error or
 * an unhandled rejection of this scope, and rejects the innermost `untilTrap` waiting.
 * @type {((trap: WebAssembly.RuntimeError) => void)[]}
 */
const trapWaiters = [];

/** @param {unknown} err */
function onTrap(err) {
  if (!(err instanceof WebAssembly.RuntimeError)) return false;
  const waiter = trapWaiters.at(-1);
  if (waiter) waiter(err);
  else console.error('bertweb: the model crashed while no request was running', err);
  return true;
}
scope.addEventListener('error', (e) => {
  if (onTrap(e.error)) e.preventDefault();
});
scope.addEventListener('unhandledrejection', (e) => {
  if (onTrap(e.reason)) e.preventDefault();
});

/**
 * `work`, or the trap that happens while it runs, wherever it surfaces.
 * @template T
 * @param {Promise<T>} work
 * @returns {Promise<T>}
 */
function untilTrap(work) {
  return new Promise((resolve, reject) => {
    /** @param {WebAssembly.RuntimeError} trap */
    const waiter = (trap) => {
      done();
      reject(trap);
    };
    const done = () => {
      const at = trapWaiters.indexOf(waiter);
      if (at >= 0) trapWaiters.splice(at, 1);
    };
    trapWaiters.push(waiter);
    work.then(
      (value) => {
        done();
        resolve(value);
      },
      (err) => {
        done();
        reject(err);
      },
    );
  });
}

/** Restarts after a trap this page allows: each leaves the trapped instance's memory behind. */
const MAX_RESTARTS = 3;
/** Restarts so far. */
let restarts = 0;

/** @type {Partial<Record<CallType, string>>} what each request does, in the words of "while …" */
const DOING = {
  load: 'loading a model',
  reload: 'loading the model on another device',
  embed: 'embedding texts',
  tokenize: 'tokenizing texts',
  csvHeader: 'reading a CSV file',
  csvColumn: 'reading a CSV file',
  csvPreview: 'reading a CSV file',
  dataset: 'preprocessing a CSV file',
  extract: 'extracting features',
  train: 'training',
  fineTunePlan: 'estimating a fine-tuning run',
  fineTune: 'fine-tuning',
  classify: 'classifying',
  labelingSuggest: 'choosing texts to label',
  keepLabeling: 'keeping the labels',
  loadLabeling: 'loading the kept labels',
  explain: 'explaining a prediction',
  setClassifier: 'loading a classifier',
  loadKeptClassifier: 'loading the kept classifier',
  classifierBytes: 'saving the classifier',
  exportForOtherTools: 'exporting the classifier',
  keepClassifier: 'saving the classifier',
  crashForTest: 'running a crash test',
};

/**
 * Keep a labeling session: its texts and vectors when it carries them, and its progress.
 * @param {LabelingSession | import('./protocol.js').LabelingProgress} session
 */
async function keepLabeling(session) {
  if ('vectors' in session && session.vectors) {
    const { id, texts, vectors, ...progress } = session;
    await idbPut('labeling', LABELING_TEXTS, { id, texts, vectors });
    return idbPut('labeling', LABELING_SESSION, { id, ...progress });
  }
  return idbPut('labeling', LABELING_SESSION, session);
}

/**
 * The kept labeling session, whole: its progress with the texts and vectors of the same
 * session (an earlier page kept them in the one record), or null.
 * @returns {Promise<LabelingSession | null>}
 */
async function loadLabeling() {
  const progress = /** @type {(Partial<LabelingSession> & {id?: number}) | undefined} */ (
    await idbGet('labeling', LABELING_SESSION)
  );
  if (!progress) return null;
  if (progress.vectors && progress.texts) return /** @type {LabelingSession} */ (progress);
  const bulk = /** @type {{id?: number, texts: string[], vectors: Float32Array} | undefined} */ (
    await idbGet('labeling', LABELING_TEXTS)
  );
  if (!bulk || bulk.id !== progress.id) return null;
  return /** @type {LabelingSession} */ ({ ...progress, texts: bulk.texts, vectors: bulk.vectors });
}

/** @param {string[]} words */
function listOf(words) {
  return words.length < 2 ? words.join('') : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
}

/**
 * After a trap (a Rust panic) of the running instance: drop it, start a fresh instance of the
 * same build and restore the model (`currentFiles`), the data set (`datasetSource`), the
 * features (when stored in IndexedDB) and the classifier (`classifierBytes`); tell the page
 * (progress stage 'restarted'). A second trap while restoring, or too many restarts, gives up:
 * every request then fails until the page reloads.
 * @param {number} id the request that trapped
 * @param {CallType} type
 * @param {WebAssembly.RuntimeError} trap
 * @param {Device} [device] where to load the model again (by default where it was)
 * @returns {Promise<{error: KindError, info: EncoderInfo | null}>} what that request rejects
 *   with, and the model as loaded again (null when it was not)
 */
async function recover(id, type, trap, device = encoder?.device) {
  const crash = `the model crashed inside WebAssembly (${trap.message}) while ${DOING[type] ?? `answering a ${type} request`}`;
  const trapped = wasm;
  const had = { data: dataset !== null, features: features !== null, classifier: classifier !== null };
  // Freed now, so that their finalizers never call into the trapped instance later.
  for (const old of [classifier, features, dataset, encoder]) release(old);
  [classifier, features, dataset, encoder, wasm] = [null, null, null, null, null];
  if (++restarts > MAX_RESTARTS) {
    crashed = trap.message;
    return {
      error: new KindError('InternalError', `${crash}, for the ${MAX_RESTARTS + 1}th time: reload the page`),
      info: null,
    };
  }
  try {
    if (trapped) {
      delete instances[trapped.kind];
      restartsOf[trapped.kind] = (restartsOf[trapped.kind] ?? 0) + 1;
    }
    /** @type {string[]} */
    const restored = [];
    /** @type {EncoderInfo | null} */
    let info = null;
    if (currentFiles && device) {
      info = await loadEncoder(id, currentFiles, device);
      restored.push('model');
    } else {
      // A classifier with no encoder waits in a CPU build (setClassifier).
      await startWasm(id, trapped?.kind === 'webgpu' || !trapped ? cpuBuild() : trapped.kind);
    }
    const { api } = running();
    if (had.data && datasetSource) {
      dataset = await readDataset(api, datasetSource.csv, datasetSource.settings, null);
      restored.push('data');
    }
    if (had.features && dataset && encoder && featuresStored) {
      features = await storedFeatures(featuresStored, encoder, dataset.texts().length);
      if (features) restored.push('features');
    }
    if (!features) featuresStored = null;
    if (had.classifier && classifierBytes) {
      classifier = api.Classifier.fromBytes(classifierBytes);
      restored.push('classifier');
    }
    const featuresLost = had.features && !features;
    const message =
      `${crash}; it was restarted` +
      (restored.length
        ? ` and your ${listOf(restored)} ${restored.length > 1 ? 'were' : 'was'} restored`
        : '') +
      (featuresLost ? '. The features were not stored in this browser: extract them again' : '');
    progress(id, { stage: 'restarted', message, featuresLost });
    return { error: new KindError('InternalError', message), info };
  } catch (err) {
    crashed = messageOf(err);
    return {
      error: new KindError(
        'InternalError',
        `${crash}, and restarting it failed (${crashed}): reload the page`,
      ),
      info: null,
    };
  }
}

// ---- requests ---------------------------------------------------------------------------------

/**
 * Answer one request.
 * @param {Call} msg
 * @returns {Promise<Results[CallType]>}
 */
async function handle(msg) {
  const { id } = msg;
  if (crashed) {
    throw new KindError('InternalError', `the model crashed earlier (${crashed}): reload the page`);
  }
  switch (msg.type) {
    case 'load':
      return loadEncoder(id, msg.files, msg.device ?? 'auto');
    case 'reload':
      if (!currentFiles) throw new KindError('InternalError', 'no model is loaded yet: load one first');
      return loadEncoder(id, currentFiles, msg.device ?? 'auto');
    case 'embed':
      return embed(id, msg);
    case 'memory':
      // Wasm memory never shrinks, so these are the peaks so far.
      return { worker: wasm ? wasm.memory.buffer.byteLength : 0, helpers: await pool.memory() };
    case 'threads':
      threadsWanted = msg.threads ?? 'auto';
      await startPool();
      // Answered once the helpers have loaded, so the next extraction has them all.
      return {
        threads: encoder?.device === 'cpu' ? 1 + (await pool.settled()) : 1,
        wanted: threadCount(),
        lastRun,
      };
    case 'tokenize':
      return requireEncoder().tokenize(msg.texts, msg.maxLen);
    case 'prepare':
      return prepare(id, msg.device ?? 'auto');
    case 'defaults':
      return (await startWasm(id)).defaults();
    case 'csvHeader':
      return (await startWasm(id)).csvHeader(new Uint8Array(msg.csv), msg.delimiter);
    case 'csvColumn':
      return (await startWasm(id)).csvColumn(new Uint8Array(msg.csv), msg.column, msg.delimiter);
    case 'csvPreview':
      return (await startWasm(id)).csvPreview(new Uint8Array(msg.csv), msg.settings, msg.start ?? false);
    case 'dataset':
      return loadDataset(id, msg);
    case 'extract':
      return withCpuFallback(id, msg.type, () => extract(id, msg));
    case 'train':
      return train(id, msg);
    case 'fineTunePlan':
      return withCpuFallback(id, msg.type, () => fineTunePlan(id, msg));
    case 'fineTune':
      return withCpuFallback(id, msg.type, () => fineTune(id, msg));
    case 'classify':
      return withCpuFallback(id, msg.type, () => classify(id, msg));
    case 'explain':
      return withCpuFallback(id, msg.type, () => explain(msg));
    case 'setClassifier':
      return setClassifier(id, msg.bytes);
    case 'classifierBytes':
      requireClassifier();
      // A copy of a kept file: the reply transfers the buffer it is given.
      return classifierBytes ? classifierBytes.slice().buffer : (await requireClassifier().toBytes()).buffer;
    case 'exportForOtherTools': {
      const clf = requireClassifier();
      const enc = requireEncoder();
      if (!currentFiles) throw new KindError('InternalError', 'no model is loaded yet: load one first');
      const zip = await clf.exportForOtherTools(enc, new Uint8Array(currentFiles.config), msg.card);
      return zip.buffer;
    }
    case 'keepClassifier':
      return keepClassifier(msg.source);
    case 'loadKeptClassifier':
      return loadKeptClassifier(id);
    case 'forgetKeptClassifier':
      return idbDelete('classifiers', KEPT_CLASSIFIER);
    case 'labelingSuggest':
      return (await startWasm(id)).labelingSuggest(msg.vectors, msg.dim, msg.request);
    case 'keepLabeling':
      return keepLabeling(msg.session);
    case 'loadLabeling':
      return loadLabeling();
    case 'forgetLabeling':
      await idbDelete('labeling', LABELING_TEXTS);
      return idbDelete('labeling', LABELING_SESSION);
    case 'crashForTest':
      return untilTrap(running().api.panicForTest(msg.later));
    default:
      throw new KindError(
        'InternalError',
        `unknown request type ${JSON.stringify(/** @type {{type: unknown}} */ (msg).type)}`,
      );
  }
}

/**
 * @param {number} id
 * @param {Results[CallType]} value
 */
function reply(id, value) {
  const own = value instanceof Float32Array && value.byteLength === value.buffer.byteLength;
  /** @type {Transferable[]} */
  const transfer = own
    ? [/** @type {ArrayBuffer} */ (value.buffer)]
    : value instanceof ArrayBuffer
      ? [value]
      : [];
  try {
    scope.postMessage({ id, type: 'result', value }, transfer);
  } catch {
    // A buffer that cannot be transferred (e.g. a view on wasm memory): send a copy.
    scope.postMessage({ id, type: 'result', value: value instanceof Float32Array ? value.slice() : value });
  }
}

/**
 * @param {number} id
 * @param {unknown} err
 */
function replyError(id, err) {
  /** @type {ErrorMessage} */
  const message = { id, type: 'error', name: kindOf(err), message: messageOf(err) };
  scope.postMessage(message);
}

scope.addEventListener('message', (event) => {
  /** @type {Request} */
  const msg = event.data;
  if (msg?.type === 'cancel') {
    cancelled.add(msg.target);
    return;
  }
  queue = queue.then(async () => {
    try {
      checkCancelled(msg.id);
      reply(msg.id, await untilTrap(handle(msg)));
    } catch (err) {
      replyError(
        msg.id,
        err instanceof WebAssembly.RuntimeError ? (await recover(msg.id, msg.type, err)).error : err,
      );
    } finally {
      cancelled.delete(msg.id);
    }
  });
});
