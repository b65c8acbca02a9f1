"""LLM engine on Few-NERD: prompt variants, models and the hybrid mode, on dev or test.

    # choose on dev: held-out INTER-train sentences, the 36 INTER-train types
    python eval/bench_llm.py --split dev --variants ablation --all-cores --name llm_dev
    python eval/bench_llm.py --split dev --models qwen2.5-coder-1.5b-instruct \\
        --variants A,B --all-cores --name llm_dev_1.5b
    # report what dev chose, once, on the seed-13 INTER-test sample `zeroshot bench` reads
    python eval/bench_llm.py --split test --limit 500 --all-cores --name llm_inter_test \\
        --models qwen2.5-coder-0.5b-instruct,qwen2.5-coder-1.5b-instruct \\
        --variants constrained-3shot,grounded-3shot,hybrid-3shot \\
        --chosen-on eval/results/llm_dev.json

Variant names: see ``eval/llm_variants.py`` (``MODE-Nshot[-bare][-hints][-tX]...``).
Every variant of a model runs after one engine start, on the same seeded sample,
so rows compare side by side; GLiNER alone (``--gliner-threshold``) and its
candidates at several thresholds are measured on the same sentences when a
hybrid variant runs. ``--resume`` skips (model, variant) rows already in the
``.partial.json``. Writes ``NAME.{json,md}`` and an evidence card of the best
row to ``--out``; each variant's documents to ``--predictions``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from llm_report import render_markdown
from llm_scores import candidate_stats, overrules, prompt_strings, score_docs, stamp
from llm_variants import Variant, expand, load_split, parse_variant

from zeroshot.benchmark import PeakRSS
from zeroshot.core.evidence import render_evidence_card
from zeroshot.core.schema import Schema
from zeroshot.engines.llm import (
    HybridEngine,
    LLMEngine,
    PromptBuilder,
    VLLMOfflineBackend,
    VLLMServerBackend,
)
from zeroshot.engines.llm.backends import reserve_vllm_cpus
from zeroshot.engines.llm.hybrid import (
    DEFAULT_CANDIDATE_THRESHOLD,
    candidates_from_spans,
    proposal_schema,
)
from zeroshot.engines.llm.model_prep import DEFAULT_MODEL

logger = logging.getLogger("bench_llm")
PROPOSER_THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.4)


def build_engine(backend, v: Variant, proposer, args):
    llm = LLMEngine(backend, mode="constrained" if v.mode == "hybrid" else v.mode,
                    max_tokens=args.max_tokens,
                    prompts=PromptBuilder(shots=v.shots, describe=v.describe,
                                          label_key=v.label_key, template_dir=v.template_dir))
    if v.mode != "hybrid":
        return llm
    return HybridEngine(proposer, llm, candidate_threshold=v.threshold, hints=v.hints,
                        demo_gold=v.demo_gold, accept_threshold=v.accept)


def run_variant(backend, v: Variant, examples, schema: Schema, proposer, args) -> tuple:
    """One variant on every example: its row and its documents."""
    engine = build_engine(backend, v, proposer, args)
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        docs = engine.extract([e.tokens for e in examples], schema, ids=[e.id for e in examples])
        seconds = time.perf_counter() - t0
    row = {"variant": v.name, "mode": v.mode, "shots": v.shots, "describe": v.describe,
           "label_key": v.label_key, "none_rule": v.none_rule, "hints": v.hints,
           "demo_gold": v.demo_gold,
           "candidate_threshold": v.threshold, "accept_threshold": v.accept,
           "seconds": seconds,
           "sentences_per_s": len(examples) / seconds, "peak_rss_mib": rss.peak / 2**20,
           **score_docs(examples, docs, schema, prompt_strings(schema, v.shots, v.describe))}
    row["generated_tokens_per_s"] = row["usage"].get("completion_tokens", 0) / seconds
    if v.mode == "hybrid":  # the same candidates again (deterministic), to judge the LLM
        cands = [c for c, _ in engine.propose([e.tokens for e in examples], schema)]
        row["candidates"] = candidate_stats(examples, cands)
        row["overrules"] = overrules(examples, docs, cands)
    return row, docs


def run_gliner(gliner, examples, schema: Schema, threshold: float | None
               ) -> tuple[dict, list]:
    """GLiNER alone on the same sentences, at ``threshold`` (None: the model's calibrated
    threshold, what ``zeroshot bench`` and the API apply)."""
    if threshold is None:
        threshold = gliner.default_threshold
    tokens = [e.tokens for e in examples]
    gliner.extract(tokens[:16], schema)  # warm-up
    t0 = time.perf_counter()
    docs = gliner.extract(tokens, schema.with_options(threshold=threshold))
    seconds = time.perf_counter() - t0
    row = {"variant": f"gliner@{threshold:g}", "mode": "gliner", "seconds": seconds,
           "sentences_per_s": len(examples) / seconds, **score_docs(examples, docs, schema)}
    return row, docs


def proposer_table(gliner, examples, schema: Schema, thresholds, max_candidates: int
                   ) -> list[dict]:
    """GLiNER's candidates at each threshold: how many, and how many gold spans they hold."""
    rows = []
    for t in thresholds:
        proposed = gliner.extract([e.tokens for e in examples], proposal_schema(schema, t))
        cands = [candidates_from_spans(d.spans, max_candidates)[0] for d in proposed]
        rows.append({"threshold": t, **candidate_stats(examples, cands)})
    return rows


