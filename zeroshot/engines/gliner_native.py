"""Rows scored through gliner's own ``inference`` (any GLiNER checkpoint).

The engine's fallback: checkpoints the project's runtime does not serve, or a
runtime that failed its self-check at load. gliner's overlap pass is turned off
(its decoder's ``greedy_search`` keeps every candidate), so per-type thresholds
apply to all candidates before the schema's overlap policy is applied by the core,
exactly as on the runtime's path.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from zeroshot.core.engine import run_or_split
from zeroshot.core.text import TokenizedText
from zeroshot.engines import gliner_fast
from zeroshot.engines.gliner_runtime import Candidates

logger = logging.getLogger(__name__)


class _OurWords:
    """gliner words-splitter that yields the tokens we decided on, with offsets."""

    def __init__(self) -> None:
        self.current: dict[str, TokenizedText] = {}

    def __call__(self, text: str):
        tok = self.current.get(text) or TokenizedText.from_text(text)
        for s, e in zip(tok.starts, tok.ends, strict=True):
            yield text[s:e], s, e


def _keep_all(spans: list[Any], flat_ner: bool = True, multi_label: bool = False) -> list[Any]:
    """Stands in for gliner's greedy overlap pass: the core resolves overlaps."""
    return sorted(spans, key=lambda s: s.start)


class NativeScorer:
    """Scores rows (windows as texts of their own) with ``model.inference``.

    Args:
        model: a loaded ``gliner.GLiNER``; moved to ``device`` in fp32.
        fast: use the factored span scorer where the span mode allows it.
        batch_size: windows per ``inference`` call.
    """

    def __init__(self, model: Any, *, device: str = "cpu", fast: bool = True,
                 batch_size: int = 16):
        import torch

        self.torch = torch
        self.model = model.to(device=device, dtype=torch.float32)
        self.model.eval()
        self.fast = fast and gliner_fast.install(self.model)
        self.batch_size = batch_size
        self._words = _OurWords()
        self.model.data_processor.words_splitter = self._words
        decoder = getattr(self.model, "decoder", None)
        if decoder is not None and hasattr(decoder, "greedy_search"):
            decoder.greedy_search = _keep_all
        else:
            logger.warning("gliner's decoder has no greedy_search to turn off: its overlap pass "
                           "runs before per-type thresholds")

    def run(self, rows: Sequence[TokenizedText], labels: Sequence[str],
            thresholds: Sequence[float]) -> tuple[Candidates, dict[int, Exception]]:
        """Candidates of each row with score >= its label's threshold; rows that
        failed alone come back as errors."""
        floor = float(np.nextafter(min(thresholds), 0.0))  # gliner keeps score > threshold
        by_length = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        found: list[tuple[int, int, int, int, float]] = []
        errors: dict[int, Exception] = {}
        cls_of = {label: c for c, label in enumerate(labels)}
        for lo in range(0, len(by_length), self.batch_size):
            order = by_length[lo:lo + self.batch_size]
            results = run_or_split(lambda items: self._infer(items, labels, floor),
                                   [rows[i] for i in order], lambda _item, exc: exc,
                                   what="GLiNER window")
            for r, ents in zip(order, results, strict=True):
                if isinstance(ents, Exception):
                    errors[r] = ents
                    continue
                for ent in ents:
                    c = cls_of[ent["label"]]
                    hit = rows[r].char_span_to_token(ent["start"], ent["end"])
                    if hit and ent["score"] >= thresholds[c]:
                        found.append((r, hit[0], hit[1], c, float(ent["score"])))
        if not found:
            return Candidates.empty(), errors
        r, s, e, c, p = zip(*found, strict=True)
        return Candidates(np.asarray(r, np.int64), np.asarray(s, np.int64),
                          np.asarray(e, np.int64), np.asarray(c, np.int64),
                          np.asarray(p, np.float32)), errors

    def _infer(self, items: Sequence[TokenizedText], labels: Sequence[str],
               floor: float) -> list[Any]:
        self._words.current = {t.text: t for t in items}
        try:
            with self.torch.inference_mode():
                return self.model.inference([t.text for t in items], list(labels),
                                            flat_ner=False, multi_label=True, threshold=floor,
                                            batch_size=len(items))
        finally:
            self._words.current = {}
