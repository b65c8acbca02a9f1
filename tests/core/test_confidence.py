"""Per-entity confidences from token log-probabilities (zeroshot.core.confidence)."""

from __future__ import annotations

import math

import pytest

from zeroshot.core.confidence import entity_confidences, entity_regions


def pieces(*tokens: tuple[str, float]) -> list[tuple[str, float]]:
    return list(tokens)


ANSWER = '{"entities": [{"text": "Ada", "label": "person"}, {"text": "Rome", "label": "city"}]}'


def test_regions_start_after_the_previous_entity():
    regions = entity_regions(ANSWER)
    assert len(regions) == 2
    (a0, b0), (a1, b1) = regions
    assert ANSWER[a0 - 1] == "[" and ANSWER[b0 - 1] == "}"
    assert a1 == b0 and ANSWER[b1 - 1] == "}"
    assert ANSWER[a1:b1].startswith(', {"text": "Rome"')


def test_braces_inside_strings_do_not_count():
    raw = '{"entities": [{"text": "a}]{b", "label": "x"}]}'
    assert entity_regions(raw) == [(14, len(raw) - 2)]


def test_no_list_no_regions():
    assert entity_regions('{"entities": ') is None
    assert entity_regions('{"entities": []}') == []


def test_confidence_is_the_product_over_the_entity_tokens():
    split = ANSWER.index(', {"text": "Rome"')
    toks = pieces(('{"entities": [', 0.0), (ANSWER[14:split - 10], math.log(0.5)),
                  (ANSWER[split - 10:split], math.log(0.8)), (ANSWER[split:-2], math.log(0.25)),
                  ("]}", math.log(0.9)), ("<|im_end|>", 0.0))
    first, second = entity_confidences(ANSWER, toks)
    assert first == pytest.approx(0.4)
    assert second == pytest.approx(0.25)


def test_a_token_on_a_boundary_counts_for_both_sides():
    raw = '{"entities": [{"text": "A", "label": "x"}, {"text": "B", "label": "x"}]}'
    cut = raw.index("}, {") + 1
    toks = pieces((raw[:cut - 3], 0.0), (raw[cut - 3:cut + 3], math.log(0.5)),
                  (raw[cut + 3:], 0.0))
    assert entity_confidences(raw, toks) == pytest.approx([0.5, 0.5])


def test_tokens_that_do_not_spell_the_answer_give_none():
    assert entity_confidences(ANSWER, pieces(("{", 0.0))) is None
    assert entity_confidences("not json", pieces(("not json", 0.0))) is None
