"""The mixture builder's rules, on a tiny collection (tests/training/conftest.py)."""

from __future__ import annotations

import json

import pytest

from zeroshot.training.mixture import Mixture, MixtureConfig, build_mixture


@pytest.fixture
def built(toy):
    cfg = MixtureConfig.load(toy["mixture"])
    return build_mixture(cfg, ner_root=toy["ner"], fewnerd_root=toy["fewnerd"])


def _records(m, pool):
    return [r for r in m.records if r["pool"] == pool]


def test_fewnerd_prompts_hold_only_safe_labels(built):
    pool = built.pools["fewnerd_inter_train"]
    assert set(pool.own) == {"company", "geopolitical entity", "sports team", "organization"}
    assert pool.foreign == ()  # never another corpus's labels: INTER-test mentions are O
    assert pool.parents == {"company": ("organization",), "sports team": ("organization",)}
    # "location"/"player" are near INTER-test labels; "peak" paraphrases a held-out type
    assert pool.variants["company"] == ["business", "firm"]
    dropped = built.stats["dropped"]
    assert dropped["paraphrase near an INTER-test label (Few-NERD prompts)"] == {
        "fewnerd_inter_train": 2}


def test_heldout_types_and_test_and_dev_sentences_never_train(built):
    texts = [" ".join(r["tokenized_text"]) for r in built.records]
    assert "Zed played for Ajax in Amsterdam ." not in texts  # an INTER-test sentence
    assert "Paris hosted it ." not in texts                     # the Few-NERD dev sentence
    labels = {lab for r in built.records for *_, lab in r["ner"]}
    assert "mountain" not in labels and "award" not in labels
    # the sentence whose only span was a held-out type stays, unlabelled (empty_rate 1.0)
    assert "He climbed Everest ." in texts
    d = built.stats["dropped"]
    assert d["sentence equals a Few-NERD INTER-test sentence"] == {
        "fewnerd_inter_train": 1, "news": 1}
    assert d["span of dropped type 'location-mountain'"] == {"fewnerd_inter_train": 1}
    assert d["span of dropped type 'award'"] == {"news": 1}
    assert built.pools["bio"].variants["protein"] == ["polypeptide"]  # "award" removed


def test_renames_drops_weights_caps_and_partial_corpora(built):
    d = built.stats["dropped"]
    assert d["span of dropped type 'miscellaneous'"] == {"news": 1}
    assert d["over the corpus cap"] == {"bio": 20}
    dial = _records(built, "dial")
    assert {lab for r in dial for *_, lab in r["ner"]} == {"arrival city", "date"}
    assert {r["repeat"] for r in dial} <= {0, 1} and 0 < len(dial) < 25  # weight 0.5
    assert all(r["repeat"] == 2 for r in _records(built, "fewnerd_inter_train"))
    partial = built.pools["partial"]
    assert partial.positives_only and [r["tokenized_text"] for r in
                                       _records(built, "partial")] == [["a", "cytokine", "here"]]


def test_foreign_negatives_skip_related_universal_and_same_group_labels(built):
    news = built.pools["news"]
    # "arrival city" is a kind of location (news annotates locations), "date" is universal
    assert set(news.foreign) == {"protein", "gene"}
    assert set(built.pools["bio"].foreign) == {"location"}  # "person" is universal
    assert built.pools["dial"].foreign == ("gene", "protein")


def test_write_read_round_trip(built, tmp_path):
    path = tmp_path / "m.jsonl.gz"
    built.write(path)
    back = Mixture.read(path)
    assert back.pools == built.pools
    assert [(r["pool"], r["repeat"], r["tokenized_text"], r["ner"]) for r in back.records] == [
        (r["pool"], r["repeat"], r["tokenized_text"], r["ner"]) for r in built.records]
    with pytest.raises(AssertionError, match="training sentences are probe sentences"):
        back.assert_disjoint({"adalivesinparis"}, "probe")


def test_config_must_account_for_every_dataset(toy, tmp_path):
    raw = json.loads(toy["mixture"].read_text())
    del raw["corpora"]["partial"]
    (tmp_path / "m1.json").write_text(json.dumps(raw))
    with pytest.raises(ValueError, match=r"neither in the mixture config.*\['partial'\]"):
        build_mixture(MixtureConfig.load(tmp_path / "m1.json"), ner_root=toy["ner"],
                      fewnerd_root=toy["fewnerd"])
    raw = json.loads(toy["mixture"].read_text())
    raw["corpora"]["devcorp"] = {}
    (tmp_path / "m2.json").write_text(json.dumps(raw))
    with pytest.raises(ValueError, match=r"keeps \['devcorp'\] out of training"):
        build_mixture(MixtureConfig.load(tmp_path / "m2.json"), ner_root=toy["ner"],
                      fewnerd_root=toy["fewnerd"])
