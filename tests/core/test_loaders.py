import gzip
import json

import pytest

from zeroshot.core.errors import DataFormatError
from zeroshot.core.loaders import (
    find_fewnerd,
    list_ner_collection,
    read_conll,
    read_examples,
    read_fewnerd,
    read_jsonl,
    read_ner_collection,
)
from zeroshot.data import FEWNERD_SAMPLE, path


def test_fewnerd_full_inter_test_counts(fewnerd_dir):
    examples = list(read_fewnerd(fewnerd_dir / "inter/test.txt.gz"))
    assert len(examples) == 14006  # the counts in the data README
    assert sum(len(e.spans) for e in examples) == 28341
    ex = examples[1]
    span = ex.spans[0]
    assert span.text == "San Diego Harbor Police Department" == ex.text[span.start:span.end]
    assert (span.token_start, span.token_end) == (1, 6)


def test_find_fewnerd(fewnerd_dir, monkeypatch):
    monkeypatch.setenv("ZEROSHOT_FEWNERD_DIR", str(fewnerd_dir))
    assert find_fewnerd("inter/test").name == "test.txt.gz"
    with pytest.raises(FileNotFoundError, match="ZEROSHOT_FEWNERD_DIR"):
        find_fewnerd("inter/nosuch")


def test_bundled_sample_and_coarse_level():
    examples = list(read_fewnerd(path(FEWNERD_SAMPLE)))
    assert len(examples) == 200
    coarse = list(read_fewnerd(path(FEWNERD_SAMPLE), level="coarse", limit=20))
    assert {s.label for e in coarse for s in e.spans} <= {
        "art", "building", "event", "location", "organization", "other", "person", "product"}


def test_entity_is_maximal_run_of_same_label(tmp_path):
    p = tmp_path / "f.txt"
    p.write_text("a\tperson-actor\nb\tperson-actor\nc\tperson-athlete\nd\tO\n\ne\tO\n")
    (ex, ex2) = read_fewnerd(p)
    assert [(s.text, s.label) for s in ex.spans] == [("a b", "person-actor"),
                                                    ("c", "person-athlete")]
    assert ex2.spans == ()


def test_gzip_and_crlf(tmp_path):
    p = tmp_path / "f.txt.gz"
    with gzip.open(p, "wt") as fh:
        fh.write("Paris\tlocation-GPE\r\nis\tO\r\n\r\n")
    (ex,) = read_fewnerd(p)
    assert ex.spans[0].text == "Paris"


@pytest.mark.parametrize("content, needle", [
    (b"a\tO\nb\n", ":2: expected a token and a tag"),
    (b"a\tO\ncaf\xe9\tO\n", ":2: not UTF-8 (bad byte 0xe9 at column 4)"),
    (b"a\tB-PER\n", "B- is not part of the IO scheme"),
])
def test_fewnerd_bad_input_names_file_and_line(tmp_path, content, needle):
    p = tmp_path / "bad.txt"
    p.write_bytes(content)
    with pytest.raises(DataFormatError) as err:
        list(read_fewnerd(p))
    assert needle in str(err.value) and str(p) in str(err.value)


def test_missing_file():
    with pytest.raises(DataFormatError, match="file not found"):
        list(read_fewnerd("/nonexistent/x.txt"))


def test_conll_with_repairs(tmp_path, caplog):
    p = tmp_path / "x.conll"
    p.write_text("-DOCSTART- -X- O O\n\nEU NNP B-ORG\nrejects VBZ O\nGerman JJ I-MISC\n"
                 "call NN O\n\n")
    (ex,) = read_conll(p)
    assert [(s.text, s.label) for s in ex.spans] == [("EU", "ORG"), ("German", "MISC")]
    assert ex.repairs == 1 and "repaired 1" in caplog.text
    (dropped,) = read_conll(p, repair="drop")
    assert [s.text for s in dropped.spans] == ["EU"]
    with pytest.raises(DataFormatError, match="I-MISC without a preceding B-MISC"):
        list(read_conll(p, repair="raise"))
    bioes = tmp_path / "y.bioes"
    bioes.write_text("New B-LOC\nYork E-LOC\n")
    (b,) = read_conll(bioes, scheme="bioes")
    assert b.spans[0].text == "New York"


def test_jsonl_char_and_token_spans(tmp_path):
    p = tmp_path / "x.jsonl"
    rows = [
        {"id": "a", "text": "Ada met Bob.", "spans": [{"start": 0, "end": 3, "label": "person"}]},
        {"id": "b", "tokens": ["Ada", "met", "Bob"], "spans": [[2, 3, "person"]]},
    ]
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    a, b = read_examples(p)
    assert a.id == "a" and a.spans[0].text == "Ada" and a.spans[0].token_start == 0
    assert b.spans[0].text == "Bob" and b.spans[0].start == 8


