//! Metrics (`src/metrics.rs`) against scikit-learn: the expected numbers are printed by
//! `scripts/reference_counts.py` for the same inputs.

use bertweb::metrics::{MetricsError, Report, RocCurve, auroc, predict, roc_curve};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

fn assert_close(got: &[f64], want: &[f64], what: &str) {
    assert!(
        got.len() == want.len() && got.iter().zip(want).all(|(&a, &b)| close(a, b) || a == b),
        "{what}: got {got:?}, want {want:?}"
    );
}

// Binary, with tied scores across classes (scripts/reference_counts.py: "binary").
const Y: [usize; 10] = [0, 0, 1, 1, 0, 1, 1, 0, 1, 0];
const S: [f32; 10] = [0.1, 0.4, 0.35, 0.8, 0.4, 0.8, 0.5, 0.2, 0.4, 0.9];

#[test]
fn binary_report_matches_sklearn() {
    let report = Report::new(&S, 2, &Y).unwrap();
    // roc_auc_score
    assert!(close(report.auroc.unwrap(), 0.6799999999999999));
    assert_eq!(report.auroc_per_class, [report.auroc, report.auroc]);
    // roc_curve(drop_intermediate=True)
    let roc = report.roc[0].as_ref().unwrap();
    assert_close(&roc.fpr, &[0.0, 0.2, 0.2, 0.2, 0.6, 0.6, 1.0], "fpr");
    assert_close(&roc.tpr, &[0.0, 0.0, 0.4, 0.6, 0.8, 1.0, 1.0], "tpr");
    assert_close(
        &roc.thresholds,
        &[
            f64::INFINITY,
            0.8999999761581421,
            0.800000011920929,
            0.5,
            0.4000000059604645,
            0.3499999940395355,
            0.10000000149011612,
        ],
        "thresholds",
    );
    // Predicted positive when P(positive) > 0.5: the 0.5 row is negative.
    assert_eq!(report.confusion, [[4, 1], [3, 2]]);
    assert!(close(report.accuracy, 0.6));
    assert!(close(report.macro_f1, 0.5833333333333333));
    let f1: Vec<f64> = report.per_class.iter().map(|c| c.f1).collect();
    assert_close(&f1, &[0.6666666666666666, 0.5], "f1 per class");
    assert_eq!(report.per_class[1].support, 5);
    assert!(close(report.per_class[1].precision, 2.0 / 3.0));
    assert!(close(report.per_class[1].recall, 0.4));
}

#[test]
fn two_columns_mean_the_same_as_one() {
    let two: Vec<f32> = S.iter().flat_map(|&p| [1.0 - p, p]).collect();
    let a = Report::new(&S, 2, &Y).unwrap();
    let b = Report::new(&two, 2, &Y).unwrap();
    assert_eq!(a, b);
}

#[test]
fn auroc_by_hand() {
    // Perfect, reversed, and all tied.
    assert_eq!(
        auroc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]),
        Some(1.0)
    );
    assert_eq!(
        auroc(&[0.1, 0.2, 0.8, 0.9], &[true, true, false, false]),
        Some(0.0)
    );
    assert_eq!(auroc(&[0.5; 4], &[true, false, true, false]), Some(0.5));
    // One positive tied with one of two negatives: (1 + 0.5) / 2.
    assert_eq!(auroc(&[0.3, 0.7, 0.7], &[false, false, true]), Some(0.75));
    // Undefined without both classes (scikit-learn raises; we say None).
    assert_eq!(auroc(&[0.3, 0.7], &[true, true]), None);
    assert_eq!(roc_curve(&[0.3, 0.7], &[false, false]), None);
}

#[test]
fn roc_curve_drops_intermediate_points_as_sklearn() {
    // scripts/reference_counts.py: "line".
    let y = [
        true, true, true, true, false, false, false, false, true, false,
    ];
    let s = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1];
    assert!(close(auroc(&s, &y).unwrap(), 0.8400000000000001));
    let roc = roc_curve(&s, &y).unwrap();
    assert_close(&roc.fpr, &[0.0, 0.0, 0.0, 0.8, 0.8, 1.0], "fpr");
    assert_close(&roc.tpr, &[0.0, 0.2, 0.8, 0.8, 1.0, 1.0], "tpr");
    assert_close(
        &roc.thresholds,
        &[
            f64::INFINITY,
            0.8999999761581421,
            0.6000000238418579,
            0.20000000298023224,
            0.15000000596046448,
            0.10000000149011612,
        ],
        "thresholds",
    );
}

