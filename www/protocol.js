// @ts-check
// The seam between the page and the wasm module, as types only: what pkg/bertweb.js (built with
// --no-typescript) exports, the values it returns (the Rust structs they serialize), and the
// messages between the UI (www/client.js) and www/worker.js, and between www/pool.js and its
// helpers (www/embed_worker.js). Nothing here runs: files import these with
// `import('./protocol.js').Name` in JSDoc, so the page never fetches this file.

// ---- Errors ---------------------------------------------------------------------------------

/**
 * The `name` of every error the page can get from the worker, and what the page does about it:
 * the wasm module names its errors with the first six (`defaults().errorKinds`), the worker its
 * own, and the client rejects a cancelled request with the last. The page branches on the
 * name only, never on the message, which is for the user.
 * - `ModelFileError`: a model folder's config.json, model.safetensors or tokenizer; the previous
 *   model stays in use, and another device would not help.
 * - `DataError`: a CSV file or the data set made from it.
 * - `SettingsError`: a setting out of range or unknown (a preset, a pooling, a max length).
 * - `DeviceError`: the compute device (WebGPU start, a lost device, a failed readback); the CPU
 *   may work.
 * - `ClassifierError`: a classifier or features file that cannot be read, or that does not fit
 *   the loaded model or data.
 * - `InternalError`: a state the page should not reach (a busy or finished handle, a request
 *   out of order, a crashed wasm instance — restarted, or to reload —, the page's own files
 *   missing).
 * - `CancelledError`: the request was cancelled (www/client.js).
 * @typedef {'ModelFileError' | 'DataError' | 'SettingsError' | 'DeviceError' | 'ClassifierError'
 *   | 'InternalError' | 'CancelledError'} ErrorKind
 */

// ---- Values -----------------------------------------------------------------------------------

/** @typedef {'auto' | 'webgpu' | 'cpu'} DeviceChoice  What the user asks for. */
/** @typedef {'webgpu' | 'cpu'} Device  What actually runs the model. */
/**
 * A wasm build (www/builds.js): pkg/ (WebGPU), pkg/cpu/ (CPU, relaxed SIMD) or pkg/cpu-baseline/
 * (CPU, for engines without relaxed SIMD).
 * @typedef {'webgpu' | 'cpu' | 'cpu-baseline'} Build
 */
/** @typedef {'mean' | 'pooler'} Pooling  How a text's token states become one vector. */
/** @typedef {'binary' | 'three' | 'five' | 'named'} LabelMode  How labels become classes. */
/** @typedef {'comma' | 'semicolon' | 'tab' | 'pipe'} Delimiter  The character between a CSV file's fields. */
/** @typedef {'auto' | Delimiter} DelimiterChoice  A delimiter, or 'auto': found from the file's first lines. */

/**
 * The bytes of a Hugging Face BERT folder, as the page has them.
 * @typedef {object} ModelFiles
 * @property {ArrayBuffer | Uint8Array} config     config.json
 * @property {ArrayBuffer | Uint8Array} weights    model.safetensors
 * @property {ArrayBuffer | Uint8Array} tokenizer  tokenizer.json or vocab.txt (auto-detected)
 */
/**
 * A model folder's bytes as they travel to the worker and its helpers; `sha256` is the weights'
 * digest once the worker has computed it (WebCrypto; undefined where it is missing).
 * @typedef {{config: ArrayBuffer, weights: ArrayBuffer, tokenizer: ArrayBuffer, sha256?: Uint8Array}} ModelBuffers
 */

/**
 * The result of load/reload.
 * @typedef {object} EncoderInfo
 * @property {Device} device          what runs
 * @property {string} modelId         identity of the base model (architecture + weights hash)
 * @property {number} threads         CPU threads that extract features (1 on WebGPU)
 * @property {number} autoThreads     what "Automatic" means for this model on this machine (cores, and copies that fit in memory)
 * @property {DeviceChoice} requested what was asked for
 * @property {string | null} fallback why WebGPU was not used although asked for (null when it was, or not asked)
 * @property {number} dim             hidden size
 * @property {number | null} layers   number of encoder layers
 * @property {number} maxPositions    the model's max position embeddings
 * @property {number} loadMs          time spent in the worker loading (wasm init + Encoder.load)
 * @property {Build} build            the wasm build it runs in
 * @property {ClassifierMeta | null} folderClassifier  the classifier the model folder carries
 *   (Hugging Face's BertForSequenceClassification), now the one in use; null when it has none
 *   or the same model was loaded again
 * @property {string | null} folderClassifierError  why the folder's classifier could not be used
 */

/** @typedef {{ids: number[], mask: number[]}} Tokenized  One text's word pieces, unpadded. */

/**
 * Preprocessing settings (Rust `data::Settings`); `columns` is "amazon" (the Amazon Fine Food
 * layout) or the header names of the text and label columns; `split_column` names a column of
 * train/validation/test values that gives the parts (null: a random stratified split).
 * @typedef {{delimiter: DelimiterChoice, columns: 'amazon' | {named: {text: string, label: string}},
 *   split_column: string | null, label_mode: LabelMode, max_words: number | null,
 *   sample_size: number | null, seed: number, test_fraction: number, strip_html: boolean,
 *   label_separator: string | null, label_columns: string[]}} DataSettings
 */
