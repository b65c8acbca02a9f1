"""The project's GLiNER runtime against gliner 0.2.29 itself, with the committed model.

Real model, real sentences (Few-NERD-like, written here), CPU, offline.
"""

import logging
import os
import re
import sys

import numpy as np
import pytest

if not os.environ.get("CI"):
    pytest.importorskip("gliner")  # in CI a missing engine must fail, not skip

from zeroshot.core.engine import ENGINE_ERROR, LABEL_GROUPS, WINDOWED
from zeroshot.core.schema import Schema
from zeroshot.core.text import TokenizedText
from zeroshot.engines import gliner_runtime as rt
from zeroshot.engines.gliner import DEFAULT_MODEL, GlinerEngine, _Rows, load_gliner

SENTENCES = [
    ["Blackburn", "and", "Guzan", "kept", "clean", "sheets", "for", "the", "club", ",", "while",
     "Nikola", "Kalinić", "scored", "twice", "."],
    ["Then", "the", "band", "played", "Bohemian", "Rhapsody", "at", "Wembley", "."],
    ["Toyota"],
    ["Obama", "met", "Merkel", "in", "Berlin", "before", "the", "2009", "federal", "election",
     "."],
    ["The", "Nile", "crocodile", "(", "Crocodylus", "niloticus", ")", "lives", "in", "Lake",
     "Victoria", "and", "was", "treated", "at", "St.", "Mary's", "Hospital", "."],
]
EXTRA_LABELS = ["city", "country", "company", "newspaper", "university", "sports team", "river",
                "mountain", "island", "airport", "disease", "chemical", "programming language",
                "software", "award", "language", "religion", "currency", "ship", "airplane",
                "painting", "film", "musician"]


@pytest.fixture(scope="module")
def inter_test():
    return Schema.load("fewnerd_inter_test")


