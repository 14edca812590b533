"""Python reference for the evaluate stage's slices (activities/evaluate/slices/).

Writes test/fixtures/evaluate/slices-reference.json, which test/evaluate/slices.test.ts replays
without Python: two synthetic test sets (IEMOCAP-like: 5 sessions, actors, improvised and scripted
dialogues; MELD-like: main characters and others, no gender or interaction), several variants'
predictions, and every figure of their `slices` as the TypeScript must produce them.

    python3 scripts/evaluate/make_slices_fixtures.py            # throwaway venv with the pins
    python3 scripts/evaluate/make_slices_fixtures.py --python /tmp/torchref/bin/python

The slicing rules are written out here independently (speaker = session + gender for IEMOCAP, main
character or "other" for MELD; duration tertiles by np.quantile; small = n < 30 or < 5 dialogues);
the bootstrap and paired-bootstrap figures come from make_stats_fixtures.py's re-implementation of the
resampling (exact to the TypeScript), scikit-learn checking the scores.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import shutil
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_stats_fixtures as ref  # noqa: E402

DEFAULT_OUT = os.path.join(ref.ROOT, "test", "fixtures", "evaluate", "slices-reference.json")
MAIN = ["Chandler", "Joey", "Monica", "Phoebe", "Rachel", "Ross"]
ROUNDS, SEED, LEVEL = 200, 3, 0.95


def run_in_venv(args: argparse.Namespace) -> int:
    forward = [ref.INSIDE, "--out", os.path.abspath(args.out)]
    if args.python:
        return subprocess.call([args.python, os.path.abspath(__file__), *forward])
    tmp = tempfile.mkdtemp(prefix="mer-slices-")
    try:
        venv = os.path.join(tmp, "venv")
        subprocess.check_call([sys.executable, "-m", "venv", venv])
        py = os.path.join(venv, "Scripts" if os.name == "nt" else "bin", "python")
        subprocess.check_call([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *ref.PINS])
        return subprocess.call([py, os.path.abspath(__file__), *forward])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def small(n, dialogues):
    return n < 30 or dialogues < 5


def slices_of(manifest, variants, classes):
    import numpy as np

    by_id = {r["utteranceId"]: r for r in manifest}
    all_rows = [by_id[i] for v in variants for i in v["utteranceIds"]]
    kinds, notes = [], []
    if any(r["gender"] is not None for r in all_rows):
        kinds.append("gender")
    else:
        notes.append("no gender slices: the manifest records no speaker gender for this dataset")
    kinds.append("speaker")
    if any(r["interaction"] is not None for r in all_rows):
        kinds.append("interaction")
    else:
        notes.append("no improvised / scripted slices: the manifest records no interaction type for this dataset")
    kinds.append("duration")
    c = len(classes)
    out_variants = []
    for v in variants:
        rows = [by_id[i] for i in v["utteranceIds"]]
        y_true, y_pred = np.asarray(v["labels"]), np.asarray(v["predicted"])
        dia = np.asarray([r["dialogueId"] for r in rows])
        dur = np.asarray([r["endSec"] - r["startSec"] for r in rows])
        pos = dur[dur > 0]
        cuts = None
        if len(pos) >= 3:
            cuts = [float(x) for x in np.quantile(pos, [1 / 3, 2 / 3])]

        def name_of(kind, r, d):
            if kind == "gender":
                return r["gender"] or "unknown"
            if kind == "interaction":
                return r["interaction"] or "unknown"
            if kind == "speaker":
                if r["dataset"] == "iemocap":
                    return f"Ses{r['session']:02d}{r['gender']}"
                return r["speaker"] if r["speaker"] in MAIN else "other"
            if cuts is None or not d > 0:
                return None
            return "short" if d <= cuts[0] else "medium" if d <= cuts[1] else "long"

        slices = []
        for kind in kinds:
            names = [name_of(kind, r, d) for r, d in zip(rows, dur)]
            present = {n for n in names if n is not None}
            if kind == "speaker":
                order = [m for m in MAIN if m in present] + (["other"] if "other" in present else [])
                order += sorted(present - set(order))
            else:
                order = [n for n in {"gender": ["F", "M", "unknown"], "interaction": ["improvised", "scripted", "unknown"],
                                     "duration": ["short", "medium", "long"]}[kind] if n in present]
            for name in order:
                idx = np.asarray([i for i, n in enumerate(names) if n == name])
                dialogues = len(set(dia[idx].tolist()))
                entry = {"kind": kind, "name": name, "n": int(len(idx)), "dialogues": dialogues,
                         "small": small(len(idx), dialogues)}
                for metric in ["accuracy", "weightedF1"]:
                    entry[metric] = ref.bootstrap_interval(y_true[idx], y_pred[idx], dia[idx], c, metric,
                                                           ROUNDS, SEED, LEVEL)
                slices.append(entry)
        out_variants.append({"variant": v["name"], "durationCuts": cuts,
                             "durationExcluded": int(np.sum(~(dur > 0))), "slices": slices})

    full, singles = variants[0], [v for v in variants[1:] if len(v["modalities"]) == 1]
    gains = None
    if singles:
        pos = [{u: i for i, u in enumerate(s["utteranceIds"])} for s in singles]
        common = [(i, [p[u] for p in pos]) for i, u in enumerate(full["utteranceIds"]) if all(u in p for p in pos)]
        per_class = []
        for k, cname in enumerate(classes):
            items = [(i, at) for i, at in common if full["labels"][i] == k]
            if not items:
                continue
            dia = np.asarray([by_id[full["utteranceIds"][i]]["dialogueId"] for i, _ in items])
            yt = np.full(len(items), k)
            pa = np.asarray([full["predicted"][i] for i, _ in items])
            full_recall = float(np.mean(pa == k))
            against = []
            for j, s in enumerate(singles):
                pb = np.asarray([s["predicted"][at[j]] for _, at in items])
                t = ref.paired_bootstrap(yt, pa, pb, dia, c, "accuracy", ROUNDS, SEED, LEVEL)
                against.append({"variant": s["name"], "modality": s["modalities"][0], "recall": float(np.mean(pb == k)),
                                "gain": t["difference"], "low": t["low"], "high": t["high"]})
            dialogues = len(set(dia.tolist()))
            per_class.append({"class": cname, "support": len(items), "dialogues": dialogues,
                              "small": small(len(items), dialogues), "fullRecall": full_recall, "against": against})
        gains = {"full": full["name"], "against": [s["name"] for s in singles], "perClass": per_class}
    return {
        "method": {"cluster": "dialogue", "rounds": ROUNDS, "seed": SEED, "level": LEVEL,
                   "small": {"minItems": 30, "minDialogues": 5}},
        "notes": notes,
        "variants": out_variants,
        "classGains": gains,
    }


def columns(rows):
    """The manifest rows column by column (compact JSON); the test turns them back into rows."""
    return {k: [r[k] for r in rows] for k in rows[0]}


def generate(out: str) -> None:
    import numpy as np

    def predictions(rs, y_true, dia, acc, classes, per_dialogue):
        """Right with probability acc + a per-dialogue shift, else uniform."""
        shift = {d: rs.normal(0, 0.12) for d in sorted(set(dia))}
        a = np.clip(np.asarray([acc + shift[d] for d in dia]), 0.02, 0.98) if per_dialogue else acc
        right = rs.random_sample(len(y_true)) < a
        return np.where(right, y_true, rs.randint(0, classes, size=len(y_true)))

    def times(rs, n, zero_every):
        start = np.round(rs.random_sample(n) * 300, 4)
        end = np.round(start + 0.6 + rs.gamma(2.0, 1.4, size=n), 4)
        end[::zero_every] = start[::zero_every]  # zero-duration rows (MELD has some): in no tertile
        return start, end

    cases = []
    # IEMOCAP-like: 5 sessions x 6 dialogues; 4 classes.
    rs = np.random.RandomState(41)
    rows = []
    for s in range(1, 6):
        for d in range(6):
            kind = "impro" if d < 3 else "script"
            dialog = f"Ses0{s}{'FM'[d % 2]}_{kind}0{d + 1}"
            n = rs.randint(8, 22)
            st, en = times(rs, n, 23)
            for t in range(n):
                g = "F" if (t % 2 == 0) != (rs.random_sample() < 0.2) else "M"
                rows.append({"utteranceId": f"{dialog}_{g}{t:03d}", "dataset": "iemocap", "session": s,
                             "dialogueId": dialog, "speaker": g, "gender": g,
                             "interaction": "improvised" if kind == "impro" else "scripted",
                             "startSec": float(st[t]), "endSec": float(en[t])})
    classes = ["neu", "hap", "ang", "sad"]
    y = rs.choice(4, size=len(rows), p=[0.35, 0.25, 0.2, 0.2])
    dia = [r["dialogueId"] for r in rows]
    ids = [r["utteranceId"] for r in rows]
    variants = []
    for name, mods, acc in [("full", ["t", "a", "v"], 0.7), ("text+audio", ["t", "a"], 0.65), ("text", ["t"], 0.55),
                            ("audio", ["a"], 0.5), ("visual", ["v"], 0.35)]:
        p = predictions(rs, y, dia, acc, 4, True)
        order = np.arange(len(rows))
        if name == "audio":
            order = rs.permutation(len(rows))  # another order: matched by utterance id
        if name == "visual":
            order = order[5:]  # a few utterances missing: gains use the common ones
        variants.append({"name": name, "modalities": mods, "utteranceIds": [ids[i] for i in order],
                         "labels": [int(y[i]) for i in order], "predicted": [int(p[i]) for i in order]})
    # the manifest holds more rows than the test predictions (other splits)
    extra = [dict(rows[0], utteranceId="Ses01F_train_only_F000")]
    cases.append({"name": "iemocap-like", "classes": classes, "manifest": columns(rows + extra), "variants": variants,
                  "expected": slices_of(rows + extra, variants, classes)})

    # MELD-like: 30 dialogues, 7 classes; main characters and others; no gender / interaction.
    rs = np.random.RandomState(42)
    rows = []
    speakers = MAIN + ["Mr. Geller", "Janice", "Gunther", "Mike"]
    weights = np.asarray([14, 15, 15, 14, 16, 15, 2, 2, 1.5, 1.5])
    for d in range(30):
        n = rs.randint(2, 16)
        st, en = times(rs, n, 17)
        for t in range(n):
            rows.append({"utteranceId": f"meld_test_dia{d}_utt{t}", "dataset": "meld", "session": None,
                         "dialogueId": f"test_dia{d}", "speaker": str(rs.choice(speakers, p=weights / weights.sum())),
                         "gender": None, "interaction": None, "startSec": float(st[t]), "endSec": float(en[t])})
    classes = ["neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger"]
    y = rs.choice(7, size=len(rows), p=np.asarray([47, 12, 3, 7, 16, 3, 11]) / 99)
    dia = [r["dialogueId"] for r in rows]
    ids = [r["utteranceId"] for r in rows]
    variants = []
    for name, mods, acc in [("full", ["t", "a", "v"], 0.6), ("text", ["t"], 0.55), ("audio", ["a"], 0.4)]:
        p = predictions(rs, y, dia, acc, 7, True)
        variants.append({"name": name, "modalities": mods, "utteranceIds": ids, "labels": [int(x) for x in y],
                         "predicted": [int(x) for x in p]})
    cases.append({"name": "meld-like", "classes": classes, "manifest": columns(rows), "variants": variants,
                  "expected": slices_of(rows, variants, classes)})

    doc = {
        "generator": "scripts/evaluate/make_slices_fixtures.py",
        "versions": {"numpy": np.__version__},
        "options": {"rounds": ROUNDS, "seed": SEED, "level": LEVEL},
        "sklearnChecks": ref.CHECKED[0],
        "cases": cases,
    }
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(ref.dumps(doc) + "\n")
    print(f"wrote {out}: {len(cases)} cases, {ref.CHECKED[0]} resamples checked against scikit-learn", file=sys.stderr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="fixture path (default: %(default)s)")
    ap.add_argument("--python", help="use this interpreter (with the pinned packages) instead of a throwaway venv")
    ap.add_argument(ref.INSIDE, action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inside_venv:
        generate(args.out)
        return 0
    return run_in_venv(args)


if __name__ == "__main__":
    sys.exit(main())
