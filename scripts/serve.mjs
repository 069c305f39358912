#!/usr/bin/env node
// Static file server for the repo root, for the bertweb page and its browser tests.
//
//   node scripts/serve.mjs [PORT]      (or PORT=8080 node scripts/serve.mjs; 0 picks a free port)
//
// Listens on 127.0.0.1 only. Sends COOP/COEP so the page is cross-origin isolated (needed for
// wasm threads / SharedArrayBuffer later), and a file's precompressed copy (FILE.br, FILE.gz from
// scripts/compress.mjs) to browsers that accept it. No dependencies; `startServer` is exported
// so tests can run it in-process.

import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
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

const SECURITY_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
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
 * Start the static server.
 * `cors` lets pages of other origins read the files (as huggingface.co does), so tests can
 * stand in for a model host.
 * @param {{root?: string, port?: number, host?: string, quiet?: boolean, cors?: boolean}} [options]
 * @returns {Promise<{server: import('node:http').Server, url: string, port: number, close: () => Promise<void>}>}
 */
export async function startServer({
  root = REPO_ROOT,
  port = 8080,
  host = '127.0.0.1',
  quiet = true,
  cors = false,
} = {}) {
  const rootDir = resolve(root);
  const server = createServer((req, res) => {
    if (cors) {
      res.setHeader('Access-Control-Allow-Origin', '*');
      res.setHeader('Cross-Origin-Resource-Policy', 'cross-origin');
    }
    handle(rootDir, req, res, quiet).catch((err) => {
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

async function handle(root, req, res, quiet) {
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
  if (file === null) return send(res, 403, 'forbidden\n');

  let info = await stat(file).catch(() => null);
  if (info?.isDirectory()) {
    if (!pathname.endsWith('/')) {
      res.writeHead(301, { ...securityHeaders(res), Location: `${pathname}/` });
      return res.end();
    }
    file = join(file, 'index.html');
    info = await stat(file).catch(() => null);
  }
  if (!info?.isFile()) {
    if (!quiet) console.log(`404 ${pathname}`);
    return send(res, 404, `not found: ${pathname}\n`);
  }

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
