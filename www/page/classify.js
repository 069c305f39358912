// @ts-check
// Section 2, classify: the classifier in use, one typed text, or a CSV file's column with a
// table and a download of the predictions.

import { csvLine } from '../csv.js';
import { explainInto } from './explain.js';
import { formatSeconds, guessTextColumn, isCancelled, messageOf, pct, row, sentence } from './format.js';
import { client, endJob, refreshControls, say, setBusy, startJob, state, ui } from './state.js';

/** Rows of a classified CSV shown in the page (the download has them all). */
const TABLE_ROWS = 200;

/** Describe the classifier in use, and whether it fits the loaded model. */
export function showClassifier() {
  const meta = state.classifier;
  if (!meta) {
    ui.classifierName.textContent = state.classifierSource === '' ? 'loading…' : 'none loaded';
    refreshControls();
    return;
  }
  const test = !meta.test
    ? ''
    : meta.test.micro_f1 !== undefined
      ? `, test micro-F1 ${pct(meta.test.micro_f1, 1)} on ${meta.test.n} test texts`
      : `, test accuracy ${pct(meta.test.accuracy, 1)} on ${meta.test.n} test texts`;
  const fits =
    client.info && client.info.modelId !== meta.model_id
      ? ' (trained on another base model: load that model to use it)'
      : '';
  const tuned = meta.fine_tune?.settings?.layers;
  const several = meta.shape.multi_label ? ', any number of labels per text' : '';
  const kind = meta.settings
    ? `${meta.settings.preset} head${several}`
    : meta.fine_tune
      ? `fine-tuned encoder layers${Number.isInteger(tuned) ? ` (top ${tuned})` : ''} and head${several}`
      : meta.imported
        ? `${meta.imported.architecture}${meta.shape.multi_label ? ', multi-label' : ''}`
        : 'head';
  ui.classifierName.textContent = `${state.classifierSource}: ${meta.label_names.join(' / ')}, ${kind}${test}${fits}`;
  ui.classifierName.dataset.testN = String(meta.test?.n ?? '');
  refreshControls();
}

/** @param {SubmitEvent} event */
export async function onClassify(event) {
  event.preventDefault();
  if (state.busy) return;
  const text = ui.review.value;
  if (!text.trim()) {
    say(ui.classifyStatus, 'type a text to classify first.', 'error');
    ui.review.focus();
    return;
  }
  setBusy(true);
  try {
    const [p] = await client.classify([text]);
    ui.verdict.textContent = verdictText(p, state.classifier?.label_names ?? []);
    ui.verdict.dataset.label = verdict(p, state.classifier?.label_names ?? []);
    ui.classifyStatus.hidden = true;
  } catch (err) {
    ui.verdict.textContent = '';
    say(ui.classifyStatus, `could not classify: ${sentence(messageOf(err))}`, 'error');
  } finally {
    setBusy(false);
  }
}

/** Explains the typed text: which words made the classifier decide. */
export function onExplain() {
  const text = ui.review.value;
  if (!text.trim()) {
    say(ui.explainStatus, 'type a text to explain first.', 'error');
    ui.review.focus();
    return;
  }
  return explainInto(ui.explanation, ui.explainStatus, text);
}

export async function onBatchFile() {
  const file = ui.batchFile.files?.[0];
  if (!file || state.busy) return;
  setBusy(true);
  try {
    const bytes = await file.arrayBuffer();
    const header = await client.csvHeader(bytes);
    state.batch = { name: file.name, bytes, header };
    ui.batchColumn.replaceChildren(...header.map((h) => new Option(h, h)));
    ui.batchColumn.value = guessTextColumn(header) ?? '';
    say(
      ui.classifyStatus,
      `${file.name}: ${header.length} columns. Choose the text column and press Classify all.`,
    );
  } catch (err) {
    state.batch = null;
    ui.batchColumn.replaceChildren();
    say(ui.classifyStatus, `cannot use ${file.name}: ${sentence(messageOf(err))}`, 'error');
  } finally {
    setBusy(false);
  }
}

