"""Batch extraction: every input format, bad records, resume after kill -9, viewer."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zeroshot.batch import BatchRunner, Record, finished_ids, read_inputs, read_results
from zeroshot.cli import main
from zeroshot.core.issues import ENGINE_ERROR
from zeroshot.core.schema import Schema
from zeroshot.core.spans import DocumentResult, Issue, Span
from zeroshot.results import OutputError, read_meta

sys.path.insert(0, str(Path(__file__).parent / "engines" / "llm"))
from fake_openai import FakeOpenAI
from tiny_llm import need


class Echo:
    """A tiny rule engine for runner mechanics: marks capitalised words; fails
    on texts containing 'CRASH' to stand for a model failing on one record, and
    reports a server failure (an engine_error issue) on texts containing 'DOWN'."""

    name = "echo"

    def __init__(self, version: int = 1, failing: bool = True) -> None:
        self.version = version
        self.failing = failing

    def identity(self):
        return {"engine": self.name, "version": self.version}

    def close(self):
        pass

    def extract(self, texts, schema, ids=None):
        out = []
        for i, t in enumerate(texts):
            text = t if isinstance(t, str) else t.text
            if self.failing and "CRASH" in text:
                raise RuntimeError("model failed")
            if self.failing and "DOWN" in text:
                out.append(DocumentResult(text, id=ids[i] if ids else None, engine=self.name,
                                          issues=(Issue(ENGINE_ERROR, "server answered 503"),)))
                continue
            spans = []
            pos = 0
            for w in text.split(" "):
                if w[:1].isupper():
                    spans.append(Span(pos, pos + len(w), "thing", w))
                pos += len(w) + 1
            out.append(DocumentResult(text, tuple(spans), id=ids[i] if ids else None,
                                      engine=self.name))
        return out


SCHEMA = Schema.from_labels(["thing"])


def test_every_input_format(tmp_path):
    (tmp_path / "a.txt").write_text("Ada met Bob\n\nCarl ran\n")
    (tmp_path / "b.jsonl").write_text(
        '{"doc": "x1", "body": "Oslo is cold"}\n{"doc": "x2", "tokens": ["New", "York"]}\n')
    (tmp_path / "c.conll").write_text("Rome\tB-LOC\nis\tO\n\nParis\tB-LOC\n")
    recs = list(read_inputs([tmp_path / "a.txt", tmp_path / "b.jsonl", tmp_path / "c.conll"],
                            text_field="body", id_field="doc"))
    assert [r.id for r in recs] == ["a.txt:1", "a.txt:3", "x1", "x2", "c.conll:0", "c.conll:1"]
    assert recs[3].text.text == "New York" and recs[4].text.text == "Rome is"
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "one.txt").write_text("Line one\nLine two\n")
    [rec] = read_inputs([tmp_path / "d" / "one.txt"], per_file=True)
    assert rec.id == "one.txt" and rec.text == "Line one\nLine two\n"


def test_column_files_read_tokens_whatever_the_tags(tmp_path):
    """Extraction needs only the tokens: IO tags in a .conll file, no tags at all,
    gzip, -DOCSTART- and a non-UTF-8 line cost at most their own sentence."""
    import gzip

    (tmp_path / "io.conll").write_text("Paris\tlocation-GPE\nis\tO\n\nOslo\tlocation-GPE\n")
    (tmp_path / "bare.conll").write_bytes(b"-DOCSTART- -X- O\n\nAda\nran\n\nbad\xff\nline\n\n"
                                          b"Bob\nwalked\n")
    with gzip.open(tmp_path / "t.txt.gz", "wb") as fh:
        fh.write(b"Rome\tlocation-GPE\n\n")
    recs = list(read_inputs([tmp_path / "io.conll", tmp_path / "bare.conll"]))
    recs += list(read_inputs([tmp_path / "t.txt.gz"], fmt="fewnerd"))
    assert [(r.id, r.text.text if r.text else None) for r in recs] == [
        ("io.conll:0", "Paris is"), ("io.conll:1", "Oslo"), ("bare.conll:0", "Ada ran"),
        ("bare.conll:1", None), ("bare.conll:2", "Bob walked"), ("t.txt.gz:0", "Rome")]
    assert "bare.conll:6: not UTF-8" in recs[3].error


def test_jsonl_tokens_that_are_not_words_are_named_or_counted(tmp_path, caplog):
    """A ``tokens`` field is read as the words only when it is a list of non-empty
    strings. Beside a text it is counted and the text read (one warning per file);
    alone it is the record's error, saying what is wrong with it."""
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(o) + "\n" for o in [
        {"id": "a", "tokens": ["Ada", 3]},
        {"id": "b", "tokens": "Ada ran"},
        {"id": "c", "tokens": []},
        {"id": "d", "tokens": ["Ada", ""]},
        {"id": "e", "tokens": 512, "text": "Ada ran"},
        {"id": "f", "tokens": ["Ada", None], "text": "Ada ran"},
        {"id": "g", "tokens": ["Ada", "ran"], "text": "ignored"},
    ]))
    with caplog.at_level(logging.WARNING, logger="zeroshot.batch"):
        recs = {r.id: r for r in read_inputs([tmp_path / "t.jsonl"])}
    assert "tokens[1] is int, not a string, and no string field 'text'" in recs["a"].error
    assert "'tokens' is str, not a list of strings" in recs["b"].error
    assert "'tokens' is an empty list" in recs["c"].error
    assert "tokens[1] is an empty string" in recs["d"].error
    assert recs["e"].text == recs["f"].text == "Ada ran" and not recs["e"].error
    assert list(recs["g"].text.tokens) == ["Ada", "ran"]
    [warning] = [r.getMessage() for r in caplog.records]
    assert "2 records have a tokens field that is not a list of words" in warning


