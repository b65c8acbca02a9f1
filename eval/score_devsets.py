"""Score a GLiNER model on the general split's dev sets at every threshold of the grid.

    python eval/score_devsets.py --model models/gliner-minilm-fewnerd \
        [--devsets .carry/devsets] [--limit N] [--threads 2] [--device cpu] \
        [--out eval/results/general_dev_fewnerd_model.json]

The "before" column of issue #16's table: the committed Few-NERD-only model on the
zero-shot dev sets (dev data only; one engine pass at the lowest threshold serves the
grid, see zeroshot.training.devsets).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import shlex
import sys
import time
from pathlib import Path

from zeroshot.engines.gliner import GlinerEngine
from zeroshot.training.devsets import THRESHOLDS, evaluate_devsets, read_devsets
from zeroshot.training.export import git_commit, versions


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="models/gliner-minilm-fewnerd")
    ap.add_argument("--devsets", default=".carry/devsets")
    ap.add_argument("--limit", type=int, help="first N sentences of each dev set")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                    help="the engine's weights (default float32)")
    ap.add_argument("--out", default="eval/results/general_dev_fewnerd_model.json")
    ap.add_argument("--thresholds", default=",".join(f"{t:g}" for t in THRESHOLDS),
                    help="comma list: the grid (default: the trainer's, 0.2..0.6)")
    ap.add_argument("--not-zero-shot", default="",
                    help="comma list of dev sets the model was trained on (reported apart), "
                         "e.g. fewnerd_dev_heldout_types for models/gliner-minilm-fewnerd, "
                         "which saw all of INTER train")
    args = ap.parse_args()
    skip = {n for n in args.not_zero_shot.split(",") if n}
    devsets = [dataclasses.replace(d.head(args.limit), zero_shot=d.name not in skip
                                   and d.zero_shot) for d in read_devsets(args.devsets)]
    engine = GlinerEngine(args.model, threads=args.threads, device=args.device,
                          batch_size=args.batch_size, dtype=args.dtype)
    t0 = time.perf_counter()
    grid = sorted(float(t) for t in args.thresholds.split(",") if t)
    scores = evaluate_devsets(engine, devsets, grid, ci=True)
    result = {"model": args.model, "devsets": args.devsets, "limit": args.limit,
              "not_zero_shot": sorted(skip),
              "seconds": round(time.perf_counter() - t0, 1), "scores": scores,
              "commit": git_commit(), "versions": versions(),
              "dtype": args.dtype, "runtime": engine.runtime_name(),
              "machine": f"{platform.machine()}, {args.threads} torch threads, {args.device}",
              "command": "python eval/score_devsets.py " + shlex.join(sys.argv[1:])}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    best = scores["best_threshold"]
    print(f"mean zero-shot strict F1 {100 * scores['best_mean_f1']:.1f} at {best}")
    for name, v in scores["sets"].items():
        f1 = v["by_threshold"][f"{best:.2f}"]["f1"]
        print(f"  {name} ({'zero-shot' if v['zero_shot'] else 'seen types'}): {100 * f1:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
