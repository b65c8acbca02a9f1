"""Python's cyclic garbage collector paused around a call that builds many objects.

An engine call over a batch builds about ten container objects per document (texts,
results, spans) that all live until the call returns. The collector counts them
while they are young and, every few thousand documents, runs a full collection that
walks every tracked object of the process, torch's and transformers' included:
0.3-0.5 s each on the H200 machine's host, 35 % of the GLiNER engine's time there
(eval/results/gliner_runtime_h200_minilm.md). Reference counting still frees
everything as usual while paused; only cycles wait for the next collection.

The pause nests and is shared between threads: the collector is resumed when the
last paused call returns, and only if it was running when the first one began (a
program that turned it off keeps it off).
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator


class _Pause:
    """The process's one collector is shared state, so is the count of calls that
    paused it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._resume = False

    @contextlib.contextmanager
    def __call__(self, enabled: bool = True) -> Iterator[None]:
        if not enabled:
            yield
            return
        with self._lock:
            if self._depth == 0:
                self._resume = gc.isenabled()
                gc.disable()
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0 and self._resume:
                    gc.enable()


collector_paused = _Pause()
"""``with collector_paused(): ...`` runs the block with the cyclic collector off
(``collector_paused(False)`` leaves it alone)."""
