import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeroshot.core.chunking import chunk_tokens, merge_chunk_spans, token_windows
from zeroshot.core.overlap import resolve_overlaps
from zeroshot.core.spans import Span
from zeroshot.core.text import TokenizedText


def test_windows_cover_text_with_overlap():
    doc = TokenizedText.from_tokens([f"w{i}" for i in range(10)])
    chunks = chunk_tokens(doc, max_tokens=4, overlap=1)
    assert [(c.start_token, c.end_token) for c in chunks] == [(0, 4), (3, 7), (6, 10)]
    for c in chunks:
        assert doc.text[c.start_char:c.end_char] == c.text == " ".join(c.tokens)
    assert len(chunk_tokens(doc, 100)) == 1
    assert chunk_tokens(TokenizedText.from_text(""), 5)[0].text == ""
    with pytest.raises(ValueError):
        chunk_tokens(doc, 4, overlap=4)


@given(n=st.integers(1, 60), size=st.integers(1, 12), data=st.data())
def test_every_token_is_in_some_window(n, size, data):
    overlap = data.draw(st.integers(0, size - 1))
    doc = TokenizedText.from_tokens(["t"] * n)
    covered = set()
    for c in chunk_tokens(doc, size, overlap):
        assert c.end_token - c.start_token <= size
        covered.update(range(c.start_token, c.end_token))
    assert covered == set(range(n))


@given(costs=st.lists(st.integers(1, 9), min_size=1, max_size=80), size=st.integers(1, 12),
       budget=st.integers(1, 30), data=st.data())
def test_cost_windows_stay_within_budget_and_cover_every_token(costs, size, budget, data):
    overlap = data.draw(st.integers(0, size - 1))
    windows = token_windows(len(costs), size, overlap, costs, budget)
    covered = set()
    for (a, b), nxt in zip(windows, [*windows[1:], None], strict=True):
        assert 0 < b - a <= size
        assert sum(costs[a:b]) <= budget or b - a == 1  # one token over budget: alone
        if nxt is not None:
            assert a < nxt[0] <= b  # progress, and no gap
        covered.update(range(a, b))
    assert covered == set(range(len(costs)))
    assert windows[-1][1] == len(costs)


def test_cost_windows_without_costs_are_the_plain_windows():
    doc = TokenizedText.from_tokens([f"w{i}" for i in range(10)])
    plain = [(c.start_token, c.end_token) for c in chunk_tokens(doc, 4, 1)]
    assert token_windows(10, 4, 1) == plain == token_windows(10, 4, 1, [1] * 10, 100)
    # subword-heavy tokens: the budget, not the token count, cuts the windows
    assert token_windows(6, 5, 2, [3, 3, 3, 3, 3, 3], 9) == [(0, 3), (2, 5), (4, 6)]
    chunks = chunk_tokens(doc, 5, 2, costs=[5] * 10, max_cost=10)
    assert all(c.end_token - c.start_token <= 2 for c in chunks)


def test_span_at_window_border_found_once_with_document_offsets():
    words = ["a", "b", "c", "Ada", "Lovelace", "d", "e", "f"]
    doc = TokenizedText.from_tokens(words)
    chunks = chunk_tokens(doc, max_tokens=5, overlap=2)  # (0,5) and (3,8)
    per_chunk = []
    for c in chunks:
        local = TokenizedText.from_tokens(list(c.tokens))
        spans = []
        for i in range(len(local) - 1):
            if local.token(i) == "Ada" and local.token(i + 1) == "Lovelace":
                s, e = local.token_span_to_char(i, i + 2)
                spans.append(Span(s, e, "person", local.text[s:e], score=0.5 + c.index / 10,
                                  token_start=i, token_end=i + 2))
        per_chunk.append(spans)
    assert all(per_chunk)  # both windows saw it
    merged = merge_chunk_spans(doc, chunks, per_chunk)
    assert len(merged) == 1
    (m,) = merged
    assert m.text == "Ada Lovelace" == doc.text[m.start:m.end]
    assert (m.token_start, m.token_end) == (3, 5) and m.score == pytest.approx(0.6)


def _s(start, end, label, score):
    return Span(start, end, label, "x" * (end - start), score=score)


def test_overlap_policies():
    cands = [_s(0, 10, "org", 0.9), _s(0, 4, "loc", 0.8), _s(0, 10, "loc", 0.7),
             _s(8, 12, "per", 0.95), _s(20, 22, "per", 0.5)]
    flat = resolve_overlaps(cands, "flat")
    assert [s.key for s in flat] == [(0, 4, "loc"), (8, 12, "per"), (20, 22, "per")]
    nested = resolve_overlaps(cands, "nested")  # org (0,10) crosses per (8,12): dropped
    assert [s.key for s in nested] == [(0, 4, "loc"), (8, 12, "per"), (20, 22, "per")]
    no_cross = resolve_overlaps([_s(0, 10, "org", 0.9), _s(0, 4, "loc", 0.8),
                                 _s(0, 10, "loc", 0.7)], "nested")
    assert [s.key for s in no_cross] == [(0, 10, "org"), (0, 4, "loc")]
    multi = resolve_overlaps([_s(0, 10, "org", 0.9), _s(0, 4, "loc", 0.8),
                              _s(0, 10, "loc", 0.7), _s(0, 10, "loc", 0.6)], "multi-label")
    assert [s.key for s in multi] == [(0, 10, "loc"), (0, 10, "org"), (0, 4, "loc")]


def test_span_validation_and_round_trip():
    s = Span(3, 5, "x", "ab", score=0.5, token_start=1, token_end=2, engine="e")
    assert Span.from_dict(s.to_dict()) == s
    with pytest.raises(ValueError):
        Span(5, 3, "x")
    with pytest.raises(ValueError):
        Span(0, 1, "x", token_start=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.start = 1  # type: ignore[misc]
