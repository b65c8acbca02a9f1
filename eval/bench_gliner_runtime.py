"""GLiNER runtime speed, side by side in one run: the engine, the bare encoder, the old engine.

    python eval/bench_gliner_runtime.py --device cpu --threads 2            # all 14,006 sentences
    python eval/bench_gliner_runtime.py --device cpu --threads 2 --limit 300 --out /tmp/x
    python eval/bench_gliner_runtime.py --device cuda --out $OUT            # one H200

Over the same Few-NERD INTER-test sentences (pre-tokenised), in one process:

1. **engine**: ``Extractor("gliner", device=..., batch_size=...)`` end to end (coercion,
   word-piece lookup, windows, batches, device, spans, results), after a warm-up;
2. **bare encoder**: that engine's encoder forward alone on the same rows (label
   prompt included), built beforehand, on the device, length-sorted, same batches;
3. **old engine**: gliner's own inference path with the factored scorer (the engine
   before the runtime), on ``--old-limit`` sentences;
4. **profile**: the engine once more with the device synchronised around each stage
   (inputs = the inputs' words (pre-tokenised ones are joined into texts only as their
   results are built, in results), tokenise = word pieces and windows, build =
   numpy batches, H2D, encoder, scoring = LSTM + span scorer + thresholds + top-k,
   decode = the copy back and candidate arrays, results = spans and documents);
5. variants (``--variants``: ONNX Runtime fp32 / int8 encoders on CPU; fp32, bf16
   weights, torch.compile and the span scorer in torch instead of the fused Triton
   kernel on CUDA; transformers' own encoder forward instead of the runtime's MPNet
   attention), each with its own bare encoder; a variant that
   fails is reported with its error, not fatal.

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
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


import numpy as np
import torch

from zeroshot.api import Extractor
from zeroshot.core.loaders import find_fewnerd, read_fewnerd
from zeroshot.core.metrics import evaluate
from zeroshot.core.provenance import git_commit, package_versions
from zeroshot.core.schema import Schema
from zeroshot.engines.gliner import GlinerEngine, _Rows
from zeroshot.engines.gliner_runtime import threshold_floor32

PACKAGES = ("torch", "transformers", "tokenizers", "gliner", "numpy", "onnxruntime")


def provenance(command: str, device: str) -> dict[str, Any]:
    """Commit (``$ZEROSHOT_COMMIT`` on a copied tree), versions, command and machine."""
    accel = torch.cuda.get_device_name() if device.startswith("cuda") else None
    return {"git": git_commit(), "packages": package_versions(PACKAGES), "command": command,
            "accelerator": accel,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python "
                       f"{platform.python_version()}, torch threads {torch.get_num_threads()}"}


def _scorer_in_torch(runtime: Any) -> None:
    runtime.fused = False


def _norms_in_torch(runtime: Any) -> None:
    runtime.encode.add_norm = None


def _depth_one(runtime: Any) -> None:
    runtime.depth = 1


def _depth_three(runtime: Any) -> None:
    runtime.depth = 3


def _no_taper(runtime: Any) -> None:
    runtime.taper = False


def _graphs(runtime: Any) -> None:
    from zeroshot.engines.gliner_graphs import GraphedEncoder

    runtime.graphed = GraphedEncoder(runtime.encode, runtime.pieces.pad_id)


def _pageable_build(runtime: Any) -> None:
    runtime.pinned_build = False


def _interleave(runtime: Any) -> None:
    runtime.interleave = True


def _gelu_exact(runtime: Any) -> None:
    runtime.encode.gelu_tanh = False


# variants that change one piece of a started runtime (CUDA): name -> (label, change)
TWEAKS: dict[str, tuple[str, Callable[[Any], None]]] = {
    "torch-scorer": ("engine, span scorer in torch (Triton norms kept)", _scorer_in_torch),
    "torch-norms": ("engine, add + LayerNorm in torch (Triton scorer kept)", _norms_in_torch),
    "exact-gelu": ("engine, exact GELU (no cuBLASLt tanh epilogue)", _gelu_exact),
    "depth-1": ("engine, one batch queued on the device (not two)", _depth_one),
    "depth-3": ("engine, three batches queued on the device (not two)", _depth_three),
    "no-taper": ("engine, last batch whole (not cut in halves)", _no_taper),
    "interleave": ("engine, batches longest, shortest, second longest, ...", _interleave),
    "graphs": ("engine, encoder replayed from CUDA graphs", _graphs),
    "pageable-build": ("engine, batches built in pageable memory (pinned copy per array)",
                       _pageable_build),
}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def strict_f1(examples, results, schema) -> float:
    report = evaluate([e.spans for e in examples], [r.spans for r in results],
                      labels=schema.names)
    return 100 * report["strict"].micro.f1


class GcClock:
    """Time spent in Python's cyclic garbage collector (``gc.callbacks``), per
    generation, since the last :meth:`take`. A full (generation 2) collection walks
    every tracked object of the process (torch's and transformers' included) and
    lands in whichever pass allocates at that moment."""

    def __init__(self) -> None:
        self._t0 = 0.0
        self._acc = {g: [0, 0.0] for g in range(3)}
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            acc = self._acc[info["generation"]]
            acc[0] += 1
            acc[1] += time.perf_counter() - self._t0

    def take(self) -> dict[str, Any]:
        out = {"seconds": sum(a[1] for a in self._acc.values()),
               "collections": [a[0] for a in self._acc.values()],
               "gen2_seconds": self._acc[2][1]}
        self._acc = {g: [0, 0.0] for g in range(3)}
        return out


GC = GcClock()


def timed_extract(extract, sentences, schema, device: str) -> tuple[float, list]:
    sync(device)
    t0 = time.perf_counter()
    results = extract(sentences, schema)
    sync(device)
    return time.perf_counter() - t0, results


def engine_batches(engine: GlinerEngine, sentences, schema
                   ) -> tuple[_Rows, Any, Any, list[np.ndarray]]:
    """The engine's rows of ``sentences``, its prompt, label plan and batch plan, as a
    call under ``schema`` makes them (one label group)."""
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
    return rows, prompt, plan, runtime._plan(sub + len(prompt.ids), rows.count)


def bare_encoder(engine: GlinerEngine, sentences, schema, device: str) -> dict[str, Any]:
    """The engine's encoder alone on the engine's rows (label prompt included), built
    and moved to the device beforehand, in the engine's batches: only the forward
    is timed."""
    runtime = engine.runtime
    rows, prompt, _, plan = engine_batches(engine, sentences, schema)
    batches = []
    for b in plan:
        built = runtime.build(rows.wids, rows.start[b], rows.count[b], prompt, rows.budget)
        batches.append({k: torch.from_numpy(built[k]).to(device)
                        for k in ("input_ids", "attention_mask")})
    n_tokens = int(sum(int(b["attention_mask"].sum()) for b in batches))
    padded = int(sum(b["input_ids"].numel() for b in batches))
    with torch.inference_mode(), runtime._attention():  # the kernels the engine uses
        encode = runtime.encoder_forward  # as the engine runs it
        encode(**batches[0])  # warm-up
        sync(device)
        t0 = time.perf_counter()
        for b in batches:
            encode(**b)
        sync(device)
    seconds = time.perf_counter() - t0
    return {"rows": len(rows.doc), "batches": len(batches), "seconds": seconds,
            "sentences_per_s": len(sentences) / seconds, "subwords": n_tokens,
            "padding_share": 1 - n_tokens / padded}


def launch_costs(engine: GlinerEngine, sentences, schema) -> dict[str, float]:
    """The host's own cost of launching each of the engine's batches (CUDA), with the
    device idle before each step: the copies to the device (pinning included), the
    encoder's forward, and the whole launch (copies, encoder, scorer, selection,
    packed copy back); host seconds summed over the batches, and the device's."""
    runtime = engine.runtime
    rows, prompt, labels, plan = engine_batches(engine, sentences, schema)
    thr = torch.as_tensor(threshold_floor32(labels.thresholds), device=runtime.device)
    out = dict.fromkeys(("build", "copies", "copies_device", "encoder", "encoder_device",
                         "launch", "launch_device"), 0.0)

    def step(name: str, fn: Callable[[], Any]) -> Any:
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        got = fn()
        t1 = time.perf_counter()
        torch.cuda.synchronize()
        out[name] += t1 - t0
        if name + "_device" in out:
            out[name + "_device"] += time.perf_counter() - t0
        return got

    with torch.inference_mode():
        for b in plan:
            built = step("build", lambda b=b: runtime.build(rows.wids, rows.start[b],
                                                            rows.count[b], prompt, rows.budget))
            dev = step("copies", lambda built=built: {k: runtime._to_device(v)
                                                      for k, v in built.items()})
            with runtime._attention():
                step("encoder", lambda dev=dev: runtime.encoder_forward(
                    input_ids=dev["input_ids"], attention_mask=dev["attention_mask"],
                    return_dict=True))
            step("launch", lambda b=b, built=built: runtime._launch(b, built, prompt, thr))
    return out


