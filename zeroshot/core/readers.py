"""The one parsing layer under the gold loaders and the batch input readers.

:mod:`zeroshot.core.loaders` (gold data: spans wanted, bad input raises) and
:mod:`zeroshot.batch` (documents to extract: a bad record becomes an error row)
read files through these functions, so both see the same lines, columns,
JSON objects, ids and format guess:

* :func:`raw_lines`: numbered lines of a file, gzip or not (told by its magic
  bytes), a UTF-8 byte-order mark removed from the first, a truncated ``.gz``
  reported as a :class:`DataFormatError` at the line where it ends.
* :func:`split_columns`: Few-NERD columns are tab-separated; CoNLL columns are
  separated by runs of ASCII spaces and tabs. Other white space (no-break
  spaces, thin spaces, ...) belongs to the token.
* :func:`read_sentences`: token-per-line files, a blank line (or ``-DOCSTART-``)
  between sentences.
* :func:`read_json_objects`: one JSON object per line, or a file that is one JSON
  array of objects (GLiNER's training files; then a record's number is its item's,
  from 1); a string with a lone surrogate (valid JSON, not Unicode text) is an
  error on its line or item.
* :func:`word_tokens`: a record's own token list (``tokens``, or GLiNER's
  ``tokenized_text``), or what is wrong with it.
* :func:`record_id` and :class:`UniqueIds`: the id scheme. A line-based record
  (TXT line, JSONL object without an id) is ``NAME:LINE``; a sentence of a column
  file is ``NAME:INDEX`` (0-based); ``NAME`` is the file name. An id seen before
  becomes ``ID#2`` (or the first ``ID#k`` no record has).
* :func:`guess_format`: from the name (``.jsonl``/``.json``/``.ndjson``, ``.conll``
  and friends); any other name is Few-NERD when its first lines are
  ``token<TAB>tag``, else plain text.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from zeroshot.core.errors import DataFormatError

FORMATS = ("txt", "jsonl", "conll", "fewnerd")
COLUMN_FORMATS = ("conll", "fewnerd")
BOM = b"\xef\xbb\xbf"
_CONLL_SEP = re.compile(r"[ \t]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
# a JSON escape of a surrogate: only lines holding one can decode to a lone surrogate
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SNIFF_LINES = 20


def open_bytes(path: str | Path) -> BinaryIO:
    """A file opened for reading bytes, decompressed when it is gzip (told by its
    magic bytes, not its name)."""
    p = Path(path)
    with open(p, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return gzip.open(p, "rb") if gz else open(p, "rb")  # type: ignore[return-value]


def raw_lines(path: str | Path) -> Iterator[tuple[int, bytes]]:
    """Numbered lines (1-based) without their line ending; a BOM at the start of
    the file is dropped. A gzip stream that ends early raises
    :class:`DataFormatError` at the line where it ends, after the lines before."""
    p = Path(path)
    if not p.is_file():
        raise DataFormatError("file not found" if not p.exists() else "not a file", path=str(p))
    n = 0
    with open_bytes(p) as fh:
        try:
            for n, raw in enumerate(fh, 1):
                if n == 1 and raw.startswith(BOM):
                    raw = raw[len(BOM):]
                yield n, raw.rstrip(b"\r\n")
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise DataFormatError(f"compressed data ends early or is corrupt ({exc}); "
                                  f"nothing from here on could be read", path=str(p),
                                  line=n + 1) from None


def decode_line(raw: bytes, path: str | Path, line: int) -> str:
    """``raw`` as strict UTF-8, or a :class:`DataFormatError` naming the byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(
            f"not UTF-8 (bad byte 0x{raw[exc.start]:02x} at column {exc.start + 1})",
            path=str(path), line=line) from None


def check_unicode(value: str, path: str | Path, line: int, what: str = "text") -> str:
    """``value`` if it is valid Unicode text (no lone surrogate), else an error."""
    m = _SURROGATE.search(value)
    if m:
        raise DataFormatError(f"{what} holds a lone surrogate \\u{ord(m.group()):04x} at "
                              f"character {m.start()} (valid JSON, but not Unicode text)",
                              path=str(path), line=line)
    return value


