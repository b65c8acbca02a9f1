"""Read gold data in place: Few-NERD, CoNLL-style BIO files, and JSONL with spans.

Every reader streams :class:`Example` objects (text, tokens, gold spans with char
and token offsets). Malformed input raises :class:`DataFormatError` naming the
file and line; invalid tag sequences are repaired per the chosen policy and the
repairs are counted on each example (and logged by the codec).

Lines, columns, JSON objects, ids and the format guess come from
:mod:`zeroshot.core.readers`, the layer the batch input readers use too, so a file
read for extraction and the same file read as gold give the same texts and ids.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zeroshot.core.codecs import RepairPolicy, Scheme, decode
from zeroshot.core.errors import DataFormatError, InvalidTagError, clip
from zeroshot.core.readers import (
    decode_line,
    guess_format,
    open_bytes,
    raw_lines,
    read_json_objects,
    read_sentences,
    record_id,
)
from zeroshot.core.spans import Span
from zeroshot.core.text import TokenizedText

__all__ = ["GOLD_FORMATS", "Example", "find_fewnerd", "open_bytes", "read_conll",
           "read_examples", "read_fewnerd", "read_jsonl"]

FEWNERD_ENV = "ZEROSHOT_FEWNERD_DIR"


@dataclasses.dataclass(frozen=True)
class Example:
    """One gold document."""

    id: str
    tokens: TokenizedText
    spans: tuple[Span, ...]
    repairs: int = 0

    @property
    def text(self) -> str:
        return self.tokens.text


def _lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Numbered lines of a text file, gzip or not, decoded as strict UTF-8 (a BOM
    dropped); bad bytes and truncated ``.gz`` files raise :class:`DataFormatError`."""
    for n, raw in raw_lines(path):
        yield n, decode_line(raw, path, n)


def _example(idx: str, words: list[str], tags: list[str], scheme: Scheme,
             repair: RepairPolicy, path: str, line: int, map_label=None) -> Example:
    tokens = TokenizedText.from_tokens(words)
    try:
        result = decode(tags, scheme, repair)
    except InvalidTagError as exc:
        raise DataFormatError(f"sentence ending here: {exc}", path=path, line=line) from None
    spans = []
    for ts, te, label in result.spans:
        cs, ce = tokens.token_span_to_char(ts, te)
        spans.append(Span(cs, ce, map_label(label) if map_label else label, tokens.text[cs:ce],
                          token_start=ts, token_end=te, engine="gold"))
    return Example(idx, tokens, tuple(spans), result.n_repairs)


def _read_columns(path: str | Path, fmt: str, scheme: Scheme, repair: RepairPolicy, *,
                  token_col: int, tag_col: int, sep: str | None, map_label=None,
                  limit: int | None = None) -> Iterator[Example]:
    """Gold sentences of a column file (see :func:`zeroshot.core.readers.split_columns`
    for how a line splits); ids as the batch reader gives them (``NAME:INDEX``)."""
    for sent in read_sentences(path, fmt, sep=sep):
        words: list[str] = []
        tags: list[str] = []
        for k, cols in enumerate(sent.rows):
            n = sent.first_line + k
            if len(cols) < 2:
                what = ("a tab" if fmt == "fewnerd" else "spaces or tabs") if sep is None \
                    else repr(sep)
                raise DataFormatError(f"expected a token and a tag separated by {what}, got "
                                      f"only {clip(cols[0])}", path=str(path), line=n)
            try:
                words.append(cols[token_col])
                tags.append(cols[tag_col])
            except IndexError:
                raise DataFormatError(f"no column {tag_col} in {clip(' '.join(cols))}",
                                      path=str(path), line=n) from None
            if not words[-1]:
                raise DataFormatError("empty token", path=str(path), line=n)
        yield _example(record_id(path, sent.index), words, tags, scheme, repair, str(path),
                       sent.last_line, map_label)
        if limit is not None and sent.index + 1 >= limit:
            return


def read_fewnerd(path: str | Path, *, level: str = "fine", limit: int | None = None
                 ) -> Iterator[Example]:
    """Few-NERD ``token<TAB>label`` files (IO scheme, plain or gzipped).

    An entity is a maximal run of the same label, as in Few-NERD's own tooling.
    ``level="coarse"`` maps ``person-actor`` to ``person``.
    """
    if level not in ("fine", "coarse"):
        raise ValueError("level must be 'fine' or 'coarse'")
    mapper = (lambda label: label.split("-", 1)[0]) if level == "coarse" else None
    yield from _read_columns(path, "fewnerd", Scheme.IO, RepairPolicy.RAISE, token_col=0,
                             tag_col=1, sep=None, map_label=mapper, limit=limit)


def read_conll(path: str | Path, *, scheme: str = "bio", repair: str = "begin",
               token_col: int = 0, tag_col: int = -1, sep: str | None = None,
               limit: int | None = None) -> Iterator[Example]:
    """CoNLL-style column files: a token per line, the tag in ``tag_col``; columns
    split on runs of ASCII spaces and tabs unless ``sep`` is given."""
    yield from _read_columns(path, "conll", Scheme.parse(scheme), RepairPolicy(repair),
                             token_col=token_col, tag_col=tag_col, sep=sep, limit=limit)


