"""Stage 1, the teacher: the LLM engine labels the user's texts under the schema.

The labels go through the resumable :class:`~zeroshot.batch.BatchRunner` into
``DIR/teacher/labels.jsonl``: one document result per text, with each span's
alignment status and (vLLM offline backend) the model's probability of the entity
as its ``score``, plus every unaligned string and issue. A killed run continues
where it stopped; a run under another teacher configuration is refused, not mixed
into the same file.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from zeroshot.api import build_engine
from zeroshot.batch import BatchRunner, Record, read_results
from zeroshot.core.engine import ENGINE_ERROR, Engine, TextInput
from zeroshot.core.errors import ZeroshotError
from zeroshot.core.issues import ISSUE_KINDS
from zeroshot.core.schema import Schema
from zeroshot.core.spans import DocumentResult
from zeroshot.engines.llm.backends import reserve_vllm_cpus

logger = logging.getLogger(__name__)

LABELS = "labels.jsonl"
CONFIG = "config.json"
SESSIONS = "sessions.jsonl"


@dataclasses.dataclass(frozen=True)
class TeacherConfig:
    """The LLM that labels the texts, and how.

    ``model``: a prepared model's name (``qwen2.5-coder-0.5b-instruct``, ``-1.5b-``)
    or a model directory (default: the prepared 0.5B). ``backend``: ``vllm``
    (in-process), ``outlines``, or ``server`` with ``server`` a URL. ``mode``:
    ``grounded`` (default: every string is a span of the text, so none is
    unaligned) or ``constrained``. ``logprobs``: ask vLLM offline for token
    log-probabilities, so every span carries the model's probability of it.
    """

    model: str | None = None
    backend: str | None = None
    server: str | None = None
    mode: str = "grounded"
    shots: int = 3
    max_tokens: int = 512
    batch_size: int = 256  # documents per engine call (vLLM batches them)
    all_cores: bool = False  # vLLM on CPU: every core to the model
    logprobs: bool = True
    backend_options: dict[str, Any] = dataclasses.field(default_factory=dict)  # e.g. vLLM's
    # max_model_len, kv_cache_gib; a server's concurrency, timeout

    def engine_options(self) -> dict[str, Any]:
        """Options for :func:`zeroshot.api.build_engine` (``"llm"``)."""
        backend = self.backend or ("server" if self.server else "vllm")
        opts: dict[str, Any] = {"backend": backend, "mode": self.mode, "shots": self.shots,
                                "max_tokens": self.max_tokens}
        if self.model:
            opts["model"] = self.model
        if backend == "server":
            opts["server"] = self.server
        if backend == "vllm":
            opts["logprobs"] = self.logprobs
        return {**opts, **self.backend_options}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class TeacherSummary:
    """What the teacher produced: counts of documents, spans, statuses and issues."""

    documents: int = 0
    failed: int = 0  # record errors (unreadable, empty, engine failure)
    spans: int = 0
    spans_with_confidence: int = 0
    alignment: dict[str, int] = dataclasses.field(default_factory=dict)
    issues: dict[str, int] = dataclasses.field(default_factory=dict)
    documents_with_issue: dict[str, int] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0  # extraction time over all sessions (engine start excluded)
    timed_documents: int = 0  # answered in those sessions (no engine or record errors)
    engine_start_s: list[float] = dataclasses.field(default_factory=list)

    @property
    def sentences_per_s(self) -> float:
        return self.timed_documents / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "sentences_per_s": self.sentences_per_s}


def teacher_config_record(schema: Schema, config: TeacherConfig, identity: dict[str, Any]
                          ) -> dict[str, Any]:
    """What decides the labels: schema, teacher settings (not how they are batched or
    how many cores run them) and the engine's identity."""
    settings = {k: v for k, v in config.to_dict().items() if k not in ("batch_size",
                                                                        "all_cores")}
    return {"schema": schema.to_dict(), "teacher": settings,
            "identity": {k: str(v) for k, v in identity.items()}}


def _check_config(folder: Path, record: dict[str, Any]) -> None:
    """Labels made under another configuration are never extended: say what differs."""
    path = folder / CONFIG
    if (folder / LABELS).exists() and path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        if old != record:
            changed = sorted(k for k in set(old) | set(record) if old.get(k) != record.get(k))
            sub = [f"{k}.{s}" for k in changed if isinstance(old.get(k), dict)
                   for s in sorted(set(old[k]) | set(record.get(k) or {}))
                   if old[k].get(s) != (record.get(k) or {}).get(s)]
            raise ZeroshotError(
                f"{folder / LABELS} was labelled under another teacher configuration "
                f"({', '.join(sub or changed)} differ); use another --out, or delete it "
                f"to label again")
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")


