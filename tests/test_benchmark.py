"""The head-to-head runner on a tiny dataset with real engines (the committed
GLiNER model; the LLM engine on a tiny random model through outlines), resume
after an interruption, and the report agreeing with results.json."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from zeroshot.benchmark import EngineSpec, run_benchmark
from zeroshot.cli import main
from zeroshot.core.schema import Schema
from zeroshot.data import FEWNERD_SAMPLE, path
from zeroshot.report import pct, render_markdown, summary_rows, write_report

sys.path.insert(0, str(Path(__file__).parent / "engines" / "llm"))
from tiny_llm import build_tiny_llm, need


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    need("gliner", "outlines", "matplotlib")
    tmp = tmp_path_factory.mktemp("bench")
    tiny = build_tiny_llm(tmp / "tiny")
    schema = Schema.load("fewnerd_inter_test").with_options(threshold=0.3, max_entities=3,
                                                            max_span_chars=24)
    specs = [EngineSpec("gliner", "gliner", {"threads": 2}),
             EngineSpec("llm", "llm", {"backend": "outlines", "model": str(tiny),
                                       "mode": "grounded", "max_tokens": 160}, limit=4)]
    return tmp, schema, specs


def test_runner_report_and_resume(setup):
    tmp, schema, specs = setup
    out = tmp / "run"
    result, _ = run_benchmark(path(FEWNERD_SAMPLE), schema, specs, out, limit=12, seed=3,
                           latency_samples=2, progress=False, command="test")
    gliner, llm = result["engines"]
    assert (gliner["sentences"], llm["sentences"]) == (12, 4)
    llm_ids = [json.loads(x)["id"] for x in (out / "predictions_llm.jsonl").open()]
    gliner_ids = {json.loads(x)["id"] for x in (out / "predictions_gliner.jsonl").open()}
    assert set(llm_ids) <= gliner_ids  # the LLM read a subset of the same sample
    assert gliner["metrics"]["strict"]["micro"]["f1"] > 0  # a real model finds entities
    assert llm["failures"]["unaligned"] == 0  # grounded decoding
    assert gliner["speed"]["sentences_per_s"] > 0 and llm["speed"]["peak_rss_mib"] > 0

    # interruption: the GLiNER file loses its tail and ends in a torn line
    preds = out / "predictions_gliner.jsonl"
    lines = preds.read_text().splitlines(keepends=True)
    preds.write_text("".join(lines[:5]) + lines[5][:20])
    again, cards = run_benchmark(path(FEWNERD_SAMPLE), schema, specs, out, limit=12, seed=3,
                          latency_samples=0, progress=False, command="test")
    assert again["engines"][0]["metrics"] == gliner["metrics"]
    assert again["engines"][1]["speed"]["resumed"] is True
    ids = [json.loads(x)["id"] for x in preds.open()]
    assert len(ids) == len(set(ids)) == 12

    assert set(cards) == {"gliner", "llm"} and "Evidence card: llm" in cards["llm"]
    files = write_report(again, out, {"gliner": "card g", "llm": "card l"})
    md = (out / "report.md").read_text()
    for row in summary_rows(again):
        assert "| " + " | ".join(row) + " |" in md
    for e in again["engines"]:
        s = e["metrics"]["strict"]["micro"]
        assert f"{pct(s['precision'])} / {pct(s['recall'])} / {pct(s['f1'])}" in md
    assert "not measured here" in md and "67.13" in md
    assert again["shared"]["sentences"] == 4 and "On the 4 sentences every engine read" in md
    shared = again["shared"]["engines"]["llm"]["strict"]
    assert f"{pct(shared['precision'])} / {pct(shared['recall'])} / {pct(shared['f1'])}" in md
    assert all(p.exists() and p.stat().st_size > 0 for p in files)
    assert (out / "per_type_f1.png").read_bytes()[:4] == b"\x89PNG"
    assert "data:image/png;base64," in (out / "report.html").read_text()
    assert render_markdown(json.loads((out / "results.json").read_text()),
                           ["per_type_f1.png"]).startswith("# Few-NERD head-to-head")


def test_bench_cli_quick_gliner_only(tmp_path, capsys):
    need("gliner", "matplotlib")
    code = main(["bench", "--data", str(path(FEWNERD_SAMPLE)), "--engines",
                 "gliner,gliner-fewnerd", "--limit", "6", "--latency-samples", "1",
                 "--out", str(tmp_path), "-q"])
    assert code == 0
    result = json.loads((tmp_path / "results.json").read_text())
    assert result["command"].startswith("zeroshot bench --data")
    assert result["sentences"] == 6 and (tmp_path / "card_gliner.md").exists()
    printed = capsys.readouterr().out
    assert "| gliner | 6 |" in printed and "| gliner-fewnerd | 6 |" in printed
    # both GLiNER rows say which model they ran, the reference what it is
    assert "model `gliner-mpnet-general`" in printed
    assert "model `gliner-minilm-fewnerd`" in printed and "strictly unseen" in printed
    (tmp_path / "report.md").unlink()
    assert main(["bench", "--report-only", "--out", str(tmp_path)]) == 0
    assert "| gliner | 6 |" in (tmp_path / "report.md").read_text()

    # predictions made under another threshold are not reused
    config = json.loads((tmp_path / "predictions_gliner.config.json").read_text())
    hashes = [v for k, v in config["identity"].items() if k.endswith(".safetensors")]
    assert hashes and all(len(h) == 64 for h in hashes)  # the weights' SHA-256

    def n_spans() -> int:
        rows = [json.loads(x) for x in (tmp_path / "predictions_gliner.jsonl").open()]
        assert len(rows) == 6
        return sum(len(r["spans"]) for r in rows)

    before = n_spans()
    assert main(["bench", "--data", str(path(FEWNERD_SAMPLE)), "--engines", "gliner",
                 "--limit", "6", "--latency-samples", "1", "--threshold", "0.05",
                 "--out", str(tmp_path), "-q"]) == 0
    again = json.loads((tmp_path / "results.json").read_text())["engines"][0]
    assert "resumed" not in again["speed"]  # measured afresh, not read back
    assert n_spans() > before


def test_bench_cli_hybrid_row(setup, tmp_path, capsys):
    """The default engines include the hybrid row; here GLiNER proposes and the tiny LLM
    (outlines) types, on the LLM's share of the sample: every span is a GLiNER candidate."""
    tmp, _, _ = setup
    code = main(["bench", "--data", str(path(FEWNERD_SAMPLE)), "--engines", "gliner,hybrid",
                 "--limit", "6", "--llm-limit", "3", "--latency-samples", "0",
                 "--llm-backend", "outlines", "--llm-model", str(tmp / "tiny"),
                 "--max-tokens", "96", "--out", str(tmp_path), "-q"])
    assert code == 0
    engines = {e["engine"]: e for e in json.loads((tmp_path / "results.json").read_text())
               ["engines"]}
    assert engines["hybrid"]["sentences"] == 3 and engines["gliner"]["sentences"] == 6
    assert "| hybrid | 3 |" in capsys.readouterr().out
    rows = [json.loads(x) for x in (tmp_path / "predictions_hybrid.jsonl").open()]
    assert len(rows) == 3
    for row in rows:
        assert all(s["engine"] == "llm-hybrid" for s in row["spans"])
        assert "engine_error" not in {i["kind"] for i in row.get("issues", [])}


