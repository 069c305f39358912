//! CSV bytes → rows → the tutorial's preprocessing → a stratified train/test split.
//!
//! [`read_csv`] turns the bytes of a CSV file into [`Table`] rows (text and label as strings),
//! [`preprocess`] applies the tutorial's steps in the tutorial's order and splits the result;
//! [`load`] does both. Every row that is dropped is counted by reason in [`Counts`], which the
//! page shows. `scripts/reference_counts.py` computes the same steps with pandas and
//! scikit-learn, and `tests/data.rs` checks that both agree on the shared data.
//!
//! The steps ([`Settings::default`] is the tutorial):
//! 1. read the rows (the Amazon Fine Food `Reviews.csv` layout, found by its header, or any
//!    CSV whose text and label columns the caller names);
//! 2. drop rows whose text or label is empty (blank after trimming whitespace);
//! 3. map labels ([`LabelMode`]): binary drops the neutral score 3; scores that are not whole
//!    numbers in 1..=5 are unusable;
//! 4. keep reviews with fewer than [`Settings::max_words`] words, counted as Python's
//!    `str.split()` counts them, on the raw text;
//! 5. sample up to [`Settings::sample_size`] rows with the seed;
//! 6. strip HTML tags as `re.sub('<.*?>', '', text)` does (entities such as `&quot;` stay);
//! 7. split train/test, stratified, with `ceil(test_fraction · n)` test rows and per-class
//!    counts allocated as scikit-learn's `train_test_split(stratify=…)` allocates them.
//!
//! The validation part is not made here: the trainer takes the last 20 % of the (shuffled)
//! training rows, as Keras' `validation_split` does ([`split_validation`]).

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The header of the Kaggle/SNAP Amazon Fine Food `Reviews.csv`.
pub const AMAZON_COLUMNS: [&str; 10] = [
    "Id",
    "ProductId",
    "UserId",
    "ProfileName",
    "HelpfulnessNumerator",
    "HelpfulnessDenominator",
    "Score",
    "Time",
    "Summary",
    "Text",
];
/// The Amazon layout's text column.
pub const AMAZON_TEXT: &str = "Text";
/// The Amazon layout's label column (a 1–5 star score).
pub const AMAZON_LABEL: &str = "Score";

/// Everything that can make a CSV file unusable, with what to do about it.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum DataError {
    /// No bytes, or only a byte-order mark / whitespace.
    #[error("the file is empty: choose a CSV file with a header line and at least one row")]
    Empty,
    /// The file starts with a UTF-16 byte-order mark.
    #[error("the file is UTF-16 text, not UTF-8: save it as \"CSV UTF-8\" and load it again")]
    Utf16,
    /// A cell we need holds bytes that are not UTF-8.
    #[error(
        "line {line} is not UTF-8 text (in {column}): save the file as UTF-8 (\"CSV UTF-8\" in Excel) and load it again"
    )]
    NotUtf8 {
        /// 1-based line where the record starts.
        line: u64,
        /// Which cell: `column `Text`` or `the header`.
        column: String,
    },
    /// A quoted field runs to the end of the file.
    #[error(
        "line {line}: a quoted field opens with `\"` and is never closed: close it (a quote inside a quoted field is written `\"\"`)"
    )]
    UnclosedQuote {
        /// 1-based line where the open quote is.
        line: u64,
    },
    /// A record whose number of fields differs from the header's.
    #[error(
        "line {line} has {found} fields but the header has {expected}: check the quotes on this line and the lines above it (a field with a comma or a line break must be quoted, a quote inside it doubled)"
    )]
    FieldCount {
        /// 1-based line where the record starts.
        line: u64,
        /// Fields on that record.
        found: usize,
        /// Fields in the header.
        expected: usize,
    },
    /// Any other CSV reading error.
    #[error("the CSV cannot be read at line {line}: {message}")]
    Csv {
        /// 1-based line, 0 when unknown.
        line: u64,
        /// The reader's message.
        message: String,
    },
    /// The first line holds numbers, so it is data, not a header.
    #[error(
        "the first line looks like data, not a header ({}): add a header line naming the columns (expected {})",
        quoted(.first_line), quoted(.expected)
    )]
    NoHeader {
        /// The first line's cells.
        first_line: Vec<String>,
        /// The columns we looked for.
        expected: Vec<String>,
    },
    /// Columns we need are not in the header.
    #[error(
        "column {} not found; the header has {}: name the text and label columns (the Amazon Reviews.csv layout has Text and Score)",
        quoted(.missing), quoted(.found)
    )]
    MissingColumn {
        /// The columns we looked for and did not find.
        missing: Vec<String>,
        /// The header's cells.
        found: Vec<String>,
    },
    /// The text and label columns are the same column.
    #[error("the text and the label column are both `{0}`: choose two different columns")]
    SameColumn(String),
    /// A setting out of its range.
    #[error("invalid setting: {0}")]
    Setting(String),
    /// A cell of a 0/1 label column that is neither.
    #[error(
        "line {line}: the label column `{column}` holds `{value}`; label columns hold 1 when a text has the label and 0 (or nothing) when not"
    )]
    FlagValue {
        /// 1-based line of the record.
        line: u64,
        /// The column's header.
        column: String,
        /// The cell as written.
        value: String,
    },
    /// A cell of the split column that is not a part's name.
    #[error(
        "line {line}: the split column `{column}` holds `{value}`; use train, validation (or dev, val) or test, or split the rows at random instead"
    )]
    SplitValue {
        /// 1-based line of the record.
        line: u64,
        /// The split column's header.
        column: String,
        /// The cell as written.
        value: String,
    },
    /// A given split without test rows, or without training rows, left after preprocessing.
    #[error(
        "the split column `{column}` leaves {train} training and {test} test rows after preprocessing: each part needs rows of at least two classes, or split the rows at random instead"
    )]
    EmptySplitPart {
        /// The split column's header.
        column: String,
        /// Training rows (validation included).
        train: usize,
        /// Test rows.
        test: usize,
    },
    /// Nothing is left after preprocessing.
    #[error("no usable rows: {0}")]
    NoUsableRows(String),
    /// Only one class is left after preprocessing.
    #[error(
        "only one class is left after preprocessing: `{class}` ({rows} rows); a classifier needs at least two: check the label column and the label mode"
    )]
    OneClass {
        /// The class's name.
        class: String,
        /// Its rows.
        rows: usize,
    },
    /// A class with a single row cannot be in both train and test.
    #[error(
        "class `{class}` has only {rows} row: each class needs at least 2 rows to be in both the training and the test part; add examples of it or remove it"
    )]
    TooFewInClass {
        /// The class's name.
        class: String,
        /// Its rows.
        rows: usize,
    },
    /// Too few rows to give every class a place in train and test.
    #[error(
        "{rows} rows are too few to split {classes} classes with every class in both the training and the test part: add rows or change the test fraction"
    )]
    TooFewRows {
        /// Rows after preprocessing.
        rows: usize,
        /// Classes present.
        classes: usize,
    },
}

impl DataError {
    /// Every data error is about the file the user gave (the page's `DataError`).
    pub fn kind(&self) -> crate::error::ErrorKind {
        crate::error::ErrorKind::Data
    }
}

fn quoted(items: &[String]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which columns hold the text and the label.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Columns {
    /// The Amazon Fine Food `Reviews.csv` layout, recognised by its `Text` and `Score` columns.
    #[default]
    Amazon,
    /// Any CSV: the header names of the text and the label column (matched exactly, then
    /// ignoring case and surrounding spaces).
    Named {
        /// The text column's header.
        text: String,
        /// The label column's header.
        label: String,
    },
}

/// How labels become classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LabelMode {
    /// The tutorial: score ≤ 2 → `negative` (0), ≥ 4 → `positive` (1), 3 dropped as neutral.
    #[default]
    Binary,
    /// 1–2 → `negative`, 3 → `neutral`, 4–5 → `positive`.
    Three,
    /// One class per star, 1..=5.
    Five,
    /// Label strings as classes (e.g. `pos`/`neg`), sorted by name; labels are trimmed.
    Named,
}

