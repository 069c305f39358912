//! CSV reading and the tutorial's preprocessing (`src/data.rs`).
//!
//! The expected counts on the shared data come from `scripts/reference_counts.py` (pandas +
//! scikit-learn, the same rules written independently).

use std::io::Read;
use std::path::PathBuf;

use bertweb::data::{
    self, Columns, DataError, Dataset, LabelMode, Layout, SeededRng, Settings, read_csv,
    split_validation, strip_html, word_count,
};
use bertweb::stream::{CsvStream, whole_records};

// ---------------------------------------------------------------- the shared data

/// Counts printed by `scripts/reference_counts.py`.
struct Expected {
    rows_read: usize,
    after_empty: usize,
    unusable_label: usize,
    neutral: usize,
    after_labels: usize,
    after_words: usize,
    after_sample: usize,
    blank_after_html: usize,
    train: usize,
    test: usize,
    train_per_class: &'static [usize],
    test_per_class: &'static [usize],
}

const SAMPLE_BINARY: Expected = Expected {
    rows_read: 2000,
    after_empty: 2000,
    unusable_label: 0,
    neutral: 172,
    after_labels: 1828,
    after_words: 790,
    after_sample: 790,
    blank_after_html: 0,
    train: 632,
    test: 158,
    train_per_class: &[86, 546],
    test_per_class: &[21, 137],
};
const SAMPLE_THREE: Expected = Expected {
    rows_read: 2000,
    after_empty: 2000,
    unusable_label: 0,
    neutral: 0,
    after_labels: 2000,
    after_words: 866,
    after_sample: 866,
    blank_after_html: 0,
    train: 692,
    test: 174,
    train_per_class: &[85, 61, 546],
    test_per_class: &[22, 15, 137],
};
const SAMPLE_FIVE: Expected = Expected {
    train_per_class: &[48, 38, 61, 85, 460],
    test_per_class: &[12, 9, 15, 22, 116],
    ..SAMPLE_THREE
};
const PARTIAL_BINARY: Expected = Expected {
    rows_read: 10567,
    after_empty: 10567,
    unusable_label: 0,
    neutral: 868,
    after_labels: 9699,
    after_words: 4308,
    after_sample: 4308,
    blank_after_html: 0,
    train: 3446,
    test: 862,
    train_per_class: &[449, 2997],
    test_per_class: &[112, 750],
};
const PARTIAL_THREE: Expected = Expected {
    rows_read: 10567,
    after_empty: 10567,
    unusable_label: 0,
    neutral: 0,
    after_labels: 10567,
    after_words: 4615,
    after_sample: 4615,
    blank_after_html: 0,
    train: 3692,
    test: 923,
    train_per_class: &[449, 246, 2997],
    test_per_class: &[112, 61, 750],
};
const PARTIAL_FIVE: Expected = Expected {
    train_per_class: &[286, 162, 246, 430, 2568],
    test_per_class: &[72, 41, 61, 107, 642],
    ..PARTIAL_THREE
};

/// A file of `../shared/data/amazon-fine-food/` (gunzipped), or `None` with a message when
/// the shared data is absent; in CI its absence is a failure.
fn shared(name: &str) -> Option<Vec<u8>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/amazon-fine-food")
        .join(name);
    if !path.exists() {
        if std::env::var_os("CI").is_some() {
            panic!(
                "{} is missing (CI is set, so the shared data must be present)",
                path.display()
            );
        }
        eprintln!("skipping: {} is absent", path.display());
        return None;
    }
    let bytes =
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    if name.ends_with(".gz") {
        let mut csv = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut csv)
            .expect("gunzip");
        return Some(csv);
    }
    Some(bytes)
}

fn assert_counts(data: &Dataset, want: &Expected, what: &str) {
    let c = &data.counts;
    let got = (
        c.rows_read,
        c.after_empty,
        c.dropped_unusable_label,
        c.dropped_neutral,
        c.after_labels,
        c.after_words,
        c.after_sampling,
        c.blank_after_html,
        c.train,
        c.test,
    );
    let expected = (
        want.rows_read,
        want.after_empty,
        want.unusable_label,
        want.neutral,
        want.after_labels,
        want.after_words,
        want.after_sample,
        want.blank_after_html,
        want.train,
        want.test,
    );
    assert_eq!(got, expected, "{what}: counts differ from pandas");
    assert_eq!(
        c.train_per_class, want.train_per_class,
        "{what}: train per class"
    );
    assert_eq!(
        c.test_per_class, want.test_per_class,
        "{what}: test per class"
    );
    assert_eq!(
        (data.train.len(), data.test.len()),
        (want.train, want.test),
        "{what}"
    );
    for (part, per_class) in [
        (&data.train, want.train_per_class),
        (&data.test, want.test_per_class),
    ] {
        let mut seen = vec![0; per_class.len()];
        part.iter().for_each(|e| seen[e.label] += 1);
        assert_eq!(seen, per_class, "{what}: the examples' labels");
    }
    // Every drop is accounted for.
    assert_eq!(c.rows_read - c.dropped_empty, c.after_empty);
    assert_eq!(
        c.after_empty - c.dropped_unusable_label - c.dropped_neutral,
        c.after_labels
    );
    assert_eq!(c.after_labels - c.dropped_long, c.after_words);
    assert_eq!(c.after_words - c.dropped_by_sampling, c.after_sampling);
    assert_eq!(c.train + c.test, c.after_sampling);
}

fn with_mode(label_mode: LabelMode) -> Settings {
    Settings {
        label_mode,
        ..Settings::default()
    }
}

#[test]
fn sample_2k_gives_the_counts_pandas_gives() {
    let Some(csv) = shared("sample-2k.csv") else {
        return;
    };
    for (mode, want) in [
        (LabelMode::Binary, &SAMPLE_BINARY),
        (LabelMode::Three, &SAMPLE_THREE),
        (LabelMode::Five, &SAMPLE_FIVE),
    ] {
        let data = data::load(&csv, &with_mode(mode)).unwrap();
        assert_eq!(data.layout, Layout::Amazon);
        assert_eq!(
            (data.text_column.as_str(), data.label_column.as_str()),
            ("Text", "Score")
        );
        assert_counts(&data, want, &format!("sample-2k {mode:?}"));
    }
}

