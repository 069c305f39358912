// @ts-check
// Why the classifier decided: a text's words shaded by their contribution to the explained
// class (integrated gradients, computed in Rust), and the same as a list sorted by value, so it
// reads without colour. Used for the typed text and for any row of a classified CSV.

import { messageOf, pct, sentence } from './format.js';
import { client, say, setBusy, state } from './state.js';

/** @typedef {import('../protocol.js').Attribution} Attribution */

/**
 * Explains `text` with the current classifier (the predicted class, or `label`) and shows it in
 * `panel`, replacing what it showed. The panel gets a class chooser, so another class can be
 * explained; `status` says what went wrong.
 * @param {HTMLElement} panel
 * @param {HTMLElement} status
 * @param {string} text
 * @param {number} [label]
 */
export async function explainInto(panel, status, text, label) {
  if (state.busy) return;
  setBusy(true);
  say(status, 'Explaining: each word is weighed by integrated gradients…');
  try {
    const started = performance.now();
    const attribution = await client.explain(text, { label });
    const seconds = (performance.now() - started) / 1000;
    panel.replaceChildren(...explanation(attribution, seconds, (l) => explainInto(panel, status, text, l)));
    panel.hidden = false;
    status.hidden = true;
  } catch (err) {
    say(status, `could not explain: ${sentence(messageOf(err))}`, 'error');
  } finally {
    setBusy(false);
  }
}

/**
 * The explanation's parts: a summary with the class chooser, the shaded text, the sorted list.
 * @param {Attribution} a
 * @param {number} seconds how long it took
 * @param {(label: number) => void} onClass explain another class
 * @returns {HTMLElement[]}
 */
function explanation(a, seconds, onClass) {
  const names = state.classifier?.label_names ?? [];
  const largest = Math.max(1e-9, ...a.words.map((w) => Math.abs(w.value)));

  const summary = document.createElement('p');
  summary.className = 'explain-summary';
  const chooser = document.createElement('select');
  chooser.className = 'explain-class';
  chooser.setAttribute('aria-label', 'class to explain');
  names.forEach((n, i) => chooser.add(new Option(n, String(i), false, i === a.label)));
  chooser.addEventListener('change', () => onClass(Number(chooser.value)));
  const change = a.log_odds - a.baseline_log_odds;
  summary.append(
    'Why ',
    chooser,
    ` (${pct(a.probability, 1)}): each word's push on this class's log-odds, from ` +
      `${a.baseline_log_odds.toFixed(2)} with every word blanked out (${pct(a.baseline_probability, 1)}) ` +
      `to ${a.log_odds.toFixed(2)} for the text. Blue words push toward it, orange ones away` +
      (a.truncated ? '; grey text lies past the classifier\u2019s length and was not read' : '') +
      `. The pushes add up to ${signed(change + a.gap)} against a change of ${signed(change)} ` +
      `(${a.steps} integration steps, ${seconds.toFixed(1)} s).`,
  );

  const shaded = document.createElement('p');
  shaded.className = 'explain-text';
  let lastWord = -1;
  a.spans.forEach((s, i) => {
    if (s.word !== null) lastWord = i;
  });
  a.spans.forEach((span, i) => {
    if (span.word === null) {
      if (a.truncated && i > lastWord) {
        const unread = document.createElement('span');
        unread.className = 'unread';
        unread.textContent = span.text;
        shaded.append(unread);
      } else {
        shaded.append(span.text);
      }
      return;
    }
    const word = a.words[span.word];
    const mark = document.createElement('mark');
    mark.className = 'attr';
    mark.textContent = span.text;
    mark.dataset.sign = word.value >= 0 ? 'toward' : 'away';
    mark.dataset.value = String(word.value);
    mark.style.setProperty('--weight', (Math.abs(word.value) / largest).toFixed(3));
    mark.title = `${signed(word.value)} log-odds`;
    shaded.append(mark);
  });

  const table = document.createElement('table');
  table.className = 'explain-words';
  const caption = document.createElement('caption');
  caption.textContent = `Words by their push toward \u201c${a.name}\u201d (log-odds)`;
  const head = document.createElement('thead');
  head.append(tr(['word', 'push', 'direction'], 'th'));
  const body = document.createElement('tbody');
  const order = a.words.map((w, i) => ({ ...w, i })).sort((x, y) => y.value - x.value);
  for (const w of order) {
    body.append(
      tr([w.text, signed(w.value), w.value >= 0 ? `toward ${a.name}` : `away from ${a.name}`], 'td'),
    );
  }
  table.append(caption, head, body);
  const list = document.createElement('details');
  list.className = 'explain-list';
  list.open = true;
  const title = document.createElement('summary');
  title.textContent = `All ${a.words.length} words, sorted`;
  list.append(title, wrap(table));
  return [summary, shaded, list];
}

/** @param {number} v */
const signed = (v) => `${v >= 0 ? '+' : '\u2212'}${Math.abs(v).toFixed(2)}`;

/** @param {string[]} cells @param {'td' | 'th'} tag */
function tr(cells, tag) {
  const row = document.createElement('tr');
  for (const c of cells) {
    const el = document.createElement(tag);
    el.textContent = c;
    row.append(el);
  }
  return row;
}

/** @param {HTMLElement} table */
function wrap(table) {
  const div = document.createElement('div');
  div.className = 'table-wrap';
  div.append(table);
  return div;
}
