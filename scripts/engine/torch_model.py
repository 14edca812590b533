"""The DeepMSI-MER fusion model (model-spec section 3) and loss (section 4) in PyTorch.

An independent implementation for checking the TypeScript/ONNX training engine: it uses PyTorch's
own layers (Conv1d with symmetric padding and a chomp, parametrized weight norm, BatchNorm1d,
LayerNorm, exact GELU) and a loop-based contrastive loss, and maps its parameters to and from the
engine's layout (names and shapes of activities/model/graphs.ts modelLayout()).

Shared by torch_reference.py (parity fixtures) and torch_bench.py (throughput reference).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


class MaskedDropout:
    """Inverted dropout with keep-masks supplied from outside (engine layout: channels last)."""

    def __init__(self, masks: dict[str, torch.Tensor] | None, rates: dict[str, float]):
        self.masks = masks
        self.rates = rates

    def __call__(self, name: str, x: torch.Tensor, channels_first: bool = False) -> torch.Tensor:
        p = self.rates[name]
        if self.masks is None or p <= 0:
            return x
        m = self.masks[name].to(x.dtype)
        if channels_first:
            m = m.permute(0, 2, 1)
        return x * m / (1 - p)


class TemporalBlock(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, dilation: int):
        super().__init__()
        self.pad = (kernel - 1) * dilation
        self.conv1 = weight_norm(nn.Conv1d(cin, cout, kernel, padding=self.pad, dilation=dilation), dim=0)
        self.conv2 = weight_norm(nn.Conv1d(cout, cout, kernel, padding=self.pad, dilation=dilation), dim=0)
        self.downsample = nn.Conv1d(cin, cout, 1) if cin != cout else None

    def chomp(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, : -self.pad].contiguous() if self.pad > 0 else x

    def forward(self, x: torch.Tensor, drop: MaskedDropout, name: str) -> torch.Tensor:
        h = drop(f"{name}.dropout1", F.relu(self.chomp(self.conv1(x))), channels_first=True)
        h = drop(f"{name}.dropout2", F.relu(self.chomp(self.conv2(h))), channels_first=True)
        res = x if self.downsample is None else self.downsample(x)
        return F.relu(h + res)


class DenseBlock(nn.Module):
    def __init__(self, cin: int, cout: int, slope: float, eps: float, momentum: float):
        super().__init__()
        self.linear = nn.Linear(cin, cout)
        self.bn = nn.BatchNorm1d(cout, eps=eps, momentum=momentum)
        self.slope = slope

    def forward(self, x: torch.Tensor, drop: MaskedDropout, name: str) -> torch.Tensor:
        return drop(f"{name}.dropout", F.leaky_relu(self.bn(self.linear(x)), self.slope))


class ProjectionHead(nn.Module):
    def __init__(self, cin: int, dim: int, eps: float):
        super().__init__()
        self.projection = nn.Linear(cin, dim)
        self.fc = nn.Linear(dim, dim)
        self.layer_norm = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: torch.Tensor, drop: MaskedDropout, name: str) -> torch.Tensor:
        p = self.projection(x)
        h = drop(f"{name}.dropout", self.fc(F.gelu(p)))
        return self.layer_norm(h + p)


class FusionModel(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        self.cfg = cfg
        mods = cfg["modalities"]
        inp = cfg["inputs"]
        bn = cfg["batchNorm"]
        c = cfg["tcn"]["channels"]
        k = cfg["tcn"]["kernel"]
        self.has = {m: m in mods for m in ("v", "t", "a")}
        self.rates: dict[str, float] = {}
        other, heads = cfg["dropout"]["other"], cfg["dropout"]["heads"]
        if self.has["v"]:
            blocks = []
            cin = inp["visual"]
            for i, d in enumerate(cfg["tcn"]["dilations"]):
                blocks.append(TemporalBlock(cin, c, k, d))
                self.rates[f"tcn.{i}.dropout1"] = other
                self.rates[f"tcn.{i}.dropout2"] = other
                cin = c
            self.tcn = nn.ModuleList(blocks)
            self.early_width = (inp["text"] if self.has["t"] else 0) + (inp["audio"] if self.has["a"] else 0)
            if cfg["summary"] == "guided":
                if self.early_width > 0:
                    ef = cfg["earlyFusion"]
                    self.early0 = DenseBlock(self.early_width, ef["hidden"], cfg["leakySlope"], bn["eps"], bn["momentum"])
                    self.rates["early.0.dropout"] = other
                    self.early_out = nn.Linear(ef["hidden"], ef["out"])
                    self.query = nn.Linear(ef["out"], c)
                else:
                    self.query_vector = nn.Parameter(torch.randn(c) / math.sqrt(c))
            self.head_v = ProjectionHead(c, cfg["headDim"], cfg["layerNormEps"])
            self.rates["head_v.dropout"] = heads
        if self.has["t"]:
            self.head_t = ProjectionHead(inp["text"], cfg["headDim"], cfg["layerNormEps"])
            self.rates["head_t.dropout"] = heads
        if self.has["a"]:
            self.head_a = ProjectionHead(inp["audio"], cfg["headDim"], cfg["layerNormEps"])
            self.rates["head_a.dropout"] = heads
        width = cfg["headDim"] * sum(self.has.values())
        blocks = []
        for i, h in enumerate(cfg["classifierHidden"]):
            blocks.append(DenseBlock(width, h, cfg["leakySlope"], bn["eps"], bn["momentum"]))
            self.rates[f"classifier.{i}.dropout"] = other
            width = h
        self.classifier = nn.ModuleList(blocks)
        self.classifier_out = nn.Linear(width, cfg["numClasses"])

    def forward(self, t, a, v, v_len, masks=None):
        drop = MaskedDropout(masks if self.training else None, self.rates)
        proj = {}
        if self.has["v"]:
            h = v.permute(0, 2, 1)  # [N, Dv, T]
            for i, block in enumerate(self.tcn):
                h = block(h, drop, f"tcn.{i}")
            h = h.permute(0, 2, 1)  # [N, T, C]
            n, frames, c = h.shape
            if self.cfg["summary"] == "last":
                summary = h[torch.arange(n), v_len - 1]
            else:
                if self.early_width > 0:
                    x = torch.cat([z for z, use in ((t, self.has["t"]), (a, self.has["a"])) if use], dim=1)
                    e = self.early_out(self.early0(x, drop, "early.0"))
                    q = self.query(e)
                else:
                    q = self.query_vector.unsqueeze(0).expand(n, c)
                scores = torch.einsum("ntc,nc->nt", h, q) / math.sqrt(c)
                valid = torch.arange(frames).unsqueeze(0) < v_len.unsqueeze(1)
                alpha = torch.softmax(scores.masked_fill(~valid, -1e9), dim=1)
                summary = torch.einsum("nt,ntc->nc", alpha, h)
            proj["v"] = self.head_v(summary, drop, "head_v")
        if self.has["t"]:
            proj["t"] = self.head_t(t, drop, "head_t")
        if self.has["a"]:
            proj["a"] = self.head_a(a, drop, "head_a")
        x = torch.cat([proj[m] for m in ("v", "t", "a") if m in proj], dim=1)
        for i, block in enumerate(self.classifier):
            x = block(x, drop, f"classifier.{i}")
        return self.classifier_out(x), proj


def supervised_contrastive(za, zb, labels, temperature, normalization):
    """Written anchor by anchor straight from the definition in model-spec section 4."""
    za = F.normalize(za, dim=1)
    zb = F.normalize(zb, dim=1)
    s = za @ zb.T / temperature
    n = len(labels)
    y = labels.tolist()
    total = torch.zeros((), dtype=za.dtype)
    for i in range(n):
        pos = [j for j in range(n) if j != i and y[j] == y[i]]
        neg = [k for k in range(n) if y[k] != y[i]]
        if not pos:
            continue
        neg_sum = torch.exp(s[i, neg]).sum() if neg else torch.zeros((), dtype=za.dtype)
        li = sum(-torch.log(torch.exp(s[i, j]) / (torch.exp(s[i, j]) + neg_sum)) for j in pos)
        total = total + li / (len(pos) if normalization == "positives" else max(n - 1, 1))
    return total / n


def supervised_contrastive_vectorized(za, zb, labels, temperature, normalization):
    """The same loss as supervised_contrastive, written with masks as a PyTorch user would (used
    by the benchmark, where the per-anchor Python loop would dominate the step time)."""
    s = F.normalize(za, dim=1) @ F.normalize(zb, dim=1).T / temperature
    same = (labels[:, None] == labels[None, :]).to(s.dtype)
    pos = same * (1 - torch.eye(len(labels), dtype=s.dtype))
    neg_sum = (torch.exp(s) * (1 - same)).sum(1, keepdim=True)
    l = torch.log(torch.exp(s) + neg_sum) - s
    count = pos.sum(1).clamp_min(1) if normalization == "positives" else torch.tensor(max(len(labels) - 1, 1), dtype=s.dtype)
    return ((l * pos).sum(1) / count).mean()


def fusion_loss(logits, proj, labels, loss_cfg, vectorized=False):
    weights = loss_cfg.get("classWeights")
    w = torch.tensor(weights, dtype=logits.dtype) if weights else None
    ce = F.cross_entropy(logits, labels, weight=w)
    con_fn = supervised_contrastive_vectorized if vectorized else supervised_contrastive
    terms = [
        con_fn(proj[p[0]], proj[p[1]], labels, loss_cfg["temperature"], loss_cfg["normalization"])
        for p in loss_cfg["pairs"]
        if p[0] in proj and p[1] in proj
    ]
    # active pairs only (those whose two modalities the variant has); the reference averages them
    if not terms:
        con = torch.zeros((), dtype=logits.dtype)
    elif loss_cfg.get("pairReduction", "sum") == "mean":
        con = sum(terms) / len(terms)
    else:
        con = sum(terms)
    return ce + loss_cfg["contrastiveWeight"] * con, ce, con


def make_optimizer(model, opt_cfg):
    kwargs = dict(lr=opt_cfg["lr"], betas=(opt_cfg["beta1"], opt_cfg["beta2"]), eps=opt_cfg["eps"], weight_decay=opt_cfg["weightDecay"], foreach=False)
    cls = torch.optim.AdamW if opt_cfg["decoupledWeightDecay"] else torch.optim.Adam
    return cls(model.parameters(), **kwargs)


# ---- engine layout <-> torch tensors -------------------------------------------------------------

# Each entry: (engine name, getter of the torch tensor, torch -> engine tensor, flat engine values ->
# torch-shaped tensor). Engine layouts: Linear [in, out]; weight-normed conv v [k * Cin, Cout] with
# row j * Cin + c = torch v[:, c, j]; g [Cout]; 1x1 conv [Cin, Cout].

def _same(prefix_name, get):
    return (prefix_name, get, lambda w: w, lambda x: x.reshape(get().shape))


def _linear(mod: nn.Linear, prefix: str):
    out_f, in_f = mod.weight.shape
    return [
        (f"{prefix}.weight", lambda: mod.weight, lambda w: w.T, lambda x: x.reshape(in_f, out_f).T),
        _same(f"{prefix}.bias", lambda: mod.bias),
    ]


def _conv_wn(conv: nn.Conv1d, prefix: str):
    p = conv.parametrizations.weight
    cout, cin, k = p.original1.shape
    return [
        (f"{prefix}.weight_v", lambda: p.original1, lambda w: w.permute(2, 1, 0).reshape(k * cin, cout), lambda x: x.reshape(k, cin, cout).permute(2, 1, 0)),
        (f"{prefix}.weight_g", lambda: p.original0, lambda w: w.reshape(cout), lambda x: x.reshape(cout, 1, 1)),
        _same(f"{prefix}.bias", lambda: conv.bias),
    ]


def _conv1x1(conv: nn.Conv1d, prefix: str):
    cout, cin, _ = conv.weight.shape
    return [
        (f"{prefix}.weight", lambda: conv.weight, lambda w: w[:, :, 0].T, lambda x: x.reshape(cin, cout).T.unsqueeze(2)),
        _same(f"{prefix}.bias", lambda: conv.bias),
    ]


def _norm(mod, prefix: str):
    return [_same(f"{prefix}.weight", lambda: mod.weight), _same(f"{prefix}.bias", lambda: mod.bias)]


def _head(head: ProjectionHead, prefix: str):
    return _linear(head.projection, f"{prefix}.projection") + _linear(head.fc, f"{prefix}.fc") + _norm(head.layer_norm, f"{prefix}.layer_norm")


def param_map(model: FusionModel):
    """(engine name, torch tensor getter, torch->engine, engine->torch) for every parameter."""
    out = []
    if model.has["v"]:
        for i, block in enumerate(model.tcn):
            out += _conv_wn(block.conv1, f"tcn.{i}.conv1") + _conv_wn(block.conv2, f"tcn.{i}.conv2")
            if block.downsample is not None:
                out += _conv1x1(block.downsample, f"tcn.{i}.downsample")
        if model.cfg["summary"] == "guided":
            if model.early_width > 0:
                out += _linear(model.early0.linear, "early.0.linear") + _norm(model.early0.bn, "early.0.bn")
                out += _linear(model.early_out, "early.out") + _linear(model.query, "attention.query")
            else:
                out.append(_same("attention.query_vector", lambda: model.query_vector))
        out += _head(model.head_v, "head_v")
    if model.has["t"]:
        out += _head(model.head_t, "head_t")
    if model.has["a"]:
        out += _head(model.head_a, "head_a")
    for i, block in enumerate(model.classifier):
        out += _linear(block.linear, f"classifier.{i}.linear") + _norm(block.bn, f"classifier.{i}.bn")
    out += _linear(model.classifier_out, "classifier.out")
    return out


def buffer_map(model: FusionModel):
    bns = []
    if model.has["v"] and model.cfg["summary"] == "guided" and model.early_width > 0:
        bns.append(("early.0.bn", model.early0.bn))
    bns += [(f"classifier.{i}.bn", b.bn) for i, b in enumerate(model.classifier)]
    out = []
    for name, bn in bns:
        out.append((f"{name}.running_mean", bn, "running_mean"))
        out.append((f"{name}.running_var", bn, "running_var"))
    return out


def load_engine_weights(model: FusionModel, params: dict, buffers: dict):
    with torch.no_grad():
        for name, get, _, from_engine in param_map(model):
            t = get()
            t.copy_(from_engine(torch.tensor(params[name], dtype=t.dtype)))
        for name, bn, attr in buffer_map(model):
            getattr(bn, attr).copy_(torch.tensor(buffers[name], dtype=getattr(bn, attr).dtype))


def engine_params(model: FusionModel, grads: bool = False) -> dict:
    out = {}
    for name, get, to_engine, _ in param_map(model):
        t = get().grad if grads else get()
        out[name] = to_engine(t.detach()).reshape(-1).tolist()
    return out


def engine_buffers(model: FusionModel) -> dict:
    return {name: getattr(bn, attr).detach().reshape(-1).tolist() for name, bn, attr in buffer_map(model)}
