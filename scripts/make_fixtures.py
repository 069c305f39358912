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

Reference = transformers.BertModel, float32, eval(), attn_implementation="eager", CPU.

Prerequisite: `python3 scripts/fetch_model.py` (models/all-MiniLM-L6-v2/).
The script creates/uses the venv ~/.cache/bertweb-py (requirements in
scripts/requirements-fixtures.txt) and re-executes itself inside it.

Usage: python3 scripts/make_fixtures.py [--data-dir DIR]
"""

import argparse
import csv
import gzip
import hashlib
import json
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
    # One case per line: small, but still diffable.
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", help="folder with sample-2k.csv and Reviews.partial.csv.gz")
    args = ap.parse_args()
    ensure_venv()

    import torch
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    data_dir = find_data_dir(args.data_dir)
    texts = load_texts(data_dir)
    print(f"make_fixtures: {len(texts)} texts from {data_dir}")
    FIXTURES.mkdir(parents=True, exist_ok=True)

    mini_ids = make_minilm(texts)
    tiny_ids = make_tiny(texts)

    print("\nfixture files:")
    for p in sorted(FIXTURES.rglob("*")):
        if p.is_file():
            h = hashlib.sha256(p.read_bytes()).hexdigest()
            print(f"  {p.relative_to(REPO_ROOT)}  {p.stat().st_size:>8} B  sha256 {h}")
    tiny_total = sum(p.stat().st_size for p in TINY_DIR.iterdir() if p.is_file())
    print(f"  tiny/ total {tiny_total} B")
    print("token counts (minilm / tiny):",
          [len(x) for x in mini_ids], [len(x) for x in tiny_ids])


if __name__ == "__main__":
    main()
