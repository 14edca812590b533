"""Exports a pretrained Hugging Face encoder into the folder layout the extract stage reads:

    DIR/config.json
    DIR/tokenizer.json + tokenizer_config.json     (text)
    DIR/preprocessor_config.json                   (audio, visual)
    DIR/onnx/model.onnx                            (torch.onnx.export, opset 17, output last_hidden_state)

    python export_pretrained.py --kind text   --model bert-base-uncased                     --out .mer/models/bert-base-uncased
    python export_pretrained.py --kind text   --model FacebookAI/roberta-base               --out .mer/models/roberta-base
    (every text family: see activities/extract/README.md, "Exporting the encoders")
    python export_pretrained.py --kind audio  --model facebook/wav2vec2-base                --out .mer/models/wav2vec2-base
    python export_pretrained.py --kind audio  --model facebook/hubert-base-ls960            --out .mer/models/hubert-base-ls960
    python export_pretrained.py --kind audio  --model microsoft/wavlm-base-plus             --out .mer/models/wavlm-base-plus
    python export_pretrained.py --kind audio  --model facebook/data2vec-audio-base          --out .mer/models/data2vec-audio-base
    python export_pretrained.py --kind audio  --model openai/whisper-base                   --out .mer/models/whisper-base
    python export_pretrained.py --kind visual --model microsoft/swin-tiny-patch4-window7-224 --out .mer/models/swin-tiny-patch4-window7-224
    python export_pretrained.py --kind visual --model google/vit-base-patch16-224-in21k      --out .mer/models/vit-base-patch16-224-in21k
    python export_pretrained.py --kind visual --model openai/clip-vit-base-patch32          --out .mer/models/clip-vit-base-patch32
    python export_pretrained.py --kind visual --model facebook/dinov2-small                 --out .mer/models/dinov2-small

--model is a Hub name (downloaded once, needs network) or a local folder saved with save_pretrained.
Audio: wav2vec2, HuBERT, WavLM and data2vec-audio get input_values (+ attention_mask when the feature
extractor returns one); for Whisper only the encoder is exported (input_features [batch, mel, 3000]).
After exporting, onnxruntime's output is compared with PyTorch's on a sample input and the largest
difference printed; the export fails if it exceeds 1e-3.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch
from transformers import AutoFeatureExtractor, AutoImageProcessor, AutoModel, AutoTokenizer  # noqa: F401

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tiny_models import export  # noqa: E402
from tiny_audio import export_raw, export_whisper  # noqa: E402
from tiny_text import Wrapper as TextWrapper  # noqa: E402


def check_tokenizer(tok, path: str) -> None:
    """The extract stage reads tokenizer.json alone (as Python's `tokenizers` does); say so when the
    transformers tokenizer, which may add behaviour from tokenizer_config.json, gives other ids."""
    from tokenizers import Tokenizer

    saved = Tokenizer.from_file(path)
    for text in ["Hello, world!", "Café naïve RÉSUMÉ, Straße", "我爱你 😀 ｆｕｌｌ", "  two  spaces\tand tab "]:
        want, got = tok(text)["input_ids"], saved.encode(text).ids
        if want != got:
            print(f"warning: {path} gives {got} for {text!r}, transformers gives {want}", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kind", choices=["text", "audio", "visual"], required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    if a.kind == "visual":  # every vision family (Swin, ViT, CLIP vision tower, DINOv2): tiny_vision.py
        from tiny_vision import export_pretrained_visual

        diff = export_pretrained_visual(a.model, out)
        print(f"wrote {out}: onnxruntime vs PyTorch max abs difference {diff:.2e}", file=sys.stderr)
        if diff > 1e-3:
            sys.exit(f"export check failed: difference {diff} > 1e-3")
        return
    # text: not every family's class takes add_pooling_layer; a pooler is not in the graph anyway
    model = AutoModel.from_pretrained(a.model, attn_implementation="eager").eval()
    model.config.save_pretrained(out)
    onnx_path = os.path.join(out, "onnx", "model.onnx")

    if a.kind == "text":
        tok = AutoTokenizer.from_pretrained(a.model)
        tok.backend_tokenizer.save(os.path.join(out, "tokenizer.json"), pretty=False)
        tok.save_pretrained(os.path.join(out, ".tokenizer-tmp"))
        cfg = json.load(open(os.path.join(out, ".tokenizer-tmp", "tokenizer_config.json")))
        # JS loaders read the class from here; transformers 5 writes a generic backend name
        if model.config.model_type == "bert":
            cfg["tokenizer_class"] = "BertTokenizer"
        json.dump(cfg, open(os.path.join(out, "tokenizer_config.json"), "w"), indent=2)
        for n in os.listdir(os.path.join(out, ".tokenizer-tmp")):
            os.remove(os.path.join(out, ".tokenizer-tmp", n))
        os.rmdir(os.path.join(out, ".tokenizer-tmp"))
        check_tokenizer(tok, os.path.join(out, "tokenizer.json"))
        enc = tok(["Hello, world! How are you?", "Fine."], padding=True, return_tensors="pt")
        # token_type_ids only where the model has more than one type (BERT, MiniLM, ELECTRA): RoBERTa,
        # XLM-R, MPNet and DeBERTa-v3 graphs take input_ids and attention_mask alone
        types = "token_type_ids" in enc and getattr(model.config, "type_vocab_size", 0) > 1
        args = (enc["input_ids"], enc["attention_mask"]) + ((enc["token_type_ids"],) if types else ())
        names = ["input_ids", "attention_mask"] + (["token_type_ids"] if types else [])
        axes = {n: {0: "batch", 1: "sequence"} for n in names} | {"last_hidden_state": {0: "batch", 1: "sequence"}}
        wrapper = TextWrapper(model, types)
    elif a.kind == "audio":
        fe = AutoFeatureExtractor.from_pretrained(a.model)
        fe.save_pretrained(out)
        # exported (and checked below) by the helpers that also write the tiny test models
        if model.config.model_type == "whisper":
            wrapper, args, names = export_whisper(model.get_encoder(), fe, onnx_path)
        else:
            wrapper, args, names = export_raw(model, fe, onnx_path)
    else:
        sys.exit(f"unknown kind {a.kind}")

    if a.kind != "audio":
        export(wrapper, args, names, axes, onnx_path)
    import onnxruntime as ort

    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    got = sess.run(["last_hidden_state"], {n: t.numpy() for n, t in zip(names, args)})[0]
    with torch.no_grad():
        want = wrapper(*args).numpy()
    diff = float(np.abs(got - want).max())
    print(f"wrote {out}: onnxruntime vs PyTorch max abs difference {diff:.2e}", file=sys.stderr)
    if diff > 1e-3:
        sys.exit(f"export check failed: difference {diff} > 1e-3")


if __name__ == "__main__":
    main()
