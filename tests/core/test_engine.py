"""The Engine protocol and the one retry-one-at-a-time helper."""

from __future__ import annotations

import pytest

from zeroshot.core.engine import Engine, extract_arguments, run_or_split
from zeroshot.core.schema import Schema
from zeroshot.core.text import TokenizedText


def test_run_or_split_keeps_the_good_items_of_a_failing_batch():
    calls = []

    def run(items):
        calls.append(list(items))
        if "bad" in items:
            raise ValueError("boom")
        return [i.upper() for i in items]

    out = run_or_split(run, ["a", "bad", "c"], lambda item, exc: f"error:{item}:{exc}")
    assert out == ["A", "error:bad:boom", "C"]
    assert calls == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]


def test_run_or_split_passes_a_good_batch_through_once():
    calls = []
    out = run_or_split(lambda items: calls.append(1) or list(items), [1, 2, 3],
                       lambda item, exc: None)
    assert out == [1, 2, 3] and calls == [1]


class _Minimal:
    name = "minimal"

    def extract(self, texts, schema, *, ids=None):
        return []

    def identity(self):
        return {"engine": self.name}

    def close(self):
        pass


class _NoClose:
    name = "no-close"

    def extract(self, texts, schema, *, ids=None):
        return []

    def identity(self):
        return {}


def test_protocol_needs_extract_identity_and_close():
    assert isinstance(_Minimal(), Engine)
    assert not isinstance(_NoClose(), Engine)


@pytest.mark.parametrize("factory", ["gliner", "spacy", "llm"])
def test_every_engine_implements_the_protocol(factory):
    if factory == "gliner":
        pytest.importorskip("gliner")
        from zeroshot.engines.gliner import GlinerEngine as cls
    elif factory == "spacy":
        pytest.importorskip("spacy")
        from zeroshot.engines.spacy_ner import SpacyEngine as cls
    else:
        pytest.importorskip("jinja2")
        from zeroshot.engines.llm.engine import LLMEngine as cls
    for member in ("extract", "identity", "close"):
        assert callable(getattr(cls, member)), f"{cls.__name__} has no {member}()"
    import inspect

    assert "ids" in inspect.signature(cls.extract).parameters


@pytest.mark.parametrize("one", ["Ada met Bob.", b"Ada met Bob.", TokenizedText.coerce("Ada met")])
def test_extract_arguments_refuse_one_text_for_a_batch(one):
    """A lone str would be read as one text per character: a silent wrong answer."""
    with pytest.raises(TypeError, match="takes a list of texts, not one"):
        extract_arguments(one, "news", None)


def test_extract_arguments_check_ids_and_read_the_schema_as_coerce_does():
    with pytest.raises(ValueError, match="1 ids for 2 texts"):
        extract_arguments(["a", "b"], "news", ["x"])
    texts, schema = extract_arguments((t for t in ["Ada", "Bob"]), ["person"], ["1", "2"])
    assert texts == ["Ada", "Bob"] and list(schema.names) == ["person"]
    news = Schema.load("news")
    assert extract_arguments(["a"], news, None)[1] is news
    assert extract_arguments(["a"], "news", None)[1].names == news.names
