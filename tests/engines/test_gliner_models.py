"""Bundled GLiNER models: names resolve, and a model's calibrated threshold is the
default whenever neither the schema nor the call sets one."""

from __future__ import annotations

import json
import shutil

import pytest

from zeroshot.core.schema import Schema

pytest.importorskip("gliner")

from zeroshot.engines.gliner import (
    DEFAULT_MODEL,
    GlinerEngine,
    ModelLoadError,
    bundled_models,
    model_metadata,
    resolve_model,
)


def test_bundled_default_model_has_its_metadata():
    models = bundled_models()
    assert DEFAULT_MODEL in models
    meta = model_metadata(models[DEFAULT_MODEL])
    assert 0.0 < meta["threshold"] < 1.0 and meta["threshold_chosen_on"]
    assert resolve_model(DEFAULT_MODEL) == models[DEFAULT_MODEL]


def test_unknown_model_names_the_bundled_ones():
    with pytest.raises(ModelLoadError, match=DEFAULT_MODEL):
        GlinerEngine("no-such-model", allow_hub=False)


def test_calibrated_threshold_applies_only_where_nothing_else_does(tmp_path):
    model = tmp_path / "m"
    shutil.copytree(bundled_models()[DEFAULT_MODEL], model)
    meta = json.loads((model / "zeroshot_model.json").read_text())
    (model / "zeroshot_model.json").write_text(json.dumps({**meta, "threshold": 0.05}))
    engine = GlinerEngine(str(model), threads=1)
    assert engine.default_threshold == 0.05
    text = ["Serena Williams beat Venus Williams at Wimbledon ."]
    plain = Schema.from_labels(["athlete", "sports event"])
    low = engine.extract(text, plain)[0].spans
    strict = engine.extract(text, plain.with_options(threshold=0.995))[0].spans
    assert all(s.score >= 0.05 for s in low) and len(low) > len(strict)
    assert all(s.score >= 0.995 for s in strict)
    assert GlinerEngine(str(model), threads=1, threshold=0.9).default_threshold == 0.9


def test_a_broken_metadata_file_is_a_clear_error(tmp_path):
    model = tmp_path / "m"
    shutil.copytree(bundled_models()[DEFAULT_MODEL], model)
    (model / "zeroshot_model.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match=r"zeroshot_model\.json"):
        GlinerEngine(str(model), threads=1)