def test_plain_text_read_as_a_column_format_is_warned_of(tmp_path, caplog):
    (tmp_path / "prose.txt").write_text("Ada Lovelace met Charles Babbage .\n\nBob went home .\n")
    (tmp_path / "real.conll").write_text("EU NNP B-NP B-ORG\n\nPeter NNP B-NP B-PER\n"
                                         "Blackburn NNP I-NP I-PER\n")
    with caplog.at_level(logging.WARNING, logger="zeroshot.batch"):
        recs = list(read_inputs([tmp_path / "prose.txt"], fmt="conll"))
        assert [r.text.text for r in recs] == ["Ada", "Bob"]
        assert "every one of its 2 sentences is a single line" in caplog.text
        assert "--format txt" in caplog.text
        caplog.clear()
        assert len(list(read_inputs([tmp_path / "real.conll"]))) == 2
        assert not caplog.records


def test_gzipped_text_and_jsonl_inputs(tmp_path):
    """``.txt.gz`` and ``.jsonl.gz`` are read decompressed (told by their bytes),
    like the column formats, not as undecodable bytes."""
    import gzip

    with gzip.open(tmp_path / "a.txt.gz", "wb") as fh:
        fh.write("Zoë met Bob\n\nCarl ran\n".encode())
    with gzip.open(tmp_path / "b.jsonl.gz", "wb") as fh:
        fh.write(b'{"id": "x1", "text": "Oslo is cold"}\n')
    with gzip.open(tmp_path / "c.txt.gz", "wb") as fh:
        fh.write(b"one document\nin two lines\n")
    recs = list(read_inputs([tmp_path / "a.txt.gz", tmp_path / "b.jsonl.gz"]))
    assert [(r.id, r.text, r.error) for r in recs] == [
        ("a.txt.gz:1", "Zoë met Bob", None), ("a.txt.gz:3", "Carl ran", None),
        ("x1", "Oslo is cold", None)]
    [rec] = read_inputs([tmp_path / "c.txt.gz"], per_file=True)
    assert rec.text == "one document\nin two lines\n"


def test_bad_records_are_written_with_errors(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"id": "ok", "text": "Ada ran"}\n'
                    b'{"id": "bytes", "text": "caf\xe9"}\n'
                    b'not json\n'
                    b'{"id": "empty", "text": "  "}\n'
                    b'{"id": "long", "text": "' + b"a" * 50 + b'"}\n'
                    b'{"id": "crash", "text": "CRASH now"}\n'
                    b'{"id": "nofield"}\n'
                    b'{"id": "ok2", "text": "Bob ran"}\n')
    out = tmp_path / "out.jsonl"
    summary = BatchRunner(Echo(), SCHEMA, batch_size=4, max_chars=40, progress=False).run(
        read_inputs([src]), out)
    rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(rows) == {"ok", "in.jsonl:2", "in.jsonl:3", "empty", "long", "crash",
                         "nofield", "ok2"}
    assert "not UTF-8" in rows["in.jsonl:2"]["error"]
    assert "invalid JSON" in rows["in.jsonl:3"]["error"]
    assert rows["empty"]["error"] == "empty text"
    assert rows["long"]["error"].startswith("text too long: 50 characters (limit 40; raise "
                                            "max_chars")
    assert rows["crash"]["error"] == "RuntimeError: model failed"
    assert "no string field 'text'" in rows["nofield"]["error"]
    assert rows["ok"]["error"] is None and rows["ok"]["spans"][0]["text"] == "Ada"
    assert rows["ok2"]["spans"][0]["text"] == "Bob"  # the crash cost only itself
    assert (summary.documents, summary.failed, summary.spans) == (8, 6, 2)


