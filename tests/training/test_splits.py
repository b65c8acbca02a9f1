"""The committed split definition (eval/splits/general_v1.json) and its loader."""

from __future__ import annotations

import pytest

from zeroshot.core.schema import Schema
from zeroshot.training.splits import (
    DEFAULT_SPLIT,
    fewnerd_dev_sentences,
    fewnerd_train_examples,
    inter_test_texts,
    load_split,
    normalise_text,
)


def test_committed_split_is_consistent():
    split = load_split(DEFAULT_SPLIT)
    assert len(split.fewnerd_dev_ids) == 2000
    train_types = {t.name for t in Schema.load("fewnerd_inter_train")}
    test_labels = {t.label for t in Schema.load(split.fewnerd_test_schema)}
    assert set(split.fewnerd_heldout_types) <= train_types
    assert test_labels <= set(split.inter_test_near_labels) | test_labels
    assert not {d.name for d in split.dev_datasets} & set(split.excluded)
    assert all(i.split(":")[0] in ("train_part_a", "train_part_b")
               for i in split.fewnerd_dev_ids)


def test_fewnerd_dev_sentences_hold_no_test_sentence(fewnerd_dir):
    split = load_split()
    dev = fewnerd_dev_sentences(split, fewnerd_dir)
    assert len(dev) == 2000 and {e.id for e in dev} == split.fewnerd_dev_ids
    train, _ = fewnerd_train_examples(split, fewnerd_dir)
    assert len(train) + len(dev) == 24722
    test = inter_test_texts(split.fewnerd_test, fewnerd_dir)
    assert not [e.id for e in dev if normalise_text(e.tokens.tokens) in test]


def test_missing_keys_and_ids_are_errors(tmp_path):
    p = tmp_path / "s.json"
    p.write_text('{"name": "x"}')
    with pytest.raises(ValueError, match="lacks"):
        load_split(p)
