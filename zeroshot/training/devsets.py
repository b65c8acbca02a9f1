"""Dev sets of the general model, and scoring a GLiNER model on them at many thresholds.

A :class:`DevSet` is gold examples plus the schema its prompt holds. They are built from
the split definition (zero-shot dev datasets, Few-NERD held-out types on the Few-NERD dev
sentences), written as one JSONL file each in the collection's own format plus a schema
file (so the GPU machine reads them with the core loaders), and scored through the
zeroshot GLiNER engine and core metrics. One engine pass at the lowest threshold serves
every threshold of the grid: predictions above a higher threshold are exactly the
higher-threshold run's (gliner keeps every span above the threshold, and the flat
overlap policy resolves spans greedily by score, so a higher cut keeps a prefix of the
same order); ``tests/training/test_devsets.py`` checks this against separate runs.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import random
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from zeroshot.core.loaders import Example, read_jsonl, read_ner_collection
from zeroshot.core.metrics import evaluate
from zeroshot.core.schema import Schema
from zeroshot.core.spans import Span
from zeroshot.training.labels import LabelRules
from zeroshot.training.splits import SplitDefinition, fewnerd_train_examples, normalise_text

THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)


@dataclasses.dataclass(frozen=True)
class DevSet:
    name: str
    examples: tuple[Example, ...]
    schema: Schema
    zero_shot: bool = True   # counts towards model choice and threshold calibration

    def texts(self) -> set[str]:
        return {t for t in (normalise_text(e.tokens.tokens) for e in self.examples)
                if len(t) >= 10}

    def head(self, n: int | None) -> DevSet:
        return self if n is None else dataclasses.replace(self, examples=self.examples[:n])

    def write(self, folder: str | Path) -> None:
        """``<name>.jsonl.gz`` (tokens + token spans) and ``<name>.schema.json``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with gzip.open(folder / f"{self.name}.jsonl.gz", "wt", encoding="utf-8") as fh:
            for e in self.examples:
                fh.write(json.dumps({"id": e.id, "tokens": list(e.tokens.tokens),
                                     "spans": [[s.token_start, s.token_end, s.label]
                                               for s in e.spans]}, ensure_ascii=False) + "\n")
        meta = {"zero_shot": self.zero_shot, "schema": self.schema.to_dict()}
        (folder / f"{self.name}.schema.json").write_text(json.dumps(meta, indent=1) + "\n")


def read_devsets(folder: str | Path) -> list[DevSet]:
    """Every dev set written by :meth:`DevSet.write` in ``folder``, sorted by name."""
    out = []
    for meta_path in sorted(Path(folder).glob("*.schema.json")):
        name = meta_path.name[:-len(".schema.json")]
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        examples = tuple(read_jsonl(Path(folder) / f"{name}.jsonl.gz"))
        out.append(DevSet(name, examples, Schema.from_dict(meta["schema"]),
                          bool(meta["zero_shot"])))
    if not out:
        raise FileNotFoundError(f"no dev sets (*.schema.json) in {folder}")
    return out


def _keep_types(ex: Example, keep: dict[str, str]) -> Example:
    spans = tuple(dataclasses.replace(s, label=keep[s.label]) for s in ex.spans
                  if s.label in keep)
    return dataclasses.replace(ex, spans=spans)