def test_resume_cuts_a_torn_line_and_skips_finished(tmp_path):
    out = tmp_path / "out.jsonl"
    runner = BatchRunner(Echo(), SCHEMA, progress=False)
    runner.run([Record("a.txt:1", "Ada")], out)
    good = out.read_text()
    with out.open("a") as fh:
        fh.write('{"id": "a.txt:2", "te')  # what a kill mid-write leaves
    assert finished_ids(out) == {"a.txt:1"}
    assert out.read_text() == good
    recs = [Record("a.txt:1", "Ada"), Record("a.txt:2", "Bob"), Record("a.txt:2", "Bob")]
    summary = runner.run(recs, out)
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert ids == ["a.txt:1", "a.txt:2", "a.txt:2#2"]
    assert (summary.skipped, summary.documents) == (1, 2)


def test_failed_rows_are_retried_on_resume_and_the_last_row_wins(tmp_path):
    """A record that failed (the model raising, or a server error reported as an
    engine_error issue) is an error row, counted, and not done: a resumed run
    extracts it again; the file then holds one row per id."""
    out = tmp_path / "out.jsonl"
    recs = [Record("a", "Ada ran"), Record("b", "DOWN Bob"), Record("c", "CRASH Cy"),
            Record("d", "Dan ran")]
    first = BatchRunner(Echo(), SCHEMA, progress=False).run(recs, out)
    assert (first.documents, first.failed) == (4, 2)
    rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows["b"]["error"] == "server answered 503" and rows["b"]["spans"] == []
    assert rows["b"]["issues"][0]["kind"] == "engine_error"
    assert rows["c"]["error"] == "RuntimeError: model failed"
    assert finished_ids(out) == {"a", "d"}
    again = BatchRunner(Echo(failing=False), SCHEMA, progress=False).run(recs, out)
    assert (again.documents, again.failed, again.retried, again.skipped) == (2, 0, 2, 2)
    assert "2 retried" in again.line()
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert sorted(ids) == ["a", "b", "c", "d"]  # compacted: the failed rows are gone
    results = {d.id: (d, err) for d, err in read_results(out)}
    assert results["b"][1] is None and [s.text for s in results["b"][0].spans] == ["DOWN", "Bob"]


def test_read_ahead_sorts_by_length_and_resume_stays_exact(tmp_path):
    out = tmp_path / "out.jsonl"
    texts = ["Aaaaa a", "B", "Cccc c", "Dd", "Eee e", "F"]
    recs = [Record(f"r{i}", t) for i, t in enumerate(texts)]
    runner = BatchRunner(Echo(), SCHEMA, batch_size=2, read_ahead=4, progress=False)
    runner.run(recs, out)
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert ids == ["r1", "r3", "r2", "r0", "r5", "r4"]  # each 4 read ahead, by length
    assert runner.run(recs, out).skipped == 6


def test_duplicate_ids_get_suffixes_that_collide_with_nothing(tmp_path):
    out = tmp_path / "out.jsonl"
    recs = [Record("a", "Ada"), Record("a", "Bob"), Record("a#2", "Cy")]
    BatchRunner(Echo(), SCHEMA, progress=False).run(recs, out)
    rows = {r["id"]: r["text"] for r in map(json.loads, out.read_text().splitlines())}
    assert rows == {"a": "Ada", "a#2": "Bob", "a#2#2": "Cy"}


