import json
import time

import jsonschema
import pytest

from zeroshot.core.errors import SchemaError, UnknownLabelError
from zeroshot.core.schema import OverlapPolicy, Schema, bundled_schema_path, meta_schema

BUNDLED = ["fewnerd_fine", "fewnerd_inter_test", "fewnerd_coarse", "news", "pii"]


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_schemas_validate_against_meta_schema(name):
    path = bundled_schema_path(name)
    schema = Schema.load(path)
    assert len(schema) > 0
    if path.suffix == ".json":
        jsonschema.validate(json.loads(path.read_text()), meta_schema())


def test_fewnerd_schemas_have_the_official_types(fewnerd_dir):
    from zeroshot.core.loaders import read_fewnerd

    fine = Schema.load("fewnerd_fine")
    assert len(fine) == 66 and len(set(fine.labels())) == 66
    coarse = Schema.load("fewnerd_coarse")
    assert set(coarse.names) == {n.split("-")[0] for n in fine.names}
    inter = Schema.load("fewnerd_inter_test")
    gold_types = {s.label for ex in read_fewnerd(fewnerd_dir / "inter/test.txt.gz", limit=3000)
                  for s in ex.spans}
    assert gold_types == set(inter.names)
    assert set(inter.names) <= set(fine.names)
    assert inter["person-athlete"].label == "athlete"


def test_from_labels_and_mapping():
    s = Schema.from_labels(["person", "company"])
    assert s.names == ("person", "company") and s.labels() == ["person", "company"]
    d = Schema.from_labels({"person": "a human", "company": "a business"}, overlap="nested")
    assert d["person"].description == "a human"
    assert d.options.overlap is OverlapPolicy.NESTED


def test_label_defaults_to_name_and_thresholds():
    s = Schema.from_dict({"name": "x", "options": {"threshold": 0.3}, "entity_types": [
        {"name": "a"}, {"name": "b", "label": "bee", "threshold": 0.7}]})
    assert s["a"].label == "a"
    assert s.threshold_for("a") == 0.3 and s.threshold_for("b") == 0.7
    assert s.name_for_label("bee") == "b"
    assert s.resolve_label("BEE") == ("b", True)
    assert s.resolve_label("b") == ("b", False)
    assert s.resolve_label("wasp") is None


def test_json_schema_is_closed_and_bounded(small_schema):
    js = small_schema.json_schema()
    jsonschema.Draft202012Validator.check_schema(js)
    item = js["properties"]["entities"]["items"]
    assert js["additionalProperties"] is False and item["additionalProperties"] is False
    assert item["properties"]["label"]["enum"] == ["person", "city"]
    assert js["properties"]["entities"]["maxItems"] >= 1
    assert item["properties"]["text"]["maxLength"] >= 1
    ok = {"entities": [{"text": "Bob", "label": "person"}]}
    jsonschema.validate(ok, js)
    for bad in ({"entities": [{"text": "Bob", "label": "dog"}]},
                {"entities": [{"text": "Bob", "label": "person", "x": 1}]},
                {"entities": [], "extra": 1}, {}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, js)


def test_prompt_variables(small_schema):
    v = small_schema.prompt_variables()
    assert v["names"] == ["person", "city"]
    assert v["entity_types"][0]["label"] == "person name"
    assert v["entity_types"][1]["description"] == "a city"


def test_round_trip_json_and_yaml(tmp_path, small_schema):
    for suffix in (".json", ".yaml"):
        p = tmp_path / f"s{suffix}"
        small_schema.save(p)
        assert Schema.load(p) == small_schema


@pytest.mark.parametrize("content, needle", [
    ('{"name": "x", "entity_types": [{"name": "a"}, {"name": "a"}]}',
     "duplicate entity type name 'a'"),
    ('{"name": "x", "entity_types": [{"name": "a", "label": "L"}, {"name": "b", "label": "l"}]}',
     "duplicate entity type label"),
    ('{"name": "x", "entity_types": []}', "/entity_types"),
    ('{"name": "x", "entity_types": [{"name": "a", "colour": 1}]}', "/entity_types/0"),
    ('{"name": "x", "entity_types": [{"name": "a", "threshold": 2}]}', "/entity_types/0/threshold"),
    ('{"name": "x", "entity_types": [{"name": "a"}], "options": {"overlap": "any"}}',
     "/options/overlap"),
    ('{"name": "x", "entity_types": [{"name": " a"}]}', "/entity_types/0/name"),
    ('{"name": "x", "entity_types": [{"name": "a"}],}', "invalid JSON at line 1"),
    ('[1, 2]', "a schema must be an object"),
    ('["person", "city"]', "bare labels: Schema.from_labels in Python, --labels on the command"),
    ('"person"', "a schema must be an object, got str"),
])
def test_malformed_schema_files_name_the_problem(tmp_path, content, needle):
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(SchemaError) as err:
        Schema.load(p)
    assert needle in str(err.value)
    assert str(p) in str(err.value)