def make_backend(model: str, args):
    if args.server:
        return VLLMServerBackend(args.server)
    return VLLMOfflineBackend(model, max_model_len=args.max_model_len, enforce_eager=args.eager,
                              prefix_caching=not args.no_prefix_caching, dtype=args.dtype)


def save_docs(args, model: str, variant: str, docs) -> None:
    d = Path(args.predictions) / Path(model).name
    d.mkdir(parents=True, exist_ok=True)
    with (d / f"{variant}.jsonl").open("w", encoding="utf-8") as fh:
        for doc in docs:
            fh.write(json.dumps(doc.to_dict(), ensure_ascii=False) + "\n")


def run_model(model: str, variants, examples, schema, proposer, args, rows, partial) -> dict:
    """Every variant not yet in ``rows`` for ``model``, after one engine start."""
    todo = [v for v in variants if not any(r["model"] == Path(model).name
                                           and r["variant"] == v.name for r in rows)]
    if not todo:
        return {}
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        backend = make_backend(model, args)
        start_s = time.perf_counter() - t0
        try:
            if args.warmup:  # vLLM's first batches compile and allocate: keep them out of rows
                run_variant(backend, todo[0], examples[:args.warmup], schema, proposer, args)
            for v in todo:
                row, docs = run_variant(backend, v, examples, schema, proposer, args)
                rows.append({"model": Path(model).name, **row})
                save_docs(args, model, v.name, docs)
                s = row["metrics"]["strict"]["micro"]
                print(f"{Path(model).name} {v.name}: strict F1 {100 * s['f1']:.1f}, "
                      f"{row['sentences_per_s']:.2f} sent/s, valid "
                      f"{row['schema_valid_pct']:.1f}%, unaligned {row['unaligned_pct']:.1f}%",
                      flush=True)
                partial.write_text(json.dumps(rows, indent=2) + "\n")
        finally:  # vLLM's worker processes go with the engine, also on SIGTERM
            backend.close()
    return {"engine_start_s": start_s, "peak_rss_mib_all_processes": rss.peak / 2**20,
            "backend": backend.name, "dtype": getattr(backend, "dtype", None)}


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=["dev", "test", "dev-smoke"], default="dev",
                    help="dev (choose here), test (report once), dev-smoke (smoke runs only)")
    ap.add_argument("--data", help="test: Few-NERD file (default: INTER test from ../shared)")
    ap.add_argument("--dev-split", help="dev: the split file listing the held-out INTER-train "
                                        "ids (default eval/splits/general_v1.json)")
    ap.add_argument("--limit", type=int, default=500, help="seeded sample size (default 500)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--variants", default="ablation",
                    help="comma-separated variant names; 'ablation' = the dev ablation")
    ap.add_argument("--models", default=DEFAULT_MODEL,
                    help="comma-separated prepared model names or directories")
    ap.add_argument("--server", help="OpenAI-compatible base URL instead of vLLM offline")
    ap.add_argument("--gliner-model", help="GLiNER model dir (default: the project's model)")
    ap.add_argument("--gliner-threshold", type=float, default=None,
                    help="GLiNER alone: threshold of its row (default: the model's calibrated "
                         "threshold, as zeroshot bench)")
    ap.add_argument("--candidate-threshold", type=float, default=DEFAULT_CANDIDATE_THRESHOLD,
                    help="hybrid variants without -tX: GLiNER's candidate threshold")
    ap.add_argument("--threads", type=int, default=2, help="GLiNER torch threads")
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--max-model-len", type=int, default=4096)
    ap.add_argument("--eager", action="store_true", help="vLLM without torch.compile")
    ap.add_argument("--dtype", default="auto",
                    help="vLLM weights dtype (default auto: the model's bfloat16, float32 on "
                         "CPUs without AVX-512 BF16, where vLLM's bf16 matmul is slow)")
    ap.add_argument("--no-prefix-caching", action="store_true")
    ap.add_argument("--all-cores", action="store_true",
                    help="vLLM's CPU worker uses every core (reserve_vllm_cpus(0))")
    ap.add_argument("--warmup", type=int, default=32,
                    help="sentences run once, untimed, after each engine start (default 32)")
    ap.add_argument("--out", default="eval/results")
    ap.add_argument("--name", default="llm_dev", help="output file stem")
    ap.add_argument("--predictions", help="where each variant's documents go "
                                          "(default runs/bench_llm/NAME)")
    ap.add_argument("--resume", action="store_true",
                    help="keep the rows of NAME.partial.json and run only the missing ones")
    ap.add_argument("--chosen-on", help="test runs: the dev result (JSON) that chose the "
                                        "variants, recorded in the output")
    ap.add_argument("--note", default="", help="recorded as is (e.g. what shared the CPU)")
    ap.add_argument("--report-only", action="store_true",
                    help="render NAME.md again from NAME.json; run nothing")
    args = ap.parse_args(argv)
    args.predictions = args.predictions or f"runs/bench_llm/{args.name}"
    return args


