// @ts-check
// Charts (uPlot, vendored in www/vendor/uplot) and the head's layer diagram (SVG). Only numbers
// and our own labels reach these; nothing here renders user text.

import uPlot from './vendor/uplot/uPlot.esm.js';

const COLORS = { train: '#0b5cad', validation: '#d9480f', diagonal: '#8c959f' };

/** @param {HTMLElement} el */
function width(el) {
  return Math.max(240, Math.floor(el.clientWidth || el.parentElement?.clientWidth || 300));
}

/**
 * A per-epoch chart of a train and a validation series.
 * @param {HTMLElement} el
 * @param {{yRange?: [number, number]}} [options]
 */
export function epochChart(el, { yRange } = {}) {
  el.replaceChildren();
  el.dataset.points = '0';
  const plot = new uPlot(
    {
      width: width(el),
      height: 180,
      scales: { x: { time: false }, y: yRange ? { range: yRange } : {} },
      axes: [{ label: 'epoch' }, {}],
      series: [
        { label: 'epoch' },
        { label: 'train', stroke: COLORS.train, width: 2, points: { show: true } },
        { label: 'validation', stroke: COLORS.validation, width: 2, points: { show: true } },
      ],
    },
    [[], [], []],
    el,
  );
  return {
    /** @param {number[]} epochs @param {(number|null)[]} train @param {(number|null)[]} validation */
    set(epochs, train, validation) {
      plot.setData([epochs, train, validation]);
      el.dataset.points = String(epochs.length);
    },
  };
}

/**
 * A ROC curve with the chance diagonal.
 * @param {HTMLElement} el
 * @param {{fpr: number[], tpr: number[]}} roc
 */
export function rocChart(el, roc) {
  el.replaceChildren();
  const size = Math.min(width(el), 320);
  new uPlot(
    {
      width: size,
      height: size,
      scales: { x: { time: false, range: [0, 1] }, y: { range: [0, 1] } },
      axes: [{ label: 'false-positive rate' }, { label: 'true-positive rate' }],
      series: [
        { label: 'FPR' },
        { label: 'ROC', stroke: COLORS.train, width: 2 },
        { label: 'chance', stroke: COLORS.diagonal, dash: [4, 4] },
      ],
    },
    [roc.fpr, roc.tpr, roc.fpr],
    el,
  );
  el.dataset.points = String(roc.fpr.length);
}

/**
 * A reliability diagram: each confidence bin's accuracy against its middle, before and after
 * the classifier's temperature, with the diagonal a calibrated classifier follows. Empty bins
 * are gaps.
 * @param {HTMLElement} el
 * @param {import('./protocol.js').Calibration} calibration
 */
export function reliabilityChart(el, calibration) {
  el.replaceChildren();
  const size = Math.min(width(el), 320);
  const bins = calibration.after.bins.length;
  const middles = Array.from({ length: bins }, (_, i) => (i + 0.5) / bins);
  const accuracy = (/** @type {import('./protocol.js').Reliability} */ r) => r.bins.map((b) => b.accuracy);
  new uPlot(
    {
      width: size,
      height: size,
      scales: { x: { time: false, range: [0, 1] }, y: { range: [0, 1] } },
      axes: [{ label: 'confidence (bin)' }, { label: 'accuracy' }],
      series: [
        { label: 'confidence' },
        {
          label: `calibrated (T = ${calibration.temperature.toFixed(2)})`,
          stroke: COLORS.train,
          width: 2,
          points: { show: true },
        },
        { label: 'before', stroke: COLORS.validation, dash: [6, 3], points: { show: true } },
        { label: 'calibrated ideal', stroke: COLORS.diagonal, dash: [4, 4], points: { show: false } },
      ],
    },
    [middles, accuracy(calibration.after), accuracy(calibration.before), middles],
    el,
  );
  el.dataset.points = String(calibration.after.bins.filter((b) => b.count > 0).length);
}

const SVG = 'http://www.w3.org/2000/svg';

/**
 * @param {string} name
 * @param {Record<string, string | number>} attrs
 * @param {string} [text]
 */