impl LabelMode {
    /// Every mode, in the order the page offers them.
    pub const ALL: [LabelMode; 4] = [
        LabelMode::Binary,
        LabelMode::Three,
        LabelMode::Five,
        LabelMode::Named,
    ];

    /// The class names, in class-index order (empty for [`LabelMode::Named`]: they come from
    /// the data).
    pub fn class_names(self) -> Vec<String> {
        let names: &[&str] = match self {
            LabelMode::Binary => &["negative", "positive"],
            LabelMode::Three => &["negative", "neutral", "positive"],
            LabelMode::Five => &["1 star", "2 stars", "3 stars", "4 stars", "5 stars"],
            LabelMode::Named => &[],
        };
        names.iter().map(|s| s.to_string()).collect()
    }

    /// The class of a 1..=5 score, or `None` when this mode drops it (binary: 3).
    fn class_of_score(self, score: u8) -> Option<usize> {
        match self {
            LabelMode::Binary => match score {
                1 | 2 => Some(0),
                4 | 5 => Some(1),
                _ => None,
            },
            LabelMode::Three => Some(match score {
                1 | 2 => 0,
                3 => 1,
                _ => 2,
            }),
            LabelMode::Five | LabelMode::Named => Some(usize::from(score) - 1),
        }
    }
}

/// The character between fields: spreadsheets write `;` or tab in many locales.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Delimiter {
    /// Found from the file's first lines ([`detect_delimiter`]).
    #[default]
    Auto,
    /// `,`
    Comma,
    /// `;`
    Semicolon,
    /// A tab.
    Tab,
    /// `|`
    Pipe,
}

impl Delimiter {
    /// The delimiters detection chooses from, in the order ties are broken.
    pub const CANDIDATES: [Delimiter; 4] = [
        Delimiter::Comma,
        Delimiter::Tab,
        Delimiter::Semicolon,
        Delimiter::Pipe,
    ];

    /// The byte, `None` for [`Delimiter::Auto`].
    pub fn byte(self) -> Option<u8> {
        match self {
            Delimiter::Auto => None,
            Delimiter::Comma => Some(b','),
            Delimiter::Semicolon => Some(b';'),
            Delimiter::Tab => Some(b'\t'),
            Delimiter::Pipe => Some(b'|'),
        }
    }

    /// Parses a name as serialized (`auto`, `comma`, `semicolon`, `tab`, `pipe`).
    pub fn parse(name: &str) -> Result<Self, DataError> {
        match name {
            "auto" => Ok(Delimiter::Auto),
            "comma" => Ok(Delimiter::Comma),
            "semicolon" => Ok(Delimiter::Semicolon),
            "tab" => Ok(Delimiter::Tab),
            "pipe" => Ok(Delimiter::Pipe),
            other => Err(DataError::Setting(format!(
                "unknown delimiter `{other}`: use auto, comma, semicolon, tab or pipe"
            ))),
        }
    }

    /// This delimiter, or the one found in `bytes` when it is [`Delimiter::Auto`].
    pub fn resolve(self, bytes: &[u8]) -> Delimiter {
        match self {
            Delimiter::Auto => detect_delimiter(bytes),
            given => given,
        }
    }
}

/// The delimiter of a CSV file, from its first lines: the candidate that appears in the header
/// (outside quotes) and the same number of times on the most of the following lines; a comma
/// when none does (a file of one column).
pub fn detect_delimiter(bytes: &[u8]) -> Delimiter {
    const LINES: usize = 50;
    let bytes = without_bom(bytes);
    let bytes = &bytes[..bytes.len().min(1 << 16)];
    let mut lines: Vec<[usize; 4]> = Vec::new();
    let mut counts = [0usize; 4];
    let mut quoted = false;
    let mut blank = true;
    for &b in bytes {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => {
                if !blank {
                    lines.push(counts);
                    if lines.len() == LINES {
                        break;
                    }
                }
                counts = [0; 4];
                blank = true;
                continue;
            }
            _ if quoted => {}
            _ => {
                for (count, d) in counts.iter_mut().zip(Delimiter::CANDIDATES) {
                    if d.byte() == Some(b) {
                        *count += 1;
                    }
                }
            }
        }
        if !b.is_ascii_whitespace() {
            blank = false;
        }
    }
    if !blank && lines.len() < LINES {
        lines.push(counts);
    }
    let Some((header, rest)) = lines.split_first() else {
        return Delimiter::Comma;
    };
    let mut best = (Delimiter::Comma, 0usize, false);
    for (i, d) in Delimiter::CANDIDATES.into_iter().enumerate() {
        if header[i] == 0 {
            continue;
        }
        let agreeing = rest.iter().filter(|l| l[i] == header[i]).count();
        if !best.2 || agreeing > best.1 {
            best = (d, agreeing, true);
        }
    }
    best.0
}

/// Every preprocessing setting; [`Default`] is the tutorial's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The character between fields (default: detected).
    pub delimiter: Delimiter,
    /// Where the text and the label are (default: the Amazon layout).
    pub columns: Columns,
    /// A column that says which rows are training, validation and test rows (`train`,
    /// `validation`/`dev`/`val`, `test`): the parts are then the file's, not a random split.
    pub split_column: Option<String>,
    /// How labels become classes (default: binary). Ignored with a `label_separator`.
    pub label_mode: LabelMode,
    /// Several labels per text: each label cell is split at this separator (e.g. `;` or `|`)
    /// into labels, and a text may have any number of them (a sigmoid per label, thresholds
    /// chosen on validation). `None` (the default): one class per text.
    pub label_separator: Option<String>,
    /// Several labels per text as 0/1 columns, one per label, named by its header: a text has
    /// each label whose cell is 1 (or true, yes, x), and may have none. Given, they are the
    /// labels, and the label column and separator are not used.
    pub label_columns: Vec<String>,
    /// Keep texts with fewer words than this (default 50); `None` keeps all.
    pub max_words: Option<usize>,
    /// Sample at most this many rows (default 100,000); `None` keeps all.
    pub sample_size: Option<usize>,
    /// Seed of the sampling and of the split (default 42).
    pub seed: u64,
    /// Fraction of rows in the test part, in (0, 1) (default 0.2).
    pub test_fraction: f64,
    /// Remove HTML tags `<…>` from the texts (default true).
    pub strip_html: bool,
}

/// Joins a row's labels from 0/1 columns into one label cell; no header holds it.
const FLAG_SEPARATOR: &str = "\u{1f}";

impl Settings {
    /// Where several labels per text come from: the separator the label cells are split at;
    /// `None` for one class per text.
    pub fn multi_label_separator(&self) -> Option<&str> {
        if !self.label_columns.is_empty() {
            Some(FLAG_SEPARATOR)
        } else {
            self.label_separator.as_deref()
        }
    }

    /// Whether a text may have no label: 0 in every label column.
    fn allows_no_label(&self) -> bool {
        !self.label_columns.is_empty()
    }
}

/// A 0/1 label cell: 1, true, yes, y or x; 0, false, no, n or nothing; `None` for anything else.
pub(crate) fn parse_flag(cell: &str) -> Option<bool> {
    match cell.trim().to_lowercase().as_str() {
        "1" | "1.0" | "true" | "yes" | "y" | "x" => Some(true),
        "0" | "0.0" | "false" | "no" | "n" | "" => Some(false),
        _ => None,
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            delimiter: Delimiter::Auto,
            columns: Columns::Amazon,
            split_column: None,
            label_mode: LabelMode::Binary,
            label_separator: None,
            label_columns: Vec::new(),
            max_words: Some(50),
            sample_size: Some(100_000),
            seed: 42,
            test_fraction: 0.2,
            strip_html: true,
        }
    }
}

/// Which layout the file was read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// The Amazon Fine Food `Reviews.csv` header.
    Amazon,
    /// Columns named by the caller.
    Named,
}

/// A part of a given split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// Fitted.
    Train,
    /// Held out while training, to pick the best epoch.
    Validation,
    /// Held out for the test report.
    Test,
}

impl Part {
    /// The part a split column's cell at `line` names, or the error that says what it holds.
    pub(crate) fn of_cell(cell: &str, line: u64, column: &str) -> Result<Part, DataError> {
        Part::parse(cell).ok_or_else(|| DataError::SplitValue {
            line,
            column: column.to_string(),
            value: cell.trim().to_string(),
        })
    }

