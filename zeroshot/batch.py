"""Batch extraction over files: streaming, resumable, one JSONL record per document.

* Inputs stream (constant memory): TXT (one document per line, or per file),
  JSONL (id and text fields configurable; a ``tokens`` list is used as is),
  CoNLL / Few-NERD (token per line, blank line between sentences), read through
  :mod:`zeroshot.core.readers` like the gold loaders (same ids, same guess).
* Output is JSONL, one :class:`~zeroshot.core.spans.DocumentResult` per line plus
  ``error`` (null, or why the record failed), with its configuration recorded
  and a lock held while a run writes it (:mod:`zeroshot.results`). Records are
  read a few thousand at a time and sorted by length before batching, so the
  output's order is not the input's.
* Resume: records whose last row succeeded are skipped; rows with an error are
  extracted again (the last row of an id wins). A line torn by a kill is cut
  off first, so a restarted run neither loses nor repeats work.
* A bad record (not UTF-8, not JSON, empty, too long, the model or its server
  failing on it) is written with its error and the batch goes on; the summary
  counts them.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from zeroshot.core.engine import Engine, run_or_split
from zeroshot.core.errors import DataFormatError, ZeroshotError, clip
from zeroshot.core.issues import RECORD_ERROR_KINDS
from zeroshot.core.readers import (
    BOM,
    FORMATS,
    UniqueIds,
    decode_line,
    guess_format,
    open_bytes,
    raw_lines,
    read_json_objects,
    read_sentences,
    record_id,
    word_tokens,
)
from zeroshot.core.schema import Schema
from zeroshot.core.spans import DocumentResult
from zeroshot.core.text import TokenizedText
from zeroshot.results import (
    ResultWriter,
    Scan,
    check_target,
    compact,
    encode_row,
    locked,
    make_parent,
    prepare_output,
    read_results,
    run_config,
    scan,
)

__all__ = ["FORMATS", "BatchRunner", "Inputs", "Record", "Summary", "error_record",
           "extract_rows", "finished_ids", "read_inputs", "read_results", "result_row"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_CHARS = 200_000
DEFAULT_READ_AHEAD = 4096  # records read and sorted by length before batching


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
    documents: int = 0  # rows written by this run
    skipped: int = 0  # already done in the output (resume)
    failed: int = 0  # rows written with an error
    retried: int = 0  # records whose earlier row had an error, run again
    spans: int = 0
    seconds: float = 0.0

    @property
    def docs_per_s(self) -> float:
        return self.documents / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        retried = f", {self.retried} retried" if self.retried else ""
        return (f"{self.documents} documents ({self.failed} failed, {self.skipped} already done"
                f"{retried}), {self.spans} spans, {self.seconds:.1f} s, "
                f"{self.docs_per_s:.1f} docs/s")


def _read_txt(path: Path, per_file: bool) -> Iterator[Record]:
    if per_file:
        try:
            with open_bytes(path) as fh:
                raw = fh.read()
        except (EOFError, OSError, zlib.error) as exc:
            yield Record(path.name, None, f"{path}: compressed data ends early or is corrupt "
                                          f"({exc})")
            return
        raw = raw[len(BOM):] if raw.startswith(BOM) else raw
        try:
            yield Record(path.name, decode_line(raw, path, 1))
        except DataFormatError as exc:
            yield Record(path.name, None, str(exc).replace(f"{path}:1:", f"{path}:", 1))
        return
    lines = raw_lines(path)
    while True:
        try:
            item = next(lines, None)
        except DataFormatError as exc:  # a truncated .gz: one error row for the rest
            yield Record(record_id(path, exc.line or 0), None, str(exc))
            return
        if item is None:
            return
        n, raw = item
        if not raw.strip():
            continue  # blank lines separate documents
        try:
            yield Record(record_id(path, n), decode_line(raw, path, n))
        except DataFormatError as exc:
            yield Record(record_id(path, n), None, str(exc))


def _jsonl_record(obj: dict[str, Any], rid: str, where: str, text_field: str,
                  bad_tokens: collections.Counter[str]) -> Record:
    """A ``tokens`` (or GLiNER's ``tokenized_text``) list is read as is; else the
    text field. Unusable tokens beside a text are counted in ``bad_tokens`` (the
    text is read); alone, they are the record's error."""
    tokens, problem = word_tokens(obj)
    if tokens is not None:
        return Record(rid, TokenizedText.from_tokens(tokens))
    if isinstance(obj.get(text_field), str):
        if problem:
            bad_tokens[problem] += 1
        return Record(rid, obj[text_field])
    if problem:
        return Record(rid, None, f"{where}: {problem}, and no string field {text_field!r}")
    return Record(rid, None, f"{where}: no string field {text_field!r}")


def _read_jsonl(path: Path, text_field: str, id_field: str) -> Iterator[Record]:
    bad_tokens: collections.Counter[str] = collections.Counter()
    for n, obj, err in read_json_objects(path):
        if obj is None:
            yield Record(record_id(path, n), None, str(err))
            continue
        rid = str(obj[id_field]) if obj.get(id_field) is not None else record_id(path, n)
        yield _jsonl_record(obj, rid, f"{path}:{n}", text_field, bad_tokens)
    if bad_tokens:
        first, _ = bad_tokens.most_common(1)[0]
        logger.warning("%s: %d records have a tokens field that is not a list of words "
                       "(e.g. %s); their %r field was read instead", path,
                       sum(bad_tokens.values()), first, text_field)


def _read_columns(path: Path, fmt: str) -> Iterator[Record]:
    """CoNLL / Few-NERD: the first column of each line, a blank line between
    sentences. Tags are not needed to extract, so any tag scheme (or none) reads;
    a sentence with a line that is not UTF-8 is one error record. A file whose every
    sentence is one line of three or more columns reads as one word per line of
    prose, so it is warned of (plain text given as a column format)."""
    sentences = one_line_prose = 0
    for sent in read_sentences(path, fmt, lenient=True):
        rid = record_id(path, sent.index)
        words = [cols[0] for cols in sent.rows]
        sentences += 1
        one_line_prose += len(sent.rows) == 1 and len(sent.rows[0]) >= 3
        if sent.error or not all(words):
            yield Record(rid, None, sent.error or f"{path}:{sent.first_line}: empty token")
        else:
            yield Record(rid, TokenizedText.from_tokens(words))
    if sentences and one_line_prose == sentences:
        logger.warning("%s: read as %s, but every one of its %d sentences is a single line of "
                       "several words, so only each line's first word was extracted from; if "
                       "it is plain text, use --format txt", path, fmt, sentences)


class Inputs:
    """The records of input files, read lazily in order (iterate it once or many
    times); ``paths`` lets the runner refuse to write over an input."""

    def __init__(self, paths: Sequence[str | Path], *, fmt: str | None = None,
                 text_field: str = "text", id_field: str = "id",
                 per_file: bool = False) -> None:
        self.paths = [Path(p) for p in paths]
        for p in self.paths:
            if not p.exists():
                raise ZeroshotError(f"{p}: input file not found")
            if not p.is_file():
                raise ZeroshotError(f"{p}: not a file")
        if fmt is not None and fmt not in FORMATS:
            raise ZeroshotError(f"unknown input format {fmt!r}; use one of {', '.join(FORMATS)}")
        self.fmt, self.text_field, self.id_field, self.per_file = (fmt, text_field, id_field,
                                                                   per_file)

    def __iter__(self) -> Iterator[Record]:
        for p in self.paths:
            f = self.fmt or guess_format(p)
            if f == "txt":
                yield from _read_txt(p, self.per_file)
            elif f == "jsonl":
                yield from _read_jsonl(p, self.text_field, self.id_field)
            else:
                yield from _read_columns(p, f)


def read_inputs(paths: Sequence[str | Path], *, fmt: str | None = None,
                text_field: str = "text", id_field: str = "id",
                per_file: bool = False) -> Inputs:
    """Records from files in order; ``fmt`` None guesses each file's format
    (:func:`zeroshot.core.readers.guess_format`, as the gold loaders do)."""
    return Inputs(paths, fmt=fmt, text_field=text_field, id_field=id_field, per_file=per_file)


def finished_ids(out: Path) -> set[str]:
    """Ids whose last row in ``out`` succeeded (rows with an error are not done);
    the file is repaired first (see :func:`zeroshot.results.scan`)."""
    return scan(Path(out)).done


def error_record(rec: Record, message: str, engine: str) -> dict[str, Any]:
    """The output row of a record that failed: no spans, and why."""
    text = rec.text.text if isinstance(rec.text, TokenizedText) else (rec.text or "")
    return {**DocumentResult(text, id=rec.id, engine=engine).to_dict(), "error": message}


def result_row(doc: DocumentResult) -> dict[str, Any]:
    """The output row of a result. A result with a record-error issue (the engine
    or its backend failed on it: see :data:`zeroshot.core.issues.RECORD_ERROR_KINDS`)
    is a failed record: ``error`` says why, its partial spans are dropped and its
    issues kept; a resumed run extracts it again."""
    row = {**doc.to_dict(), "error": None}
    failures = [i.message for i in doc.issues if i.kind in RECORD_ERROR_KINDS]
    if failures:
        row["spans"] = []
        row["error"] = clip_message("; ".join(dict.fromkeys(failures)))
    return row


def clip_message(message: str, limit: int = 1000) -> str:
    return message if len(message) <= limit else message[:limit] + f"... ({len(message)} chars)"


def extract_rows(engine: Engine, schema: Schema, batch: Sequence[Record]) -> list[dict[str, Any]]:
    """Output rows for a batch; if the engine raises, each record alone, so one
    bad record fails only itself."""
    def run(records: Sequence[Record]) -> list[dict[str, Any]]:
        texts = [r.text for r in records if r.text is not None]
        if len(texts) != len(records):
            raise ValueError("a record without text reached the engine")
        docs = engine.extract(texts, schema, ids=[r.id for r in records])
        if len(docs) != len(records):
            raise ValueError(f"the engine returned {len(docs)} results for {len(records)} "
                             f"documents")
        return [result_row(d) for d in docs]

    return run_or_split(run, batch, lambda rec, exc: error_record(
        rec, clip_message(f"{type(exc).__name__}: {exc}"), engine.name), what="record")


def record_length(rec: Record) -> int:
    """Characters of a record's text (what batches are sorted by)."""
    return len(rec.text.text if isinstance(rec.text, TokenizedText) else rec.text or "")


def _chunks(items: Iterable[Record], size: int) -> Iterator[list[Record]]:
    chunk: list[Record] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _BackgroundWrites:
    """Batches of rows handed to ``write`` in one background thread, in order, while
    the caller extracts the next batch (a GPU engine's device and host work overlap
    the encoding and writing of the rows before them). At most one batch waits; an
    error of ``write`` (a full disk) is raised by the next call, :meth:`wait` or
    :meth:`close`, and :meth:`close` lets a batch being written finish first, so an
    interrupted run keeps every row it finished."""

    def __init__(self, write: Callable[[list[dict[str, Any]]], None]) -> None:
        self._write = write
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zeroshot-writer")
        self._pending: Future[None] | None = None

    def __call__(self, rows: list[dict[str, Any]]) -> None:
        self.wait()
        self._pending = self._pool.submit(self._write, rows)

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)


