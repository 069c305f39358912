// @ts-check
// Model folders as bytes, with no DOM: the default model, a folder at a URL, or files a user
// picked. Folders at a URL go through the Cache API (www/model_cache.js), so the next visit
// and an offline one read them from this browser; the page shows progress through a callback.

import { evictFolders, markUsed, openModelCache } from './model_cache.js';
import { storageError } from './store.js';

/** Folder of the default model, relative to this file (fetched by scripts/fetch_model.py). */
export const DEFAULT_MODEL_URL = new URL('../models/all-MiniLM-L6-v2/', import.meta.url);
export const DEFAULT_MODEL_NAME = 'all-MiniLM-L6-v2';
const DEFAULT_CLASSIFIER_URL = new URL('../classifiers/default-minilm.safetensors', import.meta.url);

/**
 * Where a model comes from: a Hugging Face folder's URL (ending in '/'), or files picked from
 * one.
 * @typedef {{url: URL} | {files: ArrayLike<File>}} ModelSource
 */

/**
 * A step of fetching a model, tagged by `stage`: picked files being read (`name` and `size` of
 * the weights file); a folder's bytes starting to arrive, from this browser's cache or the
 * network (`total` 0 when the server does not say); bytes arrived so far; all of them there.
 * @typedef {{stage: 'files', name: string, size: number}
 *   | {stage: 'start', fromCache: boolean, total: number}
 *   | {stage: 'bytes', loaded: number, total: number}
 *   | {stage: 'done', fromCache: boolean}} FetchProgress
 */

/**
 * A fetched model: its files' bytes, a name for it, and `stored`, which resolves once its
 * files are in the Cache API to why they could not be kept there (null when they were, or
 * when they need no keeping).
 * @typedef {{files: {config: ArrayBuffer, weights: ArrayBuffer, tokenizer: ArrayBuffer},
 *   name: string, stored: Promise<string | null>}} FetchedModel
 */

/** A failed HTTP request, named by the file it was for. */
class HttpError extends Error {
  /** @param {string} file @param {number} status @param {string} statusText */
  constructor(file, status, statusText) {
    super(`${file}: HTTP ${status} ${statusText}`);
    this.name = 'HttpError';
    this.status = status;
  }
}

/**
 * The bytes of a model folder.
 * @param {ModelSource} source
 * @param {{onProgress?: (p: FetchProgress) => void, signal?: AbortSignal}} [options]
 * @returns {Promise<FetchedModel>}
 */
export async function fetchModelFolder(source, { onProgress = () => {}, signal } = {}) {
  if ('files' in source) return readModelFiles(source.files, onProgress);
  return fetchFolder(source.url, onProgress, signal);
}

/**
 * A folder URL from what a user typed: http(s) only, with the trailing '/' a folder needs.
 * @param {string} text
 * @returns {URL | null} null when it is not a web address
 */
export function folderUrl(text) {
  let base;
  try {
    base = new URL(text.trim());
  } catch {
    return null;
  }
  if (!/^https?:$/.test(base.protocol)) return null;
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  return base;
}

/**
 * A short name for a folder URL: its path without Hugging Face's `resolve/main`
 * (`org/model`), else its host.
 * @param {URL} base
 */
function folderName(base) {
  if (base.href === DEFAULT_MODEL_URL.href) return DEFAULT_MODEL_NAME;
  return (
    base.pathname
      .split('/')
      .filter(Boolean)
      .filter((p) => !['resolve', 'main'].includes(p))
      .join('/') || base.host
  );
}

/** The default classifier's file. */
export async function fetchDefaultClassifier() {
  const response = await fetch(DEFAULT_CLASSIFIER_URL);
  if (!response.ok) throw new HttpError('default-minilm.safetensors', response.status, response.statusText);
  return response.arrayBuffer();
}

/**
 * Sort picked files into the three an encoder needs; throws a message saying what is missing.
 * @param {ArrayLike<File>} fileList
 */
function pickModelFiles(fileList) {
  const files = Array.from(fileList);
  /** @param {string} name */
  const byName = (name) => files.find((f) => f.name === name);
  const config = byName('config.json');
  const weights = byName('model.safetensors') ?? files.find((f) => f.name.endsWith('.safetensors'));
  const tokenizer = byName('tokenizer.json') ?? byName('vocab.txt');
  if (!config || !weights || !tokenizer) {
    const missing = [];
    if (!config) missing.push('config.json');
    if (!weights) missing.push('model.safetensors');
    if (!tokenizer) missing.push('tokenizer.json or vocab.txt');
    throw new Error(
      `missing ${missing.join(', ')}. Pick config.json, model.safetensors and ` +
        'tokenizer.json (or vocab.txt) together from one Hugging Face BERT folder.',
    );
  }
  return { config, weights, tokenizer };
}

