// Offline: after one visit (service worker, Cache API, IndexedDB filled), the server is shut
// down and the browser put offline; a reload still opens the page, loads the model from the
// cache and classifies a typed review.

import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ROOT,
  classifyTyped,
  launch,
  prerequisites,
  openPage,
  screenshot,
  waitClassifier,
  waitReady,
} from './harness.mjs';

const ready = await prerequisites();
const { skip } = ready;

describe('offline after one visit', () => {
  let browser;
  let log = [];
  before(async () => {
    if (skip) return;
    ready.requireReady();
    browser = await launch({ webgpu: false });
  });
  after(async () => {
    const errors = log.filter((l) => /^\[(pageerror|error|worker error)\]/.test(l));
    if (errors.length) console.log(`# page errors:\n${errors.map((l) => `#   ${l}`).join('\n')}`);
    await browser?.close();
  });

  test(
    'with the server gone and the network off, the page reloads and classifies',
    { skip, timeout: 300_000 },
    async () => {
      let page;
      let openedAt;
      ({ page, log, openedAt } = await openPage(browser.context, `${browser.url}?device=cpu`));
      await waitReady(page, openedAt, 120_000);
      await waitClassifier(page);
      // The service worker is active and has the shell.
      const shell = await page.evaluate(async () => {
        await window.bertweb.serviceWorker;
        const name = (await caches.keys()).find((n) => n.startsWith('bertweb-shell-'));
        if (!name) return [];
        const cache = await caches.open(name);
        return (await cache.keys()).map((r) => new URL(r.url).pathname);
      });
      // Every module of the page, so that none is missing when a new one is added.
      const modules = readdirSync(join(ROOT, 'www', 'page')).map((f) => `/www/page/${f}`);
      for (const path of [
        ...modules,
        '/',
        '/www/main.js',
        '/www/worker.js',
        '/www/pool.js',
        '/www/builds.js',
        '/www/embed_worker.js',
        '/pkg/bertweb_bg.wasm',
        '/pkg/cpu/bertweb_bg.wasm',
        '/classifiers/default-minilm.safetensors',
      ]) {
        assert.ok(shell.includes(path), `${path} is in the shell cache (${shell.join(', ')})`);
      }

      await browser.stopServer();
      await browser.context.setOffline(true);
      const t0 = performance.now();
      await page.reload();
      const { info } = await waitReady(page, t0, 120_000);
      assert.equal(info.device, 'cpu');
      assert.match(await page.textContent('#status'), /^Ready: all-MiniLM-L6-v2 on CPU/);
      assert.equal(await page.textContent('#load-progress-line label'), 'Read from cache');
      await waitClassifier(page);
      assert.match(
        await classifyTyped(page, 'Wonderful flavor, my favourite snack, will buy again.'),
        /^positive \d+ %$/,
      );
      assert.match(
        await classifyTyped(page, 'Stale, tasteless and overpriced. Never again.'),
        /^negative \d+ %$/,
      );
      console.log(`# offline reload -> classified in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      await screenshot(page, 'offline');
    },
  );
});