def main(argv=None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        result = json.loads((out / f"{args.name}.json").read_text())
        (out / f"{args.name}.md").write_text(render_markdown(result, f"{args.name}_card.md"))
        return
    examples, schema, split = load_split(args.split, args.data, args.limit, args.seed,
                                          args.dev_split)
    variants = [parse_variant(n, args.candidate_threshold) for n in expand(args.variants)]
    models = args.models.split(",")
    if args.all_cores:
        reserve_vllm_cpus(0)  # read by vLLM's CPU worker when an engine starts
    proposer, baseline, proposals = None, None, None
    if any(v.mode == "hybrid" for v in variants):
        from zeroshot.engines.gliner import GlinerEngine

        proposer = GlinerEngine(args.gliner_model, threads=args.threads)
        baseline, _ = run_gliner(proposer, examples, schema, args.gliner_threshold)
        proposals = proposer_table(proposer, examples, schema, PROPOSER_THRESHOLDS, 24)
    partial = out / f"{args.name}.partial.json"
    rows = json.loads(partial.read_text()) if args.resume and partial.exists() else []
    engines = {}
    for model in models:
        info = run_model(model, variants, examples, schema, proposer, args, rows, partial)
        if info:
            engines[Path(model).name] = info
    result = {
        "command": "python eval/bench_llm.py " + " ".join(sys.argv[1:] if argv is None
                                                           else argv),
        **stamp(args.note), "split": split, "sample_seed": args.seed,
        "sentences": len(examples), "gold_spans": sum(len(e.spans) for e in examples),
        "schema": schema.name, "types": len(schema), "chosen_on": _chosen_on(args.chosen_on),
        "engines": engines, "gliner_model": str(getattr(proposer, "source", None)),
        "gliner": baseline, "proposer": proposals, "variants": rows,
    }
    (out / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    _card(result, examples, schema, args, out)
    md = render_markdown(result, f"{args.name}_card.md")
    (out / f"{args.name}.md").write_text(md)
    print(md)


def _chosen_on(path: str | None) -> dict | None:
    """Which dev result chose the variants: its file, split, sample and best rows."""
    if not path:
        return None
    dev = json.loads(Path(path).read_text())
    best = sorted(dev["variants"], key=lambda r: -r["metrics"]["strict"]["micro"]["f1"])[:3]
    return {"file": Path(path).name, "split": dev["split"], "sentences": dev["sentences"],
            "git_commit": dev.get("git_commit"),
            "best": [[r["model"], r["variant"], r["metrics"]["strict"]["micro"]["f1"]]
                     for r in best]}


def _card(result: dict, examples, schema: Schema, args, out: Path) -> None:
    """Evidence card of the best row, from its saved documents."""
    from zeroshot.core.spans import DocumentResult

    if not result["variants"]:
        return
    best = max(result["variants"], key=lambda r: r["metrics"]["strict"]["micro"]["f1"])
    path = Path(args.predictions) / best["model"] / f"{best['variant']}.jsonl"
    docs = [DocumentResult.from_dict(json.loads(line)) for line in path.open(encoding="utf-8")]
    card = render_evidence_card(schema, [e.spans for e in examples], docs,
                                title=f"Evidence card: LLM engine ({best['variant']}, "
                                      f"{best['model']}) on Few-NERD {result['split']['split']}")
    (out / f"{args.name}_card.md").write_text(card)


if __name__ == "__main__":
    main()
