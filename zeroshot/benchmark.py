"""Head-to-head benchmark: every engine on the same sentences, the same metrics.

:func:`run_benchmark` samples a dataset deterministically (seed), runs each
engine through the resumable batch runner (per-sentence predictions cached in
``predictions_<engine>.jsonl``, so a killed run continues where it stopped),
times it, samples peak memory of the engine's processes, scores it with the
core metrics and counts every failure kind. The report module renders the
result.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import random
import statistics
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from zeroshot.api import build_engine
from zeroshot.batch import BatchRunner, Record, Summary, read_results
from zeroshot.core.evidence import compare_spans, render_evidence_card
from zeroshot.core.issues import ISSUE_KINDS
from zeroshot.core.loaders import Example, read_examples
from zeroshot.core.metrics import evaluate
from zeroshot.core.provenance import machine, provenance
from zeroshot.core.schema import Schema
from zeroshot.core.spans import DocumentResult
from zeroshot.results import make_output_dir

logger = logging.getLogger(__name__)

FAILURE_KINDS = ISSUE_KINDS  # every issue kind a record can carry


class PeakRSS:
    """Peak resident memory of this process and its children (vLLM's workers),
    sampled every ``every`` seconds while the block runs."""

    def __init__(self, every: float = 0.5) -> None:
        import psutil

        self._proc = psutil.Process()
        self.peak = 0
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        import psutil

        total = 0
        for p in [self._proc, *self._proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        self.peak = max(self.peak, total)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self.sample()

    def __enter__(self) -> PeakRSS:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


@dataclasses.dataclass(frozen=True)
class EngineSpec:
    """An engine to benchmark: a display name, an engine name, its options."""

    name: str
    engine: str
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    limit: int | None = None  # a smaller seeded subset for slow engines
    batch_size: int | None = None  # documents per engine call (LLMs: large, vLLM batches them)
    latency_samples: int | None = None  # single-sentence calls timed (None: the run's default)
    note: str = ""  # what this row is, for the report (e.g. which model, what it saw)


def sample(examples: Sequence[Example], limit: int | None, seed: int) -> list[Example]:
    """``limit`` examples chosen with ``seed``, in corpus order (all when None)."""
    if limit is None or limit >= len(examples):
        return list(examples)
    idx = sorted(random.Random(seed).sample(range(len(examples)), limit))
    return [examples[i] for i in idx]


def _latency(engine: Any, examples: Sequence[Example], schema: Schema, n: int) -> list[float]:
    out = []
    for ex in examples[:n]:
        t0 = time.perf_counter()
        engine.extract([ex.tokens], schema)
        out.append(time.perf_counter() - t0)
    return out


Predictions = dict[str, tuple[DocumentResult, "str | None"]]  # id -> (result, record error)


def load_predictions(out: Path, engine: str) -> Predictions:
    """An engine's cached predictions, by document id."""
    return {d.id: (d, err) for d, err in read_results(out / f"predictions_{engine}.jsonl")}


def _check_cache(preds: Path, meta_file: Path, config: dict[str, Any],
                 also: Sequence[Path]) -> None:
    """Predictions cached under another configuration (model weights, options,
    schema, threshold) are not reused: they are removed, with a warning naming
    what changed. A cache without a record is kept and the record written."""
    if preds.exists() and meta_file.exists():
        old = json.loads(meta_file.read_text())
        if old != config:
            changed = sorted(k for k in set(old) | set(config) if old.get(k) != config.get(k))
            logger.warning("%s was made with another configuration (%s differ); starting "
                           "afresh", preds.name, ", ".join(changed))
            for f in (preds, *also):
                f.unlink(missing_ok=True)
    elif preds.exists():
        logger.warning("%s has no record of its configuration; assuming the current one",
                       preds.name)
    meta_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def run_engine(spec: EngineSpec, examples: Sequence[Example], schema: Schema, out: Path, *,
               batch_size: int = 32, latency_samples: int = 20, progress: bool = True
               ) -> tuple[dict[str, Any], Predictions]:
    """Run (or resume) one engine; returns its row of ``results.json`` and its
    predictions."""
    preds = out / f"predictions_{spec.name}.jsonl"
    speed_file = out / f"speed_{spec.name}.json"
    records = [Record(ex.id, ex.tokens) for ex in examples]
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        engine = build_engine(spec.engine, **dict(spec.options))
        start_s = time.perf_counter() - t0
        identity = engine.identity()
        config = {"engine": spec.engine, "options": {k: str(v) for k, v in spec.options.items()},
                  "schema": schema.to_dict(), "identity": identity}
        _check_cache(preds, out / f"predictions_{spec.name}.config.json", config,
                     also=[speed_file])
        try:
            # the cache's configuration was checked above (_check_cache): a cache made
            # before the runner recorded its own is taken as this configuration's
            summary = BatchRunner(engine, schema, batch_size=batch_size,
                                  progress=progress).run(records, preds, adopt=True)
            lat = _latency(engine, examples, schema, latency_samples) if latency_samples else []
        finally:
            engine.close()
    speed = _speed(summary, examples, start_s, rss.peak, lat, speed_file)
    by_id = load_predictions(out, spec.name)
    docs = [by_id[ex.id][0] if ex.id in by_id else DocumentResult(ex.text, id=ex.id)
            for ex in examples]
    scores = _scores(examples, docs, schema)
    return {
        "engine": spec.name, "kind": spec.engine, "note": spec.note,
        "identity": {k: str(v) for k, v in identity.items()},
        "options": {k: str(v) for k, v in spec.options.items()},
        "sentences": len(examples), "gold_spans": scores["gold_spans"],
        "gold_bio_repairs": sum(ex.repairs for ex in examples),
        "predicted_spans": scores["predicted_spans"],
        "record_errors": sum(1 for ex in examples if ex.id in by_id and by_id[ex.id][1]),
        "failures": scores["failures"], "unaligned_pct": scores["unaligned_pct"],
        "verdicts": scores["verdicts"], "confusion": scores["confusion"],
        "speed": speed, "metrics": scores["metrics"],
        "predictions": preds.name,
    }, by_id


def _speed(summary: Summary, examples: Sequence[Example], start_s: float, peak_bytes: int,
           lat: Sequence[float], speed_file: Path) -> dict[str, Any]:
    """The run's speed, measured now and kept in ``speed_file``; a run that only
    resumed (nothing timed) reads the kept one."""
    if not summary.documents:
        if not speed_file.exists():
            return {}
        return {**json.loads(speed_file.read_text()), "resumed": True}
    per_s = summary.documents / summary.seconds
    avg_tokens = sum(len(ex.tokens) for ex in examples) / max(1, len(examples))
    speed = {
        "sentences_timed": summary.documents,
        "sentences_per_s": per_s,
        "tokens_per_s": avg_tokens * per_s,
        "engine_start_s": start_s,
        "peak_rss_mib": peak_bytes / 2**20,
    }
    if lat:
        speed["latency_p50_ms"] = 1000 * statistics.median(lat)
        speed["latency_p95_ms"] = 1000 * (statistics.quantiles(lat, n=20)[18]
                                          if len(lat) > 1 else lat[0])
    speed_file.write_text(json.dumps(speed, indent=2) + "\n")
    return speed


def _scores(examples: Sequence[Example], docs: Sequence[DocumentResult],
            schema: Schema) -> dict[str, Any]:
    """Metrics, failure counts, verdicts and type confusions of ``docs`` against
    the examples' gold."""
    gold = [ex.spans for ex in examples]
    report = evaluate(gold, [d.spans for d in docs], labels=schema.names)
    failures = Counter({k: 0 for k in FAILURE_KINDS})
    for d in docs:
        failures.update(d.issue_counts())
    verdicts: Counter[str] = Counter()
    confusion: Counter[tuple[str, str]] = Counter()
    for i, (g, d) in enumerate(zip(gold, docs, strict=True)):
        for row in compare_spans(list(g), list(d.spans), i):
            verdicts[row.verdict] += 1
            if row.verdict == "type":
                confusion[(row.gold.label, row.pred.label)] += 1  # type: ignore[union-attr]
    generated = sum(len(d.spans) + len(d.unaligned) for d in docs)
    return {"gold_spans": sum(len(g) for g in gold),
            "predicted_spans": sum(len(d.spans) for d in docs),
            "failures": dict(failures),
            "unaligned_pct": 100 * failures["unaligned"] / generated if generated else 0.0,
            "verdicts": dict(verdicts),
            "confusion": [[g, p, n] for (g, p), n in confusion.most_common()],
            "metrics": report.to_dict()}


def disagreements(examples: Sequence[Example], per_engine: Mapping[str, Predictions],
                  limit: int = 15) -> list[dict[str, Any]]:
    """Sentences where the engines' strict span sets differ, most different first."""
    engines = list(per_engine)
    rows = []
    for ex in examples:
        if not all(ex.id in per_engine[e] for e in engines):
            continue
        sets = {e: {s.key for s in per_engine[e][ex.id][0].spans} for e in engines}
        union = set().union(*sets.values())
        common = set.intersection(*sets.values()) if sets else set()
        if union == common:
            continue
        gold = {s.key for s in ex.spans}
        rows.append({
            "id": ex.id, "text": ex.text, "difference": len(union - common),
            "gold": [[s.text, s.label] for s in ex.spans],
            "engines": {e: [[ex.text[a:b], lab, (a, b, lab) in gold] for a, b, lab in
                            sorted(sets[e])] for e in engines},
        })
    rows.sort(key=lambda r: (-r["difference"], r["id"]))
    return rows[:limit]


def shared_scores(examples: Sequence[Example], per_engine: Mapping[str, Predictions],
                  labels: Sequence[str]) -> dict[str, Any]:
    """Every engine scored on the sentences all of them read (a slow engine reads a
    subset of the sample), so the quality comparison is like for like."""
    shared = [ex for ex in examples if all(ex.id in p for p in per_engine.values())]
    scores = {}
    for e, preds in per_engine.items():
        report = evaluate([ex.spans for ex in shared],
                          [preds[ex.id][0].spans for ex in shared], labels=labels)
        scores[e] = {m: report[m].micro.to_dict() for m in ("strict", "partial")}
    return {"sentences": len(shared), "engines": scores}


def evidence_cards(schema: Schema, examples: Sequence[Example],
                   per_engine: Mapping[str, Predictions], data_name: str) -> dict[str, str]:
    """One evidence card per engine, over the documents it predicted."""
    by_id = {ex.id: ex for ex in examples}
    cards = {}
    for e, preds in per_engine.items():
        docs = [d for d, _ in preds.values() if d.id in by_id]
        cards[e] = render_evidence_card(schema, [by_id[d.id].spans for d in docs], docs,
                                        title=f"Evidence card: {e} on {data_name}")
    return cards


def run_benchmark(data: Path, schema: Schema, engines: Sequence[EngineSpec], out: Path, *,
                  limit: int | None = None, seed: int = 13, fmt: str | None = None,
                  level: str = "fine",
                  batch_size: int = 32, latency_samples: int = 20, progress: bool = True,
                  command: str = "") -> tuple[dict[str, Any], dict[str, str]]:
    """Run every engine on one seeded sample and write ``results.json`` to ``out``.

    An engine's own ``limit`` takes a seeded subset of the shared sample (the same
    seed), so a slow engine still reads sentences every other engine read.
    Returns the results and an evidence card per engine.
    """
    make_output_dir(out, "the benchmark's output")
    everything = list(read_examples(data, fmt=fmt, level=level))
    examples = sample(everything, limit, seed)
    outside = sorted({s.label for ex in examples for s in ex.spans} - set(schema.names))
    if outside:  # such gold spans can only be missed: say so instead of scoring quietly
        logger.warning("gold labels not in schema %r (every such span counts as missed): %s%s",
                       schema.name, ", ".join(outside[:8]), " ..." if len(outside) > 8 else "")
    rows, per_engine = [], {}
    for spec in engines:
        subset = sample(examples, spec.limit, seed)
        logger.info("engine %s on %d sentences", spec.name, len(subset))
        row, per_engine[spec.name] = run_engine(
            spec, subset, schema, out, batch_size=spec.batch_size or batch_size,
            latency_samples=(spec.latency_samples if spec.latency_samples is not None
                             else latency_samples), progress=progress)
        rows.append(row)
    shared = sample(examples, min((s.limit or len(examples)) for s in engines), seed)
    result = {
        "command": command, "machine": machine(), "provenance": provenance(command),
        "data": str(data),
        "data_sentences": len(everything), "level": level, "sample_seed": seed,
        "sentences": len(examples), "gold_labels_outside_schema": outside,
        "schema": schema.name, "types": list(schema.names), "engines": rows,
        "disagreements": disagreements(shared, per_engine) if len(engines) > 1 else [],
        "shared": shared_scores(shared, per_engine, schema.names),
    }
    (out / "results.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return result, evidence_cards(schema, examples, per_engine, data.name)
