"""The results file: rows that cannot be written, the last row of an id, the lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from zeroshot.core.spans import DocumentResult, Span
from zeroshot.results import OutputError, encode_row, locked, read_results


def _row(rid, text="Ada ran", error=None, score=0.9):
    doc = DocumentResult(text, (Span(0, 3, "person", text[:3], score=score),), id=rid)
    return {**doc.to_dict(), "error": error}


@pytest.mark.parametrize("row, needle", [
    (_row("a", text="Ada \ud800 ran"), "UnicodeEncodeError"),
    (_row("b", score=float("nan")), "Out of range float values"),
])
def test_a_row_that_cannot_be_json_becomes_an_error_row(row, needle):
    line = encode_row(row)
    back = json.loads(line)  # always valid UTF-8 JSON
    assert back["id"] == row["id"] and back["spans"] == [] and needle in back["error"]
    assert len(back["text"]) == len(row["text"])  # offsets stay: one U+FFFD per surrogate


def test_read_results_keeps_the_last_row_of_an_id_and_skips_garbage(tmp_path, caplog):
    p = tmp_path / "out.jsonl"
    lines = [encode_row(_row("a", error="server answered 500")), encode_row(_row("b")),
             b"not a row\n", encode_row(_row("a"))]
    p.write_bytes(b"".join(lines))
    got = [(d.id, err) for d, err in read_results(p)]
    assert got == [("b", None), ("a", None)]
    assert f"{p}:3" in caplog.text


def test_lock_held_by_another_process(tmp_path):
    out = tmp_path / "out.jsonl"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time, pathlib\n"
        "from zeroshot.results import locked\n"
        f"with locked(pathlib.Path({str(out)!r})):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(30)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        busy = rf"in use by another run \(process {holder.pid}\)"
        with pytest.raises(OutputError, match=busy), locked(out):
            pass
    finally:
        holder.kill()
        holder.wait()
    lock = tmp_path / "out.jsonl.lock"
    assert lock.exists()  # a killed holder leaves its lock file ...
    t0 = time.monotonic()
    with locked(out):  # ... but its lock was released when it died, even by SIGKILL
        assert lock.read_text().strip() == str(os.getpid())
    assert time.monotonic() - t0 < 5
    assert not lock.exists()  # a run that ends removes it


def test_same_file_tells_a_removed_or_replaced_lock_file(tmp_path):
    from zeroshot.results import same_file

    path = tmp_path / "x.lock"
    path.write_text("")
    fd = os.open(path, os.O_RDONLY)
    try:
        assert same_file(fd, path)
        path.unlink()
        assert not same_file(fd, path)  # removed by the run that held it
        path.write_text("")
        assert not same_file(fd, path)  # and made again by a third run
    finally:
        os.close(fd)


def test_a_lock_removed_between_open_and_flock_is_opened_again(tmp_path, monkeypatch):
    from zeroshot import results

    out, lock = tmp_path / "out.jsonl", tmp_path / "out.jsonl.lock"
    real_flock, calls = results.fcntl.flock, []

    def flock_after_the_holder_left(fd, op):
        calls.append(fd)
        if len(calls) == 1:  # the holder ends between this run's open and its flock
            lock.unlink()
        return real_flock(fd, op)

    monkeypatch.setattr(results.fcntl, "flock", flock_after_the_holder_left)
    with locked(out):
        assert len(calls) == 2 and results.same_file(calls[-1], lock)
    assert not lock.exists()


def test_make_output_dir_creates_folders_or_names_why_not(tmp_path):
    from zeroshot.results import make_output_dir

    assert make_output_dir(tmp_path / "a" / "b").is_dir()
    assert make_output_dir(tmp_path / "a") == tmp_path / "a"  # an existing folder is fine
    (tmp_path / "f.txt").write_text("keep")
    with pytest.raises(OutputError, match=r"f.txt is a file; give a new or existing folder "
                                          r"for the report"):
        make_output_dir(tmp_path / "f.txt", "the report")
    with pytest.raises(OutputError, match=r"cannot create the folder for out.jsonl "
                                          r"\(Not a directory\)"):
        make_output_dir(tmp_path / "f.txt" / "sub", "out.jsonl")
    assert (tmp_path / "f.txt").read_text() == "keep"
