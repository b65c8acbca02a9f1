"""`zeroshot train`'s data side: formats in through the core loaders, schema, dev split."""

from __future__ import annotations

import json

import pytest

from zeroshot.core.schema import Schema
from zeroshot.training.finetune import data_schema, load_examples, restrict, split_dev


def test_jsonl_and_conll_in_with_the_data_s_own_types(tmp_path):
    j = tmp_path / "a.jsonl"
    j.write_text(json.dumps({"text": "Ada met Bob in Oslo.", "spans": [
        {"start": 0, "end": 3, "label": "person"}, {"start": 15, "end": 19, "label": "city"}]})
        + "\n")
    c = tmp_path / "b.conll"
    c.write_text("Bob B-person\nruns O\nAcme B-company\n\n")
    examples = load_examples([j, c])
    ids = [e.id for e in examples]  # the loaders' own ids, FILE:INDEX
    assert len(set(ids)) == 2 and ids[0].startswith("a.jsonl:") and ids[1].startswith("b.conll:")
    schema = data_schema(examples)
    assert schema.names == ("city", "company", "person")
    kept, dropped = restrict(examples, Schema.from_labels(["person", "city"]))
    assert dropped == 1 and [s.label for s in kept[1].spans] == ["person"]
    with pytest.raises(ValueError, match="no spans"):
        data_schema([kept[1].__class__(kept[1].id, kept[1].tokens, ())])


def test_restrict_maps_labels_to_names_and_dev_split_is_seeded(tmp_path):
    schema = Schema.from_dict({"name": "s", "entity_types": [
        {"name": "PER", "label": "person"}]})
    j = tmp_path / "a.jsonl"
    j.write_text("".join(json.dumps({"tokens": ["Ada", str(i)], "spans": [[0, 1, "person"]]})
                         + "\n" for i in range(10)))
    examples, dropped = restrict(load_examples([j]), schema)
    assert dropped == 0 and {s.label for e in examples for s in e.spans} == {"PER"}
    train, dev = split_dev(examples, 0.2, seed=1)
    assert len(dev) == 2 and len(train) == 8
    assert [e.id for e in split_dev(examples, 0.2, seed=1)[1]] == [e.id for e in dev]
    with pytest.raises(ValueError, match="between 0 and 1"):
        split_dev(examples, 1.0, seed=1)


def test_check_types_refuses_data_with_none_of_the_schema_s_types(tmp_path, caplog):
    from zeroshot.training.finetune import TrainingDataError, check_types

    j = tmp_path / "a.jsonl"
    j.write_text("".join(json.dumps({"tokens": ["Ada", "in", "Oslo"], "spans": [
        [0, 1, "person"], [2, 3, "city"]]}) + "\n" for _ in range(3)))
    raw = load_examples([j])
    data_types = {s.label for e in raw for s in e.spans}
    wrong = Schema.from_labels(["dish", "cuisine"])
    with pytest.raises(TrainingDataError, match=r"no span of the schema's 2 types \(dish, "
                                                r"cuisine\); its own types are city, person"):
        check_types(restrict(raw, wrong)[0], wrong, data_types)
    with pytest.raises(TrainingDataError, match="dev data holds no examples"):
        check_types([], wrong, data_types, "dev data")
    partly = Schema.from_labels(["person", "dish"])
    with caplog.at_level("WARNING", logger="zeroshot.training.finetune"):
        check_types(restrict(raw, partly)[0], partly, data_types)
    assert "1 of the schema's 2 types have no span in the training data: dish" in caplog.text
    with pytest.raises(TrainingDataError, match="hold no examples"):
        data_schema([])
