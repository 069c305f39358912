// @ts-check
// IndexedDB for what must survive a reload: extracted features, the classifier in use and the
// labeling session (www/protocol.js LabelingSession).
// Used by www/worker.js only, which owns them: the page asks it (www/client.js) to keep, load
// or forget the classifier. Feature sets are ArrayBuffers; the kept classifier is
// {bytes: ArrayBuffer, source: string} (www/protocol.js KeptClassifierRecord).

const DB_NAME = 'bertweb';
// 2: featureUse, the size and last use of each feature set, for evicting the oldest.
// 3: labeling, the labeling session.
const DB_VERSION = 3;
/** @typedef {'features' | 'featureUse' | 'classifiers' | 'labeling'} StoreName */
const STORES = ['features', 'featureUse', 'classifiers', 'labeling'];

/**
 * Bytes of extracted features kept in this browser. A feature set is rows × hidden × 4 bytes
 * (154 MB for 100,000 reviews with MiniLM, twice that with BERT-base), and every new data set,
 * model or setting makes one; the least recently used go beyond this. The newest always stays.
 */
const FEATURE_CACHE_BYTES = 1024 ** 3;

/** @type {Promise<IDBDatabase> | null} */
let opening = null;

function open() {
  opening ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, DB_VERSION);
    let blocked = false;
    req.onupgradeneeded = () => {
      for (const name of STORES) {
        if (!req.result.objectStoreNames.contains(name)) req.result.createObjectStore(name);
      }
    };
    // A tab with an older bertweb holds the old version open and never lets go: without this,
    // every storage call here would wait for it forever.
    req.onblocked = () => {
      blocked = true;
      reject(
        new Error(
          "this page's storage is held by another bertweb tab with an older version: close the other tabs and reload",
        ),
      );
    };
    req.onsuccess = () => {
      const db = req.result;
      // The upgrade went through once the other tab closed, after this call had given up.
      if (blocked) return db.close();
      // A newer bertweb in another tab needs this connection closed to upgrade.
      db.onversionchange = () => {
        db.close();
        opening = null;
      };
      resolve(db);
    };
    req.onerror = () => reject(req.error);
  });
  opening.catch(() => {
    opening = null;
  });
  return opening;
}

/**
 * One transaction over `stores` (a name or several): `body` gets the object store, or the
 * stores by name, and makes its requests; the answer, once the transaction is done, is the
 * result of the request `body` returns, or what a function it returns gives then.
 * @template {StoreName | StoreName[]} S
 * @template R
 * @param {S} stores
 * @param {IDBTransactionMode} mode
 * @param {(stores: S extends StoreName ? IDBObjectStore : Record<StoreName, IDBObjectStore>) =>
 *   IDBRequest<R> | (() => R)} body
 * @returns {Promise<R>}
 */
async function run(stores, mode, body) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(stores, mode);
    const answer = body(
      /** @type {S extends StoreName ? IDBObjectStore : Record<StoreName, IDBObjectStore>} */ (
        Array.isArray(stores)
          ? Object.fromEntries(stores.map((name) => [name, tx.objectStore(name)]))
          : tx.objectStore(/** @type {StoreName} */ (stores))
      ),
    );
    tx.oncomplete = () => resolve(typeof answer === 'function' ? answer() : answer.result);
    // Every failure ends in an abort, with the transaction's error set by then.
    tx.onabort = () => reject(tx.error ?? new Error('the storage transaction was aborted'));
  });
}

/**
 * @param {StoreName} store
 * @param {string} key
 * @returns {Promise<unknown>} the stored value, or undefined
 */
export function idbGet(store, key) {
  return run(store, 'readonly', (s) => s.get(key));
}

/**
 * Store a value; a full quota rejects with a message saying what to do.
 * @param {StoreName} store
 * @param {string} key
 * @param {unknown} value
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
 * The feature set stored under `key`, or undefined. A hit counts as a use, so it is the last to
 * be evicted; recording that is best effort (a full storage must not cost a valid hit).
 * @param {string} key
 * @returns {Promise<ArrayBuffer | undefined>}
 */
export async function getFeatures(key) {
  const bytes = /** @type {ArrayBuffer | undefined} */ (await idbGet('features', key));
  if (bytes) {
    await run('featureUse', 'readwrite', (use) =>
      use.put({ bytes: bytes.byteLength, used: Date.now() }, key),
    ).catch(() => {});
  }
  return bytes;
}

/**
 * Store a feature set under `key`, first evicting the least recently used others until they
 * and it fit in `budget` bytes, so the eviction also makes room when storage is nearly full.
 * Sets stored before sizes were recorded (no featureUse entry) go too: their age is unknown,
 * and they are only a cache. Eviction and the store are two transactions: two tabs storing at
 * once can overshoot the budget by a set until the next store.
 * @param {string} key
 * @param {ArrayBuffer} bytes
 * @param {number} [budget]
 * @returns {Promise<string[]>} the keys evicted
 */
export async function putFeatures(key, bytes, budget = FEATURE_CACHE_BYTES) {
  // Best effort: a failed eviction must not keep the new set from being stored.
  const evicted = await evictFeatures(key, bytes.byteLength, budget).catch(() => []);
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

/**
 * Delete the feature set stored under `key`, and its record of use.
 * @param {string} key
 */
export function deleteFeatures(key) {
  return run(['features', 'featureUse'], 'readwrite', (stores) => {
    stores.featureUse.delete(key);
    return stores.features.delete(key);
  });
}

/**
 * Delete the feature sets that do not fit in `budget` after `size` bytes for `key`.
 * @param {string} key
 * @param {number} size
 * @param {number} budget
 * @returns {Promise<string[]>} the keys deleted
 */
function evictFeatures(key, size, budget) {
  return run(['features', 'featureUse'], 'readwrite', ({ features, featureUse }) => {
    const stored = features.getAllKeys();
    const usedKeys = featureUse.getAllKeys();
    const uses = featureUse.getAll();
    /** @type {IDBValidKey[]} */
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
        featureUse.delete(k);
      }
    };
    return () => evicted.map(String);
  });
}

/**
 * Turn a quota error into a message a user can act on; other errors pass through.
 * @param {unknown} err
 * @returns {Error}
 */
export function storageError(err) {
  if (/** @type {{name?: unknown} | null | undefined} */ (err)?.name === 'QuotaExceededError') {
    return new Error(
      'the browser storage for this page is full, so this could not be saved ' +
        "(it still works until you reload). Free space by clearing this site's data in the browser settings, " +
        'or download what you want to keep.',
    );
  }
  return err instanceof Error ? err : new Error(String(err));
}
