"""Gold examples + schema -> GLiNER training records, with per-prompt negative labels.

GLiNER learns to match spans to the label strings in its prompt. At test time the
prompt holds every type of the schema (17 for Few-NERD INTER test), so training
prompts must look alike: :class:`NegativeSamplingDataset` gives each example a
fresh set of negative labels (drawn from all training types) every time it is
read, so a prompt holds between ``min_labels`` and ``max_labels`` labels, in the
random order gliner's collator shuffles them into. With ``variants`` each label
is, per read, swapped for one of its paraphrases (``variant_rate`` of the time),
the same way for positives and negatives, so the encoder meets more than one
phrase per type.

A mixture of corpora needs more care: a negative label must name nothing in the
sentence, and a corpus only tells that for the types it annotates. A record that names
a ``"pool"`` (:class:`PromptPool`, one per corpus) draws its negatives from that
corpus's own other types first, then from other corpora's labels known to be safe for
it, adds the coarse parents of its fine gold types (so the fine label wins over the
coarse one), or, for partially annotated corpora, gets its gold labels alone. No torch
import here.
"""

from __future__ import annotations

import dataclasses
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


@dataclasses.dataclass(frozen=True)
class PromptPool:
    """Where the negatives of one corpus's records come from.

    ``own``: the corpus's types (exhaustively annotated, so safe negatives); ``foreign``:
    other corpora's labels that name nothing this corpus leaves unlabelled; ``parents``:
    gold label -> coarse labels added as negatives (each with ``parent_rate``);
    ``variants``: paraphrases allowed for this corpus; ``positives_only``: partial
    annotation, the prompt holds the gold labels and nothing else.
    """

    own: tuple[str, ...] = ()
    foreign: tuple[str, ...] = ()
    parents: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    parent_rate: float = 1.0
    variants: Mapping[str, Sequence[str]] = dataclasses.field(default_factory=dict)
    positives_only: bool = False


class NegativeSamplingDataset:
    """A sequence of records whose ``ner_negatives`` are re-drawn on every read.

    Records without a ``"pool"`` key draw from ``labels`` (and ``variants``); records
    with one draw from ``pools[record["pool"]]``. ``repeats`` (one count per record)
    reads a record that many times per epoch (corpus weights).
    """

    def __init__(self, records: Sequence[dict[str, Any]], labels: Sequence[str] = (), *,
                 min_labels: int = 15, max_labels: int = 25, seed: int = 0,
                 variants: Mapping[str, Sequence[str]] | None = None,
                 variant_rate: float = 0.5, pools: Mapping[str, PromptPool] | None = None,
                 repeats: Sequence[int] | None = None):
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
        self.pools = dict(pools or {})
        missing = sorted({r["pool"] for r in self.records if "pool" in r} - set(self.pools))
        if missing:
            raise ValueError(f"records name pools that were not given: {missing}")
        self.min_labels, self.max_labels = min_labels, max_labels
        self.seed = seed
        self._reads = [0] * len(self.records)
        if repeats is None:
            self._index = list(range(len(self.records)))
        else:
            if len(repeats) != len(self.records):
                raise ValueError("need one repeat count per record")
            self._index = [i for i, n in enumerate(repeats) for _ in range(int(n))]

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, j: int) -> dict[str, Any]:
        i = self._index[j]
        rec = self.records[i]
        rng = random.Random(f"{self.seed}:{i}:{self._reads[i]}")
        self._reads[i] += 1
        if "pool" in rec:
            return self._pooled(rec, self.pools[rec["pool"]], rng)
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

    def _pooled(self, rec: dict[str, Any], pool: PromptPool, rng: random.Random
                ) -> dict[str, Any]:
        ner = [list(r) for r in rec["ner"]]
        positives = sorted({r[2] for r in ner})
        if len(positives) > self.max_labels:  # more gold types than a prompt holds
            positives = sorted(rng.sample(positives, self.max_labels))
            ner = [r for r in ner if r[2] in positives]
        negatives: list[str] = []
        if not pool.positives_only:
            total = rng.randint(self.min_labels, self.max_labels)
            taken = set(positives)
            for lab in positives:
                for parent in pool.parents.get(lab, ()):
                    if parent not in taken and rng.random() < pool.parent_rate:
                        negatives.append(parent)
                        taken.add(parent)
            for source in (pool.own, pool.foreign):
                room = total - len(positives) - len(negatives)
                if room <= 0:
                    break
                cands = [lab for lab in source if lab not in taken]
                picked = rng.sample(cands, min(room, len(cands)))
                negatives += picked
                taken.update(picked)
            negatives = negatives[:max(0, self.max_labels - len(positives))]
        phrase = _phrases(positives + negatives, pool.variants, self.variant_rate, rng)
        return {"tokenized_text": rec["tokenized_text"],
                "ner": [[s, e, phrase[lab]] for s, e, lab in ner],
                "ner_negatives": [phrase[lab] for lab in negatives if phrase.get(lab)]}


def _phrases(labels: Sequence[str], variants: Mapping[str, Sequence[str]], rate: float,
             rng: random.Random) -> dict[str, str]:
    """One phrase per label (a paraphrase ``rate`` of the time), all distinct in the prompt.

    A paraphrase that another label of the prompt already uses falls back to the label;
    a negative whose label is then taken too maps to "" (left out of the prompt).
    """
    out: dict[str, str] = {}
    used: set[str] = set()
    canonical = {lab.casefold() for lab in labels}
    for lab in labels:
        choice = lab
        options = variants.get(lab)
        if options and rng.random() < rate:
            alt = rng.choice(list(options))
            if alt.casefold() not in used and alt.casefold() not in canonical:
                choice = alt
        if choice.casefold() in used:
            choice = ""
        out[lab] = choice
        if choice:
            used.add(choice.casefold())
    return out