def test_corrupt_line_in_the_middle_is_quarantined_not_the_rest(tmp_path, caplog):
    out = tmp_path / "out.jsonl"
    recs = [Record(f"r{i}", f"Word{i} here") for i in range(6)]
    runner = BatchRunner(Echo(), SCHEMA, progress=False)
    runner.run(recs, out)
    lines = out.read_text().splitlines(keepends=True)
    lines[2] = '{"id": "r2", "text": garbage\n'  # a damaged row in the middle
    lines.insert(4, "\x00\x00\x00\n")  # and a line that is no row at all
    out.write_text("".join(lines))
    summary = runner.run(recs, out)
    assert summary.documents == 1 and summary.skipped == 5  # only r2 is done again
    assert f"{out}:3" in caplog.text and f"{out}:5" in caplog.text
    assert "moved to" in caplog.text and "out.jsonl.corrupt" in caplog.text
    kept = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert sorted(kept) == [f"r{i}" for i in range(6)]
    corrupt = (tmp_path / "out.jsonl.corrupt").read_text()
    assert "# out.jsonl:3\n" in corrupt and "garbage" in corrupt


def test_lone_surrogate_input_is_an_error_row_and_the_run_goes_on(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a", "text": "Ada ran"}\n{"id": "b", "text": "\\ud800 Bob"}\n'
                   '{"id": "c", "text": "Cy ran"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    for _ in range(2):  # a rerun does not crash on it either
        summary = BatchRunner(Echo(), SCHEMA, progress=False).run(read_inputs([src]), out)
        assert summary.failed == 1
    rows = {r["id"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert "lone surrogate" in rows["in.jsonl:2"]["error"]
    assert rows["c"]["spans"][0]["text"] == "Cy"


def test_output_refusals_api(tmp_path):
    """Never write over an input, a directory or a file that is not results."""
    src = tmp_path / "in.txt"
    src.write_text("Ada ran\n")
    runner = BatchRunner(Echo(), SCHEMA, progress=False)
    for resume in (True, False):
        with pytest.raises(OutputError, match="over the input"):
            runner.run(read_inputs([src]), src, resume=resume)
        assert src.read_text() == "Ada ran\n"
    with pytest.raises(OutputError, match="is a directory"):
        runner.run(read_inputs([src]), tmp_path)
    with pytest.raises(OutputError, match="standard output is not a target"):
        runner.run(read_inputs([src]), Path("-"))
    assert not Path("-").exists()
    notes = tmp_path / "notes.jsonl"
    notes.write_text('{"my": "data"}\n')
    with pytest.raises(OutputError, match="is not a zeroshot results file"):
        runner.run(read_inputs([src]), notes)
    assert notes.read_text() == '{"my": "data"}\n'
    runner.run(read_inputs([src]), notes, resume=False)  # --overwrite: the user said so
    assert json.loads(notes.read_text())["id"] == "in.txt:1"


def test_configuration_is_recorded_and_a_mismatch_refuses(tmp_path):
    out = tmp_path / "out.jsonl"
    recs = [Record("a", "Ada ran")]
    BatchRunner(Echo(), SCHEMA, progress=False).run(recs, out)
    meta = read_meta(out)
    assert meta["config"]["engine"] == {"engine": "echo", "version": 1}
    assert meta["config"]["schema"]["entity_types"] == [{"name": "thing"}]
    assert all("id" in json.loads(line) for line in out.read_text().splitlines())
    other = Schema.from_labels(["thing"], threshold=0.7)
    with pytest.raises(OutputError, match=r"schema\.options\.threshold: \(none\) -> 0\.7"):
        BatchRunner(Echo(), other, progress=False).run(recs, out)
    with pytest.raises(OutputError, match=r"engine\.version: 1 -> 2"):
        BatchRunner(Echo(version=2), SCHEMA, progress=False).run(recs, out)
    (tmp_path / "out.jsonl.meta.json").unlink()
    with pytest.raises(OutputError, match="no record of the configuration"):
        BatchRunner(Echo(), SCHEMA, progress=False).run(recs, out)
    BatchRunner(Echo(version=2), SCHEMA, progress=False).run(recs, out, resume=False)
    assert read_meta(out)["config"]["engine"]["version"] == 2


def test_killed_run_resumes_without_loss_or_duplicates(tmp_path):
    """A real `zeroshot extract` subprocess with the GLiNER engine, killed with
    SIGKILL mid-run, then restarted with the same arguments."""
    if importlib.util.find_spec("gliner") is None and not os.environ.get("CI"):
        pytest.skip("gliner not installed")
    words = ["Serena", "Williams", "won", "the", "2002", "Wimbledon", "Championships", "in",
             "London"]
    src = tmp_path / "in.jsonl"
    with src.open("w") as fh:
        for i in range(240):
            fh.write(json.dumps({"id": f"d{i}", "text": " ".join(words[i % 5:])}) + "\n")
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "zeroshot", "extract", str(src), "-o", str(out), "--schema",
           "fewnerd_inter_test", "--threshold", "0.3", "--batch-size", "8", "-q",
           "--threads", "1"]
    proc = subprocess.Popen(cmd, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if out.exists() and out.read_text().count("\n") >= 40:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = out.read_text().count("\n")
    assert 40 <= partial < 240, "the run must be killed mid-way"
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert sorted(ids) == sorted(f"d{i}" for i in range(240))  # nothing lost, nothing twice
    engine = read_meta(out)["config"]["engine"]  # the model is recorded by its checksum
    assert any(k.endswith(".safetensors") and len(v) == 64 for k, v in engine.items()), engine
    fresh = tmp_path / "fresh.jsonl"
    subprocess.run([*cmd[:6], str(fresh), *cmd[7:]], check=True)
    by_id = {d.id: d for d, _ in read_results(out)}
    for d, _ in read_results(fresh):
        assert by_id[d.id].spans == d.spans


def test_cli_extract_then_view(tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("Serena Williams won Wimbledon .\n\xff\n")
    out = tmp_path / "out.jsonl"
    if importlib.util.find_spec("gliner") is None and not os.environ.get("CI"):
        pytest.skip("gliner not installed")
    code = main(["extract", str(src), "-o", str(out), "--schema", "fewnerd_inter_test",
                 "--threshold", "0.3", "-q"])
    assert code == 0  # "\xff" written as UTF-8 is valid text
    err = capsys.readouterr().err
    assert "2 documents (0 failed" in err
    assert main(["view", str(out)]) == 0
    page = out.with_suffix(".html").read_text()
    assert "<mark" in page and "person-athlete" in page


# --------------------------------------------------------------------------- the CLI
# against a fake OpenAI-compatible server on 127.0.0.1 that fails on demand


@pytest.fixture
def fake_server():
    need("openai")
    with FakeOpenAI(slow_s=0.5) as server:
        yield server


def _llm_args(server, src, out, *more):
    return ["extract", str(src), "-o", str(out), "--schema", "news", "--engine", "llm",
            "--server", server.base_url, "-q", *more]


def _write_jsonl(path, texts):
    path.write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n"
                            for i, t in enumerate(texts)), encoding="utf-8")


def test_cli_server_failures_fail_their_records_and_resume_retries_them(
        fake_server, tmp_path, capsys):
    """500 / 429 / timeout / dropped connection / garbage / no choices after retries:
    the record fails (error set, counted, exit 1); the others keep their spans; a
    rerun retries exactly the failed ones and the last row of each id wins."""
    texts = ["Ent1 met Ent2 .", "FAIL500 Ent3", "RATE429 Ent4", "HANG Ent5", "CLOSE Ent6",
             "GARBAGE Ent7", "NOCHOICES Ent8", "Ent9 ran ."]
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_jsonl(src, texts)
    args = _llm_args(fake_server, src, out, "--timeout", "0.5", "--retries", "1",
                     "--batch-size", "8")
    assert main(args) == 1
    assert "8 documents (6 failed, 0 already done)" in capsys.readouterr().err
    rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert [s["text"] for s in rows["d0"]["spans"]] == ["Ent1", "Ent2"]
    assert [s["text"] for s in rows["d7"]["spans"]] == ["Ent9"]
    for i in range(1, 7):
        assert rows[f"d{i}"]["error"] and rows[f"d{i}"]["spans"] == [], rows[f"d{i}"]
    assert "timed out after 0.5 s; gave up after 2 attempts" in rows["d3"]["error"]
    assert fake_server.count("FAIL500") == 2  # one retry
    fake_server.fail_words.clear()  # the server recovers
    assert main(args) == 0
    assert "6 documents (0 failed, 2 already done, 6 retried)" in capsys.readouterr().err
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert sorted(ids) == [f"d{i}" for i in range(8)]
    got = {d.id: [s.text for s in d.spans] for d, err in read_results(out) if err is None}
    assert got["d3"] == ["Ent5"] and len(got) == 8


def test_cli_refuses_bad_outputs_with_exit_2(fake_server, tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    _write_jsonl(src, ["Ent1 ran ."])
    before = src.read_bytes()
    for extra in ([], ["--overwrite"]):
        assert main(_llm_args(fake_server, src, src, *extra)) == 2
        assert "refusing to write the results over the input" in capsys.readouterr().err
        assert src.read_bytes() == before
    assert main(_llm_args(fake_server, src, tmp_path)) == 2
    assert "is a directory" in capsys.readouterr().err
    assert main(_llm_args(fake_server, src, "-")) == 2
    assert "standard output is not a target" in capsys.readouterr().err
    other = tmp_path / "notes.txt"
    other.write_text("my notes\n")
    assert main(_llm_args(fake_server, src, other)) == 2
    assert "is not a zeroshot results file; pass --overwrite" in capsys.readouterr().err
    assert other.read_text() == "my notes\n"
    assert main(_llm_args(fake_server, src, other, "--overwrite")) == 0
    assert fake_server.requests  # only the last run reached the server


def test_cli_configuration_mismatch_exits_2(fake_server, tmp_path, capsys):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_jsonl(src, ["Ent1 ran ."])
    assert main(_llm_args(fake_server, src, out, "--threshold", "0.3")) == 0
    for change in (["--threshold", "0.5"], ["--mode", "grounded"], ["--schema", "pii"]):
        assert main(_llm_args(fake_server, src, out, "--threshold", "0.3", *change)) == 2
        assert "was written with another configuration" in capsys.readouterr().err
    assert main(_llm_args(fake_server, src, out, "--threshold", "0.5", "--overwrite")) == 0


def _extract_cmd(server, src, out, *more):
    return [sys.executable, "-m", "zeroshot", *_llm_args(server, src, out, *more)]


def test_two_processes_on_one_output(fake_server, tmp_path):
    """Real processes: while one run writes the output, a second one on the same
    file exits 2 saying it is in use; the first completes with every id once."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_jsonl(src, [f"SLOW Ent{i} ran ." for i in range(6)])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    first = subprocess.Popen(_extract_cmd(fake_server, src, out, "--batch-size", "1"),
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lock = tmp_path / "out.jsonl.lock"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (
            (tmp_path / "out.jsonl.meta.json").exists()
            and lock.exists() and lock.read_text().strip() == str(first.pid)):
        time.sleep(0.05)
    second = subprocess.run(_extract_cmd(fake_server, src, out), env=env, capture_output=True,
                            text=True, timeout=120)
    assert second.returncode == 2, second.stderr
    assert f"is in use by another run (process {first.pid})" in second.stderr
    assert first.wait(timeout=120) == 0, first.stderr.read()
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert sorted(ids) == [f"d{i}" for i in range(6)]
    assert not lock.exists()  # the run that ended removed its lock file


def test_disk_full_stops_cleanly_and_resumes(fake_server, tmp_path):
    """A real process whose file size is limited (EFBIG, as ENOSPC): a clear message,
    exit 2, the rows written are kept; the same command then completes the file."""
    import resource

    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_jsonl(src, [f"Ent{i} met Ent{i + 1} in town number {i} ." for i in range(200)])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))

    cmd = _extract_cmd(fake_server, src, out, "--batch-size", "4")
    full = subprocess.run(cmd, env=env, capture_output=True, text=True, preexec_fn=limited,
                          timeout=300)
    assert full.returncode == 2, full.stderr
    assert "the file is too large; stopped after" in full.stderr and "Traceback" not in full.stderr
    assert "run the same command again to resume" in full.stderr
    kept = out.stat().st_size
    assert 0 < kept <= 40_000
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert sorted(ids) == sorted(f"d{i}" for i in range(200))


def test_background_writes_keep_order_raise_errors_and_finish_on_close():
    """Rows go to the writer in order while the caller goes on; a failed write is
    raised by the next call; close lets a batch being written finish."""
    import threading

    from zeroshot.batch import _BackgroundWrites

    got, release = [], threading.Event()

    def write(rows):
        if rows == ["slow"]:
            release.wait(5)
        if rows == ["bad"]:
            raise OutputError("disk full")
        got.append(rows)

    writes = _BackgroundWrites(write)
    for i in range(5):
        writes([i])
    writes(["slow"])  # returns at once: the writer thread waits, not the caller
    assert got[-1] != ["slow"]
    release.set()
    writes.close()
    assert got == [[0], [1], [2], [3], [4], ["slow"]]

    failing = _BackgroundWrites(write)
    failing(["bad"])
    with pytest.raises(OutputError, match="disk full"):
        failing([9])
    failing.close()
    assert [9] not in got
