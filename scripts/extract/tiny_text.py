"""Random-weight text encoders of every text family but BERT (whose tiny model make_tiny_models.py
writes) in the folder layout the extract stage reads, each with a tokenizer.json whose pipeline is the
family's real one, built by transformers' own converters (convert_slow_tokenizer), plus Python
references: token ids from the `tokenizers` library on a hard case list and PyTorch hidden states.

    python tiny_text.py                # test fixtures (committed)
    python tiny_text.py --real DIR     # one real-size random-weight model per text family (BERT too) in DIR/<model_type>/

Families and vocabularies (no Hub access here, so no real vocabulary but BERT's is at hand):
  electra      WordPiece, lowercase; google/electra-* use the bert-base-uncased vocabulary, which is
               taken from test/fixtures/models/bert-base-uncased-tokenizer (the 600-entry subset
               make_tiny_models.tiny_vocab draws from it).
  mpnet        WordPiece, lowercase, <s> A </s></s> B </s> (MPNetConverter); the real vocabulary is
               bert-base-uncased's with <s> <pad> </s> <unk> in front and <mask> at the end: same here
               with the subset.
  roberta      byte-level BPE, RobertaProcessing (RobertaConverter); vocabulary and merges TRAINED
               here (tokenizers BpeTrainer, 1000 entries) on the corpus below.
  xlm-roberta  SentencePiece Unigram with the nmt_nfkc precompiled charsmap, WhitespaceSplit +
               Metaspace (XLMRobertaConverter); sentencepiece model TRAINED here (1000 pieces).
  deberta-v2   DeBERTa-v3: SentencePiece Unigram, [CLS]/[SEP]/[PAD]/[UNK] as its spm.model has them,
               Strip + Precompiled + Replace, Metaspace (DebertaV2Converter); TRAINED here (1000).
The corpus is built deterministically from the bert-base-uncased words and a few sentences in other
scripts, so the trained vocabularies hold accents, CJK and emoji pieces (and miss others: <unk>).

Outputs: test/fixtures/models/tiny-<model_type>/, text-families.json and tokenizer-fuzz.json (random
Unicode text through every family's tokenizer.json, BERT's real one included).
Deterministic (seeded weights and corpus).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import sys
import tempfile
from types import SimpleNamespace

import numpy as np
import onnxruntime as ort
import sentencepiece as spm
import torch
import transformers
from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, trainers
from transformers import (
    AutoTokenizer,
    DebertaV2Config,
    DebertaV2Model,
    ElectraConfig,
    ElectraModel,
    MPNetConfig,
    MPNetModel,
    RobertaConfig,
    RobertaModel,
    XLMRobertaConfig,
    XLMRobertaModel,
)
from transformers.convert_slow_tokenizer import (
    DebertaV2Converter,
    MPNetConverter,
    RobertaConverter,
    XLMRobertaConverter,
)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tiny_models import (  # noqa: E402
    FIXTURES,
    MAX_TOKENS,
    TEXT_CASES,
    TOKENIZER_CASES,
    build_tokenizer,
    export,
    make_bert,
    tiny_vocab,
)

VOCAB = 1000
EXTRA_TEXT_CASES = [("multilingual", "Ærøskøbing, 我爱你 😀 Straße — ΟΔΥΣΣΕΥΣ!", [])]
# beyond make_tiny_models.TOKENIZER_CASES: every family's special tokens typed into text (lstrip of
# <mask>), runs of spaces and edge spaces (Strip / Replace normalizers), compatibility characters
# (the precompiled charsmap), bytes a BPE merges across
EXTRA_TOKEN_CASES = [
    ("Special <s>tokens</s> typed <mask> in [CLS] text [MASK] <unk> <pad>", []),
    ("  two  spaces   here\u3000and\u00a0there  ", ["  leading context  ", "trailing   "]),
    ("ｆｕｌｌ ｗｉｄｔｈ ①½ ﬁ ㍿ Ⅻ ＡＢＣ１２３ ｶﾀｶﾅ", []),
    ("naïve\u0301 cafe\u0301 \U0001F468\u200D\U0001F469\u200D\U0001F467 flags \U0001F1EB\U0001F1F7 \u00e9\u0323", []),
]
SENTENCES = [
    "Café naïve résumé à la façade, déjà vu; où est la gare? Ça va très bien, merci.",
    "Straße, Größe, Übermaß und schön: Österreich ist groß. Ärger über Öl.",
    "¿Dónde está la estación? Mañana será un día increíble, señor.",
    "Ὁ Ὀδυσσεύς, Διαλεκτικός λόγος, ΟΔΥΣΣΕΥΣ, αγάπη και ζωή.",
    "Привет, как дела? Всё хорошо, спасибо большое.",
    "我爱你。你好，世界！今天天气很好。中文字符测试。",
    "こんにちは、世界。日本語のテキストです。ありがとう。",
    "안녕하세요 세계. 감사합니다. 한국어 문장입니다.",
    "مرحبا بالعالم. شكرا جزيلا.",
    "emoji 😀 😂 👍 ❤️ 🎉 and symbols © ® ™ … — “quotes” «guillemets» ½ ① ｆｕｌｌ ｗｉｄｔｈ",
]


def corpus(bert_words: list[str], n: int = 6000) -> list[str]:
    rng = random.Random(7)
    words = [w for w in bert_words if w.isascii() and w.isalpha() and not w.startswith("##")]
    lines = []
    for i in range(n):
        ws = [rng.choice(words) for _ in range(rng.randint(4, 14))]
        if rng.random() < 0.3:
            ws[0] = ws[0].capitalize()
        line = " ".join(ws) + rng.choice([".", "?", "!", ",", "..."])
        lines.append(line if i % 4 else SENTENCES[(i // 4) % len(SENTENCES)])
    return lines


def load_bert_vocab() -> list[str]:
    j = json.load(open(os.path.join(FIXTURES, "bert-base-uncased-tokenizer", "tokenizer.json"), encoding="utf-8"))
    return [t for t, _ in sorted(j["model"]["vocab"].items(), key=lambda kv: kv[1])]


def r(a: np.ndarray) -> list:
    """6 significant digits: well inside the tests' 1e-4 and a third smaller than make_tiny_models.r."""
    return [float(f"{v:.6g}") for v in np.asarray(a, dtype=np.float64).ravel()]


