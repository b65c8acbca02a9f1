from __future__ import annotations

import json

import pytest

from zeroshot.core.schema import Schema
from zeroshot.engines.llm.prompts import PromptBuilder, PromptError


def test_zero_shot_lists_labels_descriptions_and_examples(tiny_schema: Schema):
    msgs = PromptBuilder().messages("Bob went home.", tiny_schema)
    assert [m["role"] for m in msgs] == ["system", "user"]
    system = msgs[0]["content"]
    assert "- person name (e.g. Ada Lovelace)" in system
    assert "- city: a city" in system
    assert '{"entities": []}' in system  # the explicit "none" answer
    assert msgs[1]["content"] == "Text: Bob went home."


def test_without_descriptions_and_with_names(tiny_schema: Schema):
    system = PromptBuilder(describe=False, label_key="name").system(tiny_schema)
    assert "- person\n" in system and "a city" not in system and "Ada Lovelace" not in system


def test_few_shot_replays_demonstrations_as_turns(tiny_schema: Schema):
    msgs = PromptBuilder(shots=1).messages("Bob went home.", tiny_schema)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    assert msgs[1]["content"] == "Text: Ada met Bob in Rome."
    answer = json.loads(msgs[2]["content"])
    assert answer["entities"][0] == {"text": "Ada", "label": "person name"}
    assert {"text": "Rome", "label": "city"} in answer["entities"]


def test_too_many_shots_is_a_clear_error(tiny_schema: Schema):
    with pytest.raises(PromptError, match="2-shot prompts need 2 demonstrations"):
        PromptBuilder(shots=2).messages("x", tiny_schema)


def test_custom_template_dir(tmp_path, tiny_schema: Schema):
    (tmp_path / "extract_system.j2").write_text("Types: {{ names | join('|') }}")
    (tmp_path / "extract_user.j2").write_text(">> {{ text }}")
    msgs = PromptBuilder(template_dir=tmp_path).messages("hi", tiny_schema)
    assert msgs[0]["content"] == "Types: person|city" and msgs[1]["content"] == ">> hi"


def test_missing_template_and_undefined_variable(tmp_path, tiny_schema: Schema):
    with pytest.raises(PromptError, match="not found"):
        PromptBuilder(template_dir=tmp_path).system(tiny_schema)
    (tmp_path / "extract_system.j2").write_text("{{ nope }}")
    with pytest.raises(PromptError, match="failed to render"):
        PromptBuilder(template_dir=tmp_path).system(tiny_schema)


def test_demonstration_must_match_schema():
    base = {"name": "s", "entity_types": [{"name": "city"}]}
    with pytest.raises(ValueError, match="unknown entity type 'person'"):
        Schema.from_dict({**base, "demonstrations": [
            {"text": "Ada.", "entities": [{"text": "Ada", "label": "person"}]}]})
    with pytest.raises(ValueError, match="does not occur"):
        Schema.from_dict({**base, "demonstrations": [
            {"text": "Rome.", "entities": [{"text": "Oslo", "label": "city"}]}]})
