// @ts-check
// What training shows, whichever kind: curves per epoch, the test report, and the frozen head
// and fine-tuned BERT side by side.

import { epochChart, reliabilityChart, rocChart } from '../charts.js';
import { num, pct, row, textsNoun } from './format.js';
import { client, state, ui } from './state.js';

/** @typedef {import('../protocol.js').EpochReport} EpochReport */
/** @typedef {import('../protocol.js').TestReport} TestReport */
/** @typedef {ReturnType<typeof epochCharts>} EpochCharts */

/** The data a report was made on: the model, the CSV and its preprocessing. */
export function dataKey() {
  return [client.info?.modelId, state.csv?.hash, JSON.stringify(state.summary?.settings)].join('|');
}

/** Empty loss, accuracy and AUROC charts for a new run. */
export function epochCharts() {
  return {
    loss: epochChart(ui.chartLoss),
    accuracy: epochChart(ui.chartAccuracy, { yRange: [0, 1] }),
    auroc: epochChart(ui.chartAuroc, { yRange: [0, 1] }),
  };
}

/** @param {EpochCharts} charts @param {EpochReport[]} history */
export function plotHistory(charts, history) {
  const x = history.map((h) => h.epoch);
  charts.loss.set(
    x,
    history.map((h) => h.train_loss),
    history.map((h) => h.val_loss),
  );
  charts.accuracy.set(
    x,
    history.map((h) => h.train_accuracy),
    history.map((h) => h.val_accuracy),
  );
  charts.auroc.set(
    x,
    history.map((h) => h.train_auroc),
    history.map((h) => h.val_auroc),
  );
}

/** One epoch's line in the training status. @param {EpochReport} r @param {number} epochs */
export function epochText(r, epochs) {
  return (
    // Multi-label (thresholds chosen): accuracy of each (text, label) decision at 0.5.
    `Epoch ${r.epoch} of ${epochs}: loss ${num(r.train_loss)}, validation ${r.thresholds ? 'label ' : ''}accuracy ` +
    `${pct(r.val_accuracy, 1)}, validation AUROC ${num(r.val_auroc)}${r.best ? ' (best so far)' : ''}.`
  );
}

/**
 * Under the report: the frozen head and the fine-tuned BERT side by side when both were
 * trained in this session on the same data, else how to get the comparison.
 * @param {'head' | 'finetune'} latest
 */
export function showComparison(latest) {
  const key = dataKey();
  const noun = textsNoun(state.summary);
  const head = state.reports.head?.key === key ? state.reports.head : null;
  const tuned = state.reports.finetune?.key === key ? state.reports.finetune : null;
  if (head && tuned) {
    const a = headline(head.report);
    const b = headline(tuned.report);
    ui.comparisonTable.tHead?.replaceChildren(row(['', head.label, tuned.label]));
    ui.comparisonTable.tBodies[0].replaceChildren(
      row([`Test ${noun}`, a.n, b.n], true),
      row([a.accuracyName, pct(a.accuracy, 1), pct(b.accuracy, 1)], true),
      row(['AUROC', num(a.auroc), num(b.auroc)], true),
      row(['Macro F1', num(a.macroF1), num(b.macroF1)], true),
      ...(a.microF1 === null ? [] : [row(['Micro F1', num(a.microF1), num(b.microF1)], true)]),
    );
    ui.comparison.hidden = false;
    ui.comparisonHelp.hidden = true;
    return;
  }
  ui.comparison.hidden = true;
  ui.comparisonHelp.hidden = false;
  ui.comparisonHelp.textContent =
    latest === 'finetune'
      ? `To compare with a frozen head on the same test ${noun}, choose "Train the head" above and press Train: ` +
        'it uses the features already extracted and takes seconds.'
      : `To compare with fine-tuned BERT on the same test ${noun}, choose "Fine-tune BERT" above and press Fine-tune.`;
}

/**
 * The numbers a report of either kind leads with; multi-label accuracy is exact match (every
 * label of a text right).
 * @param {TestReport} report
 */
