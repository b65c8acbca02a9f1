"""The LLM benchmark's pieces (eval/bench_llm.py and its modules): variant names,
the dev schema, the hybrid's overrule counts and the report, on hand-made data."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "eval"))
from llm_report import render_markdown, steps
from llm_scores import candidate_stats, overrules, score_docs
from llm_variants import DEV_ABLATION, dev_schema, expand, parse_variant

from zeroshot.core.loaders import Example
from zeroshot.core.schema import Schema
from zeroshot.core.spans import DocumentResult, Span
from zeroshot.core.text import TokenizedText
from zeroshot.engines.llm.hybrid import Candidate


def test_variant_names():
    v = parse_variant("constrained-0shot-bare", 0.1)
    assert (v.mode, v.shots, v.describe, v.none_rule, v.threshold) == (
        "constrained", 0, False, True, None)
    assert parse_variant("constrained-0shot-nonone", 0.1).template_dir.name == "prompts_no_none"
    h = parse_variant("hybrid-3shot-hints-t0.2", 0.1)
    assert (h.mode, h.shots, h.hints, h.threshold) == ("hybrid", 3, True, 0.2)
    assert parse_variant("hybrid-0shot", 0.15).threshold == 0.15
    for bad in ("hybrid", "free-0shot", "constrained-3shot-hints", "hybrid-1shot-nonone",
                "grounded-0shot-t0.2"):
        with pytest.raises(ValueError):
            parse_variant(bad, 0.1)
    assert expand("ablation") == DEV_ABLATION
    assert expand("constrained-3shot,ablation")[0] == "constrained-3shot"
    assert all(parse_variant(n, 0.1) for n in expand("old-ablation"))


def test_dev_schema_has_train_types_and_hand_made_demonstrations():
    schema = dev_schema()
    train = Schema.load("fewnerd_inter_train")
    assert schema.names == train.names and len(schema) == 36
    assert len(schema.demonstrations) == 4 and schema.demonstrations[1].entities == ()
    test_types = set(Schema.load("fewnerd_inter_test").names)
    assert not {n for d in schema.demonstrations for _, n in d.entities} & test_types


def _example(text: str, gold: list[tuple[str, str]]) -> Example:
    tokens = TokenizedText.from_text(text)
    spans = [Span(text.index(t), text.index(t) + len(t), label, t) for t, label in gold]
    return Example("0", tokens, tuple(spans))


def _cand(text: str, s: str, label: str) -> Candidate:
    return Candidate(text.index(s), text.index(s) + len(s), s, label, 0.5)


def test_overrules_against_gold():
    text = "Ada met Bob and Cy in Rome near Oslo ."
    ex = _example(text, [("Ada", "person"), ("Bob", "person"), ("Rome", "city"),
                         ("Oslo", "city"), ("Cy", "person")])
    cands = [_cand(text, "Ada", "person"), _cand(text, "Bob", "city"),
             _cand(text, "Cy", "person"), _cand(text, "Rome", "person"),
             _cand(text, "Oslo", "city"), _cand(text, "near", "city"), _cand(text, "met", "city")]

    def span(s: str, label: str) -> Span:
        return Span(text.index(s), text.index(s) + len(s), label, s)

    doc = DocumentResult(text, (span("Ada", "person"), span("Bob", "person"),
                                span("Cy", "city"), span("Rome", "person"),
                                span("near", "person")))
    got = overrules([ex], [doc], [cands])
    assert got == {"kept_encoder_type_right": 1, "kept_encoder_type_wrong": 1,
                   "retyped_right": 1, "retyped_wrong": 1, "retyped_both_wrong": 0,
                   "retyped_not_an_entity": 1, "rejected_gold_span": 1,
                   "rejected_non_entity": 1}
    stats = candidate_stats([ex], [cands])
    assert stats["gold_in_candidates_pct"] == 100.0 and stats["gold_typed_right_pct"] == 60.0


def test_report_renders_rows_steps_and_hybrid_tables():
    text = "Ada met Bob ."
    ex = _example(text, [("Ada", "person")])
    schema = Schema.from_labels(["person"])
    docs = [DocumentResult(text, (Span(0, 3, "person", "Ada"),), usage={"requests": 1})]
    row = {"mode": "constrained", "seconds": 1.0, "sentences_per_s": 1.0,
           "peak_rss_mib": 2048, **score_docs([ex], docs, schema)}
    rows = [{"model": "m", "variant": "constrained-3shot", **row},
            {"model": "m", "variant": "hybrid-3shot", **row, "mode": "hybrid",
             "candidate_threshold": 0.1, "overrules": overrules([ex], docs, [[]])},
            {"model": "m", "variant": "hybrid-3shot-t0.2", **row, "mode": "hybrid",
             "candidate_threshold": 0.2}]
    changes = [c for _, c, *_ in steps(rows)]
    assert changes == ["hybrid, three demonstrations",
                       "hybrid: candidate threshold 0.2 instead of 0.1"]
    result = {"command": "x", "git_commit": "abc", "git_dirty": False, "packages": {"a": "1"},
              "python": "3", "machine": "m", "split": {"split": "dev", "data": "d"},
              "sample_seed": 13, "sentences": 1, "gold_spans": 1, "schema": "s", "types": 1,
              "chosen_on": None, "engines": {"m": {"engine_start_s": 1.0,
                                                    "peak_rss_mib_all_processes": 1024}},
              "gliner_model": "models/g", "gliner": {**row, "mode": "gliner",
                                                      "variant": "gliner@0.4"},
              "proposer": [{"threshold": 0.1, **candidate_stats([ex], [[]])}],
              "variants": rows}
    md = render_markdown(result, "card.md")
    assert "| g | gliner@0.4 | – | – | – |" in md
    assert "| m | hybrid-3shot | 100.0 | 100.0 | 0.0 |" in md
    assert "## What the hybrid's LLM did with GLiNER's types" in md
    assert "## GLiNER's candidates" in md and "`card.md`" in md
