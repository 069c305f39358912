// @ts-check
// Section 3, labeling: texts without labels made into a labeled CSV. The page proposes texts
// (`labelingSuggest` in the worker: by the class names, then where the head is unsure), the
// user labels them with the number keys, the head retrains after each batch and its
// cross-validated accuracy is shown as it grows; the session is kept in IndexedDB, and the
// labels go on to the normal training path as a CSV.

import { csvLine } from '../csv.js';
import { onCsvFile } from './data.js';
import { count, formatSeconds, guessTextColumn, isCancelled, messageOf, pct, sentence } from './format.js';
import { client, defaults, endJob, refreshControls, say, setBusy, startJob, state, ui } from './state.js';

/** @typedef {import('../protocol.js').LabelingSession} LabelingSession */
/** @typedef {import('../protocol.js').LabelingSuggestion} LabelingSuggestion */
/** @typedef {import('../protocol.js').LabelingStrategy} LabelingStrategy */
/** @typedef {'label' | 'skip'} Action */
/**
 * The session as the page holds it: the kept session and the order of its labels and skips
 * (`order`, so that Undo takes back the last of either; kept with it when the store keeps it).
 * @typedef {LabelingSession & {order: Action[]}} Session
 */

/** The number keys label, so at most nine classes. */
const MAX_CLASSES = 9;

/** Column names that say a column labels the texts (some rows may be labeled already). */
const GIVEN_LABELS = /^(label|labels|class|category|sentiment|tag|target)$/i;

/** Why a text was proposed, by the suggestion's `source`. */
const WHY = {
  class_names: 'Proposed because it resembles the class names',
  uncertainty: 'The classifier is unsure about it',
  random: 'Picked at random',
};

/** The CSV file chosen for labeling (its bytes and header), or null. */
/** @type {{name: string, bytes: ArrayBuffer, header: string[]} | null} */
let picked = null;
/** @type {Session | null} the session being labeled (or kept from another model: `stale`) */
let session = null;
/** Whether `session`'s vectors belong to another model than the loaded one (no labeling then). */
let stale = false;
/** @type {number[]} rows to propose, the next first */
let queue = [];
/** @type {Map<number, LabelingSuggestion['source']>} why each proposed row was proposed */
const sources = new Map();
/** @type {LabelingSuggestion | null} the last suggestion for this session */
let last = null;
/** Whether every text is labeled or skipped (the last suggestion proposed none). */
let finished = false;
/** Whether the worker is choosing the next texts. */
let suggesting = false;
/** Saves run one after another; `saveWaiting`: one is queued and will send the newest state. */
let saving = Promise.resolve();
let saveWaiting = false;
/** @type {Session | null} the session whose texts and vectors are kept already (saved once) */
let bulkKept = null;

/**
 * A seeded pseudo-random generator (mulberry32): numbers in [0, 1), the same for a seed.
 * @param {number} seed
 */
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `k` of the indices 0..n-1 drawn at random with `seed` (a partial Fisher–Yates shuffle), in
 * increasing order; all of them when n ≤ k.
 * @param {number} n @param {number} k @param {number} seed
 */
function sampleIndices(n, k, seed) {
  const all = Array.from({ length: n }, (_, i) => i);
  if (n <= k) return all;
  const random = mulberry32(seed);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(random() * (n - i));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, k).sort((a, b) => a - b);
}

/**
 * The class names typed, or why they cannot be used.
 * @returns {{names: string[]} | {error: string}}
 */
function readClassNames() {
  const names = ui.labelingClasses.value
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  const seen = new Set();
  for (const n of names) {
    if (seen.has(n.toLowerCase())) return { error: `"${n}" is named twice: give each class its own name.` };
    seen.add(n.toLowerCase());
  }
  if (names.length < 2)
    return { error: 'name at least two classes, separated by commas (for example: negative, positive).' };
  if (names.length > MAX_CLASSES)
    return {
      error: `name at most ${MAX_CLASSES} classes (you named ${names.length}): the keys 1 to 9 label the texts.`,
    };
  return { names };
}

