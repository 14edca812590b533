"""Python reference for the evaluate stage's statistics (activities/evaluate/stats/).

Writes test/fixtures/evaluate/stats-reference.json, which test/evaluate/stats.test.ts replays without
Python. Run with any python3 (3.10+):

    python3 scripts/evaluate/make_stats_fixtures.py

Like make_metrics_fixtures.py it creates a throwaway venv, pip installs the pinned packages, re-runs
itself there and deletes the venv; `--python PATH` uses an interpreter that already has them.

What is independent of the TypeScript and what is re-implemented:
- scipy.stats.t gives the t quantiles and intervals; statsmodels multipletests(method='holm') the Holm
  adjustment; np.quantile (method 'linear') the percentile intervals; scikit-learn checks the metric of
  every tenth resample.
- The generator (mulberry32) and the resampling protocol are re-implemented here so the resampled
  figures match the TypeScript exactly rather than in distribution: clusters numbered in order of first
  appearance; a bootstrap round draws K indices floor(u * K); a randomisation round draws one u per
  cluster and swaps when u < 1/2, from mulberry32(fmix32(seed ^ 0x5bd1e995)). The resampling here is
  naive (it rebuilds the resampled utterance list each round), unlike the TypeScript's per-cluster
  counts. The score of a resample is computed from integer class counts in the same order of operations
  as activities/model/metrics.ts, so scores of equal counts are bit-identical on both sides and the
  p-values' tie counts (|stat| >= |observed|) agree exactly.

Deterministic: inputs from numpy's legacy RandomState with fixed seeds, pinned versions, floats written
with repr, so a re-run rewrites the same bytes.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

PINS = ["scikit-learn==1.9.1", "numpy==2.4.6", "scipy==1.17.1", "statsmodels==0.15.0"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(ROOT, "test", "fixtures", "evaluate", "stats-reference.json")
INSIDE = "--inside-venv"
M32 = 0xFFFFFFFF


def bootstrap(args: argparse.Namespace) -> int:
    forward = [INSIDE, "--out", os.path.abspath(args.out)]
    if args.python:
        return subprocess.call([args.python, os.path.abspath(__file__), *forward])
    tmp = tempfile.mkdtemp(prefix="mer-stats-")
    try:
        venv = os.path.join(tmp, "venv")
        print(f"creating venv in {venv}", file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "venv", venv])
        py = os.path.join(venv, "Scripts" if os.name == "nt" else "bin", "python")
        subprocess.check_call([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PINS])
        return subprocess.call([py, os.path.abspath(__file__), *forward])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# the generator and the scores, bit for bit as the TypeScript


def mulberry32(seed: int):
    state = [seed & M32]

    def draw() -> float:
        state[0] = (state[0] + 0x6D2B79F5) & M32
        t = state[0]
        t = ((t ^ (t >> 15)) * (t | 1)) & M32
        t ^= (t + (((t ^ (t >> 7)) * (t | 61)) & M32)) & M32
        return ((t ^ (t >> 14)) & M32) / 4294967296.0

    return draw


def fmix32(h: int) -> int:
    h &= M32
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & M32
    h ^= h >> 16
    return h


def randomisation_seed(seed: int) -> int:
    return fmix32(seed ^ 0x5BD1E995)


def score(y_true, y_pred, classes: int, metric: str) -> float:
    """accuracy / weighted F1 from integer counts, in activities/model/metrics.ts's order of operations."""
    import numpy as np

    support = np.bincount(y_true, minlength=classes).tolist()
    predicted = np.bincount(y_pred, minlength=classes).tolist()
    tp = np.bincount(y_true[y_true == y_pred], minlength=classes).tolist()
    n = len(y_true)
    if n == 0:
        return 0.0
    if metric == "accuracy":
        return sum(tp) / n
    s = 0.0
    for c in range(classes):
        precision = 0.0 if predicted[c] == 0 else tp[c] / predicted[c]
        recall = 0.0 if support[c] == 0 else tp[c] / support[c]
        f1 = 0.0 if precision + recall == 0 else (2 * precision * recall) / (precision + recall)
        s += f1 * support[c]
    return s / n


