"""Writes test/fixtures/engine/torch-parity.json: the fusion model trained for a few Adam steps in
PyTorch (float64), for test/model/torch-parity.test.ts to reproduce with the ONNX training engine.

Each scenario records the configuration (in the engine's schema), initial weights in the engine's
layout, three batches with their dropout keep-masks, the loss terms and gradient norm of every
step, the gradients of the first step, the weights and BatchNorm running statistics after the
last step, and eval-mode logits of a held-out batch.

Run in a throwaway venv (torch from PyPI is large; nothing else is needed):
    python3 -m venv /tmp/torchref && /tmp/torchref/bin/pip install torch numpy
    /tmp/torchref/bin/python scripts/engine/torch_reference.py [--keep-existing]
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_model import (  # noqa: E402
    FusionModel,
    engine_buffers,
    engine_params,
    fusion_loss,
    load_engine_weights,
    make_optimizer,
    param_map,
    buffer_map,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "test", "fixtures", "engine", "torch-parity.json")
STEPS = 3
BATCH = 7


def model_cfg(**over):
    cfg = {
        "preset": "custom",
        "modalities": ["v", "t", "a"],
        "inputs": {"text": 6, "audio": 5, "visual": 4, "frames": 5},
        "numClasses": 3,
        "summary": "guided",
        "tcn": {"channels": 6, "kernel": 3, "dilations": [1, 2]},
        "earlyFusion": {"hidden": 7, "out": 5},
        "headDim": 6,
        "classifierHidden": [8, 5],
        "dropout": {"heads": 0.2, "other": 0.3},
        "leakySlope": 0.01,
        "batchNorm": {"eps": 1e-5, "momentum": 0.1},
        "layerNormEps": 1e-5,
    }
    cfg.update(over)
    return cfg


def adam(**over):
    cfg = {"lr": 1e-2, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weightDecay": 1e-3, "decoupledWeightDecay": False}
    cfg.update(over)
    return cfg


# A bias feeding BatchNorm has an exactly zero gradient, so in float64 its computed gradient is
# rounding noise (~1e-17) that Adam would normalise into a full step of arbitrary sign. Every
# scenario therefore keeps a deterministic term in those updates: coupled weight decay
# (wd * p >> 1e-17) or an Adam epsilon large enough to swamp the noise.
def loss(**over):
    cfg = {"contrastiveWeight": 0.5, "temperature": 0.5, "pairs": ["vt", "va"], "pairReduction": "sum", "normalization": "positives"}
    cfg.update(over)
    return cfg


SCENARIOS = [
    {
        "name": "guided-all-modalities",
        "model": model_cfg(),
        "loss": loss(),
        "optimizer": adam(clipGradNorm=0.5),
    },
    {
        "name": "last-step-reference-loss-adamw",
        "model": model_cfg(summary="last", inputs={"text": 6, "audio": 5, "visual": 4, "frames": 6}, tcn={"channels": 5, "kernel": 3, "dilations": [1, 2, 4]}),
        "loss": loss(pairs=["vt", "va", "ta"], normalization="reference", classWeights=[1.0, 2.0, 0.5]),
        "optimizer": adam(eps=1e-3, weightDecay=0.05, decoupledWeightDecay=True),
    },
    {
        "name": "visual-only-learned-query",
        "model": model_cfg(modalities=["v"], dropout={"heads": 0.4, "other": 0.4}),
        "loss": loss(),
        "optimizer": adam(weightDecay=1e-4),
    },
    # one loss option each from here on (the scenarios above are unchanged, so are their values)
    {
        "name": "default-loss-pair-mean",
        "model": model_cfg(),
        "loss": loss(pairReduction="mean"),
        "optimizer": adam(),
    },
    {
        "name": "three-pairs-mean-reference-class-weights",
        "model": model_cfg(),
        # weights of an inverse-frequency kind: n / (C n_c) for counts 3, 2, 2 of 7
        "loss": loss(pairs=["vt", "va", "ta"], pairReduction="mean", normalization="reference", classWeights=[7 / 9, 7 / 6, 7 / 6]),
        "optimizer": adam(),
    },
    {
        # without visual only `ta` is active: the mean is over 1 pair, not the 3 configured
        "name": "text-audio-only-active-pair-mean",
        "model": model_cfg(modalities=["t", "a"]),
        "loss": loss(pairs=["vt", "va", "ta"], pairReduction="mean"),
        "optimizer": adam(),
    },
    {
        # |s| <= 1/tau = 100: exp(s) overflows float32 unless the engine shifts its log-sum-exp
        "name": "small-temperature",
        "model": model_cfg(),
        "loss": loss(temperature=0.01, pairReduction="mean"),
        "optimizer": adam(clipGradNorm=1.0),
    },
]


def initial_weights(model: FusionModel, rng: np.random.Generator):
    """Weights in the engine layout, deliberately away from the default initialisation so that
    every transform (weight norm gains, affine norms, running statistics) is exercised."""
    params = {}
    for name, get, to_engine, _ in param_map(model):
        shape = tuple(to_engine(get().detach()).shape)
        if name.endswith(".weight_v"):
            vals = rng.normal(0, 0.3, shape)
        elif name.endswith(".weight_g"):
            v = np.array(params[name[: -len("weight_g")] + "weight_v"]).reshape(-1, shape[0])
            vals = np.linalg.norm(v, axis=0) * rng.uniform(0.5, 1.5, shape)
        elif ".bn.weight" in name or ".layer_norm.weight" in name:
            vals = 1 + 0.2 * rng.uniform(-1, 1, shape)
        elif ".bn.bias" in name or ".layer_norm.bias" in name:
            vals = 0.1 * rng.uniform(-1, 1, shape)
        elif len(shape) == 2:
            vals = rng.uniform(-1, 1, shape) / np.sqrt(shape[0])
        else:
            vals = rng.uniform(-0.5, 0.5, shape)
        params[name] = vals.reshape(-1).tolist()
    buffers = {}
    for name, bn, attr in buffer_map(model):
        size = getattr(bn, attr).numel()
        buffers[name] = (rng.normal(0, 0.1, size) if attr == "running_mean" else rng.uniform(0.5, 1.5, size)).tolist()
    return params, buffers


def make_batch(rng: np.random.Generator, cfg: dict, n: int, labelled: bool = True):
    inp = cfg["inputs"]
    f = inp["frames"]
    v_len = rng.integers(1, f + 1, n)
    v = rng.normal(0, 1, (n, f, inp["visual"]))
    for i in range(n):
        v[i, v_len[i]:] = 0
    batch = {
        "n": n,
        "t": rng.normal(0, 1, (n, inp["text"])).reshape(-1).tolist(),
        "a": rng.normal(0, 1, (n, inp["audio"])).reshape(-1).tolist(),
        "v": v.reshape(-1).tolist(),
        "vLen": v_len.tolist(),
    }
    if labelled:
        # every class at least twice so each anchor has positives and negatives
        labels = np.array([i % cfg["numClasses"] for i in range(n)])
        rng.shuffle(labels)
        batch["labels"] = labels.tolist()
    return batch


def make_masks(rng: np.random.Generator, model: FusionModel, cfg: dict, n: int):
    widths = {}
    for name in model.rates:
        if name.startswith("tcn."):
            widths[name] = (cfg["inputs"]["frames"], cfg["tcn"]["channels"])
        elif name.startswith("head_"):
            widths[name] = (cfg["headDim"],)
        elif name.startswith("early."):
            widths[name] = (cfg["earlyFusion"]["hidden"],)
        else:
            widths[name] = (cfg["classifierHidden"][int(name.split(".")[1])],)
    return {name: (rng.uniform(0, 1, (n, *w)) >= model.rates[name]).astype(np.uint8).reshape(-1).tolist() for name, w in widths.items()}


def tensors(batch: dict, cfg: dict):
    inp = cfg["inputs"]
    n = batch["n"]
    t = torch.tensor(batch["t"], dtype=torch.float64).reshape(n, inp["text"])
    a = torch.tensor(batch["a"], dtype=torch.float64).reshape(n, inp["audio"])
    v = torch.tensor(batch["v"], dtype=torch.float64).reshape(n, inp["frames"], inp["visual"])
    v_len = torch.tensor(batch["vLen"], dtype=torch.int64)
    return t, a, v, v_len


def mask_tensors(masks: dict, model: FusionModel, cfg: dict, n: int):
    out = {}
    for name, flat in masks.items():
        m = torch.tensor(flat, dtype=torch.bool)
        if name.startswith("tcn."):
            out[name] = m.reshape(n, cfg["inputs"]["frames"], cfg["tcn"]["channels"])
        else:
            out[name] = m.reshape(n, -1)
    return out


def run_scenario(sc: dict, seed: int):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    cfg = sc["model"]
    model = FusionModel(cfg).double()
    params, buffers = initial_weights(model, rng)
    load_engine_weights(model, params, buffers)
    opt = make_optimizer(model, sc["optimizer"])
    clip = sc["optimizer"].get("clipGradNorm")
    steps = []
    first_grads = None
    for s in range(STEPS):
        batch = make_batch(rng, cfg, BATCH)
        masks = make_masks(rng, model, cfg, BATCH)
        t, a, v, v_len = tensors(batch, cfg)
        labels = torch.tensor(batch["labels"], dtype=torch.int64)
        model.train()
        opt.zero_grad()
        logits, proj = model(t, a, v, v_len, mask_tensors(masks, model, cfg, BATCH))
        loss, ce, con = fusion_loss(logits, proj, labels, sc["loss"])
        # the benchmark's vectorised loss must be the same function
        assert abs(fusion_loss(logits, proj, labels, sc["loss"], vectorized=True)[0].item() - loss.item()) < 1e-12
        loss.backward()
        if s == 0:
            first_grads = engine_params(model, grads=True)
        grads = [p.grad for p in model.parameters()]
        grad_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        steps.append({"batch": batch, "masks": masks, "loss": loss.item(), "ce": ce.item(), "contrastive": con.item(), "gradNorm": grad_norm})
    eval_batch = make_batch(rng, cfg, 5, labelled=False)
    model.eval()
    with torch.no_grad():
        eval_logits, _ = model(*tensors(eval_batch, cfg))
    return {
        **sc,
        "initial": {"params": params, "buffers": buffers},
        "steps": steps,
        "firstGradients": first_grads,
        "final": {"params": engine_params(model), "buffers": engine_buffers(model)},
        "eval": {"batch": eval_batch, "logits": eval_logits.reshape(-1).tolist()},
    }


def kept_scenarios() -> dict:
    """With --keep-existing: scenarios of the current fixture whose configuration is unchanged
    (a loss without pairReduction meaning "sum", as LossConfigSchema reads it). float64 results
    differ between machines by 1e-16..1e-12 relative (CPU kernels sum in different orders), so
    a full regeneration rewrites every number without changing what the test checks."""
    if "--keep-existing" not in sys.argv[1:] or not os.path.exists(OUT):
        return {}
    with open(OUT) as f:
        old = json.load(f)
    out = {}
    for sc in old["scenarios"]:
        sc["loss"] = {"pairReduction": "sum", **sc["loss"]}
        out[sc["name"]] = sc
    return out


def main():
    torch.set_default_dtype(torch.float64)
    kept = kept_scenarios()
    scenarios = []
    for i, sc in enumerate(SCENARIOS):
        old = kept.get(sc["name"])
        same = old is not None and all(old[k] == sc[k] for k in ("model", "loss", "optimizer"))
        scenarios.append({**old, "loss": sc["loss"]} if same else run_scenario(sc, 100 + i))
        print(f"{sc['name']}: {'kept' if same else 'generated'}")
    fixture = {
        "generator": "scripts/engine/torch_reference.py",
        "torch": torch.__version__,
        "dtype": "float64",
        "scenarios": scenarios,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
