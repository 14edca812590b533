"""scikit-learn reference values for the evaluate stage's metrics (activities/evaluate/metrics.ts).

Writes test/fixtures/evaluate/sklearn-metrics.json, which test/evaluate/metrics.test.ts replays
without Python. Run with any python3 (3.10+):

    python3 scripts/evaluate/make_metrics_fixtures.py

It creates a throwaway venv under a temporary directory, pip installs the pinned scikit-learn and
numpy from PyPI, re-runs itself inside that venv and deletes the venv afterwards. `--python PATH`
uses an existing interpreter that already has scikit-learn and numpy instead (no venv, no network).

Deterministic: the inputs come from numpy's legacy RandomState (its streams are frozen across numpy
versions) with fixed seeds, the library versions are pinned, and floats are written with repr (exact
round trip), so a re-run rewrites the same bytes.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

# Pinned so a re-run gives the same file; they are recorded in the fixture.
PINS = ["scikit-learn==1.9.1", "numpy==2.4.6", "scipy==1.17.1"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(ROOT, "test", "fixtures", "evaluate", "sklearn-metrics.json")
INSIDE = "--inside-venv"

IEMOCAP4 = ["neu", "hap", "ang", "sad"]
IEMOCAP6 = ["hap", "sad", "neu", "ang", "exc", "fru"]
MELD7 = ["neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger"]


# ---------------------------------------------------------------------------------------------
# bootstrap: a throwaway venv with the pinned packages, then re-exec inside it


def bootstrap(args: argparse.Namespace) -> int:
    forward = [INSIDE, "--out", os.path.abspath(args.out)]
    if args.python:
        return subprocess.call([args.python, os.path.abspath(__file__), *forward])
    tmp = tempfile.mkdtemp(prefix="mer-sklearn-")
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
# fixture generation (runs inside the venv)


def generate(out: str) -> None:
    import numpy as np
    import sklearn
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    def fl(x) -> float:
        return float(x)

    def sk(y_true, y_pred, c: int) -> dict:
        """Everything activities/evaluate/metrics.ts computes for one fold, the sklearn way."""
        labels = list(range(c))
        p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
        return {
            "accuracy": fl(accuracy_score(y_true, y_pred)),
            # sklearn's default labels: the classes present in y_true or y_pred.
            "f1_weighted": fl(f1_score(y_true, y_pred, average="weighted", zero_division=0)),
            "f1_macro": fl(f1_score(y_true, y_pred, average="macro", zero_division=0)),
            "precision": [fl(x) for x in p],
            "recall": [fl(x) for x in r],
            "f1": [fl(x) for x in f],
            "support": [int(x) for x in s],
            "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
            # normalize='true' divides each row by its sum and turns 0/0 rows into zeros.
            "confusion_normalized": [
                [fl(x) for x in row] for row in confusion_matrix(y_true, y_pred, labels=labels, normalize="true")
            ],
            # The reference's per-class figures: recall as "accuracy", 2R/(1+R) as "F1".
            "reference_accuracy": [fl(x) for x in r],
            "reference_f1": [fl(x) for x in np.where(r > 0, 2 * r / (1 + r), 0.0)],
        }

    def noisy(seed: int, n: int, dist, acc: float, c: int):
        """Labels drawn from `dist`; each prediction is right with probability `acc`, else uniform."""
        rs = np.random.RandomState(seed)
        y_true = rs.choice(len(dist), size=n, p=np.asarray(dist, dtype=float) / np.sum(dist))
        correct = rs.random_sample(n) < acc
        y_pred = np.where(correct, y_true, rs.randint(0, c, size=n))
        return y_true.astype(int), y_pred.astype(int)

    def case(name: str, description: str, classes, y_true, y_pred) -> dict:
        y_true = np.asarray(y_true, dtype=int)
        y_pred = np.asarray(y_pred, dtype=int)
        return {
            "name": name,
            "description": description,
            "classes": list(classes),
            "y_true": y_true.tolist(),
            "y_pred": y_pred.tolist(),
            "sklearn": sk(y_true, y_pred, len(classes)),
        }

    cases = []
    cases.append(case(
        "hand-3class",
        "the hand-worked case of test/evaluate/metrics.test.ts",
        ["a", "b", "c"],
        [0, 0, 0, 0, 1, 1, 1, 2, 2, 2],
        [0, 0, 1, 2, 1, 1, 0, 2, 2, 1],
    ))
    yt, yp = noisy(4, 60, [4, 3, 2, 2], 0.6, 4)
    cases.append(case("random-4class", "seeded random predictions, IEMOCAP 4-class", IEMOCAP4, yt, yp))
    yt, yp = noisy(6, 150, [14, 11, 17, 11, 10, 18], 0.55, 6)
    cases.append(case("random-6class", "seeded random predictions, IEMOCAP 6-class", IEMOCAP6, yt, yp))
    yt, yp = noisy(7, 240, [47, 12, 3, 7, 16, 3, 11], 0.5, 7)
    cases.append(case("random-7class", "seeded random predictions, MELD 7-class (imbalanced)", MELD7, yt, yp))

    yt, yp = noisy(11, 80, [1, 1, 1, 1, 1], 0.5, 5)
    yp = np.where(yp == 3, 4, yp)
    assert np.any(yt == 3) and not np.any(yp == 3)
    cases.append(case("never-predicted", "class 3 occurs in y_true but is never predicted", IEMOCAP4 + ["fru"], yt, yp))

    rs = np.random.RandomState(12)
    yt = rs.choice([0, 1, 3], size=50)
    yp = np.where(rs.random_sample(50) < 0.6, yt, rs.randint(0, 4, size=50))
    assert not np.any(yt == 2) and np.any(yp == 2)
    cases.append(case("absent-from-true", "class 2 never occurs in y_true but is predicted", IEMOCAP4, yt, yp))

    yt, yp = noisy(13, 70, [1, 1, 1, 1, 1], 0.6, 5)
    assert not np.any(yt == 5) and not np.any(yp == 5)
    cases.append(case(
        "absent-from-both",
        "class 5 occurs in neither y_true nor y_pred: macro F1 averages the 5 present classes",
        IEMOCAP6, yt, yp,
    ))

    yt, _ = noisy(14, 36, [1, 1, 1, 1, 1, 1], 1.0, 6)
    cases.append(case("perfect", "every prediction right", IEMOCAP6, yt, yt))

    def fold_case(name: str, description: str, classes, folds) -> dict:
        c = len(classes)
        per = [case(f"{name}-fold{i}", "", classes, yt, yp) for i, (yt, yp) in enumerate(folds)]
        for p in per:
            del p["classes"], p["description"]
        keys = ["accuracy", "f1_weighted", "f1_macro"]
        f1s = np.asarray([p["sklearn"]["f1"] for p in per])
        pooled_true = np.concatenate([np.asarray(yt) for yt, _ in folds])
        pooled_pred = np.concatenate([np.asarray(yp) for _, yp in folds])
        return {
            "name": name,
            "description": description,
            "classes": list(classes),
            "folds": per,
            # np.mean / np.std (ddof=0, population std) of the per-fold figures.
            "mean": {k: fl(np.mean([p["sklearn"][k] for p in per])) for k in keys},
            "std": {k: fl(np.std([p["sklearn"][k] for p in per])) for k in keys},
            "per_class_f1_mean": [fl(x) for x in np.mean(f1s, axis=0)],
            "per_class_f1_std": [fl(x) for x in np.std(f1s, axis=0)],
            "pooled": sk(pooled_true, pooled_pred, c),
        }

    loso = []
    for i, n in enumerate([94, 110, 101, 87, 120]):
        yt, yp = noisy(100 + i, n, [14, 11, 17, 11, 10, 18], 0.45 + 0.05 * i, 6)
        if i == 2:  # one fold without any `exc` (4) in y_true: its F1 row counts as 0 there
            yt = np.where(yt == 4, 5, yt)
        loso.append((yt, yp))
    agg = [fold_case("folds-6class", "5 folds of IEMOCAP 6-class; fold 2 has no exc in y_true", IEMOCAP6, loso)]
    ten = [noisy(200 + i, 30 + 3 * i, [4, 3, 2, 2], 0.6, 4) for i in range(10)]
    agg.append(fold_case("folds-4class", "10 folds of IEMOCAP 4-class", IEMOCAP4, ten))
    meld = [noisy(300 + i, 150, [47, 12, 3, 7, 16, 3, 11], 0.5, 7) for i in range(3)]
    agg.append(fold_case("folds-7class", "3 folds of MELD 7-class", MELD7, meld))

    doc = {
        "generator": "scripts/evaluate/make_metrics_fixtures.py",
        "versions": {"scikit-learn": sklearn.__version__, "numpy": np.__version__},
        "settings": "precision_recall_fscore_support(labels=range(C), zero_division=0); "
        "f1_score(average=weighted|macro, zero_division=0) with default labels; "
        "confusion_matrix(labels=range(C)); np.mean / np.std (ddof=0) over folds",
        "cases": cases,
        "aggregates": agg,
    }
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(dumps(doc) + "\n")
    print(f"wrote {out}: {len(cases)} cases, {len(agg)} aggregates", file=sys.stderr)


def dumps(obj, indent: int = 0) -> str:
    """JSON with lists of scalars on one line (matrices one row per line): small, diffable."""
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
    ap.add_argument("--python", help="use this interpreter (with scikit-learn and numpy) instead of a throwaway venv")
    ap.add_argument(INSIDE, action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inside_venv:
        generate(args.out)
        return 0
    return bootstrap(args)


if __name__ == "__main__":
    sys.exit(main())
