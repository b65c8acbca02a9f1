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
    ranked = sorted(range(n), key=lambda i: (-score[i], start[i] - end[i], start[i], label[i]))
    flat, multi = policy is OverlapPolicy.FLAT, policy is OverlapPolicy.MULTI_LABEL
    kept: list[int] = []
    for i in ranked:
        s, e = start[i], end[i]
        for j in kept:
            sj, ej = start[j], end[j]
            if s >= ej or sj >= e:
                continue  # apart
            if flat:
                break
            if s == sj and e == ej:
                if not multi or label[i] == label[j]:
                    break
            elif not ((s <= sj and ej <= e) or (sj <= s and e <= ej)):
                break  # crossing
        else:
            kept.append(i)
    kept.sort(key=lambda i: (start[i], -end[i], label[i]))
    return kept