/**
 * What a CSV file holds, before preprocessing (`csvPreview`): the delimiter used (`detected`:
 * what detection found), the header, whether it is the Amazon Reviews.csv layout, the text and
 * label columns (the settings' named ones, else Amazon's, else a guess; null when none), what
 * the labels look like (`scores`: whole numbers 1 to 5; `classes`: anything else) and the label
 * mode suggested for them, the distinct labels (most frequent first, at most 100), a column
 * that splits the rows into train/validation/test with its counts, and the records read.
 * @typedef {object} Preview
 * @property {Delimiter} delimiter
 * @property {Delimiter} detected
 * @property {string[]} header
 * @property {boolean} amazon
 * @property {string | null} text_column
 * @property {string | null} label_column
 * @property {'scores' | 'classes'} label_kind
 * @property {LabelMode} label_mode
 * @property {{name: string, count: number}[]} classes
 * @property {number} distinct_labels
 * @property {string | null} label_separator  a separator the labels seem to hold several labels
 *   with, for the user to confirm
 * @property {string[]} flag_columns  columns that each look like a label of several per text
 *   (every value 0 or 1), two or more, for the user to confirm
 * @property {boolean} multi_label  `classes` counts labels (rows with each), as the settings'
 *   separator or 0/1 label columns give them
 * @property {string | null} split_column
 * @property {{train: number, validation: number, test: number} | null} split_counts
 * @property {number} rows
 */
/**
 * Rows kept and dropped by each preprocessing step (Rust `data::Counts`).
 * @typedef {object} Counts
 * @property {number} rows_read
 * @property {number} blank_lines
 * @property {number} dropped_empty
 * @property {number} after_empty
 * @property {number} dropped_unusable_label
 * @property {string[]} unusable_label_examples
 * @property {number} dropped_neutral
 * @property {number} after_labels
 * @property {number} dropped_long
 * @property {number} after_words
 * @property {number} dropped_by_sampling
 * @property {number} after_sampling
 * @property {number} blank_after_html
 * @property {number[]} per_class
 * @property {number} train
 * @property {number} test
 * @property {number | null} validation_given  rows of the file's validation part (the training part's last), null for a random split
 * @property {number[]} train_per_class
 * @property {number[]} test_per_class
 */
/** @typedef {{text: string, label: number, labels?: number[]}} Example  A preprocessed row (`labels`: multi-label). */
/**
 * A preprocessed CSV file (`Dataset.summary()`); `split` says whether its parts are the file's
 * (a split column) or a random stratified split.
 * @typedef {{layout: 'amazon' | 'named', text_column: string, label_column: string,
 *   label_names: string[], outputs: number, multi_label: boolean, split: 'given' | 'random',
 *   counts: Counts, settings: DataSettings}} DataSummary  `outputs`: a head's outputs for these
 *   classes (one sigmoid for two, else one per class: the wasm's rule; one per label when
 *   `multi_label`: texts have any number of labels, and `per_class` counts rows per label)
 */
/** @typedef {DataSummary & {examples: Example[]}} DatasetSummary  The dataset reply: a few training examples too. */
/**
 * Features of the dataset's texts: how many, whether they came from IndexedDB, how many of
 * them an earlier run had extracted (`resumed`), the time this extraction took, and why they
 * could not be stored (null when they were).
 * @typedef {{rows: number, cached: boolean, resumed: number, ms: number, storeError: string | null}} ExtractResult
 */

/** @typedef {{factor: number, patience: number, min_lr: number}} Plateau  Keras' ReduceLROnPlateau. */
/**
 * Training settings of a head (Rust `train::TrainSettings`), e.g. a preset's from `defaults()`.
 * @typedef {object} TrainSettings
 * @property {string} preset                the preset these settings started from
 * @property {number[]} hidden              ReLU layer widths
 * @property {boolean} batch_norm           BatchNorm after the first hidden layer
 * @property {number} dropout               after each hidden layer
 * @property {'tutorial' | 'standard'} init kernel initialization
 * @property {boolean} standardize          standardize the features first
 * @property {number} learning_rate         Adam's
 * @property {number[]} l2                  L2 penalties to try, the best on validation wins
 * @property {number} batch_size
 * @property {number} epochs                most epochs
 * @property {number} seed
 * @property {Plateau | null} plateau       learning-rate reduction on plateau
 * @property {'train_accuracy' | 'validation_auroc' | 'train_loss'} monitor  what picks the best epoch
 * @property {number | null} early_stopping stop after this many epochs without improvement
 * @property {number} validation_fraction
 */
/**
 * One epoch's metrics (Rust `train::EpochReport`).
 * @typedef {{epoch: number, learning_rate: number, train_loss: number, train_accuracy: number,
 *   train_auroc: number | null, val_loss: number, val_accuracy: number, val_auroc: number | null,
 *   val_macro_f1: number, l2: number, best: boolean, thresholds?: number[], temperature?: number}} EpochReport
 *   Multi-label: accuracy is the fraction of (text, label) decisions right at 0.5, AUROC the
 *   mean over labels, and `thresholds` each label's, chosen on this epoch's validation part.
 */
/**
 * An ROC curve: thresholds start at +∞, which JSON writes as null.
 * @typedef {{fpr: number[], tpr: number[], thresholds: (number | null)[]}} RocCurve
 */
/** @typedef {{precision: number, recall: number, f1: number, support: number}} ClassMetrics */
/**
 * Test metrics (Rust `metrics::Report`).
 * @typedef {{n: number, n_classes: number, accuracy: number, auroc: number | null,
 *   auroc_per_class: (number | null)[], roc: (RocCurve | null)[], confusion: number[][],
 *   per_class: ClassMetrics[], macro_f1: number, calibration?: Calibration}} Report
 */
/** @typedef {{count: number, confidence: number | null, accuracy: number | null}} ReliabilityBin */
/** @typedef {{ece: number, bins: ReliabilityBin[]}} Reliability  expected calibration error and its bins */
/**
 * A test part's calibration (Rust `calibration::Calibration`): the temperature the logits are
 * divided by (fitted on validation; 1 for a classifier without one), and the reliability of
 * the probabilities before and after it.
 * @typedef {{temperature: number, before: Reliability, after: Reliability}} Calibration
 */
