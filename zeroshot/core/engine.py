"""The one interface every engine implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from zeroshot.core.schema import Schema
from zeroshot.core.spans import DocumentResult

# Issue kinds engines report (next to the validator's, see zeroshot.core.validate).
ENGINE_ERROR = "engine_error"  # the model failed on this window; nothing was predicted there
WINDOWED = "windowed"  # the text was longer than the window and was read in several
TRUNCATED = "truncated"  # generation hit its token budget before the answer was complete


@runtime_checkable
class Engine(Protocol):
    """Turns texts (or pre-tokenised sentences) into document results under a schema.

    An engine never raises for one bad record in a batch: it returns a
    :class:`DocumentResult` whose ``issues`` say what went wrong.
    """

    name: str

    def extract(self, texts: Sequence[str | Sequence[str]], schema: Schema
                ) -> list[DocumentResult]: ...
