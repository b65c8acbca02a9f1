"""The Python API on ad-hoc labels with both engines (the committed GLiNER model,
and the LLM engine on a tiny random model through outlines), and conversions."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import zeroshot
from zeroshot import Extractor, Schema
from zeroshot.convert import to_conll, to_spacy, to_tags
from zeroshot.core.spans import DocumentResult, Span

sys.path.insert(0, str(Path(__file__).parent / "engines" / "llm"))
from tiny_llm import build_tiny_llm, need

SENT = "Serena Williams beat Venus Williams at the 2002 Wimbledon Championships ."


@pytest.fixture(scope="module")
def gliner_extractor():
    need("gliner")
    return Extractor("gliner", threads=2)


def test_one_call_with_ad_hoc_labels(gliner_extractor):
    docs = gliner_extractor.extract(SENT, ["athlete", "sports event"], threshold=0.3)
    assert len(docs) == 1
    got = {(s.text, s.label) for s in docs[0].spans}
    assert ("Venus Williams", "athlete") in got
    for s in docs[0].spans:
        assert SENT[s.start:s.end] == s.text and s.token_start is not None
        assert 0.3 <= s.score <= 1


def test_many_texts_pretokenised_and_labels_with_descriptions(gliner_extractor):
    docs = gliner_extractor.extract(
        [SENT, SENT.split(), ""], {"athlete": "a sportsperson", "sports event": "a tournament"},
        threshold=0.3, ids=["a", "b", "c"])
    assert [d.id for d in docs] == ["a", "b", "c"]
    assert [s.key for s in docs[0].spans] == [s.key for s in docs[1].spans]
    assert docs[2].spans == ()


def test_module_level_extract_with_a_bundled_schema():
    need("gliner")
    (doc,) = zeroshot.extract([SENT.split()], "fewnerd_inter_test", threshold=0.3, threads=2)
    assert any(s.label == "person-athlete" for s in doc.spans)


def test_llm_engine_through_the_same_api(tmp_path):
    need("outlines")
    tiny = build_tiny_llm(tmp_path / "tiny")
    schema = Schema.from_labels(["person", "city"], max_entities=2, max_span_chars=12)
    with Extractor("llm", backend="outlines", model=tiny, mode="grounded",
                   max_tokens=128) as ex:
        docs = ex.extract(["Ada lives in Paris .", "Bob met Ada ."], schema)
    assert len(docs) == 2
    for d in docs:
        assert d.engine == "llm-grounded" and d.unaligned == ()
        assert all(d.text[s.start:s.end] == s.text for s in d.spans)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown engine 'crf'"):
        zeroshot.build_engine("crf")
    with pytest.raises(ValueError, match="unknown LLM backend"):
        zeroshot.build_engine("llm", backend="ollama")


DOC = DocumentResult(
    text="Ada Lovelace met Charles Babbage in London .",
    spans=(Span(0, 12, "person", "Ada Lovelace", token_start=0, token_end=2),
           Span(4, 12, "surname", "Lovelace", token_start=1, token_end=2),
           Span(36, 42, "city", "London", token_start=6, token_end=7)),
    id="d1", tokens=("Ada", "Lovelace", "met", "Charles", "Babbage", "in", "London", "."))


def test_tags_flatten_overlaps():
    assert to_tags(DOC) == [("Ada", "B-person"), ("Lovelace", "I-person"), ("met", "O"),
                            ("Charles", "O"), ("Babbage", "O"), ("in", "O"),
                            ("London", "B-city"), (".", "O")]
    assert to_conll([DOC], "io").splitlines()[:2] == ["Ada\tI-person", "Lovelace\tI-person"]


def test_dict_round_trip():
    assert DocumentResult.from_dict(DOC.to_dict()) == DOC


def test_spacy_doc_ents():
    need("spacy")
    from spacy.vocab import Vocab

    sdoc = to_spacy(DOC, Vocab())
    assert sdoc.text == DOC.text
    assert [(e.text, e.label_) for e in sdoc.ents] == [("Ada Lovelace", "person"),
                                                       ("London", "city")]


class _Nothing:
    """An engine that finds nothing: the API's own checks are under test."""

    name = "nothing"

    def extract(self, texts, schema, *, ids=None):
        return [DocumentResult(t if isinstance(t, str) else " ".join(t)) for t in texts]

    def identity(self):
        return {"engine": self.name}

    def close(self):
        pass


