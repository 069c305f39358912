//! The tutorial end to end from the command line: preprocess a reviews CSV, extract features
//! with the frozen encoder, train a head, evaluate on the test split, save the classifier — and
//! classify texts or a CSV with a saved one.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use bertweb::classifier::{self, Classifier, Evaluation};
use bertweb::data::{self, Columns, LabelMode, Settings};
use bertweb::export::{ModelCard, export_folder};
use bertweb::features::{Extraction, FeatureSettings, Features};
use bertweb::finetune::{FineTuneSettings, FineTuner, Phase};
use bertweb::train::{EpochReport, Preset, TrainSettings, Trainer};
use bertweb::{Encoder, Pooling};
use burn::tensor::Device;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser)]
#[command(about = "Train and run BERT review classifiers (the same code as the bertweb page)")]
struct Cli {
    /// Hugging Face BERT folder: config.json, model.safetensors, tokenizer.json or vocab.txt.
    #[arg(long, default_value = "models/all-MiniLM-L6-v2", global = true)]
    model: PathBuf,
    #[command(subcommand)]
    command: Command,
}

// Parsed once per run: a large variant costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Preprocess, extract, train, evaluate and save a classifier.
    Train {
        /// Reviews CSV (`.csv` or `.csv.gz`): the Amazon layout, or name the columns.
        #[arg(long)]
        csv: PathBuf,
        /// Text column (other layouts).
        #[arg(long)]
        text_column: Option<String>,
        /// Label column (other layouts; not with --label-columns).
        #[arg(long)]
        label_column: Option<String>,
        /// auto (star scores 1–5 → binary, anything else → named), binary, three, five or
        /// named.
        #[arg(long, default_value = "auto")]
        label_mode: String,
        /// auto, comma, semicolon, tab or pipe.
        #[arg(long, default_value = "auto")]
        delimiter: String,
        /// A column of train / validation / test that gives the split (else a random one).
        #[arg(long)]
        split_column: Option<String>,
        /// Several labels per text, separated by this in the label column (e.g. ";"): a
        /// sigmoid per label, thresholds chosen on validation.
        #[arg(long)]
        label_separator: Option<String>,
        /// Several labels per text as 0/1 columns, one per label (comma-separated names); the
        /// label column is then not used.
        #[arg(long, value_delimiter = ',')]
        label_columns: Vec<String>,
        /// tutorial, linear or default.
        #[arg(long, default_value = "default")]
        preset: String,
        /// mean or pooler.
        #[arg(long, default_value = "mean")]
        pooling: String,
        /// Longest input in tokens, [CLS] and [SEP] included.
        #[arg(long, default_value_t = 55)]
        max_len: usize,
        /// Training seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Where to write the classifier.
        #[arg(long, default_value = "classifier.safetensors")]
        out: PathBuf,
        /// Cache extracted features here and reuse them on the next run.
        #[arg(long)]
        features_cache: Option<PathBuf>,
        /// Fine-tune the top K encoder layers with a linear head instead of training a head on
        /// frozen features (the preset is then not used).
        #[arg(long, value_name = "K")]
        fine_tune_layers: Option<usize>,
        /// Fine-tuning: passes over the training part.
        #[arg(long, default_value_t = 3)]
        epochs: usize,
        /// Fine-tuning: texts per step.
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        /// Fine-tuning: peak learning rate of the encoder layers.
        #[arg(long, default_value_t = 5e-5)]
        encoder_lr: f64,
        /// Fine-tuning: peak learning rate of the head.
        #[arg(long, default_value_t = 1e-3)]
        head_lr: f64,
    },
    /// Classify texts, or every row of a CSV, with a saved classifier, or with the classifier
    /// the model folder carries (a Hugging Face BertForSequenceClassification folder).
    Classify {
        /// The classifier file; left out, the model folder's own classifier.
        #[arg(long)]
        classifier: Option<PathBuf>,
        /// Texts to classify.
        #[arg(long)]
        text: Vec<String>,
        /// A CSV to classify instead.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// Its text column.
        #[arg(long, default_value = "Text")]
        text_column: String,
        /// Where to write the CSV with probabilities.
        #[arg(long, default_value = "predictions.csv")]
        out: PathBuf,
    },
    /// Why the classifier decided: each word's contribution to a class's log-odds (integrated
    /// gradients over the word embeddings), as JSON, one object per text.
    Explain {
        /// The classifier file; left out, the model folder's own classifier.
        #[arg(long)]
        classifier: Option<PathBuf>,
        /// Texts to explain.
        #[arg(long, required = true)]
        text: Vec<String>,
        /// The class to explain (its name or index); left out, the predicted one.
        #[arg(long)]
        class: Option<String>,
        /// Quadrature nodes along the path.
        #[arg(long, default_value_t = bertweb::attribution::DEFAULT_STEPS)]
        steps: usize,
    },
    /// Write a classifier as a model folder other tools run: transformers.js
    /// (`pipeline('text-classification', folder)`), onnxruntime (`onnx/model.onnx`), with its
    /// tokenizer files and a model card.
    Export {
        /// The classifier file; left out, the model folder's own classifier.
        #[arg(long)]
        classifier: Option<PathBuf>,
        /// The folder to write (created; files in it are replaced).
        #[arg(long)]
        out: PathBuf,
        /// The data set's name, for the model card.
        #[arg(long, default_value = "")]
        dataset: String,
    },
}