class EngineGuard:
    """The teacher's engine, watched: a batch in which every text (two or more) came back
    with an ``engine_error`` means the engine is gone (a dead vLLM core, an unreachable
    server), and labelling stops instead of writing a failure for every text left."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.name = engine.name
        self.failed_batches = 0
        self.engine_errors = 0
        self.last_error = ""

    def extract(self, texts: Sequence[TextInput], schema: Schema, *,
                ids: Sequence[str] | None = None) -> list[DocumentResult]:
        docs = self.engine.extract(texts, schema, ids=ids)
        failed = [d for d in docs if ENGINE_ERROR in d.issue_counts()]
        self.engine_errors += len(failed)
        if failed:
            self.last_error = next(i.message for i in failed[0].issues if i.kind == ENGINE_ERROR)
        if len(docs) >= 2 and len(failed) == len(docs):
            self.failed_batches += 1
        return docs

    def identity(self) -> dict[str, Any]:
        return self.engine.identity()

    def close(self) -> None:
        self.engine.close()

    def watch(self, records: Iterable[Record]) -> Iterator[Record]:
        """``records`` until the engine is gone."""
        for rec in records:
            if self.failed_batches:
                return
            yield rec


def retry_engine_errors(labels: Path) -> int:
    """Drop the records whose answer never came (an ``engine_error``: a timeout, a dead
    engine, a server error) so that the resumed run asks again; returns how many. The
    file is replaced atomically, so a kill leaves the old or the new one."""
    if not labels.exists():
        return 0
    keep, dropped = [], 0
    with labels.open("rb") as fh:
        for raw in fh:
            try:
                row = json.loads(raw)
                failed = any(i.get("kind") == ENGINE_ERROR for i in row.get("issues") or ())
            except (json.JSONDecodeError, TypeError, AttributeError):
                failed = False  # a torn line: the runner cuts it off itself
            if failed:
                dropped += 1
            else:
                keep.append(raw)
    if dropped:
        tmp = labels.with_name(labels.name + ".tmp")
        with tmp.open("wb") as fh:
            fh.writelines(keep)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(labels)
        logger.warning("%s: %d records without a teacher answer (engine errors) are labelled "
                       "again", labels, dropped)
    return dropped


def run_teacher(records: Iterable[Record], schema: Schema, folder: Path,
                config: TeacherConfig, *, progress: bool = True) -> TeacherSummary:
    """Label (or finish labelling) ``records`` into ``folder/labels.jsonl``; texts whose
    answer never came in an earlier run are asked again."""
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if config.all_cores and (config.backend or "vllm") == "vllm" and not config.server:
        reserve_vllm_cpus(0)  # read by vLLM when its engine starts: the teacher's entry point
    engine = EngineGuard(build_engine("llm", **config.engine_options()))
    start_s = time.perf_counter() - t0
    # labels whose teacher configuration is on record (config.json) continue under it even
    # without the batch runner's own record (a folder rebuilt from exported labels)
    on_record = (folder / LABELS).exists() and (folder / CONFIG).exists()
    try:
        _check_config(folder, teacher_config_record(schema, config, engine.identity()))
        retried = retry_engine_errors(folder / LABELS)
        # read ahead one batch only, so that a dead engine stops the reading (watch)
        runner = BatchRunner(engine, schema, batch_size=config.batch_size, progress=progress,
                             read_ahead=config.batch_size)
        done = runner.run(engine.watch(records), folder / LABELS, adopt=on_record)
    finally:
        engine.close()
    session = {"documents": done.documents, "engine_errors": engine.engine_errors,
               "retried": retried, "skipped": done.skipped, "failed": done.failed,
               "seconds": done.seconds, "engine_start_s": start_s,
               "date": time.strftime("%Y-%m-%dT%H:%M:%S")}
    with (folder / SESSIONS).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(session) + "\n")
    logger.info("teacher: %s", done.line())
    if engine.failed_batches:
        raise ZeroshotError(
            f"the teacher's engine failed on every text of a batch ({engine.last_error}); "
            f"labelling stopped. {folder / LABELS} keeps what was finished: run the same "
            f"command again to continue (texts without an answer are asked again)")
    return summarise_teacher(folder)


def summarise_teacher(folder: Path) -> TeacherSummary:
    """Counts over ``folder/labels.jsonl`` and the speed over its sessions."""
    s = TeacherSummary(issues={k: 0 for k in ISSUE_KINDS})
    alignment: Counter[str] = Counter()
    with_issue: Counter[str] = Counter()
    for doc, error in read_results(folder / LABELS):
        s.documents += 1
        s.failed += error is not None
        s.spans += len(doc.spans)
        s.spans_with_confidence += sum(sp.score is not None for sp in doc.spans)
        alignment.update(sp.alignment.value for sp in doc.spans)
        alignment["unaligned"] += len(doc.unaligned)
        counts = doc.issue_counts()
        for kind, n in counts.items():
            s.issues[kind] = s.issues.get(kind, 0) + n
        with_issue.update(counts)
    s.alignment = dict(alignment)
    s.documents_with_issue = dict(with_issue)
    sessions = folder / SESSIONS
    if sessions.exists():
        for line in sessions.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            s.seconds += row["seconds"]
            # a text whose request failed is a failed record (the batch runner's rule), so
            # engine errors are among the failures, not counted twice
            s.timed_documents += row["documents"] - max(row.get("failed", 0),
                                                         row.get("engine_errors", 0))
            s.engine_start_s.append(row["engine_start_s"])
    return s
