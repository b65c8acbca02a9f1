"""A tiny corpus collection, Few-NERD root and split definition for the training tests."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _gz(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")


def _fewnerd(path: Path, sentences) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for sent in sentences:
            for tok, tag in sent:
                fh.write(f"{tok}\t{tag}\n")
            fh.write("\n")


@pytest.fixture
def toy(tmp_path: Path) -> dict[str, Path]:
    ner = tmp_path / "ner"
    _gz(ner / "news" / "train.jsonl.gz", [
        {"tokens": ["Ada", "lives", "in", "Paris", "."], "spans": [[0, 1, "person"],
                                                             [3, 4, "location"]]},
        {"tokens": ["The", "Euro", "fell", "."], "spans": [[1, 2, "miscellaneous"]]},
        {"tokens": ["Bob", "won", "an", "award", "called", "Oscar", "."],
         "spans": [[0, 1, "person"], [5, 6, "award"]]},
        # the same text as an INTER-test sentence below: must be dropped
        {"tokens": ["Zed", "played", "for", "Ajax", "in", "Amsterdam", "."],
         "spans": [[0, 1, "person"]]},
    ])
    _gz(ner / "bio" / "train.jsonl.gz", [
        {"tokens": ["p53", "binds", "MDM2", "."], "spans": [[0, 1, "protein"], [2, 3, "protein"]]},
        {"tokens": ["IL-2", "gene", "is", "expressed", "."], "spans": [[0, 1, "gene"]]},
    ] * 15)
    _gz(ner / "dial" / "train.jsonl.gz", [
        {"tokens": ["fly", "to", "Boston", "tomorrow"], "spans": [[2, 3, "destination city"],
                                                                 [3, 4, "date"]]},
    ] * 25)
    _gz(ner / "partial" / "train.jsonl.gz", [
        {"tokens": ["a", "cytokine", "here"], "spans": [[1, 2, "cytokine"]]},
        {"tokens": ["nothing", "here"], "spans": []},
    ])
    _gz(ner / "devcorp" / "dev.jsonl.gz", [
        {"tokens": ["The", "judge", "Smith", "ruled", "."], "spans": [[2, 3, "judge"]]},
    ])
    _gz(ner / "skipme" / "train.jsonl.gz", [{"tokens": ["x"], "spans": []}])
    fn = tmp_path / "fewnerd"
    train = [
        [("Acme", "organization-company"), ("sued", "O"), ("Globex", "organization-company"),
         (".", "O")],
        [("He", "O"), ("climbed", "O"), ("Everest", "location-mountain"), (".", "O")],
        [("Rome", "location-GPE"), ("is", "O"), ("old", "O"), (".", "O")],
        [("Zed", "O"), ("played", "O"), ("for", "O"), ("Ajax", "organization-sportsteam"),
         ("in", "O"), ("Amsterdam", "location-GPE"), (".", "O")],
        [("Paris", "location-GPE"), ("hosted", "O"), ("it", "O"), (".", "O")],
        [("The", "O"), ("UN", "organization-other"), ("and", "O"), ("Acme", "organization-company"),
         ("met", "O"), (".", "O")],
    ]
    _fewnerd(fn / "inter" / "train_part_a.txt.gz", train)
    _fewnerd(fn / "inter" / "test.txt.gz", [
        [("Zed", "person-athlete"), ("played", "O"), ("for", "O"), ("Ajax", "O"), ("in", "O"),
         ("Amsterdam", "O"), (".", "O")]])
    split = {
        "name": "toy", "seed": 1,
        "zero_shot_dev_datasets": {"devcorp": {"splits": ["dev"], "limit": 10}},
        "excluded_from_training": {"skipme": "test exclusion"},
        "fewnerd": {"train_files": ["inter/train_part_a"],
                    "dev_sentences": {"ids": ["train_part_a:4"]},
                    "heldout_types": ["location-mountain", "other-award"],
                    "test": "inter/test", "test_schema": "fewnerd_inter_test"},
        "inter_test_near_labels": ["location", "athlete", "player"],
    }
    (tmp_path / "split.json").write_text(json.dumps(split))
    labels = {
        "rename": {"*": {"destination city": "arrival city"}},
        "drop": {"*": ["miscellaneous"]},
        "hierarchy": {"location": ["geopolitical entity", "city", "arrival city"],
                      "organization": ["company", "sports team"],
                      "geopolitical entity": ["city"]},
        "universal": ["date", "person"],
    }
    (tmp_path / "labels.json").write_text(json.dumps(labels))
    (tmp_path / "variants.json").write_text(json.dumps({
        "company": ["firm", "location", "player"], "protein": ["polypeptide", "award"],
        "person": ["human"]}))
    (tmp_path / "fn_variants.json").write_text(json.dumps({
        "company": ["business"], "mountain": ["peak"]}))
    mixture = {
        "name": "toy", "split": str(tmp_path / "split.json"),
        "labels": str(tmp_path / "labels.json"), "variants": [str(tmp_path / "variants.json")],
        "fewnerd_variants": str(tmp_path / "fn_variants.json"), "seed": 3,
        "min_foreign_count": 1,
        "foreign_from": {"general": ["biomedical", "dialogue"], "biomedical": ["general"],
                         "dialogue": ["biomedical"]},
        "defaults": {"empty_rate": 0.0},
        "corpora": {
            "fewnerd_inter_train": {"weight": 2.0, "empty_rate": 1.0},
            "news": {"splits": ["train"]},
            "bio": {"group": "biomedical", "cap": 10},
            "dial": {"group": "dialogue", "weight": 0.5},
            "partial": {"annotation": "partial"},
        },
    }
    (tmp_path / "mixture.json").write_text(json.dumps(mixture))
    return {"ner": ner, "fewnerd": fn, "split": tmp_path / "split.json",
            "mixture": tmp_path / "mixture.json", "labels": tmp_path / "labels.json"}
