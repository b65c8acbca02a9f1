import json
import subprocess
import sys

from zeroshot.cli import main
from zeroshot.core.loaders import read_fewnerd
from zeroshot.core.spans import DocumentResult
from zeroshot.data import FEWNERD_SAMPLE, path


def test_help_reads_well():
    out = subprocess.run([sys.executable, "-m", "zeroshot", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for cmd in ("sanity", "score", "schema"):
        assert cmd in out


def test_every_subcommand_help_describes_each_option():
    import argparse

    from zeroshot.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) >= {"extract", "train", "distill", "score", "bench", "serve"}
    for name, sp in sub.choices.items():
        text = sp.format_help()
        assert sp.description, name
        assert "%%" not in text and "%(" not in text, name  # no formatting left over
        undocumented = [a.option_strings or a.dest for a in sp._actions
                        if a.help is None and not isinstance(a, argparse._HelpAction)]
        assert not undocumented, (name, undocumented)


def test_sanity_on_bundled_sample(tmp_path, capsys):
    card, js = tmp_path / "card.md", tmp_path / "s.json"
    assert main(["sanity", "--card", str(card), "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert "sanity check PASSED" in out
    result = json.loads(js.read_text())
    assert result["ok"] and result["n_documents"] == 200
    for mode, exp in result["expected"].items():
        assert abs(result["measured"][mode]["f1"] - exp["f1"]) < 1e-9
        assert f"{100 * exp['f1']:.2f}" in out
    assert "**missed**" in card.read_text()


def test_sanity_full_split(fewnerd_dir, capsys):
    assert main(["sanity", "--data", str(fewnerd_dir / "inter/test.txt.gz"),
                 "--schema", "fewnerd_inter_test"]) == 0
    assert "documents: 14006, gold spans: 28341" in capsys.readouterr().out


def test_score_command(tmp_path, capsys):
    sample = path(FEWNERD_SAMPLE)
    examples = list(read_fewnerd(sample, limit=50))
    preds = tmp_path / "p.jsonl"
    with preds.open("w") as fh:
        for ex in examples[:-1]:  # the last document has no prediction: scored as empty
            doc = DocumentResult(text=ex.text, spans=ex.spans, id=ex.id, engine="gold")
            fh.write(json.dumps(doc.to_dict()) + "\n")
    report = tmp_path / "r.json"
    card = tmp_path / "c.md"
    assert main(["score", str(sample), str(preds), "--schema", "fewnerd_inter_test",
                 "--json", str(report), "--card", str(card)]) == 0
    data = json.loads(report.read_text())
    assert data["strict"]["micro"]["precision"] == 1.0
    assert data["n_documents"] == 200


def test_schema_command(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x", "entity_types": [{"name": "a"}, {"name": "a"}]}')
    assert main(["schema", "news", str(bad)]) == 1
    captured = capsys.readouterr()
    assert "ok news" in captured.out and "duplicate entity type name 'a'" in captured.err
    assert main(["schema", "pii", "--json-schema"]) == 0
    assert '"additionalProperties": false' in capsys.readouterr().out


def test_errors_are_clean(capsys):
    assert main(["sanity", "--data", "/nonexistent.txt"]) == 2
    assert "error: /nonexistent.txt: file not found" in capsys.readouterr().err


def test_prepare_model_unknown_name(tmp_path, capsys):
    assert main(["prepare-model", "gpt-9", "--cache-dir", str(tmp_path)]) == 2
    assert "unknown model 'gpt-9'" in capsys.readouterr().err


def test_serve_missing_model_dir(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "nope"), "--port", "0"]) == 2
    assert "not found" in capsys.readouterr().err


def test_extract_a_gold_file_then_score_it(tmp_path, capsys):
    """The documented workflow: `extract gold.txt --format fewnerd` then `score gold.txt
    pred.jsonl` pairs every document (one id scheme), with or without --format."""
    import importlib.util
    import os

    import pytest

    if importlib.util.find_spec("gliner") is None and not os.environ.get("CI"):
        pytest.skip("gliner not installed")
    lines = path(FEWNERD_SAMPLE).read_text(encoding="utf-8").split("\n\n")[:20]
    gold = tmp_path / "gold.txt"
    gold.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    for fmt in (["--format", "fewnerd"], []):
        pred = tmp_path / f"pred{len(fmt)}.jsonl"
        assert main(["extract", str(gold), *fmt, "-o", str(pred), "--schema",
                     "fewnerd_inter_test", "--threshold", "0.3", "-q", "--threads", "1"]) == 0
        report = tmp_path / "r.json"
        capsys.readouterr()
        assert main(["score", str(gold), str(pred), "--json", str(report)]) == 0
        data = json.loads(report.read_text())
        assert data["n_documents"] == 20 and data["strict"]["micro"]["f1"] > 0.2
        assert "no prediction" not in capsys.readouterr().err
    # ids that match nothing are an error, not a zero
    renamed = tmp_path / "renamed.jsonl"
    rows = [json.loads(line) for line in pred.read_text().splitlines()]
    renamed.write_text("".join(json.dumps({**r, "id": str(i)}) + "\n"
                               for i, r in enumerate(rows)))
    assert main(["score", str(gold), str(renamed)]) == 2
    err = capsys.readouterr().err
    assert "20 of 20 prediction ids match no document" in err and "gold.txt:0" in err


def test_score_refuses_predictions_of_another_text(tmp_path, capsys):
    examples = list(read_fewnerd(path(FEWNERD_SAMPLE), limit=3))
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps(DocumentResult(text=ex.text + " !", id=ex.id).to_dict())
                             + "\n" for ex in examples))
    assert main(["score", str(path(FEWNERD_SAMPLE)), str(preds)]) == 2
    assert "3 predictions have another text than their gold" in capsys.readouterr().err


