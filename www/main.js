// @ts-check
// The page's entry point: wires the sections in www/page/ to the DOM and starts the worker,
// the defaults, the default model and the classifier. All model work (and CSV parsing,
// training, metrics, storage of what is kept) happens in www/worker.js, reached through the
// promise RPC in www/client.js. User text goes into the DOM as textContent only, never as HTML.
//
// www/page/: state.js (what the sections share: client, state, elements, defaults, status and
// busy helpers), model.js, classify.js (with explain.js: why it decided), data.js, train.js,
// finetune.js, keep.js, embed.js (one per section; label.js: labeling texts in section 3), and settings.js, diagram.js, report.js,
// format.js (what several use).
// www/model_fetch.js fetches and caches model folders, with no DOM.

import { onBatchFile, onBatchRun, onClassify, onExplain } from './page/classify.js';
import { onCsvFile, onExtract, preprocess } from './page/data.js';
import { drawHead } from './page/diagram.js';
import { onEmbed } from './page/embed.js';
import { onFineTune, scheduleEstimate } from './page/finetune.js';
import { messageOf } from './page/format.js';
import {
  labelingSnapshot,
  onLabelingFile,
  onLabelingForget,
  onLabelingStart,
  onLabelingTrain,
  restoreLabeling,
} from './page/label.js';
import {
  loadClassifier,
  onClassifierDownload,
  onClassifierFile,
  onClassifierReset,
  onExportDownload,
} from './page/keep.js';
import {
  deviceChoice,
  loadDefault,
  loadModelFiles,
  onDeviceChanged,
  onModelUrl,
  onThreadsChanged,
  onWorkerProgress,
  threadsChoice,
} from './page/model.js';
import { client, loadDefaults, offer, refreshControls, trainModeRadios, ui } from './page/state.js';
import { onModeChanged, onPresetChanged, onTrain } from './page/train.js';

/**
 * Files dropped on `zone` go to `onFiles`; anywhere else a drop does nothing (no navigation).
 * @param {HTMLElement} zone
 * @param {(files: FileList) => void} onFiles
 */
function dropZone(zone, onFiles) {
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('dragging');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    e.stopPropagation();
    zone.classList.remove('dragging');
    if (e.dataTransfer?.files?.length) onFiles(e.dataTransfer.files);
  });
}
document.addEventListener('dragover', (e) => e.preventDefault());
document.addEventListener('drop', (e) => e.preventDefault());

client.onProgress(onWorkerProgress);
dropZone(ui.modelSection, (files) => loadModelFiles(files));
dropZone(ui.csvDrop, (files) => onCsvFile(files[0]));
ui.files.addEventListener('change', () => loadModelFiles(ui.files.files));
ui.urlForm.addEventListener('submit', onModelUrl);
ui.device.addEventListener('change', onDeviceChanged);
ui.threads.addEventListener('change', onThreadsChanged);
ui.classifyForm.addEventListener('submit', onClassify);
ui.review.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) ui.classifyForm.requestSubmit();
});
ui.explain.addEventListener('click', onExplain);
ui.batchFile.addEventListener('change', onBatchFile);
ui.batchRun.addEventListener('click', onBatchRun);
ui.labelingFile.addEventListener('change', onLabelingFile);
ui.labelingStart.addEventListener('click', onLabelingStart);
ui.labelingTrain.addEventListener('click', onLabelingTrain);
ui.labelingForget.addEventListener('click', onLabelingForget);
ui.csvFile.addEventListener('change', () => onCsvFile(ui.csvFile.files?.[0]));
ui.dataForm.addEventListener('submit', (e) => {
  e.preventDefault();
  preprocess();
});
ui.extract.addEventListener('click', onExtract);
ui.preset.addEventListener('change', onPresetChanged);
ui.train.addEventListener('click', onTrain);
ui.fineTune.addEventListener('click', onFineTune);
for (const radio of trainModeRadios()) radio.addEventListener('change', onModeChanged);
for (const input of [ui.ftLayers, ui.ftEpochs, ui.ftBatch, ui.ftEncoderLr, ui.ftHeadLr]) {
  input.addEventListener('input', () => {
    drawHead();
    scheduleEstimate();
  });
}
ui.classifierDownload.addEventListener('click', onClassifierDownload);
ui.exportDownload.addEventListener('click', onExportDownload);
ui.classifierFile.addEventListener('change', onClassifierFile);
ui.classifierReset.addEventListener('click', onClassifierReset);
ui.form.addEventListener('submit', onEmbed);
ui.text.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) ui.form.requestSubmit();
});
ui.progressLine.hidden = true;
refreshControls();

const params = new URLSearchParams(location.search);
// `?device=cpu|webgpu|auto` picks the first device (a shareable link; the tests use it too).
const askedDevice = params.get('device');
if ([...ui.device.options].some((o) => o.value === askedDevice)) ui.device.value = String(askedDevice);
// `?threads=N` sets the CPU threads for extraction (the benchmark compares 1 and all).
const cores = navigator.hardwareConcurrency || 1;
for (let n = 1; n <= Math.min(Math.max(cores, 2), 8); n++) ui.threads.add(new Option(String(n), String(n)));
const askedThreads = params.get('threads');
if ([...ui.threads.options].some((o) => o.value === askedThreads)) ui.threads.value = String(askedThreads);
client.setThreads(threadsChoice()).catch((err) => console.warn(`CPU threads: ${messageOf(err)}`));
// The worker starts the wasm build for this device while the model files are read below.
client.prepare(deviceChoice()).catch((err) => console.warn(`WebAssembly: ${messageOf(err)}`));
// The defaults come next (the worker answers in order, so before the model loads): the label
// modes and presets the wasm offers replace the page's lists, keeping their descriptions.
loadDefaults().then(
  (d) => {
    offer(ui.labelMode, d.labelModes);
    offer(ui.preset, d.presetNames);
    offer(ui.labelingStrategy, d.labeling.strategies);
  },
  (err) => console.warn(`defaults: ${messageOf(err)}`), // the model load says why
);

const ready = loadDefault();
ready.catch(() => {}); // shown in the status area; tests await `ready` themselves

/**
 * The app shell and pkg/ cached by sw.js, so the next visit works offline. Registered once the
 * model has loaded: installing it downloads both wasm builds, which would compete with the
 * first visit's own downloads.
 */
const serviceWorker =
  'serviceWorker' in navigator
    ? ready
        .catch(() => {})
        .then(() => navigator.serviceWorker.register(new URL('../sw.js', import.meta.url)))
        .then(() => navigator.serviceWorker.ready)
    : Promise.reject(new Error('this browser has no service workers'));
serviceWorker.catch((err) => console.warn(`offline use is not available: ${messageOf(err)}`));
const classifierReady = loadClassifier(ready);
classifierReady.catch(() => {});
// A labeling session kept in this browser comes back once the model has loaded.
const labelingReady = restoreLabeling(ready);
labelingReady.catch((err) => console.warn(`labeling: ${messageOf(err)}`));

/**
 * Test and console hook: `await bertweb.ready; await bertweb.client.classify([...])`;
 * `bertweb.labeling()` is the labeling state (texts, labels, skipped, predictions, queue).
 */
Object.assign(window, {
  bertweb: { ready, classifierReady, labelingReady, serviceWorker, client, labeling: labelingSnapshot },
});
