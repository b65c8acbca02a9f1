import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeroshot.core.codecs import TagSpan, convert, decode, encode, is_valid
from zeroshot.core.errors import InvalidTagError

LABELS = ["PER", "LOC", "ORG"]


@st.composite
def flat_spans(draw, max_len=30, gap_min=0):
    n = draw(st.integers(0, max_len))
    spans, i = [], 0
    while i < n:
        if draw(st.booleans()):
            length = draw(st.integers(1, min(4, n - i)))
            spans.append(TagSpan(i, i + length, draw(st.sampled_from(LABELS))))
            i += length + gap_min
        else:
            i += 1
    return n, [s for s in spans if s.end <= n]


@pytest.mark.parametrize("scheme", ["bio", "bioes"])
@given(data=flat_spans())
def test_round_trip_bio_bioes(scheme, data):
    n, spans = data
    tags = encode(spans, n, scheme)
    result = decode(tags, scheme, "raise")
    assert result.spans == spans and result.repairs == []


@given(data=flat_spans(gap_min=1))
def test_round_trip_io_when_spans_are_separated(data):
    n, spans = data
    assert decode(encode(spans, n, "io"), "io").spans == spans


@given(data=flat_spans())
def test_convert_between_schemes(data):
    n, spans = data
    bio = encode(spans, n, "bio")
    bioes, _ = convert(bio, "bio", "bioes")
    assert bioes == encode(spans, n, "bioes")
    back, _ = convert(bioes, "bilou", "bio")
    assert back == bio


def test_bilou_letters():
    assert decode(["U-PER", "B-LOC", "L-LOC"], "bilou").spans == [
        TagSpan(0, 1, "PER"), TagSpan(1, 3, "LOC")]


def test_io_adjacent_spans_merge_documented_limit():
    assert decode(encode([(0, 1, "PER"), (1, 2, "PER")], 2, "io"), "io").spans == [
        TagSpan(0, 2, "PER")]


def test_fewnerd_bare_labels_in_io():
    assert decode(["person-actor", "person-actor", "O"], "io").spans == [
        TagSpan(0, 2, "person-actor")]


@pytest.mark.parametrize("tags, scheme, begin_spans, drop_spans, n_repairs", [
    (["O", "I-PER", "I-PER"], "bio", [(1, 3, "PER")], [], 1),
    (["B-PER", "I-LOC"], "bio", [(0, 1, "PER"), (1, 2, "LOC")], [(0, 1, "PER")], 1),
    (["E-PER", "O"], "bioes", [(0, 1, "PER")], [], 1),
    (["B-PER", "O"], "bioes", [(0, 1, "PER")], [], 1),
    (["B-PER", "I-PER"], "bioes", [(0, 2, "PER")], [], 1),
    (["B-PER", "B-LOC", "E-LOC"], "bioes", [(0, 1, "PER"), (1, 3, "LOC")], [(1, 3, "LOC")], 1),
])
def test_invalid_sequences_are_repaired_and_counted(tags, scheme, begin_spans, drop_spans,
                                                    n_repairs, caplog):
    with caplog.at_level(logging.WARNING):
        begin = decode(tags, scheme, "begin")
    assert [tuple(s) for s in begin.spans] == begin_spans
    assert begin.n_repairs == n_repairs
    assert "repaired" in caplog.text
    drop = decode(tags, scheme, "drop")
    assert [tuple(s) for s in drop.spans] == drop_spans
    assert drop.n_repairs >= 1
    with pytest.raises(InvalidTagError):
        decode(tags, scheme, "raise")
    assert not is_valid(tags, scheme)


def test_invalid_tag_errors_name_position():
    with pytest.raises(InvalidTagError, match=r"at token 1.*'X-PER'"):
        decode(["O", "X-PER"], "bio")
    with pytest.raises(InvalidTagError, match="S- is not part of the BIO scheme"):
        decode(["S-PER"], "bio")
    with pytest.raises(InvalidTagError, match="B- is not part of the IO scheme"):
        decode(["B-PER"], "io")
    with pytest.raises(InvalidTagError, match="no B-/I- prefix"):
        decode(["PER"], "bio")


def test_encode_rejects_overlap_and_out_of_range():
    with pytest.raises(ValueError, match="overlap at token 1"):
        encode([(0, 2, "A"), (1, 3, "B")], 3)
    with pytest.raises(ValueError, match="outside"):
        encode([(0, 5, "A")], 3)


@given(st.lists(st.sampled_from(["O", "B-PER", "I-PER", "I-LOC", "E-LOC", "S-PER", "B-LOC"]),
                max_size=25))
def test_repair_always_yields_valid_flat_spans(tags):
    for policy in ("begin", "drop"):
        result = decode(tags, "bioes", policy)
        prev = 0
        for s in result.spans:
            assert prev <= s.start < s.end <= len(tags)
            prev = s.end
        # whatever came out re-encodes to a valid sequence
        assert is_valid(encode(result.spans, len(tags), "bioes"), "bioes")
        if is_valid(tags, "bioes"):
            assert result.repairs == []