def sk_score(y_true, y_pred, classes: int, metric: str) -> float:
    from sklearn.metrics import accuracy_score, f1_score

    if metric == "accuracy":
        return float(accuracy_score(y_true, y_pred))
    return float(f1_score(y_true, y_pred, labels=list(range(classes)), average="weighted", zero_division=0))


CHECKED = [0]


def checked_score(y_true, y_pred, classes: int, metric: str, check: bool) -> float:
    """score(), and every `check`ed one compared with scikit-learn to 1e-12."""
    s = score(y_true, y_pred, classes, metric)
    if check:
        ref = sk_score(y_true, y_pred, classes, metric)
        assert abs(s - ref) <= 1e-12, (s, ref)
        CHECKED[0] += 1
    return s


def cluster_index(clusters):
    """Cluster number of each item (in order of first appearance) and the items of each cluster."""
    import numpy as np

    order, of = {}, []
    for c in clusters:
        if c not in order:
            order[c] = len(order)
        of.append(order[c])
    of = np.asarray(of, dtype=int)
    members = [np.nonzero(of == k)[0] for k in range(len(order))]
    return of, members


def boot_rounds(y_true, preds, clusters, classes, metric, rounds, seed):
    """Per round, the scores of each prediction set on the same resampled clusters (naive)."""
    import numpy as np

    _, members = cluster_index(clusters)
    k = len(members)
    draw = mulberry32(seed)
    out = []
    for r in range(rounds):
        idx = np.concatenate([members[int(draw() * k)] for _ in range(k)])
        out.append([checked_score(y_true[idx], p[idx], classes, metric, r % 10 == 0) for p in preds])
    return out


def q(stats, level):
    """The percentile interval: np.quantile (linear) at (1 - level) / 2 and (1 + level) / 2."""
    import numpy as np

    lo, hi = np.quantile(np.asarray(stats, dtype=float), [(1 - level) / 2, (1 + level) / 2], method="linear")
    return float(lo), float(hi)


def bootstrap_interval(y_true, y_pred, clusters, classes, metric, rounds, seed, level):
    stats = [r[0] for r in boot_rounds(y_true, [y_pred], clusters, classes, metric, rounds, seed)]
    lo, hi = q(stats, level)
    return {"estimate": sk_score(y_true, y_pred, classes, metric), "low": lo, "high": hi}


def paired_bootstrap(y_true, pred_a, pred_b, clusters, classes, metric, rounds, seed, level):
    """Difference A - B, its paired percentile interval and the shift-method p-value."""
    observed = score(y_true, pred_a, classes, metric) - score(y_true, pred_b, classes, metric)
    boot = [a - b for a, b in boot_rounds(y_true, [pred_a, pred_b], clusters, classes, metric, rounds, seed)]
    count = sum(1 for d in boot if abs(d - observed) >= abs(observed))
    lo, hi = q(boot, level)
    return {"difference": sk_score(y_true, pred_a, classes, metric) - sk_score(y_true, pred_b, classes, metric),
            "low": lo, "high": hi, "pValue": (count + 1) / (rounds + 1), "count": count}


