"""vLLM prefix caching on and off, side by side in one run: the same variants on the
same sentences, one engine start each way, an untimed warm-up after each start.

    python eval/bench_llm_prefix.py --split dev --limit 300 --all-cores \\
        --variants constrained-3shot,hybrid-3shot

The shared part of every prompt (system message with the type list, the replayed
demonstrations) is identical across a batch; with prefix caching vLLM computes
its KV cache once and reuses it. The answers must be the same both ways (greedy
decoding); the run checks and reports how many differ.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from bench_llm import make_backend, run_variant
from llm_scores import stamp
from llm_variants import expand, load_split, parse_variant

from zeroshot.benchmark import PeakRSS
from zeroshot.engines.llm.backends import reserve_vllm_cpus
from zeroshot.engines.llm.hybrid import DEFAULT_CANDIDATE_THRESHOLD
from zeroshot.engines.llm.model_prep import DEFAULT_MODEL
from zeroshot.report import pct


def run_side(caching: bool, variants, examples, schema, proposer, args) -> tuple[dict, dict]:
    args.no_prefix_caching = not caching
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        backend = make_backend(args.model, args)
        start_s = time.perf_counter() - t0
        run_variant(backend, variants[0], examples[:args.warmup], schema, proposer, args)
        rows, answers = [], {}
        for v in variants:
            row, docs = run_variant(backend, v, examples, schema, proposer, args)
            rows.append({"prefix_caching": caching, "variant": v.name,
                         **{k: row[k] for k in ("seconds", "sentences_per_s", "usage",
                                                "generated_tokens_per_s")},
                         "strict_f1": row["metrics"]["strict"]["micro"]["f1"]})
            answers[v.name] = [sorted(s.key for s in d.spans) for d in docs]
            print(f"prefix caching {'on' if caching else 'off'} {v.name}: "
                  f"{row['sentences_per_s']:.2f} sent/s", flush=True)
        backend.close()
    return {"engine_start_s": start_s, "peak_rss_mib": rss.peak / 2**20, "rows": rows}, answers


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=["dev", "test", "dev-smoke"], default="dev")
    ap.add_argument("--data")
    ap.add_argument("--dev-split")
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--variants", default="constrained-3shot,hybrid-3shot")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--gliner-model")
    ap.add_argument("--candidate-threshold", type=float, default=DEFAULT_CANDIDATE_THRESHOLD)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--max-model-len", type=int, default=4096)
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--all-cores", action="store_true")
    ap.add_argument("--warmup", type=int, default=32)
    ap.add_argument("--out", default="eval/results")
    ap.add_argument("--name", default="llm_prefix_caching")
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    args.server, args.eager = None, False
    examples, schema, split = load_split(args.split, args.data, args.limit, args.seed,
                                          args.dev_split)
    variants = [parse_variant(n, args.candidate_threshold) for n in expand(args.variants)]
    if args.all_cores:
        reserve_vllm_cpus(0)
    proposer = None
    if any(v.mode == "hybrid" for v in variants):
        from zeroshot.engines.gliner import GlinerEngine

        proposer = GlinerEngine(args.gliner_model, threads=args.threads)
    on, answers_on = run_side(True, variants, examples, schema, proposer, args)
    off, answers_off = run_side(False, variants, examples, schema, proposer, args)
    differ = {v: sum(a != b for a, b in zip(answers_on[v], answers_off[v], strict=True))
              for v in answers_on}
    result = {"command": "python eval/bench_llm_prefix.py " + " ".join(sys.argv[1:]),
              **stamp(args.note), "split": split, "sentences": len(examples),
              "model": Path(args.model).name, "on": on, "off": off,
              "sentences_with_other_spans": differ}
    out = Path(args.out)
    (out / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"{args.name}.md").write_text(render(result))
    print(render(result))


def render(result: dict) -> str:
    lines = ["# vLLM prefix caching, on and off", "",
             f"Command: `{result['command']}`  ",
             f"Commit: {result['git_commit'][:12]}; "
             + ", ".join(f"{k} {v}" for k, v in result["packages"].items()) + "  ",
             f"Machine: {result['machine']}  ",
             f"Split: {result['split']['split']}, {result['sentences']} sentences; model "
             f"{result['model']}; each side: one engine start, an untimed warm-up, then "
             f"the variants in this order  "]
    if result.get("note"):
        lines.append(f"Note: {result['note']}  ")
    lines += ["", "| variant | prefix caching | sent/s | prompt tokens / sentence | "
              "strict F1 | sentences whose spans differ |", "|---|---|---|---|---|---|"]
    for side in ("on", "off"):
        for r in result[side]["rows"]:
            per = r["usage"].get("prompt_tokens", 0) / result["sentences"]
            lines.append(f"| {r['variant']} | {side} | {r['sentences_per_s']:.2f} | "
                         f"{per:.0f} | {pct(r['strict_f1'])} | "
                         f"{result['sentences_with_other_spans'][r['variant']]} |")
    lines += ["", f"Engine start: on {result['on']['engine_start_s']:.0f} s, off "
              f"{result['off']['engine_start_s']:.0f} s."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
