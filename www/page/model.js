// @ts-check
// Section 1, model: which model runs where. Loads the default model, a folder at a URL or
// picked files (their bytes come from www/model_fetch.js), switches device and CPU threads,
// and shows the progress and the outcome in the status line.

import { DEFAULT_MODEL_NAME, DEFAULT_MODEL_URL, fetchModelFolder, folderUrl } from '../model_fetch.js';
import { showClassifier } from './classify.js';
import { scheduleEstimate } from './finetune.js';
import { formatBytes, messageOf, sentence } from './format.js';
import { trainMode } from './settings.js';
import { client, deviceName, refreshControls, say, setBusy, setStatus, state, ui } from './state.js';

/** @typedef {import('../protocol.js').EncoderInfo} EncoderInfo */
/** @typedef {import('../model_fetch.js').FetchProgress} FetchProgress */

/**
 * The device line: "CPU (WebAssembly), 2 threads".
 * @param {string} device
 * @param {number} [threads]
 */
function showDevice(device, threads = 1) {
  const name = deviceName(device);
  ui.deviceLabel.textContent = device === 'cpu' && threads > 1 ? `${name}, ${threads} threads` : name;
  ui.deviceLabel.dataset.device = device;
  ui.deviceLabel.dataset.threads = String(threads);
}

/** @param {EncoderInfo} info @param {string} modelName */
function showEncoder(info, modelName) {
  ui.modelName.textContent = modelName;
  showDevice(info.device, info.threads);
  ui.threads.options[0].textContent = `Automatic (${info.autoThreads})`;
  const seconds = (info.loadMs / 1000).toFixed(1);
  let folder = '';
  if (info.folderClassifier) {
    // A Hugging Face classifier folder: ready to classify, no training needed.
    state.classifier = info.folderClassifier;
    state.classifierSource = `${modelName}'s own classifier`;
    const labels = info.folderClassifier.label_names;
    folder =
      ` It carries its own classifier (${labels.length} labels: ${labels.join(', ')}), now in use: ` +
      'type a text or choose a CSV file to classify.';
  } else if (info.folderClassifierError) {
    folder =
      ` Its classifier part could not be used (${sentence(info.folderClassifierError)}); ` +
      'the encoder works: train a classifier on it.';
  }
  if (info.fallback) {
    setStatus(
      `The model runs on the CPU because WebGPU is not available: ${sentence(info.fallback)} ` +
        `Ready: ${modelName}, ${info.dim} dimensions, loaded in ${seconds} s.${folder}`,
      'warn',
    );
  } else {
    setStatus(
      `Ready: ${modelName} on ${deviceName(info.device)}, ` +
        `${info.dim} dimensions, loaded in ${seconds} s.${folder}`,
      info.folderClassifierError ? 'warn' : 'ok',
    );
  }
  showClassifier();
  if (!ui.trainControls.hidden && trainMode() === 'finetune') scheduleEstimate();
}

/**
 * A model load's steps, in the status line.
 * @param {import('../protocol.js').ProgressMessage} p
 */
function onLoadProgress(p) {
  if (p.stage === 'wasm' || p.stage === 'encoder') setStatus(p.message);
}

/**
 * Every request's progress: a switch to the CPU, or a restart after a crash, whatever request it
 * happened in. (Other requests' steps stay out of the status line: a classifier loading after
 * the model failed would hide that error.)
 * @param {import('../protocol.js').ProgressMessage} p
 */
export function onWorkerProgress(p) {
  if (p.stage === 'restarted') {
    setStatus(sentence(p.message), 'warn');
    if (p.featuresLost && state.extracted) {
      state.extracted = false;
      say(
        ui.extractStatus,
        'The features were lost when the model crashed (they were not stored in this browser): press Extract features again.',
        'warn',
      );
      refreshControls();
    }
  }
  if (p.stage === 'fallback') {
    const reason = p.reason;
    client.info = { ...p.info, fallback: reason };
    showDevice(p.info.device, p.info.threads);
    setStatus(`${sentence(reason)} Your data and results are kept.`, 'warn');
  }
}

/**
 * Show a folder's download (or cache read) in the progress line and the status line.
 * @param {string} label what to call the folder in the status line
 * @returns {(p: FetchProgress) => void}
 */
function showFetch(label) {
  const caption = /** @type {HTMLLabelElement} */ (ui.progressLine.querySelector('label'));
  return (p) => {
    if (p.stage === 'files') {
      setStatus(`Reading ${p.name} (${formatBytes(p.size)})…`);
    } else if (p.stage === 'start') {
      ui.progressLine.hidden = false;
      caption.textContent = p.fromCache ? 'Reading from cache' : 'Downloading';
      ui.progress.max = p.total || 1;
      if (!p.total) ui.progress.removeAttribute('value');
      setStatus(`${p.fromCache ? 'Reading' : 'Downloading'} ${label}…`);
    } else if (p.stage === 'bytes') {
      if (p.total) ui.progress.value = p.loaded;
      ui.bytes.textContent = p.total
        ? `${formatBytes(p.loaded)} of ${formatBytes(p.total)}`
        : formatBytes(p.loaded);
    } else {
      caption.textContent = p.fromCache ? 'Read from cache' : 'Downloaded';
    }
  };
}

