"""F1 cost, size and load time of int8 weight-only storage of a GLiNER model (CPU).

    python eval/bench_int8.py [--model models/gliner-minilm-fewnerd] [--limit 200] \
        [--threads 2] [--out eval/results/int8_storage.json]

Writes the model int8 (zeroshot.engines.gliner_int8) to a temporary folder, loads both
through zeroshot.engines.gliner.load_gliner, and scores both on dev sets only: the
Few-NERD dev sentences of eval/splits/general_v1.json (INTER-train types, the model's own)
and the zero-shot dev sets of the same split, first --limit sentences each, at one fixed
threshold. Never INTER test.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

from zeroshot.core.loaders import find_ner_collection
from zeroshot.engines.gliner import GlinerEngine, load_gliner
from zeroshot.training.devsets import build_devsets, predict_spans, score_at
from zeroshot.training.export import export_model, git_commit, versions
from zeroshot.training.labels import LabelRules
from zeroshot.training.splits import load_split


def size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file()) / 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="models/gliner-minilm-fewnerd")
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--threshold", type=float, default=0.4)
    ap.add_argument("--sets", default="fewnerd_dev_trained_types,inlegalner,fabner",
                    help="comma list of dev set names")
    ap.add_argument("--out", default="eval/results/int8_storage.json")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    split = load_split()
    devsets = [d.head(args.limit) for d in build_devsets(
        split, LabelRules.load("eval/configs/general_labels.json"),
        ner_root=find_ner_collection()) if d.name in args.sets.split(",")]
    result = {"model": args.model, "threshold": args.threshold, "limit": args.limit,
              "threads": args.threads, "split": split.source, "sets": {}}
    with tempfile.TemporaryDirectory() as tmp:
        q = Path(tmp) / "int8"
        export_model(load_gliner(args.model, allow_hub=False), q, int8=True)
        t0 = time.perf_counter()
        int8_model = load_gliner(q, allow_hub=False)
        result["int8_load_seconds"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        fp16_model = load_gliner(args.model, allow_hub=False)
        result["fp16_load_seconds"] = round(time.perf_counter() - t0, 2)
        result["size_mb"] = {"fp16": round(size_mb(Path(args.model)), 1),
                             "int8": round(size_mb(q), 1)}
        engines = {"fp16": GlinerEngine(fp16_model), "int8": GlinerEngine(int8_model)}
        for dev in devsets:
            row = {"sentences": len(dev.examples)}
            for name, engine in engines.items():
                row[name] = score_at(dev, predict_spans(engine, dev, args.threshold),
                                     args.threshold)
            row["strict_f1_delta"] = row["int8"]["f1"] - row["fp16"]["f1"]
            result["sets"][dev.name] = row
            print(f"{dev.name}: fp16 {100 * row['fp16']['f1']:.2f}, int8 "
                  f"{100 * row['int8']['f1']:.2f} strict F1 ({len(dev.examples)} sentences)")
    result.update({"commit": git_commit(), "versions": versions(),
                   "machine": f"{platform.machine()}, {args.threads} torch threads",
                   "command": "python eval/bench_int8.py " + shlex.join(sys.argv[1:])})
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("size_mb", "int8_load_seconds",
                                             "fp16_load_seconds")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
