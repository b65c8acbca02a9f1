"""The hybrid engine: an encoder proposes spans, the LLM types them.

First over a fixed proposer and a scripted backend (what each piece must do with
given proposals and answers), then end to end with the real GLiNER model and the
tiny random LLM: every span is a proposed span, and sentences without a candidate
make no request.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from conftest import TEXTS, need
from test_llm_engine import Scripted, _json

from zeroshot.core.schema import Schema
from zeroshot.core.spans import AlignmentStatus, DocumentResult, Span
from zeroshot.core.text import TokenizedText
from zeroshot.engines.llm import Generation, HybridEngine, LLMEngine, PromptBuilder, Request
from zeroshot.engines.llm.hybrid import candidates_from_spans, proposal_schema


class Fixed:
    """A proposer that finds given strings (each occurrence, or only the k-th)."""

    name = "fixed"

    def __init__(self, proposals: dict[str, list[tuple[str, str, float]]]):
        self.proposals = proposals  # text -> [(string or "string#k", type, score)]
        self.schemas: list[Schema] = []

    def extract(self, texts: Sequence[TokenizedText], schema: Schema) -> list[DocumentResult]:
        self.schemas.append(schema)
        out = []
        for doc in texts:
            spans = []
            for want, label, score in self.proposals.get(doc.text, []):
                string, _, nth = want.partition("#")
                starts = [i for i in range(len(doc.text)) if doc.text.startswith(string, i)]
                for n, start in enumerate(starts, 1):
                    if not nth or int(nth) == n:
                        tok = doc.char_span_to_token(start, start + len(string))
                        spans.append(Span(start, start + len(string), label, string, score=score,
                                          token_start=tok[0], token_end=tok[1]))
            out.append(DocumentResult(doc.text, tuple(spans)))
        return out


def offered(request: Request) -> list[str]:
    return request.json_schema["properties"]["entities"]["items"]["properties"]["text"]["enum"]


def test_the_llm_types_candidates_and_only_candidates(tiny_schema: Schema):
    text = "Ada met Bob in Rome ."
    proposer = Fixed({text: [("Ada", "person", 0.9), ("Rome", "person", 0.3),
                             ("Rome", "city", 0.2), ("met", "city", 0.15)]})
    backend = Scripted(lambda r: _json(("Ada", "person name"), ("Rome", "city")))
    engine = HybridEngine(proposer, LLMEngine(backend), candidate_threshold=0.1, hints=False)
    [doc] = engine.extract([text], tiny_schema)
    assert [(s.text, s.label, s.start, s.token_start, s.score) for s in doc.spans] == [
        ("Ada", "person", 0, 0, 0.9), ("Rome", "city", 15, 4, 0.3)]
    assert all(s.alignment is AlignmentStatus.EXACT and s.engine == "llm-hybrid"
               for s in doc.spans)
    assert doc.usage["candidates"] == 3 and doc.usage["kept"] == 2
    assert doc.usage["retyped"] == 1  # Rome: the encoder said person, the LLM city
    (request,) = backend.requests
    assert offered(request) == ["Ada", "met", "Rome"]  # in text order, one per string
    items = request.json_schema["properties"]["entities"]
    assert items["maxItems"] == 3
    assert "Candidates:\n- Ada\n- met\n- Rome" in request.messages[-1]["content"]
    # the proposer ran at the candidate threshold, every label of a span kept
    assert proposer.schemas[0].options.threshold == 0.1
    assert proposer.schemas[0].options.overlap.value == "multi-label"


def test_a_repeated_string_maps_to_the_proposed_occurrence(tiny_schema: Schema):
    text = "Oslo is far ; Bob flew to Oslo and Oslo ."
    proposer = Fixed({text: [("Oslo#2", "city", 0.8)]})  # only the 2nd occurrence
    engine = HybridEngine(proposer, LLMEngine(Scripted(lambda r: _json(("Oslo", "city")))))
    [doc] = engine.extract([text], tiny_schema)
    assert [(s.start, s.end) for s in doc.spans] == [(26, 30)]  # not the first "Oslo"
    both = Fixed({text: [("Oslo#2", "city", 0.8), ("Oslo#3", "city", 0.7)]})
    [doc] = HybridEngine(both, LLMEngine(Scripted(lambda r: _json(("Oslo", "city"))))).extract(
        [text], tiny_schema)
    assert [(s.start, s.end) for s in doc.spans] == [(26, 30), (35, 39)]


def test_no_candidate_no_request(tiny_schema: Schema):
    backend = Scripted(lambda r: _json(("Ada", "person name")))
    engine = HybridEngine(Fixed({"Ada came .": [("Ada", "person", 0.5)]}), LLMEngine(backend))
    docs = engine.extract(["Nothing here .", "", "Ada came ."], tiny_schema)
    assert len(backend.requests) == 1
    assert [len(d.spans) for d in docs] == [0, 0, 1]
    assert docs[0].usage == {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0,
                             "candidates": 0, "kept": 0, "accepted": 0, "retyped": 0}


def test_confident_candidates_are_kept_unasked(tiny_schema: Schema):
    text = "Ada met Bob in Rome ."
    sure = "Bob went home ."
    proposer = Fixed({text: [("Ada", "person", 0.9), ("Rome", "person", 0.3),
                             ("Ada met", "city", 0.2)],
                      sure: [("Bob", "person", 0.95)]})
    # the LLM is asked about the uncertain band only, and keeps "Ada met" as a city:
    # it overlaps the accepted "Ada", which scores higher and stays
    backend = Scripted(lambda r: _json(("Rome", "city"), ("Ada met", "city")))
    engine = HybridEngine(proposer, LLMEngine(backend), candidate_threshold=0.1,
                          accept_threshold=0.5, hints=False)
    docs = engine.extract([text, sure], tiny_schema)
    assert [(s.text, s.label, s.score) for s in docs[0].spans] == [
        ("Ada", "person", 0.9), ("Rome", "city", 0.3)]
    assert [(s.text, s.label) for s in docs[1].spans] == [("Bob", "person")]
    (request,) = backend.requests  # the all-confident sentence asked nothing
    assert offered(request) == ["Ada met", "Rome"]
    assert docs[0].usage["accepted"] == 1 and docs[0].usage["retyped"] == 1
    assert docs[1].usage["requests"] == 0 and docs[1].usage["accepted"] == 1
    assert engine.identity()["accept_threshold"] == 0.5


def test_hints_errors_and_strings_that_were_not_offered(tiny_schema: Schema):
    texts = ["Ada came .", "Bob came ."]
    proposer = Fixed({t: [(t.split()[0], "person", 0.5)] for t in texts})

    def answer(r: Request) -> Generation:
        if "Bob" in r.messages[-1]["content"]:
            return Generation(error="server answered 500: oops")
        return _json(("Ada", "person name"), ("came", "city"))  # no grammar held it

    backend = Scripted(answer)
    engine = HybridEngine(proposer, LLMEngine(backend))  # hints are on by default (dev's choice)
    assert engine.hints
    docs = engine.extract(texts, tiny_schema)
    assert "- Ada (suggested: person name)" in backend.requests[0].messages[-1]["content"]
    assert [s.text for s in docs[0].spans] == ["Ada"]
    # "came" is not in the enum and 2 answers exceed maxItems 1: two violations
    assert docs[0].issue_counts() == {"schema_violation": 2, "not_a_candidate": 1}
    assert docs[1].spans == () and docs[1].issue_counts() == {"engine_error": 1}


def test_demonstrations_carry_their_candidates(tiny_schema: Schema):
    demo = tiny_schema.demonstrations[0].text  # "Ada met Bob in Rome."
    proposer = Fixed({demo: [("Ada", "person", 0.9), ("Rome", "person", 0.4),
                             ("met", "city", 0.2)],
                      "Bob came .": [("Bob", "person", 0.6)]})

    def demo_turns(**options):
        backend = Scripted(lambda r: _json())
        engine = HybridEngine(proposer, LLMEngine(backend, prompts=PromptBuilder(shots=1)),
                              **options)
        engine.extract(["Bob came ."], tiny_schema)
        messages = backend.requests[0].messages
        assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
        return messages[1]["content"], json.loads(messages[2]["content"])["entities"]

    # without hints: the proposer's candidates and the demonstration's entities it missed
    # (Bob), in text order; the answer types every entity and leaves "met" out (Rome retyped)
    user, answer = demo_turns(hints=False)
    assert user.endswith("Candidates:\n- Ada\n- met\n- Bob\n- Rome")
    assert answer == [{"text": "Ada", "label": "person name"},
                      {"text": "Bob", "label": "person name"},
                      {"text": "Rome", "label": "city"}]
    # hints (the default): GLiNER's types on what it proposed, none on the entity it missed
    user, _ = demo_turns()
    assert "- Ada (suggested: person name)\n- met (suggested: city)\n- Bob\n" in user
    # only what the proposer found: Bob is neither offered nor in the answer
    user, answer = demo_turns(demo_gold=False, hints=False)
    assert user.endswith("Candidates:\n- Ada\n- met\n- Rome")
    assert answer == [{"text": "Ada", "label": "person name"}, {"text": "Rome", "label": "city"}]


def test_candidates_are_capped_and_counted(tiny_schema: Schema):
    spans = [Span(i, i + 1, "city", "x", score=s) for i, s in enumerate([0.2, 0.9, 0.5])]
    cands, dropped = candidates_from_spans([*spans, Span(1, 2, "person", "x", score=0.3)], 2)
    assert [(c.start, c.label, c.score) for c in cands] == [(1, "city", 0.9), (2, "city", 0.5)]
    assert dropped == 1
    text = "a b c d e f ."
    proposer = Fixed({text: [(w, "city", 0.5) for w in "abcdef"]})
    [doc] = HybridEngine(proposer, LLMEngine(Scripted(lambda r: _json())),
                         max_candidates=4).extract([text], tiny_schema)
    assert doc.issue_counts() == {"candidates_dropped": 1} and doc.usage["candidates"] == 4


def test_proposal_schema_ignores_per_type_thresholds(tiny_schema: Schema):
    strict = Schema.from_dict({**tiny_schema.to_dict(), "entity_types": [
        {"name": "person", "threshold": 0.9}, {"name": "city"}]})
    loose = proposal_schema(strict, 0.05)
    assert loose.thresholds() == {"person": 0.05, "city": 0.05}


def test_bad_options(tiny_schema: Schema):
    llm = LLMEngine(Scripted(lambda r: _json()))
    with pytest.raises(ValueError, match="candidate_threshold"):
        HybridEngine(Fixed({}), llm, candidate_threshold=0)
    with pytest.raises(ValueError, match="max_candidates"):
        HybridEngine(Fixed({}), llm, max_candidates=0)
    with pytest.raises(ValueError, match="accept_threshold"):
        HybridEngine(Fixed({}), llm, candidate_threshold=0.3, accept_threshold=0.2)


# ---------------------------------------------------------------- real models
@pytest.fixture(scope="module")
def gliner():
    need("gliner")
    from zeroshot.engines.gliner import GlinerEngine

    return GlinerEngine(threads=2)


def assert_hybrid_grounded(docs, texts, proposals):
    assert len(docs) == len(texts)
    for doc, text, (cands, _) in zip(docs, texts, proposals, strict=True):
        proposed = {(c.start, c.end) for c in cands}
        for s in doc.spans:
            assert (s.start, s.end) in proposed and text[s.start:s.end] == s.text
        assert doc.unaligned == ()
        assert not {"invalid_json", "schema_violation", "not_a_candidate",
                    "engine_error"} & set(doc.issue_counts()), doc.issues


SENTENCES = ["Serena Williams beat Venus Williams at Wimbledon in London .",
             "the cat sat on a mat .", *TEXTS]


def test_outlines_hybrid_with_gliner(gliner, tiny_llm_dir, tiny_schema: Schema):
    need("outlines")
    from zeroshot.engines.llm import OutlinesBackend

    schema = tiny_schema.with_options(max_entities=8, max_span_chars=40)
    engine = HybridEngine(gliner, LLMEngine(OutlinesBackend(tiny_llm_dir), max_tokens=128),
                          candidate_threshold=0.2)
    proposals = engine.propose(SENTENCES, schema)
    assert proposals[0][0] and not proposals[1][0]  # names found; nothing in "the cat ..."
    docs = engine.extract(SENTENCES, schema)
    assert_hybrid_grounded(docs, SENTENCES, proposals)
    assert docs[1].usage["requests"] == 0 and docs[1].spans == ()
    assert sum(d.usage["requests"] for d in docs) == sum(1 for c, _ in proposals if c)
    assert any(d.spans for d in docs)  # the random model does pick candidates


@pytest.mark.vllm
def test_vllm_hybrid_with_gliner(gliner, vllm_offline, tiny_schema: Schema):
    schema = tiny_schema.with_options(max_entities=8, max_span_chars=40)
    engine = HybridEngine(gliner, LLMEngine(vllm_offline, prompts=PromptBuilder(shots=1),
                                            max_tokens=128), candidate_threshold=0.2)
    proposals = engine.propose(SENTENCES, schema)
    docs = engine.extract(SENTENCES, schema)
    assert_hybrid_grounded(docs, SENTENCES, proposals)
    assert docs[1].usage["requests"] == 0 and docs[1].spans == ()
    assert any(d.spans for d in docs)