def _span_fields(raw: Any) -> tuple[int, int, str]:
    if isinstance(raw, dict):
        return int(raw["start"]), int(raw["end"]), str(raw["label"])
    start, end, label = raw
    return int(start), int(end), str(label)


def read_jsonl(path: str | Path, *, text_field: str = "text", spans_field: str = "spans",
               id_field: str = "id", limit: int | None = None) -> Iterator[Example]:
    """JSONL: one object per line with a text and character spans.

    Spans are ``{"start", "end", "label"}`` objects or ``[start, end, label]``.
    A ``"tokens"`` list, when present, is used (joined with spaces) instead of
    the text, and spans are then token offsets. An object without an id gets
    ``NAME:LINE``, as in the batch reader.
    """
    for count, (n, obj, err) in enumerate(read_json_objects(path), 1):
        if err is not None:
            raise err
        assert obj is not None
        idx = str(obj[id_field]) if obj.get(id_field) is not None else record_id(path, n)
        try:
            raw_spans = [_span_fields(s) for s in obj.get(spans_field) or ()]
        except (KeyError, TypeError, ValueError) as exc:
            raise DataFormatError(f"malformed span in {spans_field!r}: {clip(str(exc))}",
                                  path=str(path), line=n) from None
        spans = []
        if isinstance(obj.get("tokens"), list):
            tokens = TokenizedText.from_tokens([str(t) for t in obj["tokens"]])
            for ts, te, label in raw_spans:
                if not 0 <= ts < te <= len(tokens):
                    raise DataFormatError(f"token span [{ts}, {te}) outside the tokens",
                                          path=str(path), line=n)
                cs, ce = tokens.token_span_to_char(ts, te)
                spans.append(Span(cs, ce, label, tokens.text[cs:ce], token_start=ts,
                                  token_end=te, engine="gold"))
        else:
            text = obj.get(text_field)
            if not isinstance(text, str):
                raise DataFormatError(f"missing string field {text_field!r}", path=str(path),
                                      line=n)
            tokens = TokenizedText.from_text(text)
            for cs, ce, label in raw_spans:
                if not 0 <= cs < ce <= len(text):
                    raise DataFormatError(f"char span [{cs}, {ce}) outside the text",
                                          path=str(path), line=n)
                hit = tokens.char_span_to_token(cs, ce)
                ts, te = (hit[0], hit[1]) if hit else (None, None)
                spans.append(Span(cs, ce, label, text[cs:ce], token_start=ts, token_end=te,
                                  engine="gold"))
        yield Example(idx, tokens, tuple(spans))
        if limit is not None and count >= limit:
            return


GOLD_FORMATS = ("fewnerd", "conll", "jsonl")


def read_examples(path: str | Path, *, fmt: str | None = None, level: str = "fine",
                  **kwargs: Any) -> Iterator[Example]:
    """Dispatch on ``fmt`` (fewnerd / conll / jsonl), else on the format
    :func:`zeroshot.core.readers.guess_format` sees (the batch reader's guess).

    ``level="coarse"`` (Few-NERD files only) reads coarse gold types.
    """
    readers = {"fewnerd": read_fewnerd, "conll": read_conll, "jsonl": read_jsonl}
    if fmt is not None and fmt not in readers:
        raise ValueError(f"unknown format {fmt!r}; use one of {sorted(readers)}")
    if fmt is None:
        if not Path(path).is_file():
            raise DataFormatError("file not found", path=str(path))
        fmt = guess_format(path)
        if fmt == "txt":
            raise DataFormatError("looks like plain text, not gold data (no token<TAB>tag "
                                  "lines, no .jsonl/.conll name); name the format (fmt=, or "
                                  "--gold-format)", path=str(path))
    if fmt == "fewnerd":
        kwargs["level"] = level
    elif level != "fine":
        raise ValueError(f"level={level!r} applies to Few-NERD files; {path} is read as {fmt}")
    return readers[fmt](path, **kwargs)


def find_fewnerd(split: str = "inter/test", root: str | Path | None = None) -> Path:
    """Locate a Few-NERD split: ``root``, ``$ZEROSHOT_FEWNERD_DIR``, else
    ``../shared/data/fewnerd`` or ``shared/data/fewnerd`` from the working directory
    (where the project's checkouts have it). Nothing is looked up relative to the
    installed package, so an installed copy behaves like a checkout.

    ``split`` is a path under the Few-NERD directory without ``.txt.gz``,
    e.g. ``inter/test`` or ``inter/train_part_a``.
    """
    candidates = []
    if root is not None:
        candidates.append(Path(root))
    if os.environ.get(FEWNERD_ENV):
        candidates.append(Path(os.environ[FEWNERD_ENV]))
    candidates += [Path.cwd() / "../shared/data/fewnerd", Path.cwd() / "shared/data/fewnerd"]
    for base in candidates:
        for suffix in (".txt.gz", ".txt", ""):
            p = base / f"{split}{suffix}"
            if p.is_file():
                return p.resolve()
    raise FileNotFoundError(
        f"Few-NERD split {split!r} not found under {[str(c) for c in candidates]}; "
        f"pass a path or set ${FEWNERD_ENV}"
    )