import pytest  # noqa: E402


@pytest.mark.parametrize("flags, needle", [
    (["--threads", "0"], "--threads: 0: must be at least 1"),
    (["--batch-size", "0"], "--batch-size: 0: must be at least 1"),
    (["--shots", "-1"], "--shots: -1: must be at least 0"),
    (["--threads", "two"], "--threads: 'two': not an integer"),
    (["--threshold", "2"], "--threshold: '2': must be a number in [0, 1]"),
    (["--threshold", "-1"], "--threshold: '-1': must be a number in [0, 1]"),
    (["--threshold", "nan"], "--threshold: 'nan': must be a number in [0, 1]"),
    (["--max-chars", "0"], "--max-chars: 0: must be at least 1"),
    (["--workers", "0"], "--workers: 0: must be at least 1"),
    (["--timeout", "0"], "--timeout: 0: must be a positive number of seconds"),
    (["--retries", "-1"], "--retries: -1: must be at least 0"),
])
def test_extract_bad_numbers_are_usage_errors(tmp_path, capsys, flags, needle):
    with pytest.raises(SystemExit) as exit_:
        main(["extract", str(tmp_path / "in.txt"), "-o", str(tmp_path / "o.jsonl"),
              "--schema", "news", *flags])
    assert exit_.value.code == 2
    assert needle in capsys.readouterr().err


