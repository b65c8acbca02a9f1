"""The results file of a batch run: result rows, a configuration record, a lock.

For an output ``OUT`` (``out.jsonl``):

* ``OUT``: one JSON object per line, one per document (the fields of a
  :class:`~zeroshot.core.spans.DocumentResult` and ``error``). Every line is a
  result row, so ``cat``, ``wc -l`` and ``jq`` work on it as on any JSONL file.
* ``OUT.meta.json``: the configuration the rows were made with (the engine's
  identity, with its model checksum where it has one, and the schema with its
  threshold and options), and what wrote them. A sidecar rather than a header
  line, so no reader of ``OUT`` has to know to skip one.
* ``OUT.lock``: ``flock``-ed by the run writing ``OUT`` and removed when it ends; a
  second run on the same output stops at once, saying the file is in use.
* ``OUT.corrupt``: complete lines that were not result rows (a disk fault, a
  hand edit), moved there on resume with their line numbers logged, so the rows
  after them are kept.

A document may have several rows when a failed one was retried; the last row
of an id wins (:func:`read_results`), and a run that retried rows rewrites the
file with only the last row of each id at its end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from zeroshot.core.errors import ZeroshotError, clip
from zeroshot.core.spans import DocumentResult

logger = logging.getLogger(__name__)

META_SUFFIX = ".meta.json"
LOCK_SUFFIX = ".lock"
CORRUPT_SUFFIX = ".corrupt"
FORMAT = "zeroshot-results"
FORMAT_VERSION = 1
SYNC_EVERY_S = 2.0

# one encoder for every row: json.dumps builds a new one per call when given options
_ENCODER = json.JSONEncoder(ensure_ascii=False, check_circular=False, allow_nan=False)
_ID_PREFIX = '{"id": "'


class OutputError(ZeroshotError):
    """The output cannot be used: in use, not a results file, made with another
    configuration, an input, a directory, or not writable (disk full)."""


def sidecar(out: Path, suffix: str) -> Path:
    return out.with_name(out.name + suffix)


def run_config(identity: Mapping[str, Any], schema: Any) -> dict[str, Any]:
    """What decides the rows: the engine's identity and the schema (types,
    descriptions, threshold, options). Compared on resume."""
    return json.loads(json.dumps({"engine": dict(identity), "schema": schema.to_dict()},
                                 default=str, sort_keys=True))


# --------------------------------------------------------------------------- lock
LOCK_ATTEMPTS = 5


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold ``OUT.lock`` exclusively; :class:`OutputError` if another process has it.

    The lock file is removed when the block ends (a run killed by a signal leaves it,
    and the next run takes it over). Removing it is safe because a run that gets the
    lock also checks that the file it locked is still the one at the path: a file
    removed (or replaced) between its ``open`` and its ``flock`` is given up and the
    path opened again."""
    lock = sidecar(out, LOCK_SUFFIX)
    fd = _acquire(out, lock)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):  # still held: no other run has this file
            os.unlink(lock)
        os.close(fd)  # releases the lock