def profile(engine: GlinerEngine, sentences, schema, device: str) -> dict[str, float]:
    GC.take()
    engine.runtime.start_profile()
    seconds, _ = timed_extract(engine.extract, sentences, schema, device)
    stages = engine.runtime.stop_profile()
    stages["other"] = max(0.0, seconds - sum(stages.values()))
    stages["total"] = seconds
    stages["of which in gc"] = GC.take()["seconds"]
    return stages


def timeline(engine: GlinerEngine, sentences, schema) -> dict[str, Any]:
    """Two more passes (CUDA) with a CUDA event before and after each batch's launch
    on the stream and the host's wait for each batch timed: where the pass's wall
    time goes. ``device_busy`` sums each batch's span on the stream (from its first
    copy to its packed result; a batch whose kernels the host enqueues slower than
    the device runs them counts that wait too), ``before_device`` is the host's time
    before the first batch reaches the device, ``gaps`` the device's idle time
    between batches, ``after_device`` the host's time after the last one finished
    (its results, the call's end), ``host_wait`` the host's time blocked on batches
    not yet done, ``host_launch`` its time in launching them (which includes waiting
    for room in the device's queue). The second pass synchronises the device before
    each launch: its ``host_launch`` is the host's own cost of launching
    (``dispatch``), with nothing queued ahead. Per-batch lists in ``per_batch``."""
    plain = _timed_pass(engine, sentences, schema, sync_launch=False)
    synced = _timed_pass(engine, sentences, schema, sync_launch=True)
    plain["dispatch"] = synced["host_launch"]
    plain["per_batch"]["dispatch_s"] = synced["per_batch"]["host_launch_s"]
    return plain