@pytest.fixture(scope="module")
def gliner_model():
    """A model for gliner's own forward (never patched by the engine)."""
    return load_gliner(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def engine():
    # float32: these tests compare with gliner's own forward at 1e-5 (the CPU default
    # is bfloat16 where the CPU has native bf16)
    return GlinerEngine(threads=2, batch_size=4, dtype="float32")


@pytest.fixture(scope="module")
def gliner_path():
    """The engine on gliner's own inference (greedy pass off), gliner's scorer."""
    return GlinerEngine(threads=2, batch_size=4, runtime=False, fast=False)


def test_runtime_scores_equal_gliner_forward(engine, gliner_model, inter_test):
    """Every span's probability, from gliner's collator and forward, and ours."""
    assert engine.runtime is not None
    labels = inter_test.labels()
    for words in SENTENCES:
        want = rt.gliner_reference(gliner_model, words, labels)
        got = rt.runtime_probabilities(engine.runtime, words, labels)
        W, K = len(words), engine.runtime.K
        valid = (np.arange(W)[:, None] + np.arange(K)[None, :]) < W
        assert got.shape == want.shape
        np.testing.assert_allclose(got[valid], want[valid], atol=1e-5)


def test_batches_equal_gliner_inputs(engine, gliner_model, inter_test):
    """The numpy batch builder gives gliner's collator's input ids, and the first
    subword of every word where gliner's word mask puts it."""
    labels = inter_test.labels()
    runtime = engine.runtime
    batch = gliner_model.collate_batch(
        [{"tokenized_text": w, "ner": None} for w in SENTENCES], labels)
    flat = runtime.pieces.ids([t for w in SENTENCES for t in w])
    counts = np.array([len(w) for w in SENTENCES])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    prompt = runtime.prompt(labels)
    ours = runtime.build(flat, starts, counts, prompt, 10_000)
    np.testing.assert_array_equal(ours["input_ids"], batch["input_ids"].numpy())
    np.testing.assert_array_equal(ours["attention_mask"], batch["attention_mask"].numpy())
    words_mask = batch["words_mask"].numpy()
    for b, n in enumerate(counts):
        np.testing.assert_array_equal(ours["word_pos"][b, :n], np.nonzero(words_mask[b])[0])
    assert runtime.prompt(labels) is prompt  # tokenised once per label tuple


@pytest.mark.parametrize("policy", ["flat", "nested", "multi-label"])
def test_engine_equals_gliner_path(engine, gliner_path, inter_test, policy):
    """Same spans, scores within float noise, on the runtime and on gliner's own path."""
    schema = inter_test.with_options(threshold=0.05, overlap=policy)
    got, want = engine.extract(SENTENCES, schema), gliner_path.extract(SENTENCES, schema)
    assert sum(len(d.spans) for d in got) >= 8
    for g, w in zip(got, want, strict=True):
        assert [s.key for s in g.spans] == [s.key for s in w.spans]
        for a, b in zip(g.spans, w.spans, strict=True):
            assert a.score == pytest.approx(b.score, abs=1e-4)
            assert (a.token_start, a.token_end) == (b.token_start, b.token_end)


# a sentence of Few-NERD's INTER train split (Ding et al. 2021, CC BY-SA 4.0)
CROSSING = ["The", "Howard", "University", "School", "of", "Law", "campus", "is", "across",
            "Connecticut", "Avenue", "from", "UDC", "on", "Upton", "Street", "NW", "."]


def _crossing_case(engine, schema, words, delta):
    """Two crossing candidates (A, B), B scoring higher, such that with A's type at
    A's score and B's type just above B's score no other surviving span blocks A:
    (start word, end word, type, score) each."""
    runtime = engine.runtime
    got, _ = runtime.run(runtime.pieces.ids(words), np.array([0]), np.array([len(words)]),
                         runtime.prompt(schema.labels()), [1e-4] * len(schema))
    names = schema.names
    spans = list(zip(got.start.tolist(), got.end.tolist(),
                     [names[c] for c in got.cls.tolist()], got.score.tolist(), strict=True))

    def crossing(x, y):
        return x[0] < y[0] < x[1] < y[1] or y[0] < x[0] < y[1] < x[1]

    def blocks(s, a):  # in the nested policy: a crossing span, or a better label on A
        return crossing(s, a) or (s[:2] == a[:2] and s[2] != a[2] and s[3] > a[3])

    for a in spans:
        for b in spans:
            if a[2] == b[2] or not crossing(a, b) or b[3] <= a[3] or a[3] < 2e-3:
                continue
            if not any(blocks(s, a) and ((s[2] == a[2] and s[3] >= a[3])
                                           or (s[2] == b[2] and s[3] >= b[3] + delta))
                       for s in spans):
                return a, b
    return None


@pytest.fixture(scope="module")
def reference_models():
    """The Few-NERD-only reference model, on which the crossing case below was found:
    the runtime engine, the engine on gliner's path, and gliner itself."""
    return (GlinerEngine(REFERENCE, threads=2, batch_size=4, dtype="float32"),
            GlinerEngine(REFERENCE, threads=2, batch_size=4, runtime=False, fast=False),
            load_gliner(REFERENCE))


REFERENCE = "gliner-minilm-fewnerd"


def test_per_type_thresholds_apply_before_overlap_resolution(reference_models, inter_test):
    """A span above its own threshold that crosses a higher-scoring span below
    *its* threshold is kept (gliner's greedy pass at the lowest threshold drops it
    for the crossing span, which the per-type cut then drops: neither survives).

    The reference model rarely scores crossing spans high; in this sentence
    "The Howard University School of Law" (location) and "Howard University
    School of Law campus" (educational degree) cross at low scores, which is all
    the ordering needs."""
    engine, gliner_path, gliner_model = reference_models
    delta = 5e-3
    case = _crossing_case(engine, inter_test, CROSSING, delta)
    assert case, "no crossing pair in the check sentence"
    a, b = case
    data = inter_test.to_dict()
    for t in data["entity_types"]:
        # A's type just below A's score (gliner's scorer differs from ours in float noise)
        t["threshold"] = {a[2]: a[3] - 1e-5, b[2]: b[3] + delta}.get(t["name"], 1.0)
    schema = Schema.from_dict(data)
    for policy in ("nested", "multi-label"):
        for eng in (engine, gliner_path):
            (doc,) = eng.extract([CROSSING], schema.with_options(overlap=policy))
            keys = {(s.token_start, s.token_end, s.label) for s in doc.spans}
            assert (a[0], a[1], a[2]) in keys, (policy, eng.runtime, doc.spans)
            assert all(s.score >= schema.threshold_for(s.label) for s in doc.spans)
    # gliner's own decoding (greedy at the lowest threshold, then the per-type cut) loses it
    name_of = {t.label: t.name for t in inter_test}
    ents = gliner_model.inference([" ".join(CROSSING)], inter_test.labels(), flat_ner=False,
                                  multi_label=True, threshold=a[3] - 1e-6)[0]
    kept = {(e["start"], e["end"], name_of[e["label"]]) for e in ents
            if e["score"] >= schema.threshold_for(name_of[e["label"]])}
    start = sum(len(w) + 1 for w in CROSSING[:a[0]])
    assert (start, start + len(" ".join(CROSSING[a[0]:a[1]])), a[2]) not in kept


def test_subword_heavy_text_is_windowed_not_cut(engine, inter_test):
    """A 200-word text of 600+ subwords with the prompt: gliner's tokenizer would cut
    it at 512 subwords; the engine reads it in windows that fit and finds the
    athlete at its end."""
    filler = ["Afterwards", "the", "crowd", "in", "Szczebrzeszyn", ",", "Brzęczyszczykiewicz",
              "and", "Tlaquepaque", "cheered", "for", "Przemysław", "Wojciechowski-Kuźniarz",
              "."] * 13
    words = ["Blackburn", "and", "Guzan", "kept", "clean", "sheets", ".", *filler, "Later", ",",
             "Serena", "Williams", "won", "the", "Wimbledon", "final", "."]
    prompt = engine._prompt_subwords(inter_test.labels())
    total = prompt + int(engine.pieces.counts(words).sum()) + 2
    assert total > 600 and len(words) < engine.window  # subwords, not words, overflow
    schema = inter_test.with_options(threshold=0.3)
    (doc,) = engine.extract([words], schema)
    assert any(i.kind == WINDOWED for i in doc.issues)
    found = {(s.text, s.label) for s in doc.spans}
    assert ("Serena Williams", "person-athlete") in found
    assert ("Guzan", "person-athlete") in found
    plan = engine.label_plan(schema)  # every row the engine builds fits the encoder
    r = _Rows.plan([TokenizedText.from_tokens(words)], [words], engine.pieces, engine.window,
                   engine.window_overlap, engine.runtime.text_budget(plan.prompt_subwords))
    for s, c in zip(r.start, r.count, strict=True):
        assert engine.pieces.lengths[r.wids[s:s + c]].sum() + plan.prompt_subwords + 2 <= 512


def test_forty_labels_read_in_groups(engine, gliner_path, inter_test, caplog):
    """40 labels (the model was trained with up to 25): two prompts of 20, spans of
    both groups, a counted label_groups issue, the same on gliner's path."""
    data = inter_test.to_dict()
    data["name"] = "forty"
    data["entity_types"] += [{"name": f"x-{lab.replace(' ', '-')}", "label": lab}
                             for lab in EXTRA_LABELS]
    schema = Schema.from_dict(data).with_options(threshold=0.3)
    assert len(schema) == 40
    with caplog.at_level(logging.WARNING, logger="zeroshot.engines.gliner"):
        plan = engine.label_plan(schema)
    assert [len(g) for _, g in plan.groups] == [20, 20]
    assert "label groups" in caplog.text
    texts = [*SENTENCES, ["Obama", "flew", "from", "Paris", "to", "Tokyo", "on", "a", "Boeing",
                          "747", "."]]
    got = engine.extract(texts, schema)
    want = gliner_path.extract(texts, schema)
    assert all(any(i.kind == LABEL_GROUPS for i in d.issues) for d in got)
    labels = {s.label for d in got for s in d.spans}
    assert labels & set(schema.names[:20]) and labels & set(schema.names[20:])
    for g, w in zip(got, want, strict=True):
        assert [s.key for s in g.spans] == [s.key for s in w.spans]


def test_fallback_when_the_self_check_fails(monkeypatch, engine, inter_test, caplog):
    """A runtime that does not match gliner at load: one warning, gliner's path,
    the same spans; never an engine_error per record."""
    def broken(*_a, **_k):
        raise ValueError("runtime scores differ from gliner's by 0.5 (> 0.0001)")

    monkeypatch.setattr(rt, "self_check", broken)
    with caplog.at_level(logging.WARNING, logger="zeroshot.engines.gliner"):
        fallback = GlinerEngine(threads=2, batch_size=4, dtype="float32")
    warnings = [r for r in caplog.records if "self-check" in r.getMessage()]
    assert len(warnings) == 1 and fallback.runtime is None and fallback.native is not None
    schema = inter_test.with_options(threshold=0.2)
    got, want = fallback.extract(SENTENCES, schema), engine.extract(SENTENCES, schema)
    assert not any(i.kind == ENGINE_ERROR for d in got for i in d.issues)
    assert [[s.key for s in d.spans] for d in got] == [[s.key for s in d.spans] for d in want]
    assert fallback.identity()["runtime"] == "gliner"
    assert engine.identity()["runtime"] == "zeroshot-float32"


def test_other_checkpoints_are_not_served():
    assert rt.unsupported_reason(object())
    assert "model class" in rt.unsupported_reason(object())


@pytest.mark.parametrize("depth", [1, 2])
def test_one_failing_batch_fails_only_its_record(monkeypatch, engine, inter_test, depth):
    """A batch that raises is retried row by row; only the bad row's record gets an
    engine_error, and the others keep their spans (one or two batches queued on the
    device)."""
    runtime = engine.runtime
    monkeypatch.setattr(runtime, "depth", depth)
    launch = runtime._launch
    bad = len(SENTENCES[3])

    def flaky(rows, batch, prompt, thr):
        if (batch["lengths"] == bad).any():
            raise RuntimeError("device fault")
        return launch(rows, batch, prompt, thr)

    monkeypatch.setattr(runtime, "_launch", flaky)
    docs = engine.extract(SENTENCES, inter_test.with_options(threshold=0.3))
    errors = [any(i.kind == ENGINE_ERROR for i in d.issues) for d in docs]
    assert errors == [False, False, False, True, False]
    assert docs[0].spans and not docs[3].spans


def test_word_without_subwords_keeps_later_words_in_place(engine, inter_test):
    """A zero-width space gives the tokenizer nothing; the runtime reads it as the
    unknown token, so the words after it keep their positions."""
    words = ["Obama", "\u200b", "met", "Serena", "Williams", "at", "Wimbledon", "."]
    before = engine.pieces.unknown_words
    (doc,) = engine.extract([words], inter_test.with_options(threshold=0.3))
    assert engine.pieces.unknown_words == before + 1
    for s in doc.spans:
        assert " ".join(words[s.token_start:s.token_end]) == s.text
    assert ("Serena Williams", 3) in {(s.text, s.token_start) for s in doc.spans}


def test_thresholds_are_inclusive_in_float32():
    t = rt.threshold_floor32([0.4, 0.1, 0.5, 1.0, 0.0])
    for value, t32 in zip([0.4, 0.1, 0.5, 1.0, 0.0], t, strict=True):
        assert float(t32) >= value
        assert float(np.nextafter(t32, np.float32(-1))) < value


def test_onnx_encoder_gives_the_same_spans(engine, inter_test, tmp_path, monkeypatch):
    """The runtime with its encoder through ONNX Runtime (the 'onnx' extra): exported
    once into the cache, self-checked at load, the same spans as torch."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")  # torch's exporter
    monkeypatch.setenv("ZEROSHOT_CACHE", str(tmp_path))
    onnx = GlinerEngine(threads=2, batch_size=4, encoder="onnx")
    assert onnx.runtime_name() == "zeroshot-float32-onnx"
    assert list((tmp_path / "onnx").glob("encoder-*.onnx"))
    schema = inter_test.with_options(threshold=0.2)
    got, want = onnx.extract(SENTENCES, schema), engine.extract(SENTENCES, schema)
    for g, w in zip(got, want, strict=True):
        assert [s.key for s in g.spans] == [s.key for s in w.spans]
        for a, b in zip(g.spans, w.spans, strict=True):
            assert a.score == pytest.approx(b.score, abs=1e-4)
    onnx.close()


@pytest.mark.parametrize("model", ["gliner-mpnet-general", "gliner-minilm-general"])
def test_grouped_word_pieces_equal_word_by_word(model):
    """New words are tokenised in groups (one pre-tokenised text per WORD_GROUP words);
    every word must get exactly the pieces it gets alone, across group borders, with
    words that give no piece read as the unknown token in place."""
    from transformers import AutoTokenizer

    from zeroshot.engines.gliner import resolve_model

    tok = AutoTokenizer.from_pretrained(resolve_model(model))
    words = [w for s in SENTENCES for w in s] + list(rt.GROUP_PROBE) + ["\u200b", "\x00", " "]
    words += [f"w{i}ord{i % 7}" for i in range(2 * rt.WORD_GROUP)] + ["ünïcödé", "a" * 700]
    words = list(dict.fromkeys(words))
    grouped, alone = rt.WordPieces(tok), rt.WordPieces(tok)
    alone._grouping = False
    assert grouped._groups_ok()
    ids_g, ids_a = grouped.ids(words), alone.ids(words)
    assert np.array_equal(ids_g, ids_a)
    assert np.array_equal(grouped.lengths, alone.lengths)
    assert np.array_equal(grouped.flat, alone.flat)
    assert grouped.unknown_words == alone.unknown_words >= 2
    for w in ("Zürich", "antidisestablishmentarianism"):
        i = grouped.ids([w])[0]
        piece = grouped.flat[grouped.offsets[i]:grouped.offsets[i + 1]].tolist()
        assert piece == tok([w], is_split_into_words=True, add_special_tokens=False)["input_ids"]


def test_scorer_in_row_slices_equals_one_pass(engine):
    """The CPU memory cap scores rows in slices: same logits as one pass, and the
    slices really are smaller than the batch."""
    import torch

    from zeroshot.engines.gliner_fast import span_logits

    runtime = engine.runtime
    gen = torch.Generator().manual_seed(0)
    D = runtime.marker.out_project[0].in_features // 2  # the MLP reads [start; end]
    words = torch.randn(6, 9, D, generator=gen)
    prompts = runtime.core.prompt_rep_layer(torch.randn(6, 5, D, generator=gen))
    with torch.inference_mode():
        whole = span_logits(runtime.marker, words, prompts, runtime.K)
        hidden = runtime.marker.out_project[0].out_features
        one_row = 9 * runtime.K * hidden * 4
        sliced = span_logits(runtime.marker, words, prompts, runtime.K,
                             max_hidden_bytes=2 * one_row)  # 3 slices of 2 rows
        tiny = span_logits(runtime.marker, words, prompts, runtime.K, max_hidden_bytes=1)
    assert whole.shape == (6, 9, runtime.K, 5)
    torch.testing.assert_close(sliced, whole, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(tiny, whole, rtol=1e-5, atol=1e-5)


def test_extract_pauses_the_garbage_collector_and_resumes_it(engine, inter_test, monkeypatch):
    import gc

    seen = []
    stream = engine.runtime.stream

    def spy(*args, **kwargs):
        seen.append(gc.isenabled())
        yield from stream(*args, **kwargs)

    monkeypatch.setattr(engine.runtime, "stream", spy)
    want = engine.extract(SENTENCES, inter_test)
    assert seen == [False] and gc.isenabled()
    monkeypatch.setattr(engine, "pause_gc", False)
    assert engine.extract(SENTENCES, inter_test) == want  # same spans either way
    assert seen == [False, True] and gc.isenabled()


def test_cpu_batches_stay_under_the_feed_forward_budget():
    """On CPU a batch's subwords are capped by the encoder's feed-forward width, so a
    wide encoder's activations stay bounded; a batch over the cap is a single row."""
    runtime = GlinerEngine(threads=2).runtime  # the default CPU batch (128 rows)
    width = runtime.bert.config.intermediate_size
    cap = max(runtime.max_subwords, min(runtime.batch_size * 128, rt.CPU_FFN_BYTES // (width * 4)))
    assert runtime.max_tokens == cap < runtime.batch_size * 128  # the budget binds here
    lengths = np.full(400, 200, np.int64)  # 400 rows of 200 subwords, 30 words each
    words = np.full(400, 30, np.int64)
    batches = runtime._plan(lengths, words)
    assert sorted(np.concatenate(batches).tolist()) == list(range(400))
    assert all(len(b) * 200 <= cap or len(b) == 1 for b in batches)


def test_batches_run_longest_first(engine):
    """Batches are cut from the shortest rows up, then run longest first (the caching
    allocators meet their largest blocks once); every row exactly once."""
    runtime = engine.runtime
    rng = np.random.default_rng(0)
    lengths = rng.integers(20, 300, 200)
    words = np.maximum(1, lengths // 3)
    batches = runtime._plan(lengths, words)
    assert len(batches) > 2
    assert sorted(np.concatenate(batches).tolist()) == list(range(200))
    longest = [int(lengths[b].max()) for b in batches]
    assert longest == sorted(longest, reverse=True)
    for b in batches:  # within a batch, more words first (the LSTM's packing)
        assert (np.diff(words[b]) <= 0).all()


def test_taper_cuts_the_last_batch_in_halves(engine, monkeypatch):
    """With ``taper`` (CUDA's default) the last, shortest batch is cut in halves
    down to ``TAPER_ROWS`` rows; the batches before it and the row set are as
    without; the results are the same."""
    runtime = engine.runtime
    lengths = np.full(300, 40, np.int64)
    lengths[:100] = 90
    words = np.full(300, 12, np.int64)
    monkeypatch.setattr(runtime, "batch_size", 100)
    monkeypatch.setattr(runtime, "max_tokens", 100 * 128)
    monkeypatch.setattr(runtime, "taper", False)
    plain = runtime._plan(lengths, words)
    monkeypatch.setattr(runtime, "taper", True)
    monkeypatch.setattr(rt, "TAPER_ROWS", 16)
    tapered = runtime._plan(lengths, words)
    assert [len(b) for b in plain] == [100, 100, 100]
    assert [len(b) for b in tapered] == [100, 100, 50, 25, 25]
    assert [b.tolist() for b in tapered[:2]] == [b.tolist() for b in plain[:2]]
    assert sorted(np.concatenate(tapered[2:]).tolist()) == sorted(plain[2].tolist())
    assert len(rt._halves(np.arange(20), 16)) == 1  # too short to cut


def test_interleaved_batches_alternate_long_and_short(engine, inter_test, monkeypatch):
    """``interleave`` runs the batches longest, shortest, second longest, ...; the
    spans are the same as in the default order."""
    runtime = engine.runtime
    lengths = np.arange(10, 70, dtype=np.int64)
    words = np.maximum(1, lengths // 3)
    monkeypatch.setattr(runtime, "batch_size", 10)
    monkeypatch.setattr(runtime, "max_tokens", 10 * 128)
    monkeypatch.setattr(runtime, "taper", False)
    longest = [int(lengths[b].max()) for b in runtime._plan(lengths, words)]
    monkeypatch.setattr(runtime, "interleave", True)
    mixed = [int(lengths[b].max()) for b in runtime._plan(lengths, words)]
    assert longest == [69, 59, 49, 39, 29, 19]
    assert mixed == [69, 19, 59, 29, 49, 39]
    monkeypatch.setattr(runtime, "batch_size", 2)  # the same batches, in another order
    monkeypatch.setattr(runtime, "interleave", False)
    want = engine.extract(SENTENCES, inter_test)
    monkeypatch.setattr(runtime, "interleave", True)
    assert engine.extract(SENTENCES, inter_test) == want


def test_rows_with_more_candidates_than_the_top_k_are_read_whole(engine, inter_test):
    """A row with more candidates than come back in the packed copy is read again in
    full (on CUDA on a side stream): with one candidate per row taken on the device,
    the same candidates as with the default 32, and the same spans."""
    runtime = engine.runtime
    labels = inter_test.names
    prompt = runtime.prompt(labels)
    wids = runtime.pieces.ids([w for s in SENTENCES for w in s])
    counts = np.array([len(s) for s in SENTENCES], np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    low = [0.05] * len(labels)  # many candidates per row

    def candidates(top):
        old = runtime.top
        runtime.top = top
        try:
            got, errors = runtime.run(wids, starts, counts, prompt, low)
        finally:
            runtime.top = old
        assert not errors
        return sorted(zip(got.row.tolist(), got.start.tolist(), got.end.tolist(),
                          got.cls.tolist(), np.round(got.score, 5).tolist(), strict=True))

    want = candidates(32)
    assert max(np.bincount([c[0] for c in want])) > 1  # some row has several
    assert candidates(1) == want


def test_two_queued_batches_give_the_same_batches_in_order(engine, inter_test, monkeypatch):
    """With two batches held on the device (CUDA's default) the batches come back in
    the plan's order with the same candidates as with one."""
    runtime = engine.runtime
    prompt = runtime.prompt(inter_test.names)
    words = [w for s in SENTENCES * 3 for w in s]
    wids = runtime.pieces.ids(words)
    counts = np.array([len(s) for s in SENTENCES * 3], np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    thr = [0.3] * len(inter_test.names)
    got = {}
    for depth in (1, 2):
        monkeypatch.setattr(runtime, "depth", depth)
        got[depth] = [(rows.tolist(), sorted(zip(c.row.tolist(), c.start.tolist(),
                                                 c.cls.tolist(), strict=True)), errs)
                      for rows, c, errs in runtime.stream(wids, starts, counts, prompt, thr)]
    assert len(got[1]) > 2  # several batches (batch size 4)
    assert got[2] == got[1]


def test_cpu_default_dtype_follows_native_bf16(monkeypatch, inter_test):
    """On CPU the runtime runs bfloat16 where the CPU has native bf16 matmuls, float32
    elsewhere and for the ONNX encoders; CUDA keeps float16. A bfloat16 engine passes
    its self-check against gliner (bf16's tolerance) and finds the float32 engine's
    spans on these sentences."""
    monkeypatch.setattr(rt, "cpu_has_native_bf16", lambda: False)
    assert rt.default_dtype("cpu") == "float32"
    monkeypatch.setattr(rt, "cpu_has_native_bf16", lambda: True)
    assert rt.default_dtype("cpu") == "bfloat16"
    assert rt.default_dtype("cpu", "onnx-int8") == "float32"
    assert rt.default_dtype("cuda") == "float16"
    bf16 = GlinerEngine(threads=2, batch_size=4)
    assert bf16.runtime_name() == "zeroshot-bfloat16"
    schema = inter_test.with_options(threshold=0.3)
    fp32 = GlinerEngine(threads=2, batch_size=4, dtype="float32")
    got, want = bf16.extract(SENTENCES, schema), fp32.extract(SENTENCES, schema)
    same = sum(s.key in {w.key for w in b.spans} for a, b in zip(got, want, strict=True)
               for s in a.spans)
    assert same >= 0.9 * sum(len(b.spans) for b in want) > 0


@pytest.mark.parametrize("option", [{"dtype": "float64x"}, {"encoder": "onnxx"},
                                    {"kernels": "cuda"}])
def test_unknown_runtime_options_raise_before_the_model_loads(option):
    """A misspelt option is an error naming it and the known values, not a
    'self-check failed' warning and gliner's slow path (as it was)."""
    with pytest.raises(rt.RuntimeOptionError, match=f"unknown {next(iter(option))} "):
        GlinerEngine("/no/such/model", **option)  # no load error: checked first


@pytest.mark.parametrize("option, needle", [
    ({"kernels": "triton"}, "the fused Triton kernels cannot run: it runs on CUDA"),
    ({"encoder": "onnx"}, "pip install 'zeroshot[onnx]'"),
])
def test_runtime_options_that_cannot_run_here_raise(monkeypatch, tmp_path, option, needle):
    """Asked for explicitly and impossible here (Triton on CPU; ONNX without its
    extra, hidden from the import system): an error, never a silent fallback."""
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime fails
    monkeypatch.setenv("ZEROSHOT_CACHE", str(tmp_path))
    with pytest.raises(rt.RuntimeOptionError, match=re.escape(needle)):
        GlinerEngine("gliner-minilm-general", threads=2, **option)


@pytest.mark.parametrize("option, needle", [
    ({"device": "gpu"}, "unknown device 'gpu'"),
    ({"batch_size": 0}, "batch_size must be a positive integer, not 0"),
    ({"window": 0}, "window must be a positive integer, not 0"),
    ({"threads": 0}, "threads must be a positive integer, not 0"),
    ({"window_overlap": -1}, "window_overlap must be at least 0"),
])
def test_bad_engine_arguments_raise_before_the_model_loads(option, needle):
    """batch_size=0 and window=0 used to mean 'the default' silently; a device string
    torch cannot read surfaced as a failed self-check, then torch's error."""
    with pytest.raises(ValueError, match=re.escape(needle)):
        GlinerEngine("/no/such/model", **option)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(rt.RuntimeOptionError, match="sees no CUDA GPU; use device='cpu'"):
        GlinerEngine("/no/such/model", device="cuda")


def test_engine_extract_takes_a_schema_name_and_refuses_one_bare_string(engine):
    by_name = engine.extract(["Ada Lovelace met Charles Babbage in London ."], "news")
    by_schema = engine.extract(["Ada Lovelace met Charles Babbage in London ."],
                               Schema.load("news"))
    assert by_name[0].spans == by_schema[0].spans and by_name[0].spans
    with pytest.raises(TypeError, match="takes a list of texts"):
        engine.extract("Ada Lovelace met Charles Babbage in London .", "news")