/** @typedef {{precision: number, recall: number, f1: number}} Scores */
/**
 * Multi-label test metrics at the classifier's thresholds (Rust `multilabel::MultiLabelReport`):
 * micro (counts pooled over labels) and macro (mean over labels) scores, per label, exact match
 * (`subset_accuracy`), Hamming loss, AUROC per label and their mean.
 * @typedef {{n: number, thresholds: number[], micro: Scores, macro: Scores, per_label: ClassMetrics[],
 *   subset_accuracy: number, hamming_loss: number, auroc_per_label: (number | null)[],
 *   auroc: number | null, calibration?: Calibration}} LabelsReport
 */
/**
 * A test report (Rust `classifier::Evaluation`): of classes, or of labels.
 * @typedef {({kind: 'classes'} & Report) | ({kind: 'labels'} & LabelsReport)} TestReport
 */
/** @typedef {{pooling: Pooling, max_len: number}} FeatureSettings  How features were computed. */
/**
 * A head's shape; `classes` 2 gives one sigmoid output (`DataSummary.outputs`); a multi-label
 * one (imported) has a sigmoid per label.
 * @typedef {{input: number, hidden: number[], batch_norm: boolean, dropout: number, classes: number,
 *   multi_label?: boolean}} HeadShape
 */
/**
 * The geometry of fine-tuned encoder layers.
 * @typedef {{hidden: number, heads: number, intermediate: number, activation: number,
 *   layer_norm_eps: number}} LayerShape
 */
/**
 * How a fine-tuned classifier's encoder layers were trained.
 * @typedef {{settings: FineTuneSettings, first_layer: number, layer_shape: LayerShape,
 *   history: EpochReport[]}} FineTuneMeta
 */
/**
 * Headline test metrics; multi-label: `accuracy` is exact match, and `micro_f1` is there.
 * @typedef {{n: number, accuracy: number, auroc: number | null, macro_f1: number, micro_f1?: number}} TestSummary
 */
/**
 * A classifier's metadata (Rust `classifier::ClassifierMeta`): `settings` for a head on frozen
 * features, `fine_tune` for fine-tuned encoder layers and a head, `imported` for one read from
 * a Hugging Face model folder (no `best_epoch` then: it was not trained here).
 * @typedef {{format: string, model_id: string, features: FeatureSettings, label_names: string[],
 *   shape: HeadShape, settings: TrainSettings | null, fine_tune: FineTuneMeta | null,
 *   standardizer: {mean: number[], scale: number[]}, best_epoch: EpochReport | null,
 *   imported?: {architecture: string}, test: TestSummary | null, thresholds?: number[],
 *   temperature?: number}} ClassifierMeta
 *   `thresholds`: multi-label, each label's (chosen on validation); `temperature`: what the
 *   head's logits are divided by (fitted on validation), absent when it was not calibrated
 */
/**
 * One text's prediction: the most probable class (or label), every probability, and for a
 * multi-label classifier `labels`, those at or over their thresholds.
 * @typedef {{label: number, name: string, probabilities: number[], labels?: number[]}} Prediction
 */
/**
 * Why a classifier decided (`attribution::Attribution`): each word's contribution to the
 * explained class's log-odds ln(p / (1 − p)); they sum to `log_odds − baseline_log_odds` up to
 * `gap`. `spans` cut the whole text (HTML stripped) into words (`word`: an index in `words`) and
 * what lies between them (`word` null), past the classifier's length included.
 * @typedef {{text: string, value: number}} WordAttribution
 * @typedef {{text: string, word: number | null}} AttributionSpan
 * @typedef {{piece: string, word: number, value: number}} TokenAttribution
 * @typedef {{label: number, name: string, probability: number, baseline_probability: number,
 *   log_odds: number, baseline_log_odds: number, words: WordAttribution[], spans: AttributionSpan[],
 *   tokens: TokenAttribution[], steps: number, truncated: boolean, gap: number}} Attribution
 */
/**
 * A training's or fine-tuning's result, which became the worker's classifier.
 * @typedef {{meta: ClassifierMeta, report: TestReport}} Trained
 */
/**
 * A classifier file made the worker's classifier; `mismatch` says why it does not fit the loaded
 * model (it is kept anyway, for when that model is loaded).
 * @typedef {{meta: ClassifierMeta, mismatch: string | null}} ClassifierSet
 */
/**
 * The classifier kept in this browser, made the worker's classifier: as ClassifierSet, with
 * where it came from as the page said when it kept it (null when an older page kept it).
 * @typedef {ClassifierSet & {source: string | null}} KeptClassifier
 */
/**
 * The classifier kept in IndexedDB (store 'classifiers', key 'current'), as pages have always
 * stored it: the file and a description of where it came from.
 * @typedef {{bytes: ArrayBuffer, source?: string}} KeptClassifierRecord
 */

/**
 * Fine-tuning settings (Rust `finetune::FineTuneSettings`).
 * @typedef {{layers: number, pooling: Pooling, max_len: number, batch_size: number, epochs: number,
 *   encoder_lr: number, head_lr: number, warmup_fraction: number, weight_decay: number,
 *   max_grad_norm: number | null, seed: number, validation_fraction: number, cache_budget_mb: number}} FineTuneSettings
 */
/** @typedef {'caching' | 'training' | 'validating' | 'finished'} FineTunePhase */
/**
 * One fine-tuning step (Rust `finetune::StepReport`): the phase after it and the one it worked
 * in, texts done of the phase's total (this epoch's, for training and validation), texts this
 * step did, the run's work so far (full-encoder passes over one text), optimizer steps, and
 * the epoch's report on the step that ended its validation.
 * @typedef {{phase: FineTunePhase, worked: FineTunePhase, epoch: number, done: number,
 *   total: number, texts: number, work_done: number, step: number, total_steps: number,
 *   running_loss: number | null, epoch_report: EpochReport | null}} StepReport
 */
