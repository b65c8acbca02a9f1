"""A tiny random Qwen2 chat model, built in seconds, for tests that need a real
model but no download: a byte-level BPE tokenizer trained here on a few lines,
a ChatML chat template, and 2 layers of random weights. Its answers are noise;
under a grammar they must still be schema-valid JSON, which is what tests check.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest


def need(*modules: str) -> None:
    """Skip without an engine library locally; in CI a missing one is a failure."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            if os.environ.get("CI"):
                pytest.fail(f"{module} is not installed in CI")
            pytest.skip(f"{module} not installed")

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

CORPUS = [
    '{"entities": [{"text": "Paris", "label": "city"}, {"text": "Ada", "label": "person"}]}',
    "Text: Ada Lovelace was born in London and moved to Paris in 1840.",
    "You are a precise named-entity extractor. Entity types: person, city, none.",
    "The quick brown fox jumps over the lazy dog. 0123456789 ,.;:!?()[]{}\"'-_/",
]


def build_tiny_llm(path: Path, *, seed: int = 0) -> Path:
    """Write a tiny random Qwen2 model directory at ``path`` and return it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    path.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", bos_token=None)
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(path))

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=32,
        max_position_embeddings=2048, tie_word_embeddings=True,
        eos_token_id=fast.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=fast.convert_tokens_to_ids("<|endoftext|>"),
        bos_token_id=None, torch_dtype="bfloat16",
    )
    model = Qwen2ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(str(path))
    (path / "generation_config.json").write_text(json.dumps(
        {"eos_token_id": config.eos_token_id, "pad_token_id": config.pad_token_id}))
    return path


if __name__ == "__main__":
    import sys

    print(build_tiny_llm(Path(sys.argv[1])))
