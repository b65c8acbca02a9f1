"""Map strings a model generated back to character and token offsets.

Each generated string goes through, in order:

1. **exact**: a verbatim occurrence (occurrences on token boundaries first);
2. **normalized**: an occurrence after NFKC, case folding, quote/dash unification,
   whitespace collapsing and dropping spaces around punctuation ("U.S ." matches
   "U.S.", "new  york" matches "New York");
3. **fuzzy**: the most similar substring (rapidfuzz), accepted at or above
   ``fuzzy_threshold`` (0-100);
4. otherwise **unaligned**: kept with its generated string, never given offsets.

Repeated mentions: the k-th generated copy of a string maps to its k-th
occurrence, in text order; ``all_occurrences=True`` maps one string to every
occurrence instead. With ``snap_to_tokens`` (default) offsets are widened to
token boundaries and the mention says so (``snapped=True``), so token-level
scoring never sees half tokens; offsets are always widened to whole grapheme
clusters (``snapped=True`` too), so no span splits a character. Work per string
is bounded: long strings skip the fuzzy stage and fuzzy search looks at a
bounded number of characters.
"""

from __future__ import annotations

import dataclasses
import logging
import unicodedata
from collections.abc import Iterable

from rapidfuzz import fuzz

from zeroshot.core.spans import AlignmentStatus, Mention
from zeroshot.core.text import TokenizedText, snap_to_graphemes

logger = logging.getLogger(__name__)

# how far below the threshold a partial match may score and still locate a region
_LOCATE_MARGIN = 25.0

_TRANSLATE = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "\u00a0": " ",
})
_PUNCT = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def _normalize_with_map(text: str) -> tuple[str, list[int]]:
    """Normalised text and, for each of its characters, the source index."""
    out: list[str] = []
    src: list[int] = []
    pending_space = -1  # source index of a whitespace run not yet written
    for i, ch in enumerate(text):
        piece = unicodedata.normalize("NFKC", ch).translate(_TRANSLATE).casefold()
        for c in piece:
            if c.isspace():
                if pending_space < 0:
                    pending_space = i
                continue
            if pending_space >= 0:
                # keep one space between two non-punctuation characters only
                if out and out[-1] not in _PUNCT and c not in _PUNCT:
                    out.append(" ")
                    src.append(pending_space)
                pending_space = -1
            out.append(c)
            src.append(i)
    return "".join(out), src


def normalize(text: str) -> str:
    """The normalisation used by the ``normalized`` stage."""
    return _normalize_with_map(text)[0]


@dataclasses.dataclass(frozen=True)
class AlignerConfig:
    enable_normalized: bool = True
    enable_fuzzy: bool = True
    fuzzy_threshold: float = 85.0  # rapidfuzz similarity, 0..100
    snap_to_tokens: bool = True
    all_occurrences: bool = False
    max_fuzzy_query_chars: int = 300  # longer strings skip the fuzzy stage
    max_fuzzy_text_chars: int = 200_000  # fuzzy search looks at most this far into a text


