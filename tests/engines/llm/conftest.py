from __future__ import annotations

import os
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


@pytest.fixture(scope="session")
def vllm_offline(tiny_llm_dir):
    """One vLLM engine on the tiny model for every test module, every core given
    to the model by the explicit call (restored afterwards); it records the
    environment around its constructor, which must not write it."""
    need("vllm")
    from zeroshot.engines.llm.backends import (
        RESERVED_CPU_ENV,
        VLLMOfflineBackend,
        reserve_vllm_cpus,
    )

    old = os.environ.get(RESERVED_CPU_ENV)
    reserve_vllm_cpus(0)
    before = dict(os.environ)
    backend = VLLMOfflineBackend(tiny_llm_dir, max_model_len=1024, kv_cache_gib=1,
                                 enforce_eager=True)
    backend.environ_before, backend.environ_after = before, dict(os.environ)
    yield backend
    backend.close()
    if old is None:
        os.environ.pop(RESERVED_CPU_ENV, None)
    else:
        os.environ[RESERVED_CPU_ENV] = old


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
