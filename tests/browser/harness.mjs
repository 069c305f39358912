// Shared by the browser tests and the benchmarks in bench/: Debian chromium through
// playwright-core (it never downloads a browser), the in-process static server, and checks for
// what must exist before a browser run makes sense.

import {
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { MIME_TYPES, resolveUnderRoot, startServer } from '../../scripts/serve.mjs';

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
/** The builds (www/builds.js): WebGPU; the CPU with relaxed SIMD; the CPU with plain SIMD128. */
export const WASM = join(ROOT, 'pkg', 'bertweb_bg.wasm');
export const WASM_CPU = join(ROOT, 'pkg', 'cpu', 'bertweb_bg.wasm');
export const WASM_CPU_BASELINE = join(ROOT, 'pkg', 'cpu-baseline', 'bertweb_bg.wasm');
export const MODEL_DIR = join(ROOT, 'models', 'all-MiniLM-L6-v2');
export const FIXTURE = join(ROOT, 'tests', 'fixtures', 'minilm.json');

/** Chromium flags: headless, WebGPU on SwiftShader (CPU Vulkan), and no traffic off this machine. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** Flags without WebGPU, to check the page's fallback to CPU. */
export const CHROMIUM_ARGS_NO_WEBGPU = CHROMIUM_ARGS.filter(
  (a) => a !== '--enable-unsafe-webgpu' && !a.startsWith('--use-webgpu-adapter'),
);

/**
 * Why a browser run cannot happen here, or null when everything is present.
 * @param {{fixture?: boolean, sample?: boolean, transformersJs?: boolean}} [need] the reference
 *   fixture; the shared sample CSV; transformers.js and onnxruntime-web in node_modules
 * @returns {Promise<string | null>}
 */
export async function missingPrerequisites({ fixture = false, sample = false, transformersJs = false } = {}) {
  const missing = [];
  if (!existsSync(CHROMIUM)) missing.push(`${CHROMIUM} (run scripts/setup_browser.sh)`);
  for (const wasm of [WASM, WASM_CPU, WASM_CPU_BASELINE]) {
    if (!existsSync(wasm)) missing.push(`${wasm.slice(ROOT.length + 1)} (run scripts/build.sh)`);
  }
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) {
    if (!existsSync(join(MODEL_DIR, f))) {
      missing.push(`models/all-MiniLM-L6-v2/${f} (run python3 scripts/fetch_model.py)`);
      break;
    }
  }
  if (fixture && !existsSync(FIXTURE)) missing.push('tests/fixtures/minilm.json');
  if (sample && !existsSync(SAMPLE_CSV)) missing.push(`${SAMPLE_CSV} (the shared data)`);
  const noTransformersJs = transformersJs && missingTransformersJs();
  if (noTransformersJs) missing.push(noTransformersJs);
  try {
    await import('playwright-core');
  } catch {
    missing.push('node_modules/playwright-core (run scripts/setup_browser.sh or npm ci)');
  }
  return missing.length ? `missing ${missing.join('; ')}` : null;
}

/** Size of a file in bytes, or null. */
export function fileSize(path) {
  try {
    return statSync(path).size;
  } catch {
    return null;
  }
}

/**
 * Start the static server on a free port and launch chromium with a fresh profile.
 * @param {{webgpu?: boolean}} [options]
 */
