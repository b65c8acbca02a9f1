"""GLiNER training records: token spans, per-read negatives, label paraphrases."""

from __future__ import annotations

import pytest

from zeroshot.core.loaders import Example
from zeroshot.core.schema import Schema
from zeroshot.core.spans import Span
from zeroshot.core.text import TokenizedText
from zeroshot.engines.gliner_data import NegativeSamplingDataset, to_gliner_records

SCHEMA = Schema.from_dict({"name": "t", "entity_types": [
    {"name": "person-politician", "label": "politician"},
    {"name": "location-GPE", "label": "country or city"},
    *({"name": f"t{i}", "label": f"label {i}"} for i in range(10)),
]})


def _example() -> Example:
    tok = TokenizedText.from_tokens(["Obama", "visited", "Paris", "."])
    return Example("0", tok, (Span(0, 5, "person-politician", "Obama", token_start=0,
                                   token_end=1),
                              Span(14, 19, "location-GPE", "Paris", token_start=2,
                                   token_end=3)))


def test_records_use_labels_and_inclusive_token_ends():
    [rec] = to_gliner_records([_example()], SCHEMA)
    assert rec == {"tokenized_text": ["Obama", "visited", "Paris", "."],
                   "ner": [[0, 0, "politician"], [2, 2, "country or city"]]}
    bad = Example("1", TokenizedText.from_tokens(["x"]), (Span(0, 1, "person-politician", "x"),))
    with pytest.raises(ValueError, match="no token offsets"):
        to_gliner_records([bad], SCHEMA)


def test_negatives_are_redrawn_per_read_and_exclude_positives():
    [rec] = to_gliner_records([_example()], SCHEMA)
    ds = NegativeSamplingDataset([rec], SCHEMA.labels(), min_labels=5, max_labels=8, seed=1)
    reads = [ds[0] for _ in range(20)]
    for r in reads:
        assert r["ner"] == rec["ner"]
        assert 3 <= len(r["ner_negatives"]) <= 6
        assert not {"politician", "country or city"} & set(r["ner_negatives"])
    assert len({tuple(r["ner_negatives"]) for r in reads}) > 1


def test_variants_swap_labels_consistently():
    [rec] = to_gliner_records([_example()], SCHEMA)
    variants = {"politician": ["statesman"], "label 0": ["zero"]}
    ds = NegativeSamplingDataset([rec], SCHEMA.labels(), min_labels=12, max_labels=12,
                                 seed=0, variants=variants, variant_rate=0.5)
    seen = set()
    for _ in range(40):
        r = ds[0]
        names = [lab for *_, lab in r["ner"]]
        seen.add(names[0])
        assert names[1] == "country or city"
        assert "label 0" not in r["ner_negatives"] or "zero" not in r["ner_negatives"]
        assert len(r["ner_negatives"]) == 10  # all other labels, each once
    assert seen == {"politician", "statesman"}
    always = NegativeSamplingDataset([rec], SCHEMA.labels(), min_labels=12, max_labels=12,
                                     variants=variants, variant_rate=1.0)[0]
    assert always["ner"][0][2] == "statesman" and "zero" in always["ner_negatives"]
    with pytest.raises(ValueError, match="not training labels"):
        NegativeSamplingDataset([rec], SCHEMA.labels(), variants={"actor": ["thespian"]})


def _pooled_record(pool: str = "p") -> dict:
    return {"tokenized_text": ["Acme", "hired", "Ada", "."],
            "ner": [[0, 0, "company"], [2, 2, "person"]], "pool": pool}


def test_pool_draws_parents_then_own_types_then_foreign():
    from zeroshot.engines.gliner_data import PromptPool

    pool = PromptPool(own=("company", "person", "organization", "city", "date"),
                      foreign=tuple(f"f{i}" for i in range(30)),
                      parents={"company": ("organization",)})
    ds = NegativeSamplingDataset([_pooled_record()], min_labels=10, max_labels=12,
                                 pools={"p": pool}, seed=3)
    for _ in range(30):
        r = ds[0]
        negs = r["ner_negatives"]
        assert r["ner"] == [[0, 0, "company"], [2, 2, "person"]]
        assert 8 <= len(negs) <= 10 and len(set(negs)) == len(negs)
        assert negs[0] == "organization"                    # the parent, every time
        assert set(negs[1:3]) == {"city", "date"}           # then the corpus's own types
        assert all(n.startswith("f") for n in negs[3:])     # then safe foreign labels
        assert not {"company", "person"} & set(negs)


def test_positives_only_pools_and_repeats():
    from zeroshot.engines.gliner_data import PromptPool

    pools = {"p": PromptPool(own=("company", "person", "x"), positives_only=True)}
    ds = NegativeSamplingDataset([_pooled_record(), {**_pooled_record(), "ner": []}],
                                 min_labels=5, max_labels=5, pools=pools, repeats=[3, 1])
    assert len(ds) == 4
    assert [ds[i]["ner_negatives"] for i in range(4)] == [[], [], [], []]
    assert "pool" not in ds[0]
    with pytest.raises(ValueError, match="pools that were not given"):
        NegativeSamplingDataset([_pooled_record("q")], pools=pools)
    with pytest.raises(ValueError, match="one repeat count per record"):
        NegativeSamplingDataset([_pooled_record()], pools=pools, repeats=[1, 2])


def test_pool_paraphrases_stay_distinct_in_a_prompt():
    from zeroshot.engines.gliner_data import PromptPool

    # "firm" is a paraphrase of two labels, "person" of "company": a prompt never shows a
    # phrase twice, and never a paraphrase equal to another label of the prompt
    pool = PromptPool(own=("company", "person", "business"),
                      variants={"company": ["firm", "person"], "business": ["firm"]})
    ds = NegativeSamplingDataset([_pooled_record()], min_labels=3, max_labels=3,
                                 pools={"p": pool}, variant_rate=1.0, seed=0)
    for _ in range(40):
        r = ds[0]
        shown = [lab for *_, lab in r["ner"]] + r["ner_negatives"]
        assert len({s.casefold() for s in shown}) == len(shown)
        assert r["ner"][1][2] == "person"
        assert r["ner"][0][2] in {"company", "firm"}