    /// A split cell's part: `train`, `validation`, `test` and their usual other names, in any
    /// case; `None` for anything else.
    pub fn parse(cell: &str) -> Option<Part> {
        match cell.trim().to_lowercase().as_str() {
            "train" | "training" => Some(Part::Train),
            "validation" | "valid" | "val" | "dev" | "development" => Some(Part::Validation),
            "test" | "testing" => Some(Part::Test),
            _ => None,
        }
    }
}

/// One CSV record's text and label, as written in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// 1-based line where the record starts.
    pub line: u64,
    /// The text cell.
    pub text: String,
    /// The label cell.
    pub label: String,
    /// Its part, when the file gives the split.
    pub part: Option<Part>,
}

/// The text and label cells of a CSV file, before any preprocessing.
#[derive(Clone, Debug)]
pub struct Table {
    /// How the columns were found.
    pub layout: Layout,
    /// The text column's header as written in the file.
    pub text_column: String,
    /// The label column's header as written in the file.
    pub label_column: String,
    /// The split column's header, when the file gives the split.
    pub split_column: Option<String>,
    /// Every record, in file order.
    pub rows: Vec<Row>,
    /// Lines holding nothing but spaces, skipped (truly empty lines are skipped uncounted).
    pub blank_lines: usize,
}

/// One example: a (preprocessed) text and its class index, or its labels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// The text after HTML stripping.
    pub text: String,
    /// Index into [`Dataset::label_names`]; 0 in a multi-label dataset, whose rows have
    /// `labels` instead.
    pub label: usize,
    /// Multi-label: indices into [`Dataset::label_names`], ascending; at least one, unless
    /// the labels come from 0/1 columns ([`Settings::label_columns`]).
    #[serde(default)]
    pub labels: Vec<usize>,
}

/// How many rows each step kept and why the others were dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Records read (the header and blank lines not included).
    pub rows_read: usize,
    /// Lines holding only spaces, skipped before reading (not in `rows_read`).
    pub blank_lines: usize,
    /// Dropped: the text or the label is empty.
    pub dropped_empty: usize,
    /// Rows left after dropping empty ones.
    pub after_empty: usize,
    /// Dropped: a label that is not a whole score 1..=5 in a score mode.
    pub dropped_unusable_label: usize,
    /// Up to three of those labels, as written, to show the user.
    pub unusable_label_examples: Vec<String>,
    /// Dropped: neutral score 3 in binary mode.
    pub dropped_neutral: usize,
    /// Rows left after mapping labels.
    pub after_labels: usize,
    /// Dropped: `max_words` words or more.
    pub dropped_long: usize,
    /// Rows left after the length filter.
    pub after_words: usize,
    /// Dropped by sampling down to `sample_size`.
    pub dropped_by_sampling: usize,
    /// Rows left after sampling: the rows that are split.
    pub after_sampling: usize,
    /// Texts (kept) that are blank once their HTML tags are removed.
    pub blank_after_html: usize,
    /// Rows per class after sampling (multi-label: rows with each label).
    pub per_class: Vec<usize>,
    /// Training rows (the trainer holds out the last part of them for validation).
    pub train: usize,
    /// Test rows.
    pub test: usize,
    /// Training rows per class.
    pub train_per_class: Vec<usize>,
    /// Test rows per class.
    pub test_per_class: Vec<usize>,
    /// With a given split: its validation rows, the last ones of the training part.
    pub validation_given: Option<usize>,
}

impl Counts {
    /// A row dropped for its label: counted, and kept as an example if it is one of the first
    /// three different ones.
    pub(crate) fn note_unusable(&mut self, label: &str) {
        self.dropped_unusable_label += 1;
        let shown = label.trim().to_string();
        if self.unusable_label_examples.len() < 3 && !self.unusable_label_examples.contains(&shown)
        {
            self.unusable_label_examples.push(shown);
        }
    }
}

/// What steps 2 to 4 of [`preprocess`] do with one row: the first step that drops it, or kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RowStep {
    /// Step 2: an empty text or label.
    Empty,
    /// Step 3: not a whole score 1..=5 in a score mode.
    UnusableLabel,
    /// Step 3: the score the mode drops (binary: 3).
    Neutral,
    /// Step 4: `max_words` words or more.
    Long,
    /// Kept.
    Kept,
}

/// Whether a label cell gives the row its labels: not blank (with a separator, some label in
/// it); from 0/1 columns always, as a text may have none.
fn has_label(label: &str, settings: &Settings) -> bool {
    if settings.allows_no_label() {
        return true;
    }
    match settings.multi_label_separator() {
        Some(sep) => split_labels(label, sep).next().is_some(),
        None => !is_blank(label),
    }
}

/// The labels of a multi-label cell: split at `separator`, trimmed, empty ones left out.
pub(crate) fn split_labels<'a>(cell: &'a str, separator: &'a str) -> impl Iterator<Item = &'a str> {
    cell.split(separator)
        .map(str::trim)
        .filter(|l| !l.is_empty())
}

/// [`RowStep`] of a row's text and label cells under `settings`.
pub(crate) fn row_step(text: &str, label: &str, settings: &Settings) -> RowStep {
    if is_blank(text) || !has_label(label, settings) {
        return RowStep::Empty;
    }
    let mode = settings.label_mode;
    if settings.multi_label_separator().is_none() && mode != LabelMode::Named {
        match parse_score(label) {
            None => return RowStep::UnusableLabel,
            Some(score) if mode.class_of_score(score).is_none() => return RowStep::Neutral,
            Some(_) => {}
        }
    }
    match settings.max_words {
        Some(max) if word_count(text) >= max => RowStep::Long,
        _ => RowStep::Kept,
    }
}

/// The result of preprocessing: the split, the class names and the counts.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Dataset {
    /// The layout the file was read as.
    pub layout: Layout,
    /// The text column's header.
    pub text_column: String,
    /// The label column's header.
    pub label_column: String,
    /// Class names, indexed by [`Example::label`] (multi-label: label names, indexed by
    /// [`Example::labels`]).
    pub label_names: Vec<String>,
    /// Whether texts have any number of labels ([`Settings::label_separator`]).
    #[serde(default)]
    pub multi_label: bool,
    /// Training rows in random order (validation = their last part, see [`split_validation`]).
    pub train: Vec<Example>,
    /// Test rows in random order.
    pub test: Vec<Example>,
    /// The count after each step.
    pub counts: Counts,
    /// The settings that made this dataset.
    pub settings: Settings,
}

impl Dataset {
    /// The labels of the training rows, as training takes them.
    pub fn train_targets(&self) -> crate::error::Result<crate::targets::Targets> {
        self.targets(&self.train)
    }

    /// The labels of the test rows.
    pub fn test_targets(&self) -> crate::error::Result<crate::targets::Targets> {
        self.targets(&self.test)
    }

    fn targets(&self, part: &[Example]) -> crate::error::Result<crate::targets::Targets> {
        let names = self.label_names.len();
        if self.multi_label {
            let rows: Vec<Vec<usize>> = part.iter().map(|e| e.labels.clone()).collect();
            crate::targets::Targets::sets(&rows, names)
        } else {
            let labels: Vec<usize> = part.iter().map(|e| e.label).collect();
            crate::targets::Targets::classes(&labels, names)
        }
    }

    /// The validation fraction training should use: exactly the given validation rows when the
    /// file gave them, else `asked`.
    pub fn validation_fraction(&self, asked: f64) -> f64 {
        match self.counts.validation_given {
            Some(v) if v > 0 && !self.train.is_empty() => v as f64 / self.train.len() as f64,
            _ => asked,
        }
    }
}

/// Reads and preprocesses a CSV file: [`read_table`] then [`preprocess`].
pub fn load(bytes: &[u8], settings: &Settings) -> Result<Dataset, DataError> {
    preprocess(&read_table(bytes, settings)?, settings)
}

/// A file's bytes past a UTF-8 byte-order mark, if it has one.
pub(crate) fn without_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Refuses UTF-16 text, known by its byte-order mark.
pub(crate) fn refuse_utf16(bytes: &[u8]) -> Result<(), DataError> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(DataError::Utf16);
    }
    Ok(())
}

