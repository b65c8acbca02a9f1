"""Real backends on a tiny random model: vLLM offline, a vLLM server, outlines.

Random weights write noise, so these tests check what the grammar guarantees:
every constrained answer parses and satisfies the schema, grounded answers
align exactly, and failures (no server, timeouts, garbage without a grammar)
come back as counted issues, not exceptions. vLLM tests carry the ``vllm``
marker; CI runs them. The server client's failure handling is tested against a
fake OpenAI-compatible server (fake_openai.py) that fails on demand.
"""

from __future__ import annotations

import time

import pytest
from conftest import TEXTS, need
from fake_openai import FakeOpenAI

from zeroshot.core.schema import Schema
from zeroshot.core.spans import AlignmentStatus
from zeroshot.engines.llm import (
    BackendError,
    LLMEngine,
    OutlinesBackend,
    PromptBuilder,
    VLLMOfflineBackend,
    VLLMServerBackend,
)
from zeroshot.engines.llm.backends import Request
from zeroshot.engines.llm.server import ServerError, VLLMServer, free_port

GRAMMAR_FAILURES = {"invalid_json", "schema_violation", "malformed_entity", "unknown_label",
                    "truncated", "engine_error"}


def assert_constrained_ok(docs, texts):
    assert len(docs) == len(texts)
    for doc, text in zip(docs, texts, strict=True):
        assert doc.text == text
        bad = GRAMMAR_FAILURES & set(doc.issue_counts())
        assert not bad, (doc.text, doc.issues)
        for span in doc.spans:
            assert text[span.start:span.end] == span.text
            assert span.alignment is not AlignmentStatus.UNALIGNED
        assert doc.usage["completion_tokens"] > 0


def assert_grounded_exact(docs):
    assert any(doc.spans for doc in docs)  # the random model does write entities
    for doc in docs:
        assert doc.unaligned == () and "unaligned" not in doc.issue_counts()
        assert all(s.alignment is AlignmentStatus.EXACT and not s.snapped for s in doc.spans)


@pytest.fixture(scope="module")
def vllm_server(tiny_llm_dir):
    need("vllm")
    server = VLLMServer(tiny_llm_dir, max_model_len=1024, kv_cache_gib=1, enforce_eager=True)
    server.start(timeout=600)
    yield server
    server.stop()


