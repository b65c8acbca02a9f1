"""Batch extraction over files: streaming, resumable, one JSONL record per document.

* Inputs stream (constant memory): TXT (one document per line, or per file),
  JSONL (id and text fields configurable; a ``tokens`` list is used as is),
  CoNLL / Few-NERD (token per line, blank line between sentences).
* Output is JSONL, one :class:`~zeroshot.core.spans.DocumentResult` per line plus
  ``error`` (null, or why the record failed). Each batch is written and fsynced
  before the next starts; a record is one ``write`` of one line.
* Resume: records whose id is already in the output are skipped. A line torn by
  a kill is cut off first, so a restarted run neither loses nor repeats work.
* A bad record (not UTF-8, not JSON, empty, too long, the model failing on it)
  is written with its error and the batch goes on; the summary counts them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from zeroshot.core.engine import Engine, run_or_split
from zeroshot.core.errors import DataFormatError, ZeroshotError
from zeroshot.core.loaders import open_bytes
from zeroshot.core.schema import Schema
from zeroshot.core.spans import DocumentResult
from zeroshot.core.text import TokenizedText

logger = logging.getLogger(__name__)

FORMATS = ("txt", "jsonl", "conll", "fewnerd")
DEFAULT_MAX_CHARS = 200_000


@dataclasses.dataclass(frozen=True)
class Record:
    """One input document, or the reason it could not be read."""

    id: str
    text: str | TokenizedText | None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (token boundaries kept), e.g. to ship to a worker."""
        if isinstance(self.text, TokenizedText):
            return {"id": self.id, "text": self.text.text, "starts": list(self.text.starts),
                    "ends": list(self.text.ends), "error": self.error}
        return {"id": self.id, "text": self.text, "error": self.error}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        text = data.get("text")
        if "starts" in data:
            text = TokenizedText(text, tuple(data["starts"]), tuple(data["ends"]))
        return cls(str(data["id"]), text, data.get("error"))


@dataclasses.dataclass
class Summary:
    documents: int = 0
    skipped: int = 0  # already in the output (resume)
    failed: int = 0
    spans: int = 0
    seconds: float = 0.0

    @property
    def docs_per_s(self) -> float:
        return self.documents / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        return (f"{self.documents} documents ({self.failed} failed, {self.skipped} already done), "
                f"{self.spans} spans, {self.seconds:.1f} s, {self.docs_per_s:.1f} docs/s")


