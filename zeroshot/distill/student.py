"""Stage 3, the student: the default GLiNER model fine-tuned on the teacher's spans.

The training set is the filtered teacher labels (``filter/train.jsonl``), each
prompt holding the schema's labels only (a distilled sentence says nothing about
other types), plus a share of general training data so the model does not forget
what it knew (``replay``): Few-NERD INTER-train gold (the general model's dev
sentences left out) or records of a training mixture, each with the prompt pool
of its own corpus. Training, dev evaluation each epoch, early stopping, threshold
calibration and the fp16 export with ``zeroshot_model.json`` and a card are
:mod:`zeroshot.training`'s; this module adds the data and a "Distillation"
section to the card (teacher, counts, filter rules, scores).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zeroshot.core.errors import ZeroshotError
from zeroshot.core.loaders import Example, read_examples, read_jsonl
from zeroshot.core.schema import Schema
from zeroshot.training.splits import read_fewnerd_file

logger = logging.getLogger(__name__)

DISTILLED_POOL = "distilled"
FEWNERD_POOL = "fewnerd_inter_train"
FEWNERD_SCHEMA = "fewnerd_inter_train"
FEWNERD_FILES = ("inter/train_part_a", "inter/train_part_b")
# Fine-tuning a trained model: a lower learning rate than training from the backbone,
# an evaluation each epoch on the silver dev set, and two without progress stop it.
TRAIN_DEFAULTS: dict[str, Any] = {"epochs": 4, "learning_rate": 2e-5, "others_lr": 5e-5,
                                  "patience": 2, "eval_limit": None, "eval_before": True}
_NON_WORD = re.compile(r"\W+")


def _norm(tokens: Sequence[str]) -> str:
    return _NON_WORD.sub("", "".join(tokens).lower())


def distilled_records(examples: Sequence[Example], schema: Schema) -> list[dict[str, Any]]:
    """GLiNER records of the silver examples, in the ``distilled`` prompt pool."""
    from zeroshot.engines.gliner_data import to_gliner_records

    return [{**r, "pool": DISTILLED_POOL, "id": ex.id}
            for ex, r in zip(examples, to_gliner_records(examples, schema), strict=True)]


@dataclasses.dataclass
class Replay:
    records: list[dict[str, Any]]
    pools: dict[str, Any]
    info: dict[str, Any]
    forget_dev: list[Example] = dataclasses.field(default_factory=list)
    forget_schema: Schema | None = None


def _fewnerd_split_ids() -> tuple[set[str], str]:
    """The general model's Few-NERD dev sentence ids (never trained on), if its split
    definition is at hand."""
    try:
        from zeroshot.training.splits import DEFAULT_SPLIT, load_split
    except ImportError:
        return set(), "no split definition (zeroshot.training.splits missing)"
    if not Path(DEFAULT_SPLIT).is_file():
        return set(), f"no split definition at {DEFAULT_SPLIT}"
    return set(load_split(DEFAULT_SPLIT).fewnerd_dev_ids), str(DEFAULT_SPLIT)


def fewnerd_replay(n: int, exclude_texts: set[str], seed: int, forget_dev: int) -> Replay:
    """``n`` Few-NERD INTER-train gold sentences (36 types) not in ``exclude_texts`` nor
    the general split's dev sentences; the first ``forget_dev`` of those dev sentences
    become a report-only dev set, so the card says what the student kept of the old
    types."""
    from zeroshot.engines.gliner_data import PromptPool, to_gliner_records

    schema = Schema.load(FEWNERD_SCHEMA)
    dev_ids, split_source = _fewnerd_split_ids()
    if not dev_ids:
        raise ZeroshotError(f"{split_source}: no Few-NERD dev ids")
    pool, dev = [], []
    for name in FEWNERD_FILES:
        for ex in read_fewnerd_file(name):  # ids <stem>:<index>, as the split lists them
            if ex.id in dev_ids:
                dev.append(ex)
            elif _norm(ex.tokens.tokens) not in exclude_texts:
                pool.append(ex)
    if not dev:  # the ids never matched: the dev sentences would leak into the replay
        raise ZeroshotError(f"none of the {len(dev_ids)} Few-NERD dev ids of {split_source} "
                            f"is a sentence of {', '.join(FEWNERD_FILES)}")
    chosen = random.Random(f"{seed}:replay").sample(pool, min(n, len(pool)))
    records = [{**r, "pool": FEWNERD_POOL, "id": ex.id}
               for ex, r in zip(chosen, to_gliner_records(chosen, schema), strict=True)]
    pools = {FEWNERD_POOL: PromptPool(own=tuple(schema.labels()))}
    info = {"source": "Few-NERD INTER train gold (CC BY-SA 4.0), 36 types",
            "sentences": len(records), "available": len(pool),
            "left_out": f"{len(dev_ids)} dev sentences of {split_source}; sentences equal to "
                        f"a distilled one"}
    return Replay(records, pools, info, dev[:forget_dev], schema)


def mixture_replay(path: Path, n: int, exclude_texts: set[str], seed: int) -> Replay:
    """``n`` records of a training mixture file, with their corpora's prompt pools."""
    from zeroshot.training.mixture import Mixture

    mix = Mixture.read(path)
    pool = [r for r in mix.records if _norm(r["tokenized_text"]) not in exclude_texts]
    chosen = random.Random(f"{seed}:replay").sample(pool, min(n, len(pool)))
    used = {r["pool"] for r in chosen}
    info = {"source": f"training mixture {path} ({mix.stats.get('mixture', '?')})",
            "sentences": len(chosen), "available": len(pool),
            "corpora": sorted(used)}
    return Replay([{k: v for k, v in r.items() if k != "repeat"} for r in chosen],
                  {k: v for k, v in mix.pools.items() if k in used}, info)


