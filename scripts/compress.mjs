#!/usr/bin/env node
// Precompressed copies of the page's wasm, for servers that send them as they are:
// FILE.br (brotli, quality 11) and FILE.gz (gzip -9) next to each FILE.
//
//   node scripts/compress.mjs FILE...
//
// Copies newer than their FILE are current and kept (--force rewrites them), so a build with
// nothing changed compresses nothing. scripts/build.sh runs it on every build; scripts/serve.mjs
// sends FILE.br or FILE.gz to browsers that accept them. Brotli at its best quality makes a
// clearly smaller download than gzip, but takes far too long to run per request: a build step
// (sizes and times: docs/PERFORMANCE.md).

import { readFile, rename, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import { precompressedCopies } from './serve.mjs';

const brotli = promisify(brotliCompress);
const gz = promisify(gzip);

/**
 * Write FILE.br and FILE.gz; they are written after FILE, so the server can tell a stale copy
 * (older than its FILE) from a current one.
 * @param {string} file
 * @returns {Promise<{file: string, raw: number, br: number, gzip: number}>}
 */
export async function compress(file) {
  const raw = await readFile(file);
  const [br, gzipped] = await Promise.all([
    brotli(raw, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
        [constants.BROTLI_PARAM_LGWIN]: constants.BROTLI_MAX_WINDOW_BITS,
        [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
      },
    }),
    gz(raw, { level: constants.Z_BEST_COMPRESSION }),
  ]);
  // Whole or not at all: a copy cut short (disk full, ^C) would be newer than FILE, so current.
  const place = async (suffix, bytes) => {
    await writeFile(`${file}${suffix}.tmp`, bytes);
    await rename(`${file}${suffix}.tmp`, `${file}${suffix}`);
  };
  await Promise.all([place('.br', br), place('.gz', gzipped)]);
  return { file, raw: raw.length, br: br.length, gzip: gzipped.length };
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const force = process.argv.includes('--force');
  const files = process.argv.slice(2).filter((a) => a !== '--force');
  if (!files.length) {
    console.error('usage: node scripts/compress.mjs [--force] FILE...');
    process.exit(2);
  }
  const mb = (n) => `${(n / 1e6).toFixed(2)} MB`;
  const stale = [];
  for (const file of files) {
    // Current as scripts/serve.mjs judges them: both copies there, none older than FILE.
    if (!force && (await precompressedCopies(file)).length === 2)
      console.log(`${file}: compressed copies are current`);
    else stale.push(file);
  }
  for (const r of await Promise.all(stale.map(compress))) {
    console.log(`${r.file}: ${mb(r.raw)} raw, ${mb(r.gzip)} gzip -9, ${mb(r.br)} brotli`);
  }
}
