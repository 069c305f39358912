#!/usr/bin/env python3
"""Generate the reference fixtures under tests/fixtures/ (developer-only, NOT run by CI).

Outputs:
  tests/fixtures/minilm.json          reference embeddings of all-MiniLM-L6-v2
  tests/fixtures/tiny/config.json     tiny random BERT (hidden 32, 2 layers, 4 heads, ffn 37)
  tests/fixtures/tiny/vocab.txt       its small uncased WordPiece vocab
  tests/fixtures/tiny/tokenizer.json  matching tokenizers-library tokenizer
  tests/fixtures/tiny/model.safetensors               bare keys, f32
  tests/fixtures/tiny/model-prefixed-f16.safetensors  "bert." keys, f16, plus extra tensors
  tests/fixtures/tiny/model-bf16.safetensors          bare keys, bf16
  tests/fixtures/tiny/expected.json   reference embeddings of the tiny model
  tests/fixtures/tiny-cls/single/     tiny random BertForSequenceClassification, 3 labels,
                                      single_label_classification, seed 23, written by
                                      save_pretrained: config.json (architectures, id2label,
                                      label2id, problem_type), model.safetensors ("bert."
                                      encoder keys, bert.pooler.dense.*, classifier.*),
                                      tokenizer.json, vocab.txt, tokenizer_config.json
  tests/fixtures/tiny-cls/single/model-bare.safetensors  same weights, "bert." stripped
                                      (embeddings.*, encoder.*, pooler.*, classifier.*)
  tests/fixtures/tiny-cls/multi/      same shape, 4 labels, multi_label_classification, seed 24
  tests/fixtures/tiny-cls/expected.json  reference logits + softmax / sigmoid probabilities
  tests/fixtures/tiny-cls/attributions.json  integrated-gradients word attributions of both
                                      tiny-cls heads (float64) for 5 of expected.json's texts,
                                      with their input_ids from there: Gauss-Legendre 20 nodes
                                      on [0,1], baseline [CLS] [PAD]... [SEP] word embeddings,
                                      target = the predicted label's log-odds; plus the
                                      completeness gap and a 2,000-step midpoint check

The tiny-cls models reuse the tiny model's config shape, vocab.txt and tokenizer.json.

Reference = transformers.BertModel (BertForSequenceClassification for tiny-cls), float32,
eval(), attn_implementation="eager", CPU; the attributions part runs the tiny-cls models in
float64.

Prerequisite for the minilm part: `python3 scripts/fetch_model.py` (models/all-MiniLM-L6-v2/);
the minilm and tiny parts also need the amazon-fine-food data (--data-dir); tiny-cls needs
neither; attributions needs only the committed tiny-cls/ folders and expected.json (it loads
them with from_pretrained, in float64, and rewrites nothing else).
The script creates/uses the venv ~/.cache/bertweb-py (requirements in
scripts/requirements-fixtures.txt) and re-executes itself inside it.

Usage: python3 scripts/make_fixtures.py [--data-dir DIR] [--only PART ...]
       (PART: minilm, tiny, tiny-cls, attributions; default: all parts)
  e.g. python3 scripts/make_fixtures.py --only tiny-cls
"""

import argparse
import csv
import gzip
import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV = Path.home() / ".cache" / "bertweb-py"
REQUIREMENTS = REPO_ROOT / "scripts" / "requirements-fixtures.txt"
MODEL_DIR = REPO_ROOT / "models" / "all-MiniLM-L6-v2"
FIXTURES = REPO_ROOT / "tests" / "fixtures"
TINY_DIR = FIXTURES / "tiny"
TINY_CLS_DIR = FIXTURES / "tiny-cls"
PARTS = ("minilm", "tiny", "tiny-cls", "attributions")
MAX_LEN = 55
DATA_DIR_CANDIDATES = [
    REPO_ROOT / "shared" / "data" / "amazon-fine-food",
    REPO_ROOT.parent / "shared" / "data" / "amazon-fine-food",
    Path("/work/shared/data/amazon-fine-food"),
]


# --------------------------------------------------------------------------
# venv bootstrap (stdlib only)
# --------------------------------------------------------------------------