export async function launch({ webgpu = true } = {}) {
  const { chromium } = await import('playwright-core');
  const server = await startServer({ root: ROOT, port: 0 });
  const profile = mkdtempSync(join(tmpdir(), 'bertweb-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: webgpu ? CHROMIUM_ARGS : CHROMIUM_ARGS_NO_WEBGPU,
      viewport: { width: 1000, height: 900 },
    });
  } catch (err) {
    await server.close();
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  return {
    context,
    url: server.url,
    /** Stop serving (the browser stays open), to check what works with no server at all. */
    stopServer: () => server.close(),
    async close() {
      await context.close().catch(() => {});
      await server.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * What a file's browser tests need: `skip` (why they cannot run here, or false) for their
 * options, and `requireReady()` for their `before`, which fails under CI instead of skipping.
 * @param {{fixture?: boolean, sample?: boolean, transformersJs?: boolean}} [need] as for
 *   missingPrerequisites
 */
export async function prerequisites(need) {
  const missing = await missingPrerequisites(need);
  const skip = missing && !process.env.CI ? missing : false;
  if (skip) console.log(`# browser tests skipped: ${skip}`);
  return {
    skip,
    requireReady() {
      if (missing) throw new Error(`${missing} (CI is set, so this fails instead of skipping)`);
    },
  };
}

/**
 * Inside a describe: hooks that open a browser without WebGPU on an empty page of the app's
 * origin (bench/blank.html) and close it, for tests of the page's modules and its server with
 * neither the app's worker nor its service worker in the way. `page` is set once they ran.
 * @param {Awaited<ReturnType<typeof prerequisites>>} ready
 */
export function useBlankPage({ skip, requireReady }) {
  const blank = { browser: null, page: null };
  before(async () => {
    if (skip) return;
    requireReady();
    blank.browser = await launch({ webgpu: false });
    blank.page = await blank.browser.context.newPage();
    await blank.page.goto(`${blank.browser.url}bench/blank.html`);
  });
  after(async () => {
    await blank.browser?.close();
  });
  return blank;
}

/**
 * Open the page and collect what it logs, so a failing test can show it.
 * @param {import('playwright-core').BrowserContext} context
 * @param {string} url
 */
export async function openPage(context, url) {
  const page = await context.newPage();
  const log = [];
  page.on('console', (m) => log.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => log.push(`[pageerror] ${e.message}`));
  page.on('worker', (w) => w.on('console', (m) => log.push(`[worker ${m.type()}] ${m.text()}`)));
  const t0 = performance.now();
  await page.goto(url);
  return { page, log, openedAt: t0 };
}

export const SAMPLE_CSV = resolve(ROOT, '..', 'shared', 'data', 'amazon-fine-food', 'sample-2k.csv');
export const SCREENSHOTS = join(ROOT, 'test-results', 'screenshots');

/** Save a full-page screenshot under test-results/screenshots (git-ignored) for a reviewer. */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Wait for the default classifier (or the kept one) to be loaded in the page. */
export async function waitClassifier(page) {
  const meta = await withTimeout(
    page.evaluate(() => window.bertweb.classifierReady),
    60_000,
    'loading the classifier',
  );
  if (!meta) throw new Error(`no classifier loaded: ${await page.textContent('#classify-status')}`);
  return meta;
}

/** Type a review, press Classify, and return the verdict shown ("positive 97 %"). */
export async function classifyTyped(page, text, timeout = 60_000) {
  await page.evaluate(() => {
    document.getElementById('verdict').textContent = '';
    document.getElementById('classify-status').hidden = true;
  });
  await page.fill('#review', text);
  await page.click('#classify');
  await page.waitForFunction(
    () =>
      document.getElementById('verdict').textContent || !document.getElementById('classify-status').hidden,
    null,
    { timeout },
  );
  const verdict = await page.textContent('#verdict');
  if (!verdict) throw new Error(`no verdict: ${await page.textContent('#classify-status')}`);
  return verdict;
}

/** Reject with a message naming `what` when `promise` takes longer than `ms`. */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${Math.round(ms / 1000)} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Wait for `window.bertweb.ready`; returns the encoder info and the ms since `openedAt`.
 * @param {import('playwright-core').Page} page
 */
export async function waitReady(page, openedAt, timeout) {
  await page.waitForFunction(() => 'bertweb' in window, null, { timeout: 30_000 });
  const info = await withTimeout(
    page.evaluate(() => window.bertweb.ready),
    timeout,
    'loading the model',
  );
  return { info, ms: performance.now() - openedAt };
}

/**
 * Embed in the page; returns plain arrays, one per text, and the time the page measured.
 * @param {import('playwright-core').Page} page
 */
export async function embedInPage(page, texts, pooling = 'mean', maxLen = 55, batchSize = 32) {
  return page.evaluate(
    async ({ texts, pooling, maxLen, batchSize }) => {
      const { client } = window.bertweb;
      const t0 = performance.now();
      const flat = await client.embed(texts, pooling, maxLen, { batchSize });
      const ms = performance.now() - t0;
      const dim = flat.length / texts.length;
      const rows = [];
      for (let i = 0; i < texts.length; i++) rows.push(Array.from(flat.subarray(i * dim, (i + 1) * dim)));
      return { rows, ms, device: client.device };
    },
    { texts, pooling, maxLen, batchSize },
  );
}

/** Largest absolute difference between two equal-length arrays (Infinity when lengths differ). */
export function maxAbsDiff(a, b) {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * Watch a context, before its page opens, for what the page's Content Security Policy refuses
 * and where its requests go. `violations`: each `securitypolicyviolation` event in its pages
 * ("directive: blocked URI") and each console message about the policy from its pages and their
 * workers (how the browser reports a worker's refusals, and a policy it could not parse).
 * `requests`: the URL of every request of its pages, their workers and the service worker.
 * @param {import('playwright-core').BrowserContext} context
 * @returns {Promise<{violations: string[], requests: string[]}>}
 */
export async function watchSecurity(context) {
  const seen = { violations: [], requests: [] };
  await context.exposeBinding('__bertwebCspViolation', (_source, text) => seen.violations.push(text));
  await context.addInitScript(() => {
    addEventListener('securitypolicyviolation', (e) =>
      /** @type {any} */ (window).__bertwebCspViolation(`${e.effectiveDirective}: ${e.blockedURI}`),
    );
  });
  const messages = new Set();
  const onConsole = (m) => {
    if (messages.has(m) || !/content[- ]security[- ]policy/i.test(m.text())) return;
    messages.add(m);
    seen.violations.push(`[console ${m.type()}] ${m.text()}`);
  };
  context.on('console', onConsole);
  context.on('page', (page) => page.on('worker', (w) => w.on('console', onConsole)));
  context.on('serviceworker', (w) => w.on('console', onConsole));
  context.on('request', (r) => seen.requests.push(r.url()));
  return seen;
}

// ---- transformers.js, as another tool loads an exported classifier -------------------------

/**
 * transformers.js's browser build with onnxruntime-web bundled in (`dist/transformers.js`; the
 * CDN serves its minified twin), and onnxruntime-web's wasm files, which that build loads from
 * `env.backends.onnx.wasm.wasmPaths` (a CDN unless told otherwise).
 */
export const TRANSFORMERS_JS_DIST = join(ROOT, 'node_modules', '@huggingface', 'transformers', 'dist');
export const ONNXRUNTIME_WEB_DIST = join(ROOT, 'node_modules', 'onnxruntime-web', 'dist');

/** Why transformers.js cannot run here, or null. */
export function missingTransformersJs() {
  for (const f of [
    join(TRANSFORMERS_JS_DIST, 'transformers.js'),
    join(ONNXRUNTIME_WEB_DIST, 'ort.wasm.mjs'),
  ]) {
    if (!existsSync(f)) return `${f.slice(ROOT.length + 1)} (run scripts/setup_browser.sh or npm ci)`;
  }
  return null;
}

/**
 * Serve, on 127.0.0.1 only, a blank page at `/`, transformers.js at `/transformers/`,
 * onnxruntime-web at `/ort/` and `folder` at `/my-classifier/`: a plain site as a user's would
 * be (no CSP, no cross-origin isolation, so onnxruntime-web runs single-threaded).
 */
async function serveTransformersJs(folder) {
  const roots = {
    transformers: TRANSFORMERS_JS_DIST,
    ort: ONNXRUNTIME_WEB_DIST,
    'my-classifier': resolve(folder),
  };
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/') {
      res.writeHead(200, { 'Content-Type': MIME_TYPES['.html'] });
      return res.end('<!doctype html><meta charset="utf-8"><title>transformers.js</title>');
    }
    const [, top, ...rest] = path.split('/');
    const file = top in roots ? resolveUnderRoot(roots[top], `/${rest.join('/')}`) : null;
    const info = file === null ? null : statSync(file, { throwIfNoEntry: false });
    if (!file || !info?.isFile()) {
      res.writeHead(404, { 'Content-Type': MIME_TYPES['.txt'] });
      return res.end(`not found: ${path}\n`);
    }
    res.writeHead(200, {
      'Content-Type': MIME_TYPES[extname(file)] ?? 'application/octet-stream',
      'Content-Length': info.size,
    });
    createReadStream(file)
      .on('error', (err) => res.destroy(err))
      .pipe(res);
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(undefined)));
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise((ok) => {
        server.close(() => ok(undefined));
        server.closeAllConnections();
      }),
  };
}

/**
 * Classify `texts` as a web page using transformers.js would: headless Chromium (no WebGPU, so
 * onnxruntime-web on wasm), `pipeline('text-classification', './my-classifier')` with
 * `top_k: null`, everything served from this machine. A request that would leave it (the Hugging
 * Face Hub, a CDN) is refused and fails the run.
 * @param {string} folder an exported classifier: config.json, tokenizer.json,
 *   tokenizer_config.json, onnx/model.onnx
 * @param {string[]} texts
 * @param {{context?: import('playwright-core').BrowserContext, dtype?: string, model?: string}}
 *   [options] `context`: a browser to open the page in (default: one launched and closed here);
 *   `dtype`: passed to pipeline() (default: none, so config.json's `transformers.js_config`
 *   decides); `model`: the name given to pipeline(), './my-classifier' (a path from the page)
 *   or 'my-classifier' (a name under env.localModelPath, which is set to '/')
 * @returns {Promise<{label: string, score: number}[][]>} per text, every label, best first
 */
export async function runTransformersJs(folder, texts, { context, dtype, model = './my-classifier' } = {}) {
  const site = await serveTransformersJs(folder);
  const own = context ? null : await launch({ webgpu: false });
  const page = await (context ?? own.context).newPage();
  const log = [];
  page.on('console', (m) => log.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => log.push(`[pageerror] ${e.message}`));
  const offsite = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(site.url)) return route.continue();
    offsite.push(url);
    return route.abort('blockedbyclient');
  });
  try {
    await page.goto(site.url);
    const results = await page.evaluate(
      async ({ texts, dtype, model }) => {
        const { env, pipeline } = await import('/transformers/transformers.js');
        env.allowLocalModels = true; // off by default in a browser
        env.allowRemoteModels = false; // never the Hugging Face Hub
        env.localModelPath = '/'; // where a bare name ('my-classifier') is looked for
        env.useBrowserCache = false; // each run is a new server: a cached copy would only cost time
        const wasm = /** @type {any} */ (env.backends.onnx).wasm;
        wasm.wasmPaths = '/ort/'; // onnxruntime-web's .mjs and .wasm from here, not a CDN
        wasm.numThreads = 1;
        const classify = await pipeline('text-classification', model, dtype ? { dtype } : {});
        try {
          return await classify(texts, { top_k: null });
        } finally {
          await classify.dispose();
        }
      },
      { texts, dtype, model },
    );
    if (offsite.length) throw new Error(`requests that would leave this machine: ${offsite.join(', ')}`);
    return /** @type {{label: string, score: number}[][]} */ (results);
  } catch (err) {
    const logged = log.length ? `\npage log:\n${log.join('\n')}` : '';
    throw new Error(`transformers.js on ${folder}: ${/** @type {Error} */ (err).message}${logged}`, {
      cause: err,
    });
  } finally {
    await page.close().catch(() => {});
    await own?.close();
    await site.close();
  }
}