/**
 * Seconds per unit of work (a full-encoder pass over one text) of each phase of a fine-tuning
 * run, timed on real steps of a short run (`FineTuner.probe`) on this device and thread count;
 * `inference` is what scoring test texts costs. `steps` and `seconds`: the probe's.
 * @typedef {{caching: number | null, training: number | null, validating: number | null,
 *   inference: number | null, steps: number, seconds: number}} StepRates
 */
/**
 * The expected time of a fine-tuning run on this device: each phase's work at the seconds per
 * unit `rates` timed (`fresh`: timed for this request, else earlier for the same model, device,
 * threads, layers, pooling, length and batch); `threads`: this worker and the helpers that share
 * each step (1 on WebGPU).
 * @typedef {{seconds: number, rates: StepRates, fresh: boolean, device: Device, threads: number,
 *   layers: number | null, testTexts: number}} FineTunePlan
 */

/**
 * Every default and choice the page offers (the wasm module's `defaults()`), so none is typed
 * again in JS: tokens per text, pooling, the poolings and label modes, preprocessing, the
 * training presets (names in the order the page offers them), fine-tuning, the error kinds.
 * @typedef {object} Defaults
 * @property {number} maxLen                        tokens per text, [CLS] and [SEP] included
 * @property {Pooling} pooling
 * @property {Pooling[]} poolings
 * @property {LabelMode[]} labelModes
 * @property {DataSettings} data
 * @property {string[]} presetNames
 * @property {Record<string, TrainSettings>} presets by name
 * @property {FineTuneSettings} fineTune
 * @property {ErrorKind[]} errorKinds
 * @property {{aboveBytes: number, previewBytes: number, chunkBytes: number}} stream  CSV files
 *   larger than `aboveBytes` are read as a stream, `chunkBytes` at a time, into a sample, and
 *   previewed from their first `previewBytes`
 * @property {LabelingDefaults} labeling
 */
/**
 * Labeling in the page: texts sampled from a CSV (at most `pool`), proposed `batch` at a time;
 * after each batch the head retrains and the next are chosen. `seed` orders random choices.
 * @typedef {{pool: number, batch: number, seed: number, strategies: LabelingStrategy[]}} LabelingDefaults
 */
/**
 * How the next texts to label are chosen: `smart`, by similarity to the class names until every
 * class has labels, then by the head's uncertainty mixed with diversity; `random`, at random
 * (seeded), for comparison.
 * @typedef {'smart' | 'random'} LabelingStrategy
 */
/**
 * What `labelingSuggest` needs besides the texts' vectors: the labels so far as [row, class]
 * pairs, rows skipped, the number of classes and each class name's vector (row-major
 * classes × dim, same pooling and length as the texts'), how many rows to propose.
 * @typedef {{labels: [number, number][], skipped: number[], classes: number, classVectors: number[],
 *   count: number, strategy: LabelingStrategy, seed: number}} LabelingRequest
 */
/**
 * Its answer: the rows to label next and why they were chosen; the head trained on all labels
 * so far, as its predicted class for every row (empty until every class has two labels); the
 * labels' cross-validated accuracy (null until then).
 * @typedef {{rows: number[], source: 'class_names' | 'uncertainty' | 'random', predicted: number[],
 *   confidence: number[], accuracy: {accuracy: number, folds: number, labels: number} | null}} LabelingSuggestion
 */
/**
 * A labeling session as kept in IndexedDB, so that labels survive a reload: the texts and their
 * vectors (made by `modelId` with `pooling` and `maxLen`), the class names and their vectors,
 * the labels and skips (`order`: which of the two each action was, oldest first, so that undo
 * takes the last back), and the accuracy after each retraining. `id` (when it was started)
 * ties its progress to its texts and vectors, which are kept apart, once.
 * @typedef {{id?: number, name: string, column: string, texts: string[], vectors: Float32Array, dim: number,
 *   modelId: string, pooling: Pooling, maxLen: number, classNames: string[], classVectors: number[],
 *   strategy: LabelingStrategy, seed: number, labels: [number, number][], skipped: number[],
 *   history: {labels: number, accuracy: number}[], order?: ('label' | 'skip')[]}} LabelingSession
 */
/** @typedef {Omit<LabelingSession, 'texts' | 'vectors'>} LabelingProgress  a session without its texts and vectors */

/** @typedef {{threads: number, wanted: number, lastRun: number[]}} ThreadsResult  Threads in use (1 on WebGPU), wanted, and the batches each computed in the last extraction. */
/** @typedef {{worker: number, helpers: (number | null)[]}} MemoryResult  Wasm memory in bytes (peaks: it never shrinks). */

// ---- The wasm module (pkg/bertweb.js and its CPU builds) ------------------------------------

/**
 * A BERT encoder in one wasm instance.
 * @typedef {object} Encoder
 * @property {Device} device
 * @property {string} modelId      identity of the base model (architecture and weights hash)
 * @property {number} dim          width of the vectors
 * @property {number} numLayers
 * @property {number} maxPositions
 * @property {boolean} hasPooler
 * @property {(texts: string[], pooling: Pooling, maxLen: number) => Promise<Float32Array>} embed
 *   `texts.length × dim`, row-major
 * @property {(texts: string[], maxLen: number) => Tokenized[]} tokenize
 * @property {() => Classifier | undefined} takeFolderClassifier  the model folder's own
 *   classifier (BertForSequenceClassification), once; throws when it cannot be used
 * @property {() => void} free
 */
