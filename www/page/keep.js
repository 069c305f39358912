// @ts-check
// Section 4, keep: the classifier in use comes back after a reload. The worker stores it
// (client.keepClassifier and friends); this part says what happened, and downloads, loads and
// resets it.

import { fetchDefaultClassifier } from '../model_fetch.js';
import { showClassifier } from './classify.js';
import { messageOf, sentence } from './format.js';
import { askPersistentStorage, client, say, setBusy, state, ui } from './state.js';

const DEFAULT_SOURCE = 'default (all-MiniLM-L6-v2, Amazon reviews)';

/**
 * Make classifier bytes the one in use; `keep` has the worker store it for the next visit.
 * Resolves to a warning (or null) about the base model or storage.
 * @param {ArrayBuffer} bytes
 * @param {string} source what to call it
 * @param {boolean} keep
 * @returns {Promise<string | null>}
 */
async function useClassifier(bytes, source, keep) {
  const { meta, mismatch } = await client.setClassifier(bytes);
  state.classifier = meta;
  state.classifierSource = source;
  showClassifier();
  let warning = mismatch;
  if (keep) {
    askPersistentStorage();
    let stored;
    try {
      stored = (await client.keepClassifier(source)).warning;
    } catch (err) {
      stored = messageOf(err);
    }
    warning = [warning, stored].filter(Boolean).join(' ') || null;
  }
  return warning;
}

/**
 * The classifier kept from the last visit, else the default one, once `modelReady` has
 * settled: the worker checks that the classifier fits the model.
 * @param {Promise<unknown>} modelReady
 * @returns {Promise<import('./state.js').ClassifierMeta | null>}
 */
export async function loadClassifier(modelReady) {
  await modelReady.catch(() => {}); // a classifier loads even when the model did not
  try {
    const kept = await client.loadKeptClassifier();
    if (kept) {
      state.classifier = kept.meta;
      state.classifierSource = kept.source ?? 'kept from your last visit';
      showClassifier();
      return state.classifier;
    }
  } catch (err) {
    say(
      ui.keepStatus,
      `the classifier kept in this browser could not be read (${messageOf(err)}); using the default one.`,
      'warn',
    );
  }
  try {
    await useClassifier(await fetchDefaultClassifier(), DEFAULT_SOURCE, false);
  } catch (err) {
    state.classifierSource = 'none';
    ui.classifierName.textContent = 'none loaded';
    say(
      ui.classifyStatus,
      `could not load the default classifier (${messageOf(err)}): train one below or load a classifier file.`,
      'error',
    );
  }
  return state.classifier;
}

/** Keep the worker's current classifier (just trained) for the next visit, saying so here. */
export async function keepClassifier() {
  askPersistentStorage();
  let warning;
  try {
    warning = (await client.keepClassifier(state.classifierSource)).warning;
  } catch (err) {
    warning = messageOf(err);
  }
  if (warning) say(ui.keepStatus, `${sentence(warning)} Download it to keep it.`, 'warn');
  else say(ui.keepStatus, 'Your classifier is kept in this browser. Download it to keep a copy.', 'ok');
}

/** The name the ONNX export is saved under. */
const EXPORT_NAME = 'bertweb-classifier-onnx.zip';

/**
 * Have the browser save `bytes` as a file called `name`.
 * @param {ArrayBuffer} bytes
 * @param {string} name
 * @param {string} type
 */
function save(bytes, name, type) {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export async function onClassifierDownload() {
  if (state.busy) return;
  try {
    save(await client.classifierBytes(), 'bertweb-classifier.safetensors', 'application/octet-stream');
  } catch (err) {
    say(ui.keepStatus, `could not save the classifier: ${sentence(messageOf(err))}`, 'error');
  }
}

/**
 * Save the classifier in use, base model included, as a zip of a Hugging Face folder that other
 * tools load: config.json, the tokenizer and onnx/model.onnx.
 */
export async function onExportDownload() {
  if (state.busy) return;
  setBusy(true);
  say(ui.keepStatus, 'Exporting the model and classifier as one ONNX model…');
  try {
    // The data set the classifier was trained on, when it is the one loaded now.
    const trainedHere = state.csv && state.summary && !state.classifier?.imported;
    const card = {
      dataset: trainedHere ? state.csv?.name : '',
      rows: trainedHere && state.summary ? state.summary.counts.train + state.summary.counts.test : null,
      base_model: ui.modelName.textContent ?? '',
      date: new Date().toISOString().slice(0, 10),
    };
    save(await client.exportForOtherTools(card), EXPORT_NAME, 'application/zip');
    say(
      ui.keepStatus,
      `Saved ${EXPORT_NAME}: unzipped, a folder (config.json, the tokenizer, onnx/model.onnx) that ` +
        "transformers.js loads with pipeline('text-classification', …) and onnxruntime runs; the README shows how.",
      'ok',
    );
  } catch (err) {
    say(ui.keepStatus, `could not export the classifier: ${sentence(messageOf(err))}`, 'error');
  } finally {
    setBusy(false);
  }
}

export async function onClassifierFile() {
  const file = ui.classifierFile.files?.[0];
  if (!file || state.busy) return;
  setBusy(true);
  try {
    const warning = await useClassifier(await file.arrayBuffer(), `from ${file.name}`, true);
    if (warning) say(ui.keepStatus, `Loaded ${file.name}, but: ${sentence(warning)}`, 'warn');
    else say(ui.keepStatus, `Loaded ${file.name}; it is in use and kept in this browser.`, 'ok');
  } catch (err) {
    say(
      ui.keepStatus,
      `could not load ${file.name}: ${sentence(messageOf(err))} The previous classifier is still in use.`,
      'error',
    );
  } finally {
    ui.classifierFile.value = '';
    setBusy(false);
  }
}

export async function onClassifierReset() {
  if (state.busy) return;
  setBusy(true);
  try {
    await useClassifier(await fetchDefaultClassifier(), DEFAULT_SOURCE, false);
    await client.forgetKeptClassifier().catch(() => {});
    say(ui.keepStatus, 'The default classifier is in use again.', 'ok');
  } catch (err) {
    say(ui.keepStatus, `could not load the default classifier: ${sentence(messageOf(err))}`, 'error');
  } finally {
    setBusy(false);
  }
}