/** @param {LabelingStrategy} strategy */
function strategyOrDefault(strategy) {
  const offered = defaults().labeling.strategies;
  return offered.includes(strategy) ? strategy : offered[0];
}

/** A CSV file chosen for labeling: its columns, the text column guessed. */
export async function onLabelingFile() {
  const file = ui.labelingFile.files?.[0];
  if (!file || state.busy) return;
  setBusy(true);
  try {
    const bytes = await file.arrayBuffer();
    const header = await client.csvHeader(bytes);
    picked = { name: file.name, bytes, header };
    ui.labelingColumn.replaceChildren(...header.map((h) => new Option(h, h)));
    ui.labelingColumn.value = guessTextColumn(header) ?? '';
    ui.labelingGiven.replaceChildren(new Option('(none)', ''), ...header.map((h) => new Option(h, h)));
    ui.labelingGiven.value = header.find((h) => GIVEN_LABELS.test(h.trim())) ?? '';
    say(
      ui.labelingStatus,
      `${file.name}: ${header.length} column${header.length === 1 ? '' : 's'}. Choose the text column, ` +
        'name your classes and press Start labeling.',
    );
  } catch (err) {
    picked = null;
    ui.labelingColumn.replaceChildren();
    ui.labelingGiven.replaceChildren();
    say(ui.labelingStatus, `cannot use ${file.name}: ${sentence(messageOf(err))}`, 'error');
  } finally {
    setBusy(false);
  }
}

/**
 * Start labeling: read the column, sample and embed the texts and the class names. A session
 * kept from another model, with no file chosen since, has its own texts embedded again with
 * this model, its labels kept.
 */
