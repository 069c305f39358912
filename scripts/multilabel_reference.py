"""Independent reference for multi-label metrics and per-label thresholds, written with numpy + scikit-learn.

Builds four small multi-label cases (validation and test probabilities with 0/1 targets), chooses
a threshold per label on validation, and computes scikit-learn's metrics on test at those
thresholds and at 0.5. Everything is written to `tests/fixtures/multilabel/metrics.json`, which
the Rust tests read.

    ~/.cache/bertweb-py/bin/python scripts/multilabel_reference.py           # writes the fixture
    ~/.cache/bertweb-py/bin/python scripts/multilabel_reference.py --check   # exit 1 if it differs

Needs numpy and scikit-learn (`~/.cache/bertweb-py/bin/pip install scikit-learn`). Deterministic:
the random cases come from numpy's `default_rng(seed)`; the JSON is written with sorted keys,
indent 1 and Python floats (repr round-trips), followed by a newline.

The rules:
  1. Inputs per case: `labels` L (the names are `label0`, `label1`, ...), validation
     probabilities `val_probs` (n_val x L) and 0/1 targets `val_targets`, test probabilities
     `test_probs` (n_test x L) and targets `test_targets`. Every probability is exactly
     representable as float32: generated, then cast through `np.float32` before anything else,
     and written as `float(np.float32(x))`.
  2. Threshold per label j, chosen on validation. The candidates are the distinct validation
     probabilities of label j; a text is predicted positive when p >= t. For each candidate,
     F1 on validation is 2tp / (2tp + fp + fn), and 0 when that denominator is 0. The candidate
     with the highest F1 is chosen; F1 values are compared exactly, as the rationals
     2tp / (2tp + fp + fn) (cross-multiplied integers, no floats), and among equal F1 the
     LARGEST candidate is chosen.
  3. The threshold is the midpoint, in float32 arithmetic, between the chosen candidate t and
     prev, the largest distinct validation probability of label j below t:
     `np.float32(0.5) * (np.float32(t) + np.float32(prev))` (the sum rounded to float32, then
     halved exactly). When no validation probability is below t, prev = 0.
  4. When label j has no positive in validation, its threshold is 0.5.
  5. Metrics on test at given thresholds (predicted positive when p >= threshold), by
     scikit-learn on the (n_test x L) 0/1 indicator matrices y and yhat:
     `precision_recall_fscore_support(y, yhat, average=None, zero_division=0)` for the
     per-label precision, recall, f1 and support; the same with `average='micro'` and
     `average='macro'` for the micro and macro precision, recall and f1 (macro f1 is the mean
     of the per-label f1, not the f1 of macro precision and recall); `accuracy_score(y, yhat)`
     (exact match, subset accuracy) and `hamming_loss(y, yhat)`.
  6. The metrics are computed twice: at the chosen thresholds (`at_thresholds`) and at 0.5 for
     every label (`at_half`).

The script checks its threshold rule against a brute force over every candidate with exact
fractions (the best F1, the largest-candidate tie break, the validation F1 at the midpoint being
the best F1, and prev < threshold <= t so the midpoint predicts exactly what t predicts).

Cases: "random" (L=5, 200 validation / 300 test rows, prevalences 0.1..0.5, noisy but
informative probabilities); "edge" (L=4, 40 / 50: label 0 has no positive in validation, label 1
no positive in test and is never predicted, label 2 is predicted positive for every test row,
label 3 ordinary); "ties" (L=3, 60 / 60, probabilities rounded to multiples of 0.1); "tiny"
(L=3, 6 / 6 rows written by hand below, to check by hand).
"""

import json
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, hamming_loss, precision_recall_fscore_support

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "multilabel" / "metrics.json"


def f32(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).astype(np.float32)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def counts(p: np.ndarray, y: np.ndarray, t) -> tuple[int, int, int]:
    pred = p >= t
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    return tp, fp, fn


def f1_ratio(tp: int, fp: int, fn: int) -> tuple[int, int]:
    """F1 as the pair (numerator, denominator); 0/1 when the denominator is 0."""
    den = 2 * tp + fp + fn
    return (0, 1) if den == 0 else (2 * tp, den)


def threshold(p: np.ndarray, y: np.ndarray) -> np.float32:
    """Rules 2-4, for one label's validation probabilities p (float32) and targets y."""
    if not np.any(y == 1):
        return np.float32(0.5)
    cands = np.unique(p)  # ascending, distinct
    best, best_f1 = None, None
    for t in cands[::-1]:  # from the largest down: only a strictly better F1 replaces
        num, den = f1_ratio(*counts(p, y, t))
        if best is None or num * best_f1[1] > best_f1[0] * den:
            best, best_f1 = t, (num, den)
    below = cands[cands < best]
    prev = below[-1] if len(below) else np.float32(0)
    thr = np.float32(0.5) * (np.float32(best) + np.float32(prev))
    assert isinstance(thr, np.float32)
    brute_force(p, y, best, prev, thr)
    return thr