type Failure = Box<dyn std::error::Error>;

fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice()).read_to_end(&mut out)?;
        return Ok(out);
    }
    Ok(bytes)
}

fn load_encoder(dir: &Path) -> Result<Encoder, Failure> {
    let tokenizer = if dir.join("tokenizer.json").exists() {
        dir.join("tokenizer.json")
    } else {
        dir.join("vocab.txt")
    };
    Ok(Encoder::load(
        &read_file(&dir.join("config.json"))?,
        &read_file(&dir.join("model.safetensors"))?,
        &read_file(&tokenizer)?,
        &Device::flex(),
    )?)
}

fn extract(
    encoder: &Encoder,
    texts: Vec<String>,
    settings: FeatureSettings,
    what: &str,
) -> Result<Features, Failure> {
    let mut extraction = Extraction::new(encoder, texts, settings, 32)?;
    let bar = bar(extraction.total(), what)?;
    while !extraction.is_finished() {
        let done = pollster::block_on(extraction.step(encoder))?;
        bar.set_position(done as u64);
    }
    bar.finish();
    Ok(extraction.finish()?)
}

/// A label mode by name; `None` for `auto`.
fn label_mode(name: &str) -> Result<Option<LabelMode>, Failure> {
    Ok(Some(match name {
        "auto" => return Ok(None),
        "binary" => LabelMode::Binary,
        "three" => LabelMode::Three,
        "five" => LabelMode::Five,
        "named" => LabelMode::Named,
        other => return Err(format!("unknown label mode `{other}`").into()),
    }))
}

/// Reads and preprocesses the CSV; with no label mode given, the one its labels call for (as
/// the page suggests it).
fn load_dataset(
    csv: &Path,
    mut settings: Settings,
    mode: Option<LabelMode>,
) -> Result<data::Dataset, Failure> {
    let bytes = read_file(csv)?;
    settings.label_mode = match mode {
        Some(mode) => mode,
        None => {
            let preview = data::preview(&bytes, &settings)?;
            println!(
                "labels: {:?}, label mode {:?}",
                preview.label_kind, preview.label_mode
            );
            preview.label_mode
        }
    };
    let dataset = data::load(&bytes, &settings)?;
    println!("{}", serde_json::to_string_pretty(&dataset.counts)?);
    Ok(dataset)
}

