// IndexedDB for what must survive a reload: extracted features and the current classifier.
// Used by the worker (features) and the UI thread (classifier). Values are ArrayBuffers.

const DB_NAME = 'bertweb';
const DB_VERSION = 1;
/** @typedef {'features' | 'classifiers'} StoreName */
const STORES = ['features', 'classifiers'];

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

/** Run one request in a transaction and resolve when the transaction is done. */
async function run(store, mode, makeRequest) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(store, mode);
    const req = makeRequest(tx.objectStore(store));
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

/** Turn a quota error into a message a user can act on; other errors pass through. */
export function storageError(err) {
  if (err?.name === 'QuotaExceededError') {
    return new Error('the browser storage for this page is full, so this could not be saved ' +
      '(it still works until you reload). Free space by clearing this site\'s data in the browser settings, ' +
      'or download what you want to keep.');
  }
  return err instanceof Error ? err : new Error(String(err));
}
