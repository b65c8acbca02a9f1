import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeroshot.core.text import TokenizedText


def test_regex_tokenizer_keeps_offsets():
    text = "The U.S. team met Dr. O'Neil in 1982. Done!"
    t = TokenizedText.from_text(text)
    assert t.tokens == ["The", "U.S.", "team", "met", "Dr.", "O'Neil", "in", "1982", ".",
                        "Done", "!"]
    for i, tok in enumerate(t.tokens):
        assert text[t.starts[i]:t.ends[i]] == tok


def test_pre_tokenised_round_trip():
    t = TokenizedText.from_tokens(["New", "York", "City", "."])
    assert t.text == "New York City ."
    assert t.token_span_to_char(0, 3) == (0, 13)
    assert t.char_span_to_token(0, 8) == (0, 2, False)
    assert t.char_span_to_token(1, 8) == (0, 2, True)  # starts inside "New": snapped
    assert t.char_span_to_token(3, 4) is None  # only a space
    assert t.token_at(4) == 1 and t.token_at(3) is None


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Zs", "Cc")), min_size=1,
                        max_size=6), max_size=20))
def test_from_tokens_offsets_property(tokens):
    t = TokenizedText.from_tokens(tokens)
    assert t.tokens == tokens
    for i in range(len(tokens)):
        assert t.char_span_to_token(*t.token_span_to_char(i, i + 1)) == (i, i + 1, False)


@given(st.text(max_size=200))
def test_from_text_never_overlaps(text):
    t = TokenizedText.from_text(text)
    for s, e in zip(t.starts, t.ends, strict=True):
        assert text[s:e] and not text[s:e].isspace()


# --------------------------------------------------------------------------- graphemes
import regex  # noqa: E402

TRICKY = ["a", "é", "e\u0301", "\u0301", " ", "🇺", "🇸", "👍", "🏽", "\u200d", "👩", "क",
          "\u094d", "ष", "ि", "\ufe0f", ".", "-", "x", "1", "\n", "\r\n"]


def _bounds(text):
    return {m.start() for m in regex.finditer(r"\X", text)} | {len(text)}


@given(st.lists(st.sampled_from(TRICKY), max_size=40).map("".join))
def test_tokens_never_split_a_character(text):
    t = TokenizedText.from_text(text)
    bounds = _bounds(text)
    for s, e in zip(t.starts, t.ends, strict=True):
        assert s in bounds and e in bounds, (text, s, e)


def test_words_keep_their_marks_and_emoji_stay_whole():
    assert TokenizedText.from_text("Cafe\u0301s ouvert").tokens == ["Cafe\u0301s", "ouvert"]
    assert TokenizedText.from_text("हिन्दी भाषा").tokens == ["हिन्दी", "भाषा"]
    assert TokenizedText.from_text("🇺🇸 and 👩\u200d👩\u200d👧!").tokens == [
        "🇺🇸", "and", "👩\u200d👩\u200d👧", "!"]
    assert TokenizedText.from_text(" \u0301abc").tokens == ["abc"]  # the mark is the space's


# ------------------------------------------------------------------ from_tokens, fast
@given(st.lists(st.text(min_size=1, max_size=6), max_size=30),
       st.sampled_from([" ", "", "  ", "\t", "-|-"]))
def test_from_tokens_equals_the_checked_constructor(tokens, sep):
    """Offsets built by accumulation, unchecked, are what the validating constructor
    accepts; the kept tokens are exactly the text's slices."""
    t = TokenizedText.from_tokens(tokens, sep=sep)
    assert t.text == sep.join(tokens)
    checked = TokenizedText(t.text, t.starts, t.ends)  # runs __post_init__'s checks
    assert checked == t and hash(checked) == hash(t)
    assert all(type(x) is int for x in t.starts + t.ends)
    assert t.tokens == tokens == checked.tokens
    assert t.token_tuple() == tuple(tokens) == checked.token_tuple()
    assert [t.text[s:e] for s, e in zip(t.starts, t.ends, strict=True)] == tokens


def test_from_tokens_rejects_empty_tokens_and_takes_any_sequence():
    import pytest

    with pytest.raises(ValueError, match="token 2 is empty"):
        TokenizedText.from_tokens(["a", "b", "", "c"])
    with pytest.raises(ValueError, match="token 0 is empty"):
        TokenizedText.coerce([""])
    assert TokenizedText.coerce(("New", "York")) == TokenizedText.coerce(["New", "York"])
    empty = TokenizedText.from_tokens([])
    assert (empty.text, empty.starts, empty.ends, empty.tokens) == ("", (), (), [])
    t = TokenizedText.from_tokens(["a", "b"])
    t.tokens.append("c")  # a fresh list each time: the kept tokens do not change
    assert t.tokens == ["a", "b"]


def test_token_offsets_view_reads_and_compares_like_pairs():
    import pickle

    from zeroshot.core.text import TokenOffsets

    doc = TokenizedText.from_tokens(["New", "York", "City", "."])
    offsets = doc.offsets()
    pairs = ((0, 3), (4, 8), (9, 13), (14, 15))
    assert isinstance(offsets, TokenOffsets)
    assert len(offsets) == 4 and offsets[1] == (4, 8) and offsets[-1] == (14, 15)
    assert offsets[1:3] == ((4, 8), (9, 13)) and list(offsets) == list(pairs)
    assert offsets == pairs and pairs == offsets and offsets == [list(p) for p in pairs]
    assert offsets != pairs[:3] and offsets != ((0, 3), (4, 8), (9, 13), (14, 16))
    assert offsets != "abcd" and hash(offsets) == hash(pairs)
    assert pickle.loads(pickle.dumps(offsets)) == offsets
    with pytest.raises(ValueError, match="differ in length"):
        TokenOffsets((0, 1), (1,))
