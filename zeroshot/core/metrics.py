"""Span-level NER metrics: the four SemEval-2013 modes, micro/macro/per type, with CIs.

Definitions (as in nervaluate, Batista's implementation of SemEval-2013 Task 9.1),
for one document's gold spans G and predicted spans P:

* **strict**: a prediction is *correct* when an unmatched gold span has the same
  boundaries and type.
* **exact**: correct when boundaries are equal, whatever the type.
* **partial**: correct when boundaries are equal; *partial* when it only overlaps
  an unmatched gold span; type is ignored.
* **type**: correct when it overlaps an unmatched gold span of the same type
  (the closest boundaries win); *incorrect* when it overlaps one of another type.

A prediction that matches nothing is *spurious*; a gold span left unmatched is
*missed*; in strict/exact a prediction that overlaps a gold span without
matching it is *incorrect* and uses that gold span up. Exact-boundary pairs are
matched first, so a result does not depend on the order of nested predictions;
for flat spans this is nervaluate's greedy matching exactly.

``precision = (correct + 0.5 * partial) / |P|`` and
``recall = (correct + 0.5 * partial) / |G|`` (partial is 0 outside partial mode);
F1 is their harmonic mean, 0 when both are 0. Micro sums counts over documents;
macro averages per-type scores over the types that occur in gold or predictions.
Confidence intervals resample documents with replacement (percentile bootstrap).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np

MODES = ("strict", "exact", "partial", "type")


class SpanLike(Protocol):
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def label(self) -> str: ...


_Key = tuple[int, int, str]


def _keys(spans: Iterable[SpanLike | tuple[int, int, str]], on: str) -> list[_Key]:
    out: list[_Key] = []
    for s in spans:
        if isinstance(s, tuple):
            out.append((int(s[0]), int(s[1]), str(s[2])))
        elif on == "token":
            out.append((s.token_start, s.token_end, s.label))  # type: ignore[attr-defined]
        else:
            out.append((s.start, s.end, s.label))
    out.sort()
    return out


@dataclasses.dataclass(frozen=True)
class Counts:
    correct: int = 0
    incorrect: int = 0
    partial: int = 0
    missed: int = 0
    spurious: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(dataclasses.astuple(self),
                                              dataclasses.astuple(other), strict=True)))

    @property
    def actual(self) -> int:
        """Number of predictions."""
        return self.correct + self.incorrect + self.partial + self.spurious

    @property
    def possible(self) -> int:
        """Number of gold spans."""
        return self.correct + self.incorrect + self.partial + self.missed

    @property
    def credit(self) -> float:
        return self.correct + 0.5 * self.partial

    @property
    def precision(self) -> float:
        return self.credit / self.actual if self.actual else 0.0

    @property
    def recall(self) -> float:
        return self.credit / self.possible if self.possible else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "actual": self.actual, "possible": self.possible,
                "precision": self.precision, "recall": self.recall, "f1": self.f1}


def _overlap(a: _Key, b: _Key) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def match(gold: Sequence[_Key], pred: Sequence[_Key], mode: str) -> Counts:
    """Counts for one document; ``gold`` and ``pred`` are sorted ``(start, end, label)``."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; use one of {MODES}")
    used = [False] * len(gold)
    correct = incorrect = partial = spurious = 0
    by_key: dict[tuple, list[int]] = defaultdict(list)
    typed = mode in ("strict", "type")
    for gi, g in enumerate(gold):
        by_key[g if typed else g[:2]].append(gi)
    pending: list[_Key] = []
    for p in pred:  # pass 1: exact boundaries (and type where the mode needs it)
        for gi in by_key.get(p if typed else p[:2], ()):
            if not used[gi]:
                used[gi] = True
                correct += 1
                break
        else:
            pending.append(p)
    for p in pending:  # pass 2: overlaps, greedily in document order
        hit = -1
        if mode == "type":
            best = None
            for gi, g in enumerate(gold):
                if not used[gi] and g[2] == p[2] and _overlap(p, g):
                    dist = abs(p[0] - g[0]) + abs(p[1] - g[1])
                    if best is None or dist < best:
                        best, hit = dist, gi
            if hit >= 0:
                used[hit] = True
                correct += 1
                continue
        for gi, g in enumerate(gold):
            if not used[gi] and _overlap(p, g):
                hit = gi
                break
        if hit >= 0:
            used[hit] = True
            if mode == "partial":
                partial += 1
            else:
                incorrect += 1
        else:
            spurious += 1
    missed = used.count(False)
    return Counts(correct, incorrect, partial, missed, spurious)


