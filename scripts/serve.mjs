#!/usr/bin/env node
// Static file server for the repo root, for the bertweb page and its browser tests.
//
//   node scripts/serve.mjs [PORT]      (or PORT=8080 node scripts/serve.mjs; 0 picks a free port)
//
// Listens on 127.0.0.1 only and serves the app alone (APP_PATHS): no dotfile, source, script or
// test. Answers only requests addressed to its own loopback name and port (a page on another
// site that rebinds its DNS name to 127.0.0.1 is refused). Sends COOP/COEP so the page is
// cross-origin isolated (needed for wasm threads / SharedArrayBuffer later), a Content Security
// Policy (CONTENT_SECURITY_POLICY), no referrer, and a file's precompressed copy (FILE.br,
// FILE.gz from scripts/compress.mjs) to browsers that accept it. No dependencies; `startServer`
// is exported so tests can run it in-process.

import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repo root: the parent of scripts/. */
export const REPO_ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

/** Content types by file extension (lower case, with the dot). */
export const MIME_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.safetensors': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.txt': 'text/plain; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json; charset=utf-8',
};

/**
 * What of the repo is the app, and all the server sends from it: these files, and everything
 * under the folders (a trailing slash). bench/blank.html is the empty page of the app's origin
 * that the browser tests and benchmarks drive the modules from. The rest (sources, scripts,
 * tests, Cargo and npm files, .git) answers 404, as if it were not there.
 */
export const APP_PATHS = [
  'index.html',
  'sw.js',
  'www/',
  'pkg/',
  'models/',
  'classifiers/',
  'bench/blank.html',
];

/**
 * The page's Content Security Policy, sent with every response. index.html carries the same
 * policy in a <meta> for static hosting, less frame-ancestors, which a <meta> cannot carry
 * (tests/browser/serve.test.mjs checks that the two agree).
 * - default-src 'none': nothing the page does not use below (no frames, fonts, media, objects,
 *   manifest).
 * - script-src 'self' 'wasm-unsafe-eval': the page's modules and workers from this origin only,
 *   no inline script and no eval; 'wasm-unsafe-eval' lets the workers compile the wasm builds.
 * - worker-src 'self': the worker, its helper workers and the service worker (no blob: workers).
 * - connect-src: the page fetches its own files, and a model folder from a URL the user types
 *   (the "Or a folder URL" field). A header cannot know that URL in advance, so any https origin is
 *   allowed; plain http only on this machine (a model folder served locally; the browser tests
 *   stand one up on another port), since plain http elsewhere lets the network read and swap
 *   the model. So the policy cannot stop data leaving for an https host: what keeps it in is that
 *   no script but the page's own can run.
 * - style-src 'self': the two style sheets; no inline style (uPlot styles through the CSSOM,
 *   which the policy allows).
 * - img-src 'self' data:: the empty data: favicon; charts are canvas and SVG built in the DOM.
 * - base-uri 'none', form-action 'self': no <base> to redirect relative URLs, forms submit only
 *   here (the page's forms are handled in script).
 * - frame-ancestors 'none': no other site can frame the page (clickjacking).
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self'",
  "connect-src 'self' https: http://127.0.0.1:* http://localhost:*",
  "style-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
};

/** Precompressed copies a file may have, in the order they are preferred (smallest first). */
const PRECOMPRESSED = [
  { encoding: 'br', suffix: '.br' },
  { encoding: 'gzip', suffix: '.gz' },
];

/**
 * The content codings an Accept-Encoding header allows: each listed one without q=0, and
 * `*` for any not listed.
 * @param {string | undefined} header
 * @returns {(encoding: string) => boolean}
 */
export function acceptsEncoding(header) {
  const q = new Map();
  for (const part of (header ?? '').split(',')) {
    const [name, ...params] = part
      .toLowerCase()
      .split(';')
      .map((p) => p.trim());
    if (!name) continue;
    const weight = params.find((p) => p.startsWith('q='));
    // A weight that is not a number refuses, rather than guessing.
    q.set(name, weight === undefined ? 1 : Number(weight.slice(2)) || 0);
  }
  return (encoding) => (q.get(encoding) ?? q.get('*') ?? 0) > 0;
}

