"""Model-free windows for long texts, and merging of per-window spans.

Encoders and LLMs have a window; nothing here truncates silently. A text is cut
into overlapping windows on token boundaries (:func:`chunk_tokens`); an engine
predicts per window with window-local offsets; :func:`merge_chunk_spans` maps
them back to the document, drops copies of the same span found by two windows
(keeping the higher score) and applies the overlap policy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from zeroshot.core.issues import WINDOWED
from zeroshot.core.overlap import resolve_overlaps
from zeroshot.core.schema import OverlapPolicy
from zeroshot.core.spans import Issue, Span
from zeroshot.core.text import TokenizedText


@dataclasses.dataclass(frozen=True)
class TextChunk:
    """A window of a document: its text and where it sits in the document."""

    index: int
    text: str
    start_char: int
    end_char: int
    start_token: int
    end_token: int
    tokens: tuple[str, ...]


def token_windows(n: int, max_tokens: int, overlap: int = 0, costs: Sequence[int] | None = None,
                  max_cost: int | None = None) -> list[tuple[int, int]]:
    """``[start, end)`` token ranges covering ``n`` tokens: each at most ``max_tokens``
    tokens and, where ``costs`` are given, at most ``max_cost`` in total (a token
    that alone costs more gets a window of its own). Consecutive windows share
    ``overlap`` tokens, or half a window where a cost cut it short."""
    if max_tokens <= 0:
        raise ValueError("max_tokens must be positive")
    if not 0 <= overlap < max_tokens:
        raise ValueError("overlap must be in [0, max_tokens)")
    if n == 0:
        return [(0, 0)]
    if costs is not None and len(costs) != n:
        raise ValueError(f"{len(costs)} costs for {n} tokens")
    windows = []
    start = 0
    while True:
        end = min(start + max_tokens, n)
        if costs is not None and max_cost is not None:
            total, stop = 0, start
            while stop < end and (stop == start or total + costs[stop] <= max_cost):
                total += costs[stop]
                stop += 1
            end = stop
        windows.append((start, end))
        if end == n:
            return windows
        shared = overlap if end - start == max_tokens else min(overlap, (end - start) // 2)
        start = end - shared


def chunk_tokens(doc: TokenizedText, max_tokens: int, overlap: int = 0, *,
                 costs: Sequence[int] | None = None, max_cost: int | None = None
                 ) -> list[TextChunk]:
    """Windows of at most ``max_tokens`` tokens; consecutive windows share ``overlap``.

    With ``costs`` (one per token, e.g. its subwords) a window also stays within
    ``max_cost`` (:func:`token_windows`). A text that fits gives one window. An
    empty text gives one empty window so callers need no special case.
    """
    ranges = token_windows(len(doc), max_tokens, overlap, costs, max_cost)
    if len(doc) == 0:
        return [TextChunk(0, doc.text, 0, len(doc.text), 0, 0, ())]
    return [window_chunk(doc, i, start, end) for i, (start, end) in enumerate(ranges)]


def window_chunk(doc: TokenizedText, index: int, start: int, end: int) -> TextChunk:
    """The window of tokens ``[start, end)`` of ``doc`` (``end > start``)."""
    cs, ce = doc.starts[start], doc.ends[end - 1]
    return TextChunk(index, doc.text[cs:ce], cs, ce, start, end,
                     tuple(doc.token(i) for i in range(start, end)))


def chunk_tokenized(doc: TokenizedText, chunk: TextChunk) -> TokenizedText:
    """The chunk as a text of its own, with window-local token offsets."""
    return TokenizedText(
        chunk.text,
        tuple(s - chunk.start_char for s in doc.starts[chunk.start_token:chunk.end_token]),
        tuple(e - chunk.start_char for e in doc.ends[chunk.start_token:chunk.end_token]),
    )


def merge_chunk_spans(doc: TokenizedText, chunks: Sequence[TextChunk],
                      spans_per_chunk: Sequence[Sequence[Span]],
                      policy: OverlapPolicy | str = OverlapPolicy.FLAT) -> list[Span]:
    """Document-level spans from window-local ones.

    Char offsets are shifted by the window's start; token offsets (when given)
    by its first token. Copies of one typed span keep the higher score.
    """
    if len(chunks) != len(spans_per_chunk):
        raise ValueError("one list of spans per chunk is required")
    best: dict[tuple[int, int, str], Span] = {}
    for chunk, spans in zip(chunks, spans_per_chunk, strict=True):
        for s in spans:
            start, end = s.start + chunk.start_char, s.end + chunk.start_char
            ts = te = None
            if s.token_start is not None and s.token_end is not None:
                ts, te = s.token_start + chunk.start_token, s.token_end + chunk.start_token
            moved = dataclasses.replace(s, start=start, end=end, text=doc.text[start:end],
                                        token_start=ts, token_end=te)
            old = best.get(moved.key)
            if old is None or (moved.score or 0.0) > (old.score or 0.0):
                best[moved.key] = moved
    return resolve_overlaps(best.values(), policy)


def document_windows(doc: TokenizedText, max_tokens: int, overlap: int = 0) -> list[TextChunk]:
    """The windows an engine reads for ``doc``: none when it has no tokens."""
    return chunk_tokens(doc, max_tokens, overlap) if len(doc) else []


def merge_windows(doc: TokenizedText, chunks: Sequence[TextChunk],
                  spans_per_chunk: Sequence[Sequence[Span]], policy: OverlapPolicy | str,
                  window: int) -> tuple[list[Span], list[Issue]]:
    """Document spans from per-window spans, and a ``windowed`` issue (a counted
    repair) when the document took more than one window."""
    spans = merge_chunk_spans(doc, chunks, spans_per_chunk, policy) if chunks else []
    issues = []
    if len(chunks) > 1:
        issues.append(Issue(WINDOWED, f"{len(doc)} tokens read in {len(chunks)} windows of "
                                      f"{window}", repair=True))
    return spans, issues
