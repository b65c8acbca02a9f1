"""GLiNER engine on Few-NERD INTER test: quality, speed against a bare-encoder roof, memory.

    python eval/bench_gliner.py                       # all 14,006 sentences, CPU, 2 threads
    python eval/bench_gliner.py --limit 500 --out /tmp/x

Writes ``gliner_inter_test.json``, ``gliner_inter_test.md`` and an evidence card to
``--out`` (default eval/results). Speed is measured in the same run as the roof:
a bare forward pass of the same encoder over the same sentences, in batches, with
the same thread count.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch

from zeroshot.core.evidence import render_evidence_card
from zeroshot.core.loaders import find_fewnerd, read_fewnerd
from zeroshot.core.metrics import MODES, evaluate
from zeroshot.core.schema import Schema
from zeroshot.engines.gliner import GlinerEngine, default_model_path


def _autocast(device: str, fp16: bool):
    if device.startswith("cuda") and fp16:
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bare_encoder_rate(engine: GlinerEngine, sentences: list[list[str]], batch: int,
                      device: str = "cpu", fp16: bool = False) -> float:
    """Sentences/s of the encoder alone (tokenise + forward, no labels, no decoding),
    batched by length as the engine batches."""
    tok = engine.model.data_processor.transformer_tokenizer
    encoder = engine.model.model.token_rep_layer.bert_layer.model
    sentences = sorted(sentences, key=len)
    _sync(device)
    t0 = time.perf_counter()
    with torch.inference_mode(), _autocast(device, fp16):
        for i in range(0, len(sentences), batch):
            enc = tok(sentences[i:i + batch], is_split_into_words=True, padding=True,
                      truncation=True, max_length=512, return_tensors="pt").to(device)
            encoder(**enc)
    _sync(device)
    return len(sentences) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="Few-NERD file (default: INTER test from ../shared)")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--threshold", type=float, default=0.4)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--latency-samples", type=int, default=200)
    ap.add_argument("--roof-limit", type=int, default=2000,
                    help="sentences for the bare-encoder roof and the batched speed run")
    ap.add_argument("--model", default=None)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--fp16", action="store_true", help="CUDA: autocast to fp16")
    ap.add_argument("--roof-batch", type=int, help="batch of the bare-encoder roof "
                    "(default: --batch-size)")
    ap.add_argument("--no-fast", action="store_true",
                    help="gliner's own span scorer instead of the factored one")
    ap.add_argument("--name", default="gliner_inter_test", help="output file stem")
    ap.add_argument("--out", default="eval/results")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = Path(args.data) if args.data else find_fewnerd("inter/test")
    examples = list(read_fewnerd(path, limit=args.limit))
    schema = Schema.load("fewnerd_inter_test").with_options(threshold=args.threshold)

    t0 = time.perf_counter()
    engine = GlinerEngine(args.model, batch_size=args.batch_size, threads=args.threads,
                          device=args.device, fast=not args.no_fast)
    start_s = time.perf_counter() - t0

    # 1. quality: every sentence
    t0 = time.perf_counter()
    with _autocast(args.device, args.fp16):
        results = engine.extract([e.tokens.tokens for e in examples], schema,
                                 ids=[e.id for e in examples])
    _sync(args.device)
    full_s = time.perf_counter() - t0
    gold = [e.spans for e in examples]
    report = evaluate(gold, [r.spans for r in results], labels=schema.names)

    # 2. speed, side by side with the roof, on the same sentences
    speed_set = [e.tokens.tokens for e in examples[: args.roof_limit]]
    t0 = time.perf_counter()
    with _autocast(args.device, args.fp16):
        engine.extract(speed_set, schema)
    _sync(args.device)
    engine_rate = len(speed_set) / (time.perf_counter() - t0)
    roof_rate = bare_encoder_rate(engine, speed_set, args.roof_batch or args.batch_size,
                                  args.device, args.fp16)
    native_rate = None
    if engine.fast:  # the same run with gliner's own span scorer, for the ratio
        native = GlinerEngine(args.model, batch_size=args.batch_size, threads=args.threads,
                              device=args.device, fast=False)
        t0 = time.perf_counter()
        with _autocast(args.device, args.fp16):
            native.extract(speed_set, schema)
        _sync(args.device)
        native_rate = len(speed_set) / (time.perf_counter() - t0)
        del native
    lat = []
    for toks in speed_set[: args.latency_samples]:
        t0 = time.perf_counter()
        engine.extract([toks], schema)
        lat.append(time.perf_counter() - t0)
    lat.sort()
    q = statistics.quantiles(lat, n=20)

    n_tokens = sum(len(t) for t in speed_set)
    result = {
        "command": "python eval/bench_gliner.py " + " ".join(
            f"--{k.replace('_', '-')}" if v is True else f"--{k.replace('_', '-')} {v}"
            for k, v in vars(args).items() if v not in (None, False) and k != "out"),
        "machine": (f"{torch.cuda.get_device_name()}, torch {torch.__version__}"
                    + (", fp16 autocast" if args.fp16 else ", fp32")
                    if args.device.startswith("cuda") else
                    f"{platform.machine()}, {os.cpu_count()} cores, torch "
                    f"{torch.__version__}, {args.threads} threads"),
        "model": str(args.model or default_model_path().name),
        "data": path.name, "sentences": len(examples),
        "gold_spans": sum(len(g) for g in gold),
        "predicted_spans": sum(len(r.spans) for r in results),
        "threshold": args.threshold,
        "engine_start_s": start_s,
        "full_run_s": full_s, "full_run_sentences_per_s": len(examples) / full_s,
        "speed_sentences": len(speed_set),
        "engine_sentences_per_s": engine_rate,
        "engine_tokens_per_s": n_tokens / len(speed_set) * engine_rate,
        "bare_encoder_sentences_per_s": roof_rate,
        "ratio_to_bare_encoder": engine_rate / roof_rate,
        "gliner_scorer_sentences_per_s": native_rate,
        "latency_p50_ms": 1000 * statistics.median(lat), "latency_p95_ms": 1000 * q[18],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_mib": (torch.cuda.max_memory_allocated() / 2**20
                         if args.device.startswith("cuda") else None),
        "windows_used": sum(1 for r in results for i in r.issues if i.kind == "windowed"),
        "engine_errors": sum(1 for r in results for i in r.issues if i.kind == "engine_error"),
        "metrics": report.to_dict(),
    }
    (out / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    card = render_evidence_card(schema, gold, results, report=report,
                                title="Evidence card: GLiNER (project model) on Few-NERD "
                                      "INTER test")
    (out / f"{args.name}_card.md").write_text(card)
    lines = ["# GLiNER engine on Few-NERD INTER test", "",
             f"Command: `{result['command']}`  ", f"Machine: {result['machine']}", "",
             "| mode | P | R | F1 | F1 95% CI | macro F1 |", "|---|---|---|---|---|---|"]
    for m in MODES:
        s = report[m].micro
        lo, hi = s.ci["f1"]
        lines.append(f"| {m} | {100 * s.precision:.1f} | {100 * s.recall:.1f} | "
                     f"{100 * s.f1:.1f} | {100 * lo:.1f}–{100 * hi:.1f} | "
                     f"{100 * report[m].macro.f1:.1f} |")
    lines += ["", "| speed and memory | value |", "|---|---|"]
    for k in ("sentences", "engine_start_s", "full_run_sentences_per_s", "speed_sentences",
              "engine_sentences_per_s", "engine_tokens_per_s", "bare_encoder_sentences_per_s",
              "ratio_to_bare_encoder", "gliner_scorer_sentences_per_s", "latency_p50_ms",
              "latency_p95_ms", "peak_rss_mib", "windows_used", "engine_errors"):
        v = result[k]
        lines.append(f"| {k} | {v:.2f} |" if isinstance(v, float) else f"| {k} | {v} |")
    lines += ["", "Per type (strict F1): " + ", ".join(
        f"{t} {100 * s.f1:.1f}" for t, s in sorted(report["strict"].per_type.items(),
                                                   key=lambda kv: -kv[1].f1)),
              "", f"Evidence card: `{args.name}_card.md`."]
    (out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
