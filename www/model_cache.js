// @ts-check
// Model folders in the Cache API (config.json, model.safetensors, tokenizer.json under the
// folder's URL), so a second visit and an offline one read them from this browser. Each folder
// also gets a small marker entry with the time it was last used: model folders are large, so
// only the default folder and the most recently used others are kept.

/** Cache API name for model files; bump the version when their format or keys change. */
const MODEL_CACHE = 'bertweb-models-v1';
/** Folders kept besides the default model's. */
export const KEPT_FOLDERS = 2;
/** The marker's name inside a folder: not a file name any model folder uses. */
const MARKER = '.bertweb-last-used';

/** The model cache, or null where the Cache API is missing (e.g. some private modes). */
export async function openModelCache() {
  try {
    return await caches.open(MODEL_CACHE);
  } catch {
    return null;
  }
}

/**
 * Record that the folder at `base` (a URL ending in '/') was used now. Best effort: a full
 * storage must not fail a load.
 * @param {Cache} cache
 * @param {string} base
 */
export async function markUsed(cache, base) {
  await cache.put(new URL(MARKER, base).href, new Response(String(Date.now()))).catch(() => {});
}

/**
 * Delete the cached folders beyond the `keep` most recently used, never `pinned` (the default
 * model's folder). A folder without a marker (cached before markers existed) counts as the
 * oldest.
 * @param {Cache} cache
 * @param {string} pinned base URL of the folder never evicted
 * @param {number} [keep]
 * @returns {Promise<string[]>} the base URLs of the folders evicted
 */
export async function evictFolders(cache, pinned, keep = KEPT_FOLDERS) {
  const requests = await cache.keys();
  /** @type {Map<string, Request[]>} */
  const folders = new Map();
  for (const request of requests) {
    const base = new URL('./', request.url).href;
    if (base === pinned) continue;
    const folder = folders.get(base);
    if (folder) folder.push(request);
    else folders.set(base, [request]);
  }
  const used = new Map(
    await Promise.all(
      [...folders.keys()].map(async (base) => {
        const marker = await cache.match(new URL(MARKER, base).href);
        return /** @type {[string, number]} */ ([base, marker ? Number(await marker.text()) || 0 : 0]);
      }),
    ),
  );
  const lastUse = (/** @type {string} */ base) => used.get(base) ?? 0;
  const evicted = [...folders.keys()].sort((a, b) => lastUse(b) - lastUse(a)).slice(keep);
  await Promise.all(
    evicted.flatMap((base) => (folders.get(base) ?? []).map((request) => cache.delete(request))),
  );
  return evicted;
}