export async function onLabelingStart() {
  if (state.busy) return;
  if (!client.info) {
    say(ui.labelingStatus, 'the model is still loading: start once it has loaded.', 'error');
    return;
  }
  /** @type {{name: string, column: string, given: string, classNames: string[], bytes: ArrayBuffer | null, kept: Session | null}} */
  let plan;
  if (stale && session && !picked) {
    plan = {
      name: session.name,
      column: session.column,
      classNames: session.classNames,
      given: '',
      bytes: null,
      kept: session,
    };
  } else {
    if (!picked) {
      say(ui.labelingStatus, 'choose a CSV file of your texts first.', 'error');
      ui.labelingFile.focus();
      return;
    }
    const column = ui.labelingColumn.value;
    if (!column) {
      say(ui.labelingStatus, 'choose the column that holds the texts.', 'error');
      ui.labelingColumn.focus();
      return;
    }
    const given = ui.labelingGiven.value;
    // With a column of labels so far and no names typed, its values name the classes.
    const classes = given && !ui.labelingClasses.value.trim() ? { names: [] } : readClassNames();
    if ('error' in classes) {
      say(ui.labelingStatus, classes.error, 'error');
      ui.labelingClasses.focus();
      return;
    }
    if (
      session &&
      session.order.length > 0 &&
      !confirm(
        `Start again with ${picked.name}? The ${count(session.labels.length)} labels and ` +
          `${count(session.skipped.length)} skips of ${session.name} will be forgotten.`,
      )
    )
      return;
    plan = { name: picked.name, column, given, classNames: classes.names, bytes: picked.bytes, kept: null };
  }
  const { name, column, given, bytes, kept } = plan;
  let { classNames } = plan;
  const { pooling, maxLen, labeling } = defaults();
  const info = client.info;
  const strategy = strategyOrDefault(/** @type {LabelingStrategy} */ (ui.labelingStrategy.value));
  setBusy(true);
  const job = startJob(ui.labelingCancel);
  try {
    let texts = kept?.texts ?? [];
    let sampled = '';
    /** @type {[number, number][]} labels the file gave: [row of `texts`, class] */
    const labeled = [];
    if (bytes) {
      const cells = await client.csvColumn(bytes, column);
      const marks = given ? await client.csvColumn(bytes, given) : [];
      const rows = cells.map((t, i) => i).filter((i) => cells[i].trim() !== '');
      if (rows.length < 2)
        throw new Error(
          `the column ${column} of ${name} has ${rows.length === 0 ? 'no texts' : 'only one text'}: ` +
            'choose the column that holds the texts',
        );
      const mark = (/** @type {number} */ i) => (marks[i] ?? '').trim();
      if (given && classNames.length === 0) {
        classNames = [...new Set(rows.map(mark).filter((m) => m !== ''))];
        if (classNames.length < 2 || classNames.length > MAX_CLASSES)
          throw new Error(
            `the column ${given} has ${classNames.length} different labels; name your 2 to ` +
              `${MAX_CLASSES} classes, separated by commas`,
          );
        ui.labelingClasses.value = classNames.join(', ');
      }
      const classOf = (/** @type {number} */ i) =>
        classNames.findIndex((c) => c.toLowerCase() === mark(i).toLowerCase());
      // Every row the file labels is kept (up to the pool), the rest sampled to fill it.
      const known = rows.filter((i) => classOf(i) >= 0).slice(0, labeling.pool);
      const others = rows.filter((i) => classOf(i) < 0);
      const room = Math.max(0, labeling.pool - known.length);
      const chosen = [...known, ...sampleIndices(others.length, room, labeling.seed).map((k) => others[k])];
      texts = chosen.map((i) => cells[i]);
      known.forEach((i, row) => labeled.push([row, classOf(i)]));
      if (rows.length > texts.length) sampled = ` (a random ${count(texts.length)} of ${count(rows.length)})`;
      if (labeled.length) sampled += `, ${count(labeled.length)} already labeled in ${given}`;
    }
    ui.labelingProgressLine.hidden = false;
    ui.labelingProgress.max = texts.length;
    ui.labelingProgress.value = 0;
    ui.labelingRate.textContent = '';
    const started = performance.now();
    const vectors = await client.embed(texts, pooling, maxLen, {
      signal: job.signal,
      onProgress: (p) => {
        if (p.stage !== 'embed' || p.done === undefined || p.total === undefined) return;
        ui.labelingProgress.value = p.done;
        const rate = p.done / ((performance.now() - started) / 1000);
        ui.labelingRate.textContent = `${p.done} of ${p.total} · ${rate.toFixed(1)} texts/s · ${formatSeconds((p.total - p.done) / rate)} left`;
      },
    });
    const classVectors = await client.embed(classNames, pooling, maxLen, { signal: job.signal });
    ui.labelingProgress.value = texts.length;
    const dim = vectors.length / texts.length;
    if (!Number.isInteger(dim) || classVectors.length !== classNames.length * dim)
      throw new Error('the worker returned vectors of an unexpected size');
    const seconds = (performance.now() - started) / 1000;
    forgetSession();
    session = {
      id: Date.now(),
      name,
      column,
      texts,
      vectors,
      dim,
      modelId: info.modelId,
      pooling,
      maxLen,
      classNames,
      classVectors: Array.from(classVectors),
      strategy,
      seed: kept?.seed ?? labeling.seed,
      labels: kept?.labels ?? labeled,
      skipped: kept?.skipped ?? [],
      // The accuracy measured on the other model's vectors is not this model's.
      history: [],
      order: kept?.order ?? labeled.map(() => /** @type {Action} */ ('label')),
    };
    save();
    const keys = `Press 1–${classNames.length} to label, S to skip, U to undo.`;
    say(
      ui.labelingStatus,
      kept
        ? `Embedded the ${count(texts.length)} texts of ${name} again with this model in ${seconds.toFixed(1)} s; ` +
            `your ${count(kept.labels.length)} labels are kept. ${keys}`
        : `Embedded ${count(texts.length)} texts of ${name}${sampled} in ${seconds.toFixed(1)} s. ${keys}`,
      'ok',
    );
  } catch (err) {
    if (isCancelled(err)) say(ui.labelingStatus, 'Cancelled; nothing was changed.', 'warn');
    else say(ui.labelingStatus, `could not start labeling: ${sentence(messageOf(err))}`, 'error');
    return;
  } finally {
    endJob(ui.labelingCancel);
    ui.labelingProgressLine.hidden = true;
    setBusy(false);
  }
  showSession();
  await suggest();
}

