"""The encoder replayed from CUDA graphs against its eager forward.

The graphs need a GPU: without one only the pass-through is checked (CPU tensors
run the eager forward, and a CPU runtime builds no graphs)."""

import logging

import numpy as np
import pytest
import torch

from zeroshot.engines.gliner_graphs import GraphedEncoder
from zeroshot.engines.gliner_torch import EncoderOutput

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


class Toy(torch.nn.Module):
    """An encoder with the runtime's call shape: embeddings, a masked mean, a linear."""

    def __init__(self, sync: bool = False):
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(50, 16)
        self.lin = torch.nn.Linear(16, 16)
        self.sync = sync
        self.calls = 0

    def forward(self, input_ids, attention_mask, return_dict=True, **_):
        self.calls += 1
        if self.sync:  # a host sync: cannot be captured
            float(attention_mask.sum())
        h = self.emb(input_ids) * attention_mask[..., None]
        ctx = h.sum(1, keepdim=True) / attention_mask.sum(1, keepdim=True)[..., None]
        return EncoderOutput(self.lin(h + ctx))


def batch(rows, length, seed, device):
    g = np.random.default_rng(seed)
    ids = torch.as_tensor(g.integers(2, 50, (rows, length)), device=device)
    n = torch.as_tensor(g.integers(1, length + 1, rows), device=device)
    mask = (torch.arange(length, device=device)[None, :] < n[:, None]).long()
    return ids * mask + (1 - mask), mask  # pad id 1 past each row's length


def test_cpu_tensors_run_the_eager_forward():
    toy = Toy()
    graphed = GraphedEncoder(toy, pad_id=1)
    ids, mask = batch(3, 5, 0, "cpu")
    for _ in range(3):
        got = graphed(input_ids=ids, attention_mask=mask).last_hidden_state
    assert torch.equal(got, toy(ids, mask).last_hidden_state)
    assert graphed.captures == 0 and not graphed.graphs


def test_a_cpu_runtime_builds_no_graphs():
    from zeroshot.engines.gliner import GlinerEngine

    assert GlinerEngine("gliner-minilm-fewnerd", threads=2).runtime.graphed is None


@cuda
def test_replays_equal_the_eager_forward():
    """A shape runs eagerly when first seen, is recorded the second time and replayed
    after; every output equals the eager forward's on the same inputs, including an
    unaligned length (padded inside) and new contents of a recorded shape."""
    toy = Toy().cuda().eval()
    graphed = GraphedEncoder(toy, pad_id=1, max_graphs=2)
    with torch.inference_mode():
        for seed, (rows, length) in enumerate([(4, 13), (4, 13), (4, 13), (7, 8), (7, 8),
                                               (4, 13), (2, 9), (2, 9), (7, 8)]):
            ids, mask = batch(rows, length, seed, "cuda")
            want = toy(ids, mask).last_hidden_state
            got = graphed(input_ids=ids, attention_mask=mask).last_hidden_state
            torch.testing.assert_close(got, want)
    assert graphed.captures == 4  # (4,16), (7,8), (2,16), then (7,8) again after eviction
    assert len(graphed.graphs) == 2


@cuda
def test_a_failed_capture_falls_back_to_eager(caplog):
    toy = Toy(sync=True).cuda().eval()
    graphed = GraphedEncoder(toy, pad_id=1)
    ids, mask = batch(3, 8, 0, "cuda")
    with torch.inference_mode(), caplog.at_level(logging.WARNING):
        outs = [graphed(input_ids=ids, attention_mask=mask).last_hidden_state
                for _ in range(3)]
    assert not graphed.enabled and "capture failed" in caplog.text
    for got in outs:
        torch.testing.assert_close(got, toy(ids, mask).last_hidden_state)


@cuda
def test_the_engine_gives_the_same_spans_with_graphs():
    """Second and third passes replay the recorded encoder: the same spans as the
    first (eager) pass and as an engine without graphs."""
    from zeroshot.core.schema import Schema
    from zeroshot.engines.gliner import GlinerEngine, default_model_path

    schema = Schema.load("fewnerd_inter_test")
    sentences = [["Ada", "Lovelace", "met", "Charles", "Babbage", "in", "London", "."],
                 ["The", "Rolling", "Stones", "played", "at", "Wembley", "Stadium", "."]] * 40
    engine = GlinerEngine(default_model_path(), device="cuda")
    runtime = engine.runtime
    runtime.graphed = GraphedEncoder(runtime.encode, runtime.pieces.pad_id)
    passes = [engine.extract(sentences, schema) for _ in range(3)]
    assert engine.runtime.graphed.captures > 0
    engine.runtime.graphed = None
    eager = engine.extract(sentences, schema)
    keys = [[[s.key for s in r.spans] for r in p] for p in [*passes, eager]]
    assert all(k == keys[0] for k in keys)
    assert any(keys[0])