def _acquire(out: Path, lock: Path) -> int:
    for _ in range(LOCK_ATTEMPTS):
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise OutputError(f"{lock}: cannot open the lock file ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            who = f" (process {holder})" if holder.isdigit() else ""
            raise OutputError(f"{out} is in use by another run{who}: its lock {lock.name} is "
                              f"held; wait for that run to end or write to another file"
                              ) from None
        if same_file(fd, lock):
            return fd
        os.close(fd)  # its holder removed it as we opened it: open the path again
    raise OutputError(f"{lock}: the lock file kept changing under this run "
                      f"({LOCK_ATTEMPTS} attempts); is another program removing it?")


def same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        at_path = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (at_path.st_dev, at_path.st_ino)


# --------------------------------------------------------------------------- rows
def is_result_row(obj: Any) -> bool:
    """A JSON object with a string ``id`` and ``text``, a ``spans`` list and an
    ``error`` that is null or a string (missing: a hand-made prediction, no error)."""
    return (isinstance(obj, dict) and isinstance(obj.get("id"), str)
            and isinstance(obj.get("text"), str) and isinstance(obj.get("spans"), list)
            and (obj.get("error") is None or isinstance(obj["error"], str)))


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return obj if is_result_row(obj) else None


def _row_id(line: str) -> str | None:
    """The id of a row, cheaply when the writer wrote it (``{"id": "...`` first)."""
    if line.startswith(_ID_PREFIX):
        try:
            rid, _ = json.decoder.scanstring(line, len(_ID_PREFIX))
            return rid
        except (ValueError, IndexError):
            return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    return obj["id"] if is_result_row(obj) else None


def encode_row(row: Mapping[str, Any]) -> bytes:
    """One row as a line of UTF-8 JSON. A row that cannot be written as valid JSON
    text (a lone surrogate, a NaN score) becomes an error row saying why, with
    its text kept (lone surrogates replaced, so offsets stay)."""
    try:
        return (_ENCODER.encode(row) + "\n").encode("utf-8")
    except (UnicodeEncodeError, ValueError, TypeError) as exc:
        text = str(row.get("text") or "")
        safe = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
        rid = str(row.get("id")).encode("utf-8", "backslashreplace").decode("utf-8")
        bad = {"id": rid, "text": safe, "engine": row.get("engine"), "spans": [],
               "unaligned": [], "issues": [], "tokens": None,
               "error": f"the result could not be written as JSON: {type(exc).__name__}: "
                        f"{clip(str(exc), 200)}"}
        return (_ENCODER.encode(bad) + "\n").encode("utf-8")


# --------------------------------------------------------------------------- scan
@dataclasses.dataclass
class Scan:
    """What a results file holds: ids whose last row succeeded (``done``) or
    failed (``failed``; retried on resume), rows replaced by a later row of their
    id (``superseded``), lines moved to ``OUT.corrupt`` and bytes of a torn last
    line cut off."""

    done: set[str] = dataclasses.field(default_factory=set)
    failed: set[str] = dataclasses.field(default_factory=set)
    rows: int = 0
    superseded: int = 0
    quarantined: int = 0
    torn_bytes: int = 0


def scan(out: Path) -> Scan:
    """Read ``out`` for a resume, repairing it: a torn last line is cut off (the
    one thing a kill leaves) and a complete line that is not a result row is
    moved to ``OUT.corrupt`` (file:line logged), keeping every row after it."""
    result = Scan()
    if not out.exists():
        return result
    last_ok: dict[str, bool] = {}
    corrupt: list[tuple[int, bytes]] = []
    good_end = 0
    with out.open("rb") as fh:
        for n, raw in enumerate(fh, 1):
            if not raw.endswith(b"\n"):
                result.torn_bytes = len(raw)
                break
            good_end += len(raw)
            if not raw.strip():
                continue
            row = _parse(raw)
            if row is None:
                corrupt.append((n, raw))
                continue
            result.rows += 1
            if row["id"] in last_ok:
                result.superseded += 1
            last_ok[row["id"]] = row.get("error") is None
    for rid, ok in last_ok.items():
        (result.done if ok else result.failed).add(rid)
    if corrupt:
        _quarantine(out, corrupt, good_end)
        result.quarantined = len(corrupt)
    elif result.torn_bytes:
        with out.open("rb+") as fh:
            fh.truncate(good_end)
            os.fsync(fh.fileno())
    if result.torn_bytes:
        logger.warning("%s: cut a torn last line (%d bytes) left by an interrupted run",
                       out, result.torn_bytes)
    return result


def _quarantine(out: Path, corrupt: list[tuple[int, bytes]], good_end: int) -> None:
    bad_lines = {n for n, _ in corrupt}
    dump = sidecar(out, CORRUPT_SUFFIX)
    with dump.open("ab") as fh:
        for n, raw in corrupt:
            fh.write(f"# {out.name}:{n}\n".encode() + raw)
        fh.flush()
        os.fsync(fh.fileno())

    def keep() -> Iterator[bytes]:
        with out.open("rb") as src:
            pos = 0
            for n, raw in enumerate(src, 1):
                pos += len(raw)
                if pos > good_end:
                    return  # the torn tail
                if n not in bad_lines:
                    yield raw

    _rewrite(out, keep())
    where = ", ".join(f"{out}:{n}" for n, _ in corrupt[:5])
    more = f" and {len(corrupt) - 5} more" if len(corrupt) > 5 else ""
    logger.warning("%d line(s) of %s are not result rows (%s%s): moved to %s; their "
                   "records are extracted again", len(corrupt), out.name, where, more, dump)


def _rewrite(out: Path, lines: Iterable[bytes]) -> None:
    """Replace ``out`` by ``lines`` atomically (a temporary file renamed over it)."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as fh:
            for raw in lines:
                fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(OSError):
            os.chmod(tmp, out.stat().st_mode & 0o7777)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{out}: could not rewrite the file ({exc.strerror}); it is "
                          f"unchanged") from None
    _fsync_dir(out.parent)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def compact(out: Path) -> int:
    """Keep only the last row of each id (in the order of those last rows);
    returns the number of rows dropped."""
    last = _last_lines(out)
    dropped = 0

    def keep() -> Iterator[bytes]:
        nonlocal dropped
        with out.open("rb") as fh:
            for n, raw in enumerate(fh, 1):
                rid = _row_id(raw.decode("utf-8", "replace"))
                if rid is not None and last.get(rid) == n:
                    yield raw
                else:
                    dropped += 1

    _rewrite(out, keep())
    return dropped


def _last_lines(path: Path) -> dict[str, int]:
    last: dict[str, int] = {}
    with path.open(encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            rid = _row_id(line)
            if rid is not None:
                last[rid] = n
    return last


# --------------------------------------------------------------------------- meta
def read_meta(out: Path) -> dict[str, Any] | None:
    meta = sidecar(out, META_SUFFIX)
    if not meta.exists():
        return None
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OutputError(f"{meta}: unreadable configuration record ({exc}); pass "
                          f"--overwrite to start over") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise OutputError(f"{meta}: not a zeroshot configuration record")
    return data


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("zeroshot")
    except PackageNotFoundError:
        return "unknown"


def write_meta(out: Path, config: Mapping[str, Any]) -> None:
    meta = {"format": FORMAT, "version": FORMAT_VERSION, "config": dict(config),
            "written_by": {"zeroshot": _version(), "argv": sys.argv,
                           "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}}
    path = sidecar(out, META_SUFFIX)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(meta, indent=2, ensure_ascii=False, default=str) + "\n",
                       encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write the configuration record "
                          f"({exc.strerror})") from None


def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_leaves(v, f"{prefix}.{k}" if prefix else str(k)))
        return out or {prefix: {}}
    return {prefix: value}


def config_diff(old: Mapping[str, Any], new: Mapping[str, Any], limit: int = 4) -> str:
    """The settings that differ, as ``path: old -> new``."""
    a, b = _leaves(dict(old)), _leaves(dict(new))
    missing = object()

    def show(value: Any) -> str:
        return "(none)" if value is missing else clip(value, 40)

    keys = sorted(k for k in a.keys() | b.keys() if a.get(k, missing) != b.get(k, missing))
    shown = [f"{k}: {show(a.get(k, missing))} -> {show(b.get(k, missing))}"
             for k in keys[:limit]]
    more = f"; and {len(keys) - limit} more" if len(keys) > limit else ""
    return "; ".join(shown) + more


def _first_line(out: Path) -> bytes:
    with out.open("rb") as fh:
        return fh.readline(1 << 20)


def check_target(out: Path, inputs: Iterable[Path] = ()) -> None:
    """Refuse a target that can never hold results: ``-``, a directory, an input."""
    if str(out) == "-":
        raise OutputError("-o -: results are written to a file as they finish, and a run "
                          "resumes from it, so standard output is not a target; give a file "
                          "path (then e.g. `cat` or `jq` it)")
    if out.is_dir():
        raise OutputError(f"{out} is a directory; -o needs a file path")
    for p in inputs:
        if out.exists() and p.exists() and os.path.samefile(p, out):
            raise OutputError(f"refusing to write the results over the input {p}")


def _unrecorded(out: Path) -> OutputError:
    row = _parse(_first_line(out))
    what = ("holds results but no record of the configuration that made them "
            f"({sidecar(out, META_SUFFIX).name} is missing)" if row is not None
            else "is not a zeroshot results file")
    return OutputError(f"{out} {what}; pass --overwrite to replace it, or write to another "
                       f"file")


def make_output_dir(out: str | Path, what: str = "the output") -> Path:
    """Create the folder a command writes into (``out``, its parents too), or say why
    it cannot be: a file of that name, no permission."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file; give a new or existing folder for {what}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot create the folder for {what} ({exc.strerror})"
                          ) from None
    return out