def build_devsets(split: SplitDefinition, rules: LabelRules, *, ner_root: str | Path,
                  fewnerd_root: str | Path | None = None,
                  fewnerd_schema: str = "fewnerd_inter_train") -> list[DevSet]:
    """The split's dev sets: each zero-shot dev dataset (labels mapped by ``rules``,
    ``drop_types`` removed, a seeded sample of ``limit`` sentences), the Few-NERD held-out
    types on the Few-NERD dev sentences, and (not zero-shot, reported only) the trained
    Few-NERD types on the same sentences."""
    out = []
    for d in split.dev_datasets:
        examples = [ex for _, ex in read_ner_collection(ner_root, [d.name], d.splits)]
        raw_types = sorted({s.label for ex in examples for s in ex.spans})
        keep = {t: rules.map(d.name, t) for t in raw_types if t not in d.drop_types}
        keep = {t: lab for t, lab in keep.items() if lab is not None}
        rng = random.Random(f"{split.seed}:{d.name}")
        if len(examples) > d.limit:
            examples = rng.sample(examples, d.limit)
        examples = [_keep_types(ex, keep) for ex in examples]
        schema = Schema.from_labels(sorted(set(keep.values())), name=d.name)
        out.append(DevSet(d.name, tuple(examples), schema))
    fn = Schema.load(fewnerd_schema)
    _train, dev = fewnerd_train_examples(split, fewnerd_root)
    held = list(split.fewnerd_heldout_types)
    seen = [t.name for t in fn if t.name not in held]
    for name, types, zero in (("fewnerd_dev_heldout_types", held, True),
                              ("fewnerd_dev_trained_types", seen, False)):
        keep = {t: t for t in types}
        out.append(DevSet(name, tuple(_keep_types(ex, keep) for ex in dev),
                          fn.subset(types).with_options(threshold=0.5), zero))
    return out


def predict_spans(engine: Any, dev: DevSet, floor: float) -> list[tuple[Span, ...]]:
    """Predicted spans (with scores) of every example at threshold ``floor``."""
    schema = dev.schema.with_options(threshold=floor)
    results = engine.extract([list(e.tokens.tokens) for e in dev.examples], schema,
                             ids=[e.id for e in dev.examples])
    return [r.spans for r in results]


def score_at(dev: DevSet, predicted: Sequence[Iterable[Span]], threshold: float, *,
             ci: bool = False) -> dict[str, Any]:
    """Strict micro/macro P/R/F1 of predictions cut at ``threshold``."""
    cut = [[s for s in spans if s.score is None or s.score >= threshold] for spans in predicted]
    report = evaluate([e.spans for e in dev.examples], cut, labels=dev.schema.names,
                      modes=("strict",), ci=ci, n_resamples=300)
    m = report["strict"]
    out = {"p": m.micro.precision, "r": m.micro.recall, "f1": m.micro.f1,
           "macro_f1": m.macro.f1, "n_gold": m.micro.counts.possible if m.micro.counts else 0}
    if ci:
        out["f1_ci"] = list(m.micro.ci["f1"])
    return out


def evaluate_devsets(engine: Any, devsets: Sequence[DevSet],
                     thresholds: Sequence[float] = THRESHOLDS, *, ci: bool = False
                     ) -> dict[str, Any]:
    """Scores of every dev set at every threshold, the mean over zero-shot sets per
    threshold, and the best threshold by that mean (ties: the lower threshold)."""
    per: dict[str, dict[str, Any]] = {}
    floor = min(thresholds)
    for dev in devsets:
        t0 = time.perf_counter()
        predicted = predict_spans(engine, dev, floor)
        seconds = time.perf_counter() - t0
        per[dev.name] = {"zero_shot": dev.zero_shot, "sentences": len(dev.examples),
                         "seconds": round(seconds, 2),
                         "by_threshold": {f"{t:.2f}": score_at(dev, predicted, t, ci=ci)
                                          for t in thresholds}}
    zero = [n for n, v in per.items() if v["zero_shot"]]
    mean = {f"{t:.2f}": (sum(per[n]["by_threshold"][f"{t:.2f}"]["f1"] for n in zero)
                         / len(zero) if zero else 0.0) for t in thresholds}
    best = max(mean, key=lambda k: (mean[k], -float(k))) if mean else None
    return {"sets": per, "zero_shot_mean_f1": mean, "best_threshold": best and float(best),
            "best_mean_f1": mean[best] if best else 0.0, "zero_shot_sets": zero}