#[test]
fn a_long_roc_curve_thins_to_its_ends() {
    let n = 1000;
    let s: Vec<f32> = (0..n).map(|i| i as f32 / n as f32).collect();
    let y: Vec<bool> = (0..n).map(|i| (i * 7919) % 3 == 0 || i > 700).collect();
    let roc = roc_curve(&s, &y).unwrap();
    let thin: RocCurve = roc.thinned(50);
    assert!(
        thin.fpr.len() <= 50 && thin.fpr.len() >= 40,
        "{}",
        thin.fpr.len()
    );
    assert_eq!((thin.fpr[0], thin.tpr[0]), (0.0, 0.0));
    assert_eq!((thin.fpr.last(), thin.tpr.last()), (Some(&1.0), Some(&1.0)));
    assert!(thin.fpr.windows(2).all(|w| w[0] <= w[1]));
}

// Three classes (scripts/reference_counts.py: "three").
const Y3: [usize; 12] = [0, 1, 2, 2, 1, 0, 1, 2, 0, 1, 2, 2];
#[rustfmt::skip]
const P3: [f32; 36] = [
    0.7, 0.2, 0.1,  0.3, 0.4, 0.3,  0.2, 0.3, 0.5,  0.1, 0.6, 0.3,
    0.5, 0.3, 0.2,  0.4, 0.4, 0.2,  0.2, 0.5, 0.3,  0.3, 0.3, 0.4,
    0.3, 0.3, 0.4,  0.6, 0.3, 0.1,  0.1, 0.1, 0.8,  0.2, 0.2, 0.6,
];

#[test]
fn three_class_report_matches_sklearn() {
    let report = Report::new(&P3, 3, &Y3).unwrap();
    // argmax takes the first of tied columns (row 5: 0.4, 0.4, 0.2 → 0), as numpy does.
    assert_eq!(
        predict(&P3, 3, 12).unwrap(),
        [0, 1, 2, 1, 0, 0, 1, 2, 2, 0, 2, 2]
    );
    assert!(close(report.accuracy, 0.6666666666666666));
    // roc_auc_score(multi_class="ovr", average="macro")
    assert!(
        close(report.auroc.unwrap(), 0.8155037477954145),
        "{:?}",
        report.auroc
    );
    let per: Vec<f64> = report.auroc_per_class.iter().map(|a| a.unwrap()).collect();
    assert_close(
        &per,
        &[0.8148148148148148, 0.703125, 0.9285714285714285],
        "OvR AUROC",
    );
    // f1_score(average="macro")
    assert!(close(report.macro_f1, 0.6476190476190476));
    let f1: Vec<f64> = report.per_class.iter().map(|c| c.f1).collect();
    assert_close(
        &f1,
        &[0.5714285714285714, 0.5714285714285714, 0.8],
        "f1 per class",
    );
    assert_eq!(report.confusion, [[2, 0, 1], [2, 2, 0], [0, 1, 4]]);
    assert_eq!(report.roc.len(), 3);
    assert!(report.roc.iter().all(Option::is_some));
}

#[test]
fn an_absent_class_gives_none_not_a_panic() {
    // Class 2 never occurs in the labels, nor in the predictions.
    let labels = [0, 1, 0, 1];
    let probs = [0.8, 0.1, 0.1, 0.3, 0.6, 0.1, 0.6, 0.3, 0.1, 0.2, 0.7, 0.1];
    let report = Report::new(&probs, 3, &labels).unwrap();
    assert_eq!(report.auroc_per_class[2], None);
    assert!(report.roc[2].is_none());
    assert_eq!(
        report.auroc,
        Some(1.0),
        "macro over the classes where it is defined"
    );
    // Macro-F1 over the classes present in labels or predictions, as scikit-learn.
    assert_eq!(report.macro_f1, 1.0);
    assert_eq!(report.per_class[2].precision, 0.0);
    // Only one class in the labels: no AUROC at all, but accuracy still.
    let report = Report::new(&[0.9, 0.8, 0.2], 2, &[1, 1, 1]).unwrap();
    assert_eq!(report.auroc, None);
    assert!(close(report.accuracy, 2.0 / 3.0));
    // The report serializes (None as null) for the page.
    let json = serde_json::to_value(&report).unwrap();
    assert!(json["auroc"].is_null());
}