def make_parent(out: Path) -> None:
    make_output_dir(out.parent, out.name)


def preflight(out: str | Path, *, overwrite: bool = False, adopt: bool = False,
              inputs: Iterable[Path] = ()) -> None:
    """The checks that need no engine, so a run stops before it loads a model: a
    directory, an input, an output in use, a file that is not a results file."""
    out = Path(out)
    check_target(out, inputs)
    make_parent(out)
    with locked(out):
        if (not overwrite and not adopt and out.exists() and out.stat().st_size > 0
                and read_meta(out) is None):
            raise _unrecorded(out)


def prepare_output(out: Path, config: Mapping[str, Any], *, overwrite: bool = False,
                   adopt: bool = False, inputs: Iterable[Path] = ()) -> None:
    """Make ``out`` ready to append rows of ``config`` (call it holding the lock).

    Refuses (:class:`OutputError`): an input file; a directory; unless
    ``overwrite``, a non-empty file without a configuration record (a file that
    is not a results file, or one whose configuration is unknown: ``adopt``
    takes it as made with ``config``) or one recorded with another configuration.
    ``overwrite`` empties it (never an input).
    """
    check_target(out, inputs)
    nonempty = out.exists() and out.stat().st_size > 0
    if overwrite or not nonempty:
        if nonempty:
            with out.open("rb+") as fh:
                fh.truncate(0)
        write_meta(out, config)
        return
    meta = read_meta(out)
    if meta is None:
        if not adopt:
            raise _unrecorded(out)
        logger.warning("%s has no configuration record; taking it as made with this "
                       "configuration", out)
        write_meta(out, config)
        return
    if meta.get("config") != dict(config):
        raise OutputError(f"{out} was written with another configuration "
                          f"({config_diff(meta.get('config') or {}, config)}); resuming "
                          f"would mix them: pass --overwrite to start over, or write to "
                          f"another file")