/// A CSV reader of `bytes` (BOM already removed) with `delimiter` (detected when `Auto`).
fn csv_reader(bytes: &[u8], delimiter: Delimiter) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter.resolve(bytes).byte().unwrap_or(b','))
        .from_reader(bytes)
}

/// The header cells of a CSV file (trimmed, delimiter detected), so a user can choose the
/// text and label columns of a file that is not in the Amazon layout.
pub fn header(bytes: &[u8]) -> Result<Vec<String>, DataError> {
    header_with(bytes, Delimiter::Auto)
}

/// [`header`] with a given delimiter.
pub fn header_with(bytes: &[u8], delimiter: Delimiter) -> Result<Vec<String>, DataError> {
    refuse_utf16(bytes)?;
    let bytes = without_bom(bytes);
    let mut reader = csv_reader(bytes, delimiter);
    let mut record = csv::ByteRecord::new();
    let mut lines = LineCounter::new(bytes);
    loop {
        if !next_record(&mut reader, &mut record)? {
            return Err(DataError::Empty);
        }
        if is_blank_record(&record) {
            continue;
        }
        return record
            .iter()
            .map(|cell| std::str::from_utf8(cell).map(|s| s.trim().to_string()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| DataError::NotUtf8 {
                line: lines.line_of(&record),
                column: "the header".into(),
            });
    }
}

/// What the page shows of a CSV file before preprocessing it: the delimiter, the columns it
/// would use, what the labels look like, and whether the file gives its own split.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Preview {
    /// The delimiter used: the settings', or the one detected.
    pub delimiter: Delimiter,
    /// The one detection finds.
    pub detected: Delimiter,
    /// The header's cells.
    pub header: Vec<String>,
    /// Whether the header is the Amazon `Reviews.csv` layout's (`Text` and `Score`).
    pub amazon: bool,
    /// The text column: the settings', the Amazon layout's, else a guess.
    pub text_column: Option<String>,
    /// The label column, found likewise.
    pub label_column: Option<String>,
    /// What the labels look like.
    pub label_kind: LabelKind,
    /// The label mode for them: the tutorial's binary mode for star scores, else the classes
    /// as they are.
    pub label_mode: LabelMode,
    /// Distinct label values (trimmed, empty ones left out), most frequent first, at most
    /// [`PREVIEW_CLASSES`].
    pub classes: Vec<ClassCount>,
    /// How many distinct label values there are.
    pub distinct_labels: usize,
    /// A separator the label cells seem to hold several labels with (`;`, `|` or `,`), for
    /// the user to confirm; `None` when they do not look so.
    pub label_separator: Option<String>,
    /// Columns that each look like a label of several per text (every value 0 or 1, some 1),
    /// when there are two or more, for the user to confirm.
    pub flag_columns: Vec<String>,
    /// Whether `classes` counts labels (the settings give a separator or 0/1 label columns):
    /// rows with each label.
    pub multi_label: bool,
    /// A column whose every value names a part (train, validation, test), if any.
    pub split_column: Option<String>,
    /// Its rows per part.
    pub split_counts: Option<PartCounts>,
    /// Records read (the header not included).
    pub rows: usize,
}

/// At most this many distinct labels are listed in a [`Preview`].
pub const PREVIEW_CLASSES: usize = 100;

/// What a label column holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelKind {
    /// Whole numbers 1 to 5, at least three of them: star scores.
    Scores,
    /// Anything else: 0/1, true/false, names.
    Classes,
}

/// A label value and its rows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClassCount {
    /// The value, trimmed.
    pub name: String,
    /// Rows holding it.
    pub count: usize,
}

/// Rows per part of a given split.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PartCounts {
    /// Training rows.
    pub train: usize,
    /// Validation rows.
    pub validation: usize,
    /// Test rows.
    pub test: usize,
}

/// Header names that usually hold the text, and the label, in any case.
const TEXT_NAMES: [&str; 14] = [
    "text",
    "review",
    "reviews",
    "sentence",
    "content",
    "body",
    "comment",
    "message",
    "tweet",
    "document",
    "utterance",
    "review_text",
    "description",
    "query",
];
const LABEL_NAMES: [&str; 14] = [
    "label",
    "labels",
    "class",
    "category",
    "sentiment",
    "target",
    "score",
    "rating",
    "stars",
    "y",
    "intent",
    "topic",
    "polarity",
    "emotion",
];

/// Looks at a CSV file as [`read_table`] would read it with `settings` (its delimiter and
/// named columns), without preprocessing: see [`Preview`].
pub fn preview(bytes: &[u8], settings: &Settings) -> Result<Preview, DataError> {
    let body = without_bom(bytes);
    let detected = detect_delimiter(body);
    let delimiter = match settings.delimiter {
        Delimiter::Auto => detected,
        given => given,
    };
    let header = header_with(bytes, delimiter)?;
    check_quotes(body, delimiter)?;
    let mut reader = csv_reader(body, delimiter);
    let mut record = csv::ByteRecord::new();
    let mut cells: Vec<Vec<String>> = vec![Vec::new(); header.len()];
    let mut seen_header = false;
    let mut rows = 0;
    while next_record(&mut reader, &mut record)? {
        if is_blank_record(&record) {
            continue;
        }
        if !seen_header {
            seen_header = true;
            continue;
        }
        rows += 1;
        // Records of another width are reported by preprocessing, with their line.
        if record.len() != header.len() {
            continue;
        }
        for (column, cell) in cells.iter_mut().zip(record.iter()) {
            column.push(String::from_utf8_lossy(cell).trim().to_string());
        }
    }

    let amazon =
        find_column(&header, AMAZON_TEXT).is_some() && find_column(&header, AMAZON_LABEL).is_some();
    let by_name = |names: &[&str], not: Option<usize>| {
        names
            .iter()
            .find_map(|n| find_column(&header, n).filter(|&i| Some(i) != not))
    };
    let distinct = |i: usize| cells[i].iter().collect::<BTreeSet<_>>().len();
    let mean_len = |i: usize| {
        cells[i].iter().map(|c| c.chars().count()).sum::<usize>() as f64
            / cells[i].len().max(1) as f64
    };
    let split_index = (0..header.len()).find(|&i| {
        !cells[i].is_empty()
            && cells[i].iter().all(|c| Part::parse(c).is_some())
            && cells[i].iter().any(|c| Part::parse(c) == Some(Part::Test))
    });
    let (text_index, label_index) = match &settings.columns {
        Columns::Named { text, label } => (find_column(&header, text), find_column(&header, label)),
        Columns::Amazon if amazon => (
            find_column(&header, AMAZON_TEXT),
            find_column(&header, AMAZON_LABEL),
        ),
        Columns::Amazon => {
            let columns = header.len();
            let other = |skip: Option<usize>| {
                (0..columns).filter(move |&i| Some(i) != skip && Some(i) != split_index)
            };
            let text = by_name(&TEXT_NAMES, None)
                .or_else(|| other(None).max_by(|&a, &b| mean_len(a).total_cmp(&mean_len(b))));
            let label = by_name(&LABEL_NAMES, text).or_else(|| {
                other(text)
                    .filter(|&i| distinct(i) >= 2)
                    .min_by_key(|&i| distinct(i))
            });
            (text, label)
        }
    };

    let mut classes: Vec<ClassCount> = Vec::new();
    let mut label_kind = LabelKind::Classes;
    let mut label_separator = None;
    let given_separator = settings
        .label_separator
        .as_deref()
        .filter(|s| !s.is_empty());
    if let Some(i) = label_index {
        label_separator = detect_label_separator(&cells[i], delimiter);
        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
        for cell in cells[i].iter().filter(|c| !c.is_empty()) {
            match given_separator {
                Some(sep) => {
                    let labels: BTreeSet<&str> = split_labels(cell, sep).collect();
                    for label in labels {
                        *counts.entry(label).or_default() += 1;
                    }
                }
                None => *counts.entry(cell.as_str()).or_default() += 1,
            }
        }
        if given_separator.is_none()
            && counts.len() >= 3
            && counts.keys().all(|c| parse_score(c).is_some())
        {
            label_kind = LabelKind::Scores;
        }
        classes = counts
            .into_iter()
            .map(|(name, count)| ClassCount {
                name: name.to_string(),
                count,
            })
            .collect();
        classes.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    }
    // 0/1 columns that could each be a label: every value a flag, some 1; two or more.
    let mut flag_columns: Vec<String> = (0..header.len())
        .filter(|&i| Some(i) != text_index && Some(i) != split_index)
        .filter(|&i| {
            !cells[i].is_empty()
                && cells[i].iter().all(|c| parse_flag(c).is_some())
                && cells[i].iter().any(|c| parse_flag(c) == Some(true))
        })
        .map(|i| header[i].clone())
        .collect();
    if flag_columns.len() < 2 {
        flag_columns.clear();
    }
    let given_flags: Vec<usize> = settings
        .label_columns
        .iter()
        .filter_map(|name| find_column(&header, name))
        .collect();
    if !given_flags.is_empty() {
        // Rows with each label.
        classes = given_flags
            .iter()
            .map(|&i| ClassCount {
                name: header[i].clone(),
                count: cells[i]
                    .iter()
                    .filter(|c| parse_flag(c) == Some(true))
                    .count(),
            })
            .collect();
        label_kind = LabelKind::Classes;
    }
    let distinct_labels = classes.len();
    classes.truncate(PREVIEW_CLASSES);
    let split_counts = split_index.map(|i| {
        let mut n = PartCounts::default();
        for part in cells[i].iter().filter_map(|c| Part::parse(c)) {
            match part {
                Part::Train => n.train += 1,
                Part::Validation => n.validation += 1,
                Part::Test => n.test += 1,
            }
        }
        n
    });
    Ok(Preview {
        delimiter,
        detected,
        amazon,
        text_column: text_index.map(|i| header[i].clone()),
        label_column: label_index.map(|i| header[i].clone()),
        label_kind,
        label_mode: match label_kind {
            LabelKind::Scores => LabelMode::Binary,
            LabelKind::Classes => LabelMode::Named,
        },
        classes,
        distinct_labels,
        label_separator,
        flag_columns,
        multi_label: given_separator.is_some() || !given_flags.is_empty(),
        split_column: split_index.map(|i| header[i].clone()),
        split_counts,
        rows,
        header,
    })
}

