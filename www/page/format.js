// @ts-check
// Numbers and messages as the page writes them, and table cells. Text goes in as textContent
// only, never as HTML.

/**
 * End a message with a full stop unless it already ends with punctuation.
 * @param {unknown} text
 */
export function sentence(text) {
  const t = String(text).trim();
  return /[.!?:]$/.test(t) ? t : `${t}.`;
}

/**
 * An error's message, whatever was thrown.
 * @param {unknown} err
 */
export function messageOf(err) {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Whether a failure is a cancel the user asked for (the client's `CancelledError`).
 * @param {unknown} err
 */
export function isCancelled(err) {
  return err instanceof Error && err.name === 'CancelledError';
}

/**
 * The column of a CSV's header most likely to hold the texts: one named "text", else one whose
 * name has "text" or "review" in it, else the first.
 * @param {string[]} header
 * @returns {string | undefined}
 */
export function guessTextColumn(header) {
  return (
    header.find((h) => h.trim().toLowerCase() === 'text') ??
    header.find((h) => /text|review/i.test(h)) ??
    header[0]
  );
}

/** @param {number} n */
export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

/** @param {number} s */
export function formatSeconds(s) {
  if (!Number.isFinite(s)) return '…';
  if (s < 60) return `${Math.ceil(s)} s`;
  return `${Math.floor(s / 60)} min ${Math.ceil(s % 60)} s`;
}

/** @param {number} p @param {number} [digits] */
export const pct = (p, digits = 0) => `${(p * 100).toFixed(digits)} %`;

/** @param {number | null | undefined} v @param {number} [digits] */
export const num = (v, digits = 3) => (v === null || v === undefined ? 'n/a' : Number(v).toFixed(digits));

/** @param {string} tag @param {unknown} text */
export function cell(tag, text) {
  const el = document.createElement(tag);
  el.textContent = String(text);
  return el;
}

/** @param {unknown[]} cells @param {boolean} [headerFirst] a row header in the first cell */
export function row(cells, headerFirst = false) {
  const tr = document.createElement('tr');
  cells.forEach((c, i) => tr.append(cell(headerFirst && i === 0 ? 'th' : 'td', c)));
  return tr;
}

/** @param {number} n a count, with thousands separated ("3,446") */
export const count = (n) => n.toLocaleString('en-US');

/**
 * Text column names that say what kind of text a row holds, as messages call the rows' texts
 * ("sentences" for a column `sentence` or `sentences`).
 */
const TEXT_NOUNS = [
  'text',
  'review',
  'sentence',
  'tweet',
  'comment',
  'message',
  'post',
  'title',
  'headline',
  'question',
  'answer',
  'document',
  'description',
  'abstract',
  'article',
  'utterance',
  'email',
];

/**
 * What messages call a data set's texts: "reviews" for the Amazon reviews layout, the text
 * column's name where it names a kind of text ("tweets" for `tweet`), else "texts".
 * @param {{layout?: 'amazon' | 'named', amazon?: boolean, text_column: string | null} | null | undefined} data
 *   a dataset's summary or a CSV file's preview
 */
export function textsNoun(data) {
  if (data?.layout === 'amazon' || data?.amazon) return 'reviews';
  const name = (data?.text_column ?? '').trim().toLowerCase();
  if (TEXT_NOUNS.includes(name)) return `${name}s`;
  if (name.endsWith('s') && TEXT_NOUNS.includes(name.slice(0, -1))) return name;
  return 'texts';
}
