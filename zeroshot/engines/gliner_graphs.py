"""The GLiNER runtime's encoder forward replayed from CUDA graphs.

On an H200 the host's own cost of launching a 1,024-row batch's encoder forward
(about 150 kernels through Python modules) was 0.12 s per INTER-test pass of 0.8 s,
with the device idle (``eval/results/gliner_runtime_h200_pinned.md``), and the engine
is bound by its host there. A CUDA graph records the forward's kernels once per input
shape and replays them in one call. Measured once (``gliner_runtime_h200_graphs.md``):
the host's launching fell from 0.275 to 0.098 s per pass, but the median steady pass
did not get faster (15,526 vs 16,000 sentences/s), so the runtime uses this only when
asked (``GlinerRuntime(graphs=True)``).

:class:`GraphedEncoder` keys graphs by ``(rows, length)`` with the length padded to
``ALIGN`` (as :class:`~zeroshot.engines.gliner_mpnet.MPNetEncoder` pads it anyway), runs
a shape eagerly the first time it is seen and records it the second time (a shape seen
once costs no capture), keeps at most ``max_graphs`` (least recently used dropped),
and falls back to the eager forward for good if a capture fails (a warning). The
graphs share one memory pool, so the hidden states it returns are valid until the
next call: the runtime reads them (gather, index_select) on the same stream before
it launches the next batch.
"""

from __future__ import annotations

import collections
import logging
from typing import Any

from zeroshot.engines.gliner_torch import EncoderOutput

logger = logging.getLogger(__name__)

ALIGN = 8  # lengths padded to a multiple of this (fewer shapes; MPNet pads so anyway)
MAX_GRAPHS = 32  # each holds its output ([rows, length, width]) in device memory


class GraphedEncoder:
    """``encoder(input_ids, attention_mask)`` (CUDA tensors) through CUDA graphs.

    Args:
        encoder: the eager forward (``last_hidden_state`` out), e.g. an
            ``MPNetEncoder``; its kernels must be capturable (no host syncs).
        pad_id: the padding token (length padding, masked out).
        max_graphs: graphs kept at most.
    """

    def __init__(self, encoder: Any, pad_id: int, *, max_graphs: int = MAX_GRAPHS):
        import torch

        self.torch = torch
        self.eager = encoder
        self.pad_id = int(pad_id)
        self.max_graphs = max(1, int(max_graphs))
        self.graphs: collections.OrderedDict[tuple[int, int], tuple[Any, ...]] = \
            collections.OrderedDict()
        self.seen: set[tuple[int, int]] = set()
        self.pool: Any = None
        self.enabled = True
        self.captures = 0

    def __call__(self, input_ids: Any, attention_mask: Any, return_dict: bool = True,
                 **_: Any) -> EncoderOutput:
        B, L = input_ids.shape
        padded = -(-L // ALIGN) * ALIGN
        key = (B, padded)
        if not self.enabled or not input_ids.is_cuda:
            return self.eager(input_ids=input_ids, attention_mask=attention_mask)
        graph = self.graphs.get(key)
        if graph is None:
            if key not in self.seen:
                self.seen.add(key)
                return self.eager(input_ids=input_ids, attention_mask=attention_mask)
            graph = self._capture(key, input_ids.device)
            if graph is None:
                return self.eager(input_ids=input_ids, attention_mask=attention_mask)
        self.graphs.move_to_end(key)
        g, ids, mask, out = graph
        ids[:, :L].copy_(input_ids, non_blocking=True)
        mask[:, :L].copy_(attention_mask, non_blocking=True)
        if padded != L:
            ids[:, L:].fill_(self.pad_id)
            mask[:, L:].zero_()
        g.replay()
        return EncoderOutput(out[:, :L])

    def _capture(self, key: tuple[int, int], device: Any) -> tuple[Any, ...] | None:
        """Record the forward for ``key`` (on static, padded inputs); None (and the
        eager forward from now on) if that fails."""
        torch = self.torch
        B, L = key
        try:
            ids = torch.full((B, L), self.pad_id, dtype=torch.int64, device=device)
            mask = torch.ones((B, L), dtype=torch.int64, device=device)
            side = torch.cuda.Stream(device=device)
            side.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(side):  # warm-up off the capture: workspaces, builds
                self.eager(input_ids=ids, attention_mask=mask)
            torch.cuda.current_stream(device).wait_stream(side)
            if self.pool is None:
                self.pool = torch.cuda.graph_pool_handle()
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g, pool=self.pool):
                out = self.eager(input_ids=ids, attention_mask=mask).last_hidden_state
        except Exception as exc:  # a kernel that cannot be captured: eager from now on
            self.enabled = False
            self.graphs.clear()
            logger.warning("GLiNER runtime: CUDA graph capture failed (%s: %s); the encoder "
                           "runs eagerly", type(exc).__name__, exc)
            return None
        self.captures += 1
        self.graphs[key] = (g, ids, mask, out)
        while len(self.graphs) > self.max_graphs:
            self.graphs.popitem(last=False)
        return self.graphs[key]

    def clear(self) -> None:
        """Drop every graph (their memory goes back to the caching allocator)."""
        self.graphs.clear()
        self.seen.clear()
