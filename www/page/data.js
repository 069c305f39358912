// @ts-check
// Section 3, data: a CSV file, its columns and preprocessing settings, the rows kept by each
// step, and the features extracted from its texts.

import { cell, count, formatSeconds, isCancelled, messageOf, row, sentence, textsNoun } from './format.js';
import { showTrainControls } from './train.js';
import {
  askPersistentStorage,
  client,
  defaults,
  deviceName,
  endJob,
  loadDefaults,
  refreshControls,
  say,
  setBusy,
  startJob,
  state,
  ui,
} from './state.js';

/** @typedef {import('../protocol.js').DataSettings} DataSettings */
/** @typedef {import('../protocol.js').DatasetSummary} DatasetSummary */
/** @typedef {import('../protocol.js').DelimiterChoice} DelimiterChoice */
/** @typedef {import('../protocol.js').Preview} Preview */

/** Labels listed in the preview's table; the others are counted in its last row. */
const CLASSES_SHOWN = 20;
/** What the delimiter select offers (the Rust `Delimiter` names). */
const DELIMITERS = /** @type {const} */ (['auto', 'comma', 'semicolon', 'tab', 'pipe']);

/** Whether the form has the defaults' settings yet (filled at the first file, then the user's). */
let settingsFilled = false;
/** Counts previews asked, so that an answer about an earlier file or choice is dropped. */
let previewSeq = 0;
/** The delimiter choice the shown preview was read with, to go back to when another fails. */
/** @type {DelimiterChoice} */
let previewDelimiter = 'auto';

/** @param {number} bytes @returns {string} whole megabytes */
function megabytes(bytes) {
  return (bytes / 1e6).toFixed(0);
}