@pytest.mark.parametrize("command, flags, needle", [
    ("train", ["--batch-size", "0"], "--batch-size: 0: must be at least 1"),
    ("train", ["--lr", "nan"], "--lr: nan: must be a positive number"),
    ("train", ["--head-lr=-1e-5"], "--head-lr: -1e-5: must be a positive number"),
    ("train", ["--epochs", "-1"], "--epochs: -1: must be a positive number"),
    ("train", ["--dev-fraction", "1.5"], "--dev-fraction: 1.5: must be a number between 0 and 1"),
    ("train", ["--dev-fraction", "0"], "--dev-fraction: 0: must be a number between 0 and 1"),
    ("train", ["--threads", "0"], "--threads: 0: must be at least 1"),
    ("train", ["--patience", "0"], "--patience: 0: must be at least 1"),
    ("train", ["--max-steps", "0"], "--max-steps: 0: must be at least 1"),
    ("train", ["--eval-every", "x"], "--eval-every: 'x': not an integer"),
    ("distill", ["--shots", "-1"], "--shots: -1: must be at least 0"),
    ("distill", ["--teacher-batch-size", "0"], "--teacher-batch-size: 0: must be at least 1"),
    ("distill", ["--learning-rate", "0"], "--learning-rate: 0: must be a positive number"),
    ("distill", ["--replay-ratio", "-2"], "--replay-ratio: -2: must be a number >= 0"),
    ("distill", ["--dev-fraction", "1"], "--dev-fraction: 1: must be a number between 0 and 1"),
    ("distill", ["--report-teacher-limit", "-1"], "--report-teacher-limit: -1: must be at least 0"),
    ("extract", ["--window", "0"], "--window: 0: must be at least 1"),
    ("extract", ["--max-tokens", "-5"], "--max-tokens: -5: must be at least 1"),
    ("extract", ["--candidate-threshold", "1.5"], "--candidate-threshold: '1.5': must be a number"),
    ("extract", ["--accept-threshold", "inf"], "--accept-threshold: 'inf': must be a number"),
    ("sanity", ["--rate", "0.5"], "--rate: 0.5: must be a number in [0, 1/3]"),
    ("sanity", ["--rate", "-1"], "--rate: -1: must be a number in [0, 1/3]"),
    ("sanity", ["--limit", "0"], "--limit: 0: must be at least 1"),
    ("bench", ["--llm-limit", "0"], "--llm-limit: 0: must be at least 1"),
    ("bench", ["--latency-samples", "-1"], "--latency-samples: -1: must be at least 0"),
    ("demo", ["--threads", "-2"], "--threads: -2: must be at least 1"),
    ("serve", ["--kv-cache-gib", "0"], "--kv-cache-gib: 0: must be at least 1"),
])
def test_bad_numbers_are_usage_errors_in_every_command(tmp_path, capsys, command, flags,
                                                       needle):
    """Each numeric flag is checked when parsed, before a model loads or data is read
    (a bad --lr used to surface as torch's traceback after the model had loaded)."""
    positional = {"train": [str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "m")],
                  "extract": [str(tmp_path / "in.txt"), "-o", str(tmp_path / "o.jsonl"),
                              "--schema", "news"]}.get(command, [])
    with pytest.raises(SystemExit) as exit_:
        main([command, *positional, *flags])
    assert exit_.value.code == 2
    assert needle in capsys.readouterr().err


def test_server_options_need_a_server(tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("Ada ran\n")
    assert main(["extract", str(src), "-o", str(tmp_path / "o.jsonl"), "--schema", "news",
                 "--timeout", "5"]) == 2
    assert "--timeout applies to an LLM server" in capsys.readouterr().err


def test_reports_never_overwrite_their_inputs(tmp_path, capsys):
    examples = list(read_fewnerd(path(FEWNERD_SAMPLE), limit=3))
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps({**DocumentResult(text=ex.text, id=ex.id).to_dict(),
                                         "error": None}) + "\n" for ex in examples))
    before = preds.read_text()
    assert main(["view", str(preds), "-o", str(preds)]) == 2
    assert main(["score", str(path(FEWNERD_SAMPLE)), str(preds), "--json", "-"]) == 2
    assert "not a report target" in capsys.readouterr().err
    assert main(["score", str(path(FEWNERD_SAMPLE)), str(preds), "--json", str(preds)]) == 2
    assert "refusing to write" in capsys.readouterr().err and preds.read_text() == before


def test_hybrid_options_reach_the_engine_options():
    """--candidate-threshold, --hints and --accept-threshold go to mode="hybrid" only."""
    from zeroshot.cli import _bench_llm_options, _llm_options, build_parser

    args = build_parser().parse_args(["extract", "in.jsonl", "-o", "out.jsonl", "--schema",
                                      "news", "--engine", "llm", "--mode", "hybrid",
                                      "--accept-threshold", "0.5", "--no-hints"])
    assert _llm_options(args) == {"accept_threshold": 0.5, "hints": False}
    bench = build_parser().parse_args(["bench", "--accept-threshold", "0.6"])
    assert "hybrid" in bench.engines.split(",")  # the default engines include the hybrid row
    assert _bench_llm_options(bench, "hybrid")["accept_threshold"] == 0.6
    assert "accept_threshold" not in _bench_llm_options(bench, "llm")