def generate(out: str) -> None:
    import numpy as np
    import scipy
    import sklearn
    import statsmodels
    from scipy import stats as st
    from statsmodels.stats.multitest import multipletests

    # ---- data: clustered predictions with a per-cluster difficulty, so clusters matter
    def clustered(seed, n_clusters, size_range, dist, acc, classes, interleave=False, prefix="dia"):
        rs = np.random.RandomState(seed)
        y_true, y_pred, clusters = [], [], []
        p = np.asarray(dist, dtype=float) / np.sum(dist)
        for k in range(n_clusters):
            size = rs.randint(size_range[0], size_range[1] + 1)
            a = min(0.98, max(0.02, acc + rs.normal(0, 0.15)))
            yt = rs.choice(classes, size=size, p=p)
            right = rs.random_sample(size) < a
            yp = np.where(right, yt, rs.randint(0, classes, size=size))
            y_true += yt.tolist()
            y_pred += yp.tolist()
            clusters += [f"{prefix}{k}"] * size
        y_true, y_pred, clusters = np.asarray(y_true), np.asarray(y_pred), np.asarray(clusters)
        if interleave:  # cluster ids not contiguous: first-appearance order is not sorted order
            perm = rs.permutation(len(y_true))
            y_true, y_pred, clusters = y_true[perm], y_pred[perm], clusters[perm]
        return y_true, y_pred, clusters

    def degrade(seed, y_true, y_pred, classes, flip):
        """Another system: each prediction re-drawn (right or uniform) with probability `flip`."""
        rs = np.random.RandomState(seed)
        redo = rs.random_sample(len(y_true)) < flip
        alt = np.where(rs.random_sample(len(y_true)) < 0.3, y_true, rs.randint(0, classes, size=len(y_true)))
        return np.where(redo, alt, y_pred)

    meld = clustered(1, 40, (1, 18), [47, 12, 3, 7, 16, 3, 11], 0.55, 7)
    iemo = clustered(2, 5, (30, 60), [4, 3, 2, 2], 0.6, 4, prefix="Ses0")
    iid = clustered(3, 120, (1, 1), [14, 11, 17, 11, 10, 18], 0.5, 6, prefix="utt")
    mixed = clustered(4, 25, (2, 12), [1, 1, 1, 1, 1, 1], 0.5, 6, interleave=True)
    datasets = {
        "meld-7class-40-dialogues": (meld, 7),
        "iemocap-4class-5-sessions": (iemo, 4),
        "6class-one-utterance-per-cluster": (iid, 6),
        "6class-interleaved-clusters": (mixed, 6),
    }

    def ser(y_true, y_pred, clusters, classes):
        return {"classes": classes, "yTrue": y_true.tolist(), "yPred": y_pred.tolist(), "clusters": clusters.tolist()}

    bootstrap_cases = []
    for name, ((yt, yp, cl), c) in datasets.items():
        for metric in ["accuracy", "weightedF1"]:
            for seed, rounds, level in [(0, 1000, 0.95), (12345, 400, 0.9)]:
                bootstrap_cases.append({
                    "data": name, "metric": metric, "seed": seed, "rounds": rounds, "level": level,
                    **bootstrap_interval(yt, yp, cl, c, metric, rounds, seed, level),
                    "clusters": len(set(cl.tolist())),
                })

    # ---- paired
    def paired_case(name, data, pred_b, metric, method, seed, rounds, level=0.95):
        (yt, ya, cl), c = data
        yb = pred_b
        res = paired_bootstrap(yt, ya, yb, cl, c, metric, rounds, seed, level)
        if method == "randomisation":
            observed = score(yt, ya, c, metric) - score(yt, yb, c, metric)
            of, members = cluster_index(cl)
            draw = mulberry32(randomisation_seed(seed))
            count = 0
            for r in range(rounds):
                swap = np.asarray([draw() < 0.5 for _ in members])
                mask = swap[of]
                pa, pb = np.where(mask, yb, ya), np.where(mask, ya, yb)
                check = r % 10 == 0
                stat = checked_score(yt, pa, c, metric, check) - checked_score(yt, pb, c, metric, check)
                if abs(stat) >= abs(observed):
                    count += 1
            res["pValue"], res["count"] = (count + 1) / (rounds + 1), count
        return {"data": name, "predB": yb.tolist(), "metric": metric, "method": method, "seed": seed,
                "rounds": rounds, "level": level, **res}

    paired_cases = []
    (yt, yp, cl), c = datasets["meld-7class-40-dialogues"]
    variants = {
        "meld-7class-40-dialogues": {
            "much-worse": degrade(21, yt, yp, c, 0.6),
            "slightly-worse": degrade(22, yt, yp, c, 0.08),
            "identical": yp.copy(),
        },
        "iemocap-4class-5-sessions": {"worse": degrade(23, *datasets["iemocap-4class-5-sessions"][0][:2], 4, 0.3)},
        "6class-interleaved-clusters": {"worse": degrade(24, *datasets["6class-interleaved-clusters"][0][:2], 6, 0.3)},
    }
    for data_name, vs in variants.items():
        for vname, pb in vs.items():
            for metric in ["accuracy", "weightedF1"]:
                for method in ["randomisation", "bootstrap"]:
                    seed = 0 if metric == "accuracy" else 99
                    case = paired_case(data_name, datasets[data_name], pb, metric, method, seed, 2000)
                    case["variant"] = vname
                    paired_cases.append(case)

    # ---- t intervals and quantiles
    t_quantiles = []
    for df in [1, 2, 3, 4, 5, 7, 9, 14, 29, 49, 99, 499]:
        for p in [0.6, 0.9, 0.95, 0.975, 0.995, 0.9995]:
            t_quantiles.append({"df": df, "p": p, "t": float(st.t.ppf(p, df))})
    rs = np.random.RandomState(31)
    t_cases = []
    for n in [2, 3, 5, 10, 30]:
        values = (0.6 + 0.02 * rs.standard_normal(n)).tolist()
        for level in [0.9, 0.95, 0.99]:
            mean = float(np.mean(values))
            std = float(np.std(values, ddof=1))
            lo, hi = st.t.interval(level, n - 1, loc=mean, scale=std / np.sqrt(n))
            t_cases.append({"values": values, "level": level, "n": n, "mean": mean, "std": std,
                            "low": float(lo), "high": float(hi)})

    # ---- Holm
    holm_cases = []
    for pv, alpha in [
        ([0.01, 0.04, 0.03, 0.005], 0.05),
        ([0.2, 0.001, 0.049, 0.03, 0.6, 0.011], 0.05),
        ([0.02, 0.02, 0.02], 0.05),
        ([0.5], 0.05),
        ([0.0001, 0.0002, 0.9, 1.0, 0.04], 0.01),
        ((rs.random_sample(12) ** 3).tolist(), 0.1),
    ]:
        reject, adjusted, _, _ = multipletests(pv, alpha=alpha, method="holm")
        holm_cases.append({"pValues": list(pv), "alpha": alpha, "adjusted": [float(x) for x in adjusted],
                           "reject": [bool(x) for x in reject]})

    doc = {
        "generator": "scripts/evaluate/make_stats_fixtures.py",
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "scikit-learn": sklearn.__version__,
                     "statsmodels": statsmodels.__version__},
        "sklearnChecks": CHECKED[0],
        "mulberry32": [{"seed": sd, "draws": [g() for g in [mulberry32(sd)] for _ in range(5)]}
                       for sd in [0, 1, 12345, 0xFFFFFFFF]],
        "randomisationSeeds": [{"seed": sd, "stream": randomisation_seed(sd)} for sd in [0, 99, 0xFFFFFFFF]],
        "datasets": {k: ser(*d, c) for k, (d, c) in datasets.items()},
        "bootstrap": bootstrap_cases,
        "paired": paired_cases,
        "tQuantiles": t_quantiles,
        "tIntervals": t_cases,
        "holm": holm_cases,
    }
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(dumps(doc) + "\n")
    print(f"wrote {out}: {len(bootstrap_cases)} bootstrap, {len(paired_cases)} paired cases, "
          f"{CHECKED[0]} resamples checked against scikit-learn", file=sys.stderr)


def dumps(obj, indent: int = 0) -> str:
    """JSON with lists of scalars on one line: small, diffable."""
    pad = "  " * (indent + 1)
    end = "  " * indent
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{pad}{json.dumps(k)}: {dumps(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + end + "}"
    if isinstance(obj, list) and any(isinstance(x, (dict, list)) for x in obj):
        return "[\n" + ",\n".join(pad + dumps(x, indent + 1) for x in obj) + "\n" + end + "]"
    return json.dumps(obj, allow_nan=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="fixture path (default: %(default)s)")
    ap.add_argument("--python", help="use this interpreter (with the pinned packages) instead of a throwaway venv")
    ap.add_argument(INSIDE, action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inside_venv:
        generate(args.out)
        return 0
    return bootstrap(args)


if __name__ == "__main__":
    sys.exit(main())
