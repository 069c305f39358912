"""Independent reference for `src/data.rs` and `src/metrics.rs`, written with pandas + scikit-learn.

Applies the tutorial's preprocessing to the shared Amazon Fine Food data and prints the count
after each step and the stratified train/test sizes per class; then prints scikit-learn's
metrics for the small cases used in `tests/metrics.rs`. The numbers are pasted as constants
into `tests/data.rs` and `tests/metrics.rs`.

    ~/.cache/bertweb-py/bin/python scripts/reference_counts.py   # needs pandas, scikit-learn

The rules (as `src/data.rs` documents them):
  1. rows read;
  2. drop rows whose text or label is empty (blank after trimming whitespace);
  3. map labels: binary (<=2 negative, >=4 positive, 3 dropped as neutral), three classes
     (1-2 / 3 / 4-5) or five (stars); a score that is not a whole number in 1..=5 is unusable;
  4. keep reviews with fewer than 50 words (Python's str.split() on the raw text);
  5. sample up to 100,000 rows (a no-op in count below that);
  6. strip HTML tags with re.sub('<.*?>', '', text) (counted: texts left blank by it);
  7. stratified 80/20 split: sklearn's train_test_split(test_size=0.2, stratify=label).
"""

import math
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, f1_score, roc_auc_score, roc_curve
from sklearn.model_selection import train_test_split

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "amazon-fine-food"
MODES = {
    "binary": ({1: 0, 2: 0, 4: 1, 5: 1}, ["negative", "positive"]),
    "three": ({1: 0, 2: 0, 3: 1, 4: 2, 5: 2}, ["negative", "neutral", "positive"]),
    "five": ({s: s - 1 for s in range(1, 6)}, ["1 star", "2 stars", "3 stars", "4 stars", "5 stars"]),
}


def counts(path: Path, mode: str) -> dict:
    mapping, names = MODES[mode]
    # Every cell as a string, so that "empty" means an empty cell and nothing else.
    df = pd.read_csv(path, keep_default_na=False, dtype=str)
    # The tutorial reads with pandas' defaults; on this data they see the same empty cells.
    default = pd.read_csv(path)
    assert default[["Text", "Score"]].isna().sum().sum() == ((df.Text.str.strip() == "") | (df.Score.str.strip() == "")).sum()
    c = {"rows_read": len(df)}
    df = df[["Text", "Score"]]
    df = df[(df.Text.str.strip() != "") & (df.Score.str.strip() != "")]
    c["after_empty"] = len(df)
    score = pd.to_numeric(df.Score.str.strip(), errors="coerce")
    whole = score.notna() & (score == np.floor(score)) & score.between(1, 5)
    c["unusable_label"] = int((~whole).sum())
    df, score = df[whole], score[whole].astype(int)
    keep = score.isin(mapping.keys())
    c["neutral"] = int((~keep).sum())
    df = df[keep].assign(label=score[keep].map(mapping))
    c["after_labels"] = len(df)
    df = df[df.Text.str.split().str.len() < 50]
    c["after_words"] = len(df)
    df = df.sample(n=min(100_000, len(df)), random_state=42)
    c["after_sample"] = len(df)
    df = df.assign(Text=df.Text.apply(lambda t: re.sub("<.*?>", "", t)))
    c["blank_after_html"] = int((df.Text.str.strip() == "").sum())
    train, test = train_test_split(df, test_size=0.2, stratify=df.label, random_state=42)
    c["train"], c["test"] = len(train), len(test)
    c["train_per_class"] = [int((train.label == k).sum()) for k in range(len(names))]
    c["test_per_class"] = [int((test.label == k).sum()) for k in range(len(names))]
    # sklearn breaks ties between equal remainders at random; say so if that happened.
    n_train = len(df) - math.ceil(0.2 * len(df))
    per = df.label.value_counts().sort_index().to_numpy()
    rem = per * n_train / len(df) - np.floor(per * n_train / len(df))
    c["remainder_ties"] = bool(len(set(rem[rem > 0])) < len(rem[rem > 0]))
    return c


def metrics() -> None:
    print("\n# metrics (tests/metrics.rs)")
    # Binary, with tied scores across classes.
    y = np.array([0, 0, 1, 1, 0, 1, 1, 0, 1, 0])
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.4, 0.8, 0.5, 0.2, 0.4, 0.9], dtype=np.float32)
    pred = (s > 0.5).astype(int)  # positive when P(positive) > 0.5, as Keras and argmax do
    fpr, tpr, thr = roc_curve(y, s)
    print("binary auroc", repr(roc_auc_score(y, s)))
    print("binary roc fpr", fpr.tolist())
    print("binary roc tpr", tpr.tolist())
    print("binary roc thresholds", [float(t) for t in thr])
    print("binary confusion", confusion_matrix(y, pred).tolist())
    print("binary macro f1", repr(f1_score(y, pred, average="macro")))
    print("binary f1 per class", f1_score(y, pred, average=None).tolist())
    # Many points on a straight stretch: drop_intermediate removes them.
    y2 = np.array([1, 1, 1, 1, 0, 0, 0, 0, 1, 0])
    s2 = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1], dtype=np.float32)
    fpr, tpr, thr = roc_curve(y2, s2)
    print("line auroc", repr(roc_auc_score(y2, s2)))
    print("line roc fpr", fpr.tolist())
    print("line roc tpr", tpr.tolist())
    print("line roc thresholds", [float(t) for t in thr])
    # Three classes, one-vs-rest.
    y3 = np.array([0, 1, 2, 2, 1, 0, 1, 2, 0, 1, 2, 2])
    p3 = np.array(
        [
            [0.7, 0.2, 0.1], [0.3, 0.4, 0.3], [0.2, 0.3, 0.5], [0.1, 0.6, 0.3],
            [0.5, 0.3, 0.2], [0.4, 0.4, 0.2], [0.2, 0.5, 0.3], [0.3, 0.3, 0.4],
            [0.3, 0.3, 0.4], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8], [0.2, 0.2, 0.6],
        ],
        dtype=np.float32,
    )
    pred3 = p3.argmax(axis=1)
    print("three preds", pred3.tolist())
    print("three accuracy", repr(float((pred3 == y3).mean())))
    print("three ovr macro auroc", repr(roc_auc_score(y3, p3, multi_class="ovr", average="macro")))
    print("three ovr auroc per class", [roc_auc_score(y3 == k, p3[:, k]) for k in range(3)])
    print("three macro f1", repr(f1_score(y3, pred3, average="macro")))
    print("three f1 per class", f1_score(y3, pred3, average=None).tolist())
    print("three confusion", confusion_matrix(y3, pred3).tolist())


def main() -> None:
    if not DATA.exists():
        sys.exit(f"{DATA} not found")
    for name in ["sample-2k.csv", "Reviews.partial.csv.gz"]:
        for mode in MODES:
            print(f"{name} {mode}: {counts(DATA / name, mode)}")
    metrics()


if __name__ == "__main__":
    main()
