import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nervaluate import Evaluator
from seqeval.metrics import f1_score, precision_score, recall_score
from seqeval.scheme import IOB2

from zeroshot.core.codecs import decode, encode
from zeroshot.core.metrics import MODES, Counts, evaluate, match

LABELS = ["PER", "LOC", "ORG"]
tag = st.sampled_from(["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"])


@st.composite
def corpus(draw):
    """Gold and predicted valid IOB2 sequences of equal lengths."""
    docs = draw(st.lists(st.integers(1, 15), min_size=1, max_size=6))
    gold, pred = [], []
    for n in docs:
        for out in (gold, pred):
            raw = draw(st.lists(tag, min_size=n, max_size=n))
            spans = decode(raw, "bio", "begin").spans  # make it valid IOB2
            out.append(encode(spans, n, "bio"))
    return gold, pred


def spans_of(tags):
    return [tuple(s) for s in decode(tags, "bio", "raise").spans]


@settings(max_examples=2000, deadline=None)
@given(corpus())
def test_strict_agrees_with_seqeval(data):
    gold, pred = data
    report = evaluate([spans_of(t) for t in gold], [spans_of(t) for t in pred], ci=False)
    s = report["strict"].micro
    kw = {"mode": "strict", "scheme": IOB2, "zero_division": 0}
    assert math.isclose(s.precision, precision_score(gold, pred, **kw), abs_tol=1e-9)
    assert math.isclose(s.recall, recall_score(gold, pred, **kw), abs_tol=1e-9)
    assert math.isclose(s.f1, f1_score(gold, pred, **kw), abs_tol=1e-9)


NERVALUATE_MODE = {"strict": "strict", "exact": "exact", "partial": "partial", "type": "ent_type"}


@settings(max_examples=2000, deadline=None)
@given(corpus())
def test_four_modes_agree_with_nervaluate(data):
    gold, pred = data
    ours = evaluate([spans_of(t) for t in gold], [spans_of(t) for t in pred], labels=LABELS,
                    ci=False)
    as_dicts = [[{"label": lab, "start": s, "end": e - 1} for s, e, lab in spans_of(t)]
                for t in gold]
    pred_dicts = [[{"label": lab, "start": s, "end": e - 1} for s, e, lab in spans_of(t)]
                  for t in pred]
    theirs = Evaluator(as_dicts, pred_dicts, tags=LABELS, loader="dict").evaluate()
    for mode in MODES:
        ref = theirs["overall"][NERVALUATE_MODE[mode]]
        mine = ours[mode].micro
        for field in ("correct", "incorrect", "partial", "missed", "spurious"):
            assert getattr(mine.counts, field) == getattr(ref, field), (mode, field)
        assert math.isclose(mine.f1, ref.f1, abs_tol=1e-9)
        for label in LABELS:
            ref_t = theirs["entities"].get(label, {}).get(NERVALUATE_MODE[mode])
            if ref_t is None:
                assert label not in ours[mode].per_type
                continue
            assert math.isclose(ours[mode].per_type[label].f1, ref_t.f1, abs_tol=1e-9)


def test_definitions_by_hand():
    gold = [(0, 2, "PER"), (5, 7, "LOC")]
    assert match(gold, gold, "strict") == Counts(correct=2)
    assert match(gold, [(0, 2, "LOC")], "strict") == Counts(incorrect=1, missed=1)
    assert match(gold, [(0, 2, "LOC")], "exact") == Counts(correct=1, missed=1)
    assert match(gold, [(0, 3, "PER")], "partial") == Counts(partial=1, missed=1)
    assert match(gold, [(0, 3, "PER")], "type") == Counts(correct=1, missed=1)
    assert match(gold, [(0, 3, "LOC")], "type") == Counts(incorrect=1, missed=1)
    assert match(gold, [(9, 10, "PER")], "strict") == Counts(missed=2, spurious=1)
    assert Counts(correct=1, partial=1, missed=1, spurious=1).precision == pytest.approx(0.5)


def test_nested_predictions_do_not_depend_on_order():
    gold = [(0, 4, "ORG")]
    nested = [(0, 2, "LOC"), (0, 4, "ORG")]
    for preds in (nested, nested[::-1]):
        assert evaluate([gold], [preds], ci=False)["strict"].micro.counts.correct == 1


def test_macro_per_type_and_ci():
    gold = [[(0, 1, "A"), (2, 3, "B")]] * 30
    pred = [[(0, 1, "A")]] * 30
    r = evaluate(gold, pred, n_resamples=200)
    assert r["strict"].per_type["A"].f1 == 1.0 and r["strict"].per_type["B"].f1 == 0.0
    assert r["strict"].macro.f1 == pytest.approx(0.5)
    lo, hi = r["strict"].micro.ci["f1"]
    assert lo <= r["strict"].micro.f1 <= hi


def test_ci_narrows_with_more_documents():
    import random

    rng = random.Random(0)
    def make(n):
        gold = [[(0, 1, "A")] for _ in range(n)]
        pred = [[(0, 1, "A")] if rng.random() < 0.6 else [] for _ in range(n)]
        r = evaluate(gold, pred, n_resamples=300)["strict"].micro.ci["recall"]
        return r[1] - r[0]
    assert make(2000) < make(50)


def test_mismatched_lengths_and_bad_mode():
    with pytest.raises(ValueError, match="2 gold documents but 1"):
        evaluate([[], []], [[]])
    with pytest.raises(ValueError, match="unknown mode"):
        match([], [], "fuzzy")


def test_token_level_scoring_uses_token_offsets():
    from zeroshot.core.spans import Span

    g = Span(0, 5, "A", "hello", token_start=0, token_end=1)
    p = Span(0, 6, "A", "hello ", token_start=0, token_end=1)
    assert evaluate([[g]], [[p]], ci=False)["strict"].micro.f1 == 0.0
    assert evaluate([[g]], [[p]], on="token", ci=False)["strict"].micro.f1 == 1.0