# --------------------------------------------------------------------------- writer
class ResultWriter:
    """Appends rows to a results file: each call one ``write`` of whole lines,
    ``fsync`` every ``sync_every`` seconds and on close (a kill loses nothing
    written; a power cut at most the last seconds, which a resume redoes).

    An ``OSError`` (disk full, file too large) stops the run with an
    :class:`OutputError` that says so; rows written before it are kept, and a
    line it tore is cut off on resume.
    """

    def __init__(self, out: Path, *, sync_every: float = SYNC_EVERY_S) -> None:
        self.out = out
        self.sync_every = sync_every
        self.rows = 0
        created = not out.exists()
        try:
            self._fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                               0o644)
        except OSError as exc:
            raise OutputError(f"{out}: cannot open for writing ({exc.strerror})") from None
        if created:
            _fsync_dir(out.parent)
        self._synced = time.monotonic()

    def write(self, lines: list[bytes]) -> None:
        data = memoryview(b"".join(lines))
        try:
            while data:
                n = os.write(self._fd, data)
                data = data[n:]
            if time.monotonic() - self._synced >= self.sync_every:
                self.sync()
        except OSError as exc:
            self._fail(exc)
        self.rows += len(lines)

    def sync(self) -> None:
        os.fsync(self._fd)
        self._synced = time.monotonic()

    def _fail(self, exc: OSError) -> None:
        why = {errno.ENOSPC: "the disk is full", errno.EFBIG: "the file is too large",
               errno.EDQUOT: "the disk quota is exceeded"}.get(exc.errno or 0, exc.strerror)
        raise OutputError(f"cannot write {self.out}: {why}; stopped after {self.rows} rows of "
                          f"this run, which are kept: make room and run the same command "
                          f"again to resume") from None

    def close(self) -> None:
        if self._fd < 0:
            return
        try:
            self.sync()
        except OSError as exc:
            self._fail(exc)
        finally:
            os.close(self._fd)
            self._fd = -1


# --------------------------------------------------------------------------- read
def read_results(path: str | Path) -> Iterator[tuple[DocumentResult, str | None]]:
    """Stream ``(result, error)`` pairs from a results file, the last row of each
    id only (a retried record's earlier rows are skipped). A line that is not a
    result row is skipped with a warning naming ``file:line``."""
    p = Path(path)
    if not p.is_file():
        raise ZeroshotError(f"{p}: results file not found")
    last = _last_lines(p)
    skipped: list[int] = []
    with p.open(encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not is_result_row(row):
                    raise ValueError("not a result row")
                if last.get(row["id"]) != n:
                    continue  # a later row of this id wins
                yield DocumentResult.from_dict(row), row.get("error")
            except (ValueError, KeyError, TypeError):
                skipped.append(n)
    if skipped:
        where = ", ".join(f"{p}:{n}" for n in skipped[:5])
        logger.warning("skipped %d line(s) that are not result rows: %s%s", len(skipped),
                       where, " ..." if len(skipped) > 5 else "")
