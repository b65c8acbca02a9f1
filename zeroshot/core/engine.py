"""The one interface every engine implements, and the helper engines share to
keep one bad record from sinking a batch."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from zeroshot.core.issues import ENGINE_ERROR, LABEL_GROUPS, TRUNCATED, WINDOWED, WORD_CUT
from zeroshot.core.schema import Schema
from zeroshot.core.spans import DocumentResult
from zeroshot.core.text import TokenizedText

__all__ = ["ENGINE_ERROR", "LABEL_GROUPS", "TRUNCATED", "WINDOWED", "WORD_CUT", "Engine",
           "TextInput", "extract_arguments", "run_or_split"]

logger = logging.getLogger(__name__)

TextInput = str | Sequence[str] | TokenizedText

T = TypeVar("T")
R = TypeVar("R")


@runtime_checkable
class Engine(Protocol):
    """Turns texts (or pre-tokenised sentences) into document results under a schema.

    * ``extract`` returns one :class:`DocumentResult` per input, in order, with
      ``id`` taken from ``ids`` when given. It never raises for one bad record
      in a batch: that record's result carries an ``engine_error`` issue. It
      raises only when the engine cannot work at all (a schema it cannot serve,
      a backend that is gone).
    * ``identity`` says what decides the output besides the schema (model and
      its weights' checksum, options), so cached results can be checked.
    * ``close`` releases the model (worker processes, a server connection); an
      engine is unusable afterwards. Closing twice is harmless.
    """

    name: str

    def extract(self, texts: Sequence[TextInput], schema: Schema, *,
                ids: Sequence[str] | None = None) -> list[DocumentResult]: ...

    def identity(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


def extract_arguments(texts: Sequence[TextInput], schema: Schema | Any,
                      ids: Sequence[str] | None) -> tuple[Sequence[TextInput], Schema]:
    """An engine's ``extract`` arguments, checked the same way by every engine: a
    batch of texts (one ``str`` would be read as one text per character), ``ids``
    as many as the texts, and the schema as :meth:`Schema.coerce` reads it (a
    bundled name, a file, a list of labels)."""
    if isinstance(texts, (str, bytes, TokenizedText)):
        raise TypeError(f"extract() takes a list of texts, not one {type(texts).__name__}: "
                        "wrap it in a list (or use zeroshot.extract, which takes either)")
    if not isinstance(texts, Sequence):  # a generator: read once, here
        texts = list(texts)
    if ids is not None and len(ids) != len(texts):
        raise ValueError(f"{len(ids)} ids for {len(texts)} texts")
    return texts, Schema.coerce(schema)


def run_or_split(run: Callable[[Sequence[T]], list[R]], items: Sequence[T],
                 on_error: Callable[[T, Exception], R], *, what: str = "item") -> list[R]:
    """``run(items)``; if it raises, each item alone, so one bad item fails only
    itself (``on_error`` makes its result). The one retry-one-at-a-time rule of
    the engines and the batch runner."""
    try:
        return run(items)
    except Exception as exc:
        if len(items) == 1:
            logger.warning("%s failed: %s: %s", what, type(exc).__name__, exc)
            return [on_error(items[0], exc)]
        logger.warning("a batch of %d %ss failed (%s: %s); retrying one at a time",
                       len(items), what, type(exc).__name__, exc)
        return [r for item in items for r in run_or_split(run, [item], on_error, what=what)]
