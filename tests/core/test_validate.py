import json

import pytest

from zeroshot.core import validate as v
from zeroshot.core.spans import AlignmentStatus

TEXT = "Ada Lovelace was born in London."


def kinds(result):
    return [i.kind for i in result.issues]


def test_valid_output(small_schema):
    out = json.dumps({"entities": [{"text": "Ada Lovelace", "label": "person"},
                                   {"text": "London", "label": "city"}]})
    r = v.validate_output(out, TEXT, small_schema)
    assert r.parsed and r.issues == ()
    assert [(s.text, s.label, s.start) for s in r.spans] == [("Ada Lovelace", "person", 0),
                                                            ("London", "city", 25)]
    assert all(s.alignment is AlignmentStatus.EXACT for s in r.spans)


@pytest.mark.parametrize("raw", ["", "not json", "{\"entities\": [", b"\xff\xfe", "null"])
def test_garbage_never_raises(small_schema, raw):
    r = v.validate_output(raw, TEXT, small_schema)
    assert r.spans == ()
    assert kinds(r) and set(kinds(r)) <= {v.INVALID_JSON, v.SCHEMA_VIOLATION}


def test_lenient_recovers_first_object_and_counts_it(small_schema):
    raw = 'Here you go:\n```json\n{"entities": [{"text": "London", "label": "city"}]}\n```'
    assert kinds(v.validate_output(raw, TEXT, small_schema)) == [v.INVALID_JSON]
    r = v.validate_output(raw, TEXT, small_schema, lenient=True)
    assert kinds(r) == [v.JSON_RECOVERED] and r.issues[0].repair
    assert [s.text for s in r.spans] == ["London"]
    r2 = v.validate_output('blah {"entities": []} trailing {"x": 1}', TEXT, small_schema,
                           lenient=True)
    assert kinds(r2) == [v.JSON_RECOVERED]


def test_semantic_checks_are_typed_and_counted(small_schema):
    out = {"entities": [
        {"text": "Ada Lovelace", "label": "person"},
        {"text": "London", "label": "City"},        # label case variant: mapped, counted
        {"text": "Ada Lovelace", "label": "person name"},  # the label string: mapped + dup
        {"text": "Paris", "label": "city"},          # occurs nowhere
        {"text": "  ", "label": "city"},              # empty
        {"text": "born", "label": "verb"},           # unknown label
        {"text": 3, "label": "city"},                 # malformed
    ]}
    r = v.validate_output(out, TEXT, small_schema)
    counts = r.issue_counts()
    assert counts[v.LABEL_MAPPED] == 2
    assert counts[v.DUPLICATE] == 1
    assert counts[v.UNALIGNED] == 1 and r.unaligned[0].generated == "Paris"
    assert counts[v.UNKNOWN_LABEL] == 1 and counts[v.MALFORMED_ENTITY] == 1
    assert counts[v.SCHEMA_VIOLATION] >= 2  # enum + type violations from jsonschema
    assert counts[v.EMPTY_TEXT] == 1
    assert [(s.text, s.label) for s in r.spans] == [("Ada Lovelace", "person"),
                                                    ("London", "city")]
    strict = v.validate_output(out, TEXT, small_schema, map_labels=False)
    assert strict.issue_counts()[v.UNKNOWN_LABEL] == 3


def test_extra_keys_are_schema_violations_but_entity_kept(small_schema):
    r = v.validate_output('{"entities": [{"text": "London", "label": "city", "why": "x"}]}',
                          TEXT, small_schema)
    assert kinds(r) == [v.SCHEMA_VIOLATION] and len(r.spans) == 1


def test_to_document(small_schema):
    r = v.validate_output('{"entities": [{"text": "Paris", "label": "city"}]}', TEXT,
                          small_schema, engine="llm")
    doc = r.to_document(TEXT, id="d1", engine="llm")
    assert doc.unaligned[0].generated == "Paris" and doc.issue_counts() == {v.UNALIGNED: 1}


def test_all_occurrences_keeps_item_indices(small_schema):
    from zeroshot.core.align import AlignerConfig

    text = "London calling, London again; Ada in London."
    out = {"entities": [{"text": "London", "label": "city"}, {"text": "Ada", "label": "person"},
                        {"text": "Paris", "label": "city"}]}
    r = v.validate_output(out, text, small_schema,
                          aligner_config=AlignerConfig(all_occurrences=True))
    assert [s.start for s in r.spans if s.label == "city"] == [0, 16, 37]
    assert [i.index for i in r.issues] == [2]


def test_empty_text_gives_unaligned_not_errors(small_schema):
    r = v.validate_output('{"entities": [{"text": "Ada", "label": "person"}]}', "", small_schema)
    assert r.spans == () and r.issue_counts() == {v.UNALIGNED: 1}
    assert v.validate_output('{"entities": []}', "", small_schema).issues == ()


def test_repair_truncated_keeps_complete_entities_only():
    from zeroshot.core.validate import repair_truncated

    cut = '{"entities": [{"text": "A}\\"b", "label": "x"}, {"text": "Bo'
    assert repair_truncated(cut) == '{"entities": [{"text": "A}\\"b", "label": "x"}]}'
    assert repair_truncated('{"entities": [{"te') is None
    assert repair_truncated("no json at all") is None
