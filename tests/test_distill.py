"""``zeroshot distill`` end to end on CPU: a small fake OpenAI-compatible server as the
teacher (a real HTTP server whose answers are scripted per sentence: good answers,
invalid JSON, a cut answer, a made-up string, a server error), the real default
GLiNER model for agreement and as the student's base, a few training steps.

Checks: bad answers never become training spans and each filter rule is counted; a
teacher process killed with SIGKILL resumes without losing or repeating a record; the
student's model folder loads, with its card; the report scores all three on gold.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from zeroshot.core.errors import ZeroshotError
from zeroshot.core.loaders import read_jsonl
from zeroshot.core.schema import Schema
from zeroshot.distill import FilterConfig, StudentConfig, TeacherConfig, distill

ROOT = Path(__file__).resolve().parents[1]
FEWNERD = ROOT.parent / "shared" / "data" / "fewnerd"

SCHEMA = {"name": "tiny", "entity_types": [
    {"name": "person", "label": "person name", "description": "a named person"},
    {"name": "city", "label": "city", "description": "a named city"}]}


def ent(text: str, label: str) -> dict:
    return {"text": text, "label": label}


# id -> (text, teacher answer: a list of entities, or (raw content, finish reason), or an
# HTTP status for a server error)
GOOD = {
    "ok_a": ("Ada Lovelace was born in London .", [ent("Ada Lovelace", "person name"),
                                                   ent("London", "city")]),
    "ok_b": ("Bob met Carol in Paris .", [ent("Bob", "person name"), ent("Carol", "person name"),
                                          ent("Paris", "city")]),
    "ok_c": ("Rome is older than Oslo .", [ent("Rome", "city"), ent("Oslo", "city")]),
    "ok_d": ("Dana flew to Berlin last May .", [ent("Dana", "person name"),
                                                ent("Berlin", "city")]),
    "ok_e": ("Eve Smith lives in Madrid .", [ent("Eve Smith", "person name"),
                                             ent("Madrid", "city")]),
    "ok_f": ("Frank Jones was in Vienna .", [ent("Frank Jones", "person name"),
                                             ent("was", "city")]),  # a span no encoder finds
    "ok_g": ("George Brown visited Prague .", [ent("George Brown", "person name"),
                                               ent("Prague", "city")]),
    "ok_h": ("Helen Clark moved to Dublin .", [ent("Helen Clark", "person name"),
                                               ent("Dublin", "city")]),
    "ok_i": ("Ivan Petrov returned to Moscow .", [ent("Ivan Petrov", "person name"),
                                                  ent("Moscow", "city")]),
    "ok_j": ("Julia Roberts filmed in Venice .", [ent("Julia Roberts", "person name"),
                                                  ent("Venice", "city")]),
}
BAD = {
    "dup": ("Ada Lovelace was born in London .", GOOD["ok_a"][1]),
    "garbled": ("Kim spoke in Seoul today .", ('{"entities": [{"text": "Kim", "lab', "stop")),
    "cut": ("Lee drove from Lyon to Nice .",
            ('{"entities": [{"text": "Lee", "label": "person name"}, {"text": "Ly', "length")),
    "ghost": ("Max waited in Zurich .", [ent("Max", "person name"), ent("Zanzibar", "city")]),
    "broken": ("Nora worked in Turin .", 400),
}
SCRIPT = {**GOOD, **BAD}
BY_TEXT = {text: answer for text, answer in SCRIPT.values()}


class FakeTeacher(BaseHTTPRequestHandler):
    delay = 0.0
    fail_all = False  # every generation request fails (an engine that is gone)

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._send(200, {"object": "list", "data": [{"id": "fake", "object": "model",
                                                     "created": 0, "owned_by": "test"}]})

    def do_POST(self) -> None:
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(self.delay)
        text = req["messages"][-1]["content"].removeprefix("Text: ").strip()
        answer = 503 if self.fail_all else BY_TEXT.get(text, [])
        if isinstance(answer, int):
            self._send(answer, {"error": {"message": "scripted failure", "type": "test"}})
            return
        content, finish = (answer if isinstance(answer, tuple)
                           else (json.dumps({"entities": answer}), "stop"))
        self._send(200, {"id": "x", "object": "chat.completion", "created": 0, "model": "fake",
                         "choices": [{"index": 0, "finish_reason": finish,
                                      "message": {"role": "assistant", "content": content}}],
                         "usage": {"prompt_tokens": 10, "completion_tokens": 5,
                                   "total_tokens": 15}})


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeTeacher)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, Path, Path]:
    d = tmp_path_factory.mktemp("distill-in")
    texts = d / "texts.jsonl"
    rows = [{"id": rid, "text": text} for rid, (text, _) in SCRIPT.items()]
    rows.append({"id": "empty", "text": "   "})  # an unreadable record: written with its error
    texts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    schema = d / "tiny.json"
    schema.write_text(json.dumps(SCHEMA))
    gold = d / "gold.jsonl"  # the good sentences with their true spans
    with gold.open("w") as fh:
        for rid, (text, ents) in GOOD.items():
            spans = [[text.index(e["text"]), text.index(e["text"]) + len(e["text"]),
                      "person" if e["label"] == "person name" else "city"]
                     for e in ents if e["text"] != "was"]
            fh.write(json.dumps({"id": rid, "text": text, "spans": spans}) + "\n")
    return texts, schema, gold


def teacher_cmd(texts: Path, schema: Path, out: Path, url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "zeroshot", "distill", str(texts), "--schema", str(schema),
            "--out", str(out), "--stages", "teacher", "--server", url, "--shots", "0",
            "--teacher-batch-size", "1", "-q", *extra]


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_teacher_killed_resumes(server, inputs, tmp_path):
    texts, schema, _ = inputs
    out = tmp_path / "run"
    labels = out / "teacher" / "labels.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    FakeTeacher.delay = 0.25
    try:
        proc = subprocess.Popen(teacher_cmd(texts, schema, out, server), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while len(lines(labels)) < 4 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
        first = len(lines(labels))
        assert 4 <= first < len(SCRIPT) + 1
    finally:
        FakeTeacher.delay = 0.0
    done = subprocess.run(teacher_cmd(texts, schema, out, server), env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = lines(labels)
    assert sorted(r["id"] for r in rows) == sorted([*SCRIPT, "empty"])  # each exactly once
    summary = json.loads((out / "teacher" / "summary.json").read_text())
    assert summary["documents"] == len(SCRIPT) + 1
    # another teacher configuration is refused, not mixed into the same labels
    with pytest.raises(ZeroshotError, match="another teacher configuration"):
        distill([texts], Schema.load(schema), out, stages=["teacher"], progress=False,
                teacher=TeacherConfig(server=server, mode="constrained", shots=0))


def test_pipeline_end_to_end(server, inputs, tmp_path):
    from zeroshot.engines.gliner import GlinerEngine, model_metadata

    texts, schema_path, gold = inputs
    schema = Schema.load(schema_path)
    out = tmp_path / "run"
    teacher = TeacherConfig(server=server, mode="constrained", shots=0, batch_size=4,
                            backend_options={"max_retries": 0})
    replay = "fewnerd" if FEWNERD.is_dir() else "none"
    if replay == "fewnerd":
        os.environ.setdefault("ZEROSHOT_FEWNERD_DIR", str(FEWNERD))
    student = StudentConfig(replay=replay, replay_ratio=0.5, forget_dev=5, train_options={
        "max_steps": 2, "batch_size": 4, "device": "cpu", "thresholds": [0.3, 0.5],
        "progress": False})
    result = distill([texts], schema, out, teacher=teacher, student=student, gold=gold,
                     filters=FilterConfig(agreement=True, dev_fraction=0.25),
                     report_teacher_limit=None, progress=False)

    # teacher (constrained: free strings, so a made-up one is unaligned): every failure
    # kind counted on its record
    t = result.teacher
    # failed: the empty text, and the text whose request failed (a failed request fails
    # its record, as the batch runner does: it is retried on resume, never labelled "none")
    assert t["documents"] == len(SCRIPT) + 1 and t["failed"] == 2
    assert t["issues"]["invalid_json"] == 1 and t["issues"]["truncated"] == 1
    assert t["issues"]["unaligned"] == 1 and t["issues"]["engine_error"] == 1

    # filter: bad records never reach the training or dev data; every rule counted
    f = result.filters
    rules = {k: v["dev"] + v["train"] for k, v in f["record_rules"].items()}
    assert rules == {"record_error": 2, "truncated": 1,
                     "invalid_answer": 1, "unaligned": 1, "duplicate_sentence": 1}
    assert f["span_rules"]["encoder_disagrees"]["dev"] + \
        f["span_rules"]["encoder_disagrees"]["train"] >= 1
    silver = list(read_jsonl(out / "filter" / "train.jsonl")) + \
        list(read_jsonl(out / "filter" / "dev.jsonl"))
    ids = {e.id for e in silver}
    assert ids <= {*GOOD, "dup"} and len(ids & {"ok_a", "dup"}) == 1  # one of the two copies
    assert len(silver) == len(GOOD)
    assert all(s.text in {e["text"] for e in SCRIPT[ex.id][1]} for ex in silver
               for s in ex.spans)
    assert not any(s.text == "was" for ex in silver for s in ex.spans)
    assert sum(f["records_out"].values()) == len(silver)

    # student: a model folder that loads, with its card and calibrated threshold
    model_dir = Path(result.student["model_dir"])
    meta = model_metadata(model_dir)
    assert meta["distill"]["counts"]["distilled_sentences"] == f["records_out"]["train"]
    assert meta["threshold"] in (0.3, 0.5)
    card = (model_dir / "README.md").read_text()
    assert "## Distillation" in card and "encoder_disagrees" in card
    engine = GlinerEngine(str(model_dir))
    assert engine.default_threshold == meta["threshold"]
    assert len(engine.extract(["Ada Lovelace was born in London ."], schema)) == 1

    # report: teacher, base and student on gold, each with speed and an evidence card
    report = (out / "REPORT.md").read_text()
    for name in ("teacher", "base", "student"):
        assert f"| {name} |" in report
        assert "Gold vs predicted" in (out / "report" / f"card_{name}.md").read_text()

    # a second run finds the student up to date and does not train again
    stamp = (model_dir / "model.safetensors").stat().st_mtime_ns
    again = distill([texts], schema, out, teacher=teacher, student=student,
                    filters=FilterConfig(agreement=True, dev_fraction=0.25),
                    stages=["filter", "student"], progress=False)
    assert again.student == result.student
    assert (model_dir / "model.safetensors").stat().st_mtime_ns == stamp


def test_a_dead_engine_stops_the_teacher_and_its_texts_are_asked_again(server, inputs,
                                                                       tmp_path):
    texts, schema_path, _ = inputs
    schema = Schema.load(schema_path)
    out = tmp_path / "run"
    teacher = TeacherConfig(server=server, mode="constrained", shots=0, batch_size=3,
                            backend_options={"max_retries": 0})
    FakeTeacher.fail_all = True
    try:
        with pytest.raises(ZeroshotError, match="failed on every text of a batch"):
            distill([texts], schema, out, teacher=teacher, stages=["teacher"], progress=False)
    finally:
        FakeTeacher.fail_all = False
    first = lines(out / "teacher" / "labels.jsonl")
    assert 0 < len(first) <= 4  # stopped after the first failed batch, not after every text
    result = distill([texts], schema, out, teacher=teacher, stages=["teacher"], progress=False)
    rows = lines(out / "teacher" / "labels.jsonl")
    assert sorted(r["id"] for r in rows) == sorted([*SCRIPT, "empty"])
    failed = [r["id"] for r in rows if any(i["kind"] == "engine_error" for i in r["issues"])]
    assert failed == ["broken"]  # the texts of the dead engine were asked again
    sessions = lines(out / "teacher" / "sessions.jsonl")
    assert sessions[1]["retried"] == sum(
        1 for r in first if any(i["kind"] == "engine_error" for i in r["issues"]))
    assert result.teacher["timed_documents"] == len(SCRIPT) + 1 - 1 - 1  # not empty, broken


def test_teacher_continues_rebuilt_labels_only_when_its_configuration_is_on_record(
        server, inputs, tmp_path):
    """A teacher folder rebuilt from exported labels (eval/distill_fewnerd.py join) has the
    teacher's config.json but not the batch runner's labels.jsonl.meta.json: it continues
    (the teacher configuration was checked); without config.json it is refused."""
    texts, schema, _ = inputs
    out = tmp_path / "run"
    labels = out / "teacher" / "labels.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    first = subprocess.run(teacher_cmd(texts, schema, out, server), env=env,
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr[-2000:]
    rows = lines(labels)
    meta = labels.with_name(labels.name + ".meta.json")
    assert meta.exists()
    meta.unlink()
    labels.write_text("".join(json.dumps(r) + "\n" for r in rows[:-2]))  # two left to label
    again = subprocess.run(teacher_cmd(texts, schema, out, server), env=env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr[-2000:]
    assert sorted(r["id"] for r in lines(labels)) == sorted(r["id"] for r in rows)
    assert meta.exists()
    meta.unlink()
    (out / "teacher" / "config.json").unlink()
    refused = subprocess.run(teacher_cmd(texts, schema, out, server), env=env,
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "no record of the configuration" in refused.stderr