/**
 * A preprocessed CSV file (the training rows first, then the test rows).
 * @typedef {object} Dataset
 * @property {() => DataSummary} summary
 * @property {() => string[]} texts          every text, in feature order
 * @property {(n: number) => Example[]} examples
 * @property {() => void} free
 */
/**
 * A CSV file too large to read whole, given a chunk at a time; `finish` makes the dataset of its
 * sample and uses the stream up.
 * @typedef {object} CsvStream
 * @property {(chunk: Uint8Array) => void} push
 * @property {() => Dataset} finish
 * @property {() => void} free
 */
/**
 * A feature extraction in progress, in batches that any encoder of the same model can compute.
 * @typedef {object} Extraction
 * @property {() => number | undefined} claim            a batch nobody works on, or undefined
 * @property {(batch: number) => void} release           give back a batch that failed
 * @property {(batch: number) => string[]} batchTexts
 * @property {(batch: number, modelId: string, vectors: Float32Array) => number} fill  texts done
 * @property {number} done
 * @property {number} total
 * @property {number} batches
 * @property {() => Uint8Array<ArrayBuffer>} checkpoint  what is done so far, to store
 * @property {(bytes: Uint8Array) => number} resume      take a checkpoint's rows; texts done
 * @property {() => Features} finish
 * @property {() => void} free
 */
/**
 * Pooled vectors of texts, with the model and settings that made them.
 * @typedef {object} Features
 * @property {() => Uint8Array<ArrayBuffer>} toBytes
 * @property {number} rows
 * @property {Float32Array} values
 * @property {(encoder: Encoder, pooling: Pooling, maxLen: number, rows: number) => void} check
 * @property {() => void} free
 */
/**
 * A head's training, one epoch per step.
 * @typedef {object} Trainer
 * @property {() => Promise<EpochReport>} step
 * @property {boolean} finished
 * @property {() => Classifier} finish
 * @property {() => void} free
 */
/**
 * A classifier: a head on one base model, or fine-tuned top layers and a head.
 * @typedef {object} Classifier
 * @property {() => Promise<Uint8Array<ArrayBuffer>>} toBytes
 * @property {() => ClassifierMeta} meta
 * @property {(vectors: Float32Array) => Promise<Prediction[]>} classifyVectors
 * @property {(encoder: Encoder) => void} checkBase    throws unless the encoder is its base model
 * @property {(encoder: Encoder, texts: string[]) => Promise<Prediction[]>} classify
 * @property {(encoder: Encoder, text: string, label?: number, steps?: number,
 *   helper?: (label: number, steps: number, part: number) => Promise<Float32Array>, parts?: number) => Promise<Attribution>} explain
 *   each word's contribution to a class's log-odds (the predicted class unless `label`); with
 *   `helper`, the integral's nodes are dealt into `parts` and part p > 0 is `helper`'s
 * @property {(encoder: Encoder, text: string, label: number, steps: number, part: number, parts: number) => Promise<Float32Array>} explainPart
 *   one part of another instance's `explain`
 * @property {(features: Features, dataset: Dataset) => Promise<TestReport>} evaluate
 * @property {boolean} fineTuned
 * @property {(encoder: Encoder, config: Uint8Array, card: ModelCard) => Promise<Uint8Array<ArrayBuffer>>} exportForOtherTools
 *   a zip of the model folder other tools run (onnx/model.onnx, config.json, tokenizer files, README.md)
 * @property {(encoder: Encoder, texts: string[]) => Promise<Float32Array>} probabilities   a batch of another instance's scoring
 * @property {(scoring: Scoring, helper?: (part: number, texts: string[]) => Promise<Float32Array>, parts?: number) => Promise<number>} scoreStep
 *   scores a batch (with `helper`, `parts` batches; batch p > 0 is `helper`'s): texts done so far
 * @property {(scoring: Scoring) => TestReport} scoreFinish           the test report (uses it up)
 * @property {(scoring: Scoring) => Prediction[]} scoredPredictions   the predictions, in the texts' order (uses it up)
 * @property {() => void} free
 */
/**
 * Scoring a classifier on a dataset's test texts, one batch per step.
 * @typedef {object} Scoring
 * @property {number} done
 * @property {number} total
 * @property {boolean} finished
 * @property {() => void} free
 */
/**
 * A helper's side of fine-tuning on several threads: answers another instance's shares.
 * @typedef {object} ShareRunner
 * @property {(encoder: Encoder, share: Uint8Array) => Promise<Uint8Array<ArrayBuffer>>} run
 * @property {() => void} free
 */
/**
 * A fine-tuning run, one unit of work per step.
 * @typedef {object} FineTuner
 * @property {() => {caching: number, training: number, validating: number}} workByPhase  in full-encoder passes over one text
 * @property {(helper?: (part: number, share: Uint8Array) => Promise<Uint8Array>, parts?: number) => Promise<StepReport>} step
 *   with `helper`, the step's texts are split into `parts` shares and share p > 0 is `helper`'s
 *   (another instance's `ShareRunner.run`); a share whose promise fails is computed here
 * @property {boolean} finished
 * @property {() => Promise<Classifier>} finish
 * @property {() => void} free
 */