def test_extract_hands_gliner_its_own_batch_per_call():
    """`zeroshot extract` gives the GLiNER engine as many documents per call as its
    batch holds on CPU, four batches on CUDA (a GPU batch of 1024 got 32 before);
    other engines get 32."""
    from types import SimpleNamespace

    from zeroshot.cli import _docs_per_call
    from zeroshot.engines.gliner import GlinerEngine

    engine = GlinerEngine("gliner-minilm-general", threads=1)
    try:
        assert _docs_per_call(engine) == engine.batch_size == 128
    finally:
        engine.close()
    assert _docs_per_call(SimpleNamespace(name="llm", batch_size=512)) == 32
    # on CUDA four batches per call, so the engine's pipeline has batches to overlap
    gpu = SimpleNamespace(name="gliner", batch_size=1024, device="cuda")
    assert _docs_per_call(gpu) == 4096


def test_extract_with_ray_hands_gliner_actors_their_engine_batch():
    """The Ray runner's blocks are the batch its actors' engines will use (the engine
    is built in each actor, so the default is read before it exists)."""
    from zeroshot.cli import _ray_docs_per_call
    from zeroshot.engines.gliner import default_batch_size

    assert _ray_docs_per_call("gliner", {"threads": 1}) == default_batch_size("cpu") == 128
    assert _ray_docs_per_call("gliner", {"device": "cuda"}) == 4 * default_batch_size("cuda")
    assert _ray_docs_per_call("gliner", {"device": "cuda", "batch_size": 256}) == 1024
    assert _ray_docs_per_call("llm", {"device": "cuda"}) == 32


def test_extract_with_ad_hoc_labels(tmp_path, capsys):
    """`--labels` is the command line's `extract(text, ["person", "city"])`: each label is a
    type name in the output, and it travels to the engine as the words it scores."""
    import importlib.util
    import os

    import pytest

    if importlib.util.find_spec("gliner") is None and not os.environ.get("CI"):
        pytest.skip("gliner not installed")
    src = tmp_path / "in.txt"
    src.write_text("Ada Lovelace met Charles Babbage in London .\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["extract", str(src), "-o", str(out), "--labels", "person, city",
                 "--model", "gliner-minilm-general", "--threshold", "0.5", "-q",
                 "--threads", "1"]) == 0
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert {(s["text"], s["label"]) for s in row["spans"]} == {
        ("Ada Lovelace", "person"), ("Charles Babbage", "person"), ("London", "city")}
    meta = json.loads((tmp_path / "out.jsonl.meta.json").read_text())["config"]["schema"]
    assert [t["name"] for t in meta["entity_types"]] == ["person", "city"]
    assert meta["options"]["overlap"] == "flat"
    # --overlap sets the policy a --labels user cannot write in a schema file
    nested = tmp_path / "nested.jsonl"
    src.write_text("The University of California Berkeley campus opened .\n", encoding="utf-8")
    assert main(["extract", str(src), "-o", str(nested), "--labels", "university",
                 "--overlap", "nested", "--threshold", "0.05", "--model",
                 "gliner-minilm-general", "-q", "--threads", "1"]) == 0
    meta = json.loads((tmp_path / "nested.jsonl.meta.json").read_text())["config"]["schema"]
    assert meta["options"]["overlap"] == "nested"
    (row,) = [json.loads(line) for line in nested.read_text().splitlines()]
    spans = [(s["start"], s["end"]) for s in row["spans"]]
    assert any(a[0] <= b[0] and b[1] <= a[1] and a != b for a in spans for b in spans), spans


@pytest.mark.parametrize("flags, needle", [
    (["--labels", "person,,city"], "none empty"),
    (["--labels", " "], "none empty"),
    (["--labels", "person", "--schema", "news"], "not allowed with argument"),
    ([], "one of the arguments --schema --labels is required"),
    (["--labels", "person", "--overlap", "crossing"], "invalid choice: 'crossing'"),
])
def test_extract_labels_usage_errors(tmp_path, capsys, flags, needle):
    with pytest.raises(SystemExit) as exc:
        main(["extract", str(tmp_path / "in.txt"), "-o", str(tmp_path / "o.jsonl"), *flags])
    assert exc.value.code == 2 and needle in capsys.readouterr().err