/** @param {ArrayBuffer} bytes */
async function sha256(bytes) {
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** @param {DataSettings} settings */
function fillSettings(settings) {
  ui.labelMode.value = settings.label_mode;
  ui.maxWords.value = String(settings.max_words ?? '');
  ui.sampleSize.value = String(settings.sample_size ?? '');
  ui.testFraction.value = String(settings.test_fraction);
  ui.seed.value = String(settings.seed);
  ui.stripHtml.checked = settings.strip_html;
}

/** @returns {DelimiterChoice} the delimiter select's value */
function delimiterChoice() {
  return DELIMITERS.find((d) => d === ui.delimiter.value) ?? 'auto';
}

/**
 * The settings in the form.
 * @returns {DataSettings}
 */
function readSettings() {
  const all = defaults();
  const preview = state.csv?.preview;
  const header = preview?.header ?? [];
  const text = ui.textColumn.value;
  const label = ui.labelColumn.value;
  const amazon = header.includes('Text') && header.includes('Score') && text === 'Text' && label === 'Score';
  /** @param {HTMLInputElement} input */
  const optional = (input) => (input.value === '' ? null : Math.max(1, Math.floor(Number(input.value))));
  return {
    delimiter: delimiterChoice(),
    columns: amazon ? 'amazon' : { named: { text, label } },
    split_column: preview?.split_column && ui.useSplit.checked ? preview.split_column : null,
    label_mode: all.labelModes.find((m) => m === ui.labelMode.value) ?? all.data.label_mode,
    max_words: optional(ui.maxWords),
    sample_size: optional(ui.sampleSize),
    seed: Math.max(0, Math.floor(Number(ui.seed.value) || 0)),
    test_fraction: Number(ui.testFraction.value),
    strip_html: ui.stripHtml.checked,
    label_separator: labelSeparator(),
    label_columns: ui.flagLabels.checked ? (preview?.flag_columns ?? []) : [],
  };
}

/** The label separator the user confirmed (the box checked), or null: one class per text. */
function labelSeparator() {
  return ui.multiLabel.checked && ui.labelSeparator.value !== '' ? ui.labelSeparator.value : null;
}

/**
 * Settings for a preview that finds the columns itself: the delimiter chosen, no columns named.
 * @returns {Partial<DataSettings>}
 */
function freshPreviewSettings() {
  return { ...defaults().data, delimiter: delimiterChoice(), split_column: null };
}

/**
 * Forget the CSV file and everything made from it: its bytes, its preview and columns, the
 * preprocessed summary, the features and the training controls. A new file starts from
 * nothing, so a file that cannot be read leaves nothing of the previous one to preprocess.
 */
function forgetCsv() {
  previewSeq++;
  state.csv = null;
  state.summary = null;
  state.outputs = null;
  state.extracted = false;
  ui.dataForm.hidden = true;
  ui.dataLayout.textContent = '';
  ui.delimiterFound.textContent = '';
  ui.textColumn.replaceChildren();
  ui.labelColumn.replaceChildren();
  ui.labelKind.textContent = '';
  ui.classes.hidden = true;
  ui.classes.tBodies[0].replaceChildren();
  ui.splitLine.hidden = true;
  ui.splitText.textContent = '';
  ui.testFraction.disabled = false;
  ui.multiLabel.checked = false;
  ui.labelSeparator.value = ';';
  ui.flagLabels.checked = false;
  ui.flagLine.hidden = true;
  ui.labelMode.disabled = false;
  ui.dataResult.hidden = true;
  ui.counts.tBodies[0].replaceChildren();
  ui.examples.replaceChildren();
  ui.extractStatus.hidden = true;
  ui.extractProgressLine.hidden = true;
  ui.trainControls.hidden = true;
  ui.report.hidden = true;
  ui.ftEstimate.textContent = '';
  refreshControls();
}

/** @param {File | null | undefined} file */
export async function onCsvFile(file) {
  if (!file || state.busy) return;
  setBusy(true);
  forgetCsv();
  ui.delimiter.value = 'auto';
  say(ui.dataStatus, `Reading ${file.name}…`);
  const seq = previewSeq;
  let columnsKnown = false;
  try {
    const all = await loadDefaults();
    // A large file is previewed from its start and read as a stream when preprocessed: it is
    // never held whole, here or in the worker.
    const large = file.size > all.stream.aboveBytes;
    const bytes = await (large ? file.slice(0, all.stream.previewBytes) : file).arrayBuffer();
    const [preview, hash] = await Promise.all([
      client.csvPreview(bytes, freshPreviewSettings(), large),
      large ? `${file.name}|${file.size}|${file.lastModified}` : sha256(bytes),
    ]);
    if (seq !== previewSeq) return;
    state.csv = { name: file.name, file, bytes, large, hash, preview };
    if (!settingsFilled) fillSettings(all.data);
    settingsFilled = true;
    columnsKnown = showPreview(file.name, preview);
    if (preview.flag_columns.length) ui.flagLabels.checked = true;
    else if (preview.label_separator) {
      ui.multiLabel.checked = true;
      ui.labelSeparator.value = preview.label_separator;
    }
    ui.dataForm.hidden = false;
  } catch (err) {
    say(ui.dataStatus, `cannot use ${file.name}: ${sentence(messageOf(err))}`, 'error');
    return;
  } finally {
    setBusy(false);
  }
  if (columnsKnown && ui.flagLabels.checked) {
    await onLabelColumnChanged();
    say(
      ui.dataStatus,
      `The columns ${state.csv?.preview.flag_columns.map((c) => `\`${c}\``).join(', ')} look like one label each ` +
        '(0 or 1 per text), so the box is checked: check the labels below, then press Preprocess ' +
        '(uncheck the box for one class per text from the label column).',
      'warn',
    );
  } else if (columnsKnown && ui.multiLabel.checked) {
    // Several labels per text is the user's to confirm: the labels are counted as labels, and
    // nothing is preprocessed until they press Preprocess.
    await onLabelColumnChanged();
    say(
      ui.dataStatus,
      `The labels in \`${ui.labelColumn.value}\` look like several per text, separated by ` +
        `\`${ui.labelSeparator.value}\`, so the box is checked: check the labels below, then press Preprocess ` +
        '(uncheck the box for one class per text).',
      'warn',
    );
  } else if (columnsKnown) await preprocess();
  else say(ui.dataStatus, 'Choose the text and the label column, then press Preprocess.', 'warn');
}