# ---------------------------------------------------------------------------------------------------
# tokenizers (the family's real pipeline, through transformers' converters)


def tok_electra(bert_vocab: list[str]) -> Tokenizer:
    return build_tokenizer(tiny_vocab(bert_vocab))  # BertConverter's pipeline, lowercase


def tok_mpnet(bert_vocab: list[str]) -> Tokenizer:
    vocab = ["<s>", "<pad>", "</s>", "<unk>"] + tiny_vocab(bert_vocab) + ["<mask>"]
    ids = {t: i for i, t in enumerate(vocab)}
    basic = SimpleNamespace(tokenize_chinese_chars=True, strip_accents=None, do_lower_case=True)
    ot = SimpleNamespace(vocab=ids, unk_token="[UNK]", cls_token="<s>", sep_token="</s>", cls_token_id=0,
                         sep_token_id=2, basic_tokenizer=basic)
    tok = MPNetConverter(ot).converted()
    tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", "[UNK]", AddedToken("<mask>", lstrip=True, special=True)])
    return tok


def tok_roberta(lines: list[str]) -> Tokenizer:
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=VOCAB - 1, special_tokens=specials, show_progress=False,
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    m = json.loads(t.to_str())["model"]
    vocab = dict(m["vocab"])
    vocab["<mask>"] = len(vocab)
    merges = [tuple(x.split(" ")) if isinstance(x, str) else tuple(x) for x in m["merges"]]
    ot = SimpleNamespace(encoder=vocab, bpe_ranks={mg: i for i, mg in enumerate(merges)}, add_prefix_space=False,
                         sep_token="</s>", sep_token_id=2, cls_token="<s>", cls_token_id=0)
    tok = RobertaConverter(ot).converted()
    tok.add_special_tokens(specials + [AddedToken("<mask>", lstrip=True, special=True)])
    return tok


def train_spm(lines: list[str], path: str, **kw) -> None:
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_prefix=path, model_type="unigram",
                                   vocab_size=VOCAB, normalization_rule_name="nmt_nfkc", character_coverage=0.9995,
                                   hard_vocab_limit=False, num_threads=1, minloglevel=2, **kw)


