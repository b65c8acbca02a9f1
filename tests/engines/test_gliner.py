"""The GLiNER engine with the committed model, on CPU, offline."""

import os

import pytest

if not os.environ.get("CI"):
    pytest.importorskip("gliner")  # in CI a missing engine must fail, not skip

from zeroshot.core.engine import WINDOWED
from zeroshot.core.schema import Schema
from zeroshot.engines.gliner import GlinerEngine, ModelLoadError, load_gliner

SENTENCE = ["Blackburn", "and", "Guzan", "kept", "clean", "sheets", "for", "the", "club", ",",
            "while", "Nikola", "Kalinić", "scored", "twice", "."]


@pytest.fixture(scope="module")
def engine():
    return GlinerEngine(threads=2)


@pytest.fixture(scope="module")
def inter_test():
    return Schema.load("fewnerd_inter_test").with_options(threshold=0.3)


def test_hand_checked_predictions(engine, inter_test):
    (doc,) = engine.extract([SENTENCE], inter_test)
    got = {(s.text, s.label) for s in doc.spans}
    assert ("Blackburn", "person-athlete") in got
    for s in doc.spans:
        assert doc.text[s.start:s.end] == s.text
        assert " ".join(SENTENCE[s.token_start:s.token_end]) == s.text
        assert 0.3 <= s.score <= 1 and s.engine == "gliner"
    (music,) = engine.extract(["Then the band played Bohemian Rhapsody ."], inter_test)
    assert [(s.text, s.label) for s in music.spans] == [("Bohemian Rhapsody", "art-music")]


def test_raw_text_offsets(engine, inter_test):
    text = "Blackburn and Guzan kept clean sheets for the club, while Kalinić scored twice."
    (doc,) = engine.extract([text], inter_test)
    assert doc.spans and all(text[s.start:s.end] == s.text for s in doc.spans)


def test_entity_at_window_border_found_once_with_document_offsets(inter_test):
    small = GlinerEngine(window=12, window_overlap=6, threads=2)
    filler = ["In", "the", "second", "half", "of", "the", "season", ",", "the", "team",
              "played", "away", "."]
    tokens = filler + SENTENCE  # "Blackburn" is token 13: inside windows (6,18) and (12,24)
    (doc,) = small.extract([tokens], inter_test)
    assert any(i.kind == WINDOWED for i in doc.issues)
    hits = [s for s in doc.spans if s.text == "Blackburn"]
    assert len(hits) == 1
    (b,) = hits
    assert (b.token_start, b.token_end) == (len(filler), len(filler) + 1)
    assert doc.text[b.start:b.end] == "Blackburn"
    keys = [s.key for s in doc.spans]
    assert len(keys) == len(set(keys))


def test_per_type_thresholds(engine, inter_test):
    (base,) = engine.extract([SENTENCE], inter_test)
    athlete = [s for s in base.spans if s.label == "person-athlete"]
    assert athlete
    top = max(s.score for s in athlete)
    data = inter_test.to_dict()
    for t in data["entity_types"]:
        if t["name"] == "person-athlete":
            t["threshold"] = min(1.0, top + 0.01)
    strict = Schema.from_dict(data)
    (doc,) = engine.extract([SENTENCE], strict)
    assert not [s for s in doc.spans if s.label == "person-athlete"]
    others = {s.key for s in base.spans if s.label != "person-athlete"}
    assert others == {s.key for s in doc.spans}


def test_overlap_policies(engine, inter_test):
    low = inter_test.with_options(threshold=0.02)
    results = {}
    for policy in ("flat", "nested", "multi-label"):
        (doc,) = engine.extract([SENTENCE], low.with_options(overlap=policy))
        results[policy] = doc.spans
    flat = results["flat"]
    assert all(not a.overlaps(b) for i, a in enumerate(flat) for b in flat[i + 1:])
    for a in results["nested"]:
        for b in results["nested"]:
            if a is not b and a.overlaps(b):
                assert (a.contains(b) or b.contains(a)) and (a.start, a.end) != (b.start, b.end)
    assert len(results["multi-label"]) >= len(results["nested"]) >= len(flat)


def test_empty_inputs(engine, inter_test):
    docs = engine.extract(["", "   ", []], inter_test)
    assert [d.spans for d in docs] == [(), (), ()]


def test_clear_errors_for_missing_model_and_hub_without_network(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        load_gliner(tmp_path / "nope")
    with pytest.raises(ModelLoadError, match="not a GLiNER model directory"):
        load_gliner(tmp_path)
    with pytest.raises(ModelLoadError, match=r"hub.*local model directory"):
        load_gliner("urchade/gliner_small-v2.1")
    with pytest.raises(ModelLoadError, match="hub ids are disabled"):
        load_gliner("urchade/gliner_small-v2.1", allow_hub=False)


def test_fast_scorer_matches_gliner_scorer_in_input_order(inter_test):
    """The factored span scorer gives gliner's spans and scores; windows are
    batched by length yet come back in input order."""
    from zeroshot.engines import gliner_fast

    fast = GlinerEngine(threads=2, batch_size=2)
    native = GlinerEngine(threads=2, batch_size=2, fast=False)
    assert fast.fast and not native.fast
    texts = [SENTENCE, ["Then", "the", "band", "played", "Bohemian", "Rhapsody", "."],
             ["Toyota"], ["Obama", "met", "Merkel", "in", "Berlin", "before", "the", "election"],
             SENTENCE[:5]]
    low = inter_test.with_options(threshold=0.05)
    got, want = fast.extract(texts, low), native.extract(texts, low)
    assert [d.text for d in got] == [" ".join(t) for t in texts]
    for g, w in zip(got, want, strict=True):
        assert [(s.start, s.end, s.label) for s in g.spans] == \
               [(s.start, s.end, s.label) for s in w.spans]
        for a, b in zip(g.spans, w.spans, strict=True):
            assert a.score == pytest.approx(b.score, abs=1e-4)
    assert sum(len(d.spans) for d in got) >= 5
    assert not gliner_fast.supports(object())