@dataclasses.dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    f1: float
    counts: Counts | None = None
    ci: dict[str, tuple[float, float]] | None = None  # metric -> (low, high)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"precision": self.precision, "recall": self.recall, "f1": self.f1}
        if self.counts is not None:
            out["counts"] = dataclasses.asdict(self.counts)
            out["n_gold"] = self.counts.possible
            out["n_pred"] = self.counts.actual
        if self.ci is not None:
            out["ci95"] = {k: list(v) for k, v in self.ci.items()}
        return out


@dataclasses.dataclass(frozen=True)
class ModeReport:
    micro: Score
    macro: Score
    per_type: dict[str, Score]

    def to_dict(self) -> dict[str, Any]:
        return {"micro": self.micro.to_dict(), "macro": self.macro.to_dict(),
                "per_type": {k: v.to_dict() for k, v in sorted(self.per_type.items())}}


@dataclasses.dataclass(frozen=True)
class Report:
    modes: dict[str, ModeReport]
    n_documents: int

    def __getitem__(self, mode: str) -> ModeReport:
        return self.modes[mode]

    def to_dict(self) -> dict[str, Any]:
        return {"n_documents": self.n_documents,
                **{m: r.to_dict() for m, r in self.modes.items()}}


def _score(c: Counts, ci: dict[str, tuple[float, float]] | None = None) -> Score:
    return Score(c.precision, c.recall, c.f1, c, ci)


def bootstrap_ci(per_doc: Sequence[Counts], *, n_resamples: int = 1000, seed: int = 0,
                 level: float = 0.95) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap CI of micro P/R/F1, resampling documents."""
    n = len(per_doc)
    if n == 0:
        return {"precision": (0.0, 0.0), "recall": (0.0, 0.0), "f1": (0.0, 0.0)}
    credit = np.array([c.credit for c in per_doc], dtype=np.float64)
    actual = np.array([c.actual for c in per_doc], dtype=np.float64)
    possible = np.array([c.possible for c in per_doc], dtype=np.float64)
    rng = np.random.default_rng(seed)
    ps, rs, fs = (np.empty(n_resamples) for _ in range(3))
    for b in range(n_resamples):
        idx = rng.integers(0, n, n)
        cr, ac, po = credit[idx].sum(), actual[idx].sum(), possible[idx].sum()
        p = cr / ac if ac else 0.0
        r = cr / po if po else 0.0
        ps[b], rs[b], fs[b] = p, r, (2 * p * r / (p + r) if p + r else 0.0)
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    return {name: (float(np.percentile(arr, lo)), float(np.percentile(arr, hi)))
            for name, arr in (("precision", ps), ("recall", rs), ("f1", fs))}


def evaluate(
    gold: Sequence[Iterable[SpanLike | tuple[int, int, str]]],
    pred: Sequence[Iterable[SpanLike | tuple[int, int, str]]],
    *,
    labels: Iterable[str] | None = None,
    modes: Sequence[str] = MODES,
    on: str = "char",
    ci: bool = True,
    n_resamples: int = 1000,
    seed: int = 0,
) -> Report:
    """Score predictions against gold, document by document.

    Args:
        gold, pred: one iterable of spans per document (same length, same order).
            Spans are objects with ``start``/``end``/``label`` or tuples.
        labels: only these types are scored (others are ignored on both sides,
            as nervaluate's ``tags``); default: every type seen.
        on: ``"char"`` offsets, or ``"token"`` offsets of :class:`Span` objects.
        ci: add bootstrap 95 % intervals to the micro scores.
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold documents but {len(pred)} predicted documents")
    keep = set(labels) if labels is not None else None
    gold_keys = [[k for k in _keys(d, on) if keep is None or k[2] in keep] for d in gold]
    pred_keys = [[k for k in _keys(d, on) if keep is None or k[2] in keep] for d in pred]
    types = sorted({k[2] for d in gold_keys + pred_keys for k in d})
    out: dict[str, ModeReport] = {}
    for mode in modes:
        per_doc = [match(g, p, mode) for g, p in zip(gold_keys, pred_keys, strict=True)]
        micro = sum(per_doc, Counts())
        per_type_counts = {t: Counts() for t in types}
        for g, p in zip(gold_keys, pred_keys, strict=True):
            for t in {k[2] for k in g} | {k[2] for k in p}:
                per_type_counts[t] = per_type_counts[t] + match(
                    [k for k in g if k[2] == t], [k for k in p if k[2] == t], mode)
        per_type = {t: _score(c) for t, c in per_type_counts.items()}
        if per_type:
            macro = Score(
                float(np.mean([s.precision for s in per_type.values()])),
                float(np.mean([s.recall for s in per_type.values()])),
                float(np.mean([s.f1 for s in per_type.values()])),
            )
        else:
            macro = Score(0.0, 0.0, 0.0)
        intervals = bootstrap_ci(per_doc, n_resamples=n_resamples, seed=seed) if ci else None
        out[mode] = ModeReport(_score(micro, intervals), macro, per_type)
    return Report(out, len(gold))