#[allow(clippy::too_many_arguments)]
fn train(
    model: &Path,
    csv: &Path,
    settings: Settings,
    mode: Option<LabelMode>,
    preset: Preset,
    features: FeatureSettings,
    seed: u64,
    out: &Path,
    cache: Option<&Path>,
) -> Result<(), Failure> {
    let dataset = load_dataset(csv, settings, mode)?;
    let encoder = load_encoder(model)?;
    let texts = |rows: &[data::Example]| rows.iter().map(|e| e.text.clone()).collect::<Vec<_>>();

    let start = Instant::now();
    let cached = cache
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| Features::from_bytes(&b).ok())
        .filter(|f| {
            f.check_compatible(encoder.model_id(), &features).is_ok()
                && f.rows == dataset.train.len() + dataset.test.len()
        });
    let all = match cached {
        Some(f) => f,
        None => {
            let mut all_texts = texts(&dataset.train);
            all_texts.extend(texts(&dataset.test));
            let f = extract(&encoder, all_texts, features, "embed")?;
            if let Some(p) = cache {
                std::fs::write(p, f.to_bytes())?;
            }
            f
        }
    };
    println!(
        "features: {} texts in {:.1} s",
        all.rows,
        start.elapsed().as_secs_f64()
    );
    let split = dataset.train.len() * all.dim;
    let (train_x, test_x) = all.values.split_at(split);

    let mut train_settings = TrainSettings::preset(preset);
    train_settings.seed = seed;
    train_settings.validation_fraction =
        dataset.validation_fraction(train_settings.validation_fraction);
    let start = Instant::now();
    let mut trainer = Trainer::with_targets(
        train_x,
        all.dim,
        dataset.train_targets()?,
        train_settings,
        &Device::flex(),
    )?;
    while !trainer.is_finished() {
        print_epoch(&pollster::block_on(trainer.step())?, None);
    }
    println!("trained in {:.1} s", start.elapsed().as_secs_f64());
    let mut classifier = Classifier::new(
        trainer.finish()?,
        encoder.model_id(),
        features,
        dataset.label_names.clone(),
    );
    let probs = pollster::block_on(classifier.predict(test_x, &Device::flex()))?;
    save_tested(&mut classifier, &probs, &dataset, out)
}

