#!/usr/bin/env python3
"""Check a bertweb export with tools that are not bertweb (developer-run, not run by CI).

Exports a classifier with the command line (`bertweb export`), then:
  - onnx.checker (full check) passes on onnx/model.onnx, and the graph's size is about the
    weights' size;
  - onnxruntime, fed by the `tokenizers` library from the folder's tokenizer.json (the README's
    Python code), gives the probabilities `bertweb classify` gives for the same texts, within
    1e-4, padded in one batch.
CI checks the same folder in transformers.js (tests/browser/export.test.mjs).

The script creates/uses the venv ~/.cache/bertweb-onnx-py (scripts/requirements-export-check.txt)
and re-executes itself inside it. The command line is the one the native tests build
(`cargo test --no-default-features --features cli`): $CARGO_TARGET_DIR/debug/bertweb, or --bertweb.

Usage:
  python3 scripts/check_export.py --model DIR [--classifier FILE]
  (no --classifier: the model folder's own classifier, a BertForSequenceClassification folder)
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV = Path.home() / ".cache" / "bertweb-onnx-py"
REQUIREMENTS = REPO_ROOT / "scripts" / "requirements-export-check.txt"
TOLERANCE = 1e-4
TEXTS = [
    "ok",
    "Great coffee, I will buy it again.",
    "Stale, broken and a waste of money.",
    "The package arrived on Monday.",
    "!!!!!!???.... ;-) (\"wow\") [sic] $12.99 & 50% off!",
    "Crème brûlée tea was très bon",
    "I have had many teas and coffees over the years, but this chocolate flavor is the best one "
    "I have ever bought. The price was good, the box was big, and my dog and cat love the smell "
    "too. Would buy again, no doubt about it, and I will tell my friends and family about it.",
]


def ensure_venv():
    """Re-run inside the venv, creating it first when needed."""
    python = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    marker = VENV / ".requirements"
    wanted = REQUIREMENTS.read_text()
    if not marker.exists() or marker.read_text() != wanted:
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True)
        marker.write_text(wanted)
    os.execv(str(python), [str(python), *sys.argv])


def bertweb(binary, model, *args):
    subprocess.run([str(binary), "--model", str(model), *args], check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--classifier", type=Path)
    target = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "bertweb-target"))
    parser.add_argument("--bertweb", type=Path, default=target / "debug" / "bertweb")
    args = parser.parse_args()
    ensure_venv()

    import numpy as np
    import onnx
    import onnxruntime as ort
    from tokenizers import Tokenizer

    chosen = ["--classifier", str(args.classifier)] if args.classifier else []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "export"
        bertweb(args.bertweb, args.model, "export", *chosen, "--out", str(folder))
        texts_csv = Path(tmp) / "texts.csv"
        with open(texts_csv, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text"])
            writer.writerows([t] for t in TEXTS)
        predictions = Path(tmp) / "predictions.csv"
        bertweb(args.bertweb, args.model, "classify", *chosen, "--csv", str(texts_csv),
                "--text-column", "text", "--out", str(predictions))
        with open(predictions, newline="") as f:
            rows = list(csv.DictReader(f))

        graph = folder / "onnx" / "model.onnx"
        onnx.checker.check_model(onnx.load(str(graph)), full_check=True)
        weights = (args.model / "model.safetensors").stat().st_size
        print(f"onnx.checker: passed; model.onnx {graph.stat().st_size / 1e6:.2f} MB, "
              f"the base model's weights {weights / 1e6:.2f} MB")

        # The README's Python, in one padded batch.
        config = json.loads((folder / "config.json").read_text())
        labels = config["id2label"]
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.enable_truncation(json.loads((folder / "tokenizer_config.json").read_text())["model_max_length"])
        tokenizer.enable_padding()
        session = ort.InferenceSession(str(graph))
        enc = tokenizer.encode_batch(TEXTS)
        feeds = {name: np.array([getattr(e, field) for e in enc], dtype=np.int64)
                 for name, field in [("input_ids", "ids"), ("attention_mask", "attention_mask"),
                                     ("token_type_ids", "type_ids")]}
        (logits,) = session.run(["logits"], feeds)
        if config["problem_type"] == "multi_label_classification":
            probs = 1 / (1 + np.exp(-logits))
        else:
            probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
            probs /= probs.sum(axis=-1, keepdims=True)

        names = [labels[str(i)] for i in range(len(labels))]
        worst = 0.0
        for text, row, p in zip(TEXTS, rows, probs):
            ours = np.array([float(row[f"p_{n}"]) for n in names])
            worst = max(worst, float(np.abs(ours - p).max()))
        print(f"onnxruntime {ort.__version__} vs bertweb classify on {len(TEXTS)} texts: "
              f"largest difference {worst:.2e} (labels {', '.join(names)}, {config['problem_type']})")
        if worst > TOLERANCE:
            sys.exit(f"FAILED: the export differs from bertweb by {worst:.2e} > {TOLERANCE}")


if __name__ == "__main__":
    main()