#[test]
fn bad_inputs_are_errors() {
    assert_eq!(Report::new(&[], 2, &[]), Err(MetricsError::Empty));
    assert_eq!(Report::new(&[0.5], 1, &[0]), Err(MetricsError::Classes(1)));
    assert!(matches!(
        Report::new(&[0.5, 0.5, 0.5], 2, &[0, 1]),
        Err(MetricsError::Shape { .. })
    ));
    assert!(matches!(
        Report::new(&[0.5, 0.5], 2, &[0, 2]),
        Err(MetricsError::Label { row: 1, .. })
    ));
    let err = Report::new(&[0.5, f32::NAN], 2, &[0, 1]).unwrap_err();
    assert_eq!(err, MetricsError::NotFinite { row: 1 });
    assert!(err.to_string().contains("diverged"));
}

// ---------------------------------------------------------------- multi-label

/// Thresholds chosen on validation and the scores at them, and at 0.5, against the fixture
/// `scripts/multilabel_reference.py` writes with numpy and scikit-learn.
#[test]
fn multi_label_thresholds_and_scores_match_sklearn() {
    use bertweb::multilabel::{MultiLabelReport, choose_thresholds};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/multilabel/metrics.json");
    let fixture: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("the fixture")).unwrap();
    let matrix = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
            .collect()
    };
    let cases = fixture["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let labels = case["labels"].as_u64().unwrap() as usize;
        let probs =
            |key: &str| -> Vec<f32> { matrix(&case[key]).iter().map(|&x| x as f32).collect() };
        let targets =
            |key: &str| -> Vec<bool> { matrix(&case[key]).iter().map(|&x| x == 1.0).collect() };
        let thresholds =
            choose_thresholds(&probs("val_probs"), &targets("val_targets"), labels).unwrap();
        let want: Vec<f32> = case["thresholds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(thresholds, want, "{name}: thresholds");
        for (key, at) in [
            ("at_thresholds", thresholds.clone()),
            ("at_half", vec![0.5; labels]),
        ] {
            let got =
                MultiLabelReport::new(&probs("test_probs"), &targets("test_targets"), labels, &at)
                    .unwrap();
            let want = &case[key];
            let what = format!("{name}, {key}");
            let scores = |s: &bertweb::multilabel::Scores| vec![s.precision, s.recall, s.f1];
            let of = |v: &serde_json::Value| {
                ["precision", "recall", "f1"]
                    .map(|k| v[k].as_f64().unwrap())
                    .to_vec()
            };
            assert_close(
                &scores(&got.micro),
                &of(&want["micro"]),
                &format!("{what}: micro"),
            );
            assert_close(
                &scores(&got.macro_avg),
                &of(&want["macro"]),
                &format!("{what}: macro"),
            );
            for (j, label) in got.per_label.iter().enumerate() {
                let w = &want["per_label"][j];
                assert_close(
                    &scores(&label.scores),
                    &of(w),
                    &format!("{what}: label {j}"),
                );
                assert_eq!(
                    label.support as u64,
                    w["support"].as_u64().unwrap(),
                    "{what}: support {j}"
                );
            }
            assert_close(
                &[got.subset_accuracy, got.hamming_loss],
                &[
                    want["subset_accuracy"].as_f64().unwrap(),
                    want["hamming_loss"].as_f64().unwrap(),
                ],
                &format!("{what}: subset accuracy, Hamming loss"),
            );
        }
    }
    // Bad inputs are errors, not panics.
    assert_eq!(choose_thresholds(&[], &[], 3), Err(MetricsError::Empty));
    assert!(MultiLabelReport::new(&[0.5, f32::NAN], &[true, false], 2, &[0.5, 0.5]).is_err());
    assert!(MultiLabelReport::new(&[0.5; 4], &[true; 4], 2, &[0.5]).is_err());
}
