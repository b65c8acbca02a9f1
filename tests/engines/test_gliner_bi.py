"""GLiNER bi-encoder span models (labels embedded by a separate labels encoder) through
the project's runtime, against gliner 0.2.29's own forward.

The model is ``tiny_bi_encoder`` (tests/conftest.py): built offline, small, random
weights (scores are compared, not judged).
"""

import os

import numpy as np
import pytest

if not os.environ.get("CI"):
    pytest.importorskip("gliner")  # in CI a missing engine must fail, not skip

from zeroshot.core.engine import ENGINE_ERROR, LABEL_GROUPS
from zeroshot.core.schema import Schema
from zeroshot.engines import gliner_runtime as rt
from zeroshot.engines.gliner import GlinerEngine, load_gliner

SENTENCES = [
    ["Venus", "Williams", "beat", "Maria", "Sharapova", "at", "Wimbledon", "in", "London", "."],
    ["Toyota"],
    ["The", "Nile", "crocodile", "(", "Crocodylus", "niloticus", ")", "lives", "in", "Lake",
     "Victoria", "and", "was", "treated", "at", "St.", "Mary's", "Hospital", "."],
]
LABELS = ["person", "athlete", "city", "company", "river", "hospital", "animal", "event"]


@pytest.fixture(scope="module")
def engine(tiny_bi_encoder):
    return GlinerEngine(str(tiny_bi_encoder), threads=2, batch_size=2, threshold=0.5,
                        dtype="float32")  # compared with gliner's scores at 1e-5


def test_runtime_serves_bi_encoders_with_gliners_scores(tiny_bi_encoder, engine):
    reference = load_gliner(str(tiny_bi_encoder))
    assert rt.is_bi_encoder(reference) and rt.unsupported_reason(reference) is None
    assert engine.runtime is not None and engine.runtime.bi
    for words in SENTENCES:
        want = rt.gliner_reference(reference, words, LABELS)
        got = rt.runtime_probabilities(engine.runtime, words, LABELS)
        W, K = len(words), engine.runtime.K
        valid = (np.arange(W)[:, None] + np.arange(K)[None, :]) < W
        assert got.shape == want.shape == (W, K, len(LABELS))
        np.testing.assert_allclose(got[valid], want[valid], atol=1e-5)


def test_rows_hold_the_text_alone_and_labels_are_encoded_once(engine):
    runtime = engine.runtime
    prompt = runtime.prompt(LABELS)
    assert len(prompt.ids) == 0 and len(prompt.class_pos) == 0
    words = SENTENCES[0]
    batch = runtime.build(runtime.pieces.ids(words), np.zeros(1, np.int64),
                          np.array([len(words)]), prompt, runtime.text_budget(0))
    tok = engine.model.data_processor.transformer_tokenizer
    want = tok(words, is_split_into_words=True)["input_ids"]
    assert batch["input_ids"][0].tolist() == want
    reps = runtime._label_reps(prompt)
    assert tuple(reps.shape) == (len(LABELS), 384)
    assert runtime._label_reps(runtime.prompt(list(LABELS))) is reps  # cached per tuple


def test_engine_spans_equal_gliners_path_and_many_labels_stay_one_group(tiny_bi_encoder, engine):
    # 40 labels: a uni-encoder reads them in groups of max_types (25); a bi-encoder
    # scores each label on its own, so one group gives the same scores
    many = LABELS + [f"type {i}" for i in range(32)]
    # random weights put every score near 0.4-0.5, where exactly depends on the draw: the
    # threshold is the scores' 90th percentile (3 decimals), so some spans pass in any draw
    probs = np.concatenate([rt.runtime_probabilities(engine.runtime, w, many).ravel()
                            for w in SENTENCES])
    threshold = round(float(np.quantile(probs, 0.9)), 3)
    schema = Schema.from_labels(many).with_options(threshold=threshold)
    assert len(engine.label_plan(schema).groups) == 1
    ours = engine.extract(SENTENCES, schema)
    theirs = GlinerEngine(str(tiny_bi_encoder), threads=2, batch_size=2, threshold=threshold,
                          runtime=False).extract(SENTENCES, schema)
    for a, b in zip(ours, theirs, strict=True):
        assert not {i.kind for i in a.issues} & {ENGINE_ERROR, LABEL_GROUPS}
        assert not {i.kind for i in b.issues} & {ENGINE_ERROR, LABEL_GROUPS}
        assert [(s.start, s.end, s.label) for s in a.spans] == \
            [(s.start, s.end, s.label) for s in b.spans]
    assert sum(len(r.spans) for r in ours) > 0  # the comparison is not of empty lists


def test_int8_storage_keeps_the_labels_tokenizer(tiny_bi_encoder, tmp_path):
    from zeroshot.training.export import export_model

    out = export_model(load_gliner(str(tiny_bi_encoder)), tmp_path / "int8", int8=True)
    assert (out / "labels_tokenizer").is_dir() and not (out / "model.safetensors").exists()
    model = load_gliner(str(out))
    assert rt.is_bi_encoder(model)
    runtime = rt.GlinerRuntime(model)
    rt.self_check(runtime, rt.gliner_reference(load_gliner(str(out))))