function svg(name, attrs, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** @typedef {[label: string, kind: string]} Layer  a box's text, and its CSS class */

/**
 * The head's layers, top to bottom, as the tutorial's plot_model draws them. `outputs` is the
 * head's width for the task's classes (the wasm's rule, `DataSummary.outputs`).
 * @param {HTMLElement} el
 * @param {{input: number, hidden: number[], batch_norm: boolean, dropout: number, outputs: number,
 *   multiLabel?: boolean, standardize?: boolean}} shape
 */
export function headDiagram(el, shape) {
  /** @type {Layer[]} */
  const layers = [[`Input: ${shape.input} features`, 'io']];
  if (shape.standardize) layers.push(['Standardize (train mean, deviation)', 'norm']);
  shape.hidden.forEach((units, i) => {
    layers.push([`Dense ${units}, ReLU`, 'dense']);
    if (i === 0 && shape.batch_norm) layers.push(['BatchNorm', 'norm']);
    if (shape.dropout > 0) layers.push([`Dropout ${shape.dropout}`, 'drop']);
  });
  layers.push(outputLayer(shape.outputs, shape.multiLabel ?? false));
  drawLayers(el, layers);
}

/**
 * The head's last layer: one output is a sigmoid's, more are a softmax's, unless each label has
 * its own sigmoid (multi-label).
 * @param {number} outputs @param {boolean} multiLabel
 * @returns {Layer}
 */
function outputLayer(outputs, multiLabel) {
  return [`Dense ${outputs}, ${outputs === 1 || multiLabel ? 'sigmoid' : 'softmax'}`, 'io'];
}

/**
 * The fine-tuned model's layers, top to bottom: frozen embeddings and lower layers, the
 * trained top layers, the pooling and the linear head (`outputs` wide, as in `headDiagram`).
 * @param {HTMLElement} el
 * @param {{layers: number, trained: number, dim: number, maxLen: number,
 *   pooling: import('./protocol.js').Pooling, outputs: number, multiLabel?: boolean}} shape
 */
export function fineTuneDiagram(el, shape) {
  const frozen = shape.layers - shape.trained;
  /** @type {Layer[]} */
  const layers = [[`Input: word pieces (at most ${shape.maxLen})`, 'io']];
  layers.push([frozen > 0 ? `Embeddings + layers 1–${frozen}: frozen` : 'Embeddings: frozen', 'frozen']);
  for (let i = frozen + 1; i <= shape.layers; i++)
    layers.push([`Layer ${i} (${shape.dim}): trained`, 'dense']);
  layers.push([shape.pooling === 'pooler' ? 'Pooler ([CLS], tanh)' : 'Mean pooling', 'norm']);
  layers.push(outputLayer(shape.outputs, shape.multiLabel ?? false));
  drawLayers(el, layers);
}

/**
 * Boxes joined by arrows, one per [label, kind]; the kind is a CSS class.
 * @param {HTMLElement} el
 * @param {Layer[]} layers
 */
function drawLayers(el, layers) {
  const boxW = 260;
  const boxH = 30;
  const gap = 16;
  const height = layers.length * (boxH + gap) - gap + 2;
  const root = svg('svg', {
    viewBox: `0 0 ${boxW + 2} ${height}`,
    width: boxW + 2,
    height,
    role: 'img',
    'aria-label': layers.map(([t]) => t).join(' → '),
  });
  layers.forEach(([label, kind], i) => {
    const y = 1 + i * (boxH + gap);
    root.append(svg('rect', { x: 1, y, width: boxW, height: boxH, rx: 5, class: `layer ${kind}` }));
    root.append(
      svg(
        'text',
        { x: 1 + boxW / 2, y: y + boxH / 2, 'text-anchor': 'middle', 'dominant-baseline': 'central' },
        label,
      ),
    );
    if (i > 0)
      root.append(svg('line', { x1: 1 + boxW / 2, y1: y - gap, x2: 1 + boxW / 2, y2: y, class: 'arrow' }));
  });
  el.replaceChildren(root);
  el.dataset.layers = String(layers.length);
}