@pytest.mark.parametrize("line, needle", [
    ('{"text": "abc", "spans": [[0, 9, "x"]]}', "outside the text"),
    ('{"text": "abc", "spans": [{"start": 0}]}', "malformed span"),
    ('{"spans": []}', "missing string field 'text'"),
    ('[1]', "must be a JSON object"),
    ('{"text": ', "invalid JSON"),
    ('{"tokens": ["a"], "spans": [[0, 1.5, "x"]]}', "offsets must be integers"),
    ('{"tokens": ["a"], "spans": [[0, 1, null]]}', "label must be a non-empty string"),
    ('{"tokens": ["a"], "spans": [[0, 1, ""]]}', "label must be a non-empty string"),
    ('{"tokens": ["a"], "spans": [[1, 1, "x"]]}', r"\[1, 1\) outside the 1 tokens"),
    ('{"tokens": ["a", 3], "spans": []}', r"tokens\[1\] is int, not a string"),
    ('{"tokens": [], "spans": []}', "'tokens' is an empty list"),
    ('{"tokenized_text": ["a"], "ner": [[0, 1, "x"]]}',
     r"token span \[0, 1\] \(last token inclusive\) outside the 1 tokens"),
    ('{"tokenized_text": "a b", "ner": []}', "'tokenized_text' is str, not a list"),
])
def test_jsonl_bad_input(tmp_path, line, needle):
    p = tmp_path / "x.jsonl"
    p.write_text('{"text": "ok"}\n' + line + "\n")
    with pytest.raises(DataFormatError, match=needle) as err:
        list(read_jsonl(p))
    assert ":2:" in str(err.value)


def test_gliner_training_files_read_as_they_are(tmp_path):
    """GLiNER's own training data: one JSON array (here pretty-printed over many
    lines) of ``tokenized_text`` + ``ner`` records whose last token is inclusive.
    Gold and batch readers read it; a record's number is its item's, from 1."""
    from zeroshot.batch import read_inputs

    records = [
        {"tokenized_text": ["Ada", "Lovelace", "met", "Bob", "."],
         "ner": [[0, 1, "person"], [3, 3, "person"]]},
        {"tokenized_text": ["Paris", "is", "big"], "ner": [[0, 0, "city"]]},
        {"tokenized_text": ["Nothing", "here"], "ner": []},
    ]
    p = tmp_path / "train.json"
    p.write_text(json.dumps(records, indent=2), encoding="utf-8")
    a, b, c = read_examples(p)
    assert [(x.text, x.token_start, x.token_end) for x in a.spans] == [
        ("Ada Lovelace", 0, 2), ("Bob", 3, 4)]
    assert [x.text for x in b.spans] == ["Paris"] and c.spans == ()
    assert [e.id for e in (a, b, c)] == ["train.json:1", "train.json:2", "train.json:3"]
    docs = list(read_inputs([p]))
    assert [d.id for d in docs] == ["train.json:1", "train.json:2", "train.json:3"]
    assert docs[0].text.text == "Ada Lovelace met Bob ." and docs[0].error is None


@pytest.mark.parametrize("content, needle", [
    ('[\n {"tokenized_text": ["a"], "ner": []},\n {"tokenized_text": ["b"], "ner": [}\n]',
     r"x\.json:3: invalid JSON"),
    ('[{"tokenized_text": ["a"], "ner": []}, [1, 2]]', r"x\.json:2: item 2 of the array is list"),
    ('[{"tokenized_text": ["a"], "ner": [[0, 5, "x"]]}]', r"x\.json:1: token span \[0, 5\]"),
])
def test_json_array_bad_input_names_the_line_or_item(tmp_path, content, needle):
    p = tmp_path / "x.json"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError, match=needle):
        list(read_jsonl(p))


def _write_gz(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")


def test_ner_collection_gz_nested_spans_and_ids(tmp_path):
    rows = [{"tokens": ["New", "York", "City", "Hall"],
             "spans": [[0, 3, "city"], [0, 4, "building"], [0, 3, "location"]]},
            {"tokens": ["nothing", "here"], "spans": []}]
    _write_gz(tmp_path / "toy" / "train.jsonl.gz", rows)
    _write_gz(tmp_path / "toy" / "dev.jsonl.gz", rows[:1])
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "test.jsonl").write_text(json.dumps(rows[1]) + "\n")
    files = list_ner_collection(tmp_path)
    assert [(f.dataset, f.split) for f in files] == [("other", "test"), ("toy", "dev"),
                                                      ("toy", "train")]
    got = list(read_ner_collection(tmp_path, ["toy"], ["train"]))
    assert [ex.id for _, ex in got] == ["toy/train:0", "toy/train:1"]
    first = got[0][1]
    # nested and coinciding spans are kept as written, with char and token offsets
    assert [(s.text, s.label) for s in first.spans] == [
        ("New York City", "city"), ("New York City Hall", "building"),
        ("New York City", "location")]
    assert first.spans[1].token_end == 4 and got[1][1].spans == ()
    assert len(list(read_ner_collection(tmp_path))) == 4


def test_ner_collection_errors(tmp_path):
    _write_gz(tmp_path / "toy" / "train.jsonl.gz", [{"tokens": ["a"], "spans": [[0, 2, "x"]]}])
    with pytest.raises(DataFormatError, match="no dataset \\['nope'\\]"):
        list(read_ner_collection(tmp_path, ["nope"]))
    with pytest.raises(DataFormatError, match="has none of the splits"):
        list(read_ner_collection(tmp_path, ["toy"], ["dev"]))
    with pytest.raises(DataFormatError, match=r"train.jsonl.gz:1: token span \[0, 2\) outside"):
        list(read_ner_collection(tmp_path))


def test_shared_ner_collection_reads(tmp_path):
    from zeroshot.core.loaders import find_ner_collection

    try:
        root = find_ner_collection()
    except FileNotFoundError:
        pytest.skip("no ../shared/data/ner")
    examples = [ex for _, ex in read_ner_collection(root, ["wikigold"], ["train"])]
    assert len(examples) == 1696  # the count in the collection README
    assert sum(len(e.spans) for e in examples) == 3558
