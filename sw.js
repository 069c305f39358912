// @ts-check
// Service worker: keeps the app shell, pkg/ and the default classifier in the Cache API so
// that after one visit the page opens and classifies with the network gone. Network first (a
// rebuilt pkg/ is picked up at once), the cache when the network fails. Model files are cached
// by the page itself (www/model_cache.js, cache "bertweb-models-v1").

const SHELL_CACHE = 'bertweb-shell-v6';
const SHELL = [
  './',
  'index.html',
  'www/main.js',
  'www/page/state.js',
  'www/page/format.js',
  'www/page/model.js',
  'www/page/classify.js',
  'www/page/explain.js',
  'www/page/label.js',
  'www/page/data.js',
  'www/page/settings.js',
  'www/page/diagram.js',
  'www/page/report.js',
  'www/page/train.js',
  'www/page/finetune.js',
  'www/page/keep.js',
  'www/page/embed.js',
  'www/model_fetch.js',
  'www/client.js',
  'www/worker.js',
  'www/pool.js',
  'www/builds.js',
  'www/embed_worker.js',
  'www/store.js',
  'www/charts.js',
  'www/csv.js',
  'www/model_cache.js',
  'www/style.css',
  'www/vendor/uplot/uPlot.esm.js',
  'www/vendor/uplot/uPlot.min.css',
  'pkg/bertweb.js',
  'pkg/bertweb_bg.wasm',
  'pkg/cpu/bertweb.js',
  'pkg/cpu/bertweb_bg.wasm',
  // pkg/cpu-baseline/ (engines without relaxed SIMD, www/builds.js) is cached when first used,
  // as every pkg/ file is: most engines never need it.
  'classifiers/default-minilm.safetensors',
];
/** This script's global scope (`self` is typed for any worker). */
const sw = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));
const SCOPE = new URL('./', sw.location.href);
const SHELL_URLS = new Set(SHELL.map((p) => new URL(p, SCOPE).href));

sw.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(SHELL_CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => sw.skipWaiting()),
  );
});

sw.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith('bertweb-shell-') && name !== SHELL_CACHE) await caches.delete(name);
      }
      await sw.clients.claim();
    })(),
  );
});

/**
 * Whether a request is part of the shell (query strings such as ?device=cpu ignored).
 * @param {Request} request
 */
function isShell(request) {
  if (request.method !== 'GET') return false;
  const url = new URL(request.url);
  if (url.origin !== SCOPE.origin) return false;
  url.search = '';
  url.hash = '';
  return SHELL_URLS.has(url.href) || url.pathname.startsWith(`${SCOPE.pathname}pkg/`);
}

sw.addEventListener('fetch', (event) => {
  if (!isShell(event.request)) return;
  event.respondWith(
    (async () => {
      const cache = await caches.open(SHELL_CACHE);
      try {
        const response = await fetch(event.request);
        if (response.ok) {
          const key = new URL(event.request.url);
          key.search = '';
          await cache.put(key.href, response.clone()).catch(() => {});
        }
        return response;
      } catch (err) {
        const cached = await cache.match(event.request, { ignoreSearch: true });
        if (cached) return cached;
        throw err;
      }
    })(),
  );
});
