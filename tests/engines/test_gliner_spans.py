"""The engine's cheap overlap resolution keeps what the core's resolve_overlaps keeps."""

from hypothesis import given
from hypothesis import strategies as st

from zeroshot.core.overlap import resolve_overlaps
from zeroshot.core.schema import OverlapPolicy
from zeroshot.core.spans import Span
from zeroshot.engines.gliner_spans import resolve_indices

candidate = st.tuples(st.integers(0, 12), st.integers(1, 5), st.sampled_from("abc"),
                      st.sampled_from([0.1, 0.25, 0.5, 0.5, 0.75, 0.9, 1.0]))


@given(cands=st.lists(candidate, max_size=14, unique_by=lambda c: (c[0], c[1], c[2])),
       policy=st.sampled_from(list(OverlapPolicy)))
def test_resolve_indices_equals_resolve_overlaps(cands, policy):
    start = [s for s, _, _, _ in cands]
    end = [s + w for s, w, _, _ in cands]
    label = [lab for _, _, lab, _ in cands]
    score = [p for _, _, _, p in cands]  # ties on purpose: the tie-breaks must agree
    spans = [Span(s, e, lab, score=p) for s, e, lab, p in zip(start, end, label, score,
                                                               strict=True)]
    want = [s.key for s in resolve_overlaps(spans, policy)]
    got = [spans[i].key for i in resolve_indices(start, end, label, score, policy)]
    assert got == want


def test_crossing_and_nesting_by_hand():
    start, end, label, score = [0, 2, 0, 0], [3, 5, 5, 3], ["a", "b", "c", "b"], \
        [0.9, 0.8, 0.7, 0.6]
    assert resolve_indices(start, end, label, score, OverlapPolicy.FLAT) == [0]
    # (2,5) crosses (0,3); (0,5) holds (0,3); (0,3,b) shares (0,3,a)'s bounds
    assert resolve_indices(start, end, label, score, OverlapPolicy.NESTED) == [2, 0]
    assert resolve_indices(start, end, label, score, OverlapPolicy.MULTI_LABEL) == [2, 0, 3]


@given(cands=st.lists(candidate, min_size=2, max_size=2),
       policy=st.sampled_from(list(OverlapPolicy)))
def test_two_candidates_shortcut_equals_resolve_overlaps(cands, policy):
    """Two candidates are resolved without a sort; duplicates and score ties included."""
    start = [s for s, _, _, _ in cands]
    end = [s + w for s, w, _, _ in cands]
    label = [lab for _, _, lab, _ in cands]
    score = [p for _, _, _, p in cands]
    spans = [Span(s, e, lab, score=p) for s, e, lab, p in zip(start, end, label, score,
                                                               strict=True)]
    got = resolve_indices(start, end, label, score, policy)
    assert [spans[i].key for i in got] == [s.key for s in resolve_overlaps(spans, policy)]
    if len(set(zip(start, end, label, strict=True))) == 2:  # the general loop, on 3
        third = (100, 101, "z", 0.0)  # apart from both, ranked last
        more = [[*x, y] for x, y in zip((start, end, label, score), third, strict=True)]
        assert resolve_indices(*more, policy) == [*got, 2]