def _strings(obj: Any) -> Iterator[str]:
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def is_blank(line: str) -> bool:
    """Only ASCII white space: a line of a no-break space holds a token."""
    return not line.strip(" \t\r\n\f\v")


def split_columns(line: str, fmt: str, sep: str | None = None) -> list[str]:
    """The columns of a token line: ``sep`` if given; Few-NERD: tabs (spaces around
    a column dropped); CoNLL: runs of ASCII spaces and tabs."""
    if sep is not None:
        return line.split(sep)
    if fmt == "fewnerd":
        return [c.strip(" ") for c in line.split("\t")]
    return _CONLL_SEP.split(line.strip(" \t"))


@dataclasses.dataclass
class Sentence:
    """One sentence of a column file: its token lines split into columns, or the
    first problem met in it (``error``; only when read leniently)."""

    index: int  # 0-based, in file order
    first_line: int
    last_line: int
    rows: list[list[str]]
    error: str | None = None


def read_sentences(path: str | Path, fmt: str, *, sep: str | None = None,
                   lenient: bool = False) -> Iterator[Sentence]:
    """Sentences of a CoNLL / Few-NERD file. ``lenient``: a line that is not UTF-8
    makes its sentence an error sentence and a truncated ``.gz`` a last error
    sentence, instead of raising."""
    rows: list[list[str]] = []
    error: str | None = None
    index, first, last = 0, 0, 0

    def flush() -> Sentence:
        nonlocal rows, error, index
        sent = Sentence(index, first, last, rows, error)
        rows, error, index = [], None, index + 1
        return sent

    lines = raw_lines(path)
    while True:
        try:
            item = next(lines, None)
        except DataFormatError as exc:
            if not lenient:
                raise
            if not (rows or error):
                first = last = exc.line or last + 1
            error = error or str(exc)
            yield flush()
            return
        if item is None:
            break
        n, raw = item
        if not raw.strip(b" \t\f\v") or raw.startswith(b"-DOCSTART-"):
            if rows or error:
                yield flush()
            continue
        if not (rows or error):
            first = n
        last = n
        try:
            rows.append(split_columns(decode_line(raw, path, n), fmt, sep))
        except DataFormatError as exc:
            if not lenient:
                raise
            error = error or str(exc)
    if rows or error:
        yield flush()


JsonObjects = Iterator[tuple[int, dict[str, Any] | None, DataFormatError | None]]


def read_json_objects(path: str | Path) -> JsonObjects:
    """``(line, object, None)`` for each JSON object line, ``(line, None, error)``
    for a line that is not one (not UTF-8, invalid JSON, not an object, a lone
    surrogate in a string). Blank lines are skipped. A truncated ``.gz`` ends the
    stream with an error at the line where it ends. A file whose first character
    is ``[`` is one JSON array: ``(item, object, None)`` per item, numbered from 1
    (see :func:`_array_objects`)."""
    if _first_char(path) == b"[":
        items = _array_objects(path)
        if items is not None:
            yield from items
            return
    lines = raw_lines(path)
    while True:
        try:
            item = next(lines, None)
        except DataFormatError as exc:
            yield exc.line or 0, None, exc
            return
        if item is None:
            return
        n, raw = item
        if not raw.strip():
            continue
        try:
            text = decode_line(raw, path, n)
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DataFormatError(f"invalid JSON: {exc.msg} (column {exc.colno})",
                                      path=str(path), line=n) from None
            if not isinstance(obj, dict):
                raise DataFormatError("each line must be a JSON object",
                                      path=str(path), line=n)
            if _SURROGATE_ESCAPE.search(raw):
                for s in _strings(obj):
                    check_unicode(s, path, n, "a string")
        except DataFormatError as exc:
            yield n, None, exc
            continue
        yield n, obj, None


def _first_char(path: str | Path) -> bytes:
    """The file's first byte that is not white space (after a BOM), or b"" (also
    when the file cannot be read: the line reader then reports why)."""
    try:
        for _, raw in raw_lines(path):
            stripped = raw.strip()
            if stripped:
                return stripped[:1]
    except DataFormatError:
        pass
    return b""


