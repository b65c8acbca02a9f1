"""MPNet's fused-attention forward against transformers' own, on the default model's encoder."""

import os

import pytest

if not os.environ.get("CI"):
    pytest.importorskip("gliner")

import torch

from zeroshot.engines.gliner import DEFAULT_MODEL, load_gliner
from zeroshot.engines.gliner_mpnet import MPNetEncoder, fast_encoder, is_mpnet


@pytest.fixture(scope="module")
def mpnet():
    model = load_gliner(DEFAULT_MODEL)
    bert = model.model.token_rep_layer.bert_layer.model
    assert is_mpnet(bert), "the default model's encoder is MPNet"
    return bert.eval()


def _batch(lengths, vocab, pad_id, seed=0):
    g = torch.Generator().manual_seed(seed)
    L = max(lengths)
    ids = torch.full((len(lengths), L), pad_id, dtype=torch.long)
    mask = torch.zeros((len(lengths), L), dtype=torch.long)
    for r, n in enumerate(lengths):
        ids[r, :n] = torch.randint(5, vocab, (n,), generator=g)
        mask[r, :n] = 1
    return ids, mask


@pytest.mark.parametrize("lengths", [[13], [40, 7, 21], [64, 64], [512, 3]])
def test_fused_forward_equals_transformers(mpnet, lengths):
    """Real positions agree with transformers' forward for ragged batches, lengths that
    are and are not multiples of the alignment, and the encoder's full 512."""
    fast = MPNetEncoder(mpnet)
    ids, mask = _batch(lengths, mpnet.config.vocab_size, fast.pad_id)
    with torch.inference_mode():
        want = mpnet(input_ids=ids, attention_mask=mask).last_hidden_state
        got = fast(input_ids=ids, attention_mask=mask).last_hidden_state
    assert got.shape == want.shape
    for r, n in enumerate(lengths):
        torch.testing.assert_close(got[r, :n], want[r, :n], rtol=1e-4, atol=1e-4)


def test_position_bias_is_cached_per_length(mpnet):
    fast = MPNetEncoder(mpnet)
    like = torch.zeros(1)
    a = fast.position_bias(16, like)
    assert fast.position_bias(16, like) is a
    assert a.shape == (1, mpnet.config.num_attention_heads, 16, 16)
    assert fast.position_bias(24, like).shape[-1] == 24


def test_other_encoders_are_returned_as_they_are():
    module = torch.nn.Linear(2, 2)
    assert fast_encoder(module) is module
    with pytest.raises(TypeError, match="not an MPNetModel"):
        MPNetEncoder(module)


def test_gelu_tanh_epilogue_is_close_to_exact_gelu():
    """The GELU-epilogue path (``torch._addmm_activation``: cuBLASLt's tanh-approximate
    epilogue on CUDA; exact GELU on CPU) on a small random MPNet: within 1e-2 of the
    exact forward."""
    from transformers import MPNetConfig, MPNetModel

    torch.manual_seed(0)
    cfg = MPNetConfig(vocab_size=100, hidden_size=64, num_hidden_layers=2,
                      num_attention_heads=4, intermediate_size=128)
    mpnet = MPNetModel(cfg).eval()
    ids, mask = _batch([11, 6], 100, 1)
    with torch.inference_mode():
        exact = MPNetEncoder(mpnet)(input_ids=ids, attention_mask=mask).last_hidden_state
        tanh = MPNetEncoder(mpnet, gelu_tanh=True)(input_ids=ids,
                                                   attention_mask=mask).last_hidden_state
    diff = (exact - tanh)[mask.bool()].abs().max().item()
    assert diff < 1e-2
