"""Apply a schema's overlap policy to candidate spans (greedy, best score first)."""

from __future__ import annotations

from collections.abc import Iterable

from zeroshot.core.schema import OverlapPolicy
from zeroshot.core.spans import Span, sort_spans


def _compatible(a: Span, b: Span, policy: OverlapPolicy) -> bool:
    if a.key == b.key:
        return False  # the same typed span twice is never kept
    if not a.overlaps(b):
        return True
    if policy is OverlapPolicy.FLAT:
        return False
    same_bounds = a.start == b.start and a.end == b.end
    if same_bounds:
        return policy is OverlapPolicy.MULTI_LABEL
    return a.contains(b) or b.contains(a)  # nesting yes, crossing no


def resolve_overlaps(spans: Iterable[Span], policy: OverlapPolicy | str = OverlapPolicy.FLAT
                     ) -> list[Span]:
    """Keep the best-scoring spans that the policy allows together.

    ``flat``: no two spans overlap. ``nested``: spans may nest but not cross, and
    one span has one label. ``multi-label``: as nested, and the same span may
    carry several labels. Candidates are taken by score (missing score = 1),
    then longer first, then document order; the result is in document order.
    """
    policy = OverlapPolicy(policy)
    ranked = sorted(spans, key=lambda s: (-(s.score if s.score is not None else 1.0),
                                          -(s.end - s.start), s.start, s.label))
    kept: list[Span] = []
    for cand in ranked:
        if all(_compatible(cand, k, policy) for k in kept):
            kept.append(cand)
    return sort_spans(kept)