def _timed_pass(engine: GlinerEngine, sentences, schema, *, sync_launch: bool
                ) -> dict[str, Any]:
    runtime = engine.runtime
    launch, collect = runtime._launch, runtime._collect
    ms: list[list[Any]] = []  # per batch, in launch order: events, host launch, wait, rows
    pending: dict[int, list[Any]] = {}  # by id() while the batch is in flight

    def timed_launch(rows, batch, prompt, thr):
        if sync_launch:
            torch.cuda.synchronize()
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        t0 = time.perf_counter()
        out = launch(rows, batch, prompt, thr)
        host = time.perf_counter() - t0
        e1.record()
        ms.append([e0, e1, host, 0.0, len(rows), int(batch["input_ids"].shape[1])])
        pending[id(out)] = ms[-1]
        return out

    def timed_collect(launched):
        t0 = time.perf_counter()
        if launched.event is not None:
            launched.event.synchronize()
        pending.pop(id(launched))[3] = time.perf_counter() - t0
        return collect(launched)

    runtime._launch, runtime._collect = timed_launch, timed_collect
    try:
        torch.cuda.synchronize()
        begin = torch.cuda.Event(enable_timing=True)
        begin.record()
        t0 = time.perf_counter()
        engine.extract(sentences, schema)
        torch.cuda.synchronize()
        wall = time.perf_counter() - t0
    finally:
        del runtime._launch, runtime._collect
    spans = [a.elapsed_time(b) / 1e3 for a, b, *_ in ms]
    first = begin.elapsed_time(ms[0][0]) / 1e3
    last = begin.elapsed_time(ms[-1][1]) / 1e3
    gaps = sum(ms[i - 1][1].elapsed_time(ms[i][0]) for i in range(1, len(ms))) / 1e3
    return {"wall": wall, "batches": len(ms), "device_busy": sum(spans),
            "before_device": first, "gaps": max(0.0, gaps),
            "after_device": max(0.0, wall - last), "host_wait": sum(m[3] for m in ms),
            "host_launch": sum(m[2] for m in ms),
            "per_batch": {"rows": [m[4] for m in ms], "length": [m[5] for m in ms],
                          "device_s": spans, "host_launch_s": [m[2] for m in ms],
                          "host_wait_s": [m[3] for m in ms]}}