def test_non_utf8_and_missing_and_yaml_errors(tmp_path):
    p = tmp_path / "latin1.json"
    p.write_bytes(b'{"name": "caf\xe9", "entity_types": [{"name": "a"}]}')
    with pytest.raises(SchemaError, match="not UTF-8"):
        Schema.load(p)
    with pytest.raises(SchemaError, match="not found"):
        Schema.load(tmp_path / "nope.json")
    y = tmp_path / "bad.yaml"
    y.write_text("name: x\nentity_types: [\n")
    with pytest.raises(SchemaError, match="invalid YAML at line"):
        Schema.load(y)
    with pytest.raises(SchemaError, match="no bundled schema named 'nosuch'") as err:
        Schema.load("nosuch")
    assert "for ad-hoc labels pass a list, e.g. ['nosuch']" in str(err.value)


def test_from_labels_errors_begin_with_their_source():
    with pytest.raises(SchemaError, match=r"^--labels: schema 'labels': duplicate entity type "
                                          r"label 'person'"):
        Schema.from_labels(["person", "Person"], name="labels", source="--labels")
    with pytest.raises(SchemaError, match=r"^<labels>: "):
        Schema.from_labels(["a", "a"])


def test_unknown_label_error(small_schema):
    with pytest.raises(UnknownLabelError, match=r"unknown label 'dog'.*'person'"):
        small_schema["dog"]
    with pytest.raises(SchemaError):
        Schema.from_labels("person")


def test_coerce():
    assert Schema.coerce(["a"]).names == ("a",)
    assert Schema.coerce("news").name == "news"
    assert Schema.coerce({"a": "desc"})["a"].description == "desc"


@pytest.mark.parametrize("bad", [2, -1, float("nan"), "0.5", True])
def test_thresholds_outside_the_unit_interval_are_refused(bad):
    with pytest.raises(SchemaError, match="threshold"):
        Schema.from_labels(["a"]).with_options(threshold=bad)
    with pytest.raises(SchemaError, match="threshold"):
        Schema.from_dict({"name": "s", "entity_types": [{"name": "a", "threshold": bad}]})


def test_no_threshold_means_the_engine_default():
    s = Schema.from_dict({"name": "s", "entity_types": [{"name": "a"}, {"name": "b",
                                                                        "threshold": 0.7}]})
    assert s.options.threshold is None
    assert s.thresholds(0.35) == {"a": 0.35, "b": 0.7}
    assert s.with_options(threshold=0.6).thresholds(0.35) == {"a": 0.6, "b": 0.7}


# --------------------------------------------------------------------------- hostile files
@pytest.mark.parametrize("name, content, needle", [
    ("nan.yaml", "name: x\nentity_types: [{name: a}]\noptions: {threshold: .nan}\n",
     "options.threshold nan is not in"),
    ("nan_type.yaml", "name: x\nentity_types: [{name: a, threshold: .nan}]\n",
     "entity type 'a': threshold nan is not in"),
    ("two.yaml", "name: x\nentity_types: [{name: a}]\noptions: {threshold: 2}\n",
     "options/threshold: 2 is greater than the maximum of 1"),
    ("neg.json", '{"name": "x", "entity_types": [{"name": "a", "threshold": -1}]}',
     "threshold: -1 is less than the minimum of 0"),
    ("nan.json", '{"name": "x", "entity_types": [{"name": "a"}], "options": {"threshold": NaN}}',
     "NaN is not valid JSON"),
    ("inf.json", '{"name": "x", "entity_types": [{"name": "a", "threshold": Infinity}]}',
     "Infinity is not valid JSON"),
    ("dup.yaml", "name: x\nentity_types: [{name: a}]\nname: y\n",
     "duplicate key 'name' at line 3 (first at line 1)"),
    ("dup_type.yaml", "name: x\nentity_types:\n  - {name: a, label: b, label: c}\n",
     "duplicate key 'label' at line 3"),
    ("dup.json", '{"name": "x", "entity_types": [{"name": "a"}], "name": "y"}',
     "duplicate key 'name' in one object"),
])
def test_bad_schema_files_are_refused_with_their_location(tmp_path, name, content, needle):
    p = tmp_path / name
    p.write_text(content, encoding="utf-8")
    with pytest.raises(SchemaError) as err:
        Schema.load(p)
    assert needle in str(err.value) and str(p) in str(err.value)


def test_yaml_alias_bomb_is_refused_fast(tmp_path):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\nname: x\nentity_types: [{name: a}]\n")
    many = tmp_path / "many.yaml"
    many.write_text("x: &x 1\ny: [" + ", ".join(["*x"] * 150) + "]\n")
    t0 = time.monotonic()
    with pytest.raises(SchemaError, match="more than 200000 values"):
        Schema.load(bomb)
    with pytest.raises(SchemaError, match="more than 100 YAML aliases"):
        Schema.load(many)
    assert time.monotonic() - t0 < 5


def test_a_huge_label_is_not_echoed_in_full(tmp_path, capsys):
    from zeroshot.cli import main

    p = tmp_path / "big.json"
    p.write_text(json.dumps({"name": "x", "entity_types": [{"name": "a" * 10_000}]}))
    with pytest.raises(SchemaError) as err:
        Schema.load(p)
    assert "maxLength" in str(err.value) or "too long" in str(err.value)
    assert len(str(err.value)) < 600
    with pytest.raises(UnknownLabelError) as unknown:
        Schema.from_labels(["a"])["b" * 10_000]
    assert len(str(unknown.value)) < 300
    assert main(["schema", str(p)]) == 1
    assert len(capsys.readouterr().err) < 600
