"""Where a fresh process's first pass over new batch shapes spends its time (GPU).

eval/bench_gliner_runtime.py shows that the first engine of a process runs its first
full pass several times slower than its second (the second engine of the same process
does not): a one-time cost per batch shape. This script times, in one fresh process
each, the first and second pass of ``Extractor("gliner", device="cuda")`` over the
INTER-test sentences (after the same 256-sentence warm-up) with cuDNN on or off, and
lists the operators of the first pass under torch.profiler, by CPU time, so the
one-time cost is named rather than guessed.

    python eval/first_pass_gpu.py --model DIR --out OUT [--cudnn off] [--profile]
    python eval/first_pass_gpu.py --model DIR --out OUT --halves   # new inputs, warm process
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zeroshot.api import Extractor
from zeroshot.core.loaders import find_fewnerd, read_fewnerd
from zeroshot.core.schema import Schema


def timed(ex, sentences, schema) -> float:
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    ex.extract(sentences, schema)
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--cudnn", choices=["on", "off"], default="on")
    ap.add_argument("--profile", action="store_true", help="torch.profiler on the first pass")
    ap.add_argument("--attention", choices=["engine", "torch-default"], default="engine",
                    help="torch-default: the encoder's attention as torch picks it (cuDNN on "
                         "an H200), not the engine's scoped choice")
    ap.add_argument("--passes", type=int, default=5, help="timed passes after the first")
    ap.add_argument("--gc", choices=["on", "frozen"], default="on",
                    help="frozen: gc.freeze() after the engine starts")
    ap.add_argument("--halves", action="store_true",
                    help="instead: the first half of the sentences, then the second half (new "
                         "inputs, new batch shapes, in a warm process), then each half again")
    args = ap.parse_args()
    torch.backends.cudnn.enabled = args.cudnn == "on"
    sentences = [e.tokens.tokens for e in read_fewnerd(find_fewnerd("inter/test"))]
    schema = Schema.load("fewnerd_inter_test")
    ex = Extractor("gliner", model=args.model, device="cuda")
    if args.attention == "torch-default":
        import contextlib

        ex.engine.runtime._attention = contextlib.nullcontext
    ex.extract(sentences[:256], schema)
    if args.gc == "frozen":
        import gc

        gc.collect()
        gc.freeze()
    row = {"model": args.model, "cudnn": args.cudnn, "gc": args.gc, "sentences": len(sentences),
           "attention": args.attention}
    if args.halves:
        half = len(sentences) // 2
        a, b = sentences[:half], sentences[half:]
        row["halves"] = {name: round(len(part) / timed(ex, part, schema))
                         for name, part in (("A first", a), ("B new", b), ("A again", a),
                                            ("B again", b))}
        _report(row, args.out)
        return
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            row["first_s"] = timed(ex, sentences, schema)
        table = prof.key_averages().table(sort_by="cpu_time_total", row_limit=25)
        Path(args.out, f"first_pass_ops_cudnn_{args.cudnn}.txt").write_text(table)
    else:
        row["first_s"] = timed(ex, sentences, schema)
    row["later_s"] = [timed(ex, sentences, schema) for _ in range(args.passes)]
    row["first_sentences_per_s"] = len(sentences) / row["first_s"]
    row["later_sentences_per_s"] = [round(len(sentences) / s) for s in row["later_s"]]
    _report(row, args.out)


def _report(row: dict, out: str) -> None:
    """Print the row and append it to ``OUT/first_pass.jsonl``."""
    print(json.dumps(row))
    with Path(out, "first_pass.jsonl").open("a") as fh:
        fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
