"""Parse, validate and align model output; never raise on model garbage.

Pipeline for one record: :func:`parse_json` (strict, or lenient recovery of the
first JSON object, counted as a repair) -> JSON Schema validation against
``schema.json_schema()`` -> semantic checks (known label, non-empty text,
text found in the source via the aligner, duplicates) -> spans.

Every problem becomes an :class:`~zeroshot.core.spans.Issue` with a stable
``kind`` so batches can count them; well-formed entities survive next to
broken ones.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any

import jsonschema

from zeroshot.core.align import Aligner, AlignerConfig
from zeroshot.core.issues import (  # the kinds, re-exported here for callers
    DUPLICATE,
    EMPTY_TEXT,
    INVALID_JSON,
    JSON_RECOVERED,
    LABEL_MAPPED,
    MALFORMED_ENTITY,
    SCHEMA_VIOLATION,
    UNALIGNED,
    UNKNOWN_LABEL,
)
from zeroshot.core.schema import Schema
from zeroshot.core.spans import AlignmentStatus, DocumentResult, Issue, Mention, Span
from zeroshot.core.text import TokenizedText

logger = logging.getLogger(__name__)

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


@dataclasses.dataclass(frozen=True)
class ParseResult:
    """``ok`` is False when nothing could be parsed (``data`` may be JSON ``null``)."""

    ok: bool
    data: Any = None
    issues: tuple[Issue, ...] = ()


def parse_json(raw: str | bytes, *, lenient: bool = False) -> ParseResult:
    """Parse model output as JSON.

    Strict mode accepts exactly one JSON value (surrounding whitespace allowed).
    Lenient mode, for unconstrained generation, falls back to the first JSON
    object in the text (inside a code fence or after prose) and reports
    ``json_recovered``.
    """
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return ParseResult(False, None, (Issue(INVALID_JSON,
                                                 f"output is not UTF-8 (byte {exc.start})"),))
    try:
        return ParseResult(True, json.loads(raw))
    except json.JSONDecodeError as exc:
        strict_error = Issue(
            INVALID_JSON, f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        )
    if not lenient:
        return ParseResult(False, None, (strict_error,))
    candidates = [m.group(1) for m in _FENCE.finditer(raw)] + [raw]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        for match in re.finditer(r"\{", candidate):
            try:
                value, _ = decoder.raw_decode(candidate, match.start())
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return ParseResult(True, value, (Issue(
                    JSON_RECOVERED, f"recovered a JSON object at character {match.start()}",
                    repair=True),))
    return ParseResult(False, None, (strict_error,))


def json_brackets(raw: str) -> Iterator[tuple[int, str, int]]:
    """``(index, bracket, depth after it)`` for each ``{ [ } ]`` of ``raw`` outside JSON
    strings (escapes honoured): the one scan that truncation repair and entity
    confidences share. The depth can fall below 0 on a malformed answer."""
    depth, in_string, escaped = 0, False, False
    for i, ch in enumerate(raw):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
            yield i, ch, depth
        elif ch in "}]":
            depth -= 1
            yield i, ch, depth


def repair_truncated(raw: str) -> str | None:
    """Close ``{"entities": [...`` cut off by a token budget after its last
    complete entity; None when no complete entity came before the cut.

    The caller reports the repair (issue ``truncated``); entities after the cut
    are lost, never guessed.
    """
    last = None
    for i, ch, depth in json_brackets(raw):
        if depth == 2 and ch == "}":
            last = i + 1
        if depth < 0:
            return None
    if last is None or not raw.lstrip().startswith("{"):
        return None
    return raw[:last] + "]}"


@lru_cache(maxsize=64)
def _validator_for(schema_json: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(schema_json))


@dataclasses.dataclass(frozen=True)
class ValidationResult:
    """Spans that passed, mentions that did not align, and every issue."""

    spans: tuple[Span, ...]
    unaligned: tuple[Mention, ...]
    issues: tuple[Issue, ...]
    parsed: bool

    def issue_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for issue in self.issues:
            counts[issue.kind] = counts.get(issue.kind, 0) + 1
        return counts

    def to_document(self, text: str, *, id: str | None = None, engine: str | None = None,
                    tokens: TokenizedText | None = None) -> DocumentResult:
        return DocumentResult(
            text=text, spans=self.spans, id=id, engine=engine, unaligned=self.unaligned,
            issues=self.issues, tokens=tuple(tokens.tokens) if tokens is not None else None,
        )


def validate_output(
    output: str | bytes | Mapping[str, Any],
    text: str,
    schema: Schema,
    *,
    tokens: TokenizedText | None = None,
    lenient: bool = False,
    map_labels: bool = True,
    label_key: str = "name",
    json_schema: Mapping[str, Any] | None = None,
    aligner_config: AlignerConfig | None = None,
    engine: str | None = None,
    scores: Sequence[float | None] | None = None,
) -> ValidationResult:
    """Check one model output against ``schema`` and align it to ``text``.

    Args:
        output: raw model text, or an already parsed object.
        lenient: recover the first JSON object from prose (unconstrained mode).
        map_labels: accept a type's label (or a case variant of its name) for
            its name, reported as ``label_mapped``; otherwise ``unknown_label``.
        label_key: ``"label"`` when the model was asked for the natural-language
            labels (``schema.json_schema(label_key="label")``): an exact label is
            then read as its type without a repair.
        json_schema: the schema the output was constrained to, when it is not
            ``schema.json_schema(label_key=label_key)`` (grounded decoding).
        scores: a confidence per entity of the answer, in order (the model's
            probability of it, :mod:`zeroshot.core.confidence`); it becomes the
            span's ``score`` (else an entity's own ``score`` field, if any).
    """
    issues: list[Issue] = []
    if isinstance(output, Mapping):
        data: Any = output
    else:
        parsed = parse_json(output, lenient=lenient)
        issues.extend(parsed.issues)
        if not parsed.ok:
            return ValidationResult((), (), tuple(issues), parsed=False)
        data = parsed.data

    if json_schema is None:
        json_schema = schema.json_schema(label_key=label_key)
    validator = _validator_for(json.dumps(json_schema, sort_keys=True))
    for error in validator.iter_errors(data):
        where = "/" + "/".join(str(p) for p in error.absolute_path)
        issues.append(Issue(SCHEMA_VIOLATION, f"{where}: {error.message}"))

    entities = data.get("entities") if isinstance(data, Mapping) else None
    if not isinstance(entities, list):
        if not any(i.kind == SCHEMA_VIOLATION for i in issues):
            issues.append(Issue(SCHEMA_VIOLATION, "/: no 'entities' array"))
        return ValidationResult((), (), tuple(issues), parsed=True)

    by_label = {t.label: t.name for t in schema} if label_key == "label" else {}
    items, item_index = _entity_items(entities, schema, by_label, map_labels, scores, issues)
    spans, unaligned = _aligned_spans(Aligner(text, tokens, aligner_config), items, item_index,
                                      engine, issues)
    return ValidationResult(tuple(spans), tuple(unaligned), tuple(issues), parsed=True)


def _entity_items(entities: list, schema: Schema, by_label: Mapping[str, str],
                  map_labels: bool, scores: Sequence[float | None] | None,
                  issues: list[Issue]) -> tuple[list[tuple[str, str, float | None]], list[int]]:
    """(text, type name, score) of each well-formed entity with a known label, and
    its index in the answer; an issue for each one left out or repaired."""
    items: list[tuple[str, str, float | None]] = []
    item_index: list[int] = []
    for i, entity in enumerate(entities):
        if not isinstance(entity, Mapping) or not isinstance(entity.get("text"), str) \
                or not isinstance(entity.get("label"), str):
            issues.append(Issue(MALFORMED_ENTITY,
                                "entity is not an object with string 'text' and 'label'", index=i))
            continue
        if not entity["text"].strip():
            issues.append(Issue(EMPTY_TEXT, "entity text is empty", index=i))
            continue
        label = entity["label"]
        if label in by_label:
            resolved: tuple[str, bool] | None = (by_label[label], False)
        elif map_labels:
            resolved = schema.resolve_label(label)
        else:
            resolved = (label, False) if label in schema else None
        if resolved is None:
            issues.append(Issue(UNKNOWN_LABEL, f"unknown label {label!r}", index=i))
            continue
        name, mapped = resolved
        if mapped:
            issues.append(Issue(LABEL_MAPPED, f"label {label!r} read as {name!r}", index=i,
                                repair=True))
        score = scores[i] if scores is not None and i < len(scores) else entity.get("score")
        items.append((entity["text"], name, float(score) if isinstance(score, (int, float))
                      and not isinstance(score, bool) else None))
        item_index.append(i)
    return items, item_index


def _aligned_spans(aligner: Aligner, items: list[tuple[str, str, float | None]],
                   item_index: list[int], engine: str | None,
                   issues: list[Issue]) -> tuple[list[Span], list[Mention]]:
    """The items aligned to the text: spans (each once) and the mentions found
    nowhere, with an issue for each unaligned or repeated one."""
    spans: list[Span] = []
    unaligned: list[Mention] = []
    seen: set[tuple[int, int, str]] = set()
    groups = aligner.align_grouped(items)
    for idx, mention in ((i, m) for i, g in zip(item_index, groups, strict=True) for m in g):
        if mention.status is AlignmentStatus.UNALIGNED:
            issues.append(Issue(UNALIGNED, f"{mention.generated!r} occurs nowhere in the text",
                                index=idx))
            unaligned.append(mention)
            continue
        span = mention.to_span(engine)
        if span.key in seen:
            issues.append(Issue(DUPLICATE, f"{span.text!r} ({span.label}) repeated at "
                                f"[{span.start}, {span.end})", index=idx))
            continue
        seen.add(span.key)
        spans.append(span)
    return spans, unaligned