def measure(label: str, options: dict[str, Any], examples, schema, device: str, *,
            bare: bool = True, stages: int = 0, compile_encoder: bool = False,
            passes: int = 3, freeze: bool = False,
            tweak: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """One engine through ``Extractor("gliner", **options)``: start, warm-up, the timed
    run with strict F1, its bare encoder on the same rows, and a stage profile over
    ``stages`` sentences. A variant that cannot run is reported with its error."""
    sentences = [e.tokens.tokens for e in examples]
    try:
        t0 = time.perf_counter()
        ex = Extractor("gliner", **options)
        start_s = time.perf_counter() - t0
        if freeze:  # what a serving process may do once after start (Python's gc docs)
            gc.collect()
            gc.freeze()
        engine = ex.engine
        assert isinstance(engine, GlinerEngine)
        if tweak is not None:
            if engine.runtime is None:
                raise RuntimeError("no runtime to change")
            tweak(engine.runtime)
        if compile_encoder:
            if engine.runtime is None:
                raise RuntimeError("no runtime to compile")
            engine.runtime.encode = torch.compile(engine.runtime.encode, dynamic=True)
        extract = ex.extract
        extract(sentences[:256], schema)
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        GC.take()
        first_s, results = timed_extract(extract, sentences, schema, device)
        first_gc = GC.take()
        del results  # the first full pass meets every batch shape for the first time
        steady = []
        for _ in range(max(1, passes)):  # steady state: the median pass
            results = None  # the previous pass's results go before the next pass runs
            seconds, results = timed_extract(extract, sentences, schema, device)
            steady.append({"seconds": seconds, "gc": GC.take()})
        seconds = float(np.median([p["seconds"] for p in steady]))
        out: dict[str, Any] = {
            "variant": label, "options": {k: v for k, v in options.items()},
            "runtime": engine.runtime_name(), "batch_size": engine.batch_size,
            "engine_start_s": start_s, "sentences": len(sentences), "seconds": seconds,
            "sentences_per_s": len(sentences) / seconds,
            "first_pass_s": first_s, "first_pass_sentences_per_s": len(sentences) / first_s,
            "first_pass_gc": first_gc, "passes": steady,
            "strict_f1": strict_f1(examples, results, schema),
            "predicted_spans": sum(len(r.spans) for r in results),
            "windowed": sum(i.kind == "windowed" for r in results for i in r.issues),
            "engine_errors": sum(i.kind == "engine_error" for r in results for i in r.issues)}
        if device.startswith("cuda"):
            out["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
        del results
        if bare and engine.runtime is not None:
            out["bare_encoder"] = bare_encoder(engine, sentences, schema, device)
            out["ratio_to_bare_encoder"] = (out["sentences_per_s"]
                                            / out["bare_encoder"]["sentences_per_s"])
        if device.startswith("cuda") and engine.runtime is not None:
            try:  # diagnostics: a failure here leaves the variant's numbers standing
                out["timeline"] = timeline(engine, sentences, schema)
                out["launch_costs"] = launch_costs(engine, sentences, schema)
            except Exception as exc:
                out["timeline"] = {"error": f"{type(exc).__name__}: {exc}"}
        if stages and engine.runtime is not None:
            out["profile"] = {"sentences": min(stages, len(sentences)),
                              "seconds": profile(engine, sentences[:stages], schema, device)}
        ex.close()
        return out
    except Exception as exc:  # a variant that cannot run is a result, not a crash
        return {"variant": label, "options": options, "error": f"{type(exc).__name__}: {exc}",
                "trace": traceback.format_exc(limit=4)}
    finally:
        gc.unfreeze()
        gc.collect()
        if device.startswith("cuda"):
            torch.cuda.empty_cache()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="Few-NERD file (default: INTER test from ../shared)")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--threshold", type=float, default=None,
                    help="default: the model's calibrated threshold")
    ap.add_argument("--model", help="GLiNER model directory or bundled name (default: the "
                                    "default model)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, help="default: the engine's (128 CPU, 1024 CUDA)")
    ap.add_argument("--old-limit", type=int, default=None,
                    help="sentences for the old engine (default 1000 on CPU, all on CUDA)")
    ap.add_argument("--passes", type=int, default=3,
                    help="steady passes per engine after its first (the median is reported)")
    ap.add_argument("--profile-limit", type=int, default=None, help="default: all")
    ap.add_argument("--variants", default=None,
                    help="comma-separated extra engine variants: onnx, onnx-int8 (CPU); "
                         "float32, bfloat16, compile, torch-kernels, "
                         + ", ".join(TWEAKS) + " (CUDA); transformers "
                         "(the encoder as transformers runs it), gc-on, gc-freeze "
                         "(any). "
                         "Default: "
                         "float32,onnx,onnx-int8 on CPU, float32,bfloat16,compile on CUDA")
    ap.add_argument("--variant-limit", type=int, default=None,
                    help="sentences for the extra variants (default: all)")
    ap.add_argument("--name", default=None, help="output file stem (default "
                    "gliner_runtime_<device>)")
    ap.add_argument("--out", default="eval/results")
    args = ap.parse_args()
    known = {"onnx", "onnx-int8", "transformers", "torch-kernels", "gc-on", "gc-freeze",
             "compile", "float32", "float16", "bfloat16", *TWEAKS}
    unknown = sorted(set(filter(None, (args.variants or "").split(","))) - known)
    if unknown:
        ap.error(f"unknown variants {unknown}; known: {', '.join(sorted(known))}")
    device = args.device
    cuda = device.startswith("cuda")
    name = args.name or f"gliner_runtime_{'cuda' if cuda else 'cpu'}"
    command = "python eval/bench_gliner_runtime.py " + " ".join(sys.argv[1:])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    path = Path(args.data) if args.data else find_fewnerd("inter/test")
    examples = list(read_fewnerd(path, limit=args.limit))
    schema = Schema.load("fewnerd_inter_test")
    if args.threshold is not None:
        schema = schema.with_options(threshold=args.threshold)
    base = {"device": device, "threads": args.threads}
    if args.model:
        base["model"] = args.model
    if args.batch_size:
        base["batch_size"] = args.batch_size
    result: dict[str, Any] = {"provenance": provenance(command, device), "data": path.name,
                              "sentences": len(examples), "passes": args.passes,
                              "threshold": args.threshold if args.threshold is not None
                              else "the model's calibrated threshold", "model": args.model}
    def save() -> None:  # after every measurement, so a run cut short leaves its numbers
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if cuda:
            result["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
        (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        (out / f"{name}.md").write_text(render(result))

    result["variants"] = []
    result["engine"] = measure("engine (default)", base, examples, schema, device,
                               stages=args.profile_limit or len(examples), passes=args.passes)
    save()
    extra = args.variants if args.variants is not None else (
        "float32,bfloat16,compile" if cuda else "float32,onnx,onnx-int8")
    sub = examples[:args.variant_limit] if args.variant_limit else examples
    variants = result["variants"]
    for v in filter(None, extra.split(",")):
        if v in ("onnx", "onnx-int8", "transformers"):
            variants.append(measure(f"engine, {v} encoder", {**base, "encoder": v}, sub, schema,
                                    device, passes=args.passes))
            save()
        elif v == "torch-kernels":
            variants.append(measure("engine, no Triton kernels (torch scorer and norms)",
                                    {**base, "kernels": "torch"}, sub, schema, device,
                                    passes=args.passes))
            save()
        elif v in TWEAKS:
            variants.append(measure(TWEAKS[v][0], base, sub, schema, device,
                                    passes=args.passes, tweak=TWEAKS[v][1]))
            save()
        elif v == "gc-on":
            variants.append(measure("engine, collector left running (pause_gc=False)",
                                    {**base, "pause_gc": False}, sub, schema, device,
                                    passes=args.passes))
            save()
        elif v == "gc-freeze":
            variants.append(measure("engine, gc.freeze() after start", base, sub, schema, device,
                                    passes=args.passes, freeze=True))
            save()
        elif v == "compile":
            variants.append(measure("engine, torch.compile encoder", base, sub, schema, device,
                                    compile_encoder=True, passes=args.passes))
            save()
        elif v in ("float32", "float16", "bfloat16"):
            variants.append(measure(f"engine, {v} weights", {**base, "dtype": v}, sub, schema,
                                    device, passes=args.passes))
            save()
    n_old = args.old_limit if args.old_limit is not None else (len(examples) if cuda else 1000)
    old = {**base, "runtime": False, "batch_size": args.batch_size or (256 if cuda else 32)}
    if n_old:
        variants.append(measure("old engine (gliner's path + factored scorer)", old,
                                examples[:n_old], schema, device, bare=False, passes=1))
    save()
    print(render(result))


def render(r: dict[str, Any]) -> str:
    p = r["provenance"]
    versions = ", ".join(f"{k} {v}" for k, v in p["packages"].items())
    e = r["engine"]
    lines = ["# GLiNER runtime: the engine, its bare encoder and the old engine in one run", "",
             f"Commit: `{(p['git']['commit'] or 'unknown')[:12]}`"
             + (" (with uncommitted changes)" if p["git"]["dirty"] else "") + "  ",
             f"Command: `{p['command']}`  ", f"Machine: {p['machine']}  ",
             *([f"Accelerator: {p['accelerator']}  "] if p["accelerator"] else []),
             f"Packages: {versions}  ", "",
             f"Few-NERD sentences ({r['data']}), pre-tokenised, the 17-label INTER-test schema, "
             f"threshold {r['threshold']}. Each engine goes through `Extractor(\"gliner\", ...)`"
             " after a 256-sentence warm-up; sentences/s is the median of its "
             f"{r.get('passes', 1)} full passes after the first (steady state), "
             "first pass the rate of its first, which meets every batch shape for the first "
             "time; gc is the time those passes spent in Python's cyclic garbage collector "
             "(each pass's; a full collection walks every object of the process); its bare "
             "encoder is the same encoder's forward on the same rows (label prompt included), "
             "built and on the device beforehand, in the same batches.", "",
             "| what | runtime | batch | sentences | seconds | sentences/s | first pass "
             "sentences/s | gc s per pass | bare encoder sentences/s | engine / bare | strict F1 "
             "| peak GPU MiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for v in [e, *r["variants"]]:
        if "error" in v:
            lines.append(f"| {v['variant']} | – | – | – | – | failed: "
                         f"{v['error'][:150].replace('|', '/')} | – | – | – | – | – | – |")
            continue
        bare = v.get("bare_encoder")
        lines.append(
            f"| {v['variant']} | `{v['runtime']}` | {v['batch_size']} | {v['sentences']} | "
            f"{v['seconds']:.2f} | {v['sentences_per_s']:,.0f} | "
            + (f"{v['first_pass_sentences_per_s']:,.0f} | " if "first_pass_s" in v else "– | ")
            + (" / ".join(f"{p['gc']['seconds']:.2f}" for p in v["passes"]) + " | "
               if "passes" in v else "– | ")
            + (f"{bare['sentences_per_s']:,.0f} | {v['ratio_to_bare_encoder']:.2f} | "
               if bare else "– | – | ")
            + f"{v['strict_f1']:.2f} | "
            + (f"{v['peak_gpu_mib']:,.0f} |" if "peak_gpu_mib" in v else "– |"))
    lines += ["", "| memory and counts (default engine) | value |", "|---|---|",
              f"| peak RSS of the whole run (MiB) | {r['peak_rss_mib']:,.0f} |"]
    if "error" not in e:
        lines += [f"| engine start: load + self-check (s) | {e['engine_start_s']:.1f} |",
                  f"| predicted spans | {e['predicted_spans']} |",
                  f"| documents read in several windows | {e['windowed']} |",
                  f"| engine errors | {e['engine_errors']} |"]
        bare = e.get("bare_encoder")
        if bare:
            lines += [f"| encoder rows / batches | {bare['rows']} / {bare['batches']} |",
                      f"| subwords (prompt included) / padding share | {bare['subwords']:,} / "
                      f"{100 * bare['padding_share']:.1f} % |"]
        timed = [v for v in [e, *r["variants"]] if "batches" in v.get("timeline", {})]
        if timed:
            lines += ["", "Timeline of each engine: one more plain pass, CUDA events around "
                          "each batch (seconds; `eval/bench_gliner_runtime.py:timeline`):", "",
                      "| what | batches | wall | device busy | host before the device "
                      "starts | device idle between batches | host after the device's last "
                      "batch | host blocked on the device | host launching | of which its own "
                      "dispatch |", "|---|---|---|---|---|---|---|---|---|---|"]
            for v in timed:
                tl = v["timeline"]
                lines.append(f"| {v['variant']} | {tl['batches']} | {tl['wall']:.3f} | "
                             f"{tl['device_busy']:.3f} | {tl['before_device']:.3f} | "
                             f"{tl['gaps']:.3f} | {tl['after_device']:.3f} | "
                             f"{tl['host_wait']:.3f} | {tl['host_launch']:.3f} | "
                             f"{tl['dispatch']:.3f} |")
        lc = e.get("launch_costs")
        if lc:
            lines += ["", "Launch costs of the default engine's batches, the device idle "
                          "before each step (seconds summed over the batches; host = the "
                          "call's own time, device = until the device finished):", "",
                      "| step | host | device |", "|---|---|---|",
                      f"| build (numpy) | {lc['build']:.3f} | – |",
                      f"| copies to the device | {lc['copies']:.3f} | {lc['copies_device']:.3f} |",
                      f"| encoder forward | {lc['encoder']:.3f} | {lc['encoder_device']:.3f} |",
                      f"| whole launch (copies, encoder, scorer, selection, copy back) | "
                      f"{lc['launch']:.3f} | {lc['launch_device']:.3f} |"]
        prof = e.get("profile")
        if prof:
            st = prof["seconds"]
            total = st["total"]
            lines += ["", f"Stage profile of the default engine: once more over "
                          f"{prof['sentences']} sentences with the device synchronised around "
                          f"each stage and no worker thread (so the stages add up; {total:.2f} s "
                          "in all, slower than the plain run):", "",
                      "| stage | seconds | share |", "|---|---|---|"]
            for k, v in st.items():
                if k not in ("total", "of which in gc"):
                    lines.append(f"| {k} | {v:.3f} | {100 * v / total:.1f} % |")
            if "of which in gc" in st:
                lines.append(f"| (of all stages: in the garbage collector) | "
                             f"{st['of which in gc']:.3f} | "
                             f"{100 * st['of which in gc'] / total:.1f} % |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
