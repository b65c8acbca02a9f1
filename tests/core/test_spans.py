"""Span and DocumentResult construction: the engines' fast paths against the checked ones."""

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeroshot.core.spans import AlignmentStatus, DocumentResult, Issue, Span
from zeroshot.core.text import TokenizedText


@given(st.integers(0, 50), st.integers(0, 20), st.text(max_size=5), st.text(max_size=8),
       st.one_of(st.none(), st.floats(0, 1)), st.integers(0, 9), st.integers(0, 5),
       st.one_of(st.none(), st.sampled_from(["gliner", "llm"])))
def test_unchecked_span_is_the_checked_span(start, width, label, text, score, ts, tw, engine):
    fast = Span.unchecked(start, start + width, label, text, score, ts, ts + tw, engine)
    slow = Span(start, start + width, label, text, score=score, token_start=ts,
                token_end=ts + tw, engine=engine)
    assert fast == slow and hash(fast) == hash(slow)
    assert fast.to_dict() == slow.to_dict()
    assert [getattr(fast, f.name) for f in dataclasses.fields(Span)] == \
        [getattr(slow, f.name) for f in dataclasses.fields(Span)]
    assert fast.alignment is AlignmentStatus.EXACT and fast.snapped is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.start = 1  # type: ignore[misc]


def test_user_built_spans_are_still_checked():
    with pytest.raises(ValueError, match="invalid span offsets"):
        Span(5, 3, "x")
    with pytest.raises(ValueError, match="together"):
        Span(0, 3, "x", token_start=0)
    with pytest.raises(ValueError, match="unaligned"):
        Span(0, 3, "x", alignment=AlignmentStatus.UNALIGNED)


def test_from_tokenized_keeps_tokens_offsets_and_checks_spans():
    doc = TokenizedText.from_tokens(["Ada", "met", "Charles", "."])
    span = Span(8, 15, "person", "Charles", score=0.9, token_start=2, token_end=3)
    issue = Issue("windowed", "2 windows", repair=True)
    r = DocumentResult.from_tokenized(doc, spans=(span,), id="d1", engine="gliner",
                                      issues=(issue,), usage={"requests": 1})
    assert r == DocumentResult(text="Ada met Charles .", spans=(span,), id="d1",
                               engine="gliner", issues=(issue,),
                               tokens=("Ada", "met", "Charles", "."), usage={"requests": 1},
                               token_offsets=((0, 3), (4, 7), (8, 15), (16, 17)))
    assert r.tokenized() == doc
    assert DocumentResult.from_dict(r.to_dict()) == r
    built = DocumentResult.from_tokenized(doc, spans=r.spans, id="d1", engine="gliner",
                                          issues=(issue,), usage={"requests": 1})
    assert built == r and built.token_offsets == r.token_offsets  # the view equals the pairs
    assert DocumentResult.from_dict(built.to_dict()) == built
    assert built.to_dict()["token_offsets"] == [[0, 3], [4, 7], [8, 15], [16, 17]]
    from_text = DocumentResult.from_tokenized(TokenizedText.from_text("Ada met Charles."))
    assert from_text.tokens == ("Ada", "met", "Charles", ".")
    with pytest.raises(ValueError, match="runs past the text"):
        DocumentResult.from_tokenized(doc, spans=(Span(8, 40, "person"),))
    with pytest.raises(TypeError):
        DocumentResult.from_tokenized(doc, tokens=("x",))  # type: ignore[call-arg]