def ensure_venv() -> None:
    venv_python = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not venv_python.exists():
        print(f"make_fixtures: creating venv {VENV}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    req_hash = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    marker = VENV / ".bertweb-requirements.sha256"
    if not marker.exists() or marker.read_text().strip() != req_hash:
        print(f"make_fixtures: installing {REQUIREMENTS.name} into {VENV} "
              "(torch + nvidia wheels, several GB, first time only)", flush=True)
        subprocess.run([str(venv_python), "-m", "pip", "install", "--disable-pip-version-check",
                        "-q", "-r", str(REQUIREMENTS)], check=True)
        marker.write_text(req_hash + "\n")
    os.execv(str(venv_python), [str(venv_python), str(Path(__file__).resolve()), *sys.argv[1:]])


# --------------------------------------------------------------------------
# texts
# --------------------------------------------------------------------------

# Real reviews by Id, from sample-2k.csv (Text column) unless noted.
ID_HTML_BR_A = "22"        # <br /> and <a href="...">
ID_HTML_A_SHORT = "2681"   # starts with <a href="...">...</a>
ID_QUOT = "1244"           # &quot; -- only in Reviews.partial.csv.gz (sample-2k has none)
ID_LONG_NEG = "968"        # 113 words, negative, some CAPS
ID_LONG_POS = "124"        # 128 words, positive
SHORT_POS = ["10", "3860", "5662", "6121", "2285", "2721", "4027", "565512"]
SHORT_NEG = ["567233", "3878", "7391", "6659", "4864", "6569", "2444", "6549"]

SYNTHETIC = {
    "empty": "",
    "accents": "Crème brûlée was très bon, naïve café",
    "emoji": "Love these chips 😍🔥👍 best snack ever!! 🍫",
    "chinese": "这个咖啡很好喝, and the green tea (绿茶) is great too",
    "punct": "!!!!!!???....",
    "caps": "THIS IS THE WORST COFFEE I HAVE EVER TASTED. DO NOT BUY IT!",
    "numbers": "Paid $12.99 for 3 boxes (24 oz each), that's $0.18/oz; 50% off vs. 1,200 in 2011.",
    "contractions": "I can't believe it's not butter; they're great, we'd've bought more & you'll love 'em.",
    "single_word": "Delicious",
    "whitespace": " \t\n   \r\n\t ",
    "unicode_ws_ctrl": "Tea\u00a0time\u200b with soft\u00adhyphen\u3000and\tTAB\x07bell",
}


def find_data_dir(arg):
    if arg:
        d = Path(arg)
        if not (d / "sample-2k.csv").is_file():
            sys.exit(f"make_fixtures: {d}/sample-2k.csv not found")
        return d
    for d in DATA_DIR_CANDIDATES:
        if (d / "sample-2k.csv").is_file():
            return d
    sys.exit("make_fixtures: amazon-fine-food data not found; pass --data-dir")


def load_texts(data_dir: Path):
    rows = {}
    with open(data_dir / "sample-2k.csv", encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            rows[r["Id"]] = r["Text"]
    full = {}
    with gzip.open(data_dir / "Reviews.partial.csv.gz", "rt", encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            if r["Id"] == ID_QUOT:
                full[r["Id"]] = r["Text"]
                break

    def get(i):
        if i in rows:
            return rows[i]
        if i in full:
            return full[i]
        sys.exit(f"make_fixtures: review Id {i} not found")

    texts = [
        SYNTHETIC["empty"],
        get(ID_HTML_BR_A),
        get(ID_HTML_A_SHORT),
        get(ID_QUOT),
        SYNTHETIC["accents"],
        SYNTHETIC["emoji"],
        SYNTHETIC["chinese"],
        SYNTHETIC["punct"],
        SYNTHETIC["caps"],
        SYNTHETIC["numbers"],
        SYNTHETIC["contractions"],
        SYNTHETIC["single_word"],
        SYNTHETIC["whitespace"],
        SYNTHETIC["unicode_ws_ctrl"],
        get(ID_LONG_NEG),
        get(ID_LONG_POS),
    ]
    texts += [get(i) for i in SHORT_POS]
    texts += [get(i) for i in SHORT_NEG]
    # sanity checks on the required kinds of text
    assert "<br />" in texts[1] and '<a href="' in texts[1]
    assert "&quot;" in texts[3]
    assert len(texts[14].split()) > 100 and len(texts[15].split()) > 100
    assert len(texts) >= 24
    return texts


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def r7(x: float) -> float:
    """Round to 7 significant digits."""
    return float(f"{x:.7g}")


def tokenize_all(texts, tok_file: Path, vocab_file: Path, label: str):
    """Fast tokenizer ids (truncation=True, max_length=55, no padding); assert the slow
    (pure-python) tokenizer from vocab.txt agrees. Returns (ids_list, vocab_ids_or_None)."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    fast = PreTrainedTokenizerFast(tokenizer_file=str(tok_file), unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]",
                                   pad_token="[PAD]", mask_token="[MASK]")
    raw = Tokenizer.from_file(str(tok_file))
    assert raw.padding is None, f"{tok_file} has padding set"
    assert raw.truncation is None, f"{tok_file} has truncation set"
    raw.enable_truncation(MAX_LEN)
    slow = BertTokenizerLegacy(vocab_file=str(vocab_file), do_lower_case=True)

    ids, vocab_ids, n_diff = [], [], 0
    for t in texts:
        a = fast(t, truncation=True, max_length=MAX_LEN)["input_ids"]
        b = raw.encode(t).ids
        c = slow(t, truncation=True, max_length=MAX_LEN)["input_ids"]
        assert a == b, f"[{label}] transformers fast != tokenizers for {t!r}"
        assert len(a) <= MAX_LEN and a[0] == fast.cls_token_id and a[-1] == fast.sep_token_id
        if a != c:
            n_diff += 1
            print(f"[{label}] WARNING fast != slow(vocab.txt) for {t!r}:\n  fast {a}\n  slow {c}")
        ids.append(a)
        vocab_ids.append(c)
    print(f"[{label}] tokenizer: fast == slow(vocab.txt) for {len(texts) - n_diff}/{len(texts)} texts")
    return ids, (vocab_ids if n_diff else None)


def embed(model, ids_list):
    """Batch run padded to the longest; returns (mean, pooler) float32 tensors, and the
    max abs difference to running each text alone (unpadded)."""
    import torch

    n = len(ids_list)
    L = max(len(x) for x in ids_list)
    input_ids = torch.zeros((n, L), dtype=torch.long)
    mask = torch.zeros((n, L), dtype=torch.long)
    for i, x in enumerate(ids_list):
        input_ids[i, :len(x)] = torch.tensor(x)
        mask[i, :len(x)] = 1
    tt = torch.zeros_like(input_ids)

    def run(ii, mm, tt_):
        with torch.no_grad():
            out = model(input_ids=ii, attention_mask=mm, token_type_ids=tt_)
        h = out.last_hidden_state
        m = mm.unsqueeze(-1).to(h.dtype)
        mean = (h * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)
        return mean, out.pooler_output

    mean, pooler = run(input_ids, mask, tt)
    max_diff = 0.0
    for i, x in enumerate(ids_list):
        ii = torch.tensor([x])
        m1, p1 = run(ii, torch.ones_like(ii), torch.zeros_like(ii))
        max_diff = max(max_diff, (m1[0] - mean[i]).abs().max().item(),
                       (p1[0] - pooler[i]).abs().max().item())
    return mean, pooler, max_diff


def write_expected(path: Path, model_name: str, texts, ids, vocab_ids, mean, pooler):
    import torch
    import transformers

    cases = []
    for i, t in enumerate(texts):
        c = {"text": t, "input_ids": ids[i], "attention_mask": [1] * len(ids[i])}
        if vocab_ids is not None:
            c["input_ids_vocab"] = vocab_ids[i]
        c["mean"] = [r7(v) for v in mean[i].tolist()]
        c["pooler"] = [r7(v) for v in pooler[i].tolist()]
        cases.append(c)
    doc = {
        "model": model_name,
        "reference": f"transformers {transformers.__version__}, torch {torch.__version__}",
        "max_len": MAX_LEN,
        "cases": cases,
    }
    write_cases_json(path, doc)


def write_cases_json(path: Path, doc: dict):
    """Write a fixture with one case per line: small, but still diffable."""
    cases = doc["cases"]
    body = ",\n".join(json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in cases)
    head = json.dumps({k: v for k, v in doc.items() if k != "cases"}, ensure_ascii=False)[:-1]
    text = head + ',\n "cases": [\n' + body + "\n]}\n"
    assert json.loads(text) == doc
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def load_reference(model_dir: Path):
    import torch
    from transformers import BertModel

    model = BertModel.from_pretrained(str(model_dir), attn_implementation="eager",
                                      dtype=torch.float32)
    model.eval()
    assert model.config._attn_implementation == "eager"
    assert all(p.dtype == torch.float32 for p in model.parameters())
    return model


# --------------------------------------------------------------------------
# MiniLM
# --------------------------------------------------------------------------

def make_minilm(texts):
    for f in ("config.json", "model.safetensors", "tokenizer.json", "vocab.txt"):
        if not (MODEL_DIR / f).is_file():
            sys.exit(f"make_fixtures: {MODEL_DIR / f} missing; run python3 scripts/fetch_model.py")
    ids, vocab_ids = tokenize_all(texts, MODEL_DIR / "tokenizer.json", MODEL_DIR / "vocab.txt",
                                  "minilm")
    model = load_reference(MODEL_DIR)
    mean, pooler, diff = embed(model, ids)
    print(f"[minilm] max |batched - single| = {diff:.3g}")
    assert diff < 1e-5, diff
    write_expected(FIXTURES / "minilm.json", "sentence-transformers/all-MiniLM-L6-v2",
                   texts, ids, vocab_ids, mean, pooler)
    return ids


# --------------------------------------------------------------------------
# tiny random BERT
# --------------------------------------------------------------------------

TINY_WORDS = """
the and to of is it this that for was in my not but with have are they you be so on
like good great taste coffee tea food dog cat love product very just can one all these
them buy would flavor no if or as at will best bad worst sugar price ever had get me do
out we our chocolate sweet bag box amazon order water milk snack chips cup
""".split()
TINY_SUBWORDS = """
##s ##ed ##ing ##ly ##er ##est ##ness ##able ##ful ##less ##tion ##es ##en ##al
##ic ##ous ##re ##ve ##ll ##th ##an ##in ##on ##at ##or ##ar ##ion ##ent
""".split()


def tiny_vocab():
    import string

    toks = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    singles = list(string.ascii_lowercase) + list(string.digits) + list(string.punctuation)
    toks += singles
    toks += ["##" + c for c in singles]
    for w in TINY_WORDS + TINY_SUBWORDS:
        if w not in toks:
            toks.append(w)
    assert len(toks) == len(set(toks))
    return toks


def tiny_config(vocab_size):
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": 32,
        "initializer_range": 0.02,
        "intermediate_size": 37,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": 64,
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "type_vocab_size": 2,
        "vocab_size": vocab_size,
    }


def build_tiny_tokenizer(vocab):
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece

    tok = Tokenizer(WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]",
                              continuing_subword_prefix="##", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                strip_accents=True, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab.index("[CLS]")), ("[SEP]", vocab.index("[SEP]"))],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.no_padding()
    tok.no_truncation()
    return tok


def tiny_weights(config):
    """Random weights (seed 0, std 0.02), quantized so f32/f16/bf16 hold the same numbers:
    everything = k/4096 with integer |k| <= 255; LayerNorm weights = 1 + j/128, |j| <= 12."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    model = BertModel(BertConfig(**config), add_pooling_layer=True)
    sd = model.state_dict()
    g = torch.Generator().manual_seed(0)
    out = {}
    for name in sorted(sd):
        t = sd[name]
        if not t.is_floating_point():
            continue  # buffers such as position_ids / token_type_ids
        if "LayerNorm.weight" in name:
            j = torch.round(torch.randn(t.shape, generator=g) * 4.0).clamp(-12, 12)
            q = 1.0 + j / 128.0
        else:
            k = torch.round(torch.randn(t.shape, generator=g) * (0.02 * 4096)).clamp(-255, 255)
            q = k / 4096.0
        q = q.to(torch.float32).contiguous()
        assert torch.equal(q.half().float(), q), name
        assert torch.equal(q.bfloat16().float(), q), name
        out[name] = q
    return out


def make_tiny(texts):
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import BertModel, BertConfig

    TINY_DIR.mkdir(parents=True, exist_ok=True)
    vocab = tiny_vocab()
    (TINY_DIR / "vocab.txt").write_text("".join(t + "\n" for t in vocab), encoding="utf-8")
    build_tiny_tokenizer(vocab).save(str(TINY_DIR / "tokenizer.json"))
    config = tiny_config(len(vocab))
    (TINY_DIR / "config.json").write_text(json.dumps(config, indent=2) + "\n")

    w = tiny_weights(config)
    f32 = {k: v.clone().contiguous() for k, v in w.items()}
    bf16 = {k: v.clone().to(torch.bfloat16).contiguous() for k, v in w.items()}
    f16 = {"bert." + k: v.clone().to(torch.float16).contiguous() for k, v in w.items()}
    g = torch.Generator().manual_seed(1)
    f16["bert.embeddings.position_ids"] = torch.arange(config["max_position_embeddings"],
                                                       dtype=torch.int64).unsqueeze(0).contiguous()
    f16["cls.predictions.bias"] = (torch.round(torch.randn(len(vocab), generator=g) * 80)
                                   .clamp(-255, 255) / 4096).to(torch.float16).contiguous()
    f16["cls.predictions.transform.dense.weight"] = (
        torch.round(torch.randn(32, 32, generator=g) * 80).clamp(-255, 255) / 4096
    ).to(torch.float16).contiguous()
    meta = {"format": "pt"}
    save_file(f32, str(TINY_DIR / "model.safetensors"), metadata=meta)
    save_file(f16, str(TINY_DIR / "model-prefixed-f16.safetensors"), metadata=meta)
    save_file(bf16, str(TINY_DIR / "model-bf16.safetensors"), metadata=meta)

    # Verify the three files hold exactly the same numbers.
    a = load_file(str(TINY_DIR / "model.safetensors"))
    b = load_file(str(TINY_DIR / "model-prefixed-f16.safetensors"))
    c = load_file(str(TINY_DIR / "model-bf16.safetensors"))
    assert set(a) == set(w) == set(c)
    assert set(b) == {"bert." + k for k in w} | {"bert.embeddings.position_ids",
                                                  "cls.predictions.bias",
                                                  "cls.predictions.transform.dense.weight"}
    for k in w:
        assert a[k].dtype == torch.float32 and torch.equal(a[k], w[k]), k
        assert b["bert." + k].dtype == torch.float16 and torch.equal(b["bert." + k].float(), w[k]), k
        assert c[k].dtype == torch.bfloat16 and torch.equal(c[k].float(), w[k]), k
    print(f"[tiny] {len(w)} tensors, {sum(v.numel() for v in w.values())} params; "
          "f32 == f16 == bf16 exactly")

    ids, vocab_ids = tokenize_all(texts, TINY_DIR / "tokenizer.json", TINY_DIR / "vocab.txt", "tiny")
    model = load_reference(TINY_DIR)
    # the loaded model must hold exactly our weights (nothing missing / re-initialised)
    msd = model.state_dict()
    for k, v in w.items():
        assert torch.equal(msd[k], v), f"from_pretrained did not load {k}"
    mean, pooler, diff = embed(model, ids)
    print(f"[tiny] max |batched - single| = {diff:.3g}")
    assert diff < 1e-5, diff

    # The f16-prefixed and bf16 files, upcast to f32, give bit-identical outputs.
    for fname, sd in (("model-prefixed-f16.safetensors", b), ("model-bf16.safetensors", c)):
        m2 = BertModel._from_config(BertConfig(**config), attn_implementation="eager",
                                    dtype=torch.float32).eval()
        assert m2.config._attn_implementation == "eager"
        sd2 = {k[len("bert."):] if k.startswith("bert.") else k: v.float()
               for k, v in sd.items() if not k.startswith("cls.")}
        sd2.pop("embeddings.position_ids", None)
        missing, unexpected = m2.load_state_dict(sd2, strict=False)
        assert not unexpected and all("position_ids" in k or "token_type_ids" in k
                                      for k in missing), (missing, unexpected)
        mean2, pooler2, _ = embed(m2, ids)
        assert torch.equal(mean2, mean) and torch.equal(pooler2, pooler), fname
    print("[tiny] f16-prefixed and bf16 files give identical outputs")

    write_expected(TINY_DIR / "expected.json", "tiny-random-bert", texts, ids, vocab_ids,
                   mean, pooler)
    return ids


# --------------------------------------------------------------------------
# tiny random BertForSequenceClassification (single- and multi-label heads)
# --------------------------------------------------------------------------

CLS_TEXTS = [
    "ok",
    "This coffee is great, I love it!",
    "Worst product ever. Do not buy.",
    "!!!!!!???.... ;-) (\"wow\") [sic] $12.99 & 50% off!",
    "Crème brûlée tea was très bon",
    "Love these chips 😍 best snack ever",
    "the dog and the cat like this milk but not the sugar",
    # far longer than MAX_LEN tokens with the tiny vocab: truncation matters
    "I have had many teas and coffees over the years, but this chocolate flavor is the "
    "best one I have ever bought on amazon. The price was good, the box was big, and my "
    "dog and cat love the smell too. Would buy again, no doubt about it!",
]

CLS_HEADS = {
    # name: (seed, problem_type, labels)
    "single": (23, "single_label_classification", ["negative", "neutral", "positive"]),
    "multi": (24, "multi_label_classification", ["sports", "politics", "tech", "food"]),
}


def r9(x: float) -> float:
    """Round to 9 significant digits (round-trips any float32 exactly)."""
    return float(f"{x:.9g}")


def cls_config(vocab_size, problem_type, labels):
    cfg = tiny_config(vocab_size)
    cfg["architectures"] = ["BertForSequenceClassification"]
    cfg["num_labels"] = len(labels)
    cfg["id2label"] = {i: l for i, l in enumerate(labels)}
    cfg["label2id"] = {l: i for i, l in enumerate(labels)}
    cfg["problem_type"] = problem_type
    return cfg


def cls_weights(model, seed):
    """Random float32 weights from `seed`, far larger than the default init (0.02) so the
    attention is not uniform, the [CLS] state (and so the predicted label) differs between
    texts and the logits are well away from zero: bert.encoder.* N(0, 0.3), classifier.weight
    N(0, 0.5), everything else N(0, 0.1); LayerNorm weights 1 + the same noise."""
    import torch

    g = torch.Generator().manual_seed(seed)
    sd = model.state_dict()
    out = {}
    for name in sorted(sd):
        t = sd[name]
        if not t.is_floating_point():
            continue  # buffers such as position_ids / token_type_ids
        if name == "classifier.weight":
            std = 0.5
        elif name.startswith("bert.encoder."):
            std = 0.3
        else:
            std = 0.1
        q = torch.randn(t.shape, generator=g, dtype=torch.float32) * std
        if "LayerNorm.weight" in name:
            q = q + 1.0
        out[name] = q.contiguous()
    missing, unexpected = model.load_state_dict(out, strict=False)
    assert not unexpected and all("position_ids" in k or "token_type_ids" in k
                                  for k in missing), (missing, unexpected)
    return out


def cls_logits(model, ids_list):
    """Logits of each text run alone (unpadded, the reference), and the max abs difference
    to one batch padded to the longest."""
    import torch

    single = []
    with torch.no_grad():
        for x in ids_list:
            ii = torch.tensor([x])
            single.append(model(input_ids=ii, attention_mask=torch.ones_like(ii),
                                token_type_ids=torch.zeros_like(ii)).logits[0])
        logits = torch.stack(single)
        n, L = len(ids_list), max(len(x) for x in ids_list)
        ii = torch.zeros((n, L), dtype=torch.long)
        mm = torch.zeros((n, L), dtype=torch.long)
        for i, x in enumerate(ids_list):
            ii[i, :len(x)] = torch.tensor(x)
            mm[i, :len(x)] = 1
        batched = model(input_ids=ii, attention_mask=mm, token_type_ids=torch.zeros_like(ii)).logits
    assert logits.dtype == torch.float32
    return logits, (batched - logits).abs().max().item()


def cls_probs(logits, problem_type):
    import torch

    if problem_type == "single_label_classification":
        return torch.softmax(logits, dim=-1)
    assert problem_type == "multi_label_classification"
    return torch.sigmoid(logits)


def save_cls_tokenizer(out_dir: Path, tiny_vocab_tokens):
    """vocab.txt + tokenizer.json (the tiny model's, byte for byte) and the small
    tokenizer_config.json / special_tokens_map.json that transformers writes for them."""
    import shutil
    import tempfile
    from transformers import BertTokenizerFast

    (out_dir / "vocab.txt").write_text("".join(t + "\n" for t in tiny_vocab_tokens),
                                       encoding="utf-8")
    build_tiny_tokenizer(tiny_vocab_tokens).save(str(out_dir / "tokenizer.json"))
    for f in ("vocab.txt", "tokenizer.json"):
        if (TINY_DIR / f).is_file() and (TINY_DIR / f).read_bytes() != (out_dir / f).read_bytes():
            print(f"[tiny-cls] WARNING {out_dir.name}/{f} differs from tiny/{f}")
    tok = BertTokenizerFast(tokenizer_file=str(out_dir / "tokenizer.json"),
                            vocab_file=str(out_dir / "vocab.txt"), do_lower_case=True,
                            unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
                            pad_token="[PAD]", mask_token="[MASK]",
                            model_max_length=tiny_config(1)["max_position_embeddings"])
    with tempfile.TemporaryDirectory() as tmp:
        written = tok.save_pretrained(tmp)
        for p in map(Path, written):
            if p.name in ("tokenizer_config.json", "special_tokens_map.json"):
                shutil.copyfile(p, out_dir / p.name)
    print(f"[tiny-cls] tokenizer files from save_pretrained: "
          f"{sorted(Path(p).name for p in written)}; kept vocab.txt, tokenizer.json, "
          f"{sorted(p.name for p in out_dir.glob('*.json') if p.name != 'tokenizer.json' and p.name != 'config.json')}")


def write_cls_expected(path: Path, heads, texts, ids, truncated, results):
    import torch
    import transformers

    cases = []
    for i, t in enumerate(texts):
        c = {"text": t, "input_ids": ids[i], "attention_mask": [1] * len(ids[i]),
             "truncated": truncated[i]}
        for name, (logits, probs) in results.items():
            labels = heads[name]["labels"]
            if heads[name]["problem_type"] == "single_label_classification":
                pred = labels[int(torch.argmax(logits[i]))]
            else:
                pred = [labels[j] for j in range(len(labels)) if probs[i, j].item() >= 0.5]
            c[name] = {"logits": [r9(v) for v in logits[i].tolist()],
                       "probs": [r9(v) for v in probs[i].tolist()],
                       "pred": pred}
        cases.append(c)
    doc = {
        "model": "tiny-random-bert-for-sequence-classification",
        "reference": f"transformers {transformers.__version__}, torch {torch.__version__}",
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "max_len": MAX_LEN,
        "truncation": True,
        "heads": heads,
        "cases": cases,
    }
    write_cases_json(path, doc)


def make_tiny_cls():
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, BertConfig,
                              BertForSequenceClassification)

    vocab = tiny_vocab()
    TINY_CLS_DIR.mkdir(parents=True, exist_ok=True)
    heads, results, weights = {}, {}, {}
    ids = truncated = None
    for name, (seed, problem_type, labels) in CLS_HEADS.items():
        out_dir = TINY_CLS_DIR / name
        out_dir.mkdir(parents=True, exist_ok=True)
        for p in out_dir.iterdir():  # start clean: save_pretrained only adds files
            if p.is_file():
                p.unlink()
        save_cls_tokenizer(out_dir, vocab)
        if ids is None:
            ids, _ = tokenize_all(CLS_TEXTS, out_dir / "tokenizer.json", out_dir / "vocab.txt",
                                  "tiny-cls")
            raw = [tokenize_untruncated(t, out_dir / "tokenizer.json") for t in CLS_TEXTS]
            truncated = [len(r) > MAX_LEN for r in raw]
            print(f"[tiny-cls] token counts (untruncated): {[len(r) for r in raw]}")
            assert any(len(r) > 60 for r in raw) and truncated.count(True) >= 1
        # AutoTokenizer on the saved folder must give the same ids.
        auto = AutoTokenizer.from_pretrained(str(out_dir))
        for t, x in zip(CLS_TEXTS, ids):
            assert auto(t, truncation=True, max_length=MAX_LEN)["input_ids"] == x, (name, t)

        torch.manual_seed(seed)
        cfg = BertConfig(**cls_config(len(vocab), problem_type, labels))
        model = BertForSequenceClassification._from_config(cfg, attn_implementation="eager",
                                                           dtype=torch.float32).eval()
        w = cls_weights(model, seed)
        weights[name] = w
        model.save_pretrained(str(out_dir), safe_serialization=True)
        saved_cfg = json.loads((out_dir / "config.json").read_text())
        assert saved_cfg["architectures"] == ["BertForSequenceClassification"], saved_cfg
        assert saved_cfg["problem_type"] == problem_type, saved_cfg
        assert saved_cfg["id2label"] == {str(i): l for i, l in enumerate(labels)}, saved_cfg
        assert saved_cfg["label2id"] == {l: i for i, l in enumerate(labels)}, saved_cfg

        logits, diff = cls_logits(model, ids)
        print(f"[tiny-cls/{name}] max |batched - single| = {diff:.3g}; logits min "
              f"{logits.min().item():.3f} max {logits.max().item():.3f} "
              f"std {logits.std().item():.3f}")
        assert diff < 1e-5, diff
        assert logits.abs().max().item() > 1.0, "logits too close to zero"
        assert len(set(logits.argmax(-1).tolist())) > 1, "every text predicts the same label"
        results[name] = (logits, cls_probs(logits, problem_type))
        heads[name] = {"dir": name, "seed": seed, "problem_type": problem_type,
                       "num_labels": len(labels), "labels": labels}

    # model-bare.safetensors: the single head's weights without the "bert." prefix.
    single_dir = TINY_CLS_DIR / "single"
    pref = load_file(str(single_dir / "model.safetensors"))
    bare = {(k[len("bert."):] if k.startswith("bert.") else k): v.clone().contiguous()
            for k, v in pref.items()}
    assert len(bare) == len(pref)
    save_file(bare, str(single_dir / "model-bare.safetensors"), metadata={"format": "pt"})

    # Checks: reload every saved folder with transformers; logits must match expected.
    for name in CLS_HEADS:
        out_dir = TINY_CLS_DIR / name
        m = AutoModelForSequenceClassification.from_pretrained(
            str(out_dir), attn_implementation="eager", dtype=torch.float32).eval()
        assert type(m).__name__ == "BertForSequenceClassification"
        assert m.config._attn_implementation == "eager"
        assert m.config.problem_type == CLS_HEADS[name][1]
        msd = m.state_dict()
        for k, v in weights[name].items():
            assert torch.equal(msd[k], v), f"from_pretrained did not load {name}/{k}"
        logits, _ = cls_logits(m, ids)
        assert torch.equal(logits, results[name][0]), name
    # the bare file, mapped back by hand ("bert." + everything but classifier.*)
    m = BertForSequenceClassification._from_config(
        BertConfig(**cls_config(len(vocab), *CLS_HEADS["single"][1:])),
        attn_implementation="eager", dtype=torch.float32).eval()
    sd = {(k if k.startswith("classifier.") else "bert." + k): v
          for k, v in load_file(str(single_dir / "model-bare.safetensors")).items()}
    missing, unexpected = m.load_state_dict(sd, strict=False)
    assert not unexpected and all("position_ids" in k or "token_type_ids" in k
                                  for k in missing), (missing, unexpected)
    logits, _ = cls_logits(m, ids)
    assert torch.equal(logits, results["single"][0]), "model-bare"
    print("[tiny-cls] reloaded single/, multi/ (from_pretrained) and single/model-bare "
          "(by hand): identical logits")
    for name, f in (("single", "model.safetensors"), ("single", "model-bare.safetensors"),
                    ("multi", "model.safetensors")):
        with safe_open(str(TINY_CLS_DIR / name / f), framework="pt") as st:
            keys = sorted(st.keys())
            dtypes = sorted({str(st.get_slice(k).get_dtype()) for k in keys})
        print(f"[tiny-cls] {name}/{f}: {len(keys)} tensors, dtypes {dtypes}")
        for k in keys:
            print(f"    {k}")

    write_cls_expected(TINY_CLS_DIR / "expected.json", heads, CLS_TEXTS, ids, truncated,
                       results)
    # The written JSON must give back the logits to 1e-6.
    doc = json.loads((TINY_CLS_DIR / "expected.json").read_text(encoding="utf-8"))
    for name in CLS_HEADS:
        got = torch.tensor([c[name]["logits"] for c in doc["cases"]])
        assert (got - results[name][0]).abs().max().item() < 1e-6, name
    return ids


def tokenize_untruncated(text, tok_file: Path):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(tok_file)).encode(text).ids


# --------------------------------------------------------------------------
# integrated-gradients word attributions of the tiny-cls heads (float64 reference)
# --------------------------------------------------------------------------

# Texts of tiny-cls/expected.json: the shortest, three with punctuation, the longest
# (truncated at MAX_LEN). Their input_ids are taken from expected.json.
ATTR_TEXTS = [CLS_TEXTS[0], CLS_TEXTS[1], CLS_TEXTS[2], CLS_TEXTS[3], CLS_TEXTS[7]]
ATTR_STEPS = 20             # Gauss-Legendre nodes on [0, 1]
ATTR_CHECK_STEPS = 2000     # midpoint rule, for the convergence check
ATTR_CHECK_CHUNK = 250      # interpolation points per forward/backward of the check
ATTR_PAD_ID = 0


def attr_probs(model, x, problem_type):
    """Probabilities of the labels for an input-embedding batch x (n, seq, hidden)."""
    import torch

    n, seq = x.shape[0], x.shape[1]
    logits = model(inputs_embeds=x, attention_mask=torch.ones((n, seq), dtype=torch.long),
                   token_type_ids=torch.zeros((n, seq), dtype=torch.long)).logits
    return cls_probs(logits, problem_type)


def attr_log_odds(model, x, problem_type, label):
    """The label's log-odds ln(p / (1 - p)) for an input-embedding batch x, from the logits:
    the logit itself under a sigmoid, z_c - logsumexp(z_j, j != c) under a softmax."""
    import torch

    n, seq = x.shape[0], x.shape[1]
    z = model(inputs_embeds=x, attention_mask=torch.ones((n, seq), dtype=torch.long),
              token_type_ids=torch.zeros((n, seq), dtype=torch.long)).logits
    if problem_type == "multi_label_classification":
        return z[:, label]
    others = torch.cat([z[:, :label], z[:, label + 1:]], dim=1)
    return z[:, label] - torch.logsumexp(others, dim=1)


def attr_integral(model, e, b, label, problem_type, alphas, weights, chunk=None):
    """attr[t] = sum_h (e - b)[t, h] * sum_i weights_i * d g(b + alphas_i (e - b)) / dx[t, h],
    g the label's log-odds, with one backward per chunk of interpolation points."""
    import torch

    d = e - b
    grad_sum = torch.zeros_like(e)
    n = len(alphas)
    chunk = chunk or n
    for s in range(0, n, chunk):
        a = torch.tensor(alphas[s:s + chunk], dtype=e.dtype)
        w = torch.tensor(weights[s:s + chunk], dtype=e.dtype)
        x = (b.unsqueeze(0) + a[:, None, None] * d.unsqueeze(0)).detach().requires_grad_(True)
        total = (w * attr_log_odds(model, x, problem_type, label)).sum()
        (g,) = torch.autograd.grad(total, x)
        grad_sum += g.sum(0)
    return (d * grad_sum).sum(-1)


def write_attributions_json(path: Path, doc: dict):
    """One case per line (like write_cases_json), the cases nested under each head."""
    top = {k: v for k, v in doc.items() if k != "heads"}
    parts = []
    for name, head in doc["heads"].items():
        h = json.dumps({k: v for k, v in head.items() if k != "cases"}, ensure_ascii=False)[:-1]
        body = ",\n".join(json.dumps(c, ensure_ascii=False, separators=(",", ":"))
                          for c in head["cases"])
        parts.append(f' {json.dumps(name)}: ' + h + ', "cases": [\n' + body + "\n ]}")
    text = json.dumps(top, ensure_ascii=False)[:-1] + ',\n "heads": {\n' + ",\n".join(parts) + "\n}}\n"
    assert json.loads(text) == doc
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def make_attributions():
    import numpy as np
    import torch
    import transformers
    from transformers import AutoModelForSequenceClassification

    expected = json.loads((TINY_CLS_DIR / "expected.json").read_text(encoding="utf-8"))
    assert expected["max_len"] == MAX_LEN, expected["max_len"]
    by_text = {c["text"]: c for c in expected["cases"]}
    missing = [t for t in ATTR_TEXTS if t not in by_text]
    if missing:
        sys.exit(f"make_fixtures: texts not in tiny-cls/expected.json: {missing}")
    cases = [by_text[t] for t in ATTR_TEXTS]
    ids = [c["input_ids"] for c in cases]
    lens = [len(c["input_ids"]) for c in expected["cases"]]
    assert min(lens) in map(len, ids) and max(lens) in map(len, ids), (lens, list(map(len, ids)))
    assert max(map(len, ids)) == MAX_LEN and any(c["truncated"] for c in cases)
    # the recorded ids must be exactly what the tokenizers give today
    for name in CLS_HEADS:
        d = TINY_CLS_DIR / name
        got, _ = tokenize_all(ATTR_TEXTS, d / "tokenizer.json", d / "vocab.txt",
                              f"attributions/{name}")
        for t, a, b in zip(ATTR_TEXTS, got, ids):
            if a != b:
                sys.exit(f"make_fixtures: [attributions/{name}] tokenize_all gives {a} for "
                         f"{t!r}, tiny-cls/expected.json has {b}")

    nodes, gl_w = np.polynomial.legendre.leggauss(ATTR_STEPS)
    gl_alpha = ((nodes + 1.0) / 2.0).tolist()
    gl_w = (gl_w / 2.0).tolist()
    mid_alpha = ((np.arange(ATTR_CHECK_STEPS) + 0.5) / ATTR_CHECK_STEPS).tolist()
    mid_w = [1.0 / ATTR_CHECK_STEPS] * ATTR_CHECK_STEPS

    heads = {}
    for name, (_seed, problem_type, labels) in CLS_HEADS.items():
        model = AutoModelForSequenceClassification.from_pretrained(
            str(TINY_CLS_DIR / name), attn_implementation="eager", dtype=torch.float32).eval()
        assert type(model).__name__ == "BertForSequenceClassification"
        assert model.config.problem_type == problem_type and model.config.num_labels == len(labels)
        # float32 first: the folder must still give expected.json's logits
        with torch.no_grad():
            for c, x in zip(cases, ids):
                ii = torch.tensor([x])
                lg = model(input_ids=ii, attention_mask=torch.ones_like(ii),
                           token_type_ids=torch.zeros_like(ii)).logits[0]
                diff = (lg - torch.tensor(c[name]["logits"])).abs().max().item()
                assert diff < 1e-6, (name, c["text"], diff)
        model = model.double().eval()
        assert all(p.dtype == torch.float64 for p in model.parameters())
        for p in model.parameters():
            p.requires_grad_(False)
        emb = model.bert.embeddings.word_embeddings

        out, inputs = [], []
        for c, x in zip(cases, ids):
            ii = torch.tensor([x])
            with torch.no_grad():
                e = emb(ii)[0]
                b = e.clone()
                b[1:-1] = emb(torch.tensor([ATTR_PAD_ID]))[0]
                pe = attr_probs(model, e.unsqueeze(0), problem_type)[0]
                pb = attr_probs(model, b.unsqueeze(0), problem_type)[0]
            # the float64 probabilities agree with expected.json's float32 ones
            assert (pe - torch.tensor(c[name]["probs"], dtype=torch.float64)).abs().max() < 1e-5
            label = int(torch.argmax(pe))  # ties: lowest index
            with torch.no_grad():
                le = attr_log_odds(model, e.unsqueeze(0), problem_type, label)[0].item()
                lb = attr_log_odds(model, b.unsqueeze(0), problem_type, label)[0].item()
            # the log-odds is the probability's, computed without rounding through it
            for lo, pr in ((le, pe[label].item()), (lb, pb[label].item())):
                assert abs(lo - math.log(pr / (1 - pr))) < 1e-9, (lo, pr)
            attr = attr_integral(model, e, b, label, problem_type, gl_alpha, gl_w)
            assert attr[0].item() == 0.0 and attr[-1].item() == 0.0
            gap = attr.sum().item() - (le - lb)
            print(f"[attributions/{name}] {c['text'][:40]!r:44} seq {len(x):2}  label {label} "
                  f"({labels[label]})  p {pe[label].item():.6f}  baseline p "
                  f"{pb[label].item():.6f}  log-odds {le:+.6f} baseline {lb:+.6f}  sum attr {attr.sum().item():+.9f}  "
                  f"completeness gap {gap:+.3e}")
            # quadrature error: 1 % of the change at most, so bertweb does not refine (it
            # doubles the nodes above 5 %) and the parity is of the same 20 nodes
            assert abs(gap) < 0.01 * abs(le - lb) + 1e-5, gap
            case = {"text": c["text"], "input_ids": x, "label": label,
                    "probability": r9(pe[label].item()),
                    "baseline_probability": r9(pb[label].item()),
                    "log_odds": r9(le), "baseline_log_odds": r9(lb), "steps": ATTR_STEPS,
                    "attributions": [r9(v) for v in attr.tolist()],
                    "completeness_gap": r9(gap)}
            out.append(case)
            inputs.append((e, b, label, attr, le - lb, gap))
        # Convergence of the 20 nodes: the case with the largest completeness gap (the
        # hardest integrand) against the midpoint rule with ATTR_CHECK_STEPS points.
        ci = max(range(len(out)), key=lambda i: abs(inputs[i][5]))
        e, b, label, attr, delta, _ = inputs[ci]
        ref = attr_integral(model, e, b, label, problem_type, mid_alpha, mid_w,
                            chunk=ATTR_CHECK_CHUNK)
        mdiff = (ref - attr).abs().max().item()
        print(f"[attributions/{name}] {out[ci]['text'][:40]!r}: {ATTR_CHECK_STEPS}-step midpoint "
              f"vs {ATTR_STEPS}-node Gauss-Legendre: per-token max |diff| {mdiff:.3e} (max "
              f"|attr| {attr.abs().max().item():.3e}); completeness gap midpoint "
              f"{ref.sum().item() - delta:+.3e}, Gauss-Legendre {inputs[ci][5]:+.3e}")
        assert mdiff < 1e-3, mdiff  # converged well inside the parity tolerance
        out[ci]["riemann_check"] = {"rule": "midpoint", "steps": ATTR_CHECK_STEPS,
                                    "max_abs_diff": r9(mdiff)}
        heads[name] = {"dir": name, "problem_type": problem_type, "cases": out}

    doc = {
        "method": f"integrated gradients, Gauss-Legendre {ATTR_STEPS} nodes on [0,1], baseline "
                  "[CLS] [PAD]… [SEP] word embeddings, target = predicted label's log-odds "
                  "ln(p / (1 - p)) from the logits (softmax / sigmoid)",
        "reference": f"transformers {transformers.__version__}, torch {torch.__version__}, "
                     "float64",
        "steps": ATTR_STEPS,
        "max_len": MAX_LEN,
        "heads": heads,
    }
    path = TINY_CLS_DIR / "attributions.json"
    write_attributions_json(path, doc)
    print(f"[attributions] wrote {path.relative_to(REPO_ROOT)} ({path.stat().st_size} B)")
    return ids


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", help="folder with sample-2k.csv and Reviews.partial.csv.gz")
    ap.add_argument("--only", action="append", choices=PARTS, metavar="PART",
                    help=f"make only this part (repeatable; one of {', '.join(PARTS)}; "
                         "default: all)")
    args = ap.parse_args()
    parts = args.only or list(PARTS)
    ensure_venv()

    import torch
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    FIXTURES.mkdir(parents=True, exist_ok=True)
    counts = {}
    if "minilm" in parts or "tiny" in parts:
        data_dir = find_data_dir(args.data_dir)
        texts = load_texts(data_dir)
        print(f"make_fixtures: {len(texts)} texts from {data_dir}")
        if "minilm" in parts:
            counts["minilm"] = make_minilm(texts)
        if "tiny" in parts:
            counts["tiny"] = make_tiny(texts)
    if "tiny-cls" in parts:
        counts["tiny-cls"] = make_tiny_cls()
    if "attributions" in parts:
        counts["attributions"] = make_attributions()

    print("\nfixture files:")
    for p in sorted(FIXTURES.rglob("*")):
        if p.is_file():
            h = hashlib.sha256(p.read_bytes()).hexdigest()
            print(f"  {p.relative_to(REPO_ROOT)}  {p.stat().st_size:>8} B  sha256 {h}")
    for d in (TINY_DIR, TINY_CLS_DIR):
        if d.is_dir():
            total = sum(p.stat().st_size for p in d.rglob("*") if p.is_file())
            print(f"  {d.name}/ total {total} B")
    print("token counts (" + " / ".join(counts) + "):",
          *[[len(x) for x in ids] for ids in counts.values()])


if __name__ == "__main__":
    main()