/**
 * Show what a preview found: the delimiter, the columns and the label mode (the preview's
 * guess and suggestion selected), the labels and the split column. Whether both columns were
 * found (else the user chooses them).
 * @param {string} name @param {Preview} p
 */
function showPreview(name, p) {
  const options = () => p.header.map((h) => new Option(h, h));
  ui.textColumn.replaceChildren(...options());
  ui.labelColumn.replaceChildren(...options());
  ui.textColumn.value = p.text_column ?? p.header[0] ?? '';
  ui.labelColumn.value =
    p.label_column ?? p.header.find((h) => h !== ui.textColumn.value) ?? p.header[0] ?? '';
  ui.labelMode.value = p.label_mode;
  const found = p.text_column !== null && p.label_column !== null;
  const large = state.csv?.large ? state.csv : null;
  const rows =
    `${count(p.rows)} row${p.rows === 1 ? '' : 's'}` +
    (large
      ? ` in its first ${megabytes(large.bytes.byteLength)} MB (of ${megabytes(large.file.size)} MB: ` +
        'the labels below are from those rows; Preprocess reads the whole file as a stream and keeps a random sample of the sample size)'
      : '');
  ui.dataLayout.textContent = p.amazon
    ? `${name}: the Amazon Fine Food Reviews layout (Text and Score columns) was found; ${rows}.`
    : `${name}: ${p.header.length} columns. Choose the text and the label column` +
      (found ? ` if these guesses are wrong; ${rows}.` : `; ${rows}.`);
  previewDelimiter = delimiterChoice();
  ui.flagLine.hidden = p.flag_columns.length === 0;
  ui.flagLabelsText.textContent = `Several labels per text, one 0/1 column each: ${p.flag_columns.join(', ')}`;
  showDelimiter(p);
  showLabels(p);
  ui.useSplit.checked = true;
  showSplit();
  return found;
}

/** The delimiter used, and whether it was detected or chosen. @param {Preview} p */
function showDelimiter(p) {
  const other = p.detected !== p.delimiter ? `; ${p.detected} was detected` : '';
  ui.delimiterFound.textContent =
    delimiterChoice() === 'auto'
      ? `Delimiter: ${p.delimiter} (detected)`
      : `Delimiter: ${p.delimiter} (chosen${other})`;
}

/** What the label column holds: its kind and its classes with their counts. @param {Preview} p */
function showLabels(p) {
  const column = p.label_column;
  if (column === null) {
    ui.labelKind.textContent = 'No label column was found: choose the column that holds the labels.';
    ui.classes.hidden = true;
    return;
  }
  ui.labelMode.disabled = p.multi_label;
  if (p.multi_label) {
    const labels = `${count(p.distinct_labels)} label${p.distinct_labels === 1 ? '' : 's'}`;
    const few = p.distinct_labels < 2 ? ' A classifier needs at least two labels.' : '';
    ui.labelKind.textContent =
      `Labels ${ui.flagLabels.checked ? `from the 0/1 columns ${p.flag_columns.join(', ')}` : `in \`${column}\``}: ` +
      `${labels}, any number per text (rows with each label below); ` +
      `a sigmoid per label, and each label's threshold chosen on the validation part.${few}`;
  } else {
    const values = `${count(p.distinct_labels)} distinct value${p.distinct_labels === 1 ? '' : 's'}`;
    const kind = p.label_kind === 'scores' ? `scores from 1 to 5 (${values})` : `classes (${values})`;
    const few = p.distinct_labels < 2 ? ' A classifier needs at least two classes.' : '';
    const several = p.label_separator
      ? ` They look like several labels per text, separated by \`${p.label_separator}\`: check the box above if so.`
      : '';
    ui.labelKind.textContent = `Labels in \`${column}\`: ${kind}; suggested label mode: ${p.label_mode}.${few}${several}`;
  }
  ui.classesCaption.textContent = `Labels found in \`${column}\``;
  const shown = p.classes.slice(0, CLASSES_SHOWN);
  const rows = shown.map((c) => row([c.name === '' ? '(empty)' : c.name, count(c.count)], true));
  const more = p.distinct_labels - shown.length;
  if (more > 0) rows.push(row([`+${count(more)} more`, ''], true));
  ui.classes.tBodies[0].replaceChildren(...rows);
  ui.classes.hidden = shown.length === 0;
}