def test_duplicate_labels_name_the_flag(tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("x\n", encoding="utf-8")
    assert main(["extract", str(src), "-o", str(tmp_path / "o.jsonl"),
                 "--labels", "person,Person"]) == 2
    err = capsys.readouterr().err
    assert "--labels" in err and "duplicate entity type label 'person'" in err
    assert not (tmp_path / "o.jsonl").exists()


def test_score_with_labels_restricts_the_types(tmp_path, capsys):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"id": "a", "text": "Ada in Paris", "spans": [
        {"start": 0, "end": 3, "label": "person"}, {"start": 7, "end": 12, "label": "city"}]})
        + "\n", encoding="utf-8")
    pred = tmp_path / "pred.jsonl"
    pred.write_text(json.dumps({"id": "a", "text": "Ada in Paris", "spans": [
        {"start": 0, "end": 3, "label": "person", "text": "Ada"}]}) + "\n", encoding="utf-8")
    report = tmp_path / "r.json"
    assert main(["score", str(gold), str(pred), "--labels", "person", "--json",
                 str(report)]) == 0
    assert json.loads(report.read_text())["strict"]["micro"]["f1"] == 1.0
    assert main(["score", str(gold), str(pred), "--json", str(report)]) == 0
    assert json.loads(report.read_text())["strict"]["micro"]["f1"] < 1.0
    # types that neither side has would score 0.0 everywhere: an error naming them
    capsys.readouterr()
    assert main(["score", str(gold), str(pred), "--labels", "dish,Person"]) == 2
    err = capsys.readouterr().err
    assert "none of the 2 types to score ('dish, Person')" in err and "city, person" in err


def test_view_writes_to_stdout_and_refuses_files_without_results(tmp_path, capsys):
    results = tmp_path / "out.jsonl"
    doc = DocumentResult(text="Ada ran", id="a")
    results.write_text(json.dumps(doc.to_dict()) + "\n", encoding="utf-8")
    assert main(["view", str(results), "-o", "-"]) == 0
    page = capsys.readouterr().out
    assert page.startswith("<!DOCTYPE html>") and "Ada ran" in page
    assert not (tmp_path / "-").exists() and not (tmp_path / "out.html").exists()
    notes = tmp_path / "notes.jsonl"
    notes.write_text('{"my": "data"}\n', encoding="utf-8")
    assert main(["view", str(notes), "-o", str(tmp_path / "page.html")]) == 2
    assert "no result rows to show" in capsys.readouterr().err
    assert not (tmp_path / "page.html").exists()
    empty = tmp_path / "empty.jsonl"  # a run over no documents: an empty page, not an error
    empty.write_text("", encoding="utf-8")
    assert main(["view", str(empty), "-o", str(tmp_path / "empty.html")]) == 0


@pytest.mark.parametrize("make, needle", [
    (lambda d: d / "nope.txt", "text file not found"),
    (lambda d: d, "is a directory, not a text file"),
    (lambda d: (d / "blank.txt", (d / "blank.txt").write_text("\n  \n"))[0],
     "no text (every line is blank)"),
    (lambda d: (d / "bin.txt", (d / "bin.txt").write_bytes(b"\xff\xfe"))[0], "not UTF-8"),
])
def test_demo_text_problems_are_clean_errors(tmp_path, capsys, make, needle):
    assert main(["demo", "--text", str(make(tmp_path)), "--labels", "person"]) == 2
    assert needle in capsys.readouterr().err


def test_output_folders_that_are_files_are_clean_errors(tmp_path, capsys):
    """bench --out / distill --out naming a file: an error naming it (a FileExistsError
    traceback before), the file untouched, before any engine loads."""
    src = tmp_path / "texts.txt"
    src.write_text("Ada Lovelace met Charles Babbage .\n")
    taken = tmp_path / "notes.txt"
    taken.write_text("keep me")
    commands = [["bench", "--data", str(path(FEWNERD_SAMPLE)), "--engines", "gliner",
                 "--limit", "2", "--out", str(taken)],
                ["distill", str(src), "--labels", "person", "--out", str(taken)]]
    for argv in commands:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert f"{taken} is a file; give a new or existing folder for the" in err, err
        assert taken.read_text() == "keep me"