/**
 * Pick a model folder's `config.json`, `model.safetensors` and `tokenizer.json` as the page's
 * model files, as a user would; resolves once the load has ended, to the status line.
 * @param {import('playwright-core').Page} page
 * @param {string} dir
 * @returns {Promise<{kind: string | null, text: string | null}>}
 */
export async function pickModelFolder(page, dir) {
  const file = (name) => ({
    name,
    mimeType: name.endsWith('.json') ? 'application/json' : 'application/octet-stream',
    buffer: readFileSync(join(dir, name)),
  });
  await page.evaluate(() => {
    document.getElementById('status').dataset.kind = 'info';
  });
  await page.setInputFiles('#model-files', [
    file('config.json'),
    file('model.safetensors'),
    file('tokenizer.json'),
  ]);
  await page.waitForSelector('#status:not([data-kind="info"])', { timeout: 60_000 });
  return { kind: await page.getAttribute('#status', 'data-kind'), text: await page.textContent('#status') };
}

/**
 * Launch Chromium (no WebGPU) on the page, on the CPU, and wait until its model is loaded: the
 * start of most page tests. Close it with `closeApp`.
 * @returns {Promise<{browser: Awaited<ReturnType<typeof launch>>, page: import('playwright-core').Page, log: string[]}>}
 */
