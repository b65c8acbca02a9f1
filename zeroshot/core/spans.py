"""Span and document-result data types shared by every engine.

A :class:`Span` is a typed, half-open character interval ``[start, end)`` of a
source text, optionally with the half-open token interval it covers. Spans are
frozen: engines build new ones with :func:`dataclasses.replace`.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from zeroshot.core.text import TokenizedText, TokenOffsets


class AlignmentStatus(str, enum.Enum):
    """How a span's offsets were found in the source text.

    ``EXACT``: the generated string occurs verbatim (encoder spans are exact by
    construction). ``NORMALIZED``: it occurs after case, whitespace, unicode and
    punctuation-spacing normalisation. ``FUZZY``: a similar substring was found
    above the fuzzy threshold. ``UNALIGNED``: nothing was found; no offsets.
    """

    EXACT = "exact"
    NORMALIZED = "normalized"
    FUZZY = "fuzzy"
    UNALIGNED = "unaligned"


@dataclasses.dataclass(frozen=True, slots=True)
class Span:
    """A typed mention of a source text.

    Attributes:
        start: first character (inclusive).
        end: last character (exclusive); ``text == source[start:end]``.
        label: the schema type *name* (the key used in outputs and metrics).
        text: the covered source text.
        score: model confidence in ``[0, 1]`` where the engine has one.
        token_start: first token (inclusive), where a tokenisation is known.
        token_end: last token (exclusive).
        engine: name of the engine that produced the span.
        alignment: how the offsets were found (see :class:`AlignmentStatus`).
        snapped: True when the offsets were widened to token boundaries (or to
            whole grapheme clusters, so that no span splits a character).
    """

    start: int
    end: int
    label: str
    text: str = ""
    score: float | None = None
    token_start: int | None = None
    token_end: int | None = None
    engine: str | None = None
    alignment: AlignmentStatus = AlignmentStatus.EXACT
    snapped: bool = False

    def __post_init__(self) -> None:
        if self.start < 0 or self.end < self.start:
            raise ValueError(f"invalid span offsets [{self.start}, {self.end})")
        if (self.token_start is None) != (self.token_end is None):
            raise ValueError("token_start and token_end must be given together")
        if self.token_start is not None and self.token_end < self.token_start:  # type: ignore[operator]
            raise ValueError(f"invalid token offsets [{self.token_start}, {self.token_end})")
        if self.alignment is AlignmentStatus.UNALIGNED:
            raise ValueError("a Span has offsets; unaligned strings are Mentions, not Spans")

    @classmethod
    def unchecked(cls, start: int, end: int, label: str, text: str, score: float | None,
                  token_start: int | None, token_end: int | None, engine: str | None) -> Span:
        """An exact, unsnapped span built without :meth:`__post_init__`'s checks, for
        engines whose offsets are valid by construction (token bounds of a
        :class:`~zeroshot.core.text.TokenizedText`); the same object as ``Span(...)``
        with these fields. Anything built from user or model strings goes through
        ``Span(...)``."""
        span = _new(cls)
        _set(span, "start", start)
        _set(span, "end", end)
        _set(span, "label", label)
        _set(span, "text", text)
        _set(span, "score", score)
        _set(span, "token_start", token_start)
        _set(span, "token_end", token_end)
        _set(span, "engine", engine)
        _set(span, "alignment", AlignmentStatus.EXACT)
        _set(span, "snapped", False)
        return span

    @property
    def key(self) -> tuple[int, int, str]:
        """``(start, end, label)``: the identity used by strict matching."""
        return (self.start, self.end, self.label)

    @property
    def token_key(self) -> tuple[int, int, str]:
        if self.token_start is None or self.token_end is None:
            raise ValueError(f"span {self.text!r} has no token offsets")
        return (self.token_start, self.token_end, self.label)

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, other: Span) -> bool:
        return self.start <= other.start and other.end <= self.end

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "label": self.label, "text": self.text,
                "score": self.score, "token_start": self.token_start,
                "token_end": self.token_end, "engine": self.engine,
                "alignment": self.alignment.value, "snapped": self.snapped}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Span:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - fields
        if unknown:
            raise ValueError(f"unknown span fields: {sorted(unknown)}")
        kwargs = dict(data)
        if "alignment" in kwargs:
            kwargs["alignment"] = AlignmentStatus(kwargs["alignment"])
        return cls(**kwargs)


# what a frozen dataclass's own __init__ calls (Span.unchecked skips only its checks)
_new, _set = object.__new__, object.__setattr__


@dataclasses.dataclass(frozen=True, slots=True)
class Mention:
    """A string a model produced, before or after alignment.

    Aligned mentions carry offsets and convert to a :class:`Span`; unaligned ones
    keep the generated string so reports can show what the model made up.
    """

    generated: str
    label: str
    status: AlignmentStatus
    start: int | None = None
    end: int | None = None
    text: str | None = None
    token_start: int | None = None
    token_end: int | None = None
    snapped: bool = False
    similarity: float | None = None
    score: float | None = None

    @property
    def aligned(self) -> bool:
        return self.status is not AlignmentStatus.UNALIGNED

    def to_span(self, engine: str | None = None) -> Span:
        if not self.aligned or self.start is None or self.end is None:
            raise ValueError(f"mention {self.generated!r} is unaligned and has no offsets")
        return Span(
            start=self.start,
            end=self.end,
            label=self.label,
            text=self.text or "",
            score=self.score,
            token_start=self.token_start,
            token_end=self.token_end,
            engine=engine,
            alignment=self.status,
            snapped=self.snapped,
        )

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["status"] = self.status.value
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class Issue:
    """A countable problem met while processing one record.

    ``kind`` is a short stable code (see :mod:`zeroshot.core.validate`), ``repair``
    says whether the problem was repaired (True) or the item was dropped (False).
    """

    kind: str
    message: str
    index: int | None = None
    repair: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "index": self.index,
                "repair": self.repair}


@dataclasses.dataclass(frozen=True, slots=True)
class DocumentResult:
    """Everything an engine returns for one document."""

    text: str
    spans: tuple[Span, ...] = ()
    id: str | None = None
    engine: str | None = None
    unaligned: tuple[Mention, ...] = ()
    issues: tuple[Issue, ...] = ()
    tokens: tuple[str, ...] | None = None
    usage: Mapping[str, int] | None = None  # LLM engines: prompt/completion tokens, requests
    # [start, end) of each token: a TokenOffsets view where built from a TokenizedText
    token_offsets: Sequence[tuple[int, int]] | None = None

    @classmethod
    def from_tokenized(cls, doc: TokenizedText, *, spans: tuple[Span, ...] = (),
                       id: str | None = None, engine: str | None = None,
                       unaligned: tuple[Mention, ...] = (), issues: tuple[Issue, ...] = (),
                       usage: Mapping[str, int] | None = None) -> DocumentResult:
        """A result for ``doc`` that keeps its tokens and their character offsets."""
        return cls(text=doc.text, spans=spans, id=id, engine=engine, unaligned=unaligned,
                   issues=issues, tokens=doc.token_tuple(), usage=usage,
                   token_offsets=doc.offsets())

    @classmethod
    def unchecked_tokenized(cls, doc: TokenizedText, spans: tuple[Span, ...],
                            id: str | None, engine: str | None,
                            issues: tuple[Issue, ...]) -> DocumentResult:
        """:meth:`from_tokenized` without :meth:`__post_init__`'s span check, for
        engines whose spans are token bounds of ``doc`` (inside its text by
        construction); the same object with these fields."""
        res = _new(cls)
        for name, value in (("text", doc.text), ("spans", spans), ("id", id),
                            ("engine", engine), ("unaligned", ()), ("issues", issues),
                            ("tokens", doc.token_tuple()), ("usage", None),
                            ("token_offsets", doc.offsets())):
            _set(res, name, value)
        return res

    def tokenized(self) -> TokenizedText | None:
        """The document's tokens with offsets, when the result kept them."""
        if self.token_offsets is None:
            return None
        offsets = self.token_offsets
        if isinstance(offsets, TokenOffsets):
            return TokenizedText(self.text, offsets.starts, offsets.ends)
        return TokenizedText(self.text, tuple(s for s, _ in offsets),
                             tuple(e for _, e in offsets))

    def __post_init__(self) -> None:
        for span in self.spans:
            if span.end > len(self.text):
                raise ValueError(
                    f"span [{span.start}, {span.end}) runs past the text ({len(self.text)} chars)"
                )

    def issue_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for issue in self.issues:
            counts[issue.kind] = counts.get(issue.kind, 0) + 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "engine": self.engine,
            "spans": [s.to_dict() for s in self.spans],
            "unaligned": [m.to_dict() for m in self.unaligned],
            "issues": [i.to_dict() for i in self.issues],
            "tokens": list(self.tokens) if self.tokens is not None else None,
            **({"token_offsets": list(map(list, self.token_offsets))}
               if self.token_offsets is not None else {}),
            **({"usage": dict(self.usage)} if self.usage is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DocumentResult:
        unaligned = tuple(
            Mention(**{**m, "status": AlignmentStatus(m["status"])})
            for m in data.get("unaligned") or ()
        )
        return cls(
            text=data["text"],
            spans=tuple(Span.from_dict(s) for s in data.get("spans") or ()),
            id=data.get("id"),
            engine=data.get("engine"),
            unaligned=unaligned,
            issues=tuple(Issue(**i) for i in data.get("issues") or ()),
            tokens=tuple(data["tokens"]) if data.get("tokens") is not None else None,
            usage=dict(data["usage"]) if data.get("usage") is not None else None,
            token_offsets=(TokenOffsets([int(s) for s, _ in data["token_offsets"]],
                                        [int(e) for _, e in data["token_offsets"]])
                           if data.get("token_offsets") is not None else None),
        )


def sort_spans(spans: Iterable[Span]) -> list[Span]:
    """Document order: by start, then longer first, then label."""
    return sorted(spans, key=lambda s: (s.start, -s.end, s.label))