/**
 * @param {ArrayLike<File>} fileList
 * @param {(p: FetchProgress) => void} onProgress
 * @returns {Promise<FetchedModel>}
 */
async function readModelFiles(fileList, onProgress) {
  const picked = pickModelFiles(fileList);
  onProgress({ stage: 'files', name: picked.weights.name, size: picked.weights.size });
  const [config, weights, tokenizer] = await Promise.all(
    [picked.config, picked.weights, picked.tokenizer].map((f) => f.arrayBuffer()),
  );
  return {
    files: { config, weights, tokenizer },
    name: `your files (${picked.weights.name}, ${picked.tokenizer.name})`,
    stored: Promise.resolve(null),
  };
}

/**
 * Read a response body into one ArrayBuffer, reporting each chunk's size.
 * @param {Response} response
 * @param {(bytes: number) => void} onChunk
 * @param {AbortSignal} [signal]
 * @returns {Promise<ArrayBuffer>}
 */
async function readBody(response, onChunk, signal) {
  if (!response.body) {
    const buf = await response.arrayBuffer();
    onChunk(buf.byteLength);
    return buf;
  }
  const reader = response.body.getReader();
  /** @type {Uint8Array[]} */
  const chunks = [];
  let received = 0;
  for (;;) {
    if (signal?.aborted) {
      await reader.cancel();
      throw signal.reason;
    }
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

/** @typedef {{url: string, response: Response, cached: boolean}} Part */

/**
 * Fetch a Hugging Face folder's config.json, model.safetensors and tokenizer.json (or
 * vocab.txt), reporting progress over all their bytes together; the Cache API keeps them,
 * along with the default model and the most recently used other folders.
 * @param {URL} base folder URL ending in '/'
 * @param {(p: FetchProgress) => void} onProgress
 * @param {AbortSignal} [signal]
 * @returns {Promise<FetchedModel>}
 */
async function fetchFolder(base, onProgress, signal) {
  const cache = await openModelCache();
  /** @param {string} name @returns {Promise<Part>} */
  const get = async (name) => {
    const url = new URL(name, base).href;
    const hit = await cache?.match(url);
    if (hit) return { url, response: hit, cached: true };
    let response;
    try {
      response = await fetch(url, { signal });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new Error(
        `${name}: ${errorText(err)} (offline, or the server does not allow this page to read it)`,
      );
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
  /** @type {Part[]} */
  const got = [];
  /** @type {string[]} */
  const failed = [];
  for (const r of settled) {
    if (r.status === 'fulfilled') got.push(r.value);
    else failed.push(errorText(r.reason));
  }
  if (failed.length) throw new Error(failed.join('; '));
  const [config, weights, tok] = got;
  /** @type {[keyof FetchedModel['files'], Part][]} */
  const parts = [
    ['config', config],
    ['weights', weights],
    ['tokenizer', tok],
  ];
  const lengths = parts.map(([, p]) => Number(p.response.headers.get('Content-Length')));
  const total = lengths.every((n) => n > 0) ? lengths.reduce((a, b) => a + b, 0) : 0;
  const fromCache = parts.every(([, p]) => p.cached);
  let loaded = 0;
  onProgress({ stage: 'start', fromCache, total });
  /** @param {number} n */
  const onChunk = (n) => {
    loaded += n;
    onProgress({ stage: 'bytes', loaded, total });
  };
  const bodies = await Promise.all(parts.map(([, p]) => readBody(p.response, onChunk, signal)));
  onProgress({ stage: 'done', fromCache });
  const files = { config: bodies[0], weights: bodies[1], tokenizer: bodies[2] };
  const name = folderName(base);
  if (!cache) return { files, name, stored: Promise.resolve(null) };
  // Copied now, since the caller hands the originals to the worker; stored while the model loads.
  const fresh = parts
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
  return { files, name, stored };
}

/**
 * Put fetched model files into the Cache API; resolves to why that failed, or null.
 * @param {Cache} cache
 * @param {{url: string, bytes: ArrayBuffer, type: string}[]} fresh
 * @returns {Promise<string | null>}
 */
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

/** @param {unknown} err */
function errorText(err) {
  return err instanceof Error ? err.message : String(err);
}