/**
 * Forget what the page holds of the current session (the kept one is replaced by the next
 * save, or forgotten by `onLabelingForget`).
 */
function forgetSession() {
  session = null;
  stale = false;
  queue = [];
  sources.clear();
  last = null;
  finished = false;
}

/** Ask the worker for the next texts to propose, the head's predictions and the accuracy. */
async function suggest() {
  const s = session;
  if (!s || stale) return;
  while (state.busy) await new Promise((resolve) => setTimeout(resolve, 200));
  if (session !== s) return;
  setBusy(true);
  suggesting = true;
  showSession();
  try {
    const answer = await client.labelingSuggest(s.vectors, s.dim, {
      labels: s.labels,
      skipped: s.skipped,
      classes: s.classNames.length,
      classVectors: s.classVectors,
      count: defaults().labeling.batch,
      strategy: s.strategy,
      seed: s.seed,
    });
    if (session !== s) return;
    last = answer;
    const done = doneRows(s);
    const fresh = answer.rows.filter((r) => !done.has(r) && !queue.includes(r));
    for (const r of fresh) sources.set(r, answer.source);
    queue.push(...fresh);
    finished = queue.length === 0 && done.size >= s.texts.length;
    if (answer.accuracy) {
      const { labels, accuracy } = answer.accuracy;
      // One point per number of labels, on the labels given now (after an undo, the later
      // points were of labels taken back).
      s.history = s.history.filter((h) => h.labels < labels);
      s.history.push({ labels, accuracy });
      save();
    }
    if (queue.length === 0 && !finished)
      say(ui.labelingStatus, 'No text was proposed. Press S to ask again.', 'warn');
  } catch (err) {
    if (session === s)
      say(
        ui.labelingStatus,
        `could not propose texts: ${sentence(messageOf(err))} Press S to try again.`,
        'error',
      );
  } finally {
    suggesting = false;
    setBusy(false);
  }
  if (session === s) showSession();
}

/** @param {LabelingSession} s the rows labeled or skipped */
function doneRows(s) {
  return new Set([...s.labels.map(([r]) => r), ...s.skipped]);
}

/**
 * Label the text shown with class `c`, or skip it (`c` null); after a batch, the next.
 * @param {number | null} c
 */
function act(c) {
  const s = session;
  if (!s || stale || state.busy) return;
  if (c !== null && (c < 0 || c >= s.classNames.length)) return;
  const row = queue.shift();
  if (row === undefined) {
    if (!finished) suggest();
    return;
  }
  if (c === null) {
    s.skipped.push(row);
    s.order.push('skip');
  } else {
    s.labels.push([row, c]);
    s.order.push('label');
  }
  save();
  if (queue.length === 0) suggest();
  else showSession();
}

/** Take back the last label or skip, and show that text again first. */
function undo() {
  const s = session;
  if (!s || stale || state.busy) return;
  const action = s.order.pop();
  const row = action === 'label' ? s.labels.pop()?.[0] : action === 'skip' ? s.skipped.pop() : undefined;
  if (row === undefined) return;
  queue = [row, ...queue.filter((r) => r !== row)];
  finished = false;
  save();
  showSession();
}

/**
 * Keep the session in this browser. Saves run in order; while one runs, a single next one
 * waits and sends the state as it is then, so keypresses never wait for IndexedDB.
 */
function save() {
  if (!session || saveWaiting) return;
  saveWaiting = true;
  saving = saving.then(async () => {
    saveWaiting = false;
    const s = session;
    if (!s || stale) return;
    try {
      if (bulkKept === s) {
        // Only what labeling changes: the texts and their vectors are kept already.
        const { texts, vectors, ...progress } = s;
        await client.keepLabeling(progress);
      } else {
        await client.keepLabeling(s);
        bulkKept = s;
      }
    } catch (err) {
      say(
        ui.labelingStatus,
        `Your labels could not be kept in this browser (${messageOf(err)}). ` +
          'They are still here: download them before you leave the page.',
        'warn',
      );
    }
  });
}

