"""Label strings of the training mixture: renames, drops, a coarse/fine hierarchy, paraphrases.

The rules live in a JSON file (``eval/configs/general_labels.json``): ``rename`` and
``drop`` per dataset (``"*"``: every dataset), ``hierarchy`` (coarse label -> finer
labels) and ``universal`` (labels whose mentions occur in text of any domain, so they
are never a negative for a corpus that does not annotate them). Paraphrase tables map a
label string to other phrases for it (``{"film": ["movie", ...]}``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class LabelRules:
    rename: Mapping[str, Mapping[str, str]]
    drop: Mapping[str, frozenset[str]]
    hierarchy: Mapping[str, tuple[str, ...]]
    universal: frozenset[str]

    @classmethod
    def load(cls, path: str | Path) -> LabelRules:
        raw: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
        unknown = set(raw) - {"_comment", "rename", "drop", "hierarchy", "universal"}
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
        return cls(rename={k: dict(v) for k, v in raw.get("rename", {}).items()},
                   drop={k: frozenset(v) for k, v in raw.get("drop", {}).items()},
                   hierarchy={k: tuple(v) for k, v in raw.get("hierarchy", {}).items()},
                   universal=frozenset(raw.get("universal", ())))

    def map(self, dataset: str, raw: str) -> str | None:
        """The label a corpus's type string becomes, or None when its spans are dropped."""
        if raw in self.drop.get(dataset, ()) or raw in self.drop.get("*", ()):
            return None
        for scope in (dataset, "*"):
            if raw in self.rename.get(scope, {}):
                return self.rename[scope][raw]
        return raw

    @cached_property
    def _parents(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for parent, children in self.hierarchy.items():
            for child in children:
                if child != parent:
                    out.setdefault(child, set()).add(parent)
        return out

    def ancestors(self, label: str) -> set[str]:
        """Every coarser label above ``label`` (transitively)."""
        seen: set[str] = set()
        todo = list(self._parents.get(label, ()))
        while todo:
            p = todo.pop()
            if p not in seen:
                seen.add(p)
                todo.extend(self._parents.get(p, ()))
        return seen

    def descendants(self, label: str) -> set[str]:
        """Every finer label below ``label`` (transitively)."""
        seen: set[str] = set()
        todo = list(self.hierarchy.get(label, ()))
        while todo:
            c = todo.pop()
            if c not in seen and c != label:
                seen.add(c)
                todo.extend(self.hierarchy.get(c, ()))
        return seen

    def related(self, label: str) -> set[str]:
        """Labels that name the same things in part: ancestors and descendants."""
        return self.ancestors(label) | self.descendants(label)


def load_variants(paths: Iterable[str | Path]) -> dict[str, list[str]]:
    """Merge paraphrase tables (``_``-prefixed keys are comments); a phrase equal to its
    own label, or a duplicate, is dropped."""
    merged: dict[str, list[str]] = {}
    for path in paths:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        for label, phrases in raw.items():
            if label.startswith("_"):
                continue
            if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
                raise ValueError(f"{path}: {label!r} must map to a list of strings")
            have = merged.setdefault(label, [])
            for p in phrases:
                if p.casefold() != label.casefold() and p not in have:
                    have.append(p)
    return merged


def clashes(strings: Iterable[str], forbidden: Iterable[str]) -> list[str]:
    """The strings equal (case-insensitively) to a forbidden one."""
    bad = {f.casefold() for f in forbidden}
    return sorted({s for s in strings if s.casefold() in bad})


def usable_variants(variants: Mapping[str, Sequence[str]], labels: Iterable[str],
                    forbidden: Iterable[str]) -> tuple[dict[str, list[str]], int]:
    """The paraphrases of ``labels`` that are not forbidden strings, and how many were not."""
    bad = {f.casefold() for f in forbidden}
    out, removed = {}, 0
    for label in labels:
        keep = [p for p in variants.get(label, ()) if p.casefold() not in bad]
        removed += len(variants.get(label, ())) - len(keep)
        if keep:
            out[label] = keep
    return out, removed
