"""The engine's pipeline (windows, validation, alignment, failures) over a
scripted backend that answers with given strings: what a model might write."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from zeroshot.core.schema import Schema
from zeroshot.engines.llm import Generation, LLMEngine, Request


class Scripted:
    name = "scripted"
    model = "scripted"

    def __init__(self, answer):
        self.answer = answer  # callable(Request) -> Generation
        self.requests: list[Request] = []

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        self.requests.extend(requests)
        return [self.answer(r) for r in requests]

    def close(self) -> None:
        pass


def _json(*ents: tuple[str, str]) -> Generation:
    return Generation(json.dumps({"entities": [{"text": t, "label": lab} for t, lab in ents]}),
                      prompt_tokens=10, completion_tokens=5, finish_reason="stop")


def test_spans_statuses_and_issues(tiny_schema: Schema):
    tiny_schema = tiny_schema.with_options(max_entities=10)
    backend = Scripted(lambda r: _json(("Ada Lovelace", "person name"), ("London", "city"),
                                       ("Atlantis", "city"), ("London", "city")))
    [doc] = LLMEngine(backend).extract(["Ada Lovelace was born in London."], tiny_schema)
    assert [(s.text, s.label, s.start, s.token_start, s.token_end) for s in doc.spans] == [
        ("Ada Lovelace", "person", 0, 0, 2), ("London", "city", 25, 5, 6)]
    assert [m.generated for m in doc.unaligned] == ["Atlantis"]
    assert doc.issue_counts() == {"unaligned": 1, "duplicate": 1}
    assert doc.usage == {"requests": 1, "prompt_tokens": 10, "completion_tokens": 5}
    req = backend.requests[0]
    # 6 tokens: at most 4 entities (a power of two >= half the tokens), labels as words
    assert req.json_schema == tiny_schema.json_schema(label_key="label", max_items=4)


def test_grounded_mode_sends_the_texts_ngrams(tiny_schema: Schema):
    backend = Scripted(lambda r: _json())
    LLMEngine(backend, mode="grounded", grounded_max_width=2).extract(["Ada met Bob ."],
                                                                      tiny_schema)
    enum = backend.requests[0].json_schema["properties"]["entities"]["items"][
        "properties"]["text"]["enum"]
    assert enum == ["Ada", "Ada met", "met", "met Bob", "Bob"]


def test_unconstrained_output_is_parsed_leniently_or_counted(tiny_schema: Schema):
    answers = iter([
        Generation('Sure! ```json\n{"entities": [{"text": "Oslo", "label": "city"}]}\n```'),
        Generation("I cannot find any entities."),
        Generation('{"entities": [{"text": "Bob", "label": "animal"}]}'),
    ])
    backend = Scripted(lambda r: next(answers))
    docs = LLMEngine(backend, mode="unconstrained").extract(
        ["Bob lives in Oslo.", "Nothing.", "Bob."], tiny_schema)
    assert backend.requests[0].json_schema is None
    assert [s.text for s in docs[0].spans] == ["Oslo"]
    assert docs[0].issue_counts() == {"json_recovered": 1}
    assert docs[1].spans == () and docs[1].issue_counts() == {"invalid_json": 1}
    assert docs[2].issue_counts() == {"schema_violation": 1, "unknown_label": 1}


def test_backend_errors_and_truncation_stay_on_their_record(tiny_schema: Schema):
    def answer(r: Request) -> Generation:
        text = r.messages[-1]["content"]
        if "boom" in text:
            return Generation(error="server answered 500: oops")
        if "long" in text:
            return Generation('{"entities": [{"text": "Ad', finish_reason="length")
        if "cut" in text:
            return Generation('{"entities": [{"text": "Ada", "label": "person name"}, {"te',
                              finish_reason="length")
        return _json(("Ada", "person name"))

    docs = LLMEngine(Scripted(answer)).extract(["boom", "a long one", "Ada", "Ada was cut"],
                                               tiny_schema)
    assert docs[0].issue_counts() == {"engine_error": 1}
    assert docs[1].issue_counts() == {"truncated": 1, "invalid_json": 1}
    assert [s.text for s in docs[2].spans] == ["Ada"]
    assert [s.text for s in docs[3].spans] == ["Ada"]  # complete entities survive a cut
    assert docs[3].issue_counts() == {"truncated": 1} and docs[3].issues[0].repair


def test_a_backend_that_raises_loses_no_other_batch(tiny_schema: Schema):
    calls = {"n": 0}

    class Flaky(Scripted):
        def generate(self, requests):
            calls["n"] += 1
            if calls["n"] == 2:
                raise ConnectionError("server went away")
            return super().generate(requests)

    docs = LLMEngine(Flaky(lambda r: _json(("Ada", "person name"))), batch_size=1).extract(
        ["Ada", "Ada", "Ada"], tiny_schema)
    assert [len(d.spans) for d in docs] == [1, 0, 1]
    assert "server went away" in docs[1].issues[0].message


def test_long_text_is_windowed_and_merged(tiny_schema: Schema):
    words = ["w"] * 30 + ["Oslo"] + ["w"] * 30
    backend = Scripted(lambda r: _json(("Oslo", "city"))
                       if "Oslo" in r.messages[-1]["content"] else _json())
    [doc] = LLMEngine(backend, window=20, window_overlap=5).extract([words], tiny_schema)
    assert len(backend.requests) > 1
    assert [(s.text, s.start, s.token_start) for s in doc.spans] == [("Oslo", 60, 30)]
    assert doc.issue_counts() == {"windowed": 1}


def test_empty_texts_make_no_requests(tiny_schema: Schema):
    backend = Scripted(lambda r: _json())
    docs = LLMEngine(backend).extract(["", "   "], tiny_schema)
    assert backend.requests == [] and all(d.spans == () for d in docs)


def test_bad_mode():
    with pytest.raises(ValueError, match="mode must be one of"):
        LLMEngine(Scripted(lambda r: _json()), mode="free")