export async function openApp() {
  const browser = await launch({ webgpu: false });
  const { page, log, openedAt } = await openPage(browser.context, `${browser.url}?device=cpu`);
  await waitReady(page, openedAt, 120_000);
  return { browser, page, log };
}

/**
 * Print the lines of the page's `log` that `errors` matches (what a failing test needs), then
 * close its browser.
 * @param {{close: () => Promise<void>} | undefined} browser
 * @param {string[]} log
 * @param {RegExp} [errors]
 */
export async function closeApp(browser, log, errors = /^\[(pageerror|error|worker error)\]/) {
  const seen = log.filter((l) => errors.test(l));
  if (seen.length) console.log(`# page errors:\n${seen.map((l) => `#   ${l}`).join('\n')}`);
  await browser?.close();
}

/**
 * Wait until status line `id` (a section's `#…-status`) shows something other than `info`;
 * returns its kind (`ok`, `warn`, `error`) and text.
 */
export async function waitStatus(page, id, timeout = 60_000) {
  await page.waitForSelector(`#${id}:not([hidden]):not([data-kind="info"])`, { timeout });
  return { kind: await page.getAttribute(`#${id}`, 'data-kind'), text: await page.textContent(`#${id}`) };
}

/** Mark status line `id` as `info`, so that waitStatus waits for the next message. */
export async function resetStatus(page, id) {
  await page.evaluate((id) => {
    document.getElementById(id).dataset.kind = 'info';
  }, id);
}