#[test]
fn partial_file_gives_the_tutorial_split_pandas_gives() {
    let Some(csv) = shared("Reviews.partial.csv.gz") else {
        return;
    };
    for (mode, want) in [
        (LabelMode::Binary, &PARTIAL_BINARY),
        (LabelMode::Three, &PARTIAL_THREE),
        (LabelMode::Five, &PARTIAL_FIVE),
    ] {
        let data = data::load(&csv, &with_mode(mode)).unwrap();
        assert_counts(&data, want, &format!("partial {mode:?}"));
    }
    let data = data::load(&csv, &Settings::default()).unwrap();
    assert_eq!(data.label_names, ["negative", "positive"]);
    // The tutorial's split of the shared data: 3,446 train / 862 test.
    assert_eq!((data.train.len(), data.test.len()), (3446, 862));
    // Tags are gone and no text has 50 words or more.
    let all = || data.train.iter().chain(&data.test);
    assert!(all().all(|e| !e.text.contains("<br") && !e.text.contains("<a ")));
    assert!(all().all(|e| word_count(&e.text) < 50));
}

#[test]
fn sampling_keeps_the_sample_size_and_counts_the_rest() {
    let Some(csv) = shared("sample-2k.csv") else {
        return;
    };
    let settings = Settings {
        sample_size: Some(500),
        ..Settings::default()
    };
    let data = data::load(&csv, &settings).unwrap();
    assert_eq!(data.counts.after_sampling, 500);
    assert_eq!(data.counts.dropped_by_sampling, 790 - 500);
    assert_eq!((data.counts.train, data.counts.test), (400, 100));
}

// ---------------------------------------------------------------- text rules

#[test]
fn html_tags_are_stripped_as_pythons_re_sub_strips_them() {
    assert_eq!(
        strip_html("Great.<br /><br />Would buy again"),
        "Great.Would buy again"
    );
    assert_eq!(
        strip_html(r#"See <a href="http://x.com/a?b=1">this</a> page"#),
        "See this page"
    );
    // Non-greedy: `a < b > c` loses only `< b >`, and a lone `<` stays.
    assert_eq!(strip_html("1 < 2 and 3 > 2"), "1  2");
    assert_eq!(strip_html("x < y"), "x < y");
    // `.` does not match a newline: a tag broken over two lines is left as it is.
    assert_eq!(strip_html("a <br\n/> b"), "a <br\n/> b");
    assert_eq!(strip_html("a <b>\n<i>b"), "a \nb");
    // Entities are not unescaped (the tutorial does not).
    assert_eq!(
        strip_html("&quot;yum&quot; <b>5/5</b>"),
        "&quot;yum&quot; 5/5"
    );
    assert_eq!(strip_html("é <ü> ok"), "é  ok");
}

#[test]
fn words_are_counted_as_pythons_str_split_counts_them() {
    assert_eq!(word_count(""), 0);
    assert_eq!(word_count("   \t\n "), 0);
    assert_eq!(word_count("one"), 1);
    assert_eq!(word_count("  two  words  "), 2);
    // Tags count as they are, on the raw text: `Great!<br`, `/>Yes` are two words.
    assert_eq!(word_count("Great!<br />Yes"), 2);
    assert_eq!(word_count("a\tb\nc\r\nd\x0be\x0cf"), 6);
    // Unicode spaces (no-break space, em space, ideographic space) and the \x1c..\x1f
    // separators split too, as in Python; a zero-width space does not.
    assert_eq!(word_count("a\u{a0}b\u{2003}c\u{3000}d\u{1c}e\u{1f}f"), 6);
    assert_eq!(word_count("a\u{200b}b"), 1);
    let text = "word ".repeat(49);
    assert_eq!(word_count(&text), 49);
}

#[test]
fn the_word_limit_keeps_fewer_than_max_words() {
    let rows = [
        ("w ".repeat(49), "pos"),
        ("w ".repeat(50), "pos"),
        ("w ".repeat(3), "pos"),
        ("w ".repeat(60), "neg"),
        ("x".into(), "neg"),
        ("y y".into(), "neg"),
    ];
    let csv: String = std::iter::once("text,label\n".to_string())
        .chain(rows.iter().map(|(t, l)| format!("{t},{l}\n")))
        .collect();
    let settings = Settings {
        columns: named("text", "label"),
        label_mode: LabelMode::Named,
        test_fraction: 0.5,
        ..Settings::default()
    };
    let data = data::load(csv.as_bytes(), &settings).unwrap();
    assert_eq!((data.counts.dropped_long, data.counts.after_words), (2, 4));
    assert!(
        data.train
            .iter()
            .chain(&data.test)
            .all(|e| word_count(&e.text) < 50)
    );
    let settings = Settings {
        max_words: Some(51),
        ..settings
    };
    assert_eq!(
        data::load(csv.as_bytes(), &settings)
            .unwrap()
            .counts
            .dropped_long,
        1
    );
    let settings = Settings {
        max_words: None,
        ..settings
    };
    assert_eq!(
        data::load(csv.as_bytes(), &settings)
            .unwrap()
            .counts
            .dropped_long,
        0
    );
}

// ---------------------------------------------------------------- reading CSV

fn named(text: &str, label: &str) -> Columns {
    Columns::Named {
        text: text.into(),
        label: label.into(),
    }
}

fn error_of(csv: &[u8], columns: Columns) -> DataError {
    read_csv(csv, &columns).expect_err("this CSV must be refused")
}

#[test]
fn quoted_commas_newlines_quotes_bom_and_crlf_are_read_right() {
    let csv = b"\xEF\xBB\xBFtext,label\r\n\"one, two\",pos\r\n\"line one\r\nline two\",neg\r\n\"she said \"\"hi\"\"\",pos\r\nplain,neg\r\n";
    let table = read_csv(csv, &named("text", "label")).unwrap();
    let rows: Vec<(&str, &str, u64)> = table
        .rows
        .iter()
        .map(|r| (r.text.as_str(), r.label.as_str(), r.line))
        .collect();
    assert_eq!(
        rows,
        [
            ("one, two", "pos", 2),
            ("line one\r\nline two", "neg", 3),
            ("she said \"hi\"", "pos", 5),
            ("plain", "neg", 6)
        ]
    );
    // The BOM is not part of the first column's name.
    assert_eq!(table.text_column, "text");
}

#[test]
fn empty_cells_are_counted_not_silently_dropped() {
    let csv = b"text,label\nfine,pos\n,neg\nalso fine,\n   ,pos\nok,neg\nyes,pos\nno,neg\n";
    let settings = Settings {
        columns: named("text", "label"),
        label_mode: LabelMode::Named,
        test_fraction: 0.5,
        ..Settings::default()
    };
    let data = data::load(csv, &settings).unwrap();
    assert_eq!(data.counts.rows_read, 7);
    assert_eq!(data.counts.dropped_empty, 3);
    assert_eq!(data.label_names, ["neg", "pos"]);
    assert_eq!(data.counts.per_class, [2, 2]);
}

#[test]
fn a_named_csv_with_string_labels_works() {
    let mut csv = String::from("id,Review Text,Sentiment\n");
    for i in 0..40 {
        let label = ["pos", "neg", " neutral "][i % 3];
        csv.push_str(&format!("{i},\"review {i}, <b>bold</b>\",{label}\n"));
    }
    let settings = Settings {
        // Matched ignoring case and surrounding spaces.
        columns: named("review text", "sentiment"),
        label_mode: LabelMode::Named,
        ..Settings::default()
    };
    let data = data::load(csv.as_bytes(), &settings).unwrap();
    assert_eq!(data.layout, Layout::Named);
    assert_eq!(data.text_column, "Review Text");
    assert_eq!(data.label_names, ["neg", "neutral", "pos"]);
    assert_eq!(data.counts.per_class, [13, 13, 14]);
    assert_eq!((data.counts.train, data.counts.test), (32, 8));
    let example = data
        .train
        .iter()
        .find(|e| e.text == "review 3, bold")
        .expect("row 3");
    assert_eq!(data.label_names[example.label], "pos");
}

#[test]
fn string_labels_in_a_score_mode_are_counted_and_the_error_says_what_to_do() {
    let csv = b"text,label\na,pos\nb,neg\nc,pos\n";
    let settings = Settings {
        columns: named("text", "label"),
        ..Settings::default()
    };
    let err = data::load(csv, &settings).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, DataError::NoUsableRows(_)));
    assert!(
        message.contains("3 with a label that is not a score 1 to 5"),
        "{message}"
    );
    assert!(
        message.contains("`pos`, `neg`") && message.contains("named label mode"),
        "{message}"
    );
}

