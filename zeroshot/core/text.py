"""Tokenisation that keeps character offsets, and char <-> token maps.

Two ways in:

* :meth:`TokenizedText.from_text` splits raw text with a small regex tokenizer
  (words, numbers, single punctuation marks) and records each token's
  ``[start, end)`` in the text.
* :meth:`TokenizedText.from_tokens` takes pre-tokenised input (Few-NERD, CoNLL),
  joins the tokens with one space and records the same offsets, so token spans
  and character spans convert both ways without loss.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from collections.abc import Sequence

# Acronyms ("U.S.", "e.g."), common abbreviations ("Dr.", "Inc."), words with inner
# apostrophes, hyphens or dots ("O'Neil", "e-mail", "3.5", "x.com"), or any single
# non-space character. A sentence-final period is its own token.
_ABBREVIATIONS = r"(?:Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|vs|etc|Inc|Ltd|Co|Corp|No|Mt|Ft|Gen|Sen|Rep|Gov)\."
_TOKEN_RE = re.compile(
    rf"(?:[^\W\d_]\.){{2,}}|\b{_ABBREVIATIONS}(?=\s|$)|\w+(?:[-'’.]\w+)*|[^\w\s]",
    re.UNICODE,
)


@dataclasses.dataclass(frozen=True)
class TokenizedText:
    """A text with token boundaries.

    Attributes:
        text: the source text.
        starts: character start of each token.
        ends: character end (exclusive) of each token.
    """

    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.starts) != len(self.ends):
            raise ValueError("starts and ends differ in length")
        prev_end = 0
        for i, (s, e) in enumerate(zip(self.starts, self.ends, strict=True)):
            if not (prev_end <= s < e <= len(self.text)):
                raise ValueError(f"token {i} has invalid offsets [{s}, {e})")
            prev_end = e

    # -- construction -------------------------------------------------------------
    @classmethod
    def from_text(cls, text: str) -> TokenizedText:
        starts, ends = [], []
        for m in _TOKEN_RE.finditer(text):
            starts.append(m.start())
            ends.append(m.end())
        return cls(text, tuple(starts), tuple(ends))

    @classmethod
    def from_tokens(cls, tokens: Sequence[str], sep: str = " ") -> TokenizedText:
        """Join pre-tokenised input with ``sep``; empty tokens are rejected."""
        starts, ends, pos = [], [], 0
        for i, tok in enumerate(tokens):
            if not tok:
                raise ValueError(f"token {i} is empty")
            if i:
                pos += len(sep)
            starts.append(pos)
            pos += len(tok)
            ends.append(pos)
        return cls(sep.join(tokens), tuple(starts), tuple(ends))

    @classmethod
    def coerce(cls, value: TokenizedText | str | Sequence[str]) -> TokenizedText:
        """A text (tokenised here), a list of tokens (joined with spaces), or as is."""
        if isinstance(value, TokenizedText):
            return value
        if isinstance(value, str):
            return cls.from_text(value)
        return cls.from_tokens(list(value))

    # -- access -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.starts)

    @property
    def tokens(self) -> list[str]:
        return [self.text[s:e] for s, e in zip(self.starts, self.ends, strict=True)]

    def token(self, i: int) -> str:
        return self.text[self.starts[i] : self.ends[i]]

    def token_at(self, char: int) -> int | None:
        """Index of the token containing character ``char``, or None (space)."""
        i = bisect.bisect_right(self.starts, char) - 1
        if i >= 0 and char < self.ends[i]:
            return i
        return None

    def token_span_to_char(self, token_start: int, token_end: int) -> tuple[int, int]:
        """Character span of tokens ``[token_start, token_end)``."""
        if not (0 <= token_start < token_end <= len(self.starts)):
            raise ValueError(
                f"token span [{token_start}, {token_end}) outside 0..{len(self.starts)}"
            )
        return self.starts[token_start], self.ends[token_end - 1]

    def char_span_to_token(self, start: int, end: int) -> tuple[int, int, bool] | None:
        """Tokens covering characters ``[start, end)``.

        Returns ``(token_start, token_end, snapped)`` where ``snapped`` is True when
        ``[start, end)`` does not fall on token boundaries (the token span is then
        the smallest one that covers it), or None when no token overlaps it.
        """
        if end <= start:
            return None
        first = bisect.bisect_right(self.ends, start)  # first token ending after start
        last = bisect.bisect_left(self.starts, end)  # first token starting at/after end
        if first >= last:
            return None
        snapped = self.starts[first] != start or self.ends[last - 1] != end
        return first, last, snapped