def _array_objects(path: str | Path) -> list[tuple[int, dict[str, Any] | None,
                                                  DataFormatError | None]] | None:
    """The items of a file that is one JSON array (read whole: GLiNER's training
    files), or None when the file is JSON lines after all (a first line holding an
    array, more values after it: the line reader reports that line). A problem
    with the file as a whole (not UTF-8, invalid JSON) is one error at its line;
    an item that is not an object, or holds a lone surrogate, is an error at its
    item number."""
    p = str(path)
    try:
        data = b"\n".join(raw for _, raw in raw_lines(path))
        items = json.loads(data.decode("utf-8"))
    except DataFormatError as exc:
        return [(exc.line or 0, None, exc)]
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return [(line, None, DataFormatError(f"not UTF-8 (bad byte 0x{data[exc.start]:02x})",
                                             path=p, line=line))]
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":
            return None
        return [(exc.lineno, None, DataFormatError(
            f"invalid JSON: {exc.msg} (column {exc.colno})", path=p, line=exc.lineno))]
    out: list[tuple[int, dict[str, Any] | None, DataFormatError | None]] = []
    for i, obj in enumerate(items, 1):
        try:
            if not isinstance(obj, dict):
                raise DataFormatError(f"item {i} of the array is {type(obj).__name__}, not "
                                      "an object", path=p, line=i)
            for text in _strings(obj):
                check_unicode(text, p, i, "a string")
        except DataFormatError as exc:
            out.append((i, None, exc))
            continue
        out.append((i, obj, None))
    return out


def word_tokens(obj: dict[str, Any]) -> tuple[list[str] | None, str | None]:
    """A JSON record's own words: ``tokens``, else GLiNER's ``tokenized_text``.
    ``(words, None)``; ``(None, None)`` when it has neither; ``(None, why)`` when
    the field is there but is not a list of non-empty strings."""
    field = "tokens" if obj.get("tokens") is not None else "tokenized_text"
    tokens = obj.get(field)
    if tokens is None:
        return None, None
    if not isinstance(tokens, list):
        return None, f"{field!r} is {type(tokens).__name__}, not a list of strings"
    if not tokens:
        return None, f"{field!r} is an empty list"
    for i, t in enumerate(tokens):
        if not isinstance(t, str):
            return None, f"{field}[{i}] is {type(t).__name__}, not a string"
        if not t:
            return None, f"{field}[{i}] is an empty string"
    return tokens, None


def record_id(path: str | Path, n: int) -> str:
    """The id of record ``n`` of a file that has none of its own: ``NAME:n``."""
    return f"{Path(path).name}:{n}"


class UniqueIds:
    """Ids made unique in input order: the first ``a`` stays ``a``, a repeat is
    ``a#2`` (``a#3``, ... or the first ``a#k`` not yet taken), and a later real
    ``a#2`` becomes ``a#2#2``. The same input always gets the same ids, so a
    resumed run finds its records again."""

    def __init__(self) -> None:
        self._taken: set[str] = set()
        self.repeats = 0

    def __call__(self, rid: str) -> str:
        if rid in self._taken:
            self.repeats += 1
            k = 2
            while f"{rid}#{k}" in self._taken:
                k += 1
            rid = f"{rid}#{k}"
        self._taken.add(rid)
        return rid


def _looks_like_fewnerd(path: Path) -> bool:
    """True when the first non-blank lines are all ``token<TAB>tag`` (one tab, a
    tag with no white space)."""
    seen = 0
    try:
        for _, raw in raw_lines(path):
            if not raw.strip() or raw.startswith(b"-DOCSTART-"):
                continue
            parts = raw.split(b"\t")
            if len(parts) != 2 or not parts[0].strip() or not parts[1].strip(b" ") \
                    or any(c in parts[1].strip(b" ") for c in b" \t"):
                return False
            seen += 1
            if seen >= _SNIFF_LINES:
                break
    except DataFormatError:
        pass  # a truncated .gz: judge by what could be read
    return seen > 0


def guess_format(path: str | Path) -> str:
    """The format of a file, from its name, else from its first lines (see the
    module docstring)."""
    p = Path(path)
    name = p.name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith((".conll", ".bio", ".iob", ".iob2", ".bioes", ".bilou")):
        return "conll"
    return "fewnerd" if p.is_file() and _looks_like_fewnerd(p) else "txt"
