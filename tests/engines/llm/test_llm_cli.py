"""The LLM options of the command line: the printed request schema is the one the
engine sends; extract and bench pass describe / max-tokens / window / prompts /
hybrid options through; a hybrid extraction runs end to end (tiny LLM, real
GLiNER, outlines)."""

from __future__ import annotations

import json

import pytest
from conftest import need
from test_llm_engine import Scripted, _json

from zeroshot.cli import _bench_llm_options, _engine_options, build_parser, main
from zeroshot.core.schema import Schema
from zeroshot.engines.llm import LLMEngine
from zeroshot.engines.llm.backends import with_layout


def _printed(capsys, *argv: str) -> dict:
    assert main(["schema", *argv, "--json-schema"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_schema_is_the_request_the_engine_sends(capsys, tmp_path):
    schema = Schema.load("fewnerd_inter_test")
    text = "Emma Thompson read at the Royal Albert Hall ."
    for mode in ("constrained", "grounded"):
        backend = Scripted(lambda r: _json())
        LLMEngine(backend, mode=mode).extract([text], schema)
        sent = with_layout(backend.requests[0].json_schema)
        assert _printed(capsys, "fewnerd_inter_test", "--mode", mode, "--text", text) == sent
    # no text: a full window, the schema's own bounds, label words
    printed = _printed(capsys, "fewnerd_inter_test")
    entities = printed["properties"]["entities"]
    assert entities["maxItems"] == schema.options.max_entities
    assert entities["items"]["properties"]["label"]["enum"] == schema.labels()
    assert printed["x-guidance"]["whitespace_flexible"] is False
    assert main(["schema", "fewnerd_inter_test", "--json-schema", "--mode", "grounded"]) == 2
    assert "give --text" in capsys.readouterr().err


def test_extract_passes_llm_and_hybrid_options():
    args = build_parser().parse_args([
        "extract", "in.txt", "-o", "out.jsonl", "--schema", "news", "--engine", "llm",
        "--mode", "hybrid", "--llm-model", "qwen2.5-coder-1.5b-instruct", "--no-describe",
        "--max-tokens", "64", "--window", "50", "--prompts-dir", "P", "--shots", "3",
        "--gliner-model", "G", "--threads", "2", "--candidate-threshold", "0.2", "--hints"])
    assert _engine_options(args) == {
        "model": "qwen2.5-coder-1.5b-instruct", "mode": "hybrid", "shots": 3,
        "describe": False, "max_tokens": 64, "window": 50, "prompts_dir": "P",
        "candidate_threshold": 0.2, "hints": True, "gliner_model": "G", "gliner_threads": 2}
    plain = build_parser().parse_args(["extract", "in.txt", "-o", "o", "--schema", "news",
                                       "--engine", "llm", "--model", "DIR"])
    assert _engine_options(plain) == {"model": "DIR"}


def test_bench_builds_llm_and_hybrid_rows():
    args = build_parser().parse_args([
        "bench", "--engines", "gliner,llm,hybrid", "--llm-model", "M", "--gliner-model", "G",
        "--candidate-threshold", "0.15", "--describe"])
    assert _bench_llm_options(args, "llm") == {
        "mode": "constrained", "shots": 3, "describe": True, "backend": "vllm", "model": "M"}
    assert _bench_llm_options(args, "hybrid") == {
        "mode": "hybrid", "shots": 3, "describe": True, "candidate_threshold": 0.15,
        "gliner_model": "G", "backend": "vllm", "model": "M"}


def test_extract_hybrid_end_to_end(tiny_llm_dir, tmp_path):
    need("outlines", "gliner")
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps({"name": "s", "entity_types": [
        {"name": "person", "label": "person"}, {"name": "city", "label": "city"}],
        "options": {"max_entities": 4, "max_span_chars": 40}}))
    inputs = tmp_path / "in.txt"
    inputs.write_text("Serena Williams flew to London .\nand then it rained .\n")
    out = tmp_path / "out.jsonl"
    assert main(["extract", str(inputs), "-o", str(out), "--schema", str(schema),
                 "--engine", "llm", "--backend", "outlines", "--llm-model", str(tiny_llm_dir),
                 "--mode", "hybrid", "--candidate-threshold", "0.05", "--max-tokens", "96",
                 "--threads", "2", "-q"]) == 0
    # the runner writes in its own (length-sorted) order: find the rows by text
    rows = {r["text"]: r for r in map(json.loads, out.read_text().splitlines())}
    first, second = rows["Serena Williams flew to London ."], rows["and then it rained ."]
    assert first["engine"] == "llm-hybrid" and first["usage"]["candidates"] > 0
    for s in first["spans"]:
        assert first["text"][s["start"]:s["end"]] == s["text"]
    assert second["usage"]["requests"] == 0 and second["spans"] == []


@pytest.mark.slow
def test_bench_hybrid_row(tiny_llm_dir, tmp_path):
    need("outlines", "gliner", "matplotlib")
    from zeroshot import data as bundled

    out = tmp_path / "bench"
    assert main(["bench", "--data", str(bundled.path(bundled.FEWNERD_SAMPLE)), "--limit", "3",
                 "--engines", "gliner,hybrid", "--llm-backend", "outlines", "--llm-model",
                 str(tiny_llm_dir), "--max-tokens", "48", "--llm-shots", "0",
                 "--candidate-threshold", "0.6", "--latency-samples", "0", "--threads", "2",
                 "--out", str(out), "-q"]) == 0
    result = json.loads((out / "results.json").read_text())
    names = [r["engine"] for r in result["engines"]]
    assert names == ["gliner", "hybrid"]
    hybrid = result["engines"][1]
    assert (hybrid["engine"], hybrid["options"]["mode"]) == ("hybrid", "hybrid")
    assert hybrid["sentences"] == 3 and hybrid["failures"]["unaligned"] == 0
    assert "| hybrid |" in (out / "report.md").read_text()