/** The labeled rows as a CSV file: `text,label`. */
function labeledCsv() {
  const s = session;
  const lines = [csvLine(['text', 'label'])];
  for (const [r, c] of s?.labels ?? []) lines.push(csvLine([s?.texts[r] ?? '', s?.classNames[c] ?? '']));
  return `${lines.join('\r\n')}\r\n`;
}

/** @param {LabelingSession} s labels per class */
function perClass(s) {
  const counts = s.classNames.map(() => 0);
  for (const [, c] of s.labels) if (c >= 0 && c < counts.length) counts[c]++;
  return counts;
}

/** Show the session: the text proposed and why, the counts, the accuracy, the download. */
function showSession() {
  const s = session;
  if (!s) {
    ui.labelingCard.hidden = true;
    for (const b of classButtons()) b.remove();
    refreshControls();
    return;
  }
  ui.labelingCard.hidden = false;
  ui.labelingCurrent.hidden = stale;
  showButtons(s);
  const row = queue[0];
  if (row !== undefined) {
    ui.labelingText.textContent = s.texts[row];
    ui.labelingText.dataset.row = String(row);
    ui.labelingWhy.textContent = why(row);
    ui.labelingWhy.dataset.source = sources.get(row) ?? '';
  } else {
    ui.labelingText.textContent = finished
      ? 'Every text is labeled or skipped. Download them or train on them below.'
      : suggesting
        ? 'Choosing the next texts…'
        : 'No text to label right now.';
    ui.labelingText.dataset.row = '';
    ui.labelingWhy.textContent = '';
    ui.labelingWhy.dataset.source = '';
  }
  ui.labelingCard.dataset.state = stale
    ? 'stale'
    : suggesting
      ? 'suggesting'
      : finished
        ? 'done'
        : row === undefined
          ? 'empty'
          : 'ready';
  const classes = perClass(s);
  const left = s.texts.length - doneRows(s).size;
  const byClass = s.classNames.map((n, c) => `${count(classes[c])} ${n}`).join(', ');
  ui.labelingCounts.textContent =
    `${count(s.labels.length)} labeled (${byClass}), ${count(s.skipped.length)} skipped, ` +
    `${count(left)} left`;
  ui.labelingCounts.dataset.labeled = String(s.labels.length);
  ui.labelingCounts.dataset.skipped = String(s.skipped.length);
  ui.labelingCounts.dataset.left = String(left);
  showAccuracy(s);
  if (ui.labelingDownload.href.startsWith('blob:')) URL.revokeObjectURL(ui.labelingDownload.href);
  ui.labelingDownload.href = URL.createObjectURL(new Blob([labeledCsv()], { type: 'text/csv' }));
  refreshControls();
}

/** The class buttons shown. */
function classButtons() {
  return [...ui.labelingButtons.querySelectorAll('button')].filter((b) => b.dataset.class !== undefined);
}

/** @param {number} row why it is proposed */
function why(row) {
  const source = sources.get(row);
  if (source === undefined) return 'Shown again after Undo';
  if (source !== 'uncertainty') return WHY[source];
  const p = last?.predicted[row];
  const c = last?.confidence[row];
  const name = p === undefined ? undefined : session?.classNames[p];
  return c === undefined || name === undefined ? WHY.uncertainty : `${WHY.uncertainty}: ${pct(c)} ${name}`;
}

/**
 * One button per class ("1 negative"), before Skip; Undo off when there is nothing to undo,
 * the class buttons and Skip off when every text is done (`data-off`, read by refreshControls).
 * @param {Session} s
 */
function showButtons(s) {
  const have = classButtons();
  if (have.length !== s.classNames.length || have.some((b, c) => b.dataset.name !== s.classNames[c])) {
    for (const b of have) b.remove();
    const buttons = s.classNames.map((name, c) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.dataset.class = String(c);
      b.dataset.name = name;
      const key = document.createElement('kbd');
      key.textContent = String(c + 1);
      b.append(key, ` ${name}`);
      b.addEventListener('click', () => act(c));
      return b;
    });
    ui.labelingSkip.before(...buttons);
    ui.labelingKeys.textContent =
      `Keys: 1–${s.classNames.length} label the text, S skips it, U or Backspace takes back the last ` +
      '(not while typing in a field).';
  }
  for (const b of classButtons()) b.dataset.off = String(finished);
  ui.labelingSkip.dataset.off = String(finished);
  ui.labelingUndo.dataset.off = String(s.order.length === 0);
}

