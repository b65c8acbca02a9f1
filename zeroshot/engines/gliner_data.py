"""Gold examples + schema -> GLiNER training records, with per-prompt negative labels.

GLiNER learns to match spans to the label strings in its prompt. At test time the
prompt holds every type of the schema (17 for Few-NERD INTER test), so training
prompts must look alike: :class:`NegativeSamplingDataset` gives each example a
fresh set of negative labels (drawn from all training types) every time it is
read, so a prompt holds between ``min_labels`` and ``max_labels`` labels, in the
random order gliner's collator shuffles them into. With ``variants`` each label
is, per read, swapped for one of its paraphrases (``variant_rate`` of the time),
the same way for positives and negatives, so the encoder meets more than one
phrase per type. No torch import here.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from zeroshot.core.loaders import Example
from zeroshot.core.schema import Schema


def to_gliner_records(examples: Iterable[Example], schema: Schema) -> list[dict[str, Any]]:
    """``{"tokenized_text": [...], "ner": [[first_token, last_token, label], ...]}``.

    ``label`` is the type's natural-language label, the string the encoder sees.
    Spans of types outside the schema are an error (never train on unseen types).
    """
    records = []
    for ex in examples:
        ner = []
        for s in ex.spans:
            if s.token_start is None or s.token_end is None:
                raise ValueError(f"example {ex.id}: span {s.text!r} has no token offsets")
            ner.append([s.token_start, s.token_end - 1, schema[s.label].label])
        records.append({"tokenized_text": ex.tokens.tokens, "ner": ner})
    return records


class NegativeSamplingDataset:
    """A sequence of records whose ``ner_negatives`` are re-drawn on every read."""

    def __init__(self, records: Sequence[dict[str, Any]], labels: Sequence[str], *,
                 min_labels: int = 15, max_labels: int = 25, seed: int = 0,
                 variants: Mapping[str, Sequence[str]] | None = None,
                 variant_rate: float = 0.5):
        if not 1 <= min_labels <= max_labels:
            raise ValueError("need 1 <= min_labels <= max_labels")
        unknown = sorted(set(variants or {}) - set(labels))
        if unknown:
            raise ValueError(f"variants for labels that are not training labels: {unknown}")
        if not 0.0 <= variant_rate <= 1.0:
            raise ValueError("variant_rate must be in [0, 1]")
        self.variants = {k: list(v) for k, v in (variants or {}).items() if v}
        self.variant_rate = variant_rate
        self.records = list(records)
        self.labels = list(labels)
        self.min_labels, self.max_labels = min_labels, max_labels
        self.seed = seed
        self._reads = [0] * len(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict[str, Any]:
        rec = self.records[i]
        rng = random.Random(f"{self.seed}:{i}:{self._reads[i]}")
        self._reads[i] += 1
        positives = {r[2] for r in rec["ner"]}
        total = rng.randint(self.min_labels, self.max_labels)
        pool = [lab for lab in self.labels if lab not in positives]
        k = max(0, min(len(pool), total - len(positives)))
        negatives = rng.sample(pool, k)
        if not self.variants:
            return {**rec, "ner_negatives": negatives}
        phrase = {lab: (rng.choice(self.variants[lab])
                        if lab in self.variants and rng.random() < self.variant_rate else lab)
                  for lab in sorted(positives) + negatives}
        return {**rec, "ner": [[s, e, phrase[lab]] for s, e, lab in rec["ner"]],
                "ner_negatives": [phrase[lab] for lab in negatives]}