def brute_force(p: np.ndarray, y: np.ndarray, best, prev, thr) -> None:
    """Cross-check of one label's threshold with exact fractions over every candidate."""
    def frac(t) -> Fraction:
        tp, fp, fn = counts(p, y, t)
        return Fraction(0) if 2 * tp + fp + fn == 0 else Fraction(2 * tp, 2 * tp + fp + fn)

    scores = {float(t): frac(t) for t in set(p.tolist())}
    top = max(scores.values())
    assert frac(best) == top, "chosen candidate does not have the best F1"
    assert float(best) == max(t for t, s in scores.items() if s == top), "tie not broken to the largest"
    assert float(prev) < float(thr) <= float(best), f"midpoint {thr} not in ({prev}, {best}]"
    assert np.array_equal(p >= thr, p >= best), "midpoint predicts differently from the candidate"
    assert frac(thr) == top, "validation F1 at the threshold is not the best F1"
    # And scikit-learn agrees on the F1 at the threshold.
    assert abs(f1_score(y, (p >= thr).astype(int), zero_division=0) - float(top)) < 1e-12


def top_ties(p: np.ndarray, y: np.ndarray) -> int:
    """How many candidates share the best validation F1 (exact fractions)."""
    scores = [Fraction(*f1_ratio(*counts(p, y, t))) for t in np.unique(p)]
    return scores.count(max(scores))


def metrics(probs: np.ndarray, targets: np.ndarray, thr: np.ndarray) -> dict:
    """Rule 5."""
    yhat = (probs >= thr[None, :]).astype(int)
    y = targets.astype(int)
    out = {}
    for avg in ("micro", "macro"):
        pr, rc, f1, _ = precision_recall_fscore_support(y, yhat, average=avg, zero_division=0)
        out[avg] = {"precision": float(pr), "recall": float(rc), "f1": float(f1)}
    pr, rc, f1, sup = precision_recall_fscore_support(y, yhat, average=None, zero_division=0)
    out["per_label"] = [
        {"precision": float(a), "recall": float(b), "f1": float(c), "support": int(d)}
        for a, b, c, d in zip(pr, rc, f1, sup)
    ]
    out["subset_accuracy"] = float(accuracy_score(y, yhat))
    out["hamming_loss"] = float(hamming_loss(y, yhat))
    # Spot checks by hand: support and exact match.
    assert [d["support"] for d in out["per_label"]] == y.sum(axis=0).tolist()
    assert out["subset_accuracy"] == float(np.mean(np.all(y == yhat, axis=1)))
    return out


def case(name: str, vp, vt, tp, tt) -> dict:
    vp, tp = f32(vp), f32(tp)
    vt, tt = np.asarray(vt, dtype=np.int64), np.asarray(tt, dtype=np.int64)
    L = vp.shape[1]
    assert vp.shape == vt.shape and tp.shape == tt.shape and tp.shape[1] == L
    assert set(np.unique(vt)) <= {0, 1} and set(np.unique(tt)) <= {0, 1}
    assert np.all((vp >= 0) & (vp <= 1)) and np.all((tp >= 0) & (tp <= 1))
    thr = np.array([threshold(vp[:, j], vt[:, j]) for j in range(L)], dtype=np.float32)
    return {
        "name": name,
        "labels": int(L),
        "val_probs": [[float(np.float32(x)) for x in row] for row in vp],
        "val_targets": vt.tolist(),
        "test_probs": [[float(np.float32(x)) for x in row] for row in tp],
        "test_targets": tt.tolist(),
        "thresholds": [float(np.float32(t)) for t in thr],
        "at_thresholds": metrics(tp, tt, thr),
        "at_half": metrics(tp, tt, np.full(L, 0.5, dtype=np.float32)),
    }


def noisy(rng: np.random.Generator, y: np.ndarray, strength: np.ndarray, noise: float) -> np.ndarray:
    """sigmoid(strength * (2y - 1) + normal noise): informative but noisy."""
    return sigmoid(strength[None, :] * (2 * y - 1) + rng.normal(0.0, noise, size=y.shape))


def random_case() -> dict:
    rng = np.random.default_rng(20240601)
    L, n_val, n_test = 5, 200, 300
    prev = np.linspace(0.1, 0.5, L)
    strength = np.array([0.6, 1.0, 1.4, 1.8, 2.2])
    vt = (rng.random((n_val, L)) < prev).astype(int)
    tt = (rng.random((n_test, L)) < prev).astype(int)
    vp = noisy(rng, vt, strength, 1.5)
    tp = noisy(rng, tt, strength, 1.5)
    assert vt.sum(axis=0).min() > 0 and tt.sum(axis=0).min() > 0
    return case("random", vp, vt, tp, tt)


