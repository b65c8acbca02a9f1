"""Filter rules of the distillation (zeroshot.distill.filters): each rule counted."""

from __future__ import annotations

import json

import pytest

from zeroshot.core.loaders import read_jsonl
from zeroshot.core.spans import AlignmentStatus, DocumentResult, Issue, Mention, Span
from zeroshot.core.text import TokenizedText
from zeroshot.distill.filters import (
    FilterConfig,
    apply_filters,
    dev_count,
    silver_rows,
    split_order,
)


def doc(rid: str, words: str, spans=(), issues=(), unaligned=()) -> DocumentResult:
    tok = TokenizedText.from_tokens(words.split())
    out = []
    for ts, te, label, *rest in spans:
        cs, ce = tok.token_span_to_char(ts, te)
        score = rest[0] if rest else None
        status = rest[1] if len(rest) > 1 else AlignmentStatus.EXACT
        out.append(Span(cs, ce, label, tok.text[cs:ce], score=score, token_start=ts,
                        token_end=te, alignment=status))
    return DocumentResult.from_tokenized(tok, spans=tuple(out), id=rid,
                                         issues=tuple(Issue(k, k) for k in issues),
                                         unaligned=tuple(unaligned))


GHOST = Mention("Zanzibar", "city", AlignmentStatus.UNALIGNED)


def corpus() -> dict:
    docs = [
        (doc("ok1", "Ada met Bob in Rome", [(0, 1, "person", 0.9), (4, 5, "city", 0.2)]), None),
        (doc("ok2", "Bob lives in Oslo", [(0, 1, "person", 0.8),
                                          (3, 4, "city", 0.9, AlignmentStatus.FUZZY)]), None),
        (doc("dup", "ada met BOB  in rome", [(0, 1, "person", 0.9)]), None),
        (doc("err", "Broken record"), "engine failed"),
        (doc("eng", "Nothing came back", issues=["engine_error"]), None),
        (doc("cut", "Cut off here Rome", [(3, 4, "city", 0.9)], issues=["truncated"]), None),
        (doc("bad", "Garbled answer", issues=["invalid_json"]), None),
        (doc("ghost", "Bob went home", [(0, 1, "person", 0.9)], issues=["unaligned"],
             unaligned=[GHOST]), None),
        (doc("ok3", "Rome is old", [(0, 1, "city", None)]), None),
    ]
    return {d.id: (d, e) for d, e in docs}


def test_split_is_seeded_and_independent_of_rules():
    ids = [f"r{i}" for i in range(100)]
    assert split_order(ids, 0) == split_order(list(reversed(ids)), 0)
    assert split_order(ids, 0) != split_order(ids, 1)
    assert dev_count(100, FilterConfig(dev_fraction=0.1)) == 10
    assert dev_count(10_000, FilterConfig(max_dev=500)) == 500
    assert dev_count(1, FilterConfig()) == 0


def test_each_record_rule_counted_and_bad_records_never_kept():
    labelled = corpus()
    dev, train, report = apply_filters(labelled, FilterConfig(dev_fraction=0.01))
    kept = {d.id for d in dev + train}
    assert kept.isdisjoint({"err", "eng", "cut", "bad", "ghost"})
    rules = {k: v["dev"] + v["train"] for k, v in report.record_rules.items()}
    assert rules == {"record_error": 1, "engine_error": 1, "truncated": 1, "invalid_answer": 1,
                     "unaligned": 1, "duplicate_sentence": 1}
    assert sum(report.records_in.values()) == len(labelled)
    assert sum(report.records_out.values()) == len(labelled) - sum(rules.values())
    # a fuzzy span is dropped by default, and counted
    assert sum(report.span_rules["fuzzy_alignment"].values()) == 1
    assert not any(s.alignment is AlignmentStatus.FUZZY for d in dev + train for s in d.spans)


def test_confidence_rule_drops_low_spans_and_counts_unscored():
    dev, train, report = apply_filters(corpus(), FilterConfig(min_confidence=0.5,
                                                              keep_fuzzy=True, dedup=False))
    spans = [s for d in dev + train for s in d.spans]
    assert all(s.score is None or s.score >= 0.5 for s in spans)
    assert sum(report.span_rules["low_confidence"].values()) == 1  # Rome at 0.2
    assert report.spans_without_confidence == 1
    assert sum(report.spans_in.values()) - sum(report.spans_out.values()) == 1


def test_agreement_rule_keeps_what_the_encoder_also_found():
    labelled = corpus()
    ok1 = labelled["ok1"][0]
    encoder = {"ok1": DocumentResult(ok1.text, spans=(ok1.spans[0],), id="ok1")}
    dev, train, report = apply_filters(labelled, FilterConfig(agreement=True, keep_fuzzy=True,
                                                              dedup=False),
                                       encoder=encoder)
    by_id = {d.id: d for d in dev + train}
    assert [s.text for s in by_id["ok1"].spans] == ["Ada"]
    assert by_id["ok2"].spans == ()  # no encoder prediction: nothing agrees
    assert sum(report.span_rules["encoder_disagrees"].values()) == 5  # all but Ada
    with pytest.raises(ValueError, match="encoder"):
        apply_filters(labelled, FilterConfig(agreement=True))


def test_drop_partial_drops_the_record_instead():
    dev, train, report = apply_filters(corpus(), FilterConfig(min_confidence=0.5,
                                                              drop_partial=True, dedup=False))
    kept = {d.id for d in dev + train}
    assert "ok1" not in kept and "ok2" not in kept  # low confidence / fuzzy span
    assert sum(report.record_rules["lost_span"].values()) == 2


def test_train_limit_takes_a_prefix_of_the_pool():
    labelled = {f"r{i}": (doc(f"r{i}", f"Word{i} is here", [(0, 1, "city")]), None)
                for i in range(50)}
    cfg = FilterConfig(dev_fraction=0.2)
    _, small, rep = apply_filters(labelled, cfg, train_limit=10)
    _, large, _ = apply_filters(labelled, cfg, train_limit=20)
    assert rep.pool == 40 and len(small) == 10
    assert [d.id for d in small] == [d.id for d in large][:10]


def test_silver_rows_read_back_as_gold(tmp_path):
    _, train, _ = apply_filters(corpus(), FilterConfig(keep_fuzzy=True, dedup=False))
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in silver_rows(train)))
    back = {e.id: e for e in read_jsonl(path)}
    for d in train:
        assert [(s.start, s.end, s.label) for s in back[d.id].spans] == \
            [(s.start, s.end, s.label) for s in d.spans]