export async function onBatchRun() {
  if (!state.batch || state.busy) return;
  const { name, bytes } = state.batch;
  const column = ui.batchColumn.value;
  setBusy(true);
  const job = startJob(ui.batchCancel);
  try {
    const texts = await client.csvColumn(bytes, column);
    if (!texts.length) throw new Error(`${name} has a header but no rows to classify`);
    ui.batchProgressLine.hidden = false;
    ui.batchProgress.max = texts.length;
    ui.batchProgress.value = 0;
    const started = performance.now();
    const predictions = await client.classify(texts, {
      signal: job.signal,
      onProgress: (p) => {
        if (p.stage !== 'classify' || p.done === undefined || p.total === undefined) return;
        ui.batchProgress.value = p.done;
        const rate = p.done / ((performance.now() - started) / 1000);
        ui.batchRate.textContent = `${p.done} of ${p.total} · ${rate.toFixed(1)} texts/s · ${formatSeconds((p.total - p.done) / rate)} left`;
      },
    });
    ui.batchProgress.value = texts.length;
    showBatch(texts, predictions);
    const seconds = (performance.now() - started) / 1000;
    say(ui.classifyStatus, `Classified ${texts.length} texts of ${name} in ${seconds.toFixed(1)} s.`, 'ok');
  } catch (err) {
    if (isCancelled(err)) say(ui.classifyStatus, 'Classification cancelled; nothing was changed.', 'warn');
    else say(ui.classifyStatus, `could not classify ${name}: ${sentence(messageOf(err))}`, 'error');
  } finally {
    endJob(ui.batchCancel);
    setBusy(false);
  }
}

/**
 * What a prediction decided, as the label column says it: the class, or (multi-label) every
 * label at or over its threshold, joined by `; ` (empty: none).
 * @param {import('../protocol.js').Prediction} p @param {string[]} names
 */
function verdict(p, names) {
  return p.labels ? p.labels.map((l) => names[l] ?? String(l)).join('; ') : p.name;
}

/**
 * A prediction in words: the class and its probability, or each label over its threshold with
 * its probability, and the most probable one when none is.
 * @param {import('../protocol.js').Prediction} p @param {string[]} names
 */
function verdictText(p, names) {
  if (!p.labels) return `${p.name} ${pct(p.probabilities[p.label])}`;
  if (p.labels.length === 0) {
    return `no label over its threshold (most probable: ${p.name} ${pct(p.probabilities[p.label])})`;
  }
  return p.labels.map((l) => `${names[l] ?? l} ${pct(p.probabilities[l])}`).join(', ');
}

/** @param {string[]} texts @param {import('../protocol.js').Prediction[]} predictions */
function showBatch(texts, predictions) {
  const names = state.classifier?.label_names ?? [];
  const multi = predictions.some((p) => p.labels);
  const head = ['text', multi ? 'labels' : 'label', ...names.map((n) => `p_${n}`)];
  ui.batchTable.tHead?.replaceChildren(row(['#', ...head, 'why']));
  const body = predictions.slice(0, TABLE_ROWS).map((p, i) => {
    const tr = row([i + 1, texts[i], verdict(p, names), ...p.probabilities.map((v) => v.toFixed(3))]);
    const why = document.createElement('button');
    why.type = 'button';
    why.className = 'secondary';
    why.textContent = 'Why?';
    why.setAttribute('aria-label', `Why row ${i + 1} is ${verdict(p, names)}`);
    why.addEventListener('click', () => explainInto(ui.batchExplanation, ui.classifyStatus, texts[i]));
    const cell = document.createElement('td');
    cell.append(why);
    tr.append(cell);
    return tr;
  });
  ui.batchTable.tBodies[0].replaceChildren(...body);
  ui.batchExplanation.hidden = true;
  const lines = [csvLine(head)];
  predictions.forEach((p, i) => {
    lines.push(
      csvLine(
        [texts[i], verdict(p, names)],
        p.probabilities.map((v) => v.toFixed(6)),
      ),
    );
  });
  if (ui.batchDownload.href.startsWith('blob:')) URL.revokeObjectURL(ui.batchDownload.href);
  ui.batchDownload.href = URL.createObjectURL(new Blob([`${lines.join('\r\n')}\r\n`], { type: 'text/csv' }));
  // Multi-label: texts with each label; else texts per class.
  const tally = names
    .map(
      (n, c) => `${predictions.filter((p) => (p.labels ? p.labels.includes(c) : p.label === c)).length} ${n}`,
    )
    .join(', ');
  const shown =
    predictions.length > TABLE_ROWS ? ` The first ${TABLE_ROWS} are shown; the download has all.` : '';
  ui.batchSummary.textContent = `${predictions.length} rows: ${tally}.${shown}`;
  ui.batchResult.hidden = false;
}
