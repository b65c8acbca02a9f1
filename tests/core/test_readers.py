"""The shared parsing layer: the batch input readers and the gold loaders see the
same lines, columns, ids and format guess (issue #15 rows 3, 6, 10, 13; #14)."""

from __future__ import annotations

import gzip

import pytest

from zeroshot.batch import read_inputs
from zeroshot.core.errors import DataFormatError
from zeroshot.core.loaders import read_conll, read_examples, read_fewnerd, read_jsonl
from zeroshot.core.readers import UniqueIds, guess_format, split_columns
from zeroshot.data import FEWNERD_SAMPLE, path

BOM = "\ufeff"


def test_batch_and_gold_readers_agree_on_ids_texts_and_offsets(tmp_path):
    """The same Few-NERD file read for extraction and as gold: same ids, same
    texts, same token offsets, with or without --format (the one guess)."""
    sample = path(FEWNERD_SAMPLE)
    gold = list(read_examples(sample))
    for fmt in (None, "fewnerd"):
        recs = list(read_inputs([sample], fmt=fmt))
        assert [r.id for r in recs] == [g.id for g in gold]
        assert all(r.text == g.tokens for r, g in zip(recs, gold, strict=True))
    assert gold[0].id == f"{sample.name}:0"
    assert guess_format(sample) == "fewnerd"


@pytest.mark.parametrize("fmt, line, tokens", [
    ("fewnerd", "10\u00a0000\tO", ["10\u00a0000"]),  # a no-break space is part of the token
    ("fewnerd", "New York\tlocation-GPE", ["New York"]),  # Few-NERD splits on the tab only
    ("conll", "10\u00a0000 NNP O", ["10\u00a0000"]),
    ("conll", "Paris\t NNP  B-LOC ", ["Paris"]),  # runs of ASCII spaces and tabs
])
def test_columns_split_the_same_way_in_both_readers(tmp_path, fmt, line, tokens):
    p = tmp_path / ("x.conll" if fmt == "conll" else "x.txt")
    p.write_text(f"{line}\n\n", encoding="utf-8")
    (ex,) = read_examples(p, fmt=fmt)
    (rec,) = read_inputs([p], fmt=fmt)
    assert ex.tokens.tokens == tokens == rec.text.tokens
    assert ex.tokens == rec.text and ex.id == rec.id == "x.conll:0".replace(
        "conll", p.suffix[1:])


def test_split_columns_definition():
    assert split_columns("a\u2009b\tO", "fewnerd") == ["a\u2009b", "O"]
    assert split_columns("a\u2009b O", "conll") == ["a\u2009b", "O"]
    assert split_columns("a|b", "conll", sep="|") == ["a", "b"]


def test_bom_is_stripped_in_txt_conll_and_jsonl(tmp_path):
    (tmp_path / "a.txt").write_text(BOM + "Angela Merkel spoke\n", encoding="utf-8")
    (tmp_path / "b.conll").write_text(BOM + "Angela B-PER\nMerkel I-PER\n", encoding="utf-8")
    (tmp_path / "c.jsonl").write_text(BOM + '{"id": "c1", "text": "Angela ran", '
                                            '"spans": [[0, 6, "person"]]}\n', encoding="utf-8")
    (tmp_path / "d.txt").write_text(BOM + "Angela\tperson\n", encoding="utf-8")
    (tmp_path / "e.txt").write_text(BOM + "one\nfile\n", encoding="utf-8")
    recs = list(read_inputs([tmp_path / n for n in ("a.txt", "b.conll", "c.jsonl", "d.txt")]))
    assert [(r.id, r.error) for r in recs] == [("a.txt:1", None), ("b.conll:0", None),
                                              ("c1", None), ("d.txt:0", None)]
    texts = [r.text if isinstance(r.text, str) else r.text.text for r in recs]
    assert texts == ["Angela Merkel spoke", "Angela Merkel", "Angela ran", "Angela"]
    [per_file] = read_inputs([tmp_path / "e.txt"], per_file=True)
    assert per_file.text == "one\nfile\n"
    (conll,) = read_conll(tmp_path / "b.conll")
    assert conll.spans[0].text == "Angela Merkel"
    (js,) = read_jsonl(tmp_path / "c.jsonl")
    assert js.id == "c1" and js.spans[0].text == "Angela"
    (fn,) = read_fewnerd(tmp_path / "d.txt")
    assert fn.spans[0].text == "Angela"


