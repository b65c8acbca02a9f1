"""Stage 2, the filter: which teacher labels become training data, each rule counted.

Records are first split into a silver dev set and a training pool by a seeded hash
of their ids, so the split does not depend on which rules are on; the pool is read
in hash order, so its first N records are a random sample (F1 against N).

Record rules (a record is dropped by the first that applies):

* ``record_error``: the record failed (unreadable, empty, the engine failed on it);
* ``engine_error`` / ``truncated``: the teacher's answer is missing or was cut,
  so entities after the cut would be taught as non-entities;
* ``invalid_answer``: invalid JSON, schema violations, malformed entities,
  unknown labels, empty strings: the answer is not what was asked;
* ``unaligned``: a string occurs nowhere in the text; the entity it meant
  cannot be placed, so no span of the record is trusted as complete;
* ``duplicate_sentence``: the same text (whitespace and case folded) as a record
  kept before it (dev first, so no training sentence repeats a dev sentence).

Span rules (a span is dropped by the first that applies):

* ``fuzzy_alignment``: the aligner placed the string by similarity only;
* ``low_confidence``: the teacher's probability of the entity is below
  ``min_confidence`` (spans without one are kept and counted);
* ``encoder_disagrees``: the current encoder, at a low threshold, does not find
  the same span with the same type.

``drop_partial`` drops a record whose spans a span rule removed
(``lost_span``), instead of keeping it with those spans as non-entities.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from zeroshot.core.issues import (
    EMPTY_TEXT,
    ENGINE_ERROR,
    INVALID_JSON,
    MALFORMED_ENTITY,
    SCHEMA_VIOLATION,
    TRUNCATED,
    UNALIGNED,
    UNKNOWN_LABEL,
)
from zeroshot.core.spans import AlignmentStatus, DocumentResult, Span

RECORD_RULES = ("record_error", "engine_error", "truncated", "invalid_answer", "unaligned",
                "duplicate_sentence", "lost_span")
SPAN_RULES = ("fuzzy_alignment", "low_confidence", "encoder_disagrees")
INVALID_KINDS = (INVALID_JSON, SCHEMA_VIOLATION, MALFORMED_ENTITY, UNKNOWN_LABEL, EMPTY_TEXT)


@dataclasses.dataclass(frozen=True)
class FilterConfig:
    """Which rules apply (see the module docstring) and how the silver dev is cut."""

    min_confidence: float | None = None  # None: no confidence rule
    agreement: bool = False
    agreement_threshold: float = 0.1  # the encoder's threshold for agreement
    agreement_model: str | None = None  # default: the student's base model
    dedup: bool = True
    keep_fuzzy: bool = False
    drop_partial: bool = False
    dev_fraction: float = 0.1
    max_dev: int = 500
    seed: int = 0

    def __post_init__(self) -> None:
        if self.min_confidence is not None and not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], not {self.min_confidence}")
        if not 0.0 < self.dev_fraction < 1.0:
            raise ValueError(f"dev_fraction must be in (0, 1), not {self.dev_fraction}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class FilterReport:
    """Counts per rule, for the dev set and the training set apart."""

    records_in: dict[str, int] = dataclasses.field(default_factory=lambda: {"dev": 0, "train": 0})
    records_out: dict[str, int] = dataclasses.field(default_factory=lambda: {"dev": 0, "train": 0})
    spans_in: dict[str, int] = dataclasses.field(default_factory=lambda: {"dev": 0, "train": 0})
    spans_out: dict[str, int] = dataclasses.field(default_factory=lambda: {"dev": 0, "train": 0})
    record_rules: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    span_rules: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    spans_without_confidence: int = 0
    pool: int = 0  # records in the training pool before the train limit
    config: dict[str, Any] = dataclasses.field(default_factory=dict)

    def count(self, table: dict[str, dict[str, int]], rule: str, part: str, n: int = 1) -> None:
        table.setdefault(rule, {"dev": 0, "train": 0})[part] += n

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def markdown(self) -> list[str]:
        lines = ["| | dev | train |", "|---|---|---|",
                 f"| records labelled | {self.records_in['dev']} | {self.records_in['train']} |"]
        for rule in RECORD_RULES:
            c = self.record_rules.get(rule, {"dev": 0, "train": 0})
            lines.append(f"| − records: {rule} | {c['dev']} | {c['train']} |")
        lines.append(f"| records kept | {self.records_out['dev']} | {self.records_out['train']} |")
        lines.append(f"| spans in kept records | {self.spans_in['dev']} | "
                     f"{self.spans_in['train']} |")
        for rule in SPAN_RULES:
            c = self.span_rules.get(rule, {"dev": 0, "train": 0})
            lines.append(f"| − spans: {rule} | {c['dev']} | {c['train']} |")
        lines.append(f"| spans kept | {self.spans_out['dev']} | {self.spans_out['train']} |")
        return lines


def split_order(ids: Iterable[str], seed: int) -> list[str]:
    """Ids in the order of a seeded hash: any prefix is a random sample."""
    return sorted(ids, key=lambda i: hashlib.sha1(f"{seed}:{i}".encode()).hexdigest())


def dev_count(n: int, config: FilterConfig) -> int:
    return min(config.max_dev, max(1, round(n * config.dev_fraction))) if n > 1 else 0


def _record_rule(doc: DocumentResult, error: str | None) -> str | None:
    kinds = doc.issue_counts()
    if error is not None:
        return "record_error"
    if kinds.get(ENGINE_ERROR):
        return "engine_error"
    if kinds.get(TRUNCATED):
        return "truncated"
    if any(kinds.get(k) for k in INVALID_KINDS):
        return "invalid_answer"
    if doc.unaligned or kinds.get(UNALIGNED):
        return "unaligned"
    return None


def _span_rule(span: Span, config: FilterConfig, agreed: set[tuple[int, int, str]] | None
               ) -> str | None:
    if span.alignment is AlignmentStatus.FUZZY and not config.keep_fuzzy:
        return "fuzzy_alignment"
    if (config.min_confidence is not None and span.score is not None
            and span.score < config.min_confidence):
        return "low_confidence"
    if agreed is not None and span.key not in agreed:
        return "encoder_disagrees"
    return None


def _sentence_key(text: str) -> str:
    return " ".join(text.casefold().split())


def apply_filters(labelled: Mapping[str, tuple[DocumentResult, str | None]],
                  config: FilterConfig, *, train_limit: int | None = None,
                  encoder: Mapping[str, DocumentResult] | None = None
                  ) -> tuple[list[DocumentResult], list[DocumentResult], FilterReport]:
    """(silver dev, training set, report) from the teacher's results by id.

    ``encoder`` holds the encoder's predictions by id (needed when
    ``config.agreement``); ``train_limit`` takes the first N records of the pool.
    """
    order = split_order(labelled, config.seed)
    k = dev_count(len(order), config)
    parts = {"dev": order[:k], "train": order[k:]}
    report = FilterReport(pool=len(parts["train"]), config=config.to_dict())
    if train_limit is not None:
        parts["train"] = parts["train"][:train_limit]
    if config.agreement and encoder is None:
        raise ValueError("the agreement rule needs the encoder's predictions")
    seen: set[str] = set()
    kept: dict[str, list[DocumentResult]] = {"dev": [], "train": []}
    for part, ids in parts.items():
        for rid in ids:
            doc, error = labelled[rid]
            report.records_in[part] += 1
            rule = _record_rule(doc, error)
            key = _sentence_key(doc.text)
            if rule is None and config.dedup and key in seen:
                rule = "duplicate_sentence"
            if rule is not None:
                report.count(report.record_rules, rule, part)
                continue
            agreed = None
            if config.agreement:
                pred = encoder.get(rid) if encoder is not None else None
                agreed = {s.key for s in pred.spans} if pred is not None else set()
            spans, lost = [], Counter()
            for span in doc.spans:
                if config.min_confidence is not None and span.score is None:
                    report.spans_without_confidence += 1
                why = _span_rule(span, config, agreed)
                if why is None:
                    spans.append(span)
                else:
                    lost[why] += 1
            if lost and config.drop_partial:
                report.count(report.record_rules, "lost_span", part)
                continue
            seen.add(key)
            report.records_out[part] += 1
            report.spans_in[part] += len(doc.spans)
            report.spans_out[part] += len(spans)
            for why, n in lost.items():
                report.count(report.span_rules, why, part, n)
            kept[part].append(dataclasses.replace(doc, spans=tuple(spans)))
    return kept["dev"], kept["train"], report


def silver_rows(docs: Sequence[DocumentResult]) -> list[dict[str, Any]]:
    """Documents as the core's JSONL gold format (:func:`zeroshot.core.loaders.read_jsonl`):
    tokens and token-offset spans, with the teacher's score and alignment status."""
    rows = []
    for doc in docs:
        if doc.tokens is None:
            raise ValueError(f"record {doc.id}: the teacher's result kept no tokens")
        spans = []
        for s in doc.spans:
            if s.token_start is None or s.token_end is None:
                raise ValueError(f"record {doc.id}: span {s.text!r} has no token offsets")
            spans.append({"start": s.token_start, "end": s.token_end, "label": s.label,
                          "score": s.score, "alignment": s.alignment.value})
        rows.append({"id": doc.id, "tokens": list(doc.tokens), "spans": spans})
    return rows
