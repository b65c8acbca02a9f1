"""Sanity check of the scorer on Few-NERD: gold vs itself, gold vs a perturbed copy.

Scoring gold against itself must give 100 in every mode; against a perturbed
copy the measured micro P/R/F1 must equal the numbers implied by the
perturbation counts (see :mod:`zeroshot.core.perturb`). Anyone can run it:
``zeroshot sanity`` (bundled sample) or ``zeroshot sanity --data PATH``.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from zeroshot import data as bundled
from zeroshot.core.evidence import render_evidence_card
from zeroshot.core.loaders import read_examples
from zeroshot.core.metrics import MODES, evaluate
from zeroshot.core.perturb import perturb
from zeroshot.core.schema import Schema
from zeroshot.core.spans import DocumentResult

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SanityResult:
    data: str
    n_documents: int
    n_gold: int
    applied: dict[str, int]
    self_scores: dict[str, dict[str, float]]
    measured: dict[str, dict[str, float]]
    expected: dict[str, dict[str, float]]
    card: str

    @property
    def ok(self) -> bool:
        self_ok = all(abs(v - 1.0) < 1e-12 for m in self.self_scores.values() for v in m.values())
        return self_ok and all(
            abs(self.measured[m][k] - self.expected[m][k]) < 1e-9
            for m in self.expected for k in self.expected[m]
        ) and self.n_gold > 0

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("card")
        d["ok"] = self.ok
        return d

    def table(self) -> str:
        rows = ["| mode | gold vs gold F1 | perturbed: expected P / R / F1 | measured P / R / F1 |",
                "|---|---|---|---|"]
        for m in MODES:
            e, g = self.expected[m], self.measured[m]
            rows.append(
                f"| {m} | {100 * self.self_scores[m]['f1']:.2f} | "
                f"{100 * e['precision']:.2f} / {100 * e['recall']:.2f} / {100 * e['f1']:.2f} | "
                f"{100 * g['precision']:.2f} / {100 * g['recall']:.2f} / {100 * g['f1']:.2f} |")
        return "\n".join(rows)


def run_sanity(data: str | Path | None = None, *, schema: Schema | None = None,
               rate: float = 0.1, seed: int = 0, limit: int | None = None) -> SanityResult:
    """Score gold against itself and a perturbed copy; see :class:`SanityResult`."""
    path = Path(data) if data is not None else bundled.path(bundled.FEWNERD_SAMPLE)
    schema = schema or Schema.load("fewnerd_fine")
    examples = list(read_examples(path, limit=limit))
    gold = [list(e.spans) for e in examples]
    labels = sorted({s.label for g in gold for s in g} | set(schema.names))
    unknown = {s.label for g in gold for s in g} - set(schema.names)
    if unknown:
        logger.warning("gold labels outside schema %s: %s", schema.name, sorted(unknown))

    def micro(report):
        return {m: {"precision": report[m].micro.precision, "recall": report[m].micro.recall,
                    "f1": report[m].micro.f1} for m in MODES}

    self_report = evaluate(gold, gold, ci=False)
    perturbed, applied = perturb(examples, labels, rate=rate, seed=seed)
    report = evaluate(gold, perturbed, n_resamples=300, seed=seed)
    predictions = [DocumentResult(text=e.text, spans=tuple(p), id=e.id, engine="perturbed-gold")
                   for e, p in zip(examples, perturbed, strict=True)]
    card = render_evidence_card(schema, gold, predictions, report=report,
                                title=f"Evidence card: perturbed gold on {path.name}",
                                extra_repairs=sum(e.repairs for e in examples))
    return SanityResult(
        data=str(path), n_documents=len(examples), n_gold=applied.gold,
        applied=dataclasses.asdict(applied), self_scores=micro(self_report),
        measured=micro(report), expected=applied.expected(), card=card,
    )
