from __future__ import annotations

import jsonschema
from hypothesis import given
from hypothesis import strategies as st

from zeroshot.core.grounding import candidate_spans
from zeroshot.core.schema import Schema
from zeroshot.core.text import TokenizedText


def test_ngrams_in_text_order_without_punctuation_edges():
    tok = TokenizedText.from_text("Ada met Bob , in Paris .")
    got = candidate_spans(tok, max_width=2)
    assert got == ["Ada", "Ada met", "met", "met Bob", "Bob", "in", "in Paris", "Paris"]


def test_width_chars_and_duplicates():
    tok = TokenizedText.from_text("New York and New York")
    got = candidate_spans(tok, max_width=3, max_chars=8)
    assert got.count("New York") == 1
    assert all(len(c) <= 8 for c in got)
    assert "New York and" not in got  # 12 characters


@given(st.lists(st.sampled_from(["Ada", "met", ",", "New", "York", "(", "1999", ".", "é"]),
                max_size=15), st.integers(1, 5))
def test_every_candidate_is_a_token_aligned_span(words, width):
    tok = TokenizedText.from_tokens(words) if words else TokenizedText.from_text("")
    for cand in candidate_spans(tok, max_width=width):
        start = tok.text.find(cand)
        assert start >= 0
        hit = tok.char_span_to_token(start, start + len(cand))
        assert hit is not None and not hit[2]  # exact token boundaries, no snapping
        assert hit[1] - hit[0] <= width


def test_grounded_json_schema_admits_only_candidates(small_schema: Schema):
    js = small_schema.json_schema(label_key="label", text_enum=["Ada", "Paris"])
    validator = jsonschema.Draft202012Validator(js)
    ok = {"entities": [{"text": "Ada", "label": "person name"}]}
    assert validator.is_valid(ok)
    assert not validator.is_valid({"entities": [{"text": "Bob", "label": "person name"}]})
    assert not validator.is_valid({"entities": [{"text": "Ada", "label": "person"}]})


def test_grounded_json_schema_without_candidates_allows_only_empty(small_schema: Schema):
    js = small_schema.json_schema(text_enum=[])
    validator = jsonschema.Draft202012Validator(js)
    assert validator.is_valid({"entities": []})
    assert not validator.is_valid({"entities": [{"text": "x", "label": "city"}]})
