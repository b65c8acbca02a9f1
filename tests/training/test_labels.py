import json
from pathlib import Path

import pytest

from zeroshot.training.labels import LabelRules, clashes, load_variants, usable_variants

ROOT = Path(__file__).resolve().parents[2]


def _rules(tmp_path, **raw):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(raw))
    return LabelRules.load(path)


def test_map_renames_per_dataset_before_the_wildcard_and_drops(tmp_path):
    rules = _rules(tmp_path, rename={"conll": {"PER": "person"}, "*": {"PER": "human",
                                                                      "ORG": "organization"}},
                   drop={"conll": ["MISC"], "*": ["O"]})
    assert rules.map("conll", "PER") == "person"
    assert rules.map("other", "PER") == "human"
    assert rules.map("conll", "ORG") == "organization"
    assert rules.map("conll", "MISC") is None and rules.map("other", "MISC") == "MISC"
    assert rules.map("any", "O") is None


def test_hierarchy_is_walked_transitively_both_ways(tmp_path):
    rules = _rules(tmp_path, hierarchy={"person": ["athlete", "person"],
                                        "athlete": ["tennis player"]})
    assert rules.ancestors("tennis player") == {"athlete", "person"}
    assert rules.descendants("person") == {"athlete", "tennis player"}
    assert rules.related("athlete") == {"person", "tennis player"}
    assert rules.ancestors("person") == set()  # a label listed under itself is no parent


def test_unknown_keys_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"unknown keys \['renames'\]"):
        _rules(tmp_path, renames={})


def test_variants_merge_without_self_or_duplicates_and_check_types(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"_comment": "x", "film": ["movie", "Film", "picture"]}))
    b.write_text(json.dumps({"film": ["movie", "motion picture"]}))
    assert load_variants([a, b]) == {"film": ["movie", "picture", "motion picture"]}
    b.write_text(json.dumps({"film": "movie"}))
    with pytest.raises(ValueError, match="'film' must map to a list of strings"):
        load_variants([b])


def test_forbidden_strings_are_found_and_removed_case_insensitively():
    assert clashes(["Mountain", "city"], ["mountain"]) == ["Mountain"]
    kept, removed = usable_variants({"place": ["Mountain", "spot"], "dish": ["Ship"]},
                                    ["place", "dish"], ["mountain", "ship"])
    assert kept == {"place": ["spot"]} and removed == 2


def test_the_shipped_label_rules_load_without_cycles():
    rules = LabelRules.load(ROOT / "eval/configs/general_labels.json")
    assert rules.hierarchy and rules.rename
    for parent in rules.hierarchy:  # no cycle: a label is never its own ancestor
        assert parent not in rules.ancestors(parent)
