"""GLiNER candidates -> spans of a document, cheaply.

A one-window document's candidates are resolved here on plain numbers, with the
rule of :func:`zeroshot.core.overlap.resolve_overlaps` (the tests compare the two
on random candidates), so only kept spans become :class:`Span` objects. Documents
read in several windows go through the core's window merge instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from zeroshot.core.schema import OverlapPolicy


def resolve_indices(start: Sequence[int], end: Sequence[int], label: Sequence[str],
                    score: Sequence[float], policy: OverlapPolicy) -> list[int]:
    """Indices of the candidates ``resolve_overlaps`` keeps, in document order.

    Candidates are taken by score, then longer first, then by start, then label;
    one is kept when it is compatible with every span kept before it: ``flat``
    allows no overlap, ``nested`` nesting but no crossing and one label per
    span, ``multi-label`` also several labels on the same span.
    """
    n = len(start)
    if n <= 1:
        return list(range(n))
    if n == 2:
        return _resolve_two(start, end, label, score, policy)
    ranked = sorted(range(n), key=lambda i: _rank(start, end, label, score, i))
    kept: list[int] = []
    for i in ranked:
        s, e, lab = start[i], end[i], label[i]
        if all(_compatible(s, e, lab, start[j], end[j], label[j], policy) for j in kept):
            kept.append(i)
    kept.sort(key=lambda i: _place(start, end, label, i))
    return kept


def _rank(start: Sequence[int], end: Sequence[int], label: Sequence[str],
          score: Sequence[float], i: int) -> tuple:
    """Candidates are taken by score, then longer first, then by start, then label."""
    return (-score[i], start[i] - end[i], start[i], label[i])


def _place(start: Sequence[int], end: Sequence[int], label: Sequence[str], i: int) -> tuple:
    """Document order of kept spans."""
    return (start[i], -end[i], label[i])


def _compatible(s: int, e: int, lab: str, sj: int, ej: int, lj: str, policy: OverlapPolicy
                ) -> bool:
    """Whether span ``[s, e) lab`` may be kept beside a kept ``[sj, ej) lj``."""
    if s >= ej or sj >= e:
        return True  # apart
    if policy is OverlapPolicy.FLAT:
        return False
    if s == sj and e == ej:
        return policy is OverlapPolicy.MULTI_LABEL and lab != lj
    return (s <= sj and ej <= e) or (sj <= s and e <= ej)  # nested, not crossing


def _resolve_two(start: Sequence[int], end: Sequence[int], label: Sequence[str],
                 score: Sequence[float], policy: OverlapPolicy) -> list[int]:
    """:func:`resolve_indices` of two candidates, without sorting."""
    if not _compatible(start[1], end[1], label[1], start[0], end[0], label[0], policy):
        # one of them: the better ranked
        return [min((0, 1), key=lambda i: _rank(start, end, label, score, i))]
    return sorted((0, 1), key=lambda i: _place(start, end, label, i))
