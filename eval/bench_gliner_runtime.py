"""GLiNER runtime speed, side by side in one run: the engine, the bare encoder, the old engine.

    python eval/bench_gliner_runtime.py --device cpu --threads 2            # all 14,006 sentences
    python eval/bench_gliner_runtime.py --device cpu --threads 2 --limit 300 --out /tmp/x
    python eval/bench_gliner_runtime.py --device cuda --out $OUT            # one H200

Over the same Few-NERD INTER-test sentences (pre-tokenised), in one process:

1. **engine**: ``Extractor("gliner", device=..., batch_size=...)`` end to end (coercion,
   word-piece lookup, windows, batches, device, spans, results), after a warm-up;
2. **bare encoder**: the encoder's forward alone on the same rows (label prompt
   included), built beforehand, on the device, length-sorted, same batches;
3. **old engine**: gliner's own inference path with the factored scorer (the engine
   before the runtime), on ``--old-limit`` sentences;
4. **profile**: the engine once more with the device synchronised around each stage
   (inputs = texts to TokenizedText, tokenise = word pieces and windows, build =
   numpy batches, H2D, encoder, scoring = LSTM + span scorer + thresholds + top-k,
   decode = the copy back and candidate arrays, results = spans and documents);
5. variants (``--dtypes``, ``--compile``): each reported, a failing one as its error.

Strict F1 of every engine run is computed on the sentences it read. Writes
``<name>.json`` and ``<name>.md`` under ``--out`` (default eval/results), stamped
with commit, package versions, command and machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import time
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import contextlib

import numpy as np
import torch

from zeroshot.api import Extractor
from zeroshot.core.loaders import find_fewnerd, read_fewnerd
from zeroshot.core.metrics import evaluate
from zeroshot.core.schema import Schema
from zeroshot.engines.gliner import GlinerEngine, _Rows

PACKAGES = ("torch", "transformers", "tokenizers", "gliner", "numpy", "onnxruntime")


def provenance(command: str, device: str) -> dict[str, Any]:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                    capture_output=True, text=True, check=True).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    versions = {}
    for name in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    accel = torch.cuda.get_device_name() if device.startswith("cuda") else None
    return {"git": {"commit": commit, "dirty": dirty}, "packages": versions,
            "command": command, "accelerator": accel,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python "
                       f"{platform.python_version()}, torch threads {torch.get_num_threads()}"}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def strict_f1(examples, results, schema) -> float:
    report = evaluate([e.spans for e in examples], [r.spans for r in results],
                      labels=schema.names)
    return 100 * report["strict"].micro.f1


def timed_extract(extract, sentences, schema, device: str) -> tuple[float, list]:
    sync(device)
    t0 = time.perf_counter()
    results = extract(sentences, schema)
    sync(device)
    return time.perf_counter() - t0, results


def bare_encoder(engine: GlinerEngine, sentences, schema, device: str, repeats: int = 1
                 ) -> dict[str, Any]:
    """The encoder alone on the engine's rows: built and moved beforehand, in the
    engine's batches, so only the forward is timed."""
    from zeroshot.core.text import TokenizedText

    runtime = engine.runtime
    plan = engine.label_plan(schema)
    docs = [TokenizedText.from_tokens(s) for s in sentences]
    rows = _Rows.plan(docs, sentences, engine.pieces, engine.window, engine.window_overlap,
                      runtime.text_budget(plan.prompt_subwords))
    prompt = runtime.prompt(plan.groups[0][1])
    plen = np.minimum(engine.pieces.lengths[rows.wids], rows.budget)
    csum = np.concatenate([[0], np.cumsum(plen)])
    sub = csum[rows.start + rows.count] - csum[rows.start]
    batches = []
    for b in runtime._plan(sub + len(prompt.ids), rows.count):
        built = runtime.build(rows.wids, rows.start[b], rows.count[b], prompt, rows.budget)
        batches.append({k: torch.from_numpy(built[k]).to(device)
                        for k in ("input_ids", "attention_mask")})
    n_tokens = int(sum(int(b["attention_mask"].sum()) for b in batches))
    padded = int(sum(b["input_ids"].numel() for b in batches))
    with torch.inference_mode():
        runtime.bert(**batches[0])  # warm-up
        sync(device)
        t0 = time.perf_counter()
        for _ in range(repeats):
            for b in batches:
                runtime.bert(**b)
        sync(device)
    seconds = (time.perf_counter() - t0) / repeats
    return {"rows": len(rows.doc), "batches": len(batches), "seconds": seconds,
            "sentences_per_s": len(sentences) / seconds, "subwords": n_tokens,
            "padding_share": 1 - n_tokens / padded}