/**
 * The wasm-bindgen module of one build: its init function (default export) and its exports.
 * @typedef {object} Wasm
 * @property {(init: {module_or_path: WebAssembly.Module}) => Promise<{memory: WebAssembly.Memory}>} default
 * @property {{load: (config: Uint8Array, weights: Uint8Array, tokenizer: Uint8Array, device: Device,
 *   weightsSha256?: Uint8Array) => Promise<Encoder>}} Encoder
 * @property {{load: (csv: Uint8Array, settings: Partial<DataSettings>) => Dataset}} Dataset
 * @property {new (settings: Partial<DataSettings>) => CsvStream} CsvStream
 * @property {new (encoder: Encoder, texts: string[], pooling: Pooling, maxLen: number, batchSize: number) => Extraction} Extraction
 * @property {{fromBytes: (bytes: Uint8Array) => Features}} Features
 * @property {new (features: Features, dataset: Dataset, settings: TrainSettings) => Trainer} Trainer
 * @property {{fromBytes: (bytes: Uint8Array) => Classifier}} Classifier
 * @property {{new (encoder: Encoder, dataset: Dataset, settings: FineTuneSettings): FineTuner,
 *   probe: (encoder: Encoder, dataset: Dataset, settings: FineTuneSettings) => FineTuner}} FineTuner
 *   a run, or a short one that times its steps (`probe`)
 * @property {{new (classifier: Classifier, encoder: Encoder, dataset: Dataset, batchSize: number): Scoring,
 *   ofTexts: (classifier: Classifier, encoder: Encoder, texts: string[], batchSize: number) => Scoring}} Scoring
 *   the test texts' scoring, or any texts' (`ofTexts`, read as `classify` reads them)
 * @property {new () => ShareRunner} ShareRunner
 * @property {(texts: string[]) => string[]} cleanTexts   texts as a classifier sees them (HTML removed)
 * @property {(csv: Uint8Array, delimiter?: DelimiterChoice) => string[]} csvHeader
 * @property {(csv: Uint8Array, column: string, delimiter?: DelimiterChoice) => string[]} csvColumn
 * @property {(vectors: Float32Array, dim: number, request: LabelingRequest) => Promise<LabelingSuggestion>} labelingSuggest
 * @property {(csv: Uint8Array, settings: Partial<DataSettings>, start: boolean) => Preview} csvPreview
 *   `start`: the bytes are the start of a larger file (the preview stops at their last whole record)
 * @property {() => Defaults} defaults
 * @property {() => DataSettings} defaultDataSettings
 * @property {(preset: string) => TrainSettings} trainSettings
 * @property {() => FineTuneSettings} fineTuneSettings
 * @property {(later: boolean) => Promise<void>} panicForTest  a Rust panic (tests only)
 */

// ---- UI → worker ------------------------------------------------------------------------------

/**
 * Start the wasm build for this device choice before the model files arrive.
 * @typedef {{id: number, type: 'prepare', device: DeviceChoice}} PrepareRequest
 */
/**
 * Load a new encoder; the previous one stays in use until the new one is ready. The buffers
 * are transferred.
 * @typedef {{id: number, type: 'load', files: ModelBuffers, device: DeviceChoice}} LoadRequest
 */
/**
 * Load the current model's bytes again on another device.
 * @typedef {{id: number, type: 'reload', device: DeviceChoice}} ReloadRequest
 */
/**
 * Embed texts, batchSize texts per wasm call (left out: the worker picks for its device,
 * `batchSizeFor` in www/pool.js), with progress and cancel between batches.
 * @typedef {{id: number, type: 'embed', texts: string[], pooling: Pooling, maxLen: number, batchSize?: number}} EmbedRequest
 */
/**
 * Wasm memory of the worker and of each helper worker.
 * @typedef {{id: number, type: 'memory'}} MemoryRequest
 */
/**
 * CPU threads for feature extraction: a number, or 'auto'.
 * @typedef {{id: number, type: 'threads', threads: number | 'auto'}} ThreadsRequest
 */
/**
 * Word pieces of texts.
 * @typedef {{id: number, type: 'tokenize', texts: string[], maxLen: number}} TokenizeRequest
 */
/**
 * Every default (`Defaults`).
 * @typedef {{id: number, type: 'defaults'}} DefaultsRequest
 */
/**
 * The header cells of a CSV file / every cell of one of its columns; the delimiter left out is
 * found from the file.
 * @typedef {{id: number, type: 'csvHeader', csv: ArrayBuffer, delimiter?: DelimiterChoice}} CsvHeaderRequest
 * @typedef {{id: number, type: 'csvColumn', csv: ArrayBuffer, column: string, delimiter?: DelimiterChoice}} CsvColumnRequest
 */
/**
 * What a CSV file holds, read with these settings' delimiter and columns, before preprocessing.
 * `start`: `csv` is only the start of a larger file.
 * @typedef {{id: number, type: 'csvPreview', csv: ArrayBuffer, settings: Partial<DataSettings>, start?: boolean}} CsvPreviewRequest
 */
/**
 * Read, preprocess and split a CSV file; it becomes the current dataset. A file larger than
 * `defaults().stream.aboveBytes` is read as a stream into a sample (progress 'read', cancellable).
 * @typedef {{id: number, type: 'dataset', csv: Blob, settings: Partial<DataSettings>}} DatasetRequest
 */
/**
 * Features of the current dataset's texts, from IndexedDB under `key` or extracted (progress
 * stage 'extract'; cancellable between batches). A long extraction keeps what it has done
 * (under `key` + '|partial', every `checkpointMs`, 30 s unless given), and one of the same key
 * that stopped (a crash, a closed tab, a cancel) resumes from there.
 * @typedef {{id: number, type: 'extract', key: string, pooling: Pooling, maxLen: number, batchSize?: number, checkpointMs?: number}} ExtractRequest
 */
/**
 * Train a head on the features (progress stage 'epoch', one per epoch; cancellable between
 * epochs), evaluate it on the test rows; it becomes the classifier.
 * @typedef {{id: number, type: 'train', settings: TrainSettings}} TrainRequest
 */
/**
 * What a fine-tuning run would take on this device, before starting it. The rate of the full
 * encoder is `textsPerSecond` when given (measured by the page), else timed on 32 training texts.
 * @typedef {{id: number, type: 'fineTunePlan', settings: Partial<FineTuneSettings>}} FineTunePlanRequest
 */
