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

    fast = GlinerEngine(threads=2, batch_size=2, dtype="float32")
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


@pytest.fixture(scope="module")
def small():
    """The small bundled model on the project's runtime, in small batches (several
    batches per call, so documents are built as batches come back)."""
    return GlinerEngine("gliner-minilm-fewnerd", threads=2, batch_size=2)


@pytest.mark.parametrize("policy", ["flat", "nested", "multi-label"])
def test_results_equal_the_core_resolution_of_the_candidates(small, inter_test, monkeypatch,
                                                             policy):
    """The engine's fast result building (unchecked spans, one-candidate shortcut,
    kept tokens) gives exactly the documents built the plain way from the same
    candidates: checked ``Span``s, the core's ``resolve_overlaps``, ``DocumentResult``
    with the tokens cut from the text. Every field of every span compared."""
    from zeroshot.core.overlap import resolve_overlaps
    from zeroshot.core.spans import DocumentResult, Span
    from zeroshot.core.text import TokenizedText

    texts = [SENTENCE, ("Obama", "met", "Merkel", "in", "Berlin", "."), [],
             "Serena Williams beat Venus Williams at Wimbledon in 2009.",
             TokenizedText.from_text("The Nile crocodile lives in Lake Victoria."),
             ["Toyota"], ["Then", "the", "band", "played", "Bohemian", "Rhapsody", "."]]
    schema = inter_test.with_options(threshold=0.05, overlap=policy)
    rows: dict[int, list[tuple[int, int, int, float]]] = {}
    stream = small.runtime.stream

    def recording(*args, **kwargs):
        for done, got, errs in stream(*args, **kwargs):
            for r, s, e, c, p in zip(got.row.tolist(), got.start.tolist(), got.end.tolist(),
                                     got.cls.tolist(), got.score.tolist(), strict=True):
                rows.setdefault(r, []).append((s, e, c, p))
            yield done, got, errs

    monkeypatch.setattr(small.runtime, "stream", recording)
    ids = [f"doc{i}" for i in range(len(texts))]
    got = small.extract(texts, schema, ids=ids)
    names = [t.name for t in schema]
    want, r = [], 0
    for i, t in enumerate(texts):
        doc = TokenizedText.coerce(t)
        cands = rows.get(r, []) if len(doc) else []
        r += bool(len(doc))
        spans = [Span(doc.starts[s], doc.ends[e - 1], names[c],
                      doc.text[doc.starts[s]:doc.ends[e - 1]], score=p, token_start=s,
                      token_end=e, engine="gliner") for s, e, c, p in cands]
        want.append(DocumentResult(
            text=doc.text, spans=tuple(resolve_overlaps(spans, schema.options.overlap)),
            id=ids[i], engine="gliner", tokens=tuple(doc.tokens),
            token_offsets=tuple(zip(doc.starts, doc.ends, strict=True))))
    assert max(len(c) for c in rows.values()) >= 3  # overlap resolution had work to do
    assert sum(len(d.spans) for d in got) >= 6
    assert [d.to_dict() for d in got] == [d.to_dict() for d in want]
    assert got == want
    assert all(type(s.score) is float for d in got for s in d.spans)
