"""Dev sets: files round trip, and one low-threshold pass equals runs at each threshold."""

from __future__ import annotations

import os

import pytest

from zeroshot.core.loaders import Example
from zeroshot.core.schema import Schema
from zeroshot.core.spans import Span
from zeroshot.core.text import TokenizedText
from zeroshot.training.devsets import DevSet, predict_spans, read_devsets, score_at

SENTENCES = [
    "Serena Williams beat Maria Sharapova at Wimbledon in 2004 .",
    "The Labour Party won the 1997 general election in the United Kingdom .",
    "He studied medicine at Johns Hopkins Hospital and drove a Ford Mustang .",
    "The Thames flows through London past the Globe Theatre .",
    "Boeing delivered the 787 to All Nippon Airways in Tokyo .",
]


def _devset() -> DevSet:
    examples = []
    for i, s in enumerate(SENTENCES):
        tok = TokenizedText.from_tokens(s.split())
        span = Span(*tok.token_span_to_char(0, 2), "person-athlete", " ".join(s.split()[:2]),
                    token_start=0, token_end=2) if i == 0 else None
        examples.append(Example(str(i), tok, (span,) if span else ()))
    return DevSet("toy", tuple(examples), Schema.load("fewnerd_inter_test"))


def test_write_read_round_trip(tmp_path):
    dev = _devset()
    dev.write(tmp_path)
    (back,) = read_devsets(tmp_path)
    assert back.name == "toy" and back.zero_shot
    assert [e.text for e in back.examples] == [e.text for e in dev.examples]
    assert [[(s.start, s.end, s.label) for s in e.spans] for e in back.examples] == [
        [(s.start, s.end, s.label) for s in e.spans] for e in dev.examples]
    assert back.schema.names == dev.schema.names
    with pytest.raises(FileNotFoundError):
        read_devsets(tmp_path / "none")


def test_cutting_low_threshold_predictions_equals_a_run_at_the_threshold():
    if not os.environ.get("CI"):
        pytest.importorskip("gliner")
    from zeroshot.engines.gliner import GlinerEngine

    engine = GlinerEngine(threads=2)
    dev = _devset()
    low = predict_spans(engine, dev, 0.2)
    for t in (0.3, 0.45, 0.6):
        direct = predict_spans(engine, dev, t)
        cut = [tuple(s for s in spans if s.score >= t) for spans in low]
        assert [[s.key for s in d] for d in direct] == [[s.key for s in c] for c in cut]
        assert score_at(dev, low, t) == score_at(dev, direct, t)
    assert sum(len(s) for s in low) > sum(len(s) for s in predict_spans(engine, dev, 0.6))