class BatchRunner:
    """Runs an engine over records into a results file, ``batch_size`` at a time.

    Records are read ``read_ahead`` at a time and sorted by length before they
    are cut into batches (less padding), so rows are written in another order
    than the input's; ids say which is which. Subclasses change where the
    extraction runs (:meth:`_execute`); reading, checking, resuming and writing
    stay here. Rows are encoded and written by a background thread while the
    next batch is extracted. The output's files are described in
    :mod:`zeroshot.results`.
    """

    def __init__(self, engine: Engine, schema: Schema, *, batch_size: int = 32,
                 max_chars: int = DEFAULT_MAX_CHARS, progress: bool = True,
                 read_ahead: int = DEFAULT_READ_AHEAD) -> None:
        self.engine = engine
        self._configure(engine.name, schema, batch_size, max_chars, progress, read_ahead)

    def _configure(self, engine_name: str, schema: Schema, batch_size: int, max_chars: int,
                   progress: bool, read_ahead: int = DEFAULT_READ_AHEAD) -> None:
        """The settings every runner shares: reading, checking and writing."""
        if batch_size < 1 or max_chars < 1 or read_ahead < 1:
            raise ValueError("batch_size, max_chars and read_ahead must be at least 1")
        self.engine_name = engine_name
        self.schema = schema
        self.batch_size = batch_size
        self.max_chars = max_chars
        self.progress = progress
        self.read_ahead = max(read_ahead, batch_size)

    def identity(self) -> dict[str, Any]:
        """The engine's identity, recorded with the output and compared on resume."""
        return self.engine.identity()

    def _check(self, rec: Record) -> str | None:
        if rec.error:
            return rec.error
        text = rec.text.text if isinstance(rec.text, TokenizedText) else rec.text
        if text is None or not text.strip():
            return "empty text"
        if len(text) > self.max_chars:
            return (f"text too long: {len(text)} characters (limit {self.max_chars}; raise "
                    f"max_chars, --max-chars on the command line, and resume: failed "
                    f"documents are retried)")
        return None

    def _todo(self, records: Iterable[Record], found: Scan, summary: Summary,
              write: Callable[[list[dict[str, Any]]], None]) -> Iterator[Record]:
        """The records still to extract: duplicate ids told apart, finished ones
        skipped, unreadable ones written at once as error rows."""
        unique = UniqueIds()
        for rec in records:
            rid = unique(rec.id)
            if rid != rec.id:  # the same id twice in the input: keep both, told apart
                logger.warning("duplicate input id %s; this one is written as %s",
                               clip(rec.id), clip(rid))
                rec = dataclasses.replace(rec, id=rid)
            if rec.id in found.done:
                summary.skipped += 1
                continue
            summary.retried += rec.id in found.failed
            problem = self._check(rec)
            if problem:
                write([error_record(rec, clip_message(problem), self.engine_name)])
                continue
            yield rec

    def _execute(self, todo: Iterator[Record],
                 write: Callable[[list[dict[str, Any]]], None]) -> None:
        """Extract ``todo`` in this process: ``read_ahead`` records at a time,
        sorted by length, in batches."""
        for chunk in _chunks(todo, self.read_ahead):
            chunk.sort(key=record_length)
            for lo in range(0, len(chunk), self.batch_size):
                write(extract_rows(self.engine, self.schema, chunk[lo:lo + self.batch_size]))

    def run(self, records: Iterable[Record], out: str | Path, *, resume: bool = True,
            adopt: bool = False) -> Summary:
        """Extract ``records`` into ``out``; see :func:`zeroshot.results.prepare_output`
        for what is refused (``resume=False`` starts over; ``adopt``: an output
        without a configuration record is taken as made with this one)."""
        out = Path(out)
        check_target(out)  # before the lock file is made beside it
        make_parent(out)
        summary = Summary()
        t0 = time.perf_counter()
        with locked(out):
            inputs = records.paths if isinstance(records, Inputs) else ()
            prepare_output(out, run_config(self.identity(), self.schema), overwrite=not resume,
                           adopt=adopt, inputs=inputs)
            found = scan(out)
            writer = ResultWriter(out)
            bar = _progress(self.progress)

            def write(rows: list[dict[str, Any]]) -> None:
                writer.write([encode_row(r) for r in rows])
                for row in rows:
                    summary.documents += 1
                    summary.spans += len(row["spans"])
                    summary.failed += row["error"] is not None
                bar.update(len(rows))

            writes = _BackgroundWrites(write)
            try:
                self._execute(self._todo(records, found, summary, writes), writes)
                writes.wait()
            finally:
                try:
                    writes.close()
                finally:
                    bar.close()
                    writer.close()
            if found.superseded or summary.retried:
                compact(out)
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
