// A helper of www/worker.js: its own wasm instance with its own copy of the encoder on the
// CPU, embedding the batches of a feature extraction that the main worker hands it. Several
// helpers use several cores with stable Rust and no shared memory, so they also work on a
// page that is not cross-origin isolated. Messages: www/pool.js.

/** @type {import('../pkg/cpu/bertweb.js').Encoder | null} */
let encoder = null;
/** The instance's exports (its memory is reported to the benchmark). */
let exports = null;

/**
 * Start the main worker's CPU build (www/builds.js: the CPU-only one where the engine has
 * relaxed SIMD) from its compiled `module` and `glue` URL, and load `files` into it.
 */
async function load({ module, glue, files }) {
  const api = await import(glue);
  exports = await api.default({ module_or_path: module });
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

async function handle(msg) {
  switch (msg.type) {
    case 'load':
      return load(msg);
    case 'embed':
      if (!encoder) throw new Error('this helper has no model loaded');
      return encoder.embed(msg.texts, msg.pooling, msg.maxLen);
    case 'memory':
      return exports?.memory.buffer.byteLength ?? 0;
    default:
      throw new Error(`unknown helper request ${JSON.stringify(msg.type)}`);
  }
}

// Requests come one at a time (the pool waits for each answer), so no queue is needed.
self.addEventListener('message', async ({ data: msg }) => {
  try {
    const value = await handle(msg);
    const transfer = value instanceof Float32Array ? [value.buffer] : [];
    self.postMessage({ id: msg.id, value }, transfer);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    self.postMessage({ id: msg.id, error: message, crashed: err instanceof WebAssembly.RuntimeError });
  }
});
