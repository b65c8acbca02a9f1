"""GLiNER engine host cost (everything but the encoder), old code against new, in one run.

    python eval/bench_gliner_host.py                          # 5,000 INTER-test sentences
    python eval/bench_gliner_host.py --limit 500 --out /tmp/x
    python eval/bench_gliner_host.py --candidates /tmp/cands.npz   # capture once, reuse

1. **Capture**: the real engine (``--model``, default the small bundled MiniLM model)
   reads Few-NERD INTER-test sentences (pre-tokenised) under the 17-label schema once;
   the candidate arrays its runtime hands back, batch by batch, are kept (and saved to
   ``--candidates`` when given, so a later run skips the encoder).
2. **Replay**: ``GlinerEngine.extract`` runs again with a runtime that hands back those
   same batches, so only the host stages run: *inputs* (texts to ``TokenizedText``),
   *tokenise* (word pieces and windows) and *results* (overlap resolution, spans,
   documents). The **old** path is the engine at ``--baseline`` (a git revision,
   default the commit this work started from), imported from ``git archive`` as
   ``zeroshot_base``; the **new** path is this checkout. Both run in this process, on
   the same inputs, interleaved, ``--repeats`` times; the minimum per stage is kept.
3. **Identity**: every document's ``to_dict()`` (text, tokens, offsets, every span
   field, issues) and the type of every score are compared between old and new, and
   with the captured real run.

Writes ``<name>.json`` and ``<name>.md`` (``--name``, default ``gliner_host_cpu``) under
``--out`` (default eval/results), stamped by :func:`zeroshot.core.provenance.provenance`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np

from zeroshot.core.loaders import find_fewnerd, read_fewnerd
from zeroshot.core.provenance import provenance, stamp_markdown
from zeroshot.core.schema import Schema
from zeroshot.engines import gliner as new_gliner

logger = logging.getLogger("bench_gliner_host")
BASELINE = "836c39e"  # main when the host-path work started
STAGES = ("inputs", "tokenise", "results")
FIELDS = ("row", "start", "end", "cls", "score")
Batch = tuple[np.ndarray, dict[str, np.ndarray], dict[int, Exception]]


def import_baseline(rev: str, repo: Path) -> ModuleType:
    """The engine module of ``rev``: its ``zeroshot`` package (and schemas) from
    ``git archive``, every ``zeroshot`` import renamed ``zeroshot_base``, imported
    beside this one. (Its engine reads its own package's schemas and enums.)"""
    where = Path(tempfile.mkdtemp(prefix="zeroshot_base_"))
    tar = where / "base.tar"
    subprocess.run(["git", "archive", "-o", str(tar), rev, "zeroshot", "schemas"], cwd=repo,
                   check=True)
    with tarfile.open(tar) as tf:
        tf.extractall(where, filter="data")
    (where / "zeroshot").rename(where / "zeroshot_base")
    (where / "schemas").rename(where / "zeroshot_base" / "schemas")
    names = "|".join(sorted(p.stem for p in (where / "zeroshot_base").iterdir()))
    pattern = re.compile(rf"\bzeroshot\b(?=\.(?:{names})\b|\s+import)")
    for path in (where / "zeroshot_base").rglob("*.py"):
        path.write_text(pattern.sub("zeroshot_base", path.read_text()))
    sys.path.insert(0, str(where))
    return importlib.import_module("zeroshot_base.engines.gliner")


class ReplayRuntime:
    """Stands in for ``GlinerRuntime`` in ``GlinerEngine.extract``: hands back the
    captured batches (fresh copies: the engine shifts classes in place)."""

    def __init__(self, batches: Sequence[Batch], candidates_cls: type):
        self.batches, self.candidates_cls = batches, candidates_cls
        self.profile: dict[str, float] | None = None

    def prompt(self, labels: Sequence[str]) -> tuple[str, ...]:
        return tuple(labels)

    def stream(self, wids: np.ndarray, starts: np.ndarray, counts: np.ndarray, prompt: Any,
               thresholds: Sequence[float], *, max_pieces: int | None = None
               ) -> Iterator[tuple[np.ndarray, Any, dict[int, Exception]]]:
        rows = sum(len(done) for done, _, _ in self.batches)
        if rows != len(starts):
            raise ValueError(f"captured {rows} rows, the engine planned {len(starts)}")
        for done, got, errs in self.batches:
            yield done.copy(), self.candidates_cls(*(got[f].copy() for f in FIELDS)), errs

    def start_profile(self) -> None:
        self.profile = dict.fromkeys(STAGES, 0.0)

    def stop_profile(self) -> dict[str, float]:
        out, self.profile = self.profile or {}, None
        return out


def replay_engine(module: ModuleType, real: Any, batches: Sequence[Batch], schema: Path
                  ) -> tuple[Any, Any]:
    """``module.GlinerEngine`` without a model (the real engine's settings, its own
    package's word-piece table on the same tokenizer, a replaying runtime), and
    the schema at ``schema`` loaded by that package."""
    engine = object.__new__(module.GlinerEngine)
    tokenizer = real.model.data_processor.transformer_tokenizer
    package = module.__name__.split(".", 1)[0]
    rt = importlib.import_module(package + ".engines.gliner_runtime")
    engine.__dict__.update(
        source=real.source, default_threshold=real.default_threshold, device="cpu",
        batch_size=real.batch_size, window=real.window, window_overlap=real.window_overlap,
        max_types=real.max_types, max_subwords=real.max_subwords, fast=True, native=None,
        runtime=ReplayRuntime(batches, rt.Candidates), pieces=rt.WordPieces(tokenizer),
        pause_gc=getattr(real, "pause_gc", False),
        model=SimpleNamespace(data_processor=real.model.data_processor), _plans={})
    return engine, importlib.import_module(package + ".core.schema").Schema.load(schema)


def capture(model: str, sentences: list[list[str]], schema: Schema, threads: int
            ) -> tuple[Any, list[Batch], list[Any], float]:
    """The real engine over ``sentences``: the engine, its runtime's batches, its
    results and the seconds it took."""
    import torch

    torch.set_num_threads(threads)
    engine = new_gliner.GlinerEngine(model, threads=threads)
    batches: list[Batch] = []
    stream = engine.runtime.stream

    def recording(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for done, got, errs in stream(*args, **kwargs):
            batches.append((done.copy(), {f: getattr(got, f).copy() for f in FIELDS}, errs))
            yield done, got, errs

    engine.runtime.stream = recording
    t0 = time.perf_counter()
    results = engine.extract(sentences, schema)
    return engine, batches, results, time.perf_counter() - t0


def save_batches(path: Path, batches: Sequence[Batch], n: int) -> None:
    arrays = {"sentences": np.array(n)}
    for i, (done, got, errs) in enumerate(batches):
        if errs:
            raise ValueError("a captured batch has errors; not saving it")
        arrays[f"{i}_done"] = done
        arrays.update({f"{i}_{f}": got[f] for f in FIELDS})
    np.savez(path, **arrays)


def load_batches(path: Path, n: int) -> list[Batch] | None:
    if not path.is_file():
        return None
    data = np.load(path)
    if int(data["sentences"]) != n:
        return None
    count = sum(1 for k in data.files if k.endswith("_done"))
    return [(data[f"{i}_done"], {f: data[f"{i}_{f}"] for f in FIELDS}, {})
            for i in range(count)]


def timed(engine: Any, sentences: list[list[str]], schema: Schema) -> tuple[dict, list]:
    """One replayed extract: seconds per host stage, the total, and the results."""
    engine.runtime.start_profile()
    t0 = time.perf_counter()
    results = engine.extract(sentences, schema)
    total = time.perf_counter() - t0
    stages = engine.runtime.stop_profile()
    stages["total"] = total
    return stages, results


def identical(a: Sequence[Any], b: Sequence[Any]) -> dict[str, Any]:
    """Documents equal in every field (``to_dict``) and in their scores' types."""
    diffs = [i for i, (x, y) in enumerate(zip(a, b, strict=True))
             if x.to_dict() != y.to_dict()
             or [type(s.score) for s in x.spans] != [type(s.score) for s in y.spans]]
    return {"documents": len(a), "spans": sum(len(r.spans) for r in a),
            "identical": not diffs and len(a) == len(b), "differing_documents": diffs[:20]}


def compare(engines: dict[str, tuple[Any, Any]], sentences: list[list[str]], repeats: int
            ) -> tuple[dict[str, dict[str, float]], dict[str, list]]:
    """Each (engine, schema) ``repeats`` times, interleaved; the fastest time per stage."""
    best: dict[str, dict[str, float]] = {k: {} for k in engines}
    results: dict[str, list] = {}
    for engine, schema in engines.values():  # warm-up: word-piece tables, label plans
        timed(engine, sentences, schema)
    for _ in range(repeats):
        for name, (engine, schema) in engines.items():
            stages, results[name] = timed(engine, sentences, schema)
            for stage, seconds in stages.items():
                best[name][stage] = min(best[name].get(stage, float("inf")), seconds)
    return best, results


def render(record: dict[str, Any]) -> str:
    n = record["sentences"]
    lines = ["# GLiNER engine host cost, old against new (CPU, one run)", "",
             *stamp_markdown(record["provenance"]), "",
             f"{n} Few-NERD INTER-test sentences (pre-tokenised), 17-label schema, model "
             f"`{record['model']}`; candidates captured once from the real engine "
             f"({record['candidates_per_doc']:.2f} candidates per document, "
             f"{record['spans']} spans kept), then replayed {record['repeats']} times per "
             "path, interleaved; fastest run per stage. µs per document:", "",
             "| stage | old | new | old / new |", "|---|---|---|---|"]
    old, new = record["us_per_doc"]["old"], record["us_per_doc"]["new"]
    for stage in (*STAGES, "total"):
        ratio = old[stage] / new[stage] if new[stage] else float("inf")
        lines.append(f"| {stage} | {old[stage]:.2f} | {new[stage]:.2f} | {ratio:.1f}x |")
    ident = record["identity"]
    lines += ["", f"Identity, new against old: {ident['new_vs_old']['identical']} "
                  f"({ident['new_vs_old']['documents']} documents, every field of every span "
                  "and issue, score types included)."]
    if "new_vs_captured" in ident:
        lines.append(f"Identity, new replay against the captured real run: "
                     f"{ident['new_vs_captured']['identical']}.")
    lines += ["", f"Baseline: `{record['baseline']}`. The real engine's encoder run took "
                  f"{record['capture_s']} s." if record.get("capture_s") is not None else
              f"Baseline: `{record['baseline']}`. Candidates from `{record['candidates']}`.",
              ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=5000)
    ap.add_argument("--model", default="gliner-minilm-fewnerd")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--baseline", default=BASELINE, help="git revision of the old path")
    ap.add_argument("--candidates", type=Path, help="npz of captured candidates: read if it "
                    "holds this many sentences, else written after the capture")
    ap.add_argument("--out", default="eval/results")
    ap.add_argument("--name", default="gliner_host_cpu", help="output file stem")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # stamped before the run: the code that runs is the code at start
    stamp = provenance("python eval/bench_gliner_host.py " + " ".join(sys.argv[1:]))
    repo = Path(__file__).resolve().parents[1]
    examples = list(read_fewnerd(find_fewnerd("inter/test"), limit=args.limit))
    sentences = [e.tokens.tokens for e in examples]
    schema_path = repo / "schemas" / "fewnerd_inter_test.json"
    schema = Schema.load(schema_path)
    old_module = import_baseline(args.baseline, repo)
    batches = load_batches(args.candidates, len(sentences)) if args.candidates else None
    record: dict[str, Any] = {"provenance": stamp, "sentences": len(sentences),
                              "model": args.model,
                              "repeats": args.repeats, "baseline": args.baseline,
                              "candidates": str(args.candidates) if batches else None,
                              "capture_s": None}
    captured = None
    if batches is None:
        logger.info("capturing candidates: the real engine over %d sentences", len(sentences))
        real, batches, captured, seconds = capture(args.model, sentences, schema, args.threads)
        record["capture_s"] = round(seconds, 1)
        if args.candidates:
            save_batches(args.candidates, batches, len(sentences))
    else:
        real = new_gliner.GlinerEngine(args.model, threads=args.threads)
    engines = {"old": replay_engine(old_module, real, batches, schema_path),
               "new": replay_engine(new_gliner, real, batches, schema_path)}
    best, results = compare(engines, sentences, args.repeats)
    record["seconds"] = best
    record["us_per_doc"] = {k: {s: 1e6 * v / len(sentences) for s, v in b.items()}
                            for k, b in best.items()}
    record["spans"] = sum(len(r.spans) for r in results["new"])
    record["candidates_per_doc"] = sum(len(got["row"]) for _, got, _ in batches) / len(sentences)
    record["identity"] = {"new_vs_old": identical(results["old"], results["new"])}
    if captured is not None:
        record["identity"]["new_vs_captured"] = identical(captured, results["new"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(record, indent=2) + "\n")
    (out / f"{args.name}.md").write_text(render(record))
    logger.info("%s", render(record))


if __name__ == "__main__":
    main()
