"""Training-step throughput of the fusion model in PyTorch eager mode on CPU: the reference for
bench/engine/train-throughput.bench.ts. Same architecture, loss and optimiser as the engine
(torch_model.py), float32, random features of the given sizes, fresh dropout masks each step.

    python torch_bench.py --preset compact --threads 1 --batch 32 --steps 20
prints one JSON object: {"preset", "threads", "batch", "step_ms", "samples_per_s", "torch"}.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_model import FusionModel, fusion_loss, make_optimizer  # noqa: E402


def preset_cfg(preset: str, text: int, audio: int, visual: int, frames: int, classes: int) -> dict:
    return {
        "preset": preset,
        "modalities": ["v", "t", "a"],
        "inputs": {"text": text, "audio": audio, "visual": visual, "frames": frames},
        "numClasses": classes,
        "summary": "guided",
        "tcn": {"channels": 1024 if preset == "paper" else 256, "kernel": 3, "dilations": [1, 2, 4]},
        "earlyFusion": {"hidden": 512, "out": 384},
        "headDim": 256,
        "classifierHidden": [512, 256, 128],
        "dropout": {"heads": 0.2, "other": 0.3},
        "leakySlope": 0.01,
        "batchNorm": {"eps": 1e-5, "momentum": 0.1},
        "layerNormEps": 1e-5,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="compact", choices=["compact", "paper"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--dims", default="768,768,768,15,6", help="text,audio,visual,frames,classes")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    text, audio, visual, frames, classes = (int(x) for x in args.dims.split(","))
    cfg = preset_cfg(args.preset, text, audio, visual, frames, classes)
    loss_cfg = {"contrastiveWeight": 0.5, "temperature": 0.5, "pairs": ["vt", "va"], "normalization": "positives"}
    model = FusionModel(cfg).float()
    opt = make_optimizer(model, {"lr": 5e-5, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weightDecay": 1e-5, "decoupledWeightDecay": False})
    n = args.batch
    t = torch.randn(n, text)
    a = torch.randn(n, audio)
    v = torch.randn(n, frames, visual)
    v_len = torch.full((n,), frames, dtype=torch.int64)
    labels = torch.arange(n) % classes
    shapes = {}
    for name in model.rates:
        if name.startswith("tcn."):
            shapes[name] = (n, frames, cfg["tcn"]["channels"])
        elif name.startswith("head_"):
            shapes[name] = (n, cfg["headDim"])
        elif name.startswith("early."):
            shapes[name] = (n, cfg["earlyFusion"]["hidden"])
        else:
            shapes[name] = (n, cfg["classifierHidden"][int(name.split(".")[1])])
    model.train()

    def step():
        masks = {name: torch.rand(shape) >= model.rates[name] for name, shape in shapes.items()}
        opt.zero_grad(set_to_none=True)
        logits, proj = model(t, a, v, v_len, masks)
        loss, _, _ = fusion_loss(logits, proj, labels, loss_cfg, vectorized=True)
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    per_step = (time.perf_counter() - start) / args.steps
    print(json.dumps({"preset": args.preset, "threads": args.threads, "batch": n, "step_ms": per_step * 1000, "samples_per_s": n / per_step, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