/**
 * Fine-tune the encoder's top layers and a head on the current dataset's training part
 * (progress stage 'finetune' per step), then score its test part in batches (stage 'test');
 * cancellable between steps. It becomes the classifier; a cancelled or failed run leaves the
 * dataset, the features and the previous classifier as they were.
 * @typedef {{id: number, type: 'fineTune', settings: Partial<FineTuneSettings>}} FineTuneRequest
 */
/**
 * Classify texts with the current classifier (progress stage 'classify').
 * @typedef {{id: number, type: 'classify', texts: string[], batchSize?: number}} ClassifyRequest
 */
/**
 * Labeling: the next rows to label, the head's predictions and the cross-validated accuracy;
 * keep, load or forget the session.
 * @typedef {{id: number, type: 'labelingSuggest', vectors: Float32Array, dim: number, request: LabelingRequest}} LabelingSuggestRequest
 * `session` without its texts and vectors keeps its progress; with them, all of it.
 * @typedef {{id: number, type: 'keepLabeling', session: LabelingSession | LabelingProgress}} KeepLabelingRequest
 * @typedef {{id: number, type: 'loadLabeling'}} LoadLabelingRequest
 * @typedef {{id: number, type: 'forgetLabeling'}} ForgetLabelingRequest
 */
/**
 * Why the current classifier decided what it did for one text: integrated gradients.
 * @typedef {{id: number, type: 'explain', text: string, label?: number, steps?: number}} ExplainRequest
 */
/**
 * Make a classifier file the current classifier / get the current one's file.
 * @typedef {{id: number, type: 'setClassifier', bytes: ArrayBuffer}} SetClassifierRequest
 * @typedef {{id: number, type: 'classifierBytes'}} ClassifierBytesRequest
 */
/**
 * What an exported model card says that the classifier does not know (Rust
 * `export::ModelCard`); every field may be left out.
 * @typedef {{dataset?: string, rows?: number | null, base_model?: string, date?: string}} ModelCard
 */
/**
 * The classifier in use, on the loaded model, as a zip of a model folder that transformers.js
 * and onnxruntime run: `config.json`, `tokenizer.json`, `tokenizer_config.json`,
 * `special_tokens_map.json`, `onnx/model.onnx` and a model card, `README.md`.
 * @typedef {{id: number, type: 'exportForOtherTools', card: ModelCard}} ExportForOtherToolsRequest
 */
/**
 * Keep the current classifier in IndexedDB for the next visit, with where it came from; a
 * storage failure answers with a warning instead of failing.
 * @typedef {{id: number, type: 'keepClassifier', source: string}} KeepClassifierRequest
 */
/**
 * Make the kept classifier the current one, as setClassifier does (null when none is kept).
 * @typedef {{id: number, type: 'loadKeptClassifier'}} LoadKeptClassifierRequest
 */
/**
 * Delete the kept classifier.
 * @typedef {{id: number, type: 'forgetKeptClassifier'}} ForgetKeptClassifierRequest
 */
/**
 * For tests: a Rust panic in the wasm instance (`later`: inside an async call, after it has
 * yielded), so that the worker restarts it (progress stage 'restarted'); rejects with the
 * InternalError that says so.
 * @typedef {{id: number, type: 'crashForTest', later: boolean}} CrashForTestRequest
 */
/**
 * Stop request `target` at its next step; it then rejects with a CancelledError. Not answered.
 * @typedef {{id: number, type: 'cancel', target: number}} CancelRequest
 */

/**
 * What each answered request resolves to.
 * @typedef {object} Results
 * @property {{build: Build}} prepare
 * @property {EncoderInfo} load
 * @property {EncoderInfo} reload
 * @property {Float32Array} embed
 * @property {MemoryResult} memory
 * @property {ThreadsResult} threads
 * @property {Tokenized[]} tokenize
 * @property {Defaults} defaults
 * @property {string[]} csvHeader
 * @property {string[]} csvColumn
 * @property {Preview} csvPreview
 * @property {DatasetSummary} dataset
 * @property {ExtractResult} extract
 * @property {Trained} train
 * @property {FineTunePlan} fineTunePlan
 * @property {Trained} fineTune
 * @property {Prediction[]} classify
 * @property {Attribution} explain
 * @property {LabelingSuggestion} labelingSuggest
 * @property {void} keepLabeling
 * @property {LabelingSession | null} loadLabeling
 * @property {void} forgetLabeling
 * @property {ClassifierSet} setClassifier
 * @property {ArrayBuffer} classifierBytes
 * @property {ArrayBuffer} exportForOtherTools
 * @property {{warning: string | null}} keepClassifier
 * @property {KeptClassifier | null} loadKeptClassifier
 * @property {void} forgetKeptClassifier
 * @property {void} crashForTest
 */
/**
 * A request the worker answers (all but cancel).
 * @typedef {PrepareRequest | LoadRequest | ReloadRequest | EmbedRequest | MemoryRequest | ThreadsRequest
 *   | TokenizeRequest | DefaultsRequest | CsvHeaderRequest | CsvColumnRequest
 *   | CsvPreviewRequest | DatasetRequest
 *   | ExtractRequest | TrainRequest | FineTunePlanRequest | FineTuneRequest | ClassifyRequest
 *   | ExplainRequest | LabelingSuggestRequest | KeepLabelingRequest | LoadLabelingRequest | ForgetLabelingRequest
 *   | SetClassifierRequest | ClassifierBytesRequest | ExportForOtherToolsRequest | KeepClassifierRequest
 *   | LoadKeptClassifierRequest | ForgetKeptClassifierRequest | CrashForTestRequest} Call
 */