def profile(engine: GlinerEngine, sentences, schema, device: str) -> dict[str, float]:
    engine.runtime.start_profile()
    seconds, _ = timed_extract(engine.extract, sentences, schema, device)
    stages = engine.runtime.stop_profile()
    stages["other"] = max(0.0, seconds - sum(stages.values()))
    stages["total"] = seconds
    return stages


def run_variant(label: str, make, examples, sentences, schema, device: str,
                warm: list) -> dict[str, Any]:
    """Build an engine, warm it up, time it over the sentences; errors are reported."""
    try:
        engine = make()
        engine.extract(warm, schema)
        seconds, results = timed_extract(engine.extract, sentences, schema, device)
        out = {"variant": label, "sentences": len(sentences), "seconds": seconds,
               "sentences_per_s": len(sentences) / seconds,
               "strict_f1": strict_f1(examples, results, schema),
               "engine_errors": sum(i.kind == "engine_error" for r in results for i in r.issues),
               "runtime": engine.identity()["runtime"]}
        engine.close()
        return out
    except Exception as exc:  # a variant that cannot run is a result, not a crash
        return {"variant": label, "error": f"{type(exc).__name__}: {exc}",
                "trace": traceback.format_exc(limit=3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="Few-NERD file (default: INTER test from ../shared)")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--threshold", type=float, default=0.4)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, help="default: the engine's (32 CPU, 1024 CUDA)")
    ap.add_argument("--old-limit", type=int, default=None,
                    help="sentences for the old engine (default 1000 on CPU, all on CUDA)")
    ap.add_argument("--profile-limit", type=int, default=None, help="default: all")
    ap.add_argument("--dtypes", default="", help="CUDA: extra weight dtypes to run, e.g. "
                    "float32,bfloat16 (the engine's default is float16)")
    ap.add_argument("--compile", action="store_true",
                    help="also a variant with torch.compile on the encoder (fail-soft)")
    ap.add_argument("--name", default=None, help="output file stem (default "
                    "gliner_runtime_<device>)")
    ap.add_argument("--out", default="eval/results")
    args = ap.parse_args()
    device = args.device
    cuda = device.startswith("cuda")
    name = args.name or f"gliner_runtime_{'cuda' if cuda else 'cpu'}"
    command = "python eval/bench_gliner_runtime.py " + " ".join(sys.argv[1:])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    path = Path(args.data) if args.data else find_fewnerd("inter/test")
    examples = list(read_fewnerd(path, limit=args.limit))
    sentences = [e.tokens.tokens for e in examples]
    schema = Schema.load("fewnerd_inter_test").with_options(threshold=args.threshold)
    warm = sentences[:256]
    options = {"device": device, "threads": args.threads}
    if args.batch_size:
        options["batch_size"] = args.batch_size
    result: dict[str, Any] = {"provenance": provenance(command, device), "data": path.name,
                              "sentences": len(sentences), "threshold": args.threshold}

    # 1. the engine, through the public API
    t0 = time.perf_counter()
    ex = Extractor("gliner", **options)
    result["engine_start_s"] = time.perf_counter() - t0
    engine = ex.engine
    assert isinstance(engine, GlinerEngine)
    result["engine_runtime"] = engine.identity()["runtime"]
    result["batch_size"] = engine.batch_size
    ex.extract(warm, schema)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    seconds, results = timed_extract(ex.extract, sentences, schema, device)
    result["engine"] = {"seconds": seconds, "sentences_per_s": len(sentences) / seconds,
                        "strict_f1": strict_f1(examples, results, schema),
                        "predicted_spans": sum(len(r.spans) for r in results),
                        "windowed": sum(i.kind == "windowed" for r in results for i in r.issues),
                        "engine_errors": sum(i.kind == "engine_error" for r in results
                                             for i in r.issues)}
    if cuda:
        result["engine"]["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    del results
    gc.collect()

    # 2. the bare encoder, same rows and batches
    if engine.runtime is not None:
        result["bare_encoder"] = bare_encoder(engine, sentences, schema, device)
        result["ratio_engine_to_bare_encoder"] = (result["engine"]["sentences_per_s"]
                                                  / result["bare_encoder"]["sentences_per_s"])

    # 4. stage profile
    n_prof = args.profile_limit or len(sentences)
    if engine.runtime is not None:
        stages = profile(engine, sentences[:n_prof], schema, device)
        result["profile"] = {"sentences": n_prof, "seconds": stages}
    ex.close()
    del engine, ex
    gc.collect()

    # 3. the old engine and 5. variants
    n_old = args.old_limit if args.old_limit is not None else (len(sentences) if cuda else 1000)
    variants = [("old engine (gliner's path + factored scorer)",
                 lambda: GlinerEngine(device=device, threads=args.threads, runtime=False,
                                      batch_size=args.batch_size or (256 if cuda else 32)),
                 n_old)]
    for dtype in filter(None, args.dtypes.split(",")):
        variants.append((f"engine, {dtype} weights",
                         lambda dtype=dtype: GlinerEngine(device=device, threads=args.threads,
                                                          dtype=dtype,
                                                          batch_size=args.batch_size),
                         len(sentences)))
    if args.compile:
        variants.append(("engine, torch.compile encoder", lambda: _compiled(options),
                         len(sentences)))
    result["variants"] = [run_variant(label, make, examples[:n], sentences[:n], schema, device,
                                      warm) for label, make, n in variants]
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if cuda:
        result["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"{name}.md").write_text(render(result))
    print(render(result))


def _compiled(options: dict[str, Any]) -> GlinerEngine:
    engine = GlinerEngine(**options)
    if engine.runtime is None:
        raise RuntimeError("no runtime to compile")
    engine.runtime.bert = torch.compile(engine.runtime.bert, dynamic=True)
    return engine


def render(r: dict[str, Any]) -> str:
    p = r["provenance"]
    versions = ", ".join(f"{k} {v}" for k, v in p["packages"].items())
    e = r["engine"]
    lines = ["# GLiNER runtime: engine, bare encoder and old engine in one run", "",
             f"Commit: `{(p['git']['commit'] or 'unknown')[:12]}`"
             + (" (with uncommitted changes)" if p["git"]["dirty"] else "") + "  ",
             f"Command: `{p['command']}`  ", f"Machine: {p['machine']}  ",
             *([f"Accelerator: {p['accelerator']}  "] if p["accelerator"] else []),
             f"Packages: {versions}  ", "",
             f"{r['sentences']} Few-NERD sentences ({r['data']}), pre-tokenised, the "
             f"17-label INTER-test schema, threshold {r['threshold']}; engine runtime "
             f"`{r['engine_runtime']}`, batch size {r['batch_size']}; engine start "
             f"{r['engine_start_s']:.1f} s (load + self-check).", "",
             "| what | sentences | seconds | sentences/s | ratio to bare encoder | strict F1 |",
             "|---|---|---|---|---|---|"]
    bare = r.get("bare_encoder")
    rate_bare = bare["sentences_per_s"] if bare else None

    def ratio(rate: float) -> str:
        return f"{rate / rate_bare:.2f}" if rate_bare else "–"

    lines.append(f"| engine: `Extractor(\"gliner\")` end to end | {r['sentences']} | "
                 f"{e['seconds']:.2f} | {e['sentences_per_s']:,.0f} | "
                 f"{ratio(e['sentences_per_s'])} | {e['strict_f1']:.2f} |")
    if bare:
        lines.append(f"| bare encoder forward (prompt included, pre-built, same batches) | "
                     f"{r['sentences']} | {bare['seconds']:.2f} | {rate_bare:,.0f} | 1.00 | – |")
    for v in r["variants"]:
        if "error" in v:
            lines.append(f"| {v['variant']} | – | – | failed: {v['error'][:120]} | – | – |")
        else:
            lines.append(f"| {v['variant']} | {v['sentences']} | {v['seconds']:.2f} | "
                         f"{v['sentences_per_s']:,.0f} | {ratio(v['sentences_per_s'])} | "
                         f"{v['strict_f1']:.2f} |")
    lines += ["", "| memory and counts | value |", "|---|---|",
              f"| peak RSS (MiB) | {r['peak_rss_mib']:,.0f} |"]
    if "peak_gpu_mib" in e:
        lines.append(f"| peak GPU memory, engine run (MiB) | {e['peak_gpu_mib']:,.0f} |")
    if "peak_gpu_mib" in r:
        lines.append(f"| peak GPU memory, whole run (MiB) | {r['peak_gpu_mib']:,.0f} |")
    lines += [f"| predicted spans | {e['predicted_spans']} |",
              f"| documents read in several windows | {e['windowed']} |",
              f"| engine errors | {e['engine_errors']} |"]
    if bare:
        lines += [f"| encoder rows / batches | {bare['rows']} / {bare['batches']} |",
                  f"| subwords (prompt included) / padding share | {bare['subwords']:,} / "
                  f"{100 * bare['padding_share']:.1f} % |"]
    prof = r.get("profile")
    if prof:
        s = prof["seconds"]
        total = s["total"]
        lines += ["", f"Stage profile: the engine once more over {prof['sentences']} sentences "
                      "with the device synchronised around each stage (so the stages add up; "
                      f"{total:.2f} s in all, slower than the plain run):", "",
                  "| stage | seconds | share |", "|---|---|---|"]
        for k, v in s.items():
            if k != "total":
                lines.append(f"| {k} | {v:.3f} | {100 * v / total:.1f} % |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
