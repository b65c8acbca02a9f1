"""`zeroshot extract --ray`: the batch job through Ray Data actors gives the same
rows as the local runner, keeps bad records, and resumes."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from zeroshot.batch import Record, read_inputs
from zeroshot.cli import main
from zeroshot.core.errors import ZeroshotError
from zeroshot.core.schema import Schema
from zeroshot.core.text import TokenizedText

sys.path.insert(0, str(Path(__file__).parent / "engines" / "llm"))
from tiny_llm import need

SENTENCES = [
    "Barack Obama met Angela Merkel in Berlin .",
    "Serena Williams won the 2002 Wimbledon Championships .",
    "Toyota builds the Corolla in Japan .",
    "The Democratic Party won the election .",
]


def _rows(path: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), "a record was written twice"
    return {r["id"]: r for r in rows}


def test_record_round_trip_keeps_token_boundaries():
    tok = TokenizedText.from_tokens(["New", "York", "!"])
    for rec in (Record("a", tok), Record("b", "plain text"), Record("c", None, "not UTF-8")):
        back = Record.from_dict(json.loads(json.dumps(rec.to_dict())))
        assert back == rec


def test_ray_matches_local_and_resumes(tmp_path, capsys):
    need("ray", "gliner")
    schema = tmp_path / "schema.json"
    Schema.from_labels(["politician", "athlete", "car", "political party"]).save(schema)
    lines = [s for _ in range(5) for s in SENTENCES] + ["   "]
    src = tmp_path / "in.txt"
    src.write_bytes("\n".join(lines).encode() + b"\nbad \xff byte\n")
    n_records = len(list(read_inputs([src])))
    common = ["extract", str(src), "--schema", str(schema), "--threshold", "0.3", "-q",
              "--batch-size", "4"]

    assert main([*common, "-o", str(tmp_path / "local.jsonl")]) == 1  # one bad record
    local = _rows(tmp_path / "local.jsonl")
    assert len(local) == n_records == 21

    # resume: half the records are already done (the same configuration: the Ray
    # workers' engine has the local engine's identity)
    ray_out = tmp_path / "ray.jsonl"
    done = list(local.values())[:10]
    ray_out.write_text("".join(json.dumps(r) + "\n" for r in done), encoding="utf-8")
    shutil.copy(tmp_path / "local.jsonl.meta.json", tmp_path / "ray.jsonl.meta.json")
    capsys.readouterr()
    assert main([*common, "-o", str(ray_out), "--ray", "--workers", "2"]) == 1
    ok = sum(r["error"] is None for r in done)  # a row with an error is not done: retried
    retried = f", {10 - ok} retried" if ok < 10 else ""
    assert f"{21 - ok} documents (1 failed, {ok} already done{retried})" in \
        capsys.readouterr().err
    got = _rows(ray_out)
    assert got.keys() == local.keys()
    for rid, row in local.items():
        assert got[rid]["error"] == row["error"]
        assert [(s["start"], s["end"], s["label"]) for s in got[rid]["spans"]] == \
               [(s["start"], s["end"], s["label"]) for s in row["spans"]], rid
    assert sum(len(r["spans"]) for r in got.values()) >= 10  # the model finds entities
    bad = [r for r in got.values() if r["error"]]
    assert len(bad) == 1 and "not UTF-8" in bad[0]["error"]


def test_ray_missing_is_a_clear_error(tmp_path, monkeypatch):
    import zeroshot.batch_ray as batch_ray

    monkeypatch.setitem(sys.modules, "ray", None)
    src = tmp_path / "in.txt"
    src.write_text("Ada met Bob .\n")
    with pytest.raises(ZeroshotError, match=r"--ray needs Ray Data: pip install 'zeroshot\[ray\]'"):
        batch_ray.RayBatchRunner("gliner", Schema.from_labels(["person"]), progress=False).run(
            read_inputs([src]), tmp_path / "out.jsonl")
