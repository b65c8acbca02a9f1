"""The padded bidirectional LSTM against gliner's packed one (CPU, real weights)."""

import os

import numpy as np
import pytest

if not os.environ.get("CI"):
    pytest.importorskip("gliner")

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from zeroshot.core.schema import Schema
from zeroshot.engines import gliner_runtime as rt
from zeroshot.engines.gliner import GlinerEngine, load_gliner
from zeroshot.engines.gliner_lstm import PaddedBiLSTM, supports


def packed(lstm, words, lengths):
    out, _ = lstm(pack_padded_sequence(words, lengths, batch_first=True, enforce_sorted=False))
    return pad_packed_sequence(out, batch_first=True, total_length=words.size(1))[0]


@pytest.mark.parametrize("buckets", [(1, 1), (64, 8), (3, 5)])
def test_padded_equals_packed(buckets):
    """Ragged rows, unsorted, with and without row / time buckets: the same outputs,
    zeros past each row's length."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(16, 8, batch_first=True, bidirectional=True).eval()
    words = torch.randn(5, 11, 16)
    lengths = torch.tensor([11, 3, 7, 1, 9])
    ours = PaddedBiLSTM(lstm, row_bucket=buckets[0], time_bucket=buckets[1]).eval()
    with torch.inference_mode():
        want = packed(lstm, words, lengths)
        got = ours(words, lengths)
    assert got.shape == want.shape == (5, 11, 16)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert not got[1, 3:].any()


def test_unsupported_lstms_are_refused():
    assert not supports(torch.nn.LSTM(4, 4, batch_first=True))  # one direction
    assert not supports(torch.nn.LSTM(4, 4, num_layers=2, bidirectional=True, batch_first=True))
    with pytest.raises(ValueError, match="one-layer bidirectional"):
        PaddedBiLSTM(torch.nn.LSTM(4, 4, bidirectional=True))  # not batch-first


def test_runtime_with_the_padded_lstm_equals_gliner():
    """The runtime's scores with the padded LSTM in place (as on CUDA), on CPU."""
    engine = GlinerEngine(threads=2, batch_size=4, dtype="float32")
    runtime = engine.runtime
    runtime.padded_lstm = PaddedBiLSTM(runtime.rnn.lstm)
    reference = load_gliner(engine.source)
    labels = Schema.load("fewnerd_inter_test").labels()
    for words in (["Obama", "met", "Merkel", "in", "Berlin", "."], ["Toyota"],
                  ["The", "Nile", "crocodile", "lives", "in", "Lake", "Victoria", "."]):
        want = rt.gliner_reference(reference, words, labels)
        got = rt.runtime_probabilities(runtime, words, labels)
        W, K = len(words), runtime.K
        valid = (np.arange(W)[:, None] + np.arange(K)[None, :]) < W
        np.testing.assert_allclose(got[valid], want[valid], atol=1e-5)
    engine.close()
