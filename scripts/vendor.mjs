#!/usr/bin/env node
// Copies the page's one third-party module, uPlot (MIT, charts), from node_modules into
// www/vendor/uplot/, where it is committed so the page can be served without npm.
//
//   npm ci && node scripts/vendor.mjs     (after changing uplot's version in package.json)

import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const from = join(ROOT, 'node_modules', 'uplot');
const to = join(ROOT, 'www', 'vendor', 'uplot');
mkdirSync(to, { recursive: true });
for (const [src, dst] of [
  ['dist/uPlot.esm.js', 'uPlot.esm.js'],
  ['dist/uPlot.min.css', 'uPlot.min.css'],
  ['LICENSE', 'LICENSE'],
]) {
  copyFileSync(join(from, src), join(to, dst));
}
const { version } = JSON.parse(readFileSync(join(from, 'package.json'), 'utf8'));
console.log(`www/vendor/uplot: uPlot ${version}`);
