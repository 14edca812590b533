"""Python references for bench/extract/encoders.bench.ts: the same encoder on the same input tensors,
run by onnxruntime (Python, the model folder's onnx/model.onnx) and by PyTorch eager mode (the
folder's safetensors weights, written by make_tiny_models.py --real), both on CPU with the given
thread count.

    python bench_reference.py --model DIR --kind text|audio|visual --inputs FILE.json --threads 1

FILE.json names the raw little-endian tensors the Node benchmark fed ({"tensors": {name: {"file",
"dtype", "shape"}}}): for the per-family rows (bench/extract/families.ts) the very tensors the extract
stage's runner gave the session, timed with --skip-torch (any family: the ratio is to Python onnxruntime). Prints one JSON object: median milliseconds per call for each runtime, their
versions, and the largest difference between the two runtimes' outputs.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np


def load_inputs(path: str) -> dict[str, np.ndarray]:
    spec = json.load(open(path))
    base = os.path.dirname(os.path.abspath(path))
    out = {}
    for name, t in spec["tensors"].items():
        out[name] = np.fromfile(os.path.join(base, t["file"]), dtype=np.dtype(t["dtype"]).newbyteorder("<")).reshape(t["shape"])
    return out


def timed(fn, warmup: int, iters: int) -> tuple[float, object]:
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--kind", choices=["text", "audio", "visual"], required=True)
    ap.add_argument("--inputs", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--skip-torch", action="store_true")
    a = ap.parse_args()
    feeds = load_inputs(a.inputs)
    result: dict[str, object] = {"kind": a.kind, "threads": a.threads}

    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(os.path.join(a.model, "onnx", "model.onnx"), so, providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}
    ort_feeds = {k: v for k, v in feeds.items() if k in names}
    # the encoders read last_hidden_state; a graph that names its output otherwise is timed on its first one
    outputs = [o.name for o in sess.get_outputs()]
    output = "last_hidden_state" if "last_hidden_state" in outputs else outputs[0]
    missing = sorted(names - set(ort_feeds))
    if missing:
        raise SystemExit(f"the graph needs inputs the benchmark did not feed: {missing}")
    ms, ort_out = timed(lambda: sess.run([output], ort_feeds)[0], a.warmup, a.iters)
    result.update(ort_ms=ms, onnxruntime=ort.__version__)

    if not a.skip_torch:
        import torch
        from transformers import BertModel, SwinModel, Wav2Vec2Model

        torch.set_num_threads(a.threads)
        cls = {"text": BertModel, "audio": Wav2Vec2Model, "visual": SwinModel}[a.kind]
        kwargs = {"add_pooling_layer": False} if a.kind != "audio" else {}
        model = cls.from_pretrained(a.model, **kwargs).eval()
        tfeeds = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in feeds.items()}

        def run():
            with torch.inference_mode():
                return model(**tfeeds).last_hidden_state

        ms, torch_out = timed(run, a.warmup, a.iters)
        result.update(torch_ms=ms, torch=torch.__version__, max_abs_diff_ort_torch=float(np.abs(torch_out.numpy() - ort_out).max()))
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