@pytest.mark.vllm
def test_vllm_offline_writes_no_environment(vllm_offline):
    # built in conftest after reserve_vllm_cpus(0): the only write, and an explicit one;
    # the KV cache size went in as an engine argument (vLLM itself may set its own keys)
    before, after = vllm_offline.environ_before, vllm_offline.environ_after
    for key in ("VLLM_CPU_KVCACHE_SPACE", "VLLM_CPU_NUM_OF_RESERVED_CPU"):
        assert after.get(key) == before.get(key)
    assert after["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "0"
    assert vllm_offline.prefix_caching is True
    with pytest.raises(TypeError, match="reserve_vllm_cpus"):
        VLLMOfflineBackend(vllm_offline.model, reserved_cpus=0)


@pytest.mark.vllm
@pytest.mark.parametrize("shots", [0, 1])
def test_vllm_offline_constrained_is_schema_valid(vllm_offline, tiny_schema: Schema, shots):
    engine = LLMEngine(vllm_offline, prompts=PromptBuilder(shots=shots), max_tokens=256)
    assert_constrained_ok(engine.extract(TEXTS, tiny_schema), TEXTS)


@pytest.mark.vllm
def test_vllm_offline_grounded_aligns_exactly(vllm_offline, tiny_schema: Schema):
    docs = LLMEngine(vllm_offline, mode="grounded", max_tokens=256).extract(TEXTS, tiny_schema)
    assert_constrained_ok(docs, TEXTS)
    assert_grounded_exact(docs)


@pytest.mark.vllm
def test_vllm_offline_unconstrained_garbage_is_counted(vllm_offline, tiny_schema: Schema):
    docs = LLMEngine(vllm_offline, mode="unconstrained", max_tokens=48).extract(
        TEXTS, tiny_schema)
    assert len(docs) == len(TEXTS)
    # a random model writes no JSON: each record says so instead of raising
    assert all("invalid_json" in d.issue_counts() for d in docs)


@pytest.mark.vllm
def test_vllm_server_constrained_and_grounded(vllm_server, tiny_schema: Schema):
    backend = VLLMServerBackend(vllm_server.base_url, concurrency=4)
    assert backend.model == vllm_server.served_name
    docs = LLMEngine(backend, max_tokens=256).extract(TEXTS, tiny_schema)
    assert_constrained_ok(docs, TEXTS)
    grounded = LLMEngine(backend, mode="grounded", max_tokens=256).extract(TEXTS, tiny_schema)
    assert_constrained_ok(grounded, TEXTS)
    assert_grounded_exact(grounded)


@pytest.fixture
def fake_server():
    need("openai")
    with FakeOpenAI() as server:
        yield server


def test_vllm_server_timeout_is_a_record_error(fake_server, tiny_schema: Schema):
    """A server that hangs on purpose (deterministic, unlike a 1 ms timeout against a
    real server): each document comes back with its error, after its retries."""
    backend = VLLMServerBackend(fake_server.base_url, timeout=0.3, max_retries=1)
    t0 = time.monotonic()
    docs = LLMEngine(backend, max_tokens=256).extract(["HANG one", "HANG two"], tiny_schema)
    assert all(d.issue_counts() == {"engine_error": 1} for d in docs)
    assert "timed out after 0.3 s; gave up after 2 attempts" in docs[0].issues[0].message
    assert fake_server.count("HANG one") == 2  # the first try and one retry
    assert time.monotonic() - t0 < 5


def test_server_failures_fail_only_their_document(fake_server, tiny_schema: Schema):
    """500 / 429 / a dropped connection / a 200 that is not JSON / no choices: retried,
    then that document alone fails; a 400 is not retried; the others keep their spans."""
    texts = ["Ent1 met Ent2 .", "FAIL500 Ent3", "RATE429 Ent4", "CLOSE Ent5", "GARBAGE Ent6",
             "NOCHOICES Ent7", "BAD400 Ent8", "Ent9 again"]
    backend = VLLMServerBackend(fake_server.base_url, timeout=5, max_retries=2, concurrency=8)
    docs = LLMEngine(backend, max_tokens=64, batch_size=8).extract(texts, tiny_schema)
    assert [s.text for s in docs[0].spans] == ["Ent1", "Ent2"]
    assert [s.text for s in docs[7].spans] == ["Ent9"]
    for doc, word in zip(docs[1:7], ["FAIL500", "RATE429", "CLOSE", "GARBAGE", "NOCHOICES",
                                     "BAD400"], strict=True):
        assert doc.issue_counts() == {"engine_error": 1}, (word, doc.issues)
        assert doc.spans == ()
        tries = fake_server.count(word)
        assert tries == (1 if word == "BAD400" else 3), (word, tries)
    assert "server answered 500" in docs[1].issues[0].message
    assert "not a completion" in docs[4].issues[0].message
    assert "no choices" in docs[5].issues[0].message


def test_deadline_bounds_a_request(fake_server):
    backend = VLLMServerBackend(fake_server.base_url, timeout=30, max_retries=5, deadline=1.0)
    t0 = time.monotonic()
    [gen] = backend.generate([Request(({"role": "user", "content": "HANG"},), None, 16)])
    assert time.monotonic() - t0 < 3
    assert gen.error and "deadline" in gen.error


def test_model_list_check_honours_its_timeout(fake_server):
    fake_server.model_list_delay_s = 10
    t0 = time.monotonic()
    with pytest.raises(BackendError, match=r"did not list its models within 0\.5 s"):
        VLLMServerBackend(fake_server.base_url, check_timeout=0.5)
    assert time.monotonic() - t0 < 3  # one try at the stated timeout, no hidden retries


@pytest.mark.parametrize("owned_by, kind, layout", [("vllm", "auto", True),
                                                    ("llamacpp", "auto", False),
                                                    ("vllm", "openai", False)])
def test_guidance_layout_only_for_vllm(tiny_schema: Schema, owned_by, kind, layout):
    """vLLM gets its x-guidance layout; any other OpenAI-compatible server the
    standard response_format json_schema and nothing vLLM-only."""
    need("openai")
    with FakeOpenAI(owned_by=owned_by) as server:
        backend = VLLMServerBackend(server.base_url, server_kind=kind, api_key="sekret")
        assert backend.server_kind == ("vllm" if layout else "openai")
        [doc] = LLMEngine(backend, max_tokens=64).extract(["Ent1 ran ."], tiny_schema)
        assert [s.text for s in doc.spans] == ["Ent1"]
        [body] = server.requests
        fmt = body["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
        assert ("x-guidance" in fmt["json_schema"]["schema"]) is layout
        assert server.auth == ["Bearer sekret"]


@pytest.mark.vllm
def test_vllm_server_wrong_model_name(vllm_server):
    with pytest.raises(BackendError, match="not 'other'"):
        VLLMServerBackend(vllm_server.base_url, model="other")


def test_server_down_is_a_clear_error():
    need("openai")
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(BackendError, match="no LLM server answers at"):
        VLLMServerBackend(url, max_retries=0, timeout=2)


def test_server_that_cannot_start_says_why(tmp_path):
    need("vllm")
    bad = tmp_path / "not-a-model"
    bad.mkdir()
    with pytest.raises(ServerError, match="exited with code"):
        VLLMServer(bad, enforce_eager=True).start(timeout=300)


def test_missing_model_dir_is_a_clear_error(tmp_path):
    need("outlines")
    with pytest.raises(BackendError, match="not found"):
        OutlinesBackend(tmp_path / "nope")


def _word_requests(n: int, schema: dict, max_tokens: int = 40) -> list[Request]:
    return [Request(({"role": "user", "content": "word " * (3 * i + 1)},), schema, max_tokens)
            for i in range(n)]


def test_outlines_batches_give_the_answers_of_one_at_a_time(tiny_llm_dir):
    """Greedy, left-padded batches of one JSON Schema answer as single requests do, in
    request order; requests of other schemas or budgets are never batched together."""
    import json

    need("outlines")
    words = {"type": "object", "properties": {"w": {"type": "string", "maxLength": 8}},
             "required": ["w"]}
    ids = [{"type": "object", "properties": {"id": {"const": i}}, "required": ["id"]}
           for i in range(3)]
    reqs = (_word_requests(5, words)
            + [Request(({"role": "user", "content": f"id {i}"},), s, 16)
               for i, s in enumerate(ids)]
            + _word_requests(2, words, max_tokens=24))
    single = OutlinesBackend(tiny_llm_dir).generate(reqs)
    batched = OutlinesBackend(tiny_llm_dir, batch=3).generate(reqs)
    assert [g.text for g in batched] == [g.text for g in single]
    assert all(g.error is None for g in batched)
    # each const-id request got its own schema's answer: the order survived the grouping
    assert [json.loads(g.text)["id"] for g in batched[5:8]] == [0, 1, 2]


def test_outlines_batch_that_fails_is_retried_one_at_a_time(tiny_llm_dir, monkeypatch, caplog):
    need("outlines")
    words = {"type": "object", "properties": {"w": {"type": "string", "maxLength": 8}},
             "required": ["w"]}
    backend = OutlinesBackend(tiny_llm_dir, batch=4)
    gen = backend._generator(words)

    def fail(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(gen, "batch", fail)
    with caplog.at_level("WARNING"):
        out = backend.generate(_word_requests(3, words))
    assert len(out) == 3 and all(g.error is None and g.text.startswith("{") for g in out)
    assert "batch of 3 failed (out of memory)" in caplog.text


def test_outlines_device_and_batch_are_checked(tiny_llm_dir):
    need("outlines")
    import torch

    with pytest.raises(ValueError, match="batch must be a whole number"):
        OutlinesBackend(tiny_llm_dir, batch=0)
    with pytest.raises(BackendError, match="use 'cpu', 'cuda'"):
        OutlinesBackend(tiny_llm_dir, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(BackendError, match="no CUDA GPU"):
            OutlinesBackend(tiny_llm_dir, device="cuda")
        assert OutlinesBackend(tiny_llm_dir, device="auto").device == "cpu"


def test_outlines_constrained_and_grounded(tiny_llm_dir, tiny_schema: Schema):
    need("outlines")
    backend = OutlinesBackend(tiny_llm_dir)
    docs = LLMEngine(backend, max_tokens=256).extract(TEXTS, tiny_schema)
    assert_constrained_ok(docs, TEXTS)
    grounded = LLMEngine(backend, mode="grounded", max_tokens=256).extract(TEXTS, tiny_schema)
    assert_constrained_ok(grounded, TEXTS)
    assert_grounded_exact(grounded)