def tok_xlmr(lines: list[str], work: str) -> Tokenizer:
    train_spm(lines, os.path.join(work, "xlmr"))
    conv = XLMRobertaConverter.__new__(XLMRobertaConverter)
    ot = SimpleNamespace(vocab_file=os.path.join(work, "xlmr.model"), add_prefix_space=True)
    XLMRobertaConverter.__init__(conv, ot)
    vocab = {p: i for i, (p, _) in enumerate(conv.vocab(conv.proto))}
    ot.convert_tokens_to_ids = lambda t: vocab[t]
    tok = conv.converted()
    tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", AddedToken("<mask>", lstrip=True, special=True)])
    return tok


def tok_deberta(lines: list[str], work: str) -> Tokenizer:
    train_spm(lines, os.path.join(work, "deberta"), pad_id=0, bos_id=1, eos_id=2, unk_id=3, pad_piece="[PAD]",
              bos_piece="[CLS]", eos_piece="[SEP]", unk_piece="[UNK]")
    conv = DebertaV2Converter.__new__(DebertaV2Converter)
    ot = SimpleNamespace(vocab_file=os.path.join(work, "deberta.model"), add_prefix_space=True, do_lower_case=False,
                         split_by_punct=False)
    DebertaV2Converter.__init__(conv, ot)
    vocab = {p: i for i, (p, _) in enumerate(conv.vocab(conv.proto))}
    ot.convert_tokens_to_ids = lambda t: vocab[t]
    tok = conv.converted()
    tok.add_special_tokens(["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"])
    return tok


# ---------------------------------------------------------------------------------------------------
# models: (config class, model class, tiny overrides, whether the graph takes token_type_ids)

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, attn_implementation="eager")
FAMILIES = {
    "electra": (ElectraConfig, ElectraModel, dict(embedding_size=16, max_position_embeddings=512), True),
    "mpnet": (MPNetConfig, MPNetModel, dict(max_position_embeddings=514, pad_token_id=1, bos_token_id=0,
                                            eos_token_id=2), False),
    "roberta": (RobertaConfig, RobertaModel, dict(max_position_embeddings=514, pad_token_id=1, type_vocab_size=1), False),
    "xlm-roberta": (XLMRobertaConfig, XLMRobertaModel, dict(max_position_embeddings=514, pad_token_id=1,
                                                            type_vocab_size=1), False),
    # DeBERTa-v3's configuration (relative attention, log buckets, no absolute positions, no type ids)
    "deberta-v2": (DebertaV2Config, DebertaV2Model, dict(
        max_position_embeddings=512, relative_attention=True, position_buckets=32, max_relative_positions=-1,
        pos_att_type=["p2c", "c2p"], norm_rel_ebd="layer_norm", share_att_key=True, position_biased_input=False,
        type_vocab_size=0, pad_token_id=0), False),
}
BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, max_position_embeddings=512)
REAL = {"deberta-v2": dict(**BASE, relative_attention=True, position_buckets=256, max_relative_positions=-1,
                           pos_att_type=["p2c", "c2p"], norm_rel_ebd="layer_norm", share_att_key=True,
                           position_biased_input=False, type_vocab_size=0, pad_token_id=0),
        "electra": dict(**BASE, embedding_size=768),
        "mpnet": dict(**{**BASE, "max_position_embeddings": 514}, pad_token_id=1),
        "roberta": dict(**{**BASE, "max_position_embeddings": 514}, pad_token_id=1, type_vocab_size=1),
        "xlm-roberta": dict(**{**BASE, "max_position_embeddings": 514}, pad_token_id=1, type_vocab_size=1)}


class Wrapper(torch.nn.Module):
    def __init__(self, m, types: bool):
        super().__init__()
        self.m, self.types = m, types

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        kw = {"token_type_ids": token_type_ids} if self.types else {}
        return self.m(input_ids=input_ids, attention_mask=attention_mask, **kw).last_hidden_state


