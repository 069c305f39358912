// @ts-check
// The diagram beside the training controls: the head's layers, or the fine-tuned layers and
// the head, for the settings in the form.

import { fineTuneDiagram, headDiagram } from '../charts.js';
import { presetSettings, readFineTuneSettings, trainMode } from './settings.js';
import { client, state, ui } from './state.js';

/** Draw what the form would train now. */
export function drawHead() {
  // The head's width for the data's classes, asked of the wasm when the data was preprocessed.
  const outputs = state.outputs;
  if (!client.info || !state.summary || outputs === null) return;
  if (trainMode() === 'finetune') {
    const settings = readFineTuneSettings();
    ui.diagramCaption.textContent = 'The fine-tuned layers and the head';
    fineTuneDiagram(ui.headDiagram, {
      layers: client.info.layers ?? settings.layers,
      trained: settings.layers,
      dim: client.info.dim,
      maxLen: settings.max_len,
      pooling: settings.pooling,
      outputs,
      multiLabel: state.summary.multi_label,
    });
    return;
  }
  const settings = presetSettings();
  if (!settings) return;
  ui.diagramCaption.textContent = "The head's layers";
  headDiagram(ui.headDiagram, {
    input: client.info.dim,
    hidden: settings.hidden,
    batch_norm: settings.batch_norm,
    dropout: settings.dropout,
    outputs,
    multiLabel: state.summary.multi_label,
    standardize: settings.standardize,
  });
}
