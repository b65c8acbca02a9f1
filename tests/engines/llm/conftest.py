from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from tiny_llm import build_tiny_llm, need

from zeroshot.core.schema import Schema


@pytest.fixture(scope="session")
def tiny_llm_dir(tmp_path_factory) -> Path:
    need("transformers")
    return build_tiny_llm(tmp_path_factory.mktemp("tiny-llm"))


@pytest.fixture
def tiny_schema() -> Schema:
    """Small bounds keep a random model's longest possible answer short."""
    return Schema.from_dict({
        "name": "tiny",
        "entity_types": [
            {"name": "person", "label": "person name", "examples": ["Ada Lovelace"]},
            {"name": "city", "description": "a city"},
        ],
        "options": {"max_entities": 3, "max_span_chars": 16},
        "demonstrations": [
            {"text": "Ada met Bob in Rome.",
             "entities": [{"text": "Ada", "label": "person"}, {"text": "Bob", "label": "person"},
                          {"text": "Rome", "label": "city"}]},
        ],
    })


TEXTS = [
    "Ada Lovelace was born in London.",
    "Nothing to see here.",
    "Paris , Rome and Oslo are cities ; Bob lives in Oslo .",
]
