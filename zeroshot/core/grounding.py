"""Grounded decoding: the spans of a text a model may write, as a closed choice.

An LLM under a free-string grammar can write words that occur nowhere in the
input. Grounded decoding replaces the ``text`` field's free string with an enum
of the input's token n-grams (up to ``max_width`` tokens), so every generated
string is a span of the text and aligns exactly by construction. The cost is
one grammar per request instead of one per schema.
"""

from __future__ import annotations

from zeroshot.core.text import TokenizedText


def _has_word_char(token: str) -> bool:
    return any(ch.isalnum() for ch in token)


def candidate_spans(tokens: TokenizedText, max_width: int = 8, *,
                    max_chars: int | None = None) -> list[str]:
    """Distinct surface strings of the text's token n-grams, in text order.

    An n-gram may not start or end on a token without a letter or digit (a lone
    comma, a bracket): no entity begins or ends there, and leaving them out keeps
    the enum small. ``max_chars`` drops longer strings (the schema's
    ``max_span_chars``).
    """
    if max_width < 1:
        raise ValueError("max_width must be at least 1")
    text = tokens.text
    wordy = [_has_word_char(t) for t in tokens.tokens]
    out: dict[str, None] = {}
    n = len(tokens)
    for i in range(n):
        if not wordy[i]:
            continue
        for j in range(i, min(n, i + max_width)):
            if not wordy[j]:
                continue
            surface = text[tokens.starts[i]:tokens.ends[j]]
            if max_chars is not None and len(surface) > max_chars:
                break
            out.setdefault(surface, None)
    return list(out)
