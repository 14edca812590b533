"""Random-weight vision encoders of every family the extract stage reads (ViT, CLIP vision tower,
DINOv2, DINOv2 with registers; Swin's tiny model comes from make_tiny_models.py), in the Hugging
Face folder layout, exported by torch.onnx.export at opset 17, plus PyTorch references.

    python tiny_vision.py               # test fixtures (committed) into test/fixtures/models/
    python tiny_vision.py --real DIR    # one real-size random-weight model per family into DIR/<model_type>/

Fixtures (test/fixtures/models/):
  tiny-vit/, tiny-clip_vision_model/, tiny-dinov2/, tiny-dinov2_with_registers/   model folders
  vision-expected.json        per family and generated input: shapes, special-token counts, the
                              processed pixels (sha256 of their float32 bytes and a strided sample),
                              pooled vectors (mean over frames and patch tokens; mean CLS), and PIL
                              resize references (sha256 of the uint8 result) for every resample filter
  vision-hidden/<type>.<case>.f32   the full last_hidden_state, float32 little-endian [F, T, D]

Preprocessing references are transformers' PIL-based processors (ViTImageProcessorPil,
CLIPImageProcessorPil, BitImageProcessorPil: what DINOv2 checkpoints name). `--compare-fast` (needs
torchvision) prints how far the torchvision-based processors are from them on the same frames:
with torchvision 0.29.2 at most 2.4e-7 (float rounding of the normalisation; the same uint8 resize).

Inputs are make_tiny_models.frames_rgb (integer arithmetic, mirrored by test/extract/inputs.ts).
Deterministic: seeded weights; rerunning rewrites identical files.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys

import numpy as np
import PIL
import PIL.Image
import torch
import transformers
from transformers import (
    BitImageProcessorPil,
    CLIPImageProcessorPil,
    CLIPVisionConfig,
    CLIPVisionModel,
    Dinov2Config,
    Dinov2Model,
    Dinov2WithRegistersConfig,
    Dinov2WithRegistersModel,
    ViTConfig,
    ViTImageProcessorPil,
    ViTModel,
)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tiny_models import FIXTURES, VISUAL_CASES, VisualWrapper, export, frames_rgb, make_swin  # noqa: E402

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
CLIP_MEAN, CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, attn_implementation="eager")
PIXEL_STRIDE = 997  # a prime: the sample walks across channels, rows and columns


def vit_processor():
    # google/vit-base-patch16-224-in21k
    return ViTImageProcessorPil(do_resize=True, size={"height": 224, "width": 224}, resample=2, do_rescale=True,
                                rescale_factor=1 / 255, do_normalize=True, image_mean=[0.5] * 3, image_std=[0.5] * 3)


def clip_processor():
    # openai/clip-vit-base-patch32
    return CLIPImageProcessorPil(do_resize=True, size={"shortest_edge": 224}, resample=3, do_center_crop=True,
                                 crop_size={"height": 224, "width": 224}, do_rescale=True, rescale_factor=1 / 255,
                                 do_normalize=True, image_mean=CLIP_MEAN, image_std=CLIP_STD, do_convert_rgb=True)


def dinov2_processor():
    # facebook/dinov2-small: shortest edge 256 (bicubic), then the centre 224x224
    return BitImageProcessorPil(do_resize=True, size={"shortest_edge": 256}, resample=3, do_center_crop=True,
                                crop_size={"height": 224, "width": 224}, do_rescale=True, rescale_factor=1 / 255,
                                do_normalize=True, image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD,
                                do_convert_rgb=True)


def families(real: bool):
    """model_type -> (model class, config, processor, special tokens before the patch grid)."""
    if real:
        return {
            "vit": (ViTModel, ViTConfig(attn_implementation="eager"), vit_processor(), 1),
            "clip_vision_model": (CLIPVisionModel, CLIPVisionConfig(attn_implementation="eager"), clip_processor(), 1),
            "dinov2": (Dinov2Model, Dinov2Config(hidden_size=384, num_attention_heads=6, image_size=518,
                                                 attn_implementation="eager"), dinov2_processor(), 1),
            # facebook/dinov2-with-registers-small (the config class's default patch is 16, the checkpoints' 14)
            "dinov2_with_registers": (Dinov2WithRegistersModel, Dinov2WithRegistersConfig(
                hidden_size=384, num_attention_heads=6, image_size=518, patch_size=14, num_register_tokens=4,
                attn_implementation="eager"), dinov2_processor(), 5),
        }
    return {
        # /16 at 224: the 14x14 = 196-token grid of ViT-B/16
        "vit": (ViTModel, ViTConfig(intermediate_size=64, image_size=224, patch_size=16, **TINY), vit_processor(), 1),
        # /16 rather than CLIP-B/32's /32: a 32x32x3 patch embedding alone would be 393 KB at width 32
        "clip_vision_model": (CLIPVisionModel, CLIPVisionConfig(intermediate_size=64, image_size=224, patch_size=16,
                                                                projection_dim=32, **TINY), clip_processor(), 1),
        # position embeddings for a 7x7 grid, interpolated to the 16x16 grid of a 224 crop (as 518 -> 224 is)
        "dinov2": (Dinov2Model, Dinov2Config(mlp_ratio=2, image_size=98, patch_size=14, **TINY), dinov2_processor(), 1),
        "dinov2_with_registers": (Dinov2WithRegistersModel, Dinov2WithRegistersConfig(
            mlp_ratio=2, image_size=98, patch_size=14, num_register_tokens=4, **TINY), dinov2_processor(), 5),
    }


def make(folder: str, model_cls, cfg, processor, seed: int):
    torch.manual_seed(seed)
    kwargs = {"add_pooling_layer": False} if model_cls is ViTModel else {}
    model = model_cls(cfg, **kwargs).eval()
    os.makedirs(folder, exist_ok=True)
    model.config.save_pretrained(folder)
    processor.save_pretrained(folder)
    args = (torch.randn(2, 3, *input_size(processor)),)
    export_visual(model, args, os.path.join(folder, "onnx", "model.onnx"))
    check_onnx(folder, model, args)
    return model


def export_visual(model, args, path: str) -> None:
    """DINOv2 interpolates its position embeddings to the input size inside forward, with an
    antialiased bicubic filter in the register variant that no ONNX opset has. The graph's input
    size is fixed (the processor's crop), so the interpolated embeddings are computed once in
    PyTorch and exported as a constant: the same numbers PyTorch uses at that size."""
    emb = getattr(model, "embeddings", None)
    fixed = None
    if emb is not None and hasattr(emb, "interpolate_pos_encoding") and isinstance(model, (Dinov2Model, Dinov2WithRegistersModel)):
        _, _, h, w = args[0].shape
        with torch.no_grad():
            probe = emb.patch_embeddings(args[0][:1])
            tokens = torch.zeros(1, probe.shape[1] + 1, probe.shape[2])
            fixed = emb.interpolate_pos_encoding(tokens, h, w).detach().clone()
        original = emb.interpolate_pos_encoding
        emb.interpolate_pos_encoding = lambda embeddings, height, width: fixed
    try:
        export(VisualWrapper(model), args, ["pixel_values"],
               {"pixel_values": {0: "batch"}, "last_hidden_state": {0: "batch"}}, path)
    finally:
        if fixed is not None:
            emb.interpolate_pos_encoding = original


def input_size(processor) -> tuple[int, int]:
    """The model input after the processor's resize and centre crop (frames are square)."""
    if getattr(processor, "do_center_crop", False) and processor.crop_size:
        return processor.crop_size["height"], processor.crop_size["width"]
    size = processor.size
    if size.get("shortest_edge"):
        return size["shortest_edge"], size["shortest_edge"]
    return size["height"], size["width"]


def export_pretrained_visual(name: str, out: str) -> float:
    """A pretrained vision encoder (Hub name or local folder) into the extract stage's layout; a CLIP
    checkpoint exports its vision tower (CLIPVisionModel, model_type clip_vision_model). Returns the
    largest onnxruntime vs PyTorch difference on a sample."""
    from transformers import AutoConfig, AutoImageProcessor, AutoModel, SwinModel

    cfg = AutoConfig.from_pretrained(name)
    if cfg.model_type in ("clip", "clip_vision_model"):
        model = CLIPVisionModel.from_pretrained(name, attn_implementation="eager")
    elif cfg.model_type in ("vit", "swin"):
        cls = ViTModel if cfg.model_type == "vit" else SwinModel
        model = cls.from_pretrained(name, add_pooling_layer=False, attn_implementation="eager")
    else:
        model = AutoModel.from_pretrained(name, attn_implementation="eager")
    model.eval()
    os.makedirs(out, exist_ok=True)
    model.config.save_pretrained(out)
    processor = AutoImageProcessor.from_pretrained(name, use_fast=False)
    processor.save_pretrained(out)
    h, w = input_size(processor)
    args = (torch.randn(2, 3, h, w),)
    path = os.path.join(out, "onnx", "model.onnx")
    export_visual(model, args, path)
    import onnxruntime as ort

    got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(["last_hidden_state"], {"pixel_values": args[0].numpy()})[0]
    with torch.no_grad():
        want = model(pixel_values=args[0]).last_hidden_state.numpy()
    return float(np.abs(got - want).max())


def check_onnx(folder: str, model, args) -> None:
    import onnxruntime as ort

    sess = ort.InferenceSession(os.path.join(folder, "onnx", "model.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(["last_hidden_state"], {"pixel_values": args[0].numpy()})[0]
    with torch.no_grad():
        want = model(pixel_values=args[0]).last_hidden_state.numpy()
    diff = float(np.abs(got - want).max())
    if diff > 1e-4:
        sys.exit(f"{folder}: onnxruntime differs from PyTorch by {diff}")


def r(a) -> list:
    return [float(f"{v:.8g}") for v in np.asarray(a, dtype=np.float64).ravel()]


def pixel_reference(pixels: np.ndarray) -> dict:
    flat = np.ascontiguousarray(pixels, dtype="<f4").ravel()
    return {"shape": list(pixels.shape), "sha256": hashlib.sha256(flat.tobytes()).hexdigest(),
            "stride": PIXEL_STRIDE, "sample": r(flat[::PIXEL_STRIDE])}


def references(model_type: str, model, folder: str, specials: int) -> dict:
    ip = type(families(False)[model_type][2]).from_pretrained(folder)
    os.makedirs(os.path.join(FIXTURES, "vision-hidden"), exist_ok=True)
    cases = []
    for name, count, seed in VISUAL_CASES:
        frames = frames_rgb(count, seed)
        pixels = ip([f for f in frames], return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            h = model(pixel_values=pixels).last_hidden_state.numpy()
        rel = f"vision-hidden/{model_type}.{name}.f32"
        np.ascontiguousarray(h, dtype="<f4").tofile(os.path.join(FIXTURES, rel))
        patches = h[:, specials:, :]
        cases.append({"name": name, "frames": count, "seed": seed, "shape": list(h.shape), "hidden": rel,
                      "pixels": pixel_reference(pixels.numpy()),
                      "pooledMean": r(patches.reshape(-1, h.shape[-1]).mean(axis=0)),
                      "pooledCls": r(h[:, 0, :].mean(axis=0))})
    return {"folder": f"tiny-{model_type}", "specialTokens": specials, "cases": cases}


def swin_pixels() -> dict:
    """Processed pixels of the existing tiny Swin's processor (hidden states: make_tiny_models.py)."""
    ip = ViTImageProcessorPil.from_pretrained(os.path.join(FIXTURES, "tiny-swin"))
    return {"folder": "tiny-swin", "specialTokens": 0, "cases": [
        {"name": name, "frames": count, "seed": seed,
         "pixels": pixel_reference(ip([f for f in frames_rgb(count, seed)], return_tensors="pt")["pixel_values"].numpy())}
        for name, count, seed in VISUAL_CASES]}


# PIL filters by number (PILImageResampling): nearest 0, lanczos 1, bilinear 2, bicubic 3, box 4, hamming 5
# square targets only: on a square frame every supported processor resizes to a square, and Pillow 13
# picks the pass order of a non-proportional resize by a cost model that image-resize.ts does not copy
RESIZE_CASES = [(f, (s, s)) for f in (0, 1, 2, 3, 4, 5) for s in (256, 160, 97, 301, 518)]


def resize_references() -> list:
    frame = frames_rgb(1, 5)[0]
    out = []
    for filt, (h, w) in RESIZE_CASES:
        got = np.asarray(PIL.Image.fromarray(frame).resize((w, h), resample=filt, reducing_gap=None))
        out.append({"filter": filt, "height": h, "width": w, "seed": 5,
                    "sha256": hashlib.sha256(np.ascontiguousarray(got).tobytes()).hexdigest(),
                    "sample": [int(v) for v in got.ravel()[::PIXEL_STRIDE]]})
    return out


def compare_fast() -> None:
    from transformers import AutoImageProcessor

    for model_type in families(False):
        folder = os.path.join(FIXTURES, f"tiny-{model_type}")
        frames = [f for f in frames_rgb(3, 1)]
        slow = AutoImageProcessor.from_pretrained(folder, backend="pil")(frames, return_tensors="np")["pixel_values"]
        fast = AutoImageProcessor.from_pretrained(folder, backend="torchvision")(frames, return_tensors="pt")
        diff = float(np.abs(slow - fast["pixel_values"].numpy()).max())
        print(f"{model_type}: torchvision processor vs PIL processor max abs difference {diff:.2e}", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real", metavar="DIR", help="write real-size random-weight models (ONNX + safetensors) here")
    ap.add_argument("--compare-fast", action="store_true", help="compare the torchvision processors with the PIL ones")
    a = ap.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    if a.compare_fast:
        return compare_fast()

    if a.real:
        root = os.path.abspath(a.real)
        builders = {"swin": lambda d: make_swin(d, True, 13)}  # swin-tiny-patch4-window7-224, as make_tiny_models --real
        for i, (model_type, (cls, cfg, proc, _)) in enumerate(families(True).items()):
            builders[model_type] = lambda d, cls=cls, cfg=cfg, proc=proc, seed=21 + i: make(d, cls, cfg, proc, seed)
        for model_type, build in builders.items():
            folder = os.path.join(root, model_type)
            shutil.rmtree(folder, ignore_errors=True)
            model = build(folder)
            model.save_pretrained(folder)  # safetensors weights: a PyTorch eager benchmark loads these
            print(f"wrote {folder}", file=sys.stderr)
        return

    shutil.rmtree(os.path.join(FIXTURES, "vision-hidden"), ignore_errors=True)
    expected = {"generator": "scripts/extract/tiny_vision.py", "torch": torch.__version__,
                "transformers": transformers.__version__, "pillow": PIL.__version__, "families": {}}
    for i, (model_type, (cls, cfg, proc, specials)) in enumerate(families(False).items()):
        folder = os.path.join(FIXTURES, f"tiny-{model_type}")
        shutil.rmtree(folder, ignore_errors=True)
        model = make(folder, cls, cfg, proc, 31 + i)
        expected["families"][model_type] = references(model_type, model, folder, specials)
    expected["families"]["swin"] = swin_pixels()
    expected["resize"] = resize_references()
    with open(os.path.join(FIXTURES, "vision-expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
    for model_type in families(False):
        d = os.path.join(FIXTURES, f"tiny-{model_type}")
        size = sum(os.path.getsize(os.path.join(p, n)) for p, _, ns in os.walk(d) for n in ns)
        print(f"wrote {d} ({size / 1e3:.0f} kB)", file=sys.stderr)


if __name__ == "__main__":
    main()
