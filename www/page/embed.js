// @ts-check
// "Embed a text": one text's vector, its norm, its word pieces and the time it took.

import { messageOf, sentence } from './format.js';
import { client, defaults, deviceName, setBusy, setStatus, state, ui } from './state.js';

/** @param {SubmitEvent} event */
export async function onEmbed(event) {
  event.preventDefault();
  if (state.busy) return;
  const text = ui.text.value;
  if (!text.trim()) {
    setStatus('type some text to embed first.', 'error');
    ui.text.focus();
    return;
  }
  setBusy(true);
  setStatus('Embedding…');
  try {
    const { pooling, maxLen } = defaults();
    const started = performance.now();
    const vector = await client.embed([text], pooling, maxLen);
    const ms = performance.now() - started;
    const [tokens] = await client.tokenize([text], maxLen);
    const norm = Math.sqrt(vector.reduce((s, v) => s + v * v, 0));
    ui.resultDim.textContent = String(vector.length);
    ui.resultTime.textContent = `${ms.toFixed(1)} ms on ${deviceName(client.device)}`;
    ui.resultNorm.textContent = norm.toFixed(4);
    ui.resultTokens.textContent = `${tokens.ids.length} (with [CLS] and [SEP], at most ${maxLen})`;
    ui.resultValues.textContent = [...vector.subarray(0, 8)].map((v) => v.toFixed(4)).join(', ');
    ui.result.hidden = false;
    setStatus(`Embedded ${text.length} characters in ${ms.toFixed(1)} ms.`, 'ok');
  } catch (err) {
    setStatus(
      `could not embed: ${sentence(messageOf(err))} Try another device, or reload the page.`,
      'error',
    );
  } finally {
    setBusy(false);
  }
}