/// The separator a label column's cells hold several labels with, if they look so: of `;`,
/// `|` and `,` (not the file's delimiter), the one in the most cells, when it is in at least
/// one cell in twenty, its parts are short (labels, not sentences), and some part recurs in
/// cells that differ (`billing;refund` and `refund`).
fn detect_label_separator(cells: &[String], delimiter: Delimiter) -> Option<String> {
    let filled: Vec<&str> = cells
        .iter()
        .map(String::as_str)
        .filter(|c| !c.is_empty())
        .collect();
    let delimiter = delimiter.byte().map(char::from);
    [';', '|', ',']
        .into_iter()
        .filter(|&c| Some(c) != delimiter)
        .filter_map(|c| {
            let with: Vec<&str> = filled
                .iter()
                .copied()
                .filter(|cell| cell.contains(c))
                .collect();
            if with.is_empty() || with.len() * 20 < filled.len() {
                return None;
            }
            let sep = c.to_string();
            let short = with
                .iter()
                .all(|cell| split_labels(cell, &sep).all(|l| l.chars().count() <= 40));
            // Parts that stand alone somewhere or in two different cells are labels.
            let mut cells_of: std::collections::BTreeMap<&str, BTreeSet<&str>> = Default::default();
            for cell in &filled {
                for label in split_labels(cell, &sep) {
                    cells_of.entry(label).or_default().insert(cell);
                }
            }
            let recurs = cells_of.values().any(|cells| cells.len() >= 2);
            (short && recurs).then_some((with.len(), sep))
        })
        .max_by_key(|(n, _)| *n)
        .map(|(_, sep)| sep)
}

/// Every cell of one column (found as [`read_csv`] finds columns), e.g. the texts of a CSV
/// file to classify. Records must have as many fields as the header; cells must be UTF-8.
pub fn read_column(bytes: &[u8], column: &str) -> Result<Vec<String>, DataError> {
    read_column_with(bytes, column, Delimiter::Auto)
}

/// [`read_column`] with a given delimiter.
pub fn read_column_with(
    bytes: &[u8],
    column: &str,
    delimiter: Delimiter,
) -> Result<Vec<String>, DataError> {
    let delimiter = delimiter.resolve(without_bom(bytes));
    let names = header_with(bytes, delimiter)?;
    let index = find_column(&names, column).ok_or_else(|| DataError::MissingColumn {
        missing: vec![column.trim().to_string()],
        found: names.clone(),
    })?;
    let bytes = without_bom(bytes);
    check_quotes(bytes, delimiter)?;
    let mut reader = csv_reader(bytes, delimiter);
    let mut record = csv::ByteRecord::new();
    let mut lines = LineCounter::new(bytes);
    let mut cells = Vec::new();
    let mut seen_header = false;
    while next_record(&mut reader, &mut record)? {
        if is_blank_record(&record) {
            continue;
        }
        if !seen_header {
            seen_header = true;
            continue;
        }
        let line = lines.line_of(&record);
        if record.len() != names.len() {
            return Err(DataError::FieldCount {
                line,
                found: record.len(),
                expected: names.len(),
            });
        }
        let cell = std::str::from_utf8(&record[index]).map_err(|_| DataError::NotUtf8 {
            line,
            column: format!("column `{}`", names[index]),
        })?;
        cells.push(cell.to_string());
    }
    Ok(cells)
}

/// Reads the text and label cells of every record of a CSV file, its delimiter detected.
pub fn read_csv(bytes: &[u8], columns: &Columns) -> Result<Table, DataError> {
    read_table(
        bytes,
        &Settings {
            columns: columns.clone(),
            ..Settings::default()
        },
    )
}

