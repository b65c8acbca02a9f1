import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeroshot.core.align import Aligner, align, normalize
from zeroshot.core.spans import AlignmentStatus as S
from zeroshot.core.text import TokenizedText

TEXT = "Paris Hilton flew to Paris. Then PARIS again, and the U.S. team met New  York Giants."


def test_exact_then_successive_occurrences():
    out = align(TEXT, [("Paris", "loc"), ("Paris", "loc"), ("PARIS", "loc")])
    assert [(m.status, m.start) for m in out] == [(S.EXACT, 0), (S.EXACT, 21), (S.EXACT, 33)]
    assert all(TEXT[m.start:m.end] == m.text for m in out)


def test_normalized_stage_case_whitespace_punctuation_unicode():
    out = align(TEXT, [("paris hilton", "p"), ("new york giants", "o"), ("U.S .", "g"),
                       ("Ｐａｒｉｓ Hilton", "p")])
    assert [m.status for m in out] == [S.NORMALIZED] * 4
    assert [m.text for m in out] == ["Paris Hilton", "New  York Giants", "U.S.", "Paris Hilton"]


def test_fuzzy_stage_and_threshold():
    (m,) = align(TEXT, [("Paris Hiltn", "p")])
    assert m.status is S.FUZZY and m.text == "Paris Hilton" and m.similarity >= 85
    (u,) = align(TEXT, [("Paris Hiltn", "p")], fuzzy_threshold=99)
    assert u.status is S.UNALIGNED and u.start is None
    (off,) = align(TEXT, [("Paris Hiltn", "p")], enable_fuzzy=False)
    assert off.status is S.UNALIGNED


def test_strings_that_occur_nowhere_are_unaligned_not_guessed():
    out = align(TEXT, [("Berlin Wall", "loc"), ("", "x"), ("   ", "x")])
    assert all(m.status is S.UNALIGNED and m.start is None for m in out)
    assert out[0].generated == "Berlin Wall"


def test_all_occurrences_option():
    out = align(TEXT, [("Paris", "loc")], all_occurrences=True)
    assert [m.start for m in out] == [0, 21]


def test_token_boundary_occurrences_preferred_and_snapping_reported():
    text = "Gamesmanship at the Games"
    (m,) = align(text, [("Games", "e")])
    assert m.start == 20 and not m.snapped
    (p,) = align("The Commonwealth Games", [("ommonwealth Games", "e")])
    assert p.snapped and p.text == "Commonwealth Games" and (p.token_start, p.token_end) == (1, 3)
    (raw,) = align("The Commonwealth Games", [("ommonwealth Games", "e")], snap_to_tokens=False)
    assert not raw.snapped and raw.text == "ommonwealth Games"
    assert (raw.token_start, raw.token_end) == (1, 3)


def test_pretokenised_token_offsets():
    toks = TokenizedText.from_tokens(["Port", "of", "San", "Diego", "."])
    (m,) = Aligner(toks.text, toks).align([("San Diego", "loc")])
    assert (m.token_start, m.token_end) == (2, 4)


def test_tokens_from_another_text_rejected():
    with pytest.raises(ValueError, match="another text"):
        Aligner("abc", TokenizedText.from_text("abd"))


def test_normalize():
    assert normalize("  New\u00a0 York ( 1982 ) ’s ") == "new york(1982)'s"


@given(text=st.text(alphabet="ab .,AB'\u00e9\u0301xyz-", max_size=60),
       queries=st.lists(st.text(alphabet="ab .,AB'\u00e9xyz-", min_size=1, max_size=8), max_size=6),
       snap=st.booleans())
def test_offsets_always_match_reported_text(text, queries, snap):
    for m in align(text, [(q, "x") for q in queries], snap_to_tokens=snap):
        if m.status is S.UNALIGNED:
            assert m.start is None and m.end is None and m.text is None
        else:
            assert 0 <= m.start < m.end <= len(text)
            assert text[m.start:m.end] == m.text
            if m.status is S.EXACT and not m.snapped:
                assert m.text == m.generated.strip()


def test_bounded_on_long_texts():
    """A 1.4 M-character text: every stage answers, oversized strings skip fuzzy.

    Speed is measured by eval/bench_aligner.py (results in eval/results/), not here.
    """
    sentence = "The quick brown fox met Ada Lovelace near the river Thames in London. "
    long_text = sentence * 20_000
    out = Aligner(long_text).align([("Ada Lovelace", "p"), ("river thames", "l"),
                                    ("Ada Lovelac", "p"), ("zzzz qqqq", "x"), ("x" * 5000, "x")])
    assert [m.status for m in out] == [S.EXACT, S.NORMALIZED, S.EXACT, S.UNALIGNED, S.UNALIGNED]
    assert out[2].snapped and out[2].text == "Ada Lovelace"


def test_empty_text():
    (m,) = align("", [("x", "a")])
    assert m.status is S.UNALIGNED


def test_fuzzy_finds_near_copies_of_another_length():
    """A letter or two more or less: the partial match only locates the region."""
    text = "Trevor Immelman won the Masters ahead of Tiger Woods ."
    (m,) = align(text, [("Trev Immelman", "athlete")])
    assert m.status is S.FUZZY and m.text == "Trevor Immelman" and m.similarity >= 85
    (m,) = align(text, [("Tiger Woodss", "athlete")])
    assert m.status is S.FUZZY and m.text == "Tiger Woods"
    # a string with no near-copy stays unaligned rather than snapping to a neighbour
    (u,) = align(text, [("Ernie Els", "athlete")])
    assert u.status is S.UNALIGNED and u.start is None


def test_spans_never_split_a_character():
    """Half a flag, a letter without its accent, a leading combining mark: the
    mention is widened to whole grapheme clusters and says it was snapped."""
    import regex

    from zeroshot.core.text import TokenizedText

    text = "We love 🇺🇸 and Cafe\u0301 noir ."
    cases = [("🇺", "🇺🇸", "🇺🇸"), ("Cafe", "Cafe\u0301", "Cafe\u0301"),
             ("\u0301 noir", "Cafe\u0301 noir", "e\u0301 noir")]  # with / without token snap
    for generated, *expected in cases:
        for snap, want in zip((True, False), expected, strict=True):
            [m] = Aligner(text, snap_to_tokens=snap).align([(generated, "x")])
            assert m.text == want and m.snapped, (generated, snap, m)
    # user tokens that split a cluster are the user's choice; from_text never does
    bounds = {x.start() for x in regex.finditer(r"\X", text)} | {len(text)}
    tok = TokenizedText.from_text(text)
    assert set(tok.starts) | set(tok.ends) <= bounds
