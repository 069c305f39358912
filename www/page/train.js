// @ts-check
// Section 3, training: the controls shown once features are there, the choice between a head
// and fine-tuning, and training a head on the frozen features.

import { showClassifier } from './classify.js';
import { drawHead } from './diagram.js';
import { scheduleEstimate } from './finetune.js';
import { formatSeconds, isCancelled, messageOf, sentence } from './format.js';
import { keepClassifier } from './keep.js';
import { dataKey, epochCharts, epochText, plotHistory, showComparison, showReport } from './report.js';
import { presetSettings, trainMode } from './settings.js';
import { client, defaults, endJob, say, setBusy, startJob, state, ui } from './state.js';

/** @typedef {import('../protocol.js').EpochReport} EpochReport */

/** The preset's epochs in the form, or what is there when the preset is unknown. */
function presetEpochs() {
  const epochs = presetSettings()?.epochs;
  if (epochs !== undefined) ui.epochs.value = String(epochs);
}

/** Show the training controls, filled with the defaults where still empty. */
export function showTrainControls() {
  ui.trainControls.hidden = false;
  if (!ui.epochs.value) presetEpochs();
  const ft = defaults().fineTune;
  const layers = client.info?.layers;
  if (layers) {
    ui.ftLayers.max = String(layers);
    ui.ftLayersHelp.textContent = `of ${layers} (0: only the head)`;
  }
  if (!ui.ftLayers.value) {
    ui.ftLayers.value = String(Math.min(ft.layers, layers ?? ft.layers));
    ui.ftEpochs.value = String(ft.epochs);
    ui.ftBatch.value = String(ft.batch_size);
    ui.ftEncoderLr.value = String(ft.encoder_lr);
    ui.ftHeadLr.value = String(ft.head_lr);
  }
  onModeChanged();
}

export function onPresetChanged() {
  presetEpochs();
  drawHead();
}

export function onModeChanged() {
  const finetune = trainMode() === 'finetune';
  ui.headControls.hidden = finetune;
  ui.fineTuneControls.hidden = !finetune;
  drawHead();
  if (finetune) scheduleEstimate();
}

export async function onTrain() {
  if (!state.extracted || state.busy) return;
  const preset = presetSettings();
  if (!preset) return;
  const epochs = Math.max(1, Math.floor(Number(ui.epochs.value) || 1));
  const settings = { ...preset, epochs };
  const key = dataKey();
  setBusy(true);
  const job = startJob(ui.trainCancel);
  drawHead();
  const charts = epochCharts();
  /** @type {EpochReport[]} */
  const history = [];
  ui.report.hidden = true;
  say(ui.trainStatus, `Training the ${settings.preset} head for at most ${epochs} epochs…`);
  const started = performance.now();
  try {
    const { meta, report } = await client.train(settings, {
      signal: job.signal,
      onProgress: (p) => {
        if (p.stage !== 'epoch' || !p.report) return;
        const r = p.report;
        history.push(r);
        plotHistory(charts, history);
        // Epochs take about as long as each other; early stopping may end the run sooner.
        const perEpoch = (performance.now() - started) / 1000 / history.length;
        const left = epochs - r.epoch;
        say(
          ui.trainStatus,
          left > 0
            ? `${epochText(r, epochs)} · at most ${formatSeconds(left * perEpoch)} left`
            : epochText(r, epochs),
        );
      },
    });
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    state.classifier = meta;
    state.classifierSource = `trained here on ${state.csv?.name ?? 'your data'}`;
    state.reports.head = { key, report, label: `Frozen head (${settings.preset})` };
    showReport(report, `Test report: the ${settings.preset} head on frozen features`);
    showComparison('head');
    say(
      ui.trainStatus,
      `Trained in ${seconds} s; kept epoch ${meta.best_epoch?.epoch} of ${history.length}. ` +
        'This classifier is now in use above.',
      'ok',
    );
    showClassifier();
    await keepClassifier();
  } catch (err) {
    if (isCancelled(err)) {
      say(
        ui.trainStatus,
        `Training cancelled after ${history.length} epochs. The features are kept and the ` +
          'previous classifier is still in use: press Train to start again.',
        'warn',
      );
    } else {
      say(
        ui.trainStatus,
        `training failed: ${sentence(messageOf(err))} The features and the previous classifier are kept.`,
        'error',
      );
    }
  } finally {
    endJob(ui.trainCancel);
    setBusy(false);
  }
}
