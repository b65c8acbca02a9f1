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
from collections.abc import Iterable, Iterator
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
    word_tokens,
)
from zeroshot.core.spans import Span
from zeroshot.core.text import TokenizedText

__all__ = ["GOLD_FORMATS", "Example", "find_fewnerd", "open_bytes", "read_conll",
           "read_examples", "read_fewnerd", "read_jsonl"]

FEWNERD_ENV = "ZEROSHOT_FEWNERD_DIR"
NER_COLLECTION_ENV = "ZEROSHOT_NER_DIR"


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
        start, end, label = raw["start"], raw["end"], raw["label"]
    else:
        start, end, label = raw
    if isinstance(start, bool) or isinstance(end, bool) or not (
            isinstance(start, int) and isinstance(end, int)):
        raise ValueError(f"offsets must be integers, got {start!r}, {end!r}")
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"label must be a non-empty string, got {label!r}")
    return start, end, label


def read_jsonl(path: str | Path, *, text_field: str = "text", spans_field: str = "spans",
               id_field: str = "id", limit: int | None = None) -> Iterator[Example]:
    """JSONL (or one JSON array of objects): a text and character spans per object.

    Spans are ``{"start", "end", "label"}`` objects or ``[start, end, label]``.
    A ``"tokens"`` list, when present, is used (joined with spaces) instead of
    the text, and spans are then token offsets, end exclusive. GLiNER's training
    records (``{"tokenized_text": [...], "ner": [[first, last, label], ...]}``,
    last token inclusive) read as they are. An object without an id gets
    ``NAME:LINE``, as in the batch reader.
    """
    for count, (n, obj, err) in enumerate(read_json_objects(path), 1):
        if err is not None:
            raise err
        assert obj is not None
        idx = str(obj[id_field]) if obj.get(id_field) is not None else record_id(path, n)
        yield Example(idx, *_example_fields(obj, path, n, text_field, spans_field))
        if limit is not None and count >= limit:
            return


def _example_fields(obj: dict[str, Any], path: str | Path, n: int, text_field: str,
                    spans_field: str) -> tuple[TokenizedText, tuple[Span, ...]]:
    words, problem = word_tokens(obj)
    if problem:
        raise DataFormatError(problem, path=str(path), line=n)
    gliner = words is not None and obj.get("tokens") is None  # tokenized_text + ner
    field = "ner" if gliner else spans_field
    try:
        raw_spans = [_span_fields(s) for s in obj.get(field) or ()]
    except (KeyError, TypeError, ValueError) as exc:
        raise DataFormatError(f"malformed span in {field!r}: {clip(str(exc))}",
                              path=str(path), line=n) from None
    spans = []
    if words is not None:
        tokens = TokenizedText.from_tokens(words)
        for ts, te, label in raw_spans:
            end = te + 1 if gliner else te  # GLiNER's last token is inclusive
            if not 0 <= ts < end <= len(tokens):
                shown = f"[{ts}, {te}] (last token inclusive)" if gliner else f"[{ts}, {te})"
                raise DataFormatError(f"token span {shown} outside the {len(tokens)} tokens",
                                      path=str(path), line=n)
            cs, ce = tokens.token_span_to_char(ts, end)
            spans.append(Span(cs, ce, label, tokens.text[cs:ce], token_start=ts,
                              token_end=end, engine="gold"))
        return tokens, tuple(spans)
    text = obj.get(text_field)
    if not isinstance(text, str):
        raise DataFormatError(f"missing string field {text_field!r}", path=str(path), line=n)
    tokens = TokenizedText.from_text(text)
    for cs, ce, label in raw_spans:
        if not 0 <= cs < ce <= len(text):
            raise DataFormatError(f"char span [{cs}, {ce}) outside the text",
                                  path=str(path), line=n)
        hit = tokens.char_span_to_token(cs, ce)
        ts, te = (hit[0], hit[1]) if hit else (None, None)
        spans.append(Span(cs, ce, label, text[cs:ce], token_start=ts, token_end=te,
                          engine="gold"))
    return tokens, tuple(spans)


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


# -- a collection of corpora: <root>/<dataset>/<split>.jsonl[.gz] ----------------------

@dataclasses.dataclass(frozen=True)
class CollectionFile:
    """One split of one dataset of a corpus collection."""

    dataset: str
    split: str
    path: Path


def find_ner_collection(root: str | Path | None = None) -> Path:
    """Locate a corpus collection: ``root``, ``$ZEROSHOT_NER_DIR``, or ``../shared/data/ner``."""
    candidates = [Path(root)] if root is not None else []
    if os.environ.get(NER_COLLECTION_ENV):
        candidates.append(Path(os.environ[NER_COLLECTION_ENV]))
    candidates += [Path.cwd() / "../shared/data/ner",
                   Path(__file__).resolve().parents[3] / "shared/data/ner"]
    for base in candidates:
        if base.is_dir():
            return base.resolve()
    raise FileNotFoundError(f"no corpus collection under {[str(c) for c in candidates]}; "
                            f"pass a directory or set ${NER_COLLECTION_ENV}")


def list_ner_collection(root: str | Path) -> list[CollectionFile]:
    """Every ``<dataset>/<split>.jsonl`` or ``.jsonl.gz`` file under ``root``, sorted."""
    base = Path(root)
    if not base.is_dir():
        raise DataFormatError("not a directory", path=str(base))
    files = []
    for p in sorted(base.glob("*/*.jsonl*")):
        name = p.name
        if name.endswith(".jsonl.gz"):
            split = name[:-len(".jsonl.gz")]
        elif name.endswith(".jsonl"):
            split = name[:-len(".jsonl")]
        else:
            continue
        files.append(CollectionFile(p.parent.name, split, p))
    return files


def read_ner_collection(root: str | Path, datasets: Iterable[str] | None = None,
                        splits: Iterable[str] | None = None, *, limit: int | None = None
                        ) -> Iterator[tuple[CollectionFile, Example]]:
    """Examples of a collection in the tokens + token-spans JSONL format, file by file.

    Each line is ``{"tokens": [...], "spans": [[start, end_exclusive, "type words"], ...]}``
    (read by :func:`read_jsonl`, gzip or not); nested and coinciding spans are kept as
    written. Example ids are ``"<dataset>/<split>:<n>"`` (``n`` counts the file's records
    from 0). ``datasets``/``splits`` select (default: all); a named dataset that does not
    exist, or that has none of the named splits, is an error. ``limit`` caps each file.
    """
    files = list_ner_collection(root)
    known = sorted({f.dataset for f in files})
    wanted = list(datasets) if datasets is not None else known
    unknown = [d for d in wanted if d not in known]
    if unknown:
        raise DataFormatError(f"no dataset {unknown} here; the collection has {known}",
                              path=str(root))
    split_set = set(splits) if splits is not None else None
    for name in wanted:
        chosen = [f for f in files if f.dataset == name
                  and (split_set is None or f.split in split_set)]
        if not chosen:
            have = [f.split for f in files if f.dataset == name]
            raise DataFormatError(f"dataset {name!r} has none of the splits "
                                  f"{sorted(split_set or ())} (it has {have})", path=str(root))
        for f in chosen:
            for n, ex in enumerate(read_jsonl(f.path, limit=limit)):
                yield f, dataclasses.replace(ex, id=f"{f.dataset}/{f.split}:{n}")
