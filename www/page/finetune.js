// @ts-check
// Section 3, fine-tuning: the expected time of a run with the form's settings, and the run
// itself (progress by phase, curves, the report; the result becomes the classifier in use).

import { showClassifier } from './classify.js';
import { drawHead } from './diagram.js';
import { formatSeconds, isCancelled, messageOf, num, sentence } from './format.js';
import { keepClassifier } from './keep.js';
import { dataKey, epochCharts, epochText, plotHistory, showComparison, showReport } from './report.js';
import { readFineTuneSettings, trainMode } from './settings.js';
import { client, deviceName, endJob, say, setBusy, startJob, state, ui } from './state.js';

/** @typedef {import('../protocol.js').EpochReport} EpochReport */
/**
 * A fine-tuning run's progress: its steps, then its test.
 * @typedef {Extract<import('../protocol.js').ProgressMessage, {stage: 'finetune' | 'test'}>} RunProgress
 */

let estimateTimer = 0;
let estimateGeneration = 0;

/** Show the expected time of fine-tuning with the form's settings, shortly after they change. */
export function scheduleEstimate() {
  clearTimeout(estimateTimer);
  estimateTimer = setTimeout(() => updateEstimate(), 250);
}

async function updateEstimate() {
  if (trainMode() !== 'finetune' || !state.summary || !client.info) return;
  if (state.busy) {
    scheduleEstimate(); // after the running job: the worker answers one request at a time
    return;
  }
  const generation = ++estimateGeneration;
  const settings = readFineTuneSettings();
  const device = deviceName(client.device);
  ui.ftEstimate.textContent = `Estimating the time on ${device} (timing a few fine-tuning steps)…`;
  ui.ftEstimate.dataset.seconds = '';
  try {
    const plan = await client.fineTunePlan(settings);
    if (generation !== estimateGeneration) return;
    const { steps, seconds } = plan.rates;
    const how = plan.fresh
      ? `from ${steps} real steps timed here just now, in ${seconds.toFixed(1)} s`
      : `from ${steps} real steps of these settings timed here earlier`;
    const threads = plan.device === 'cpu' ? `, ${plan.threads} thread${plan.threads === 1 ? '' : 's'}` : '';
    ui.ftEstimate.textContent =
      `Estimated time on ${deviceName(plan.device)}${threads}: about ` +
      `${formatSeconds(plan.seconds)} for ${settings.epochs} epoch${settings.epochs === 1 ? '' : 's'} and the test ` +
      `(${how}).`;
    ui.ftEstimate.dataset.seconds = String(plan.seconds);
  } catch (err) {
    if (generation !== estimateGeneration) return;
    ui.ftEstimate.textContent = `No time estimate: ${sentence(messageOf(err))}`;
  }
}

/**
 * What a fine-tuning step is doing, in words.
 * @param {RunProgress} p
 * @param {number} epochs
 */
function phaseText(p, epochs) {
  if (p.stage === 'test') return `Testing: ${p.done} of ${p.total} test texts`;
  const step = p.step;
  if (!step) return 'Starting…';
  switch (step.phase) {
    case 'caching':
      return `Caching frozen layers: ${step.done} of ${step.total} texts`;
    case 'training':
      return `Epoch ${step.epoch} of ${epochs}: training, ${step.done} of ${step.total} texts`;
    case 'validating':
      return `Epoch ${step.epoch} of ${epochs}: validating, ${step.done} of ${step.total} texts`;
    default:
      return 'Training done: testing…';
  }
}

export async function onFineTune() {
  if (!state.extracted || state.busy || !client.info) return;
  const settings = readFineTuneSettings();
  const epochs = settings.epochs;
  const layers = settings.layers;
  const key = dataKey();
  setBusy(true);
  const job = startJob(ui.fineTuneCancel);
  drawHead();
  const charts = epochCharts();
  /** @type {EpochReport[]} */
  const history = [];
  ui.report.hidden = true;
  ui.ftProgressLine.hidden = false;
  ui.ftProgress.max = 1;
  ui.ftProgress.value = 0;
  ui.ftPhase.textContent = 'Starting…';
  ui.ftRate.hidden = false;
  ui.ftRate.textContent = '';
  const what = `the top ${layers} layer${layers === 1 ? '' : 's'} and a linear head`;
  say(
    ui.trainStatus,
    `Fine-tuning ${what} for ${epochs} epoch${epochs === 1 ? '' : 's'} on ${deviceName(client.device)}…`,
  );
  const started = performance.now();
  /** @type {RunProgress | null} */
  let last = null;
  try {
    const { meta, report } = await client.fineTune(settings, {
      signal: job.signal,
      onProgress: (p) => {
        if (p.stage !== 'finetune' && p.stage !== 'test') return;
        last = p;
        const step = p.stage === 'finetune' ? p.step : null;
        ui.ftProgress.value = 'fraction' in p ? p.fraction : 0;
        ui.ftPhase.textContent = phaseText(p, epochs);
        const parts = [];
        if (p.textsPerSecond) parts.push(`${p.textsPerSecond.toFixed(1)} texts/s`);
        if (p.secondsLeft !== null && p.secondsLeft !== undefined)
          parts.push(`${formatSeconds(p.secondsLeft)} left`);
        if (step?.running_loss !== null && step?.running_loss !== undefined)
          parts.push(`running loss ${num(step.running_loss)}`);
        if (step) parts.push(`step ${step.step} of ${step.total_steps}`);
        ui.ftRate.textContent = parts.join(' · ');
        const r = step?.epoch_report;
        if (r) {
          history.push(r);
          plotHistory(charts, history);
          say(ui.trainStatus, epochText(r, epochs));
        }
      },
    });
    const seconds = (performance.now() - started) / 1000;
    ui.ftProgress.value = 1;
    ui.ftPhase.textContent = 'Done';
    const estimated = Number(ui.ftEstimate.dataset.seconds);
    ui.ftRate.textContent =
      `${formatSeconds(seconds)} in all` + (estimated > 0 ? ` (estimated: ${formatSeconds(estimated)})` : '');
    state.classifier = meta;
    state.classifierSource = `fine-tuned here on ${state.csv?.name ?? 'your data'}`;
    state.reports.finetune = { key, report, label: `Fine-tuned BERT (top ${layers})` };
    showReport(
      report,
      `Test report: BERT fine-tuned (top ${layers} layer${layers === 1 ? '' : 's'} and a linear head)`,
    );
    showComparison('finetune');
    const best = meta.best_epoch?.epoch;
    say(
      ui.trainStatus,
      `Fine-tuned in ${formatSeconds(seconds)}${best ? `; kept epoch ${best} of ${history.length}` : ''}. ` +
        'This classifier is now in use above.',
      'ok',
    );
    showClassifier();
    await keepClassifier();
  } catch (err) {
    const cancelled = isCancelled(err);
    ui.ftPhase.textContent = cancelled ? 'Cancelled' : 'Failed';
    const where = last ? ` (${phaseText(last, epochs).toLowerCase()})` : '';
    const kept = 'The data, the extracted features and the previous classifier are kept';
    if (cancelled) {
      say(
        ui.trainStatus,
        `Fine-tuning cancelled${where}. ${kept}: press Fine-tune to start again, ` +
          'no new feature extraction is needed.',
        'warn',
      );
    } else {
      say(
        ui.trainStatus,
        `fine-tuning failed: ${sentence(messageOf(err))} ${kept}. Try fewer layers or a smaller ` +
          'batch size, or choose the CPU.',
        'error',
      );
    }
  } finally {
    endJob(ui.fineTuneCancel);
    setBusy(false);
  }
}