/** The split column found, and whether it is used (the checkbox). */
function showSplit() {
  const p = state.csv?.preview;
  const use = ui.useSplit.checked;
  if (!p?.split_column || !p.split_counts) {
    ui.splitLine.hidden = true;
    ui.testFraction.disabled = false;
    return;
  }
  const c = p.split_counts;
  const counts = `${count(c.train)} train, ${count(c.validation)} validation, ${count(c.test)} test rows`;
  ui.splitText.textContent = use
    ? `Using the given split column \`${p.split_column}\`: ${counts}`
    : `Not using the split column \`${p.split_column}\` (${counts}): the rows are split at random, by class`;
  ui.splitLine.hidden = false;
  // The test part is the file's: the test fraction does not apply.
  ui.testFraction.disabled = use;
}

/** Another delimiter chosen: read the file again with it (columns, labels, split). */
async function onDelimiterChanged() {
  const csv = state.csv;
  if (!csv || state.busy) return;
  setBusy(true);
  const seq = ++previewSeq;
  try {
    const preview = await client.csvPreview(csv.bytes, freshPreviewSettings(), csv.large);
    if (seq !== previewSeq || state.csv !== csv) return;
    csv.preview = preview;
    const found = showPreview(csv.name, preview);
    say(
      ui.dataStatus,
      `${csv.name} read again with the ${preview.delimiter} delimiter: ` +
        (found
          ? 'check the columns and press Preprocess.'
          : 'choose the text and the label column, then press Preprocess.'),
    );
  } catch (err) {
    if (seq !== previewSeq || state.csv !== csv) return;
    const choice = delimiterChoice();
    ui.delimiter.value = previewDelimiter;
    say(
      ui.dataStatus,
      `cannot read ${csv.name} with the ${choice} delimiter: ${sentence(messageOf(err))}`,
      'error',
    );
  } finally {
    setBusy(false);
  }
}

/** Another label column chosen: show its labels (the label mode stays the user's). */
async function onLabelColumnChanged() {
  const csv = state.csv;
  if (!csv) return;
  const seq = ++previewSeq;
  const column = ui.labelColumn.value;
  try {
    const preview = await client.csvPreview(csv.bytes, readSettings(), csv.large);
    if (seq !== previewSeq || state.csv !== csv) return;
    csv.preview = preview;
    showLabels(preview);
  } catch (err) {
    if (seq !== previewSeq || state.csv !== csv) return;
    ui.labelKind.textContent = `The labels in \`${column}\` cannot be read: ${sentence(messageOf(err))}`;
    ui.classes.hidden = true;
  }
}

// This section's own controls (main.js wires the file input, the drop zone and the form).
ui.delimiter.addEventListener('change', onDelimiterChanged);
ui.labelColumn.addEventListener('change', onLabelColumnChanged);
ui.multiLabel.addEventListener('change', () => {
  // One source of several labels at a time.
  if (ui.multiLabel.checked) ui.flagLabels.checked = false;
  onLabelColumnChanged();
});
ui.flagLabels.addEventListener('change', () => {
  if (ui.flagLabels.checked) ui.multiLabel.checked = false;
  onLabelColumnChanged();
});
ui.labelSeparator.addEventListener('change', onLabelColumnChanged);
ui.useSplit.addEventListener('change', showSplit);