fn bar(total: usize, what: &str) -> Result<ProgressBar, Failure> {
    let bar = ProgressBar::new(total as u64).with_style(
        ProgressStyle::with_template(
            "{msg:>8} [{bar:40}] {pos}/{len} texts, {per_sec}, {eta} left",
        )?
        .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    Ok(bar)
}

fn fine_tune(
    model: &Path,
    csv: &Path,
    data_settings: Settings,
    mode: Option<LabelMode>,
    mut settings: FineTuneSettings,
    out: &Path,
) -> Result<(), Failure> {
    let dataset = load_dataset(csv, data_settings, mode)?;
    settings.validation_fraction = dataset.validation_fraction(settings.validation_fraction);
    let encoder = load_encoder(model)?;
    let texts: Vec<String> = dataset.train.iter().map(|e| e.text.clone()).collect();
    let start = Instant::now();
    let mut tuner = FineTuner::with_targets(&encoder, &texts, dataset.train_targets()?, settings)?;
    let (mut phase, mut progress) = (None, bar(0, "")?);
    while !tuner.is_finished() {
        let step = pollster::block_on(tuner.step(&encoder))?;
        if phase != Some((step.phase, step.epoch)) && step.phase != Phase::Finished {
            progress.finish_and_clear();
            let what = match step.phase {
                Phase::Caching => "cache".to_string(),
                Phase::Validating => format!("val {}", step.epoch),
                _ => format!("epoch {}", step.epoch),
            };
            progress = bar(step.total, &what)?;
            phase = Some((step.phase, step.epoch));
        }
        progress.set_position(step.done as u64);
        if let Some(r) = step.epoch_report {
            progress.finish_and_clear();
            print_epoch(&r, Some(start.elapsed().as_secs_f64()));
        }
    }
    progress.finish_and_clear();
    println!("fine-tuned in {:.1} s", start.elapsed().as_secs_f64());
    let mut classifier = Classifier::from_fine_tuned(
        pollster::block_on(tuner.finish())?,
        dataset.label_names.clone(),
    );
    let test_texts: Vec<String> = dataset.test.iter().map(|e| e.text.clone()).collect();
    let progress = bar(test_texts.len(), "test")?;
    let probs = pollster::block_on(
        classifier.probabilities_all(&encoder, &test_texts, 64, |n| {
            progress.set_position(n as u64)
        }),
    )?;
    progress.finish_and_clear();
    save_tested(&mut classifier, &probs, &dataset, out)
}

/// One epoch's line; `*` marks the kept checkpoint.
fn print_epoch(r: &EpochReport, seconds: Option<f64>) {
    println!(
        "epoch {:>2}: loss {:.4} acc {:.4} auroc {:.4} | val loss {:.4} acc {:.4} auroc {:.4}{}{}",
        r.epoch,
        r.train_loss,
        r.train_accuracy,
        r.train_auroc.unwrap_or(f64::NAN),
        r.val_loss,
        r.val_accuracy,
        r.val_auroc.unwrap_or(f64::NAN),
        if r.best { "  *" } else { "" },
        seconds.map_or(String::new(), |s| format!("  ({s:.0} s)"))
    );
}

/// Scores the test split's probabilities, prints the report, keeps it in the classifier's
/// metadata and writes the file.
fn save_tested(
    classifier: &mut Classifier,
    probs: &[f32],
    dataset: &data::Dataset,
    out: &Path,
) -> Result<(), Failure> {
    let report = classifier.score_targets(probs, &dataset.test_targets()?)?;
    print_test(&report, &dataset.label_names);
    std::fs::write(out, pollster::block_on(classifier.to_bytes())?)?;
    println!("saved {}", out.display());
    Ok(())
}

fn print_calibration(calibration: Option<&bertweb::calibration::Calibration>) {
    if let Some(c) = calibration {
        println!(
            "calibration: temperature {:.3} (fitted on validation), test expected calibration error {:.4} → {:.4}",
            c.temperature, c.before.ece, c.after.ece
        );
    }
}

fn print_test(report: &Evaluation, names: &[String]) {
    match report {
        Evaluation::Classes(report) => {
            println!(
                "test: {} rows, accuracy {:.4}, AUROC {:.4}, macro-F1 {:.4}",
                report.n,
                report.accuracy,
                report.auroc.unwrap_or(f64::NAN),
                report.macro_f1
            );
            println!("confusion [true][predicted]: {:?}", report.confusion);
            print_calibration(report.calibration.as_ref());
        }
        Evaluation::Labels(report) => {
            println!(
                "test: {} rows, micro-F1 {:.4}, macro-F1 {:.4}, exact match {:.4}, Hamming loss {:.4}, AUROC {:.4}",
                report.n,
                report.micro.f1,
                report.macro_avg.f1,
                report.subset_accuracy,
                report.hamming_loss,
                report.auroc.unwrap_or(f64::NAN)
            );
            print_calibration(report.calibration.as_ref());
            for (j, label) in report.per_label.iter().enumerate() {
                println!(
                    "  {:<24} threshold {:.3}  precision {:.4} recall {:.4} F1 {:.4} ({} rows)",
                    names.get(j).map_or("", String::as_str),
                    report.thresholds.get(j).copied().unwrap_or(f32::NAN),
                    label.scores.precision,
                    label.scores.recall,
                    label.scores.f1,
                    label.support
                );
            }
        }
    }
}

/// The classifier `file`, or the model folder's own one when there is no file; checked
/// against `encoder`.
fn load_classifier(
    model: &Path,
    file: Option<&Path>,
    encoder: &Encoder,
) -> Result<Classifier, Failure> {
    let classifier = match file {
        Some(file) => Classifier::from_bytes(&read_file(file)?, &Device::flex())?,
        None => Classifier::from_hugging_face(
            &read_file(&model.join("config.json"))?,
            &read_file(&model.join("model.safetensors"))?,
            encoder,
            bertweb::tokenizer::DEFAULT_MAX_LEN,
        )?
        .ok_or_else(|| {
            format!(
                "{} has no classifier of its own (no classifier.weight): give --classifier",
                model.display()
            )
        })?,
    };
    classifier.check_fits(encoder)?;
    Ok(classifier)
}

/// Writes the export folder of a classifier (`bertweb::export`).
fn export(model: &Path, file: Option<&Path>, out: &Path, dataset: String) -> Result<(), Failure> {
    let encoder = load_encoder(model)?;
    let classifier = load_classifier(model, file, &encoder)?;
    let card = ModelCard {
        dataset,
        rows: None,
        base_model: model
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        date: String::new(),
    };
    let config = read_file(&model.join("config.json"))?;
    let files = pollster::block_on(export_folder(&encoder, &classifier, &config, &card))?;
    for (path, bytes) in &files {
        let path = out.join(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    println!("wrote {} files to {}", files.len(), out.display());
    Ok(())
}

fn classify(
    model: &Path,
    file: Option<&Path>,
    texts: Vec<String>,
    csv: Option<(&Path, &str)>,
    out: &Path,
) -> Result<(), Failure> {
    let encoder = load_encoder(model)?;
    let classifier = load_classifier(model, file, &encoder)?;
    let texts = match csv {
        Some((path, column)) => {
            let bytes = read_file(path)?;
            let mut reader = csv::Reader::from_reader(bytes.as_slice());
            let index = reader
                .headers()?
                .iter()
                .position(|h| h.trim_start_matches('\u{feff}') == column)
                .ok_or_else(|| format!("{} has no column `{column}`", path.display()))?;
            reader
                .records()
                .map(|r| Ok(r?.get(index).unwrap_or_default().to_string()))
                .collect::<Result<Vec<_>, Failure>>()?
        }
        None => texts,
    };
    if texts.is_empty() {
        return Err("nothing to classify: give --text or --csv".into());
    }
    let cleaned: Vec<String> = texts.iter().map(|t| classifier::input_text(t)).collect();
    let progress = bar(cleaned.len(), "classify")?;
    let probs = pollster::block_on(
        classifier.probabilities_all(&encoder, &cleaned, 32, |n| progress.set_position(n as u64)),
    )?;
    progress.finish_and_clear();
    let names = &classifier.meta.label_names;
    let rows = classifier.predictions(&probs);
    if csv.is_some() {
        let mut writer = csv::Writer::from_path(out)?;
        let mut header = vec!["text".to_string(), "label".to_string()];
        header.extend(names.iter().map(|n| format!("p_{n}")));
        writer.write_record(&header)?;
        for (text, p) in texts.iter().zip(&rows) {
            let mut record = vec![spreadsheet_text(text), spreadsheet_text(&p.verdict(names))];
            record.extend(p.probabilities.iter().map(|v| format!("{v:.6}")));
            writer.write_record(&record)?;
        }
        writer.flush()?;
        println!("wrote {} rows to {}", rows.len(), out.display());
    } else {
        for (text, p) in texts.iter().zip(&rows) {
            match &p.labels {
                None => {
                    let confidence = p.probabilities.get(p.label).copied().unwrap_or(f32::NAN);
                    println!("{} {:.1} %\t{text}", p.name, confidence * 100.0);
                }
                Some(_) => println!("[{}]\t{text}", p.verdict(names)),
            }
        }
    }
    Ok(())
}

fn explain(
    model: &Path,
    file: Option<&Path>,
    texts: &[String],
    class: Option<&str>,
    steps: usize,
) -> Result<(), Failure> {
    let encoder = load_encoder(model)?;
    let classifier = load_classifier(model, file, &encoder)?;
    let names = &classifier.meta.label_names;
    let target = class
        .map(|c| {
            names
                .iter()
                .position(|n| n == c)
                .or_else(|| c.parse().ok())
                .ok_or_else(|| format!("no class `{c}`: the classes are {}", names.join(", ")))
        })
        .transpose()?;
    for text in texts {
        let explained = pollster::block_on(bertweb::attribution::attribute(
            &classifier,
            &encoder,
            text,
            target,
            steps,
        ))?;
        println!("{}", serde_json::to_string(&explained)?);
    }
    Ok(())
}

/// A text as a spreadsheet shows it, not as a formula it runs (the page's `csvLine` in
/// www/csv.js does the same): Excel, LibreOffice and Sheets evaluate a cell that starts with
/// = + - @, a tab or a carriage return, and a review file from anywhere could hold
/// `=HYPERLINK(...)`. Such a text gets a leading apostrophe (OWASP's advice on CSV injection).
fn spreadsheet_text(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Train {
            csv,
            text_column,
            label_column,
            label_mode: mode,
            delimiter,
            split_column,
            label_separator,
            label_columns,
            preset,
            pooling,
            max_len,
            seed,
            out,
            features_cache,
            fine_tune_layers,
            epochs,
            batch_size,
            encoder_lr,
            head_lr,
        } => {
            let label = label_column.or_else(|| label_columns.first().cloned());
            let columns = match (text_column, label) {
                (Some(text), Some(label)) => Columns::Named { text, label },
                (None, None) => Columns::default(),
                _ => {
                    return Err(
                        "name the text column and the label column (--text-column with --label-column or --label-columns), or neither for the Amazon layout"
                            .into(),
                    );
                }
            };
            let data_settings = Settings {
                columns,
                delimiter: data::Delimiter::parse(&delimiter)?,
                split_column,
                label_separator,
                label_columns,
                ..Settings::default()
            };
            if let Some(layers) = fine_tune_layers {
                let settings = FineTuneSettings {
                    layers,
                    pooling: Pooling::parse(&pooling)?,
                    max_len,
                    epochs,
                    batch_size,
                    encoder_lr,
                    head_lr,
                    seed,
                    ..FineTuneSettings::default()
                };
                return fine_tune(
                    &cli.model,
                    &csv,
                    data_settings,
                    label_mode(&mode)?,
                    settings,
                    &out,
                );
            }
            let features = FeatureSettings {
                pooling: Pooling::parse(&pooling)?,
                max_len,
            };
            train(
                &cli.model,
                &csv,
                data_settings,
                label_mode(&mode)?,
                Preset::parse(&preset)?,
                features,
                seed,
                &out,
                features_cache.as_deref(),
            )
        }
        Command::Classify {
            classifier,
            text,
            csv,
            text_column,
            out,
        } => classify(
            &cli.model,
            classifier.as_deref(),
            text,
            csv.as_deref().map(|p| (p, text_column.as_str())),
            &out,
        ),
        Command::Explain {
            classifier,
            text,
            class,
            steps,
        } => explain(
            &cli.model,
            classifier.as_deref(),
            &text,
            class.as_deref(),
            steps,
        ),
        Command::Export {
            classifier,
            out,
            dataset,
        } => export(&cli.model, classifier.as_deref(), &out, dataset),
    }
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::spreadsheet_text;

    #[test]
    fn texts_that_would_run_as_formulas_are_kept_as_text() {
        for formula in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(spreadsheet_text(formula), format!("'{formula}"));
        }
        for text in ["Great coffee", "", " =not at the start", "'quoted"] {
            assert_eq!(spreadsheet_text(text), text);
        }
    }
}
