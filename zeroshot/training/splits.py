"""The committed dev/test split of the general model (``eval/splits/general_v1.json``).

* Zero-shot dev datasets: whole corpora of the collection left out of training, whose
  type strings are (mostly) unseen in the training mixture.
* A Few-NERD dev slice: listed INTER-train sentences (ids ``train_part_b:123``: file stem
  and 0-based sentence index) held out of training, and a few INTER-train types held out
  of training everywhere (their spans dropped, their labels never in a prompt), scored
  with a schema of just those types.
* Few-NERD INTER test: the test, scored once per candidate the dev sets chose. No
  training sentence may equal an INTER-test sentence (normalised text,
  :func:`normalise_text`).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from zeroshot.core.loaders import Example, find_fewnerd, read_fewnerd

DEFAULT_SPLIT = Path(__file__).resolve().parents[2] / "eval" / "splits" / "general_v1.json"
_NON_WORD = re.compile(r"\W+")
MIN_NORMALISED_CHARS = 10


@dataclasses.dataclass(frozen=True)
class DevDataset:
    """A corpus of the collection used whole as a zero-shot dev set."""

    name: str
    splits: tuple[str, ...]
    limit: int
    drop_types: tuple[str, ...] = ()
    why: str = ""


@dataclasses.dataclass(frozen=True)
class SplitDefinition:
    name: str
    dev_datasets: tuple[DevDataset, ...]
    excluded: dict[str, str]                # dataset -> why it is not trained on
    fewnerd_train_files: tuple[str, ...]    # e.g. "inter/train_part_a"
    fewnerd_dev_ids: frozenset[str]
    fewnerd_heldout_types: tuple[str, ...]  # Few-NERD type names, e.g. "other-award"
    fewnerd_test: str
    fewnerd_test_schema: str
    inter_test_near_labels: tuple[str, ...]
    seed: int
    source: str = ""

    @property
    def not_trained(self) -> set[str]:
        """Collection datasets that never enter the training mixture."""
        return {d.name for d in self.dev_datasets} | set(self.excluded)


def load_split(path: str | Path = DEFAULT_SPLIT) -> SplitDefinition:
    """Read a split definition file; a missing key is an error naming it."""
    p = Path(path)
    raw: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
    try:
        fn = raw["fewnerd"]
        split = SplitDefinition(
            name=raw["name"],
            dev_datasets=tuple(DevDataset(name, tuple(v["splits"]), int(v["limit"]),
                                          tuple(v.get("drop_types", ())), v.get("why", ""))
                               for name, v in raw["zero_shot_dev_datasets"].items()),
            excluded=dict(raw.get("excluded_from_training", {})),
            fewnerd_train_files=tuple(fn["train_files"]),
            fewnerd_dev_ids=frozenset(fn["dev_sentences"]["ids"]),
            fewnerd_heldout_types=tuple(fn["heldout_types"]),
            fewnerd_test=fn["test"],
            fewnerd_test_schema=fn["test_schema"],
            inter_test_near_labels=tuple(raw["inter_test_near_labels"]),
            seed=int(raw["seed"]),
            source=str(p),
        )
    except KeyError as exc:
        raise ValueError(f"{p}: split definition lacks {exc}") from None
    if len(split.fewnerd_dev_ids) != len(fn["dev_sentences"]["ids"]):
        raise ValueError(f"{p}: duplicate Few-NERD dev sentence ids")
    return split


def read_fewnerd_file(name: str, root: str | Path | None = None) -> Iterator[Example]:
    """A Few-NERD file with ids ``<file stem>:<index>`` (``inter/train_part_b`` ->
    ``train_part_b:0``, ...)."""
    stem = name.rsplit("/", 1)[-1]
    for ex in read_fewnerd(find_fewnerd(name, root)):
        yield dataclasses.replace(ex, id=f"{stem}:{ex.id}")


def fewnerd_train_examples(split: SplitDefinition, root: str | Path | None = None
                           ) -> tuple[list[Example], list[Example]]:
    """(training sentences, dev sentences) of Few-NERD INTER train, split by the listed ids."""
    train, dev = [], []
    for name in split.fewnerd_train_files:
        for ex in read_fewnerd_file(name, root):
            (dev if ex.id in split.fewnerd_dev_ids else train).append(ex)
    missing = len(split.fewnerd_dev_ids) - len(dev)
    if missing:
        raise ValueError(f"{missing} Few-NERD dev ids of {split.source} are not in "
                         f"{list(split.fewnerd_train_files)}")
    return train, dev


def fewnerd_dev_sentences(split: SplitDefinition | str | Path = DEFAULT_SPLIT,
                          root: str | Path | None = None) -> list[Example]:
    """The Few-NERD INTER-train sentences held out as dev (all 36 train types as gold).

    For choosing prompts, thresholds or models: never the INTER test split.
    """
    if not isinstance(split, SplitDefinition):
        split = load_split(split)
    return fewnerd_train_examples(split, root)[1]


def normalise_text(tokens: Iterable[str]) -> str:
    """Lower-cased text without non-word characters (the collection's overlap filter)."""
    return _NON_WORD.sub("", "".join(tokens).lower())


def inter_test_texts(test: str = "inter/test", root: str | Path | None = None) -> set[str]:
    """Normalised texts of the INTER-test sentences (those of >= 10 characters)."""
    out = set()
    for ex in read_fewnerd(find_fewnerd(test, root)):
        t = normalise_text(ex.tokens.tokens)
        if len(t) >= MIN_NORMALISED_CHARS:
            out.add(t)
    return out