class Aligner:
    """Aligns generated strings to one source text. Build once per document."""

    def __init__(self, text: str, tokens: TokenizedText | None = None,
                 config: AlignerConfig | None = None, **overrides: object):
        self.text = text
        self.tokens = tokens if tokens is not None else TokenizedText.from_text(text)
        if self.tokens.text != text:
            raise ValueError("tokens were made from another text")
        base = config or AlignerConfig()
        self.config = dataclasses.replace(base, **overrides) if overrides else base
        self._norm: tuple[str, list[int]] | None = None
        self._ascii = text.isascii()
        self._occurrences: dict[tuple[str, str], list[tuple[int, int]]] = {}

    # -- occurrence tables --------------------------------------------------------
    def _normalized(self) -> tuple[str, list[int]]:
        if self._norm is None:
            self._norm = _normalize_with_map(self.text)
        return self._norm

    def _on_boundaries(self, start: int, end: int) -> bool:
        hit = self.tokens.char_span_to_token(start, end)
        return hit is not None and not hit[2]

    def _find_all(self, stage: str, query: str) -> list[tuple[int, int]]:
        key = (stage, query)
        cached = self._occurrences.get(key)
        if cached is not None:
            return cached
        found: list[tuple[int, int]] = []
        if stage == "exact":
            pos = self.text.find(query)
            while pos >= 0:
                found.append((pos, pos + len(query)))
                pos = self.text.find(query, pos + 1)
        else:
            norm, src = self._normalized()
            q = normalize(query)
            if q:
                pos = norm.find(q)
                while pos >= 0:
                    found.append((src[pos], src[pos + len(q) - 1] + 1))
                    pos = norm.find(q, pos + 1)
        # occurrences on token boundaries first, then the rest; each group in text order
        found.sort(key=lambda se: (not self._on_boundaries(*se), se[0]))
        self._occurrences[key] = found
        return found

    def _fuzzy(self, query: str) -> tuple[int, int, float] | None:
        """The most similar stretch of the text, if similar enough.

        ``partial_ratio`` finds where the query best fits, using a window of the
        query's own length; that misses near-copies with a letter more or less
        ("Trev Immelman" for "Trevor Immelman"). So the hit only locates the
        region: token spans around it, of roughly the query's length, are scored
        with the full ``ratio`` and the best one is kept.
        """
        cfg = self.config
        if len(query) > cfg.max_fuzzy_query_chars or len(query.strip()) < 2:
            return None
        haystack = self.text[: cfg.max_fuzzy_text_chars]
        folded = query.casefold()
        hit = fuzz.partial_ratio_alignment(
            query, haystack, processor=lambda s: s.casefold(),
            score_cutoff=max(0.0, cfg.fuzzy_threshold - _LOCATE_MARGIN),
        )
        if hit is None:
            return None
        best: tuple[float, int, int] | None = None
        for start, end in self._fuzzy_candidates(hit.dest_start, hit.dest_end, len(query)):
            score = fuzz.ratio(folded, self.text[start:end].casefold())
            if best is None or score > best[0]:
                best = (score, start, end)
        if best is None or best[0] < cfg.fuzzy_threshold:
            return None
        return best[1], best[2], float(best[0])

    def _fuzzy_candidates(self, start: int, end: int, length: int
                          ) -> Iterable[tuple[int, int]]:
        """The located stretch (edges trimmed) and token spans near it."""
        while start < end and self.text[start].isspace():
            start += 1
        while end > start and self.text[end - 1].isspace():
            end -= 1
        if end > start:
            yield start, end
        slack = length // 2 + 1
        near = self.tokens.char_span_to_token(max(0, start - slack), end + slack)
        if near is None:
            return
        first, last, _ = near
        toks = self.tokens
        for i in range(first, last):
            for j in range(i + 1, last + 1):
                s, e = toks.starts[i], toks.ends[j - 1]
                if e - s > 2 * length:
                    break
                if 2 * (e - s) >= length:
                    yield s, e

    # -- public -------------------------------------------------------------------
    def _mention(self, generated: str, label: str, status: AlignmentStatus, start: int,
                 end: int, similarity: float | None, score: float | None) -> Mention:
        snapped = False
        if not self._ascii:  # never half a character (a flag, a letter and its accent)
            start, end, snapped = snap_to_graphemes(self.text, start, end)
        hit = self.tokens.char_span_to_token(start, end)
        token_start = token_end = None
        if hit is not None:
            token_start, token_end, off_boundary = hit
            if off_boundary and self.config.snap_to_tokens:
                start, end = self.tokens.token_span_to_char(token_start, token_end)
                snapped = True
        return Mention(
            generated=generated, label=label, status=status, start=start, end=end,
            text=self.text[start:end], token_start=token_start, token_end=token_end,
            snapped=snapped, similarity=similarity, score=score,
        )

    def align(self, items: Iterable[tuple[str, str] | tuple[str, str, float | None]]
              ) -> list[Mention]:
        """Align ``(generated_text, label[, score])`` items, in the order given.

        Returns one mention per item (or per occurrence with ``all_occurrences``);
        unaligned items come back with ``status=UNALIGNED`` and no offsets.
        """
        return [m for group in self.align_grouped(items) for m in group]

    def align_grouped(self, items: Iterable[tuple[str, str] | tuple[str, str, float | None]]
                      ) -> list[list[Mention]]:
        """Like :meth:`align`, with the mentions of each item kept together."""
        used: dict[tuple[str, str], int] = {}  # (stage, query) -> copies consumed
        out: list[list[Mention]] = []
        for item in items:
            generated, label = item[0], item[1]
            score = item[2] if len(item) > 2 else None  # type: ignore[misc]
            out.append(self._align_one(generated, label, score, used))
        return out

    def _align_one(self, generated: str, label: str, score: float | None,
                   used: dict[tuple[str, str], int]) -> list[Mention]:
        cfg = self.config
        query = generated.strip()
        if not query:
            return [Mention(generated, label, AlignmentStatus.UNALIGNED, score=score)]
        stages = [("exact", AlignmentStatus.EXACT)]
        if cfg.enable_normalized:
            stages.append(("normalized", AlignmentStatus.NORMALIZED))
        for stage, status in stages:
            occurrences = self._find_all(stage, query)
            if not occurrences:
                continue
            if cfg.all_occurrences:
                return [self._mention(generated, label, status, s, e, None, score)
                        for s, e in sorted(occurrences)]
            k = used.get((stage, query), 0)
            used[(stage, query)] = k + 1
            # the k-th copy takes the k-th occurrence (token-aligned ones first, each
            # group in text order); surplus copies fall back to the first occurrence,
            # where the validator reports them as duplicates
            s, e = occurrences[k] if k < len(occurrences) else occurrences[0]
            return [self._mention(generated, label, status, s, e, None, score)]
        if cfg.enable_fuzzy:
            hit = self._fuzzy(query)
            if hit is not None:
                s, e, sim = hit
                return [self._mention(generated, label, AlignmentStatus.FUZZY, s, e, sim, score)]
        return [Mention(generated, label, AlignmentStatus.UNALIGNED, score=score)]


def align(text: str, items: Iterable[tuple[str, str]], tokens: TokenizedText | None = None,
          **config: object) -> list[Mention]:
    """One-shot helper: ``align(text, [("Paris", "location")])``."""
    return Aligner(text, tokens, **config).align(items)

