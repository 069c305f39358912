// IndexedDB for what must survive a reload: extracted features and the current classifier.
// Used by the worker (features) and the UI thread (classifier). Values are ArrayBuffers.

const DB_NAME = 'bertweb';
// 2: featureUse, the size and last use of each feature set, for evicting the oldest.
const DB_VERSION = 2;
/** @typedef {'features' | 'featureUse' | 'classifiers'} StoreName */
const STORES = ['features', 'featureUse', 'classifiers'];

/**
 * Bytes of extracted features kept in this browser. A feature set is rows × hidden × 4 bytes
 * (154 MB for 100,000 reviews with MiniLM, twice that with BERT-base), and every new data set,
 * model or setting makes one; the least recently used go beyond this. The newest always stays.
 */
export const FEATURE_CACHE_BYTES = 1024 ** 3;

/** @type {Promise<IDBDatabase> | null} */
let opening = null;

function open() {
  opening ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, DB_VERSION);
    req.onupgradeneeded = () => {
      for (const name of STORES) {
        if (!req.result.objectStoreNames.contains(name)) req.result.createObjectStore(name);
      }
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  opening.catch(() => {
    opening = null;
  });
  return opening;
}

/**
 * Run one request in a transaction and resolve when the transaction is done. With several
 * stores, `makeRequest` gets them by name and its request's result is the answer.
 */
async function run(store, mode, makeRequest) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(store, mode);
    const req = makeRequest(Array.isArray(store)
      ? Object.fromEntries(store.map((name) => [name, tx.objectStore(name)]))
      : tx.objectStore(store));
    tx.oncomplete = () => resolve(req.result);
    tx.onerror = () => reject(tx.error ?? req.error);
    tx.onabort = () => reject(tx.error ?? new Error('the storage transaction was aborted'));
  });
}

/**
 * @param {StoreName} store
 * @param {string} key
 * @returns {Promise<any>} the stored value, or undefined
 */
export function idbGet(store, key) {
  return run(store, 'readonly', (s) => s.get(key));
}

/**
 * Store a value; a full quota rejects with a message saying what to do.
 * @param {StoreName} store
 * @param {string} key
 * @param {any} value
 */
export async function idbPut(store, key, value) {
  try {
    await run(store, 'readwrite', (s) => s.put(value, key));
  } catch (err) {
    throw storageError(err);
  }
}

/** @param {StoreName} store @param {string} key */
export function idbDelete(store, key) {
  return run(store, 'readwrite', (s) => s.delete(key));
}

/**
 * The feature set stored under `key`, or undefined; a hit counts as a use, so it is the last
 * to be evicted.
 * @param {string} key
 * @returns {Promise<ArrayBuffer | undefined>}
 */
export async function getFeatures(key) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(['features', 'featureUse'], 'readwrite');
    const req = tx.objectStore('features').get(key);
    req.onsuccess = () => {
      if (req.result) tx.objectStore('featureUse').put({ bytes: req.result.byteLength, used: Date.now() }, key);
    };
    tx.oncomplete = () => resolve(req.result);
    tx.onerror = () => reject(tx.error ?? req.error);
    tx.onabort = () => reject(tx.error ?? new Error('the storage transaction was aborted'));
  });
}

/**
 * Store a feature set under `key`, first evicting the least recently used others until they
 * and it fit in `budget` bytes (so the eviction also makes room when storage is nearly full).
 * Sets stored before sizes were recorded (no featureUse entry) go too: their age is unknown,
 * and they are only a cache.
 * @param {string} key
 * @param {ArrayBuffer} bytes
 * @param {number} [budget]
 * @returns {Promise<string[]>} the keys evicted
 */
export async function putFeatures(key, bytes, budget = FEATURE_CACHE_BYTES) {
  const evicted = await evictFeatures(key, bytes.byteLength, budget);
  try {
    await run(['features', 'featureUse'], 'readwrite', (stores) => {
      stores.featureUse.put({ bytes: bytes.byteLength, used: Date.now() }, key);
      return stores.features.put(bytes, key);
    });
  } catch (err) {
    throw storageError(err);
  }
  return evicted;
}

/** Delete the feature sets that do not fit in `budget` after `size` bytes for `key`. */
async function evictFeatures(key, size, budget) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(['features', 'featureUse'], 'readwrite');
    const features = tx.objectStore('features');
    const use = tx.objectStore('featureUse');
    const stored = features.getAllKeys();
    const usedKeys = use.getAllKeys();
    const uses = use.getAll();
    const evicted = [];
    // Requests in a transaction complete in order: when `uses` is done, so are the others.
    uses.onsuccess = () => {
      const used = new Map(usedKeys.result.map((k, i) => [k, uses.result[i]]));
      let total = size;
      for (const [k, u] of [...used].sort((a, b) => b[1].used - a[1].used)) {
        if (k === key) continue;
        total += u.bytes;
        if (total > budget) evicted.push(k);
      }
      for (const k of stored.result) if (!used.has(k) && k !== key) evicted.push(k);
      for (const k of evicted) {
        features.delete(k);
        use.delete(k);
      }
    };
    tx.oncomplete = () => resolve(evicted.map(String));
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('the storage transaction was aborted'));
  });
}

/** Turn a quota error into a message a user can act on; other errors pass through. */
export function storageError(err) {
  if (err?.name === 'QuotaExceededError') {
    return new Error('the browser storage for this page is full, so this could not be saved ' +
      '(it still works until you reload). Free space by clearing this site\'s data in the browser settings, ' +
      'or download what you want to keep.');
  }
  return err instanceof Error ? err : new Error(String(err));
}