/**
 * The current precompressed copies of `file`, preferred first. A copy older than its file is
 * from an earlier build, so it is left out (and never sent).
 * @param {string} file
 * @param {import('node:fs').Stats | null} [info] the file's, when the caller has it
 * @returns {Promise<{encoding: string, file: string, size: number}[]>}
 */
export async function precompressedCopies(file, info) {
  info ??= await stat(file).catch(() => null);
  if (!info?.isFile()) return [];
  const copies = await Promise.all(
    PRECOMPRESSED.map(async ({ encoding, suffix }) => {
      const copy = await stat(file + suffix).catch(() => null);
      return copy?.isFile() && copy.mtimeMs >= info.mtimeMs
        ? { encoding, file: file + suffix, size: copy.size }
        : null;
    }),
  );
  return copies.filter(Boolean);
}

/**
 * Map a request path to a file under `root`, or null when it would leave the root
 * (after decoding `%2e%2e` and friends) or is malformed.
 * @param {string} root absolute, resolved root folder
 * @param {string} urlPath the request's path, e.g. "/www/main.js"
 * @returns {string | null}
 */
export function resolveUnderRoot(root, urlPath) {
  let decoded;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0')) return null;
  const file = resolve(join(root, decoded));
  if (file !== root && !file.startsWith(root.endsWith(sep) ? root : root + sep)) return null;
  return file;
}

/**
 * Whether a path under the root may be served: never a dotfile or anything in a dot-folder, and
 * with an `app` list (APP_PATHS) only what it names.
 * @param {string} rel '/'-separated path relative to the root, '' for the root itself
 * @param {string[] | null} app
 */
export function isServed(rel, app) {
  const parts = rel.split('/').filter(Boolean);
  if (parts.some((p) => p.startsWith('.'))) return false;
  if (!app || !parts.length) return true;
  const path = parts.join('/');
  return app.some((entry) =>
    entry.endsWith('/') ? path === entry.slice(0, -1) || path.startsWith(entry) : path === entry,
  );
}

/**
 * The Host headers the server answers: its loopback names with its port (and without it on
 * port 80, where browsers leave it out). A request naming any other host reached it by a DNS
 * name rebound to 127.0.0.1, from a page of another site: refused.
 * @param {string} host the address it listens on
 * @param {number} port
 * @returns {Set<string>}
 */
export function allowedHosts(host, port) {
  const names = new Set(['127.0.0.1', 'localhost', '[::1]']);
  if (!['0.0.0.0', '::'].includes(host)) names.add(host.includes(':') ? `[${host}]` : host);
  const hosts = new Set();
  for (const name of names) {
    hosts.add(`${name}:${port}`.toLowerCase());
    if (port === 80) hosts.add(name.toLowerCase());
  }
  return hosts;
}

/**
 * Start the static server.
 * `app` is what it serves of `root` (see isServed): APP_PATHS for the repo, everything (but
 * dotfiles) for another root, such as a test's folder standing in for a model host.
 * `cors` lets pages of other origins read the files (as huggingface.co does), so tests can
 * stand in for a model host.
 * @param {{root?: string, port?: number, host?: string, quiet?: boolean, cors?: boolean,
 *   app?: string[] | null}} [options]
 * @returns {Promise<{server: import('node:http').Server, url: string, port: number, close: () => Promise<void>}>}
 */
