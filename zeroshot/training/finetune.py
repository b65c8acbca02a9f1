"""Fine-tune (or train) a GLiNER model on a user's own gold data: ``zeroshot train``.

Data comes in through the core loaders (JSONL, CoNLL, Few-NERD), the types are a schema's
or the data's own, prompts hold the schema's labels (each example's gold types plus the
schema's other types as negatives, re-drawn per read), and the dev set (a file, or a
seeded held-out fraction) is scored before and after training, so a fine-tuned model
that forgot what it knew shows it in the report.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from zeroshot.core.errors import ZeroshotError, clip
from zeroshot.core.loaders import Example, read_examples
from zeroshot.core.schema import Schema
from zeroshot.training.devsets import DevSet
from zeroshot.training.export import check_model_dir
from zeroshot.training.trainer import TrainConfig, TrainResult, train

logger = logging.getLogger(__name__)


class TrainingDataError(ZeroshotError, ValueError):
    """The training or dev data cannot train the model asked for (no examples, no
    span of the schema's types); the message says what is missing."""


def load_examples(paths: Sequence[str | Path], fmt: str | None = None) -> list[Example]:
    """Examples of every file, with the loaders' own ids (``FILE:INDEX`` or the data's)."""
    out: list[Example] = []
    for p in paths:
        out += list(read_examples(p, fmt=fmt))
    return out


def data_schema(examples: Sequence[Example], name: str = "data-types") -> Schema:
    """A schema of the types the data itself uses (names = labels)."""
    if not examples:
        raise TrainingDataError("the training files hold no examples")
    types = sorted({s.label for e in examples for s in e.spans})
    if not types:
        raise TrainingDataError("the training data has no spans, so it names no types; pass "
                                "--schema or --labels")
    return Schema.from_labels(types, name=name)


def check_types(examples: Sequence[Example], schema: Schema, data_types: Iterable[str],
                what: str = "training data") -> None:
    """After :func:`restrict`: an error when no span of the schema's types is left
    (naming the types the data has), a warning naming the schema's types with no
    span (the model sees them only as negatives)."""
    if not examples:
        raise TrainingDataError(f"the {what} holds no examples")
    counts = collections.Counter(s.label for e in examples for s in e.spans)
    if not counts:
        have = sorted(set(data_types))
        raise TrainingDataError(
            f"the {what} has no span of the schema's {len(schema)} types "
            f"({_listed(schema.names)}); its own types are "
            f"{_listed(have) if have else 'none (no spans)'}")
    missing = [n for n in schema.names if not counts[n]]
    if missing:
        logger.warning("%d of the schema's %d types have no span in the %s: %s", len(missing),
                       len(schema), what, _listed(missing))


def _listed(names: Sequence[str], most: int = 12) -> str:
    """``a, b, c`` for a message, the first ``most`` names and how many more."""
    shown = ", ".join(clip(n, 40)[1:-1] if len(n) > 40 else n for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def restrict(examples: Sequence[Example], schema: Schema) -> tuple[list[Example], int]:
    """Examples with only the schema's types (by name or label); count of spans dropped."""
    dropped = 0
    out = []
    for e in examples:
        keep = []
        for s in e.spans:
            hit = schema.resolve_label(s.label)
            if hit is None:
                dropped += 1
            else:
                keep.append(dataclasses.replace(s, label=hit[0]))
        out.append(dataclasses.replace(e, spans=tuple(keep)))
    return out, dropped


def split_dev(examples: Sequence[Example], fraction: float, seed: int
              ) -> tuple[list[Example], list[Example]]:
    if not 0 < fraction < 1:
        raise TrainingDataError("the dev fraction must be between 0 and 1")
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_dev = max(1, round(len(examples) * fraction))
    dev_idx = set(order[:n_dev])
    train = [e for i, e in enumerate(examples) if i not in dev_idx]
    if not train:
        raise TrainingDataError(f"{len(examples)} examples leave none to train on after the "
                                f"dev split; give more data or a --dev file")
    return train, [examples[i] for i in sorted(dev_idx)]


def finetune(train_examples: Sequence[Example], dev_examples: Sequence[Example],
             schema: Schema, cfg: TrainConfig, model_dir: str | Path, *,
             work_dir: str | Path, command: str = "", sources: dict[str, Any] | None = None
             ) -> TrainResult:
    """Train on ``train_examples`` under ``schema``; dev F1 is measured before and after."""
    from zeroshot.engines.gliner import bundled_models
    from zeroshot.engines.gliner_data import NegativeSamplingDataset, to_gliner_records

    check_model_dir(model_dir, [*bundled_models().values(),
                                *([cfg.base_model] if cfg.base_model else [])])
    records = to_gliner_records(train_examples, schema)
    n_types = len(schema)
    lo, hi = cfg.labels_per_prompt
    dataset = NegativeSamplingDataset(records, schema.labels(), min_labels=min(lo, n_types),
                                      max_labels=min(hi, n_types), seed=cfg.seed,
                                      variant_rate=cfg.variant_rate)
    dev = DevSet("dev", tuple(dev_examples), schema)
    cfg = dataclasses.replace(cfg, eval_before=True, eval_limit=None)
    train_data = {"description": f"{len(records)} training sentences, "
                                 f"{sum(len(r['ner']) for r in records)} spans, "
                                 f"{n_types} types ({schema.name}); dev {len(dev_examples)} "
                                 "sentences", **(sources or {})}
    return train(cfg, dataset, [dev], work_dir, train_data=train_data, command=command,
                 model_dir=model_dir)
