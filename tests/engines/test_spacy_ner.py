"""The fixed-label spaCy reference engine: the real en_core_web_sm pipeline from
PyPI, and small blank pipelines with an entity ruler for label maps and errors."""

from __future__ import annotations

import json
import logging
import os

import pytest

if not os.environ.get("CI"):
    pytest.importorskip("spacy")  # in CI a missing engine must fail, not skip

import spacy
from spacy.language import Language

from zeroshot.api import build_engine
from zeroshot.core.engine import ENGINE_ERROR
from zeroshot.core.errors import ZeroshotError
from zeroshot.core.schema import Schema
from zeroshot.engines.spacy_ner import SpacyEngine, SpacyModelError, load_spacy


@pytest.fixture(scope="module")
def engine() -> SpacyEngine:
    return SpacyEngine()


@pytest.fixture(scope="module")
def coarse() -> Schema:
    return Schema.load("fewnerd_coarse")


def test_real_pipeline_maps_ontonotes_to_coarse_types(engine, coarse):
    text = "Angela Merkel met Barack Obama in Berlin on Monday ."
    (doc,) = engine.extract([text], coarse)
    got = {(s.text, s.label) for s in doc.spans}
    assert {("Angela Merkel", "person"), ("Barack Obama", "person"),
            ("Berlin", "location")} <= got
    assert all(s.label in coarse.names for s in doc.spans)
    assert "Monday" not in {s.text for s in doc.spans}  # DATE has no Few-NERD type
    for s in doc.spans:
        assert text[s.start:s.end] == s.text and s.engine == "spacy" and s.score is None
    assert engine.identity()["model"].startswith("en_core_web_sm")


def test_spans_fall_on_our_tokens(engine, coarse):
    tokens = ["Prime", "Minister", "Tony", "Blair", "visited", "New", "York", "City", "."]
    (doc,) = engine.extract([tokens], coarse)
    assert doc.tokens == tuple(tokens)
    assert doc.spans
    for s in doc.spans:
        assert " ".join(tokens[s.token_start:s.token_end]) == s.text


def test_empty_and_whitespace_inputs(engine, coarse):
    docs = engine.extract(["", "   ", "Paris ."], coarse, ids=["a", "b", "c"])
    assert [d.id for d in docs] == ["a", "b", "c"]
    assert docs[0].spans == docs[1].spans == () and not docs[0].issues
    assert [(s.text, s.label) for s in docs[2].spans] == [("Paris", "location")]


def test_schema_it_cannot_serve(engine, caplog):
    with pytest.raises(ZeroshotError, match="none of which is a type of schema"):
        engine.extract(["Paris ."], Schema.load("fewnerd_inter_test"))
    partial = Schema.from_dict({"name": "partial", "entity_types": [
        {"name": "person"}, {"name": "disease", "description": "a disease"}]})
    with caplog.at_level(logging.WARNING, logger="zeroshot.engines.spacy_ner"):
        engine.extract(["Marie Curie ."], partial)
        engine.extract(["Marie Curie ."], partial)
    warned = [r.getMessage() for r in caplog.records if "cannot predict" in r.getMessage()]
    assert len(warned) == 1 and "disease" in warned[0]  # once per schema, naming the type


def _ruler_pipeline(patterns) -> Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns(patterns)
    return nlp


def test_custom_label_map_on_a_rule_pipeline():
    nlp = _ruler_pipeline([{"label": "ORG", "pattern": "Acme"},
                           {"label": "GPE", "pattern": "Oslo"}])
    schema = Schema.from_dict({"name": "firms", "entity_types": [{"name": "company"}]})
    engine = build_engine("spacy", model=nlp, label_map={"ORG": "company"})
    (doc,) = engine.extract(["Acme opened an office in Oslo ."], schema)
    assert [(s.text, s.label) for s in doc.spans] == [("Acme", "company")]


def test_one_failing_document_does_not_sink_the_batch(coarse):
    nlp = _ruler_pipeline([{"label": "PERSON", "pattern": "Ada"}])

    @Language.component("explode_on_boom")
    def explode(doc):
        if any(t.text == "BOOM" for t in doc):
            raise RuntimeError("bad document")
        return doc

    nlp.add_pipe("explode_on_boom")
    docs = SpacyEngine(nlp).extract(["Ada wrote .", "BOOM", "Ada again ."], coarse)
    assert [len(d.spans) for d in docs] == [1, 0, 1]
    assert docs[1].issue_counts() == {ENGINE_ERROR: 1} and "bad document" in \
        docs[1].issues[0].message
    assert not docs[0].issues and not docs[2].issues


def test_load_errors():
    with pytest.raises(SpacyModelError, match="no spaCy pipeline could be loaded"):
        load_spacy("no_such_pipeline_xyz")
    with pytest.raises(SpacyModelError, match="no 'ner' component"):
        load_spacy(_save(spacy.blank("en")))


def _save(nlp: Language) -> str:
    import tempfile

    path = tempfile.mkdtemp(prefix="blank-spacy-")
    nlp.to_disk(path)
    return path


def test_build_engine_and_cli_extract(tmp_path):
    from zeroshot.cli import main

    engine = build_engine("spacy")
    assert isinstance(engine, SpacyEngine)
    src = tmp_path / "in.txt"
    src.write_text("Barack Obama visited Paris .\n\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["extract", str(src), "-o", str(out), "--schema", "fewnerd_coarse",
                 "--engine", "spacy", "-q"]) == 0
    (row,) = [json.loads(x) for x in out.open()]
    assert {(s["text"], s["label"]) for s in row["spans"]} == {("Barack Obama", "person"),
                                                                 ("Paris", "location")}
