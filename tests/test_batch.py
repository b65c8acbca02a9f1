"""Batch extraction: every input format, bad records, resume after kill -9, viewer."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from zeroshot.batch import BatchRunner, Record, finished_ids, read_inputs, read_results
from zeroshot.cli import main
from zeroshot.core.schema import Schema
from zeroshot.core.spans import DocumentResult, Span
from zeroshot.viewer import render_html


class Echo:
    """A tiny rule engine for runner mechanics: marks capitalised words; fails
    on texts containing 'CRASH' to stand for a model failing on one record."""

    name = "echo"

    def extract(self, texts, schema, ids=None):
        out = []
        for i, t in enumerate(texts):
            text = t if isinstance(t, str) else t.text
            if "CRASH" in text:
                raise RuntimeError("model failed")
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
    assert "too long" in rows["long"]["error"]
    assert rows["crash"]["error"] == "RuntimeError: model failed"
    assert "no string field 'text'" in rows["nofield"]["error"]
    assert rows["ok"]["error"] is None and rows["ok"]["spans"][0]["text"] == "Ada"
    assert rows["ok2"]["spans"][0]["text"] == "Bob"  # the crash cost only itself
    assert (summary.documents, summary.failed, summary.spans) == (8, 6, 2)


def test_resume_cuts_a_torn_line_and_skips_finished(tmp_path):
    out = tmp_path / "out.jsonl"
    good = json.dumps({"id": "a.txt:1", "text": "Ada", "spans": [], "error": None})
    out.write_text(good + "\n" + '{"id": "a.txt:2", "te')
    assert finished_ids(out) == {"a.txt:1"}
    assert out.read_text() == good + "\n"
    recs = [Record("a.txt:1", "Ada"), Record("a.txt:2", "Bob"), Record("a.txt:2", "Bob")]
    summary = BatchRunner(Echo(), SCHEMA, progress=False).run(recs, out)
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert ids == ["a.txt:1", "a.txt:2", "a.txt:2#2"]
    assert (summary.skipped, summary.documents) == (1, 2)


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


def _docs():
    return [
        (DocumentResult("Ada <b>met</b> Bob in Oslo .",
                        (Span(0, 3, "person", "Ada", score=0.91),
                         Span(23, 27, "city", "Oslo", score=0.55)), id="d1", engine="gliner"),
         None),
        (DocumentResult("", id="d2"), "empty text"),
    ]


def test_viewer_html_is_self_contained_and_escaped():
    page = render_html(_docs(), title="t")
    assert "&lt;b&gt;met&lt;/b&gt;" in page  # text is escaped
    assert "http://" not in page and "https://" not in page  # nothing loaded from outside
    assert page.count("<mark") == 2 and "score 0.91" in page and "error: empty text" in page


def test_viewer_in_headless_chromium(tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed in CI (.ci/run installs it)")
        pytest.skip("chromium not installed")
    page = tmp_path / "view.html"
    page.write_text(render_html(_docs(), title="viewer test"))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", page.as_uri()], capture_output=True,
                         text=True, timeout=120).stdout
    assert dom.count("<mark") == 2 and 'data-label="city"' in dom
    shot = tmp_path / "shot.png"
    subprocess.run([chromium, *flags, f"--screenshot={shot}", "--window-size=900,500",
                    page.as_uri()], capture_output=True, timeout=120)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5000
