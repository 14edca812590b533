"""Writes test/fixtures/engine/torch-degenerate.json: PyTorch's values and gradients (float64) of
the loss pieces on degenerate inputs, for test/model/degenerate-inputs.test.ts.

Cases: F.normalize of zero and tiny rows; the fusion loss (torch_model.fusion_loss, the
loop-based contrastive definition) with zero projection rows, constant batches, a zero modality,
very small temperatures, anchors without negatives or positives; training-mode BatchNorm over a
constant batch and LayerNorm of constant and zero rows. Every case records the inputs, a fixed
random cotangent R where the output is a tensor (the test differentiates sum(y * R)), the outputs
and the gradients.

Run in the throwaway venv of torch_reference.py:
    /tmp/torchref/bin/python scripts/engine/torch_degenerate.py
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_model import fusion_loss, supervised_contrastive  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "test", "fixtures", "engine", "torch-degenerate.json")
N, D, C = 7, 5, 3


def flat(t: torch.Tensor) -> list:
    return t.detach().reshape(-1).tolist()


def leaf(x: np.ndarray) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


def normalize_case(name: str, x: np.ndarray, rng: np.random.Generator) -> dict:
    r = rng.uniform(-1, 1, x.shape)
    xt = leaf(x)
    y = F.normalize(xt, dim=1)
    (y * torch.tensor(r)).sum().backward()
    return {"name": name, "shape": list(x.shape), "x": flat(xt), "r": r.reshape(-1).tolist(), "y": flat(y), "grad": flat(xt.grad)}


def loss_cfg(**over) -> dict:
    cfg = {"contrastiveWeight": 0.5, "temperature": 0.5, "pairs": ["vt", "va"], "pairReduction": "mean", "normalization": "positives"}
    cfg.update(over)
    return cfg


def lse_contrastive(za, zb, labels, temperature, normalization):
    """The contrastive term in log-sum-exp form: l_ij = logaddexp(s_ij, lse_{k in Q(i)} s_ik) - s_ij."""
    s = F.normalize(za, dim=1) @ F.normalize(zb, dim=1).T / temperature
    n = len(labels)
    same = labels[:, None] == labels[None, :]
    pos = (same & ~torch.eye(n, dtype=torch.bool)).to(s.dtype)
    has_neg = (~same).any(1, keepdim=True)
    neg_lse = torch.logsumexp(s.masked_fill(same, -torch.inf), dim=1, keepdim=True)
    l = torch.where(has_neg, torch.logaddexp(s, neg_lse.masked_fill(~has_neg, 0)) - s, 0)
    count = pos.sum(1).clamp_min(1) if normalization == "positives" else max(n - 1, 1)
    return ((l * pos).sum(1) / count).mean()


def check_definition(proj: dict, labels: torch.Tensor, cfg: dict, name: str) -> None:
    """The loop-based definition divides exp(s_ij) by a sum of exp(s_ik), and autograd squares
    that sum: in float64 its value and gradient lose digits once 2/tau nears ~700 (subnormal
    ratios, an overflowing square). Before recording a case, check both against the
    log-sum-exp form."""
    for pair in cfg["pairs"]:
        out = []
        for fn in (supervised_contrastive, lse_contrastive):
            za = proj[pair[0]].detach().clone().requires_grad_()
            zb = proj[pair[1]].detach().clone().requires_grad_()
            value = fn(za, zb, labels, cfg["temperature"], cfg["normalization"])
            if value.requires_grad:
                value.backward()
            out.append([value.reshape(1)] + [z.grad if z.grad is not None else torch.zeros_like(z) for z in (za, zb)])
        for a, b in zip(*out):
            assert torch.allclose(a, b, rtol=1e-10, atol=1e-10), f"{name}: the definition loses precision ({pair})"


def loss_case(name: str, rng: np.random.Generator, labels: list, cfg: dict, shape_proj=None) -> dict:
    """shape_proj(v, t, a) edits the random projections in place to make them degenerate."""
    n = len(labels)
    logits = rng.normal(0, 1, (n, C))
    proj = {m: rng.normal(0, 1, (n, D)) for m in ("v", "t", "a")}
    if shape_proj:
        shape_proj(proj["v"], proj["t"], proj["a"])
    lt = leaf(logits)
    pt = {m: leaf(p) for m, p in proj.items()}
    y = torch.tensor(labels, dtype=torch.int64)
    total, ce, con = fusion_loss(lt, pt, y, cfg)
    check_definition(pt, y, cfg, name)
    total.backward()
    # a term torch prunes from the graph (no positives anywhere) has gradient zero
    grad = lambda t: flat(t.grad) if t.grad is not None else [0.0] * t.numel()  # noqa: E731
    grads = {"logits": grad(lt), **{m: grad(p) for m, p in pt.items()}}
    for key, g in grads.items():
        assert all(np.isfinite(g)), f"{name}: torch gradient of {key} is not finite"
    return {
        "name": name,
        "loss": cfg,
        "n": n,
        "labels": labels,
        "logits": flat(lt),
        "projections": {m: flat(p) for m, p in pt.items()},
        "total": total.item(),
        "ce": ce.item(),
        "contrastive": con.item(),
        "grads": grads,
    }


def norm_case(name: str, kind: str, x: np.ndarray, rng: np.random.Generator) -> dict:
    features = x.shape[1]
    r = rng.uniform(-1, 1, x.shape)
    gamma = leaf(1 + 0.2 * rng.uniform(-1, 1, features))
    beta = leaf(0.1 * rng.uniform(-1, 1, features))
    xt = leaf(x)
    if kind == "batchNorm":
        y = F.batch_norm(xt, None, None, gamma, beta, training=True, eps=1e-5)
    else:
        y = F.layer_norm(xt, (features,), gamma, beta, eps=1e-5)
    (y * torch.tensor(r)).sum().backward()
    return {
        "name": name,
        "kind": kind,
        "shape": list(x.shape),
        "x": flat(xt),
        "gamma": flat(gamma),
        "beta": flat(beta),
        "r": r.reshape(-1).tolist(),
        "y": flat(y),
        "grads": {"x": flat(xt.grad), "gamma": flat(gamma.grad), "beta": flat(beta.grad)},
    }


def main():
    torch.set_default_dtype(torch.float64)
    rng = np.random.default_rng(2024)
    labels = [0, 1, 2, 0, 1, 2, 0]

    x = rng.normal(0, 1, (4, D))
    x[1] = 0
    normalize = [normalize_case("zero-row", x, rng)]
    x = rng.normal(0, 1, (3, D))
    x[0] = 1e-14 * rng.normal(0, 1, D)  # norm below eps: clamped, its norm gets no gradient
    x[2] = 1e-13 * rng.normal(0, 1, D) + 1e-12  # around the clamp
    normalize.append(normalize_case("tiny-rows", x, rng))

    def zero_rows(v, t, a):
        v[1] = 0
        t[4] = 0

    def constant(v, t, a):
        v[:] = v[0]
        t[:] = t[0]
        a[:] = a[0]

    def zero_text(v, t, a):
        t[:] = 0

    def aligned(v, t, a):
        t[:] = v  # s_ii = 1/tau: the largest similarity the temperature allows
        a[:] = -v

    losses = [
        loss_case("zero-rows", rng, labels, loss_cfg(), zero_rows),
        loss_case("constant-batch", rng, labels, loss_cfg(), constant),
        loss_case("zero-modality", rng, labels, loss_cfg(), zero_text),
        loss_case("small-temperature-aligned", rng, labels, loss_cfg(temperature=0.01), aligned),
        # exp(1/tau) = exp(143): beyond float32, still accurate in float64 for the definition; and 1/tau
        # is not a float32 number (see the MatMul note in loss.ts)
        loss_case("tiny-temperature", rng, labels, loss_cfg(temperature=0.007, pairs=["vt", "va", "ta"])),
        loss_case("no-negatives", rng, [1] * N, loss_cfg()),
        loss_case("no-positives", rng, [0, 1, 2], loss_cfg()),
        loss_case(
            "zero-rows-sum-reference-weights",
            rng,
            labels,
            loss_cfg(pairs=["vt", "va", "ta"], pairReduction="sum", normalization="reference", classWeights=[0.5, 2.0, 1.0]),
            zero_rows,
        ),
    ]

    x = np.tile(rng.normal(0, 1, (1, 3)), (4, 1))
    norms = [norm_case("batchnorm-constant-batch", "batchNorm", x, rng)]
    x = rng.normal(0, 1, (3, 4))
    x[0] = 0.7
    x[1] = 0
    norms.append(norm_case("layernorm-constant-and-zero-rows", "layerNorm", x, rng))

    fixture = {
        "generator": "scripts/engine/torch_degenerate.py",
        "torch": torch.__version__,
        "dtype": "float64",
        "normalize": normalize,
        "losses": losses,
        "norms": norms,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
