// @ts-check
// A helper of www/worker.js: its own wasm instance with its own copy of the encoder on the
// CPU, embedding the batches of a feature extraction that the main worker hands it. Several
// helpers use several cores with stable Rust and no shared memory, so they also work on a
// page that is not cross-origin isolated. Messages: www/protocol.js (HelperRequest).

/** @typedef {import('./protocol.js').HelperRequest} HelperRequest */
/** @typedef {import('./protocol.js').HelperResponse} HelperResponse */
/** @typedef {import('./protocol.js').HelperResults} HelperResults */
/** @typedef {import('./protocol.js').Wasm} Wasm */

const scope = /** @type {DedicatedWorkerGlobalScope} */ (/** @type {unknown} */ (self));

/** @type {import('./protocol.js').Encoder | null} */
let encoder = null;
/** @type {{memory: WebAssembly.Memory} | null} The instance's exports (its memory is reported to the benchmark). */
let instance = null;
/** @type {Wasm | null} the module's API */
let wasm = null;
/** @type {{version: number, classifier: import('./protocol.js').Classifier} | null} the main worker's classifier, for explanations and scoring */
let shared = null;
/** @type {import('./protocol.js').ShareRunner | null} the main worker's fine-tuning run, as far as this helper needs it */
let tuning = null;

/**
 * Start the main worker's CPU build (www/builds.js: the CPU-only one where the engine has
 * relaxed SIMD) from its compiled `module` and `glue` URL, and load `files` into it.
 * @param {import('./protocol.js').HelperLoadRequest} request
 */
async function load({ module, glue, files }) {
  const api = /** @type {Wasm} */ (await import(glue));
  instance = await api.default({ module_or_path: module });
  wasm = api;
  shared?.classifier.free();
  shared = null;
  tuning?.free();
  tuning = null;
  const next = await api.Encoder.load(
    new Uint8Array(files.config),
    new Uint8Array(files.weights),
    new Uint8Array(files.tokenizer),
    'cpu',
    files.sha256, // computed by the main worker
  );
  encoder?.free();
  encoder = next;
  return { modelId: encoder.modelId };
}

/**
 * The main worker's classifier of a request, read from its file the first time a version
 * comes, and the encoder.
 * @param {{version: number, bytes: ArrayBuffer | null}} classifier
 */
function sharedClassifier(classifier) {
  if (!encoder || !wasm) throw new Error('this helper has no model loaded');
  if (shared?.version !== classifier.version) {
    if (!classifier.bytes) throw new Error('this helper has not been given the classifier');
    const next = wasm.Classifier.fromBytes(new Uint8Array(classifier.bytes));
    shared?.classifier.free();
    shared = { version: classifier.version, classifier: next };
  }
  return { clf: shared.classifier, enc: encoder };
}

/**
 * One part of the main worker's explanation, with its classifier.
 * @param {import('./protocol.js').HelperExplainRequest} request
 */
async function explainPart({ classifier, text, label, steps, part, parts }) {
  const { clf, enc } = sharedClassifier(classifier);
  return clf.explainPart(enc, text, label, steps, part, parts);
}

/**
 * @param {HelperRequest} msg
 * @returns {Promise<HelperResults[HelperRequest['type']]>}
 */
async function handle(msg) {
  switch (msg.type) {
    case 'load':
      return load(msg);
    case 'embed':
      if (!encoder) throw new Error('this helper has no model loaded');
      return encoder.embed(msg.texts, msg.pooling, msg.maxLen);
    case 'explainPart':
      return explainPart(msg);
    case 'probabilities': {
      const { clf, enc } = sharedClassifier(msg.classifier);
      return clf.probabilities(enc, msg.texts);
    }
    case 'tuneShare':
      if (!encoder || !wasm) throw new Error('this helper has no model loaded');
      tuning ??= new wasm.ShareRunner();
      return tuning.run(encoder, new Uint8Array(msg.share));
    case 'memory':
      return instance?.memory.buffer.byteLength ?? 0;
    default:
      throw new Error(`unknown helper request ${JSON.stringify(/** @type {{type: unknown}} */ (msg).type)}`);
  }
}

// Requests come one at a time (the pool waits for each answer), so no queue is needed.
scope.addEventListener('message', async (event) => {
  /** @type {HelperRequest} */
  const msg = event.data;
  /** @type {HelperResponse} */
  let response;
  /** @type {Transferable[]} */
  let transfer = [];
  try {
    const value = await handle(msg);
    if (value instanceof Float32Array || value instanceof Uint8Array) {
      transfer = [/** @type {ArrayBuffer} */ (value.buffer)];
    }
    response = { id: msg.id, value };
  } catch (err) {
    response = {
      id: msg.id,
      error: err instanceof Error ? err.message : String(err),
      crashed: err instanceof WebAssembly.RuntimeError,
    };
  }
  scope.postMessage(response, transfer);
});