/** @typedef {Call | CancelRequest} Request  Every message UI → worker. */
/** @typedef {Call['type']} CallType */
/**
 * A request as the client writes it, before it gets its id.
 * @typedef {Call extends infer C ? C extends Call ? Omit<C, 'id'> : never : never} CallBody
 */

// ---- Worker → UI ------------------------------------------------------------------------------

/**
 * A step of request `id`: `message` is for the user; the rest depends on `stage`.
 * - 'wasm', 'encoder': starting the wasm module, loading the model;
 * - 'embed', 'extract', 'classify': texts `done` of `total`;
 * - 'read': a large CSV file read as a stream, bytes `done` of `total`;
 * - 'epoch': one epoch's `report`;
 * - 'finetune': a step of fine-tuning (`step` null before the first; `done`/`total` are optimizer
 *   steps), 'test': test texts scored; both with `textsPerSecond` of the current phase and
 *   `secondsLeft` and `fraction` (0…1) of the whole run, null until measured;
 * - 'fallback': WebGPU failed, the step starts again on the CPU; `reason` says why;
 * - 'restarted': the wasm instance trapped (a Rust panic) under request `id`, which fails; a
 *   fresh one runs the model, data set and classifier again (`message` says which), and
 *   `featuresLost` says that the features were not stored, so they must be extracted again.
 * @typedef {{id: number, type: 'progress', message: string} & ProgressStage} ProgressMessage
 */
/**
 * @typedef {{stage: 'wasm'} | {stage: 'encoder'}
 *   | {stage: 'embed' | 'classify', done: number, total: number}
 *   | {stage: 'read', done: number, total: number, bytesPerSecond: number, secondsLeft: number}
 *   | {stage: 'extract', done: number, total: number, resumed: number}
 *   | {stage: 'epoch', report: EpochReport}
 *   | FineTuneStart | FineTuneProgress | TestProgress
 *   | {stage: 'fallback', reason: string, info: EncoderInfo} | {stage: 'restarted', featuresLost: boolean}} ProgressStage
 */
/**
 * The first 'finetune' progress, before any step: `threads` share each step.
 * @typedef {{stage: 'finetune', step: null, textsPerSecond: null, secondsLeft: null, device: Device,
 *   threads: number}} FineTuneStart
 */
/**
 * What a fine-tuning run's clock says after a step or a test batch.
 * @typedef {{fraction: number, textsPerSecond: number | null, secondsLeft: number | null, elapsed: number}} RunRates
 */
/** @typedef {{stage: 'finetune', step: StepReport, done: number, total: number} & RunRates} FineTuneProgress */
/** @typedef {{stage: 'test', done: number, total: number} & RunRates} TestProgress */
/**
 * Request `id` succeeded.
 * @typedef {{id: number, type: 'result', value: Results[CallType]}} ResultMessage
 */
/**
 * Request `id` failed; `message` is for the user, verbatim; `name` says what failed.
 * @typedef {{id: number, type: 'error', name: ErrorKind, message: string}} ErrorMessage
 */
/** @typedef {ProgressMessage | ResultMessage | ErrorMessage} Response  Every message worker → UI. */

// ---- www/pool.js → a helper (www/embed_worker.js) ---------------------------------------------

/**
 * Start the CPU build from its compiled `module` and `glue` URL and load a model into it.
 * @typedef {{id: number, type: 'load', module: WebAssembly.Module, glue: string, files: ModelBuffers}} HelperLoadRequest
 */
/** @typedef {{id: number, type: 'embed', texts: string[], pooling: Pooling, maxLen: number}} HelperEmbedRequest */
/**
 * One part of an explanation (`Classifier.explainPart`) with the main worker's classifier:
 * its file travels once per classifier (`bytes` null when this helper has `version` already).
 * @typedef {{id: number, type: 'explainPart', classifier: {version: number, bytes: ArrayBuffer | null},
 *   text: string, label: number, steps: number, part: number, parts: number}} HelperExplainRequest
 */
/**
 * A batch of texts' probabilities (`Classifier.probabilities`) with the main worker's
 * classifier: its file travels once per classifier, as for explanations.
 * @typedef {{id: number, type: 'probabilities', classifier: {version: number, bytes: ArrayBuffer | null},
 *   texts: string[]}} HelperProbabilitiesRequest
 */
/**
 * The main worker's classifier as helpers receive it: its file, and a version that names it.
 * @typedef {{version: number, bytes: ArrayBuffer}} SharedClassifier
 */
/**
 * One share of the main worker's fine-tuning step (`ShareRunner.run`): its texts or their
 * frozen layers' output, the trained parameters and what to compute, as bytes.
 * @typedef {{id: number, type: 'tuneShare', share: ArrayBuffer}} HelperTuneRequest
 */
/** @typedef {{id: number, type: 'memory'}} HelperMemoryRequest */
/**
 * @typedef {HelperLoadRequest | HelperEmbedRequest | HelperExplainRequest | HelperProbabilitiesRequest
 *   | HelperTuneRequest | HelperMemoryRequest} HelperRequest
 */
/**
 * What each helper request resolves to.
 * @typedef {{load: {modelId: string}, embed: Float32Array, explainPart: Float32Array,
 *   probabilities: Float32Array, tuneShare: Uint8Array<ArrayBuffer>, memory: number}} HelperResults
 */
/**
 * A helper's answer: a value, or an error's message (`crashed`: the helper's wasm trapped and it
 * cannot be used again). A helper that fails drops out of the extraction; the others go on.
 * @typedef {{id: number, value: HelperResults[HelperRequest['type']]}
 *   | {id: number, error: string, crashed: boolean}} HelperResponse
 */

export {};
