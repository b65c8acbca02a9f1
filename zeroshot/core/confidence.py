"""A model's confidence in each entity it wrote, from its tokens' log-probabilities.

An LLM answer ``{"entities": [{"text": ..., "label": ...}, ...]}`` is generated
token by token; where the backend returns each token's log-probability (vLLM:
after the grammar's mask, so tokens the grammar forces cost nothing), the
probability of one entity is the product over the tokens that wrote it: from the
end of the previous entity (or the opening ``[``), so the choice to write one
more entity instead of closing the list counts, to its closing ``}``. That is
the model's probability of that entity, text and label, given what came before.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from zeroshot.core.validate import json_brackets


def entity_regions(raw: str) -> list[tuple[int, int]] | None:
    """``[from, to)`` character regions of each complete entity object of an
    answer, in order: ``from`` is where the previous entity (or the ``[`` that opens
    the list) ended, ``to`` just after the entity's ``}``. None when ``raw`` is not
    an object holding a list of objects."""
    regions: list[tuple[int, int]] = []
    last_end: int | None = None
    start: int | None = None
    for i, ch, depth in json_brackets(raw):
        if ch == "[" and depth == 2:
            last_end = i + 1
        elif ch == "{" and depth == 3:
            start = i
        elif ch == "}" and depth == 2 and start is not None and last_end is not None:
            regions.append((last_end, i + 1))
            last_end, start = i + 1, None
        if depth < 0:
            return None
    return regions if last_end is not None else None


def entity_confidences(raw: str, token_logprobs: Sequence[tuple[str, float]]
                       ) -> list[float] | None:
    """The probability of each complete entity of ``raw``, in order (see the module
    docstring). Tokens after ``raw`` (a stop token) are ignored. None when the
    tokens do not spell ``raw`` (a token that split a multi-byte character) or
    ``raw`` holds no entity list."""
    if not "".join(t for t, _ in token_logprobs).startswith(raw):
        return None
    regions = entity_regions(raw)
    if regions is None:
        return None
    ends, pos = [], 0
    for t, _ in token_logprobs:
        pos += len(t)
        ends.append(pos)
    out = []
    for lo, hi in regions:
        total, start = 0.0, 0
        for (t, lp), end in zip(token_logprobs, ends, strict=True):
            start = end - len(t)
            if end > lo and start < hi:
                total += lp
        out.append(math.exp(total))
    return out
