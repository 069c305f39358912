// @ts-check
// The training forms as settings: what to train, the head preset's settings, and the
// fine-tuning settings over the wasm's defaults.

import { client, defaults, state, ui } from './state.js';

/** @typedef {import('../protocol.js').FineTuneSettings} FineTuneSettings */
/** @typedef {import('../protocol.js').TrainSettings} TrainSettings */

/**
 * 'head' or 'finetune': what the Training part trains.
 * @returns {'head' | 'finetune'}
 */
export function trainMode() {
  const checked = /** @type {HTMLInputElement | null} */ (
    document.querySelector('input[name="train-mode"]:checked')
  );
  return checked?.value === 'finetune' ? 'finetune' : 'head';
}

/**
 * The chosen head preset's settings, or undefined before the defaults are there.
 * @returns {TrainSettings | undefined}
 */
export function presetSettings() {
  return state.defaults?.presets[ui.preset.value];
}

/**
 * A whole number from an input within [min, max], else `fallback`.
 * @param {HTMLInputElement} input @param {number} min @param {number} max @param {number} fallback
 */
function intInput(input, min, max, fallback) {
  const v = Math.floor(Number(input.value));
  return input.value !== '' && Number.isFinite(v) ? Math.min(max, Math.max(min, v)) : fallback;
}

/**
 * A positive rate from an input, else `fallback`.
 * @param {HTMLInputElement} input @param {number} fallback
 */
function rateInput(input, fallback) {
  const v = Number(input.value);
  return input.value !== '' && Number.isFinite(v) && v > 0 ? v : fallback;
}

/** @returns {FineTuneSettings} the settings in the form, over the defaults */
export function readFineTuneSettings() {
  const all = defaults();
  const d = all.fineTune;
  const maxLayers = client.info?.layers ?? Number(ui.ftLayers.max);
  return {
    ...d,
    pooling: all.pooling,
    max_len: all.maxLen,
    layers: intInput(ui.ftLayers, 0, maxLayers, Math.min(d.layers, maxLayers)),
    epochs: intInput(ui.ftEpochs, 1, 100, d.epochs),
    batch_size: intInput(ui.ftBatch, 1, 512, d.batch_size),
    encoder_lr: rateInput(ui.ftEncoderLr, d.encoder_lr),
    head_lr: rateInput(ui.ftHeadLr, d.head_lr),
  };
}