/** The cross-validated accuracy, and how it grew with the labels. @param {LabelingSession} s */
function showAccuracy(s) {
  const a = last?.accuracy ?? null;
  if (a) {
    ui.labelingAccuracy.textContent =
      `Cross-validated accuracy on your ${count(a.labels)} labels: ${pct(a.accuracy)} ` +
      `(${a.folds} fold${a.folds === 1 ? '' : 's'})`;
    ui.labelingAccuracy.dataset.labels = String(a.labels);
    ui.labelingAccuracy.dataset.accuracy = String(a.accuracy);
  } else if (stale) {
    ui.labelingAccuracy.textContent =
      'The accuracy is measured again once the texts are embedded with this model';
    ui.labelingAccuracy.dataset.labels = String(s.labels.length);
    ui.labelingAccuracy.dataset.accuracy = '';
  } else {
    ui.labelingAccuracy.textContent = 'Label at least two texts of each class to see the accuracy';
    ui.labelingAccuracy.dataset.labels = String(s.labels.length);
    ui.labelingAccuracy.dataset.accuracy = '';
  }
  const rows = s.history.map((h) => {
    const tr = document.createElement('tr');
    const labels = document.createElement('td');
    labels.textContent = count(h.labels);
    const accuracy = document.createElement('td');
    accuracy.textContent = pct(h.accuracy);
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.style.setProperty('--value', String(Math.min(1, Math.max(0, h.accuracy))));
    const barCell = document.createElement('td');
    barCell.append(bar);
    tr.append(labels, accuracy, barCell);
    return tr;
  });
  ui.labelingHistory.tBodies[0].replaceChildren(...rows);
  ui.labelingHistory.hidden = rows.length === 0;
  ui.labelingHistory.dataset.points = String(rows.length);
}

/** "Train on what I labeled": the labeled CSV into the normal training path. */
export async function onLabelingTrain() {
  const s = session;
  if (!s || state.busy) return;
  const classes = perClass(s);
  const enough = classes.filter((n) => n >= 2).length;
  if (enough < 2) {
    const have = s.classNames.map((n, c) => `${classes[c]} ${n}`).join(', ');
    say(
      ui.labelingStatus,
      `label at least two texts of each of two classes or more before training (so far: ${have}).`,
      'error',
    );
    return;
  }
  await onCsvFile(new File([labeledCsv()], 'labeled.csv', { type: 'text/csv' }));
  (ui.dataForm.hidden ? ui.dataStatus : ui.dataForm).scrollIntoView({ behavior: 'smooth', block: 'start' });
}

/** "Forget these labels": the session, here and in the browser's store. */
export async function onLabelingForget() {
  if (!session || state.busy) return;
  if (
    !confirm(`Forget the ${count(session.labels.length)} labels of ${session.name}? This cannot be undone.`)
  )
    return;
  forgetSession();
  showSession();
  // After the saves before it, so that none of them keeps the session again.
  saving = saving.then(async () => {
    try {
      await client.forgetLabeling();
      say(ui.labelingStatus, 'The labels were forgotten.', 'ok');
    } catch (err) {
      say(ui.labelingStatus, `could not forget the kept labels: ${sentence(messageOf(err))}`, 'error');
    }
  });
  await saving;
}

/** Another way of proposing texts chosen: the current session proposes its next texts so. */
function onStrategyChanged() {
  if (!session || stale) return;
  session.strategy = strategyOrDefault(/** @type {LabelingStrategy} */ (ui.labelingStrategy.value));
  save();
  say(ui.labelingStatus, 'The next texts will be proposed this new way.');
}

/**
 * The keys: 1–N label, S skips, U or Backspace undoes; only while a text is shown, nothing
 * runs, and no field has the focus; never with Ctrl, Alt or Meta (the browser's shortcuts),
 * nor a key held down (repeats).
 * @param {KeyboardEvent} e
 */
