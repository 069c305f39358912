// The page's wasm over the wire: Chromium asks for brotli, scripts/serve.mjs sends the .br copy
// that scripts/build.sh wrote, and the browser ends up with the very module that was built.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ROOT, prerequisites, useBlankPage } from './harness.mjs';

const ready = await prerequisites();
const { skip } = ready;

describe('wasm delivery', () => {
  const blank = useBlankPage(ready);

  test(
    'every build travels as their brotli copies and arrive intact',
    { skip, timeout: 60_000 },
    async () => {
      for (const dir of ['pkg/cpu/', 'pkg/cpu-baseline/', 'pkg/']) {
        const file = join(ROOT, dir, 'bertweb_bg.wasm');
        const got = await blank.page.evaluate(async (path) => {
          const url = new URL(path, location.href).href;
          const bytes = await (await fetch(url)).arrayBuffer();
          const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
          const [timing] = performance.getEntriesByName(url).slice(-1);
          return {
            sha256: [...digest].map((b) => b.toString(16).padStart(2, '0')).join(''),
            transferred: timing.encodedBodySize,
            decoded: timing.decodedBodySize,
          };
        }, `/${dir}bertweb_bg.wasm`);
        const bytes = readFileSync(file);
        assert.equal(got.sha256, createHash('sha256').update(bytes).digest('hex'), `${dir} arrives intact`);
        assert.equal(got.decoded, bytes.length);
        assert.equal(got.transferred, statSync(`${file}.br`).size, `${dir} travels as its .br copy`);
        console.log(
          `# ${dir}bertweb_bg.wasm: ${(got.transferred / 1e6).toFixed(2)} MB over the wire for ${(got.decoded / 1e6).toFixed(2)} MB`,
        );
      }
    },
  );
});