#[test]
fn unusable_scores_and_neutral_scores_are_counted_by_reason() {
    let mut csv = String::from("text,score\n");
    for (i, score) in [
        "1", "2", "3", "4", "5", "4.0", "0", "6", "2.5", "five", "5", "1",
    ]
    .iter()
    .enumerate()
    {
        csv.push_str(&format!("text {i},{score}\n"));
    }
    let settings = Settings {
        columns: named("text", "score"),
        test_fraction: 0.5,
        ..Settings::default()
    };
    let data = data::load(csv.as_bytes(), &settings).unwrap();
    let c = &data.counts;
    assert_eq!(
        (
            c.rows_read,
            c.dropped_neutral,
            c.dropped_unusable_label,
            c.after_labels
        ),
        (12, 1, 4, 7)
    );
    assert_eq!(c.unusable_label_examples, ["0", "6", "2.5"]);
    assert_eq!(c.per_class, [3, 4]);
}

#[test]
fn bad_quoting_names_the_line() {
    // A quote opened and never closed.
    let err = error_of(
        b"text,label\ngood,pos\n\"never closed,neg\nmore,pos\n",
        named("text", "label"),
    );
    assert_eq!(err, DataError::UnclosedQuote { line: 3 });
    assert!(
        err.to_string().starts_with("line 3: a quoted field opens"),
        "{err}"
    );
    // A quote that does not open the field leaves its comma unquoted: one field too many.
    let err = error_of(
        b"text,label\ngood,pos\nhe said \"hi, there\",neg\n",
        named("text", "label"),
    );
    assert!(
        matches!(
            err,
            DataError::FieldCount {
                line: 3,
                expected: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("line 3 has"), "{err}");
    // The same with CRLF line ends, after a quoted line break: still the right line.
    let err = error_of(
        b"text,label\r\n\"two\r\nlines\",pos\r\nhe said \"hi, there\",neg\r\n",
        named("text", "label"),
    );
    assert!(
        matches!(
            err,
            DataError::FieldCount {
                line: 4,
                found: 3,
                expected: 2
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_file_without_a_header_is_refused_with_its_first_line() {
    let csv = b"1,B001E4KFG0,A3SGXH7AUHU8GW,delmartian,1,1,5,1303862400,Good Quality Dog Food,I have bought several\n";
    let err = error_of(csv, Columns::Amazon);
    let DataError::NoHeader {
        first_line,
        expected,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(first_line[0], "1");
    assert_eq!(expected, &["Text", "Score"]);
    let message = err.to_string();
    assert!(
        message.contains("looks like data, not a header") && message.contains("`Text`, `Score`"),
        "{message}"
    );
}

#[test]
fn a_missing_column_lists_the_columns_found() {
    let err = error_of(b"review,stars\ngood,5\n", Columns::Amazon);
    assert_eq!(
        err,
        DataError::MissingColumn {
            missing: vec!["Text".into(), "Score".into()],
            found: vec!["review".into(), "stars".into()]
        }
    );
    assert!(
        err.to_string().contains("the header has `review`, `stars`"),
        "{err}"
    );
    let err = error_of(b"review,stars\ngood,5\n", named("review", "label"));
    assert!(
        err.to_string().starts_with("column `label` not found"),
        "{err}"
    );
    assert_eq!(
        error_of(b"review,stars\ngood,5\n", named("review", "Review")),
        DataError::SameColumn("review".into())
    );
}

#[test]
fn one_class_only_is_refused_with_its_name() {
    let csv = b"Text,Score\ngreat,5\nfine,4\nok,3\nyum,5\n";
    let err = data::load(csv, &Settings::default()).unwrap_err();
    assert_eq!(
        err,
        DataError::OneClass {
            class: "positive".into(),
            rows: 3
        }
    );
    assert!(err.to_string().contains("`positive` (3 rows)"), "{err}");
}

#[test]
fn non_utf8_bytes_name_the_line() {
    let csv = b"text,label\ncaf\xc3\xa9,pos\ncaf\xe9 latin-1,neg\n";
    let err = error_of(csv, named("text", "label"));
    assert_eq!(
        err,
        DataError::NotUtf8 {
            line: 3,
            column: "column `text`".into()
        }
    );
    assert!(err.to_string().contains("line 3 is not UTF-8"), "{err}");
    assert_eq!(
        error_of(b"\xff\xfet\x00e\x00", named("text", "label")),
        DataError::Utf16
    );
}

#[test]
fn an_empty_file_is_refused() {
    assert_eq!(error_of(b"", Columns::Amazon), DataError::Empty);
    assert_eq!(
        error_of(b"\xEF\xBB\xBF\r\n\n", Columns::Amazon),
        DataError::Empty
    );
    // A header and no rows.
    let err = data::load(b"Text,Score\n", &Settings::default()).unwrap_err();
    assert!(err.to_string().contains("header but no rows"), "{err}");
}

#[test]
fn bad_settings_are_refused() {
    let csv = b"Text,Score\na,1\nb,5\n";
    for settings in [
        Settings {
            test_fraction: 1.0,
            ..Settings::default()
        },
        Settings {
            max_words: Some(0),
            ..Settings::default()
        },
    ] {
        assert!(matches!(
            data::load(csv, &settings),
            Err(DataError::Setting(_))
        ));
    }
    // The settings travel as JSON from the page; missing fields take the tutorial's values.
    let settings: Settings = serde_json::from_str(
        r#"{"label_mode":"three","columns":{"named":{"text":"t","label":"l"}}}"#,
    )
    .unwrap();
    assert_eq!(settings.label_mode, LabelMode::Three);
    assert_eq!(settings.columns, named("t", "l"));
    assert_eq!(settings.max_words, Some(50));
}

// ---------------------------------------------------------------- split

fn synthetic(n: usize) -> Vec<u8> {
    let mut csv = String::from("Text,Score\n");
    for i in 0..n {
        // 1 in 5 negative.
        let score = if i % 5 == 0 { 1 } else { 5 };
        csv.push_str(&format!("review number {i},{score}\n"));
    }
    csv.into_bytes()
}

#[test]
fn the_same_seed_gives_the_same_split_and_another_seed_another() {
    let csv = synthetic(500);
    let split = |seed| {
        let data = data::load(
            &csv,
            &Settings {
                seed,
                ..Settings::default()
            },
        )
        .unwrap();
        (data.train, data.test)
    };
    assert_eq!(split(7), split(7));
    assert_ne!(split(7).1, split(8).1);
    // The order is shuffled too, so the validation tail is a random part of the rows.
    let (train, _) = split(7);
    let numbers: Vec<usize> = train
        .iter()
        .map(|e| e.text[14..].parse().unwrap())
        .collect();
    assert!(numbers.windows(2).any(|w| w[0] > w[1]));
}

#[test]
fn the_split_keeps_class_ratios() {
    let data = data::load(&synthetic(1003), &Settings::default()).unwrap();
    // 201 negative, 802 positive; test = ceil(0.2 · 1003) = 201.
    assert_eq!(data.counts.per_class, [201, 802]);
    assert_eq!(data.counts.test, 201);
    assert_eq!(data.counts.test_per_class, [40, 161]);
    let ratio = |part: &[data::Example]| {
        part.iter().filter(|e| e.label == 0).count() as f64 / part.len() as f64
    };
    assert!((ratio(&data.train) - 0.2004).abs() < 0.002);
    assert!((ratio(&data.test) - 0.2004).abs() < 0.005);
    // Validation = the last 20 % of the training rows, as Keras' validation_split.
    let (fit, validation) = split_validation(&data.train, 0.2);
    assert_eq!((fit.len(), validation.len()), (641, 161));
    assert!((ratio(validation) - 0.2).abs() < 0.08);
}

#[test]
fn the_rng_is_repeatable_and_uniform_enough() {
    let mut a = SeededRng::new(0);
    let first: Vec<u64> = (0..3).map(|_| a.next_u64()).collect();
    // Vigna's reference SplitMix64 (splitmix64.c) from state 0: fixed across platforms.
    assert_eq!(
        first,
        [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]
    );
    let mut hits = [0usize; 6];
    let mut rng = SeededRng::new(3);
    (0..60_000).for_each(|_| hits[rng.below(6)] += 1);
    assert!(
        hits.iter().all(|&h| (9_500..10_500).contains(&h)),
        "{hits:?}"
    );
}

/// Head training and fine-tuning share one epoch loop: the same validation rows, the same
/// shuffles at the same seed, one best-epoch rule, and early stopping that keeps the best.
#[test]
fn one_epoch_loop_splits_shuffles_and_keeps_the_best() {
    use bertweb::epochs::{BestEpoch, EpochReport, Epochs, Monitor, fitted_rows};
    assert_eq!(fitted_rows(1003, 0.2), 802);
    // At least one row fitted and one held out, whatever the fraction.
    assert_eq!((fitted_rows(2, 0.0), fitted_rows(2, 1.0)), (1, 1));
    assert_eq!(fitted_rows(10, f64::NAN), 9);

    let mut a = Epochs::new(50, 0.2, 3, 7);
    let mut b = Epochs::new(50, 0.2, 3, 7);
    let first = a.start();
    assert_eq!(first, b.start(), "same seed, same order");
    let mut sorted = first.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..40).collect::<Vec<_>>(), "every fitted row once");
    assert_ne!(a.start(), first, "each epoch is shuffled anew");
    assert!(!a.is_finished());
    a.start();
    assert!(a.is_finished());

    let report = |val_auroc: f64| EpochReport {
        epoch: 0,
        learning_rate: 1e-3,
        train_loss: 0.5,
        train_accuracy: 0.8,
        train_auroc: None,
        val_loss: 0.5,
        val_accuracy: 0.7,
        val_auroc: Some(val_auroc),
        val_macro_f1: 0.7,
        l2: 0.0,
        best: false,
        thresholds: None,
        temperature: None,
    };
    let mut best = BestEpoch::new(Monitor::ValidationAuroc, Some(2));
    for (epoch, auroc) in [0.80, 0.90, 0.85, 0.90].into_iter().enumerate() {
        let mut r = report(auroc);
        best.offer(&mut r, epoch);
        assert_eq!(
            r.best,
            epoch < 2,
            "epoch {epoch}: only a better score is kept"
        );
        assert_eq!(best.out_of_patience(), epoch == 3, "epoch {epoch}");
    }
    let (kept, kept_report) = best.take().unwrap();
    assert_eq!((kept, kept_report.val_auroc), (1, Some(0.90)));
    // The tutorial's monitor looks at training accuracy instead.
    let mut by_train = BestEpoch::new(Monitor::TrainAccuracy, None);
    let (mut r1, mut r2) = (report(0.9), report(0.5));
    r2.train_accuracy = 0.9;
    by_train.offer(&mut r1, 'a');
    by_train.offer(&mut r2, 'b');
    assert!(!by_train.out_of_patience());
    assert_eq!(by_train.take().map(|(m, _)| m), Some('b'));
}

/// Spreadsheets in many locales write `;` or tabs; detection finds the delimiter from the first
/// lines, quotes respected, and every reader uses it.
#[test]
fn delimiters_are_detected_and_used() {
    use bertweb::data::{Delimiter, detect_delimiter, header, read_column};
    let rows = "great food;1\n\"bad; really bad\";0\nfine, I guess;1\n";
    let semicolon = format!("text;label\n{rows}");
    assert_eq!(detect_delimiter(semicolon.as_bytes()), Delimiter::Semicolon);
    let tab = "text\tlabel\ngreat, food\t1\nbad; bad\t0\n";
    assert_eq!(detect_delimiter(tab.as_bytes()), Delimiter::Tab);
    assert_eq!(
        detect_delimiter(b"text|label\nyes, good|1\nno|0\n"),
        Delimiter::Pipe
    );
    // Commas inside quotes or semicolons inside the text do not fool it.
    let comma = "text,label\n\"a, b; c\",1\n\"d; e\",0\n";
    assert_eq!(detect_delimiter(comma.as_bytes()), Delimiter::Comma);
    assert_eq!(
        detect_delimiter(b"text\nonly one column\n"),
        Delimiter::Comma
    );
    assert_eq!(
        detect_delimiter("\u{feff}a;b\r\n1;2\r\n".as_bytes()),
        Delimiter::Semicolon
    );

    assert_eq!(header(semicolon.as_bytes()).unwrap(), ["text", "label"]);
    assert_eq!(
        read_column(semicolon.as_bytes(), "text").unwrap(),
        ["great food", "bad; really bad", "fine, I guess"]
    );
    let table = read_csv(tab.as_bytes(), &named("text", "label")).unwrap();
    assert_eq!(table.rows[0].text, "great, food");
    assert_eq!(Delimiter::parse("tab").unwrap(), Delimiter::Tab);
    assert!(Delimiter::parse("space").is_err());
}

/// The most common layout, text and a 0/1 label, works as it is: the preview finds the label
/// column and suggests the classes as they are, and star scores keep the tutorial's mode.
/// A preview's labels and their rows, as it lists them.
fn class_counts(p: &data::Preview) -> Vec<(&str, usize)> {
    p.classes
        .iter()
        .map(|c| (c.name.as_str(), c.count))
        .collect()
}

#[test]
fn the_preview_reads_label_kinds_columns_and_a_given_split() {
    use bertweb::data::{LabelKind, preview};
    let mut csv = String::from("id;review;label\n");
    for i in 0..40 {
        csv.push_str(&format!("{i};text number {i} is here;{}\n", i % 2));
    }
    let p = preview(csv.as_bytes(), &Settings::default()).unwrap();
    assert_eq!(p.header, ["id", "review", "label"]);
    assert!(!p.amazon);
    assert_eq!(p.text_column.as_deref(), Some("review"));
    assert_eq!(p.label_column.as_deref(), Some("label"));
    assert_eq!(p.label_kind, LabelKind::Classes);
    assert_eq!(p.label_mode, LabelMode::Named);
    let counts = class_counts(&p);
    assert_eq!(counts, [("0", 20), ("1", 20)]);
    assert_eq!((p.rows, p.split_column), (40, None));
    // With what the preview suggests, preprocessing keeps both classes.
    let settings = Settings {
        columns: named("review", "label"),
        label_mode: p.label_mode,
        ..Settings::default()
    };
    let data = data::load(csv.as_bytes(), &settings).unwrap();
    assert_eq!(data.label_names, ["0", "1"]);

    // Unnamed columns: the longest cells are the text, the fewest distinct values the label.
    let mut csv = String::from("a,b,c\n");
    for i in 0..30 {
        csv.push_str(&format!(
            "{i},\"some longer words, row {i}\",{}\n",
            ["x", "y", "z"][i % 3]
        ));
    }
    let p = preview(csv.as_bytes(), &Settings::default()).unwrap();
    assert_eq!(
        (p.text_column.as_deref(), p.label_column.as_deref()),
        (Some("b"), Some("c"))
    );

    if let Some(amazon) = shared("sample-2k.csv") {
        let p = preview(&amazon, &Settings::default()).unwrap();
        assert!(p.amazon);
        assert_eq!(
            (p.label_kind, p.label_mode),
            (LabelKind::Scores, LabelMode::Binary)
        );
        assert_eq!(p.distinct_labels, 5);
    }
}

/// A file that gives its split is split so: the test part is exactly its test rows, and
/// training holds out exactly its validation rows.
#[test]
fn a_given_split_column_is_used_as_given() {
    use bertweb::data::Part;
    let mut csv = String::from("text,label,split\n");
    let parts = [
        "train",
        "train",
        "train",
        "dev",
        "test",
        "TRAIN",
        "validation",
        "Test",
    ];
    for i in 0..80 {
        csv.push_str(&format!(
            "text {i},{},{}\n",
            ["pos", "neg"][i % 2],
            parts[i % 8]
        ));
    }
    let p = data::preview(csv.as_bytes(), &Settings::default()).unwrap();
    assert_eq!(p.split_column.as_deref(), Some("split"));
    let n = p.split_counts.unwrap();
    assert_eq!((n.train, n.validation, n.test), (40, 20, 20));
    let settings = Settings {
        columns: named("text", "label"),
        label_mode: LabelMode::Named,
        split_column: Some("split".into()),
        ..Settings::default()
    };
    let data = data::load(csv.as_bytes(), &settings).unwrap();
    assert_eq!((data.train.len(), data.test.len()), (60, 20));
    assert_eq!(data.counts.validation_given, Some(20));
    let test_texts: std::collections::BTreeSet<String> =
        data.test.iter().map(|e| e.text.clone()).collect();
    let expected: std::collections::BTreeSet<String> = (0..80)
        .filter(|i| matches!(i % 8, 4 | 7))
        .map(|i| format!("text {i}"))
        .collect();
    assert_eq!(test_texts, expected);
    // The validation rows come last, and training holds out exactly them.
    let fraction = data.validation_fraction(0.2);
    let fitted = bertweb::epochs::fitted_rows(data.train.len(), fraction);
    assert_eq!(fitted, 40);
    let validation_texts: Vec<usize> = data.train[fitted..]
        .iter()
        .map(|e| e.text[5..].parse().unwrap())
        .collect();
    assert!(validation_texts.iter().all(|i| matches!(i % 8, 3 | 6)));
    assert_eq!(Part::parse(" Dev "), Some(Part::Validation));

    let bad = csv.replace("dev", "holdout");
    let err = data::load(bad.as_bytes(), &settings).unwrap_err();
    assert!(matches!(err, DataError::SplitValue { .. }), "{err}");
}

// ---------------------------------------------------------------- files read as a stream

/// `csv` preprocessed by a [`CsvStream`] fed `chunk` bytes at a time.
fn streamed(csv: &[u8], settings: &Settings, chunk: usize) -> Result<Dataset, DataError> {
    let mut stream = CsvStream::new(settings)?;
    for part in csv.chunks(chunk) {
        stream.push(part)?;
    }
    assert_eq!(stream.bytes_read(), csv.len() as u64);
    stream.finish()
}

fn assert_same_dataset(a: &Dataset, b: &Dataset, what: &str) {
    assert_eq!(a.counts, b.counts, "{what}: counts");
    assert_eq!(a.label_names, b.label_names, "{what}: classes");
    assert_eq!(a.train, b.train, "{what}: training part");
    assert_eq!(a.test, b.test, "{what}: test part");
    assert_eq!(
        (&a.text_column, &a.label_column, a.layout),
        (&b.text_column, &b.label_column, b.layout),
        "{what}: columns"
    );
}

/// When the sample holds every kept row, reading a file as a stream, in chunks of any size
/// (records cut anywhere, a CRLF cut between its two bytes), gives exactly what reading it
/// whole gives; and every bad file gets the same error with the same line.
#[test]
fn a_stream_in_chunks_of_any_size_gives_what_the_whole_file_gives() {
    let tricky: &[u8] = b"\xEF\xBB\xBFtext,label\r\n\r\n\"one, two\",pos\r\n\"line one\r\nline two\",neg\r\n   \r\n\"she said \"\"hi\"\"\",pos\r\nplain,neg\r\n<b>bold</b> words,pos\r\nlast,neg";
    let named_settings = Settings {
        columns: named("text", "label"),
        label_mode: LabelMode::Named,
        ..Settings::default()
    };
    let tabbed = "review\tstars\n".to_string()
        + &(0..300)
            .map(|i| format!("review {i} with \"quotes\"\t{}\n", [1, 2, 3, 4, 5][i % 5]))
            .collect::<String>();
    let tab_settings = Settings {
        columns: named("review", "stars"),
        ..Settings::default()
    };
    let mut split = String::from("text;label;split\n");
    for i in 0..120 {
        let part = ["train", "train", "dev", "test"][i % 4];
        split.push_str(&format!("text {i};{};{part}\n", ["a", "b", "c"][i % 3]));
    }
    let split_settings = Settings {
        split_column: Some("split".into()),
        ..named_settings.clone()
    };
    let mut cases: Vec<(&str, Vec<u8>, Settings)> = vec![
        ("tricky", tricky.to_vec(), named_settings.clone()),
        ("tab, scores", tabbed.into_bytes(), tab_settings),
        (
            "semicolons, a given split",
            split.into_bytes(),
            split_settings,
        ),
    ];
    if let Some(csv) = shared("sample-2k.csv") {
        cases.push(("sample-2k", csv, Settings::default()));
    }
    for (what, csv, settings) in &cases {
        let whole = data::load(csv, settings).unwrap();
        for chunk in [1, 2, 7, 4096, csv.len()] {
            let got = streamed(csv, settings, chunk).unwrap();
            assert_same_dataset(&got, &whole, &format!("{what}, chunks of {chunk}"));
        }
    }

    let bad: [(&str, &[u8]); 8] = [
        ("empty", b" \n \n"),
        ("utf-16", b"\xFF\xFEt\0e\0"),
        ("unclosed quote", b"text,label\na,pos\n\"b,neg\nc,pos\n"),
        ("field count", b"text,label\na,pos\nb,neg,extra\n"),
        ("not utf-8", b"text,label\na,pos\nb\xFF,neg\n"),
        ("missing column", b"words,label\na,pos\n"),
        ("one class", b"text,label\na,pos\nb,pos\n"),
        (
            "a bad split value",
            b"text,label,split\na,pos,train\nb,neg,holdout\n",
        ),
    ];
    for (what, csv) in bad {
        let settings = if what == "a bad split value" {
            split_settings_named()
        } else {
            named_settings.clone()
        };
        let whole = data::load(csv, &settings).unwrap_err();
        for chunk in [1, 3, csv.len().max(1)] {
            let got = streamed(csv, &settings, chunk).unwrap_err();
            assert_eq!(got, whole, "{what}, chunks of {chunk}");
        }
    }
}

fn split_settings_named() -> Settings {
    Settings {
        columns: named("text", "label"),
        label_mode: LabelMode::Named,
        split_column: Some("split".into()),
        ..Settings::default()
    }
}

/// A file larger than the sample: the sample has exactly the sample size, drawn uniformly from
/// the whole file (early and late rows alike) with the seed, and the counts are the file's.
#[test]
fn a_stream_keeps_a_uniform_sample_of_the_sample_size() {
    let n = 20_000;
    let csv = synthetic(n);
    let settings = Settings {
        sample_size: Some(1_000),
        max_words: None,
        ..Settings::default()
    };
    let data = streamed(&csv, &settings, 64 << 10).unwrap();
    let c = &data.counts;
    assert_eq!((c.rows_read, c.after_words), (n, n));
    assert_eq!(
        (c.after_sampling, c.dropped_by_sampling),
        (1_000, n - 1_000)
    );
    assert_eq!(data.train.len() + data.test.len(), 1_000);
    let index = |e: &bertweb::data::Example| -> usize { e.text[14..].parse().unwrap() };
    let rows: Vec<usize> = data.train.iter().chain(&data.test).map(index).collect();
    assert_eq!(
        rows.iter().collect::<std::collections::BTreeSet<_>>().len(),
        1_000,
        "no row twice"
    );
    // Uniform: the mean position is the file's middle, and each tenth of the file gives about a
    // tenth of the sample (binomial, 1,000 draws: 100 ± 9.5; 5 standard deviations).
    let mean = rows.iter().sum::<usize>() as f64 / rows.len() as f64;
    assert!(
        (mean - n as f64 / 2.0).abs() < 0.05 * n as f64,
        "mean {mean}"
    );
    for tenth in 0..10 {
        let k = rows.iter().filter(|&&r| r * 10 / n == tenth).count();
        assert!((53..=147).contains(&k), "tenth {tenth}: {k} rows");
    }
    // One negative in five, as in the file.
    let negative = rows.iter().filter(|&&r| r % 5 == 0).count();
    assert!((140..=260).contains(&negative), "{negative} negatives");
    // The same seed, another chunk size: the same sample; another seed: another one.
    let again = streamed(&csv, &settings, 333).unwrap();
    assert_same_dataset(&again, &data, "same seed");
    let other = streamed(
        &csv,
        &Settings {
            seed: 7,
            ..settings.clone()
        },
        333,
    )
    .unwrap();
    assert_ne!(other.train, data.train);

    // A stream needs a sample size: it is what stays in memory.
    let unbounded = Settings {
        sample_size: None,
        ..settings
    };
    assert!(matches!(
        CsvStream::new(&unbounded),
        Err(DataError::Setting(_))
    ));
}

/// A quote that is never closed would read the rest of a large file into one field: the
/// stream stops at a bounded record length and names the line.
#[test]
fn a_record_that_never_ends_is_refused_at_its_line() {
    let mut csv = b"text,label\na,pos\nb,neg\n\"never closed,pos\n".to_vec();
    let filler = "more text, on and on\n".repeat(1 << 20);
    csv.extend_from_slice(filler.as_bytes());
    let settings = Settings {
        columns: named("text", "label"),
        label_mode: LabelMode::Named,
        ..Settings::default()
    };
    match streamed(&csv, &settings, 1 << 20) {
        Err(DataError::Csv { line: 4, message }) => {
            assert!(message.contains("never closed"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

/// The first megabytes of a large file are previewed up to their last whole record.
#[test]
fn a_preview_of_a_files_start_ends_at_a_whole_record() {
    let csv = b"text,label\n\"one\nstill one\",pos\ntwo,neg\n\"three\nstill";
    for cut in 1..csv.len() {
        let whole = whole_records(&csv[..cut], data::Delimiter::Comma);
        assert!(
            [0, 11, 31, 39].contains(&whole.len()),
            "cut at {cut}: {:?}",
            String::from_utf8_lossy(whole)
        );
        assert!(whole.len() <= cut);
    }
    assert_eq!(whole_records(&csv[..40], data::Delimiter::Auto).len(), 39);
}

// ---------------------------------------------------------------- several labels per text

/// A label column with several labels per text: the preview suggests its separator, and with
/// it confirmed every text keeps each of its labels (trimmed, deduplicated, sorted), the counts
/// are rows per label, and the parts are a random split of the rows.
#[test]
fn several_labels_per_text_are_read_with_their_separator() {
    let labels = [
        "billing; refund",
        "refund",
        "shipping",
        "billing",
        "shipping;refund;refund",
        "billing|x",
    ];
    let mut csv = String::from("ticket,labels\n");
    for i in 0..60 {
        csv.push_str(&format!(
            "\"ticket number {i}, please help\",{}\n",
            labels[i % 6]
        ));
    }
    csv.push_str("\"only separators\", ; \n");
    let p = data::preview(csv.as_bytes(), &Settings::default()).unwrap();
    assert_eq!(p.label_column.as_deref(), Some("labels"));
    assert_eq!(p.label_separator.as_deref(), Some(";"));
    assert!(!p.multi_label);
    let settings = Settings {
        columns: named("ticket", "labels"),
        label_separator: Some(";".into()),
        ..Settings::default()
    };
    let p = data::preview(csv.as_bytes(), &settings).unwrap();
    assert!(p.multi_label);
    let counts = class_counts(&p);
    let by_name: std::collections::BTreeMap<&str, usize> = counts.into_iter().collect();
    assert_eq!(
        by_name,
        [
            ("billing", 20),
            ("billing|x", 10),
            ("refund", 30),
            ("shipping", 20)
        ]
        .into_iter()
        .collect()
    );

    let data = data::load(csv.as_bytes(), &settings).unwrap();
    assert!(data.multi_label);
    assert_eq!(
        data.label_names,
        ["billing", "billing|x", "refund", "shipping"]
    );
    // The row of separators only has no label: dropped as empty.
    assert_eq!((data.counts.rows_read, data.counts.dropped_empty), (61, 1));
    assert_eq!(data.counts.per_class, [20, 10, 30, 20]);
    assert_eq!((data.train.len(), data.test.len()), (48, 12));
    for e in data.train.iter().chain(&data.test) {
        let i: usize = e.text["ticket number ".len()..e.text.find(',').unwrap()]
            .parse()
            .unwrap();
        let want: Vec<usize> = match i % 6 {
            0 => vec![0, 2],
            1 => vec![2],
            2 => vec![3],
            3 => vec![0],
            4 => vec![2, 3],
            _ => vec![1],
        };
        assert_eq!(e.labels, want, "{}", e.text);
        assert_eq!(e.label, 0);
    }
    let per = |part: &[bertweb::data::Example]| {
        let mut n = vec![0; 4];
        part.iter().flat_map(|e| &e.labels).for_each(|&l| n[l] += 1);
        n
    };
    assert_eq!(data.counts.train_per_class, per(&data.train));
    assert_eq!(data.counts.test_per_class, per(&data.test));
    // The targets training takes: a flag per label.
    let targets = data.train_targets().unwrap();
    assert!(targets.is_multi_label());
    assert_eq!(
        (targets.len(), targets.names(), targets.outputs()),
        (48, 4, 4)
    );

    // Read as a stream, the same.
    for chunk in [1, 17, csv.len()] {
        let got = streamed(csv.as_bytes(), &settings, chunk).unwrap();
        assert_same_dataset(&got, &data, &format!("multi-label, chunks of {chunk}"));
    }
    // One label only is not a multi-label task; an empty separator is refused.
    let one = "text,labels\na,x\nb,x;x\nc,x\nd,x\n";
    assert!(matches!(
        data::load(
            one.as_bytes(),
            &Settings {
                columns: named("text", "labels"),
                ..settings.clone()
            }
        ),
        Err(DataError::OneClass { .. })
    ));
    let empty = Settings {
        label_separator: Some(String::new()),
        ..settings
    };
    assert!(matches!(
        data::load(csv.as_bytes(), &empty),
        Err(DataError::Setting(_))
    ));
    // Labels that are words or sentences are not taken for several labels.
    let plain = "text,label\na,positive\nb,negative\nc,\"well, fine\"\n";
    assert_eq!(
        data::preview(plain.as_bytes(), &Settings::default())
            .unwrap()
            .label_separator,
        None
    );
}

/// Several labels per text as 0/1 columns, one per label: the preview finds the columns, every
/// column is a label, a text may have none, and a cell that is neither 0 nor 1 names its line.
#[test]
fn zero_one_label_columns_are_labels() {
    let mut csv = String::from("comment,toxic,obscene,insult,split\n");
    for i in 0..40 {
        let (t, o, n) = (i % 2, i % 3 == 0, i % 5 == 0);
        csv.push_str(&format!(
            "comment {i},{t},{},{},{}\n",
            u8::from(o),
            if n { "true" } else { "" },
            if i % 4 == 3 { "test" } else { "train" }
        ));
    }
    let p = data::preview(csv.as_bytes(), &Settings::default()).unwrap();
    assert_eq!(p.text_column.as_deref(), Some("comment"));
    assert_eq!(p.flag_columns, ["toxic", "obscene", "insult"]);
    let settings = Settings {
        columns: named("comment", "toxic"),
        label_columns: vec!["toxic".into(), "obscene".into(), "insult".into()],
        ..Settings::default()
    };
    let p = data::preview(csv.as_bytes(), &settings).unwrap();
    assert!(p.multi_label);
    let counts = class_counts(&p);
    assert_eq!(counts, [("toxic", 20), ("obscene", 14), ("insult", 8)]);

    let data = data::load(csv.as_bytes(), &settings).unwrap();
    assert!(data.multi_label);
    assert_eq!(data.label_names, ["insult", "obscene", "toxic"]);
    assert_eq!(data.counts.rows_read, 40);
    assert_eq!(
        data.counts.after_sampling, 40,
        "rows without a label are kept"
    );
    assert_eq!(data.counts.per_class, [8, 14, 20]);
    for e in data.train.iter().chain(&data.test) {
        let i: usize = e.text["comment ".len()..].parse().unwrap();
        let mut want = Vec::new();
        if i.is_multiple_of(5) {
            want.push(0);
        }
        if i.is_multiple_of(3) {
            want.push(1);
        }
        if i % 2 == 1 {
            want.push(2);
        }
        assert_eq!(e.labels, want, "{}", e.text);
    }
    assert!(
        data.train
            .iter()
            .chain(&data.test)
            .any(|e| e.labels.is_empty())
    );
    let with_split = Settings {
        split_column: Some("split".into()),
        ..settings.clone()
    };
    let given = data::load(csv.as_bytes(), &with_split).unwrap();
    assert_eq!(given.test.len(), 10);
    for chunk in [1, 9, csv.len()] {
        let got = streamed(csv.as_bytes(), &with_split, chunk).unwrap();
        assert_same_dataset(&got, &given, &format!("0/1 columns, chunks of {chunk}"));
    }

    let bad = csv.replace("comment 7,1,0,", "comment 7,maybe,0,");
    match data::load(bad.as_bytes(), &settings) {
        Err(DataError::FlagValue {
            line: 9,
            column,
            value,
        }) => {
            assert_eq!((column.as_str(), value.as_str()), ("toxic", "maybe"))
        }
        other => panic!("{other:?}"),
    }
    let missing = Settings {
        label_columns: vec!["toxic".into(), "threat".into()],
        ..settings
    };
    assert!(matches!(
        data::load(csv.as_bytes(), &missing),
        Err(DataError::MissingColumn { .. })
    ));
}