function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey || e.repeat || e.defaultPrevented) return;
  if (!session || stale || state.busy) return;
  if (!ui.labelingSection.open || ui.labelingCard.hidden || ui.labelingCurrent.hidden) return;
  const target = e.target;
  if (
    target instanceof HTMLInputElement ||
    target instanceof HTMLTextAreaElement ||
    target instanceof HTMLSelectElement ||
    (target instanceof HTMLElement && target.isContentEditable)
  )
    return;
  const key = e.key.toLowerCase();
  if (/^[1-9]$/.test(key)) {
    const c = Number(key) - 1;
    if (c >= session.classNames.length) return;
    e.preventDefault();
    act(c);
  } else if (key === 's') {
    e.preventDefault();
    act(null);
  } else if (key === 'u' || key === 'backspace') {
    e.preventDefault();
    undo();
  }
}

/**
 * A session kept in this browser, back once the model has loaded: labeling goes on where it
 * stopped when the session's vectors are this model's; else its labels can still be downloaded
 * or trained on.
 * @param {Promise<unknown>} modelReady
 */
export async function restoreLabeling(modelReady) {
  try {
    await modelReady;
  } catch {
    return; // the model section says why; kept labels come back with the next page load
  }
  /** @type {(LabelingSession & {order?: unknown}) | null} */
  let kept;
  try {
    kept = await client.loadLabeling();
  } catch (err) {
    say(
      ui.labelingStatus,
      `Labels kept in this browser could not be read: ${sentence(messageOf(err))}`,
      'warn',
    );
    return;
  }
  if (!kept || session) return;
  if (kept.vectors.length !== kept.texts.length * kept.dim) {
    say(ui.labelingStatus, 'The labels kept in this browser could not be read: start again.', 'warn');
    return;
  }
  const { labels, skipped } = kept;
  const order = /** @type {Action[]} */ (
    Array.isArray(kept.order) &&
    kept.order.length === labels.length + skipped.length &&
    kept.order.filter((a) => a === 'label').length === labels.length &&
    kept.order.filter((a) => a === 'skip').length === skipped.length
      ? kept.order
      : // Kept without the order: Undo takes back the labels, the last first, then the skips.
        [...skipped.map(() => 'skip'), ...labels.map(() => 'label')]
  );
  session = { ...kept, order };
  bulkKept = session;
  stale = kept.modelId !== client.info?.modelId;
  queue = [];
  sources.clear();
  last = null;
  finished = false;
  ui.labelingClasses.value = kept.classNames.join(', ');
  if ([...ui.labelingStrategy.options].some((o) => o.value === kept.strategy))
    ui.labelingStrategy.value = kept.strategy;
  ui.labelingSection.open = true;
  if (stale) {
    say(
      ui.labelingStatus,
      `Your ${count(labels.length)} labels of ${kept.name} were made with another model: its text vectors ` +
        'do not belong to the model loaded now. Download them or train on them below, or press Start labeling ' +
        'to embed its texts again with this model and go on labeling (your labels are kept).',
      'warn',
    );
    showSession();
    return;
  }
  say(
    ui.labelingStatus,
    `Your ${count(labels.length)} labels of ${kept.name} are back: go on labeling.`,
    'ok',
  );
  showSession();
  await suggest();
}

/**
 * The labeling state for tests and the console: plain arrays.
 */
export function labelingSnapshot() {
  const s = session;
  return {
    texts: s ? [...s.texts] : [],
    labels: s ? s.labels.map(([r, c]) => [r, c]) : [],
    skipped: s ? [...s.skipped] : [],
    predicted: last ? [...last.predicted] : [],
    confidence: last ? [...last.confidence] : [],
    history: s ? s.history.map((h) => ({ ...h })) : [],
    queue: [...queue],
  };
}

// The card's own controls and keys (main.js wires the file input, Start, Train and Forget).
ui.labelingSkip.addEventListener('click', () => act(null));
ui.labelingUndo.addEventListener('click', undo);
ui.labelingStrategy.addEventListener('change', onStrategyChanged);
document.addEventListener('keydown', onKey);
