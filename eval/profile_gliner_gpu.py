"""Where the GLiNER engine's time goes on a GPU: torch.profiler over one warm run.

    python eval/profile_gliner_gpu.py --model DIR [--device cuda] [--limit N] --out OUT

Runs ``Extractor("gliner", device=...)`` over Few-NERD INTER test (pre-tokenised, the
17-label INTER-test schema) once to warm up, then once under ``torch.profiler`` (CPU and
CUDA activities), and writes ``OUT/gliner_gpu_profile.json`` and ``.md``: wall time, the
device's busy time (sum of kernel time), the operators with the most self CPU time and the
most device time, and the host-device synchronisations (the calls that make the host wait).
A diagnosis tool for ``eval/bench_gliner_runtime.py``'s numbers, not a benchmark itself
(the profiler slows the host down).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from zeroshot.api import Extractor
from zeroshot.core.loaders import find_fewnerd, read_fewnerd
from zeroshot.core.provenance import provenance, stamp_markdown
from zeroshot.core.schema import Schema

SYNC_OPS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize",
            "aten::item", "aten::_local_scalar_dense", "aten::is_nonzero", "cudaMemcpy")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    data = find_fewnerd("inter/test")
    examples = list(read_fewnerd(data))[: args.limit]
    sentences = [e.tokens.tokens for e in examples]
    schema = Schema.load("fewnerd_inter_test")
    ex = Extractor("gliner", model=args.model, device=args.device, batch_size=args.batch_size)
    def sync() -> None:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    ex.extract(sentences, schema)  # warm-up over the same inputs
    sync()
    t0 = time.perf_counter()
    ex.extract(sentences, schema)
    sync()
    plain = time.perf_counter() - t0
    acts = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    with torch.profiler.profile(activities=acts) as prof:
        t0 = time.perf_counter()
        ex.extract(sentences, schema)
        sync()
        profiled = time.perf_counter() - t0
    events = prof.key_averages()

    def row(e) -> dict:
        return {"name": e.key, "calls": e.count,
                "self_cpu_ms": e.self_cpu_time_total / 1e3,
                "cpu_total_ms": e.cpu_time_total / 1e3,
                "device_ms": getattr(e, "self_device_time_total", 0) / 1e3}

    rows = [row(e) for e in events]
    kernels = sum(r["device_ms"] for r in rows)
    result = {
        "model": args.model, "sentences": len(sentences), "batch_size": args.batch_size,
        "plain_seconds": plain, "plain_sentences_per_s": len(sentences) / plain,
        "profiled_seconds": profiled, "device_busy_ms": kernels,
        "top_self_cpu": sorted(rows, key=lambda r: -r["self_cpu_ms"])[:30],
        "top_device": sorted(rows, key=lambda r: -r["device_ms"])[:30],
        "syncs": [r for r in rows if any(s in r["name"] for s in SYNC_OPS)],
        "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        "provenance": provenance("python eval/profile_gliner_gpu.py " + " ".join(sys.argv[1:]))}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gliner_gpu_profile.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [f"# GLiNER engine under torch.profiler ({result['gpu']})", "",
             *stamp_markdown(result["provenance"]), "",
             f"{len(sentences)} sentences, batch {args.batch_size}: plain run {plain:.2f} s "
             f"({len(sentences) / plain:,.0f} sentences/s); profiled run {profiled:.2f} s, "
             f"device busy {kernels / 1e3:.2f} s.", ""]
    for title, key in (("most self CPU time", "top_self_cpu"), ("most device time", "top_device"),
                       ("host-device synchronisations", "syncs")):
        lines += [f"## {title}", "", "| op | calls | self CPU ms | device ms |",
                  "|---|---|---|---|"]
        lines += [f"| `{r['name'][:70]}` | {r['calls']} | {r['self_cpu_ms']:.1f} | "
                  f"{r['device_ms']:.1f} |" for r in result[key]]
        lines.append("")
    (out / "gliner_gpu_profile.md").write_text("\n".join(lines))
    print("\n".join(lines[:4]))
    print(f"wrote {out}/gliner_gpu_profile.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
