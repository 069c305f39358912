// scripts/serve.mjs: what the page needs from its server (no browser involved).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'node:http';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { compress } from '../../scripts/compress.mjs';
import { acceptsEncoding, startServer } from '../../scripts/serve.mjs';
import { ROOT } from './harness.mjs';

let server;
before(async () => {
  server = await startServer({ root: ROOT, port: 0 });
});
after(() => server.close());

/** GET a raw path (not normalised by a URL parser) and return status, headers and body. */
function get(path, method = 'GET', headers = {}, port = server.port) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
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
  assert.match((await get('/package.json')).headers['content-type'], /^application\/json/);
  const head = await get('/package.json', 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  assert.ok(Number(head.headers['content-length']) > 0);
});

test('never serves files outside the root', async () => {
  for (const path of [
    '/..%2f..%2fetc%2fpasswd',
    '/%2e%2e/%2e%2e/etc/passwd',
    '/www/..%2f..%2f..%2fetc/passwd',
  ]) {
    const res = await get(path);
    assert.ok([403, 404].includes(res.status), `${path} -> ${res.status}`);
    assert.doesNotMatch(res.body.toString(), /root:/);
  }
  assert.equal((await get('/%E0%A4%A')).status, 403);
  assert.equal((await get('/no-such-file')).status, 404);
  assert.equal((await get('//')).status, 200, 'a doubled slash is the root, not a server error');
  assert.equal((await get('/', 'POST')).status, 405);
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