def make_model(family: str, tok: Tokenizer, folder: str, real: bool, seed: int):
    cfg_cls, model_cls, tiny, types = FAMILIES[family]
    torch.manual_seed(seed)
    extra = REAL[family] if real else {**TINY, **tiny}
    cfg = cfg_cls(vocab_size=tok.get_vocab_size(), **({"attn_implementation": "eager"} if real else {}), **extra)
    model = model_cls(cfg).eval()  # a pooling layer, where the class has one, is not in the exported graph
    os.makedirs(folder, exist_ok=True)
    model.config.save_pretrained(folder)
    tok.save(os.path.join(folder, "tokenizer.json"), pretty=False)
    ids = torch.tensor([tok.encode("hello world again").ids] * 2)
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if types else [])
    axes = {n: {0: "batch", 1: "sequence"} for n in names + ["last_hidden_state"]}
    args = (ids, torch.ones_like(ids)) + ((torch.zeros_like(ids),) if types else ())
    export(Wrapper(model, types), args, names, axes, os.path.join(folder, "onnx", "model.onnx"))
    return model, types


# ---------------------------------------------------------------------------------------------------
# references


def encode_utterance(tok: Tokenizer, text: str, context: list[str], max_tokens: int = MAX_TOKENS) -> dict:
    """The extract stage's policy with the library's own truncation (as make_tiny_models.encode_utterance,
    with the family's special-token counts); the utterance starts at its first sequence-1 position."""
    pair = tok.num_special_tokens_to_add(True)
    ctx_text = " ".join(c for c in context if c.strip())
    u = tok.encode(text, add_special_tokens=False).ids
    c = tok.encode(ctx_text, add_special_tokens=False).ids if ctx_text else []
    if c and len(u) <= max_tokens - pair - 1:
        tok.enable_truncation(max_tokens, strategy="only_first", direction="left")
        enc = tok.encode(ctx_text, text)
        seq = enc.sequence_ids
        if 1 in seq:
            start = seq.index(1)
        else:  # empty utterance: where it would start, before the closing special tokens
            probe = tok.encode("a", "b").sequence_ids
            start = len(enc.ids) - (len(probe) - probe.index(1) - 1)
    else:
        tok.enable_truncation(max_tokens, strategy="longest_first", direction="right")
        enc = tok.encode(text)
        start = 0
    tok.no_truncation()
    return {"ids": enc.ids, "typeIds": enc.type_ids, "utteranceStart": start}


def references(family: str, tok: Tokenizer, model, types: bool, folder: str) -> dict:
    limit = min(MAX_TOKENS, model.config.max_position_embeddings - (model.config.pad_token_id + 1
                                                                     if family in ("roberta", "xlm-roberta", "mpnet") else 0))
    hf = AutoTokenizer.from_pretrained(folder)
    tokens, differs = [], []
    for text, context in TOKENIZER_CASES + EXTRA_TOKEN_CASES + [(t, c) for _, t, c in EXTRA_TEXT_CASES]:
        enc = encode_utterance(tok, text, context, limit)
        if not context and hf(text, truncation=True, max_length=limit)["input_ids"] != enc["ids"]:
            differs.append(text[:40])
        tokens.append({"text": text, "context": context, **enc})
    if differs:
        print(f"{family}: transformers' AutoTokenizer differs from tokenizers on {differs}", file=sys.stderr)
    sess = ort.InferenceSession(os.path.join(folder, "onnx", "model.onnx"), providers=["CPUExecutionProvider"])
    cases = []
    for name, text, context in TEXT_CASES + EXTRA_TEXT_CASES:
        enc = encode_utterance(tok, text, context, limit)
        ids = torch.tensor([enc["ids"]])
        kw = {"token_type_ids": torch.tensor([enc["typeIds"]])} if types else {}
        with torch.no_grad():
            h = model(input_ids=ids, attention_mask=torch.ones_like(ids), **kw).last_hidden_state[0].numpy()
        feeds = {"input_ids": ids.numpy(), "attention_mask": np.ones_like(ids.numpy()),
                 **({"token_type_ids": kw["token_type_ids"].numpy()} if types else {})}
        diff = float(np.abs(sess.run(None, feeds)[0][0] - h).max())
        assert diff < 1e-4, f"{family} {name}: onnxruntime differs from PyTorch by {diff}"
        cases.append({"name": name, "text": text, "context": context, **enc, "shape": list(h.shape), "sequence": r(h),
                      "pooledMean": r(h[enc["utteranceStart"]:].mean(axis=0)), "pooledFirst": r(h[0])})
    return {"folder": os.path.basename(folder), "maxTokens": limit, "tokens": tokens, "model": cases}


