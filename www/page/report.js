// @ts-check
// What training shows, whichever kind: curves per epoch, the test report, and the frozen head
// and fine-tuned BERT side by side.

import { epochChart, rocChart } from '../charts.js';
import { num, pct, row, textsNoun } from './format.js';
import { client, state, ui } from './state.js';

/** @typedef {import('../protocol.js').EpochReport} EpochReport */
/** @typedef {import('../protocol.js').Report} Report */
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
    `Epoch ${r.epoch} of ${epochs}: loss ${num(r.train_loss)}, validation accuracy ` +
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
    const a = head.report;
    const b = tuned.report;
    ui.comparisonTable.tHead?.replaceChildren(row(['', head.label, tuned.label]));
    ui.comparisonTable.tBodies[0].replaceChildren(
      row([`Test ${noun}`, a.n, b.n], true),
      row(['Accuracy', pct(a.accuracy, 1), pct(b.accuracy, 1)], true),
      row(['AUROC', num(a.auroc), num(b.auroc)], true),
      row(['Macro F1', num(a.macro_f1), num(b.macro_f1)], true),
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

/** @param {Report} report @param {string} title */
export function showReport(report, title) {
  const names = state.classifier?.label_names ?? [];
  ui.reportTitle.textContent = title;
  ui.reportNLabel.textContent = `Test ${textsNoun(state.summary)}`;
  ui.reportN.textContent = String(report.n);
  ui.reportAccuracy.textContent = pct(report.accuracy, 1);
  ui.reportAuroc.textContent = num(report.auroc);
  ui.reportF1.textContent = num(report.macro_f1);
  ui.confusion.tHead?.replaceChildren(row(['true \\ predicted', ...names]));
  ui.confusion.tBodies[0].replaceChildren(...report.confusion.map((r, i) => row([names[i], ...r], true)));
  ui.perClass.tBodies[0].replaceChildren(
    ...report.per_class.map((m, i) =>
      row([names[i], num(m.precision), num(m.recall), num(m.f1), m.support], true),
    ),
  );
  ui.report.hidden = false;
  const curve = report.roc.find((c) => c !== null);
  if (curve) rocChart(ui.chartRoc, curve);
  else ui.chartRoc.textContent = 'No ROC curve: the test part has a single class.';
}
