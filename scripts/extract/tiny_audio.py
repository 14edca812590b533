"""Random-weight speech encoders of the real architectures (HuBERT, WavLM, data2vec-audio, the Whisper
encoder) in the folder layout the extract stage reads, exported by torch.onnx.export at opset 17, plus
PyTorch's processed inputs and hidden states for the generated audio of make_tiny_models.py.

    python tiny_audio.py                # test fixtures (committed)
    python tiny_audio.py --real DIR     # one real-size random-weight model per family in DIR/<model_type>/

Fixtures (test/fixtures/models/; tiny-wav2vec2 stays make_tiny_models.py's):
  tiny-hubert/            HuBERT-large layout: layer-norm conv stack, attention mask, normalised input
  tiny-wavlm/             WavLM-base-plus layout: group norm, attention mask, input NOT normalised
  tiny-data2vec-audio/    data2vec-audio-base layout: layer norm, attention mask, 5-layer positional conv
  tiny-whisper/           Whisper encoder, 80 mel bins;  tiny-whisper-128/: 128 mel bins (large-v3 layout)
  audio-expected.json     processed inputs (summaries), hidden states and pooled vectors

Summaries instead of whole arrays keep the fixtures small: normalised input values by stride plus sums,
log-mel columns at chosen frames plus the mean of the whole [mel, 3000] window, and for the utterance
longer than the 30 s window only some of its 1500 frames. Deterministic (seeded weights).

Whisper log-mel references are transformers' numpy path (WhisperFeatureExtractor._np_extract_fbank_features)
on the padded/truncated window, which the TypeScript port follows; transformers' torch path (used when torch
is installed) agrees with it within about 1e-5, printed for information.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

import numpy as np
import torch
from transformers import (
    Data2VecAudioConfig,
    Data2VecAudioModel,
    HubertConfig,
    HubertModel,
    Wav2Vec2Config,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2Model,
    WavLMConfig,
    WavLMModel,
    WhisperConfig,
    WhisperFeatureExtractor,
)
from transformers.models.whisper.modeling_whisper import WhisperEncoder

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tiny_models import AUDIO_CASES, FIXTURES, export, lcg_samples, receptive_field  # noqa: E402

RAW_MODELS = {"wav2vec2": Wav2Vec2Model, "hubert": HubertModel, "wavlm": WavLMModel, "data2vec-audio": Data2VecAudioModel}
# the utterance longer than Whisper's 30 s window (cut there and flagged)
LONG_CASE = ("thirty_plus", 480000 + 3210, 5)
# the padded batch of the attention-mask models: three lengths
BATCH_CASES = ["one_second", "odd_length", "twin_a"]


def g7(a) -> list:
    return [float(f"{v:.7g}") for v in np.asarray(a, dtype=np.float64).ravel()]


class RawAudioWrapper(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_values, attention_mask=None):
        return self.m(input_values=input_values, attention_mask=attention_mask).last_hidden_state


class WhisperEncoderWrapper(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_features):
        return self.m(input_features=input_features).last_hidden_state


def export_raw(model, fe: Wav2Vec2FeatureExtractor, path: str) -> tuple:
    """input_values [batch, samples] (+ attention_mask int64 when the feature extractor returns one).
    The sample mask pads the second row so the trace keeps the masking path."""
    x = torch.randn(2, 16000)
    if fe.return_attention_mask:
        mask = torch.ones(2, 16000, dtype=torch.int64)
        mask[1, 11000:] = 0
        x[1, 11000:] = 0
        args, names = (x, mask), ["input_values", "attention_mask"]
        axes = {"input_values": {0: "batch", 1: "samples"}, "attention_mask": {0: "batch", 1: "samples"}}
    else:
        args, names, axes = (x,), ["input_values"], {"input_values": {0: "batch", 1: "samples"}}
    axes["last_hidden_state"] = {0: "batch", 1: "frames"}
    wrapper = RawAudioWrapper(model)
    export(wrapper, args, names, axes, path)
    return wrapper, args, names


def export_whisper(encoder: WhisperEncoder, fe: WhisperFeatureExtractor, path: str) -> tuple:
    """input_features [batch, mel, 3000] -> last_hidden_state [batch, 1500, d_model]; the decoder is not exported."""
    args = (torch.randn(1, fe.feature_size, fe.nb_max_frames),)
    wrapper = WhisperEncoderWrapper(encoder)
    export(wrapper, args, ["input_features"], {"input_features": {0: "batch"}, "last_hidden_state": {0: "batch"}}, path)
    return wrapper, args, ["input_features"]


# ---------------------------------------------------------------------------------------------------
# models (tiny: 32 wide, 2 layers; real: the library defaults, which are the base checkpoints' sizes)

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, conv_dim=(32,) * 7)


def raw_model(model_type: str, real: bool, seed: int):
    """Configurations and feature extractors laid out like one real checkpoint each."""
    torch.manual_seed(seed)
    t = {} if real else TINY
    if model_type == "wav2vec2":  # facebook/wav2vec2-base
        cfg = Wav2Vec2Config(attn_implementation="eager", **t, **({} if real else dict(num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16)))
        fe = dict(do_normalize=True, return_attention_mask=False)
    elif model_type == "hubert" and real:  # facebook/hubert-base-ls960: group norm, no mask
        cfg = HubertConfig(attn_implementation="eager")
        fe = dict(do_normalize=True, return_attention_mask=False)
    elif model_type == "hubert":  # tiny: facebook/hubert-large-ll60k's layer norm, stable layer norm, mask
        cfg = HubertConfig(attn_implementation="eager", feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True,
                           **t, num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16)
        fe = dict(do_normalize=True, return_attention_mask=True)
    elif model_type == "wavlm":  # microsoft/wavlm-base-plus: group norm, mask, no normalisation
        cfg = WavLMConfig(attn_implementation="eager", **t, **({} if real else dict(num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16, num_buckets=32, max_bucket_distance=80)))
        fe = dict(do_normalize=False, return_attention_mask=True)
    elif model_type == "data2vec-audio":  # facebook/data2vec-audio-base
        cfg = Data2VecAudioConfig(attn_implementation="eager", **t, **({} if real else dict(num_conv_pos_embedding_groups=16)))
        fe = dict(do_normalize=True, return_attention_mask=True)
    else:
        raise ValueError(model_type)
    model = RAW_MODELS[model_type](cfg).eval()
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, **fe)
    return model, extractor


def whisper_model(real: bool, seed: int, mel: int = 80, small: bool = False):
    torch.manual_seed(seed)
    if real:  # openai/whisper-base
        cfg = WhisperConfig(d_model=512, encoder_layers=6, encoder_attention_heads=8, encoder_ffn_dim=2048, num_mel_bins=mel,
                            decoder_layers=6, decoder_attention_heads=8, decoder_ffn_dim=2048, attn_implementation="eager")
    else:
        d = 16 if small else 32
        cfg = WhisperConfig(d_model=d, encoder_layers=1 if small else 2, encoder_attention_heads=2, encoder_ffn_dim=2 * d,
                            decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=2 * d, vocab_size=64, num_mel_bins=mel,
                            max_source_positions=1500, max_target_positions=32, attn_implementation="eager")
    encoder = WhisperEncoder(cfg).eval()
    fe = WhisperFeatureExtractor(feature_size=mel, sampling_rate=16000, hop_length=160, chunk_length=30, n_fft=400)
    return encoder, fe


def write_folder(folder: str, model, fe) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder, exist_ok=True)
    model.config.save_pretrained(folder)
    fe.save_pretrained(folder)


# ---------------------------------------------------------------------------------------------------
# references


def wave(n: int, seed: int) -> np.ndarray:
    return lcg_samples(n, seed).astype(np.float32) / 32768.0


def values_summary(v: np.ndarray) -> dict:
    v = np.asarray(v, dtype=np.float32)
    return {"length": int(v.size), "stride": 97, "strided": g7(v[::97]), "head": g7(v[:32]), "tail": g7(v[-32:]),
            "sum": float(v.astype(np.float64).sum()), "sumSquares": float((v.astype(np.float64) ** 2).sum())}


def expected_raw(model, fe, model_type: str) -> dict:
    cases = []
    alone = {}
    for name, n, seed in AUDIO_CASES:
        values = fe(wave(n, seed), sampling_rate=16000, return_tensors="pt")["input_values"]
        with torch.no_grad():
            h = model(input_values=values).last_hidden_state[0].numpy()
        alone[name] = h
        cases.append({"name": name, "samples": n, "seed": seed, "values": values_summary(values[0].numpy()),
                      "shape": list(h.shape), "sequence": g7(h), "pooled": g7(h.mean(axis=0))})
    out = {"modelType": model_type, "folder": f"tiny-{model_type}", "receptiveField": receptive_field(model.config),
           "doNormalize": fe.do_normalize, "returnAttentionMask": fe.return_attention_mask, "cases": cases}
    if fe.return_attention_mask:
        # what transformers itself gives for a padded batch: equal to each alone only when nothing
        # normalises or convolves across the padding (the TypeScript batching rule follows this)
        by = {c[0]: c for c in AUDIO_CASES}
        enc = fe([wave(by[k][1], by[k][2]) for k in BATCH_CASES], sampling_rate=16000, padding=True, return_tensors="pt")
        with torch.no_grad():
            h = model(input_values=enc["input_values"], attention_mask=enc["attention_mask"]).last_hidden_state.numpy()
        diff = max(float(np.abs(h[i, : alone[k].shape[0]] - alone[k]).max()) for i, k in enumerate(BATCH_CASES))
        out["paddedBatch"] = {"cases": BATCH_CASES, "maxDiffToAlone": diff}
    return out


def whisper_window(fe: WhisperFeatureExtractor, n: int, seed: int) -> np.ndarray:
    w = np.zeros(fe.n_samples, dtype=np.float32)
    x = wave(n, seed)[: fe.n_samples]
    w[: x.size] = x
    return w


def mel_frames(n: int) -> list[int]:
    """The first frames, about 16 across the audio, the three around its end and the window's last two."""
    last = min(2999, (n + 200) // 160 + 2)
    return sorted(set([0, 1, 2, 2998, 2999] + list(range(0, last + 1, max(10, last // 16))) + [last - 2, last - 1, last]))


def expected_whisper(encoder, fe, folder: str, cases) -> dict:
    out = []
    for name, n, seed in cases:
        w = whisper_window(fe, n, seed)
        mel = fe._np_extract_fbank_features(w[None], "cpu")[0]  # [mel, 3000] float32
        via_call = fe(wave(n, seed), sampling_rate=16000, return_tensors="np")["input_features"][0]
        print(f"  {folder} {name}: numpy vs transformers' default path max |diff| {np.abs(via_call - mel).max():.2e}", file=sys.stderr)
        with torch.no_grad():
            h = encoder(input_features=torch.from_numpy(mel[None])).last_hidden_state[0].numpy()
        keep = max(1, min(h.shape[0], -(-min(n, fe.n_samples) // 320)))
        h = h[:keep]
        idx = list(range(keep)) if keep <= 64 else [0, 1, 2, 3, keep - 4, keep - 3, keep - 2, keep - 1]
        frames = mel_frames(min(n, fe.n_samples))
        out.append({"name": name, "samples": n, "seed": seed, "melFrames": frames,
                    "mel": g7(mel[:, frames].T), "melMean": float(mel.astype(np.float64).mean()),
                    "shape": list(h.shape), "sequenceFrames": idx, "sequence": g7(h[idx]), "pooled": g7(h.mean(axis=0))})
    return {"modelType": "whisper", "folder": folder, "melBins": fe.feature_size, "cases": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real", metavar="DIR", help="write real-size random-weight models (with safetensors weights for PyTorch) here instead")
    a = ap.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

    if a.real:
        root = os.path.abspath(a.real)
        for i, model_type in enumerate(["wav2vec2", "hubert", "wavlm", "data2vec-audio", "whisper"]):
            folder = os.path.join(root, model_type)
            model, fe = whisper_model(True, 40) if model_type == "whisper" else raw_model(model_type, True, 41 + i)
            write_folder(folder, model, fe)
            path = os.path.join(folder, "onnx", "model.onnx")
            (export_whisper if model_type == "whisper" else export_raw)(model, fe, path)
            model.save_pretrained(folder)  # safetensors weights for a PyTorch eager reference
            print(f"wrote {folder}", file=sys.stderr)
        return

    families = []
    for i, model_type in enumerate(["hubert", "wavlm", "data2vec-audio"]):
        folder = os.path.join(FIXTURES, f"tiny-{model_type}")
        model, fe = raw_model(model_type, False, 21 + i)
        write_folder(folder, model, fe)
        export_raw(model, fe, os.path.join(folder, "onnx", "model.onnx"))
        families.append(expected_raw(model, fe, model_type))
    whisper = []
    for folder, mel, small, cases in [
        ("tiny-whisper", 80, False, AUDIO_CASES + [LONG_CASE]),
        ("tiny-whisper-128", 128, True, AUDIO_CASES[:2]),
    ]:
        encoder, fe = whisper_model(False, 31 if mel == 80 else 32, mel, small)
        write_folder(os.path.join(FIXTURES, folder), encoder, fe)
        export_whisper(encoder, fe, os.path.join(FIXTURES, folder, "onnx", "model.onnx"))
        whisper.append(expected_whisper(encoder, fe, folder, cases))
    expected = {"generator": "scripts/extract/tiny_audio.py", "torch": torch.__version__, "raw": families, "whisper": whisper}
    with open(os.path.join(FIXTURES, "audio-expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
    for fam in families:
        if "paddedBatch" in fam:
            print(f"  {fam['modelType']}: padded batch vs alone in PyTorch {fam['paddedBatch']['maxDiffToAlone']:.2e}", file=sys.stderr)
    names = [f"tiny-{t}" for t in ["hubert", "wavlm", "data2vec-audio", "whisper", "whisper-128"]]
    for n in names:
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(FIXTURES, n)) for f in fs)
        print(f"wrote {n} ({size / 1e3:.0f} KB)", file=sys.stderr)
    print(f"wrote audio-expected.json ({os.path.getsize(os.path.join(FIXTURES, 'audio-expected.json')) / 1e3:.0f} KB)", file=sys.stderr)


if __name__ == "__main__":
    main()