function headline(report) {
  return report.kind === 'labels'
    ? {
        n: report.n,
        accuracyName: 'Exact match',
        accuracy: report.subset_accuracy,
        auroc: report.auroc,
        macroF1: report.macro.f1,
        microF1: report.micro.f1,
      }
    : {
        n: report.n,
        accuracyName: 'Accuracy',
        accuracy: report.accuracy,
        auroc: report.auroc,
        macroF1: report.macro_f1,
        microF1: null,
      };
}

/** @param {TestReport} report @param {string} title */
export function showReport(report, title) {
  const names = state.classifier?.label_names ?? [];
  const h = headline(report);
  ui.reportTitle.textContent = title;
  ui.reportNLabel.textContent = `Test ${textsNoun(state.summary)}`;
  ui.reportN.textContent = String(report.n);
  ui.reportAccuracyLabel.textContent = h.accuracyName;
  ui.reportAccuracy.textContent = pct(h.accuracy, 1);
  ui.reportAuroc.textContent = num(h.auroc);
  ui.reportF1.textContent = num(h.macroF1);
  ui.reportMicroLabel.hidden = ui.reportMicro.hidden = h.microF1 === null;
  ui.reportMicro.textContent = num(h.microF1);
  ui.report.hidden = false;
  showCalibration(report.calibration);
  if (report.kind === 'labels') {
    showLabelsReport(report, names);
    return;
  }
  ui.confusion.hidden = false;
  ui.perClassCaption.textContent = 'Per class';
  ui.perClass.tHead?.replaceChildren(row(['Class', 'Precision', 'Recall', 'F1', 'Support']));
  ui.confusion.tHead?.replaceChildren(row(['true \\ predicted', ...names]));
  ui.confusion.tBodies[0].replaceChildren(...report.confusion.map((r, i) => row([names[i], ...r], true)));
  ui.perClass.tBodies[0].replaceChildren(
    ...report.per_class.map((m, i) =>
      row([names[i], num(m.precision), num(m.recall), num(m.f1), m.support], true),
    ),
  );
  const curve = report.roc.find((c) => c !== null);
  if (curve) rocChart(ui.chartRoc, curve);
  else ui.chartRoc.textContent = 'No ROC curve: the test part has a single class.';
}

/**
 * A multi-label report: each label's threshold, precision, recall, F1, texts and AUROC; no
 * confusion matrix or ROC curve (each label has its own).
 * @param {import('../protocol.js').LabelsReport} report @param {string[]} names
 */
function showLabelsReport(report, names) {
  ui.confusion.hidden = true;
  ui.perClassCaption.textContent = `Per label, at its threshold (chosen on the validation part); Hamming loss ${num(report.hamming_loss)}`;
  ui.perClass.tHead?.replaceChildren(
    row(['Label', 'Threshold', 'Precision', 'Recall', 'F1', 'Texts with it', 'AUROC']),
  );
  ui.perClass.tBodies[0].replaceChildren(
    ...report.per_label.map((m, i) =>
      row(
        [
          names[i],
          num(report.thresholds[i]),
          num(m.precision),
          num(m.recall),
          num(m.f1),
          m.support,
          num(report.auroc_per_label[i] ?? null),
        ],
        true,
      ),
    ),
  );
  ui.chartRoc.textContent = 'Each label has its own ROC curve: its AUROC is in the table.';
}

/**
 * The temperature and the test texts' expected calibration error before and after it, and the
 * reliability diagram.
 * @param {import('../protocol.js').Calibration | undefined} c
 */
function showCalibration(c) {
  if (!c) {
    ui.reportCalibration.textContent = 'n/a';
    ui.chartReliability.textContent = '';
    return;
  }
  const ece = (/** @type {number} */ e) => e.toFixed(3);
  ui.reportCalibration.textContent = state.classifier?.temperature
    ? `temperature ${c.temperature.toFixed(2)}, fitted on the validation part: expected calibration error ` +
      `${ece(c.before.ece)} → ${ece(c.after.ece)} on the test ${textsNoun(state.summary)}`
    : `not calibrated (no temperature): expected calibration error ${ece(c.after.ece)}`;
  ui.reportCalibration.dataset.before = String(c.before.ece);
  ui.reportCalibration.dataset.after = String(c.after.ece);
  reliabilityChart(ui.chartReliability, c);
}