def test_bench_spacy_reference_at_coarse_level(tmp_path):
    need("gliner", "spacy", "matplotlib")
    args = ["bench", "--data", str(path(FEWNERD_SAMPLE)), "--engines", "gliner,spacy",
            "--schema", "fewnerd_coarse", "--limit", "8", "--latency-samples", "1", "-q"]
    assert main([*args, "--level", "coarse", "--out", str(tmp_path / "coarse")]) == 0
    result = json.loads((tmp_path / "coarse" / "results.json").read_text())
    assert result["level"] == "coarse" and result["gold_labels_outside_schema"] == []
    spacy_row = next(e for e in result["engines"] if e["engine"] == "spacy")
    assert spacy_row["sentences"] == 8
    assert spacy_row["metrics"]["strict"]["micro"]["counts"]["correct"] > 0
    md = (tmp_path / "coarse" / "report.md").read_text()
    assert "| spacy | 8 |" in md and "coarse level" in md
    assert "Gold labels outside the schema" not in md

    # fine gold under a coarse schema can only be missed: the report says so
    assert main([*args, "--engines", "spacy", "--out", str(tmp_path / "fine")]) == 0
    fine = json.loads((tmp_path / "fine" / "results.json").read_text())
    assert "person-athlete" in fine["gold_labels_outside_schema"]
    assert fine["engines"][0]["metrics"]["strict"]["micro"]["counts"]["correct"] == 0
    assert "Gold labels outside the schema" in (tmp_path / "fine" / "report.md").read_text()


def test_bench_rejects_engines_it_does_not_know(tmp_path, capsys):
    assert main(["bench", "--data", str(path(FEWNERD_SAMPLE)), "--engines", "crf",
                 "--out", str(tmp_path), "-q"]) == 2
    assert "unknown engine 'crf'" in capsys.readouterr().err
