"""`zeroshot train` end to end on CPU: a few steps on the bundled Few-NERD sample, a model
directory written, loaded by the engine, dev F1 before and after in the report.

A mechanics test: the bundled sample is 200 INTER-test sentences, so the model it writes
is thrown away (never train a kept model on INTER test).
"""

from __future__ import annotations

import json
import os

import pytest

if not os.environ.get("CI"):
    pytest.importorskip("gliner")  # in CI a missing engine must fail, not skip

from zeroshot import data as bundled
from zeroshot.cli import main
from zeroshot.core.schema import Schema
from zeroshot.engines.gliner import GlinerEngine
from zeroshot.training.devsets import THRESHOLDS
from zeroshot.training.export import read_model_meta


def test_train_writes_a_model_that_loads_and_reports_dev_before_and_after(tmp_path, capsys):
    out = tmp_path / "my-model"
    rc = main(["train", str(bundled.path(bundled.FEWNERD_SAMPLE)), "--format", "fewnerd",
               "--schema", "fewnerd_inter_test", "-o", str(out), "--dev-fraction", "0.1",
               "--max-steps", "2", "--batch-size", "4", "--threads", "2", "--quiet"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "| before |" in printed and "| after |" in printed and str(out) in printed
    # --quiet: transformers' own log dicts are not printed (they go to the logger)
    assert "train_runtime" not in printed and "'loss'" not in printed
    for name in ("gliner_config.json", "model.safetensors", "zeroshot_model.json", "README.md"):
        assert (out / name).is_file(), name
    meta = read_model_meta(out)
    assert meta["threshold"] in THRESHOLDS
    assert meta["steps"] <= 2 and meta["dev_scores_before"] is not None
    before = meta["dev_scores_before"]["best_mean_f1"]
    after = meta["dev_scores"]["best_mean_f1"]
    # the trained project model already finds Few-NERD types; two tiny steps keep it there
    assert before > 0.2 and after > 0.2
    assert meta["dev_scores"]["sets"]["dev"]["sentences"] == 20
    json.dumps(meta)  # serialisable as written

    engine = GlinerEngine(str(out), threads=2)
    schema = Schema.load("fewnerd_inter_test").with_options(threshold=meta["threshold"])
    (doc,) = engine.extract(["Serena Williams won the 2012 Summer Olympics ."], schema)
    assert all(doc.text[s.start:s.end] == s.text for s in doc.spans)
    assert "person-athlete" in {s.label for s in doc.spans}


def test_train_rejects_two_starting_points(tmp_path, capsys):
    rc = main(["train", str(bundled.path(bundled.FEWNERD_SAMPLE)), "-o", str(tmp_path / "m"),
               "--base-model", "a", "--backbone", "b"])
    assert rc == 2 and "not both" in capsys.readouterr().err


def test_train_reads_gliner_training_files_and_ad_hoc_labels(tmp_path, capsys, caplog):
    """A GLiNER user's own data (one JSON array, tokenized_text + inclusive ner) with
    --labels choosing the types: the spans of other types are dropped and counted."""
    from zeroshot.core.loaders import read_fewnerd

    records = [{"tokenized_text": list(ex.tokens.tokens),
                "ner": [[s.token_start, s.token_end - 1, s.label.split("-")[0]]
                        for s in ex.spans]}
               for ex in list(read_fewnerd(bundled.path(bundled.FEWNERD_SAMPLE)))[:40]]
    src = tmp_path / "train.json"
    src.write_text(json.dumps(records, indent=1), encoding="utf-8")
    out = tmp_path / "m"
    rc = main(["train", str(src), "-o", str(out), "--labels", "person,location",
               "--base-model", "gliner-minilm-general", "--max-steps", "1", "--batch-size",
               "4", "--threads", "2", "--quiet"])
    assert rc == 0
    assert "schema labels (2 types)" in capsys.readouterr().err
    kept = sum(1 for r in records for *_, label in r["ner"] if label in ("person", "location"))
    dropped = sum(len(r["ner"]) for r in records) - kept
    assert f"{dropped} training spans have types outside the schema" in caplog.text
    described = read_model_meta(out)["train_data"]["description"]
    assert "2 types (labels)" in described and "36 training sentences" in described


def test_train_refuses_labels_the_data_never_uses(tmp_path, capsys):
    """--labels naming no type of the data would train a model to find nothing: an error
    naming the data's own types, before any model loads, and no model folder."""
    out = tmp_path / "m"
    rc = main(["train", str(bundled.path(bundled.FEWNERD_SAMPLE)), "--format", "fewnerd",
               "-o", str(out), "--labels", "dish,cuisine", "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "no span of the schema's 2 types (dish, cuisine)" in err
    assert "its own types are art-music" in err and not out.exists()


@pytest.mark.parametrize("target", ["file", "foreign-dir", "bundled", "base"])
def test_train_refuses_a_model_directory_it_must_not_write_before_training(
        tmp_path, capsys, target):
    """A file, a folder of other files, a bundled model or the model training starts
    from: an error before any model loads (it had trained, then crashed on a file or
    written over the other files), and nothing written there."""
    from zeroshot.engines.gliner import bundled_models

    base = bundled_models()["gliner-minilm-general"]
    out = {"file": tmp_path / "notes.txt", "foreign-dir": tmp_path / "photos",
           "bundled": bundled_models()["gliner-minilm-fewnerd"], "base": base}[target]
    if target == "file":
        out.write_text("keep me")
    elif target == "foreign-dir":
        out.mkdir()
        (out / "keep.jpg").write_text("keep me")
    before = sorted((p.name, p.stat().st_mtime_ns) for p in
                    (out.iterdir() if out.is_dir() else [out]))
    rc = main(["train", str(bundled.path(bundled.FEWNERD_SAMPLE)), "--format", "fewnerd",
               "-o", str(out), "--base-model", str(base), "--max-steps", "1", "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err
    needle = {"file": "is a file", "foreign-dir": "holds files that are not a model's",
              "bundled": "bundled model", "base": "the model training starts from"}[target]
    assert needle in err and "dev before" not in err
    assert sorted((p.name, p.stat().st_mtime_ns) for p in
                  (out.iterdir() if out.is_dir() else [out])) == before


def test_a_model_directory_a_run_wrote_is_accepted_for_replacing(tmp_path):
    from zeroshot.training.export import MODEL_META, check_model_dir

    out = tmp_path / "m"
    assert check_model_dir(out) == out  # new
    out.mkdir()
    assert check_model_dir(out) == out  # empty
    (out / MODEL_META).write_text("{}")
    (out / "README.md").write_text("card")
    assert check_model_dir(out) == out  # an earlier run's model: replaced
