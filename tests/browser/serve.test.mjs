// scripts/serve.mjs: what the page needs from its server (no browser involved).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'node:http';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { compress } from '../../scripts/compress.mjs';
import { CONTENT_SECURITY_POLICY, acceptsEncoding, startServer } from '../../scripts/serve.mjs';
import { ROOT } from './harness.mjs';

let server;
before(async () => {
  server = await startServer({ root: ROOT, port: 0 });
});
after(() => server.close());

/**
 * GET a raw path (not normalised by a URL parser) and return status, headers and body.
 * `headers` may name a Host of its own; a Host of null sends none.
 */
function get(path, method = 'GET', headers = {}, port = server.port) {
  const { Host: host, ...rest } = headers;
  const options = { host: '127.0.0.1', port, path, method, headers: rest, setHost: host === undefined };
  if (host) options.headers.Host = host;
  return new Promise((resolve, reject) => {
    const req = request(options, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

test('port 0 picks a free port on 127.0.0.1', () => {
  assert.ok(server.port > 0);
  assert.equal(server.url, `http://127.0.0.1:${server.port}/`);
});

test('serves the page with cross-origin isolation headers and right MIME types', async () => {
  const page = await get('/');
  assert.equal(page.status, 200);
  assert.match(page.headers['content-type'], /^text\/html/);
  assert.equal(page.headers['cross-origin-opener-policy'], 'same-origin');
  assert.equal(page.headers['cross-origin-embedder-policy'], 'require-corp');
  assert.match(page.body.toString(), /<title>bertweb/);

  const js = await get('/www/main.js');
  assert.equal(js.status, 200);
  assert.match(js.headers['content-type'], /^text\/javascript/);
  assert.match((await get('/www/style.css')).headers['content-type'], /^text\/css/);
  assert.match((await get('/sw.js')).headers['content-type'], /^text\/javascript/);
  assert.match((await get('/classifiers/README.md')).headers['content-type'], /^text\/markdown/);
  const head = await get('/classifiers/default-minilm.safetensors', 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  assert.ok(Number(head.headers['content-length']) > 0);
  assert.equal((await get('/bench/blank.html')).status, 200, 'the empty page the tests drive modules from');
});

test('the page and every file carry the Content Security Policy, no referrer and nosniff', async () => {
  for (const path of ['/', '/index.html', '/www/worker.js', '/sw.js', '/no-such-file']) {
    const res = await get(path);
    assert.equal(res.headers['content-security-policy'], CONTENT_SECURITY_POLICY, path);
    assert.equal(res.headers['referrer-policy'], 'no-referrer', path);
    assert.equal(res.headers['x-content-type-options'], 'nosniff', path);
  }
  const policy = new Map(
    CONTENT_SECURITY_POLICY.split(';').map((d) => {
      const [name, ...sources] = d.trim().split(/\s+/);
      return [name, sources];
    }),
  );
  assert.deepEqual(policy.get('default-src'), ["'none'"]);
  assert.deepEqual(policy.get('script-src'), ["'self'", "'wasm-unsafe-eval'"], 'no inline script, no eval');
  assert.deepEqual(policy.get('style-src'), ["'self'"], 'no inline style');
  assert.deepEqual(policy.get('frame-ancestors'), ["'none'"]);
  assert.ok(!policy.get('connect-src').includes('http:'), 'plain http only on this machine');
});

test('index.html carries the same policy for static hosting, and needs nothing it forbids', () => {
  const html = readFileSync(join(ROOT, 'index.html'), 'utf8');
  const meta = html.match(/<meta http-equiv="Content-Security-Policy" content="([^"]*)">/);
  assert.ok(meta, 'a CSP <meta>');
  const header = CONTENT_SECURITY_POLICY.split('; ').filter((d) => !d.startsWith('frame-ancestors'));
  assert.equal(meta[1], header.join('; '), "the header's policy less frame-ancestors (ignored in a <meta>)");
  assert.ok(html.indexOf(meta[0]) < html.search(/<(link|script|style)\b/), 'before anything it governs');
  assert.match(html, /<meta name="referrer" content="no-referrer">/);
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
  assert.doesNotMatch(html, /<style\b|\sstyle=|\son[a-z]+=/i, 'no inline style or event handler');
});

test('serves the app alone: dotfiles and the rest of the repo answer 404', async () => {
  const repoFiles = ['/.gitignore', '/Cargo.toml', '/package.json', '/src/lib.rs', '/scripts/serve.mjs'];
  for (const path of repoFiles) assert.ok(existsSync(join(ROOT, path)), `${path} is in the repo`);
  for (const path of [
    ...repoFiles,
    '/.git/config',
    '/.git/HEAD',
    '/%2egit/config',
    '/www/.hidden',
    '/src',
    '/src/',
    '/tests/fixtures/minilm.json',
    '/bench/browser_bench.mjs',
    '/www/..%2fCargo.toml',
    '/www/%2e%2e/Cargo.toml',
    '/../etc/passwd',
    '/..%2f..%2fetc%2fpasswd',
    '/%2e%2e/%2e%2e/etc/passwd',
    '/www/..%2f..%2f..%2fetc/passwd',
    '/%E0%A4%A',
  ]) {
    const res = await get(path);
    assert.equal(res.status, 404, `${path} -> ${res.status}`);
    assert.match(res.body.toString(), /^not found: \S*\n$/, `${path} shows nothing of the file`);
  }
  assert.equal((await get('/no-such-file')).status, 404);
  assert.equal((await get('//')).status, 200, 'a doubled slash is the root, not a server error');
  const folder = await get('//www');
  assert.equal(folder.status, 301);
  assert.equal(folder.headers.location, '/www/', 'the folder on this host, never a host "www"');
  assert.equal((await get('/', 'POST')).status, 405);
});

test('answers only to its own loopback name and port (no DNS rebinding)', async () => {
  for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`, `[::1]:${server.port}`]) {
    assert.equal((await get('/', 'GET', { Host: host })).status, 200, host);
  }
  assert.equal((await get('/', 'GET', { Host: `LocalHost:${server.port}` })).status, 200, 'any case');
  for (const host of [
    `evil.example:${server.port}`,
    'evil.example',
    `127.0.0.1:${server.port + 1}`,
    '127.0.0.1',
    `127.0.0.1.evil.example:${server.port}`,
  ]) {
    const res = await get('/', 'GET', { Host: host });
    assert.equal(res.status, 421, host);
    assert.doesNotMatch(res.body.toString(), /bertweb/, `${host} reads nothing of the app`);
    assert.equal(res.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
  }
  assert.ok([400, 421].includes((await get('/', 'GET', { Host: null })).status), 'no Host at all');
});

test('Accept-Encoding: listed codings without q=0, and * for the rest', () => {
  const chromium = acceptsEncoding('gzip, deflate, br, zstd');
  assert.ok(chromium('br') && chromium('gzip'));
  assert.ok(!acceptsEncoding(undefined)('gzip'), 'no header: the file as it is');
  const refused = acceptsEncoding('br;q=0, gzip;q=0.5');
  assert.ok(!refused('br') && refused('gzip'));
  const any = acceptsEncoding('*;q=0.1, gzip;q=0');
  assert.ok(any('br') && !any('gzip'));
  const spaced = acceptsEncoding('br ; q=0 , *');
  assert.ok(!spaced('br') && spaced('gzip'), 'spaces around a coding and its weight');
  assert.ok(!acceptsEncoding('br;q=abc')('br'), 'a weight that is not a number refuses');
});

test('sends a current precompressed copy to browsers that accept it, else the file', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'bertweb-serve-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const wasm = join(root, 'm.wasm');
  const original = Buffer.from('\0asm'.repeat(5000));
  writeFileSync(wasm, original);
  const sizes = await compress(wasm);
  assert.ok(sizes.br < sizes.raw && sizes.gzip < sizes.raw);
  assert.deepEqual(readdirSync(root).sort(), ['m.wasm', 'm.wasm.br', 'm.wasm.gz'], 'no temporary file left');
  const own = await startServer({ root, port: 0 });
  t.after(() => own.close());
  writeFileSync(join(root, '.secret'), 'token');
  assert.equal(
    (await get('/.secret', 'GET', {}, own.port)).status,
    404,
    'another root: dotfiles still hidden',
  );

  const br = await get('/m.wasm', 'GET', { 'Accept-Encoding': 'gzip, deflate, br, zstd' }, own.port);
  assert.equal(br.headers['content-encoding'], 'br');
  assert.equal(br.headers['content-type'], 'application/wasm');
  assert.equal(br.headers.vary, 'Accept-Encoding');
  assert.equal(Number(br.headers['content-length']), sizes.br);
  assert.deepEqual(brotliDecompressSync(br.body), original);

  const gz = await get('/m.wasm', 'GET', { 'Accept-Encoding': 'gzip' }, own.port);
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.deepEqual(gunzipSync(gz.body), original);

  const plain = await get('/m.wasm', 'GET', {}, own.port);
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.equal(plain.headers.vary, 'Accept-Encoding', 'the plain answer depends on Accept-Encoding too');
  assert.deepEqual(plain.body, original);
  assert.equal(
    (await get('/', 'GET', { 'Accept-Encoding': 'br' })).headers.vary,
    undefined,
    'a file with no copies',
  );

  const head = await get('/m.wasm', 'HEAD', { 'Accept-Encoding': 'br' }, own.port);
  assert.equal(Number(head.headers['content-length']), sizes.br);
  assert.equal(head.body.length, 0);

  // A rebuilt file with the old copies still beside it: the copies are stale, never sent.
  const later = new Date(Date.now() + 60_000);
  utimesSync(wasm, later, later);
  const stale = await get('/m.wasm', 'GET', { 'Accept-Encoding': 'br, gzip' }, own.port);
  assert.equal(stale.headers['content-encoding'], undefined);
  assert.equal(stale.headers.vary, undefined, 'stale copies do not count');
  assert.deepEqual(stale.body, original);
});