def edge_case() -> dict:
    # Seed picked so that label 3's threshold changes a test prediction (at_thresholds differs
    # from at_half); the asserts below hold the case to its description.
    rng = np.random.default_rng(1)
    L, n_val, n_test = 4, 40, 50
    strength = np.array([1.5, 1.5, 1.5, 1.5])
    vt = (rng.random((n_val, L)) < 0.35).astype(int)
    tt = (rng.random((n_test, L)) < 0.35).astype(int)
    vt[:, 0] = 0  # label 0: no positive in validation
    tt[:, 1] = 0  # label 1: no positive in test
    tt[:, 2] = (rng.random(n_test) < 0.6).astype(int)
    vp = noisy(rng, vt, strength, 1.0)
    tp = noisy(rng, tt, strength, 1.0)
    tp[:, 1] = rng.uniform(0.0, 0.05, size=n_test)  # label 1: never predicted
    tp[:, 2] = rng.uniform(0.95, 1.0, size=n_test)  # label 2: always predicted
    c = case("edge", vp, vt, tp, tt)
    assert c["at_thresholds"] != c["at_half"]
    thr, tpf = c["thresholds"], f32(tp)
    assert thr[0] == 0.5
    assert vt[:, 1].sum() > 0 and thr[1] > 0.05 and not np.any(tpf[:, 1] >= thr[1])
    assert thr[2] <= 0.95 and np.all(tpf[:, 2] >= thr[2])
    assert vt[:, 3].sum() > 0 and tt[:, 3].sum() > 0 and tt[:, 0].sum() > 0
    for m in (c["at_thresholds"], c["at_half"]):
        assert m["per_label"][1] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    return c


def ties_case() -> dict:
    # Seed picked so that the best validation F1 is shared by two candidates for one label (the
    # tie break matters); checked below.
    rng = np.random.default_rng(17)
    L, n_val, n_test = 3, 60, 60
    strength = np.array([0.8, 1.2, 1.6])
    vt = (rng.random((n_val, L)) < np.array([0.2, 0.35, 0.5])).astype(int)
    tt = (rng.random((n_test, L)) < np.array([0.2, 0.35, 0.5])).astype(int)
    vp = np.round(noisy(rng, vt, strength, 1.2), 1)  # multiples of 0.1, then float32
    tp = np.round(noisy(rng, tt, strength, 1.2), 1)
    assert vt.sum(axis=0).min() > 0
    assert any(top_ties(f32(vp[:, j]), vt[:, j]) > 1 for j in range(L))
    return case("ties", vp, vt, tp, tt)


def tiny_case() -> dict:
    # Label 0: F1 ties at 2/3 between t=0.9 (tp1 fp0 fn1) and t=0.4 (tp2 fp2 fn0, 4/6): 0.9
    #          wins, prev 0.7; f32(0.9) + f32(0.7) lies halfway between two float32s and rounds
    #          to even, so the threshold is 0.79999995..., one float32 below f32(0.8).
    # Label 1: duplicated probabilities; best t=0.2 (tp3 fp2 fn0, F1 3/4), prev 0.1; the float32
    #          midpoint is exactly f32(0.15), which the test probability 0.15 (row 4) meets.
    # Label 2: best is the smallest candidate t=0.3 (tp5 fp1, F1 10/11): prev = 0, threshold
    #          f32(0.3) / 2 = f32(0.15), which the test probability 0.15 (row 0) meets (p >= t).
    # At 0.5, label 2's test probability 0.5 (row 2) is predicted positive.
    vp = [
        [0.9, 0.5, 0.3],
        [0.7, 0.5, 0.35],
        [0.6, 0.2, 0.4],
        [0.4, 0.2, 0.45],
        [0.3, 0.8, 0.6],
        [0.2, 0.1, 0.7],
    ]
    vt = [
        [1, 1, 1],
        [0, 1, 1],
        [0, 0, 1],
        [1, 1, 1],
        [0, 0, 1],
        [0, 0, 0],
    ]
    tp = [
        [0.85, 0.3, 0.15],
        [0.6, 0.12, 0.1],
        [0.95, 0.05, 0.5],
        [0.1, 0.6, 0.2],
        [0.45, 0.15, 0.05],
        [0.3, 0.2, 0.9],
    ]
    tt = [
        [1, 1, 1],
        [1, 0, 0],
        [0, 0, 1],
        [0, 1, 0],
        [0, 1, 0],
        [0, 0, 1],
    ]
    return case("tiny", vp, vt, tp, tt)


def build() -> str:
    cases = [random_case(), edge_case(), ties_case(), tiny_case()]
    return json.dumps({"cases": cases}, sort_keys=True, indent=1) + "\n"


def main() -> None:
    text = build()
    if sys.argv[1:] == ["--check"]:
        if not OUT.exists() or OUT.read_text() != text:
            sys.exit(f"{OUT} differs from what this script computes")
        print(f"{OUT} is up to date")
    elif sys.argv[1:]:
        sys.exit("usage: multilabel_reference.py [--check]")
    else:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(text)
        print(f"wrote {OUT} ({len(text.encode())} bytes)")


if __name__ == "__main__":
    main()