def replay_data(replay: str, n: int, exclude_texts: set[str], seed: int, *,
                forget_dev: int = 0) -> Replay:
    if replay == "none" or n <= 0:
        return Replay([], {}, {"source": "none", "sentences": 0})
    if replay == "fewnerd":
        return fewnerd_replay(n, exclude_texts, seed, forget_dev)
    path = Path(replay)
    if not path.is_file():
        raise ZeroshotError(f"--replay {replay!r}: use fewnerd, none or a training-mixture "
                            f"file")
    return mixture_replay(path, n, exclude_texts, seed)


def _fingerprint(out: Path, config: Any, gold_dev: Path | None) -> str:
    h = hashlib.sha256()
    for name in ("train.jsonl", "dev.jsonl"):
        h.update((out / "filter" / name).read_bytes())
    h.update(json.dumps(config.to_dict(), sort_keys=True).encode())
    h.update(str(gold_dev).encode())
    return h.hexdigest()


def run_student(out: Path, schema: Schema, config: Any, *, teacher_folder: Path,
                gold_dev: Path | None = None, command: str = "") -> dict[str, Any]:
    """Fine-tune the student on ``out/filter``; writes ``out/student/model``. Done
    already under the same data and settings: its summary, without training again."""
    from zeroshot.distill.card import distill_meta, write_distill_card

    folder = out / "student"
    stage = folder / "stage.json"
    fingerprint = _fingerprint(out, config, gold_dev)
    if stage.exists() and (folder / "model" / "zeroshot_model.json").exists():
        done = json.loads(stage.read_text())
        if done.get("fingerprint") == fingerprint:
            logger.info("student: %s is up to date", folder / "model")
            return done["summary"]
    result, replay, counts = _train(out, schema, config, gold_dev, command)
    meta = distill_meta(result.meta, out=out, schema=schema, config=config,
                        teacher_folder=teacher_folder, replay=replay.info, counts=counts)
    write_distill_card(result.model_dir, meta)
    summary = {"model_dir": str(result.model_dir), "threshold": meta["threshold"],
               "counts": counts, "replay": replay.info,
               "dev": meta["distill"]["dev_summary"]}
    stage.write_text(json.dumps({"fingerprint": fingerprint, "summary": summary}, indent=2)
                     + "\n")
    return summary


def _train(out: Path, schema: Schema, config: Any, gold_dev: Path | None, command: str):
    from zeroshot.engines.gliner import default_model_path, resolve_model
    from zeroshot.engines.gliner_data import NegativeSamplingDataset, PromptPool
    from zeroshot.training.devsets import DevSet
    from zeroshot.training.trainer import TrainConfig, train

    train_ex = list(read_jsonl(out / "filter" / "train.jsonl"))
    dev_ex = list(read_jsonl(out / "filter" / "dev.jsonl"))
    if not train_ex:
        raise ZeroshotError(f"{out / 'filter' / 'train.jsonl'}: no training records left")
    if not dev_ex and gold_dev is None:
        raise ZeroshotError("no silver dev records and no --gold-dev: nothing to choose on")
    records = distilled_records(train_ex, schema)
    texts = {_norm(ex.tokens.tokens) for ex in train_ex + dev_ex}
    replay = replay_data(config.replay, round(config.replay_ratio * len(records)), texts,
                         config.seed, forget_dev=config.forget_dev)
    base = str(resolve_model(config.base_model)) if config.base_model else \
        str(default_model_path())
    cfg = TrainConfig.from_dict({**TRAIN_DEFAULTS, "name": f"distilled-{schema.name}",
                                 "seed": config.seed, **config.train_options,
                                 "base_model": base})
    lo, hi = cfg.labels_per_prompt
    pools = {DISTILLED_POOL: PromptPool(own=tuple(schema.labels())), **replay.pools}
    dataset = NegativeSamplingDataset(records + replay.records, min_labels=lo, max_labels=hi,
                                      seed=cfg.seed, variant_rate=cfg.variant_rate, pools=pools)
    devsets = []
    if dev_ex:
        devsets.append(DevSet("silver_dev", tuple(dev_ex), schema, zero_shot=gold_dev is None))
    if gold_dev is not None:
        devsets.append(DevSet("gold_dev", tuple(read_examples(gold_dev)), schema))
    if replay.forget_dev and replay.forget_schema is not None:
        devsets.append(DevSet("fewnerd_dev_trained_types", tuple(replay.forget_dev),
                              replay.forget_schema, zero_shot=False))
    counts = {"distilled_sentences": len(records),
              "distilled_spans": sum(len(r["ner"]) for r in records),
              "replay_sentences": len(replay.records), "silver_dev_sentences": len(dev_ex),
              "silver_dev_spans": sum(len(e.spans) for e in dev_ex)}
    logger.info("student: %s", counts)
    result = train(cfg, dataset, devsets, out / "student", command=command,
                   train_data={"description": _describe(counts, replay.info, schema),
                               "licences": {"replay": replay.info.get("source", "none")},
                               **counts})
    return result, replay, counts


def _describe(counts: dict[str, Any], replay: dict[str, Any], schema: Schema) -> str:
    return (f"{counts['distilled_sentences']} sentences labelled by an LLM teacher under the "
            f"schema {schema.name!r} ({counts['distilled_spans']} spans, after the filter "
            f"rules), plus {counts['replay_sentences']} general sentences ({replay['source']})"
            f"; see the Distillation section")