def guess_format(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith((".conll", ".bio", ".iob", ".iob2")):
        return "conll"
    return "txt"


def _decode(raw: bytes, where: str) -> tuple[str | None, str | None]:
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, f"{where}: not UTF-8 (bad byte at offset {exc.start})"


def _read_txt(path: Path, per_file: bool) -> Iterator[Record]:
    if per_file:
        with open_bytes(path) as fh:
            text, err = _decode(fh.read(), str(path))
        yield Record(path.name, text, err)
        return
    with open_bytes(path) as fh:
        for n, raw in enumerate(fh, 1):
            raw = raw.rstrip(b"\r\n")
            if not raw.strip():
                continue  # blank lines separate documents
            text, err = _decode(raw, f"{path}:{n}")
            yield Record(f"{path.name}:{n}", text, err)


def _read_jsonl(path: Path, text_field: str, id_field: str) -> Iterator[Record]:
    with open_bytes(path) as fh:
        for n, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            fallback = f"{path.name}:{n}"
            line, err = _decode(raw, f"{path}:{n}")
            if err:
                yield Record(fallback, None, err)
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield Record(fallback, None, f"{path}:{n}: invalid JSON: {exc.msg}")
                continue
            if not isinstance(obj, dict):
                yield Record(fallback, None, f"{path}:{n}: not a JSON object")
                continue
            rid = str(obj[id_field]) if obj.get(id_field) is not None else fallback
            tokens = obj.get("tokens")
            if isinstance(tokens, list) and tokens and all(isinstance(t, str) and t
                                                           for t in tokens):
                yield Record(rid, TokenizedText.from_tokens(tokens))
            elif isinstance(obj.get(text_field), str):
                yield Record(rid, obj[text_field])
            else:
                yield Record(rid, None, f"{path}:{n}: no string field {text_field!r}")


def _read_columns(path: Path) -> Iterator[Record]:
    """CoNLL / Few-NERD: the first column of each line, a blank line between
    sentences. Tags are not needed to extract, so any tag scheme (or none) reads;
    a sentence with a line that is not UTF-8 is one error record."""
    fh = open_bytes(path)
    words: list[str] = []
    problem: str | None = None
    count = 0

    def flush() -> Record:
        nonlocal words, problem, count
        rec = (Record(f"{path.name}:{count}", None, problem) if problem
               else Record(f"{path.name}:{count}", TokenizedText.from_tokens(words)))
        words, problem, count = [], None, count + 1
        return rec

    with fh:
        for n, raw in enumerate(fh, 1):
            if not raw.strip() or raw.startswith(b"-DOCSTART-"):
                if words or problem:
                    yield flush()
                continue
            line, err = _decode(raw.rstrip(b"\r\n"), f"{path}:{n}")
            if err:
                problem = problem or err
            else:
                words.append(line.split()[0])
        if words or problem:
            yield flush()


def read_inputs(paths: Sequence[str | Path], *, fmt: str | None = None,
                text_field: str = "text", id_field: str = "id",
                per_file: bool = False) -> Iterator[Record]:
    """Stream records from files in order; ``fmt`` None guesses from each name."""
    for p in map(Path, paths):
        if not p.is_file():
            raise ZeroshotError(f"{p}: input file not found")
        f = fmt or guess_format(p)
        if f not in FORMATS:
            raise ZeroshotError(f"unknown input format {f!r}; use one of {', '.join(FORMATS)}")
        if f == "txt":
            yield from _read_txt(p, per_file)
        elif f == "jsonl":
            yield from _read_jsonl(p, text_field, id_field)
        else:
            yield from _read_columns(p)


def finished_ids(out: Path) -> set[str]:
    """Ids already written to ``out``; a torn last line is cut off first."""
    done: set[str] = set()
    if not out.exists():
        return done
    good_end = 0
    with out.open("rb+") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                break
            try:
                done.add(str(json.loads(raw)["id"]))
            except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
                break
            good_end += len(raw)
        size = fh.seek(0, os.SEEK_END)
        if good_end < size:
            logger.warning("%s: cut %d bytes of a torn or invalid record at the end",
                           out, size - good_end)
            fh.truncate(good_end)
    return done


def error_record(rec: Record, message: str, engine: str) -> dict[str, Any]:
    """The output row of a record that failed: no spans, and why."""
    text = rec.text.text if isinstance(rec.text, TokenizedText) else (rec.text or "")
    return {**DocumentResult(text, id=rec.id, engine=engine).to_dict(), "error": message}


def extract_rows(engine: Engine, schema: Schema, batch: Sequence[Record]) -> list[dict[str, Any]]:
    """Output rows for a batch; if the engine raises, each record alone, so one
    bad record fails only itself."""
    def run(records: Sequence[Record]) -> list[dict[str, Any]]:
        texts = [r.text for r in records if r.text is not None]
        if len(texts) != len(records):
            raise ValueError("a record without text reached the engine")
        docs = engine.extract(texts, schema, ids=[r.id for r in records])
        return [{**d.to_dict(), "error": None} for d in docs]

    return run_or_split(run, batch, lambda rec, exc: error_record(
        rec, f"{type(exc).__name__}: {exc}", engine.name), what="record")


class BatchRunner:
    """Runs an engine over records into a JSONL file, ``batch_size`` at a time.

    Subclasses change where the extraction runs (:meth:`_execute`); reading,
    checking, resuming and writing stay here.
    """

    def __init__(self, engine: Engine, schema: Schema, *, batch_size: int = 32,
                 max_chars: int = DEFAULT_MAX_CHARS, progress: bool = True) -> None:
        self.engine = engine
        self._configure(engine.name, schema, batch_size, max_chars, progress)

    def _configure(self, engine_name: str, schema: Schema, batch_size: int, max_chars: int,
                   progress: bool) -> None:
        """The settings every runner shares: reading, checking and writing."""
        self.engine_name = engine_name
        self.schema = schema
        self.batch_size = max(1, batch_size)
        self.max_chars = max_chars
        self.progress = progress

    def _check(self, rec: Record) -> str | None:
        if rec.error:
            return rec.error
        text = rec.text.text if isinstance(rec.text, TokenizedText) else rec.text
        if text is None or not text.strip():
            return "empty text"
        if len(text) > self.max_chars:
            return f"text too long: {len(text)} characters (limit {self.max_chars})"
        return None

    def _todo(self, records: Iterable[Record], done: set[str], summary: Summary,
              write: Callable[[list[dict[str, Any]]], None]) -> Iterator[Record]:
        """The records still to extract: duplicate ids told apart, finished ones
        skipped, unreadable ones written at once as error rows."""
        seen: dict[str, int] = {}
        for rec in records:
            n = seen.get(rec.id, 0)
            seen[rec.id] = n + 1
            if n:  # the same id twice in the input: keep both, told apart
                rec = dataclasses.replace(rec, id=f"{rec.id}#{n + 1}")
                logger.warning("duplicate input id; this one is written as %s", rec.id)
            if rec.id in done:
                summary.skipped += 1
                continue
            problem = self._check(rec)
            if problem:
                write([error_record(rec, problem, self.engine_name)])
                continue
            yield rec

    def _execute(self, todo: Iterator[Record],
                 write: Callable[[list[dict[str, Any]]], None]) -> None:
        """Extract ``todo`` in this process, one batch at a time."""
        pending: list[Record] = []
        for rec in todo:
            pending.append(rec)
            if len(pending) >= self.batch_size:
                write(extract_rows(self.engine, self.schema, pending))
                pending = []
        if pending:
            write(extract_rows(self.engine, self.schema, pending))

    def run(self, records: Iterable[Record], out: str | Path, *, resume: bool = True
            ) -> Summary:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not resume and out.exists():
            out.unlink()
        done = finished_ids(out)
        summary = Summary()
        t0 = time.perf_counter()
        bar = _progress(self.progress)
        with out.open("a", encoding="utf-8") as fh:
            def write(rows: list[dict[str, Any]]) -> None:
                for row in rows:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                    summary.documents += 1
                    summary.spans += len(row["spans"])
                    summary.failed += row["error"] is not None
                fh.flush()
                os.fsync(fh.fileno())
                bar.update(len(rows))

            self._execute(self._todo(records, done, summary, write), write)
        bar.close()
        summary.seconds = time.perf_counter() - t0
        return summary


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(unit="doc", desc="extract", dynamic_ncols=True)


def read_results(path: str | Path) -> Iterator[tuple[DocumentResult, str | None]]:
    """Stream ``(result, error)`` pairs back from an output file."""
    with Path(path).open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                yield DocumentResult.from_dict(row), row.get("error")
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise DataFormatError(f"not a result record: {exc}", path=str(path),
                                      line=n) from None
