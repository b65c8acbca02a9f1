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


def chunk_tokens(doc: TokenizedText, max_tokens: int, overlap: int = 0) -> list[TextChunk]:
    """Windows of at most ``max_tokens`` tokens; consecutive windows share ``overlap``.

    A text that fits gives one window. An empty text gives one empty window so
    callers need no special case.
    """
    if max_tokens <= 0:
        raise ValueError("max_tokens must be positive")
    if not 0 <= overlap < max_tokens:
        raise ValueError("overlap must be in [0, max_tokens)")
    n = len(doc)
    if n == 0:
        return [TextChunk(0, doc.text, 0, len(doc.text), 0, 0, ())]
    chunks = []
    step = max_tokens - overlap
    start = 0
    while True:
        end = min(start + max_tokens, n)
        cs, ce = doc.starts[start], doc.ends[end - 1]
        chunks.append(TextChunk(len(chunks), doc.text[cs:ce], cs, ce, start, end,
                                tuple(doc.token(i) for i in range(start, end))))
        if end == n:
            return chunks
        start += step


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