/**
 * After a folder is loaded: say when its files could not be cached for offline use.
 * @param {Promise<string | null>} stored
 */
async function reportCaching(stored) {
  const cacheWarning = await stored;
  if (cacheWarning) setStatus(`${ui.status.textContent} Not cached for offline use: ${cacheWarning}`, 'warn');
}

/** Load the default model on the chosen device. Resolves to the encoder info. */
export async function loadDefault() {
  setBusy(true);
  try {
    let fetched;
    try {
      fetched = await fetchModelFolder(
        { url: DEFAULT_MODEL_URL },
        { onProgress: showFetch(DEFAULT_MODEL_NAME) },
      );
    } catch (err) {
      throw new Error(
        `could not download the default model (${messageOf(err)}). ` +
          'Run `python3 scripts/fetch_model.py` and reload, or use your own model files below.',
      );
    }
    const info = await client.load(fetched.files, deviceChoice(), onLoadProgress);
    showEncoder(info, fetched.name);
    await reportCaching(fetched.stored);
    return info;
  } catch (err) {
    setStatus(messageOf(err), 'error');
    throw err;
  } finally {
    setBusy(false);
  }
}

/** After a new model: features belong to the old one, the classifier may not fit. */
function modelChanged() {
  state.extracted = false;
  ui.trainControls.hidden = true;
  ui.result.hidden = true;
  ui.verdict.textContent = '';
  showClassifier();
}

/** @param {FileList | File[] | null | undefined} fileList */
export async function loadModelFiles(fileList) {
  if (!fileList?.length || state.busy) return;
  setBusy(true);
  try {
    const { files, name } = await fetchModelFolder({ files: fileList }, { onProgress: showFetch('') });
    const info = await client.load(files, deviceChoice(), onLoadProgress);
    showEncoder(info, name);
    modelChanged();
  } catch (err) {
    const keep = client.info ? ' The previous model is still loaded and usable.' : '';
    setStatus(`could not load your model: ${sentence(messageOf(err))}${keep}`, 'error');
  } finally {
    ui.files.value = '';
    setBusy(false);
  }
}

/** @param {SubmitEvent} event */
export async function onModelUrl(event) {
  event.preventDefault();
  if (state.busy) return;
  const base = folderUrl(ui.url.value);
  if (!base) {
    setStatus(
      'that is not a web address: give the folder URL, e.g. https://huggingface.co/bert-base-uncased/resolve/main/',
      'error',
    );
    return;
  }
  setBusy(true);
  try {
    const { files, name, stored } = await fetchModelFolder(
      { url: base },
      { onProgress: showFetch(base.href) },
    );
    const info = await client.load(files, deviceChoice(), onLoadProgress);
    showEncoder(info, name);
    modelChanged();
    await reportCaching(stored);
  } catch (err) {
    const keep = client.info ? ' The previous model is still loaded and usable.' : '';
    setStatus(
      `could not load the model from ${base.href}: ${sentence(messageOf(err))} The folder must hold ` +
        `config.json, model.safetensors and tokenizer.json (or vocab.txt).${keep}`,
      'error',
    );
  } finally {
    setBusy(false);
  }
}

export async function onDeviceChanged() {
  if (state.busy || !client.info) return;
  setBusy(true);
  try {
    const info = await client.reload(deviceChoice(), onLoadProgress);
    showEncoder(info, ui.modelName.textContent ?? '');
  } catch (err) {
    setStatus(
      `could not switch device: ${sentence(messageOf(err))} Choose another device or reload the page.`,
      'error',
    );
  } finally {
    setBusy(false);
  }
}

export async function onThreadsChanged() {
  if (state.busy || !client.info) return;
  setBusy(true);
  try {
    const { threads } = await client.setThreads(threadsChoice());
    showDevice(client.info.device, threads);
    client.info = { ...client.info, threads };
  } catch (err) {
    setStatus(`could not change the CPU threads: ${sentence(messageOf(err))}`, 'error');
  } finally {
    setBusy(false);
  }
}

/**
 * The device select's value.
 * @returns {import('../protocol.js').DeviceChoice}
 */
export function deviceChoice() {
  const v = ui.device.value;
  return v === 'webgpu' || v === 'cpu' ? v : 'auto';
}

/**
 * The threads select's value: 'auto' or a number.
 * @returns {number | 'auto'}
 */
export function threadsChoice() {
  return ui.threads.value === 'auto' ? 'auto' : Number(ui.threads.value);
}