export async function startServer({
  root = REPO_ROOT,
  port = 8080,
  host = '127.0.0.1',
  quiet = true,
  cors = false,
  app = resolve(root) === REPO_ROOT ? APP_PATHS : null,
} = {}) {
  const rootDir = resolve(root);
  /** @type {Set<string>} known once listening */
  let hosts = new Set();
  const server = createServer((req, res) => {
    if (cors) {
      res.setHeader('Access-Control-Allow-Origin', '*');
      res.setHeader('Cross-Origin-Resource-Policy', 'cross-origin');
    }
    if (!hosts.has(req.headers.host?.toLowerCase() ?? '')) {
      return send(res, 421, `misdirected request: this server answers only to http://${[...hosts][0]}/\n`);
    }
    handle(rootDir, app, req, res, quiet).catch((err) => {
      if (!res.headersSent) send(res, 500, `internal error: ${err.message}\n`);
      else res.destroy(err);
    });
  });
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      ok();
    });
  });
  const actual = /** @type {import('node:net').AddressInfo} */ (server.address()).port;
  hosts = allowedHosts(host, actual);
  const url = `http://${host}:${actual}/`;
  return {
    server,
    url,
    port: actual,
    close: () =>
      new Promise((ok) => {
        server.close(() => ok());
        server.closeAllConnections?.();
      }),
  };
}

/** The security headers, except that a CORS server keeps its cross-origin CORP. */
function securityHeaders(res) {
  return res.getHeader('Access-Control-Allow-Origin')
    ? { ...SECURITY_HEADERS, 'Cross-Origin-Resource-Policy': 'cross-origin' }
    : SECURITY_HEADERS;
}

function send(res, status, text) {
  res.writeHead(status, { ...securityHeaders(res), 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(text);
}

function notFound(res, pathname, quiet) {
  if (!quiet) console.log(`404 ${pathname}`);
  send(res, 404, `not found: ${pathname}\n`);
}

async function handle(root, app, req, res, quiet) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return send(res, 405, 'method not allowed\n');
  }
  // Appended, not resolved against a base: a path such as "//" would read as a host and throw.
  let pathname;
  try {
    ({ pathname } = new URL(`http://localhost${req.url?.startsWith('/') ? req.url : '/'}`));
  } catch {
    return send(res, 400, 'bad request\n');
  }
  let file = resolveUnderRoot(root, pathname);
  const rel = file === null ? null : relative(root, file).split(sep).join('/');
  // Outside the root, a dotfile or not the app: the same answer as a missing file.
  if (rel === null || !isServed(rel, app)) return notFound(res, pathname, quiet);

  let info = await stat(file).catch(() => null);
  if (info?.isDirectory()) {
    if (!pathname.endsWith('/')) {
      // The folder's own path, rebuilt: "//www" must not send the browser to a host "www".
      const location = rel ? `/${rel.split('/').map(encodeURIComponent).join('/')}/` : '/';
      res.writeHead(301, { ...securityHeaders(res), Location: location });
      return res.end();
    }
    file = join(file, 'index.html');
    info = await stat(file).catch(() => null);
  }
  if (!info?.isFile()) return notFound(res, pathname, quiet);

  const copies = await precompressedCopies(file, info);
  const accepts = acceptsEncoding(req.headers['accept-encoding']);
  const copy = copies.find((c) => accepts(c.encoding));
  res.writeHead(200, {
    ...securityHeaders(res),
    'Content-Type': MIME_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': copy ? copy.size : info.size,
    ...(copy && { 'Content-Encoding': copy.encoding }),
    // Which body a request gets depends on its Accept-Encoding: caches must keep them apart.
    ...(copies.length && { Vary: 'Accept-Encoding' }),
    // Models are large and pkg/ changes on every build: let the browser revalidate.
    'Cache-Control': 'no-cache',
    'Last-Modified': info.mtime.toUTCString(),
  });
  if (req.method === 'HEAD') return res.end();
  const stream = createReadStream(copy ? copy.file : file);
  stream.on('error', (err) => res.destroy(err));
  stream.pipe(res);
  if (!quiet) console.log(`200 ${pathname}`);
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const raw = process.argv[2] ?? process.env.PORT ?? '8080';
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`bertweb: bad port ${JSON.stringify(raw)} (want 0..65535)`);
    process.exit(2);
  }
  try {
    const { url } = await startServer({ port, quiet: !process.env.VERBOSE });
    console.log(`bertweb: serving on ${url}`);
  } catch (err) {
    console.error(`bertweb: cannot listen on 127.0.0.1:${port}: ${err.message}`);
    process.exit(1);
  }
}
