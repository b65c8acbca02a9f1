from __future__ import annotations

import os

# No test may touch a model hub: set before anything imports huggingface_hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
from pathlib import Path

import pytest
from hypothesis import settings

from zeroshot.core.schema import Schema

ROOT = Path(__file__).resolve().parents[1]
FEWNERD = ROOT.parent / "shared" / "data" / "fewnerd"

settings.register_profile("ci", max_examples=300, deadline=None)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def small_schema() -> Schema:
    return Schema.from_dict({
        "name": "t",
        "entity_types": [
            {"name": "person", "label": "person name"},
            {"name": "city", "description": "a city"},
        ],
    })


@pytest.fixture
def fewnerd_dir() -> Path:
    if not FEWNERD.is_dir():
        pytest.skip("Few-NERD not found at ../shared/data/fewnerd")
    return FEWNERD