def test_lone_surrogate_is_an_error_on_its_line(tmp_path):
    p = tmp_path / "in.jsonl"
    p.write_text('{"id": "a", "text": "fine"}\n{"id": "b", "text": "bad \\ud800 here"}\n'
                 '{"id": "c", "text": "emoji \\ud83d\\ude00 ok"}\n', encoding="utf-8")
    recs = list(read_inputs([p]))
    assert [r.id for r in recs] == ["a", "in.jsonl:2", "c"]
    assert "lone surrogate \\ud800" in recs[1].error and f"{p}:2:" in recs[1].error
    assert recs[2].text == "emoji \U0001f600 ok"
    with pytest.raises(DataFormatError, match=r":2: a string holds a lone surrogate"):
        list(read_jsonl(p))


def _truncated_gz(p, content: bytes) -> None:
    with gzip.open(p, "wb") as fh:
        fh.write(content)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 12])  # the trailer and some data gone


def test_truncated_gzip_is_a_clear_error(tmp_path):
    body = b"".join(b"Sentence number %d is here\n" % i for i in range(3000))
    _truncated_gz(tmp_path / "t.txt.gz", body)
    recs = list(read_inputs([tmp_path / "t.txt.gz"]))
    assert recs[-1].text is None and "compressed data ends early" in recs[-1].error
    assert all(r.error is None for r in recs[:-1]) and len(recs) > 100
    col = b"".join(b"w%d\tO\n\n" % i for i in range(3000))
    _truncated_gz(tmp_path / "f.txt.gz", col)
    recs = list(read_inputs([tmp_path / "f.txt.gz"], fmt="fewnerd"))
    assert "compressed data ends early" in recs[-1].error
    with pytest.raises(DataFormatError, match="compressed data ends early"):
        list(read_fewnerd(tmp_path / "f.txt.gz"))


def test_guess_format(tmp_path):
    (tmp_path / "plain.txt").write_text("Ada met Bob.\nA\ttab inside prose\n")
    (tmp_path / "few.txt").write_text("Ada\tperson-other\nmet\tO\n\nBob\tO\n")
    assert guess_format(tmp_path / "plain.txt") == "txt"
    assert guess_format(tmp_path / "few.txt") == "fewnerd"
    assert guess_format(tmp_path / "x.jsonl.gz") == "jsonl"
    assert guess_format(tmp_path / "x.iob2") == "conll"
    with pytest.raises(DataFormatError, match="looks like plain text"):
        read_examples(tmp_path / "plain.txt")


def test_unique_ids_never_collide_with_real_ids():
    ids = UniqueIds()
    got = [ids(i) for i in ["a", "a", "a#2", "a", "b", "a#2"]]
    assert got == ["a", "a#2", "a#2#2", "a#3", "b", "a#2#3"]
    assert len(set(got)) == len(got) and ids.repeats == 4


def test_jsonl_whose_first_line_is_an_array_still_reads_line_by_line(tmp_path):
    """Only a file that is one JSON array is read as an array: a JSON-lines file
    whose first line happens to be an array costs that line, not the file."""
    p = tmp_path / "x.jsonl"
    p.write_text('[1, 2]\n{"id": "ok", "text": "Ada ran"}\n')
    recs = list(read_inputs([p]))
    assert [(r.id, r.text) for r in recs] == [("x.jsonl:1", None), ("ok", "Ada ran")]
    assert "x.jsonl:1: each line must be a JSON object" in recs[0].error
    one = tmp_path / "one.json"
    one.write_text('[{"text": "a"}, {"text": "b"}')  # an array cut short: one clear error
    (rec,) = read_inputs([one])
    assert "one.json:1: invalid JSON: Expecting ',' delimiter" in rec.error