@pytest.mark.parametrize("texts, needle", [
    (None, "texts is None, not a text"),
    (b"bytes", "texts is bytes, not a text .*decode it first"),
    (7, "texts is int, not a text"),
    (["ok", None], r"texts\[1\] is None, not a text"),
    (["ok", 3], r"texts\[1\] is int"),
    (["ok", b"x"], r"texts\[1\] is bytes.*decode it first"),
    ([["Ada", 1]], r"texts\[0\]\[1\] is int, not a token string"),
])
def test_bad_texts_are_type_errors_naming_the_item(texts, needle):
    with pytest.raises(TypeError, match=needle):
        zeroshot.extract(texts, ["person"], engine=_Nothing())


@pytest.mark.parametrize("threshold", [2, -1, float("nan"), float("inf"), "0.5"])
def test_bad_thresholds_are_rejected_at_every_entry_point(threshold):
    with pytest.raises(zeroshot.SchemaError, match="threshold"):
        zeroshot.extract("Ada ran", ["person"], engine=_Nothing(), threshold=threshold)
    with pytest.raises(zeroshot.SchemaError, match="threshold"):
        Extractor(_Nothing(), ["person"]).extract("Ada ran", threshold=threshold)
    with pytest.raises(zeroshot.SchemaError, match="threshold"):
        Schema.from_labels(["person"], threshold=threshold)


def test_ids_must_match_the_texts():
    with pytest.raises(ValueError, match="1 ids for 2 texts"):
        Extractor(_Nothing(), ["person"]).extract(["a", "b"], ids=["x"])


def test_overlap_overrides_the_schema_for_one_call(gliner_extractor):
    text = "The University of California Berkeley campus opened ."
    flat, nested = (gliner_extractor.extract(text, ["university"], threshold=0.05,
                                             overlap=o)[0] for o in ("flat", "nested"))
    def spans(doc):
        return [(s.start, s.end) for s in doc.spans]

    assert not any(a != b and a[0] < b[1] and b[0] < a[1] for a in spans(flat)
                   for b in spans(flat))
    assert len(spans(nested)) > len(spans(flat))
    assert set(spans(flat)) <= set(spans(nested))


@pytest.mark.parametrize("overlap", ["crossing", "Flat", 3])
def test_bad_overlap_is_rejected_before_any_engine_work(overlap):
    with pytest.raises(zeroshot.SchemaError, match="is not one of 'flat', 'nested'"):
        zeroshot.extract("Ada ran", ["person"], engine=_Nothing(), overlap=overlap)
    with pytest.raises(zeroshot.SchemaError, match="is not one of 'flat', 'nested'"):
        Extractor(_Nothing(), ["person"]).extract("Ada ran", overlap=overlap)
    with pytest.raises(zeroshot.SchemaError, match=r"/options/overlap: .* is not one of"):
        Schema.from_labels(["person"], overlap=overlap)  # the schema file's own check


@pytest.mark.parametrize("texts, schema, error, needle", [
    ("Ada ran", [], zeroshot.SchemaError, "should be non-empty"),
    ("Ada ran", ["person", "person"], zeroshot.SchemaError, "duplicate entity type name"),
    ("Ada ran", "no-such-schema", zeroshot.SchemaError, "no bundled schema named"),
    (None, ["person"], TypeError, "texts is None, not a text"),
])
def test_bad_schema_or_texts_fail_before_the_model_loads(tmp_path, texts, schema, error,
                                                         needle):
    # a model path that does not exist: had the engine been built first, its load
    # would have failed with another error
    missing = tmp_path / "no-model"
    with pytest.raises(error, match=needle):
        zeroshot.extract(texts, schema, model=missing)
    if not isinstance(texts, str):
        return
    with pytest.raises(error, match=needle):
        Extractor("gliner", schema, model=missing)