/// Reads the text and label cells (and the split column's, when `settings` names one) of
/// every record of a CSV file, with `settings`' delimiter.
///
/// Accepts a UTF-8 BOM, CRLF or LF line ends, quoted fields with delimiters, quotes (`""`) and
/// line breaks, and empty cells. Every record must have as many fields as the header. The
/// cells read must be UTF-8 (other cells are not looked at).
pub fn read_table(bytes: &[u8], settings: &Settings) -> Result<Table, DataError> {
    refuse_utf16(bytes)?;
    let bytes = without_bom(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(DataError::Empty);
    }
    let delimiter = settings.delimiter.resolve(bytes);
    check_quotes(bytes, delimiter)?;

    let mut reader = csv_reader(bytes, delimiter);
    let mut record = csv::ByteRecord::new();
    let mut lines = LineCounter::new(bytes);
    let mut blank_lines = 0;
    // The header: the first line that is not blank.
    let header = loop {
        if !next_record(&mut reader, &mut record)? {
            return Err(DataError::Empty);
        }
        if is_blank_record(&record) {
            blank_lines += 1;
            continue;
        }
        let header = record
            .iter()
            .map(|cell| std::str::from_utf8(cell).map(|s| s.trim().to_string()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| DataError::NotUtf8 {
                line: lines.line_of(&record),
                column: "the header".into(),
            })?;
        break header;
    };

    let indexes = locate_columns(&header, settings)?;
    let (layout, text_index, split_index) = (indexes.layout, indexes.text, indexes.split);

    let mut rows = Vec::new();
    while next_record(&mut reader, &mut record)? {
        let line = lines.line_of(&record);
        if record.len() != header.len() {
            if is_blank_record(&record) {
                blank_lines += 1;
                continue;
            }
            return Err(DataError::FieldCount {
                line,
                found: record.len(),
                expected: header.len(),
            });
        }
        let cell = |index: usize| {
            std::str::from_utf8(&record[index])
                .map(str::to_string)
                .map_err(|_| DataError::NotUtf8 {
                    line,
                    column: format!("column `{}`", header[index]),
                })
        };
        let part = match split_index {
            None => None,
            Some(index) => Some(Part::of_cell(&cell(index)?, line, &header[index])?),
        };
        rows.push(Row {
            line,
            text: cell(text_index)?,
            label: indexes.label_cell(&header, line, cell)?,
            part,
        });
    }
    Ok(Table {
        layout,
        text_column: header[text_index].clone(),
        label_column: indexes.label_name(&header),
        split_column: split_index.map(|i| header[i].clone()),
        rows,
        blank_lines,
    })
}

/// Where the text, label and split columns of `settings` are in a header.
pub(crate) struct ColumnIndexes {
    /// How the columns were found.
    pub layout: Layout,
    /// The text column.
    pub text: usize,
    /// The label column.
    pub label: usize,
    /// The split column, when `settings` names one.
    pub split: Option<usize>,
    /// The 0/1 label columns ([`Settings::label_columns`]), in that order.
    pub flags: Vec<usize>,
}

/// Finds `settings`' columns in `header`: the Amazon layout's, or the named ones.
pub(crate) fn locate_columns(
    header: &[String],
    settings: &Settings,
) -> Result<ColumnIndexes, DataError> {
    let columns = &settings.columns;
    let (layout, [text, label]) = match columns {
        Columns::Amazon => (Layout::Amazon, [AMAZON_TEXT, AMAZON_LABEL]),
        Columns::Named { text, label } => (Layout::Named, [text.as_str(), label.as_str()]),
    };
    // With 0/1 label columns, the first stands for the label column.
    let wanted = [
        text,
        settings.label_columns.first().map_or(label, String::as_str),
    ];
    let found: Vec<Option<usize>> = wanted.iter().map(|w| find_column(header, w)).collect();
    let (text_index, label_index) = match (found[0], found[1]) {
        (Some(t), Some(l)) => (t, l),
        _ => {
            let expected: Vec<String> = wanted.iter().map(|w| w.trim().to_string()).collect();
            if header.iter().any(|cell| cell.parse::<f64>().is_ok()) {
                return Err(DataError::NoHeader {
                    first_line: header.to_vec(),
                    expected,
                });
            }
            let missing = expected
                .into_iter()
                .zip(&found)
                .filter(|(_, f)| f.is_none())
                .map(|(w, _)| w)
                .collect();
            return Err(DataError::MissingColumn {
                missing,
                found: header.to_vec(),
            });
        }
    };
    if text_index == label_index {
        return Err(DataError::SameColumn(header[text_index].clone()));
    }
    let split_index = match &settings.split_column {
        None => None,
        Some(name) => Some(
            find_column(header, name).ok_or_else(|| DataError::MissingColumn {
                missing: vec![name.trim().to_string()],
                found: header.to_vec(),
            })?,
        ),
    };
    let flags = settings
        .label_columns
        .iter()
        .map(|name| {
            find_column(header, name).ok_or_else(|| DataError::MissingColumn {
                missing: vec![name.trim().to_string()],
                found: header.to_vec(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(&f) = flags.iter().find(|&&f| f == text_index) {
        return Err(DataError::SameColumn(header[f].clone()));
    }
    Ok(ColumnIndexes {
        layout,
        text: text_index,
        label: label_index,
        split: split_index,
        flags,
    })
}

impl ColumnIndexes {
    /// The label column's name as a table keeps it: its header, or the 0/1 label columns'.
    pub(crate) fn label_name(&self, header: &[String]) -> String {
        if self.flags.is_empty() {
            header[self.label].clone()
        } else {
            let names: Vec<&str> = self.flags.iter().map(|&f| header[f].as_str()).collect();
            names.join(FLAG_SEPARATOR)
        }
    }

    /// A record's label cell: the label column's, or the names of the 0/1 label columns that
    /// hold 1, joined. `cell` reads a field (as UTF-8).
    pub(crate) fn label_cell(
        &self,
        header: &[String],
        line: u64,
        cell: impl Fn(usize) -> Result<String, DataError>,
    ) -> Result<String, DataError> {
        if self.flags.is_empty() {
            return cell(self.label);
        }
        let mut set = Vec::new();
        for &f in &self.flags {
            let value = cell(f)?;
            match parse_flag(&value) {
                Some(true) => set.push(header[f].as_str()),
                Some(false) => {}
                None => {
                    return Err(DataError::FlagValue {
                        line,
                        column: header[f].clone(),
                        value: value.trim().to_string(),
                    });
                }
            }
        }
        Ok(set.join(FLAG_SEPARATOR))
    }
}

fn next_record(
    reader: &mut csv::Reader<&[u8]>,
    record: &mut csv::ByteRecord,
) -> Result<bool, DataError> {
    reader.read_byte_record(record).map_err(|e| DataError::Csv {
        line: e.position().map_or(0, csv::Position::line),
        message: e.to_string(),
    })
}

/// 1-based line numbers of records. The `csv` crate's own line count is one short after a
/// CRLF (it starts the next record before the `\n`), so lines are counted here from the
/// record's byte offset, past any line ends.
struct LineCounter<'a> {
    bytes: &'a [u8],
    at: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        LineCounter {
            bytes,
            at: 0,
            line: 1,
        }
    }

    /// Records come in file order, so counting resumes where the last call stopped.
    fn line_of(&mut self, record: &csv::ByteRecord) -> u64 {
        let Some(position) = record.position() else {
            return 0;
        };
        let mut start = (position.byte() as usize).min(self.bytes.len());
        while start < self.bytes.len() && matches!(self.bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        if start >= self.at {
            self.line += self.bytes[self.at..start]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            self.at = start;
        }
        self.line
    }
}

fn is_blank_record(record: &csv::ByteRecord) -> bool {
    record.len() == 1 && record[0].iter().all(u8::is_ascii_whitespace)
}

/// A header cell equal to `wanted`, else equal ignoring case and surrounding spaces.
fn find_column(header: &[String], wanted: &str) -> Option<usize> {
    let wanted = wanted.trim();
    header.iter().position(|h| h == wanted).or_else(|| {
        let wanted = wanted.to_lowercase();
        header
            .iter()
            .position(|h| h.trim().to_lowercase() == wanted)
    })
}

/// Finds a quoted field that is still open at the end of the file, which the `csv` crate
/// would silently read to the end.
fn check_quotes(bytes: &[u8], delimiter: Delimiter) -> Result<(), DataError> {
    let mut quotes = QuoteCheck::new(delimiter);
    quotes.feed(bytes);
    quotes.finish()
}

/// [`check_quotes`] a chunk at a time. Follows the `csv` crate's own states (RFC 4180, `""`
/// escapes).
#[derive(Clone, Debug)]
pub(crate) struct QuoteCheck {
    delimiter: u8,
    state: QuoteState,
    line: u64,
}

#[derive(Clone, Copy, Debug)]
enum QuoteState {
    FieldStart,
    Unquoted,
    /// In a quoted field that opened on this line.
    Quoted(u64),
    QuoteInQuoted(u64),
}

impl QuoteCheck {
    pub(crate) fn new(delimiter: Delimiter) -> Self {
        QuoteCheck {
            delimiter: delimiter.byte().unwrap_or(b','),
            state: QuoteState::FieldStart,
            line: 1,
        }
    }

    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        let delimiter = self.delimiter;
        for &b in bytes {
            self.state = match (self.state, b) {
                (QuoteState::Quoted(start), b'"') => QuoteState::QuoteInQuoted(start),
                (QuoteState::Quoted(start), _) => QuoteState::Quoted(start),
                (QuoteState::QuoteInQuoted(start), b'"') => QuoteState::Quoted(start),
                (QuoteState::FieldStart, b'"') => QuoteState::Quoted(self.line),
                (_, b'\n' | b'\r') => QuoteState::FieldStart,
                (_, b) if b == delimiter => QuoteState::FieldStart,
                (_, _) => QuoteState::Unquoted,
            };
            if b == b'\n' {
                self.line += 1;
            }
        }
    }

    /// The error of a quote still open at the end.
    pub(crate) fn finish(&self) -> Result<(), DataError> {
        match self.state {
            QuoteState::Quoted(line) => Err(DataError::UnclosedQuote { line }),
            _ => Ok(()),
        }
    }
}

/// Python's `str.isspace()`: Unicode White_Space plus the separators U+001C..U+001F.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Blank as Python's `s.strip() == ""` sees it.
fn is_blank(s: &str) -> bool {
    s.chars().all(is_py_space)
}

/// The number of words as Python's `len(text.split())` counts them.
pub fn word_count(text: &str) -> usize {
    text.split(is_py_space).filter(|w| !w.is_empty()).count()
}

static HTML_TAG: LazyLock<Regex> = LazyLock::new(|| {
    // `.` matches anything but `\n`, in Rust's regex as in Python's `re`: a tag with a line
    // break inside is left alone, as the tutorial's `re.sub('<.*?>', '', text)` leaves it.
    Regex::new("<.*?>").unwrap_or_else(|_| unreachable!("constant regex"))
});

/// Removes HTML tags as the tutorial's `re.sub('<.*?>', '', text)` does. Entities such as
/// `&quot;` are kept: the tutorial does not unescape them.
pub fn strip_html(text: &str) -> String {
    HTML_TAG.replace_all(text, "").into_owned()
}

/// A label cell as a 1..=5 score: a whole number, possibly written `4.0`.
fn parse_score(label: &str) -> Option<u8> {
    let value: f64 = label.trim().parse().ok()?;
    (value.is_finite() && value.fract() == 0.0 && (1.0..=5.0).contains(&value))
        .then_some(value as u8)
}

/// Applies the tutorial's steps to a table and splits it (see the module documentation).
pub fn preprocess(table: &Table, settings: &Settings) -> Result<Dataset, DataError> {
    check_settings(settings)?;
    let mode = settings.label_mode;
    let mut counts = Counts {
        rows_read: table.rows.len(),
        blank_lines: table.blank_lines,
        ..Counts::default()
    };

    // 2. Drop rows with an empty text or label.
    let separator = settings.multi_label_separator();
    let rows: Vec<&Row> = table
        .rows
        .iter()
        .filter(|r| !is_blank(&r.text) && has_label(&r.label, settings))
        .collect();
    counts.after_empty = rows.len();
    counts.dropped_empty = counts.rows_read - counts.after_empty;

    // 3. Map labels.
    let mut label_names = mode.class_names();
    if !settings.label_columns.is_empty() {
        // Every label column is a label, set on some row or not.
        let names: BTreeSet<&str> = table.label_column.split(FLAG_SEPARATOR).collect();
        label_names = names.into_iter().map(str::to_string).collect();
    } else if let Some(sep) = separator {
        let names: BTreeSet<&str> = rows
            .iter()
            .flat_map(|r| split_labels(&r.label, sep))
            .collect();
        label_names = names.into_iter().map(str::to_string).collect();
    } else if mode == LabelMode::Named {
        let names: BTreeSet<&str> = rows.iter().map(|r| r.label.trim()).collect();
        label_names = names.into_iter().map(str::to_string).collect();
    }
    // (row, class, labels): multi-label rows have labels, and class 0.
    let mut labelled: Vec<(&Row, usize, Vec<usize>)> = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(sep) = separator {
            let mut set: Vec<usize> = split_labels(&row.label, sep)
                .filter_map(|l| label_names.binary_search_by(|n| n.as_str().cmp(l)).ok())
                .collect();
            set.sort_unstable();
            set.dedup();
            labelled.push((row, 0, set));
            continue;
        }
        let class = if mode == LabelMode::Named {
            label_names
                .binary_search_by(|n| n.as_str().cmp(row.label.trim()))
                .ok()
        } else if let Some(score) = parse_score(&row.label) {
            match mode.class_of_score(score) {
                Some(class) => Some(class),
                None => {
                    counts.dropped_neutral += 1;
                    continue;
                }
            }
        } else {
            None
        };
        match class {
            Some(class) => labelled.push((row, class, Vec::new())),
            None => counts.note_unusable(&row.label),
        }
    }
    counts.after_labels = labelled.len();

    // 4. Keep texts with fewer than `max_words` words (on the raw text).
    if let Some(max) = settings.max_words {
        labelled.retain(|(row, _, _)| word_count(&row.text) < max);
    }
    counts.after_words = labelled.len();
    counts.dropped_long = counts.after_labels - counts.after_words;

    if labelled.is_empty() {
        return Err(DataError::NoUsableRows(no_rows_detail(&counts, settings)));
    }

    // 5. Sample (a shuffle in every case, so that the order is random). A given test part is
    // kept whole: only the rows it does not hold are sampled.
    let mut rng = SeededRng::new(settings.seed);
    rng.shuffle(&mut labelled);
    if let Some(size) = settings.sample_size {
        if table.split_column.is_some() {
            let mut kept = 0;
            labelled.retain(|(row, _, _)| {
                if row.part == Some(Part::Test) {
                    return true;
                }
                kept += 1;
                kept <= size
            });
        } else {
            labelled.truncate(size);
        }
    }
    counts.after_sampling = labelled.len();
    counts.dropped_by_sampling = counts.after_words - counts.after_sampling;

    // 6. Strip HTML tags.
    let example = |row: &Row, label: usize, labels: Vec<usize>| Example {
        text: if settings.strip_html {
            strip_html(&row.text)
        } else {
            row.text.clone()
        },
        label,
        labels,
    };
    let parts: Vec<Option<Part>> = labelled.iter().map(|(row, _, _)| row.part).collect();
    let examples: Vec<Example> = labelled
        .into_iter()
        .map(|(row, label, labels)| example(row, label, labels))
        .collect();
    counts.blank_after_html = examples.iter().filter(|e| is_blank(&e.text)).count();

    // 7. Stratified split (multi-label: random).
    let per_class = per_label(&examples, label_names.len(), separator.is_some());
    counts.per_class = per_class.clone();
    let present: Vec<usize> = (0..per_class.len()).filter(|&c| per_class[c] > 0).collect();
    if present.len() < 2 {
        let class = present.first().copied().unwrap_or(0);
        return Err(DataError::OneClass {
            class: label_names.get(class).cloned().unwrap_or_default(),
            rows: examples.len(),
        });
    }
    if let Some(&c) = present
        .iter()
        .find(|&&c| separator.is_none() && per_class[c] < 2)
    {
        return Err(DataError::TooFewInClass {
            class: label_names[c].clone(),
            rows: per_class[c],
        });
    }
    if let Some(column) = &table.split_column {
        return given_split(
            table,
            settings,
            label_names,
            examples,
            &parts,
            counts,
            column,
        );
    }
    let n = examples.len();
    let n_test = (settings.test_fraction * n as f64).ceil() as usize;
    let n_train = n.saturating_sub(n_test);
    // Each part needs a row per class; multi-label parts need two rows.
    let needed = if separator.is_some() {
        2
    } else {
        present.len()
    };
    if n_test < needed || n_train < needed {
        return Err(DataError::TooFewRows {
            rows: n,
            classes: present.len(),
        });
    }
    if separator.is_some() {
        return Ok(random_split(
            table,
            settings,
            label_names,
            examples,
            counts,
            n_test,
            &mut rng,
        ));
    }
    let train_per_class = approximate_mode(&per_class, n_train);
    let test_per_class: Vec<usize> = per_class
        .iter()
        .zip(&train_per_class)
        .map(|(a, b)| a - b)
        .collect();

    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    let mut taken = vec![0usize; per_class.len()];
    let (mut train, mut test) = (Vec::with_capacity(n_train), Vec::with_capacity(n - n_train));
    let mut slots: Vec<Option<Example>> = examples.into_iter().map(Some).collect();
    for i in order {
        let Some(example) = slots[i].take() else {
            continue;
        };
        let class = example.label;
        if taken[class] < test_per_class[class] {
            taken[class] += 1;
            test.push(example);
        } else {
            train.push(example);
        }
    }
    counts.train = train.len();
    counts.test = test.len();
    counts.train_per_class = train_per_class;
    counts.test_per_class = test_per_class;

    Ok(Dataset {
        layout: table.layout,
        text_column: table.text_column.clone(),
        label_column: table.label_column.clone(),
        multi_label: settings.multi_label_separator().is_some(),
        label_names,
        train,
        test,
        counts,
        settings: settings.clone(),
    })
}

/// Step 7 with the file's own split: the test part is exactly the kept test rows, the training
/// part the kept training rows followed by the kept validation rows (training holds out exactly
/// those: [`Dataset::validation_fraction`]).
fn given_split(
    table: &Table,
    settings: &Settings,
    label_names: Vec<String>,
    examples: Vec<Example>,
    parts: &[Option<Part>],
    mut counts: Counts,
    column: &str,
) -> Result<Dataset, DataError> {
    let (mut train, mut validation, mut test) = (Vec::new(), Vec::new(), Vec::new());
    for (example, part) in examples.into_iter().zip(parts) {
        match part {
            Some(Part::Test) => test.push(example),
            Some(Part::Validation) => validation.push(example),
            _ => train.push(example),
        }
    }
    let multi = settings.multi_label_separator().is_some();
    let classes_in = |part: &[Example]| {
        part.iter()
            .flat_map(|e| {
                if multi {
                    e.labels.clone()
                } else {
                    vec![e.label]
                }
            })
            .collect::<BTreeSet<_>>()
            .len()
    };
    if classes_in(&test) < 2 || classes_in(&train) < 2 {
        return Err(DataError::EmptySplitPart {
            column: column.to_string(),
            train: train.len() + validation.len(),
            test: test.len(),
        });
    }
    counts.validation_given = Some(validation.len());
    train.append(&mut validation);
    counts.train = train.len();
    counts.test = test.len();
    counts.train_per_class = per_label(&train, label_names.len(), multi);
    counts.test_per_class = per_label(&test, label_names.len(), multi);
    Ok(Dataset {
        layout: table.layout,
        text_column: table.text_column.clone(),
        label_column: table.label_column.clone(),
        multi_label: settings.multi_label_separator().is_some(),
        label_names,
        train,
        test,
        counts,
        settings: settings.clone(),
    })
}

fn check_settings(s: &Settings) -> Result<(), DataError> {
    if !(s.test_fraction > 0.0 && s.test_fraction < 1.0) {
        return Err(DataError::Setting(format!(
            "the test fraction is {}; choose a number between 0 and 1, such as 0.2",
            s.test_fraction
        )));
    }
    if s.max_words == Some(0) {
        return Err(DataError::Setting(
            "the word limit is 0, which keeps no text; choose at least 1 or no limit".into(),
        ));
    }
    if s.label_separator.as_deref() == Some("") {
        return Err(DataError::Setting(
            "the label separator is empty; type the character between a text's labels, such as ;"
                .into(),
        ));
    }
    if s.sample_size == Some(0) {
        return Err(DataError::Setting(
            "the sample size is 0; choose at least 2 or no limit".into(),
        ));
    }
    Ok(())
}

pub(crate) fn no_rows_detail(c: &Counts, s: &Settings) -> String {
    let mut parts = vec![format!("{} rows read", c.rows_read)];
    if c.dropped_empty > 0 {
        parts.push(format!("{} with an empty text or label", c.dropped_empty));
    }
    if c.dropped_neutral > 0 {
        parts.push(format!("{} neutral (score 3)", c.dropped_neutral));
    }
    if c.dropped_unusable_label > 0 {
        parts.push(format!(
            "{} with a label that is not a score 1 to 5",
            c.dropped_unusable_label
        ));
    }
    if c.dropped_long > 0 {
        parts.push(format!(
            "{} with {} words or more",
            c.dropped_long,
            s.max_words.unwrap_or(0)
        ));
    }
    let mut detail = parts.join(", ");
    if c.dropped_unusable_label > 0 && c.after_labels == 0 {
        detail.push_str(&format!(
            " (labels such as {}: for labels that are names, choose the named label mode)",
            quoted(&c.unusable_label_examples)
        ));
    } else if c.dropped_long > 0 && c.after_words == 0 {
        detail.push_str(": raise the word limit");
    } else if c.rows_read == 0 {
        detail.push_str(": the file has a header but no rows");
    }
    detail
}

/// Rows per class, or (`multi`) rows with each label.
fn per_label(part: &[Example], names: usize, multi: bool) -> Vec<usize> {
    let mut n = vec![0usize; names];
    for e in part {
        if multi {
            e.labels.iter().for_each(|&l| n[l] += 1);
        } else {
            n[e.label] += 1;
        }
    }
    n
}

/// Step 7 for multi-label rows: `n_test` rows at random are the test part. (Stratifying by
/// label sets would leave most sets with one row.)
fn random_split(
    table: &Table,
    settings: &Settings,
    label_names: Vec<String>,
    examples: Vec<Example>,
    mut counts: Counts,
    n_test: usize,
    rng: &mut SeededRng,
) -> Dataset {
    let mut examples = examples;
    rng.shuffle(&mut examples);
    let train = examples.split_off(n_test.min(examples.len()));
    let test = examples;
    counts.train = train.len();
    counts.test = test.len();
    counts.train_per_class = per_label(&train, label_names.len(), true);
    counts.test_per_class = per_label(&test, label_names.len(), true);
    Dataset {
        layout: table.layout,
        text_column: table.text_column.clone(),
        label_column: table.label_column.clone(),
        multi_label: true,
        label_names,
        train,
        test,
        counts,
        settings: settings.clone(),
    }
}

/// Per-class counts that add up to `n_draws`, as scikit-learn's `_approximate_mode` (used
/// by `train_test_split(stratify=…)` for the training part): proportional floors, then one
/// more to the classes with the largest remainders. scikit-learn breaks ties between equal
/// remainders at random; here the lower class index wins.
fn approximate_mode(class_counts: &[usize], n_draws: usize) -> Vec<usize> {
    let total: usize = class_counts.iter().sum();
    let continuous: Vec<f64> = class_counts
        .iter()
        .map(|&c| (c as f64 * n_draws as f64) / total as f64)
        .collect();
    let mut floored: Vec<usize> = continuous.iter().map(|c| c.floor() as usize).collect();
    let mut need = n_draws.saturating_sub(floored.iter().sum());
    let remainder: Vec<f64> = continuous
        .iter()
        .zip(&floored)
        .map(|(c, &f)| c - f as f64)
        .collect();
    let mut by_remainder: Vec<usize> = (0..class_counts.len()).collect();
    // Stable: equal remainders keep class order.
    by_remainder.sort_by(|&a, &b| remainder[b].total_cmp(&remainder[a]));
    for c in by_remainder {
        if need == 0 {
            break;
        }
        if floored[c] < class_counts[c] {
            floored[c] += 1;
            need -= 1;
        }
    }
    floored
}

/// Splits training rows into the part that is fitted and the validation part, as head training
/// and fine-tuning do ([`crate::epochs::fitted_rows`]): the last `fraction` of the rows.
pub fn split_validation(train: &[Example], fraction: f64) -> (&[Example], &[Example]) {
    train.split_at(crate::epochs::fitted_rows(train.len(), fraction))
}

/// A small seeded random number generator (SplitMix64) that gives the same sequence on
/// every platform, wasm32 included, and needs no OS randomness.
#[derive(Clone, Debug)]
pub struct SeededRng(u64);

impl SeededRng {
    /// A generator whose sequence depends only on `seed`.
    pub fn new(seed: u64) -> Self {
        SeededRng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform integer in `0..n` (Lemire's method, unbiased); 0 when `n` is 0.
    pub fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        if n == 0 {
            return 0;
        }
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as usize
    }

    /// A uniform number in [0, 1) with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod header_tests {
    use super::*;

    #[test]
    fn header_reads_the_first_non_blank_line() {
        let bytes = b"\xEF\xBB\xBF  \n review , stars\n\"a, b\",5\n";
        assert_eq!(header(bytes).unwrap(), vec!["review", "stars"]);
        assert_eq!(header(b"").unwrap_err(), DataError::Empty);
        assert_eq!(header(b"\xFF\xFEa").unwrap_err(), DataError::Utf16);
    }

    #[test]
    fn read_column_gives_every_cell_of_one_column() {
        let bytes = b"id,Text\n1,\"a, \"\"b\"\"\"\n\n2,\n3,c\n";
        assert_eq!(
            read_column(bytes, "text").unwrap(),
            vec!["a, \"b\"", "", "c"]
        );
        assert!(matches!(
            read_column(bytes, "Review"),
            Err(DataError::MissingColumn { .. })
        ));
        assert!(matches!(
            read_column(b"Text\n\"open\n", "Text"),
            Err(DataError::UnclosedQuote { line: 2 })
        ));
    }
}