# code point ranges for random text: scripts, combining marks, controls, CJK (BMP and beyond),
# compatibility forms, emoji, private use, mathematical letters
FUZZ_RANGES = [(0x20, 0x7E), (0xA0, 0x17F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF),
               (0x900, 0x97F), (0xE00, 0xE7F), (0x1100, 0x11FF), (0x2000, 0x206F), (0x2100, 0x24FF),
               (0x3000, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7AF), (0xF900, 0xFAFF),
               (0xFE00, 0xFE4F), (0xFF00, 0xFFEF), (0x1F300, 0x1FAFF), (0x20000, 0x2A6DF), (0x0, 0x1F),
               (0x7F, 0x9F), (0xE000, 0xE0FF), (0x1D400, 0x1D7FF)]


def fuzz_texts(n: int = 400) -> list[str]:
    rng = random.Random(3)
    out = []
    for _ in range(n):
        k = rng.randint(1, 24)
        out.append("".join(chr(rng.randint(*rng.choice(FUZZ_RANGES))) if rng.random() < 0.5
                           else rng.choice(" abcdefghij ,.!?'") for _ in range(k)))
    return out


def write_fuzz() -> None:
    """Random Unicode text through every text family's tokenizer.json (BERT's real one included): ids
    without special tokens, for test/extract/tokenizer.test.ts."""
    texts = fuzz_texts()
    ids = {}
    for name in ["bert-base-uncased-tokenizer", *(f"tiny-{f}" for f in FAMILIES)]:
        tok = Tokenizer.from_file(os.path.join(FIXTURES, name, "tokenizer.json"))
        ids[name] = [tok.encode(t, add_special_tokens=False).ids for t in texts]
    with open(os.path.join(FIXTURES, "tokenizer-fuzz.json"), "w", encoding="utf-8") as f:
        json.dump({"generator": "scripts/extract/tiny_text.py", "texts": texts, "ids": ids}, f, ensure_ascii=True,
                  separators=(",", ":"))


def build_all(work: str) -> dict[str, Tokenizer]:
    bert_vocab = load_bert_vocab()
    lines = corpus(bert_vocab)
    return {"electra": tok_electra(bert_vocab), "mpnet": tok_mpnet(bert_vocab), "roberta": tok_roberta(lines),
            "xlm-roberta": tok_xlmr(lines, work), "deberta-v2": tok_deberta(lines, work)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real", metavar="DIR", help="write real-size random-weight models (with safetensors) to DIR/<model_type>/")
    ap.add_argument("--only", nargs="*", help="families to write (default: all)")
    a = ap.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    with tempfile.TemporaryDirectory() as work:
        toks = build_all(work)
    if a.real:
        for i, family in enumerate(a.only or ["bert", *FAMILIES]):
            folder = os.path.join(os.path.abspath(a.real), family)
            shutil.rmtree(folder, ignore_errors=True)
            if family == "bert":  # bert-base-uncased with its real vocabulary
                model = make_bert(folder, load_bert_vocab(), True, 100 + i)[0]
            else:
                model, _ = make_model(family, toks[family], folder, True, 100 + i)
            model.save_pretrained(folder)  # safetensors weights for the PyTorch eager benchmark
            print(f"wrote {folder}", file=sys.stderr)
        return
    families = a.only or list(FAMILIES)
    out_path = os.path.join(FIXTURES, "text-families.json")
    out = json.load(open(out_path)) if os.path.exists(out_path) and a.only else {}
    out.update({"generator": "scripts/extract/tiny_text.py", "torch": torch.__version__,
                "transformers": transformers.__version__, "maxTokens": MAX_TOKENS})
    fams = out.setdefault("families", {})
    for i, family in enumerate(FAMILIES):
        if family not in families:
            continue
        folder = os.path.join(FIXTURES, f"tiny-{family}")
        shutil.rmtree(folder, ignore_errors=True)
        model, types = make_model(family, toks[family], folder, False, 20 + i)
        fams[family] = references(family, toks[family], model, types, folder)
        size = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(folder) for n in ns)
        print(f"wrote {folder} ({size / 1e3:.0f} kB)", file=sys.stderr)
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=True, separators=(",", ":"))
    write_fuzz()


if __name__ == "__main__":
    main()