export async function preprocess() {
  if (!state.csv || state.busy) return;
  const csv = state.csv;
  setBusy(true);
  const job = csv.large ? startJob(ui.preprocessCancel) : null;
  if (csv.large) {
    ui.readProgressLine.hidden = false;
    ui.readProgress.value = 0;
    ui.readRate.textContent = '';
    say(ui.dataStatus, `Reading ${csv.name} (${megabytes(csv.file.size)} MB) as a stream, keeping a sample…`);
  }
  try {
    const summary = await client.dataset(csv.file, readSettings(), {
      signal: job?.signal,
      onProgress: (p) => {
        if (p.stage !== 'read') return;
        ui.readProgress.value = p.done / p.total;
        ui.readRate.textContent =
          `${megabytes(p.done)} of ${megabytes(p.total)} MB · ${megabytes(p.bytesPerSecond)} MB/s · ` +
          `${formatSeconds(p.secondsLeft)} left`;
      },
    });
    state.summary = summary;
    state.outputs = summary.outputs;
    state.extracted = false;
    ui.ftEstimate.textContent = '';
    ui.trainControls.hidden = true;
    showCounts(summary);
    ui.dataResult.hidden = false;
    say(ui.dataStatus, summaryText(csv.name, summary), 'ok');
    ui.extractStatus.hidden = true;
  } catch (err) {
    // The previous dataset of this file stays loaded in the worker; only this attempt failed.
    if (isCancelled(err)) {
      say(ui.dataStatus, `Reading ${csv.name} cancelled: press Preprocess to read it again.`, 'warn');
    } else {
      say(ui.dataStatus, `cannot use ${csv.name}: ${sentence(messageOf(err))}`, 'error');
    }
  } finally {
    if (job) endJob(ui.preprocessCancel);
    ui.readProgressLine.hidden = true;
    setBusy(false);
  }
}

/**
 * The status line after preprocessing: the parts' sizes and classes, and where the parts came
 * from when the file gave them.
 * @param {string} name @param {DatasetSummary} s
 */
function summaryText(name, s) {
  const c = s.counts;
  const noun = textsNoun(s);
  const text =
    `${name}: ${count(c.train)} training and ${count(c.test)} test ${noun}, ` +
    `${s.multi_label ? 'labels (any number per text)' : 'classes'} ${s.label_names.join(', ')}.`;
  const streamed = state.csv?.large
    ? ` The file was read as a stream: a random sample of ${count(c.after_sampling)} of its ` +
      `${count(c.after_words)} usable rows.`
    : '';
  if (s.split !== 'given') return text + streamed;
  const validation = c.validation_given ?? null;
  const part = validation === null ? '' : `, validation: its ${count(validation)} validation rows`;
  return `${text} Parts from the split column \`${s.settings.split_column}\`: test part: the file's ${count(c.test)} test rows${part}.${streamed}`;
}

/** @param {DatasetSummary} s */
function showCounts(s) {
  const c = s.counts;
  const settings = s.settings;
  const given = s.split === 'given';
  const validation = c.validation_given ?? null;
  const labelDrops = [];
  if (c.dropped_neutral) labelDrops.push(`${c.dropped_neutral} neutral (score 3)`);
  if (c.dropped_unusable_label) {
    labelDrops.push(
      `${c.dropped_unusable_label} unusable, e.g. ${c.unusable_label_examples.map((x) => JSON.stringify(x)).join(', ')}`,
    );
  }
  const rows = [
    ['Rows read', c.rows_read, c.blank_lines ? `${c.blank_lines} blank lines skipped` : ''],
    ['Text and label not empty', c.after_empty, c.dropped_empty || ''],
    [`Labels (${settings.label_mode})`, c.after_labels, labelDrops.join('; ')],
    [
      settings.max_words ? `Fewer than ${settings.max_words} words` : 'Any length',
      c.after_words,
      c.dropped_long || '',
    ],
    [
      settings.sample_size ? `Sample of at most ${settings.sample_size}` : 'No sampling',
      c.after_sampling,
      c.dropped_by_sampling || '',
    ],
    ...s.label_names.map((n, i) => [`  ${s.multi_label ? 'label' : 'class'} ${n}`, c.per_class[i], '']),
    [
      validation === null
        ? 'Training part (validation: its last 20 %)'
        : `Training part (validation: the file's ${validation} validation rows)`,
      c.train,
      s.label_names.map((n, i) => `${c.train_per_class[i]} ${n}`).join(', '),
    ],
    [
      given ? "Test part: the file's test rows" : `Test part (${settings.test_fraction})`,
      c.test,
      s.label_names.map((n, i) => `${c.test_per_class[i]} ${n}`).join(', '),
    ],
  ];
  if (c.blank_after_html) rows.push(['Blank once HTML tags are removed', c.blank_after_html, 'kept']);
  ui.counts.tBodies[0].replaceChildren(...rows.map((r) => row(r, true)));
  ui.examples.replaceChildren(
    ...s.examples.map((e) => {
      const li = document.createElement('li');
      const labels = s.multi_label
        ? (e.labels ?? []).map((l) => s.label_names[l] ?? l).join('; ') || '(no label)'
        : (s.label_names[e.label] ?? e.label);
      li.append(cell('strong', labels), ' ', cell('span', e.text));
      return li;
    }),
  );
}

