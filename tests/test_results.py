"""The results file: rows that cannot be written, the last row of an id, the lock."""

from __future__ import annotations

import json
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
    t0 = time.monotonic()
    with locked(out):  # released when its holder dies, even by SIGKILL
        pass
    assert time.monotonic() - t0 < 5
