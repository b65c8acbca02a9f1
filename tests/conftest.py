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


@pytest.fixture(scope="session")
def tiny_bi_encoder(tmp_path_factory) -> Path:
    """A saved GLiNER bi-encoder span model (``markerV0``, random weights): a two-layer
    BERT with the bundled MiniLM model's tokenizer as both its text and labels
    encoder. The folders it was built from are removed: loading must not need them."""
    import shutil

    if not os.environ.get("CI"):
        pytest.importorskip("gliner")
    import torch
    from gliner import GLiNER, GLiNERConfig
    from transformers import AutoTokenizer, BertConfig, BertModel

    from zeroshot.engines.gliner import resolve_model

    root = tmp_path_factory.mktemp("bi")
    enc = root / "encoder"
    src = resolve_model("gliner-minilm-general")
    torch.manual_seed(0)
    vocab = len(AutoTokenizer.from_pretrained(str(src)))
    BertModel(BertConfig(vocab_size=vocab, hidden_size=384, num_hidden_layers=2,
                         num_attention_heads=6, intermediate_size=512)).save_pretrained(enc)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(src / name, enc / name)
    cfg = GLiNERConfig(model_name=str(enc), labels_encoder=str(enc), span_mode="markerV0",
                       max_width=12, max_len=256, hidden_size=384, dropout=0.1, max_types=25,
                       num_rnn_layers=0)
    model = GLiNER.from_config(cfg, backbone_from_pretrained=True, load_tokenizer=True)
    model.save_pretrained(str(root / "model"))
    shutil.rmtree(enc)
    return root / "model"