export async function onExtract() {
  if (!state.summary || !state.csv || !client.info || state.busy) return;
  const { pooling, maxLen } = defaults();
  const key = [
    client.info.modelId,
    state.csv.hash,
    JSON.stringify(state.summary.settings),
    pooling,
    maxLen,
  ].join('|');
  askPersistentStorage();
  setBusy(true);
  const job = startJob(ui.extractCancel);
  const total = state.summary.counts.train + state.summary.counts.test;
  ui.extractProgressLine.hidden = false;
  ui.extractProgress.max = total;
  ui.extractProgress.value = 0;
  ui.extractRate.textContent = '';
  say(ui.extractStatus, `Extracting features of ${total} texts on ${deviceName(client.device)}…`);
  const started = performance.now();
  let done = 0;
  try {
    const result = await client.extract({
      key,
      pooling,
      maxLen,
      signal: job.signal,
      onProgress: (p) => {
        if (p.stage !== 'extract') return;
        done = p.done;
        ui.extractProgress.value = p.done;
        const seconds = (performance.now() - started) / 1000;
        // Rows a checkpoint of an earlier run gave took no time here.
        const rate = (p.done - p.resumed) / seconds;
        const kept = p.resumed ? ` (${p.resumed} kept from an earlier run)` : '';
        ui.extractRate.textContent =
          p.done > p.resumed
            ? `${p.done} of ${p.total} texts${kept} · ${rate.toFixed(1)} texts/s · ${formatSeconds((p.total - p.done) / rate)} left`
            : `${p.done} of ${p.total} texts${kept}`;
      },
    });
    ui.extractProgress.value = total;
    state.extracted = true;
    if (result.cached) {
      ui.extractRate.textContent = `${result.rows} of ${result.rows} texts`;
      say(
        ui.extractStatus,
        `Features of ${result.rows} texts loaded from this browser's cache (extracted earlier with the same model, data and settings).`,
        'ok',
      );
    } else {
      const seconds = result.ms / 1000;
      const extracted = result.rows - result.resumed;
      const stored = result.storeError
        ? ` They could not be kept for next time: ${result.storeError}`
        : ' They are kept in this browser for next time.';
      say(
        ui.extractStatus,
        (result.resumed
          ? `Extracted features of ${extracted} texts in ${seconds.toFixed(1)} s ` +
            `(${(extracted / seconds).toFixed(1)} texts/s); ${result.resumed} more were kept from an earlier run.`
          : `Extracted features of ${result.rows} texts in ${seconds.toFixed(1)} s ` +
            `(${(result.rows / seconds).toFixed(1)} texts/s).`) + stored,
        result.storeError ? 'warn' : 'ok',
      );
    }
    showTrainControls();
  } catch (err) {
    if (isCancelled(err)) {
      say(
        ui.extractStatus,
        `Extraction cancelled after ${done} of ${total} texts. Your data and settings are kept: ` +
          'press Extract features to go on from there.',
        'warn',
      );
    } else {
      say(
        ui.extractStatus,
        `feature extraction failed: ${sentence(messageOf(err))} Your data is kept: try again, or choose the CPU.`,
        'error',
      );
    }
  } finally {
    endJob(ui.extractCancel);
    setBusy(false);
  }
}
