"""The experiment's data scripts (eval/distill_fewnerd.py): the sample leaves the general
split's dev sentences out, and committed teacher labels (no text) join back exactly."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

from zeroshot.batch import read_results
from zeroshot.core.spans import AlignmentStatus, DocumentResult, Issue, Span

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "eval"))
import distill_fewnerd  # noqa: E402


def test_sample_export_join_roundtrip(fewnerd_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ZEROSHOT_FEWNERD_DIR", str(fewnerd_dir))
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"fewnerd": {"dev_sentences": {"ids": [
        f"train_part_a:{i}" for i in range(0, 13012, 2)]}}}))  # every even sentence of part a
    sample = tmp_path / "sample.jsonl"
    assert distill_fewnerd.main(["sample", "--n", "40", "--split", str(split),
                                 "--out", str(sample)]) == 0
    rows = [json.loads(x) for x in sample.read_text().splitlines()]
    assert len(rows) == 40 and len({r["id"] for r in rows}) == 40
    assert not any(r["id"].startswith("train_part_a:") and int(r["id"].split(":")[1]) % 2 == 0
                   for r in rows)
    # a teacher labels file as the batch runner writes it, for the first 5 sentences
    labels = tmp_path / "teacher" / "labels.jsonl"
    labels.parent.mkdir()
    from zeroshot.core.text import TokenizedText

    with labels.open("w") as fh:
        for n, r in enumerate(rows[:5]):
            tok = TokenizedText.from_tokens(r["tokens"])
            cs, ce = tok.token_span_to_char(0, 1)
            spans = (Span(cs, ce, "person-actor", tok.text[cs:ce], score=0.5 + n / 10,
                          token_start=0, token_end=1, alignment=AlignmentStatus.EXACT),)
            doc = DocumentResult.from_tokenized(tok, spans=spans, id=r["id"], engine="llm",
                                                issues=(Issue("truncated", tok.text),))
            fh.write(json.dumps({**doc.to_dict(), "error": None}) + "\n")
    exported = tmp_path / "labels.jsonl.gz"
    assert distill_fewnerd.main(["export", str(labels), "--out", str(exported)]) == 0
    with gzip.open(exported, "rt") as fh:
        raw = fh.read()
    assert not any(" ".join(r["tokens"]) in raw for r in rows[:5])  # no sentence in it
    folder = tmp_path / "joined"
    distill_fewnerd.join(exported, folder)
    a = {d.id: d for d, _ in read_results(labels)}
    b = {d.id: d for d, _ in read_results(folder / "labels.jsonl")}
    assert a.keys() == b.keys()
    for k, d in a.items():
        assert b[k].text == d.text
        assert [(s.start, s.end, s.label, s.alignment, s.score) for s in b[k].spans] == \
            [(s.start, s.end, s.label, s.alignment, round(s.score, 5)) for s in d.spans]
        assert b[k].issue_counts() == d.issue_counts()
