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
