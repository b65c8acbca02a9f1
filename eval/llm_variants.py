"""Prompt / decoding variants of the LLM benchmark, by name, and the data splits it reads.

A variant name is ``MODE-Nshot`` plus flags, in any order after it:

* ``-bare``: labels only, no type descriptions or examples in the prompt;
* ``-nonone``: no explicit "answer [] when nothing fits" rule (extract prompts);
* ``-names``: the model answers with type names (``person-athlete``), not label words;
* ``-hints`` (hybrid): GLiNER's type is shown next to each candidate;
* ``-tX`` (hybrid): GLiNER's candidate threshold X (default: ``--candidate-threshold``);
* ``-aX`` (hybrid): candidates GLiNER scores at or above X are kept unasked, the LLM
  decides the rest;
* ``-pdemo`` (hybrid): demonstrations offer only GLiNER's candidates, not also their own
  entities GLiNER missed.

MODE is ``constrained``, ``grounded``, ``unconstrained`` or ``hybrid``.

Splits: ``test`` is Few-NERD INTER test under ``schemas/fewnerd_inter_test.json``
(its own demonstrations); ``dev`` is held-out Few-NERD INTER-train sentences (never
used to train GLiNER) under the 36 INTER-train types with hand-made demonstrations
(``eval/configs/demos_inter_train.json``). Choices are made on dev.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from pathlib import Path

from zeroshot.benchmark import sample
from zeroshot.core.loaders import Example, find_fewnerd, read_fewnerd
from zeroshot.core.schema import Schema

logger = logging.getLogger(__name__)

HERE = Path(__file__).parent
NO_NONE_PROMPTS = HERE / "configs" / "prompts_no_none"
DEV_DEMOS = HERE / "configs" / "demos_inter_train.json"
MODES = ("constrained", "grounded", "unconstrained", "hybrid")

# The dev ablation (0.5B): labels only vs described, 0/1/3 shots, constrained vs
# grounded vs hybrid, and the hybrid's own choices (hints, candidate threshold).
DEV_ABLATION = [
    "constrained-0shot-bare", "constrained-0shot", "constrained-1shot", "constrained-3shot",
    "grounded-3shot", "hybrid-3shot", "hybrid-3shot-hints", "hybrid-3shot-pdemo",
    "hybrid-3shot-t0.2", "hybrid-3shot-t0.05", "hybrid-0shot",
]
# The earlier ablation's extra prompt changes (measured on test before dev existed).
OLD_ABLATION = ["constrained-0shot-nonone", "constrained-0shot-names", "unconstrained-0shot",
                "grounded-0shot"]


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    mode: str
    shots: int
    describe: bool = True
    none_rule: bool = True
    label_key: str = "label"
    hints: bool = False
    demo_gold: bool = True  # hybrid demonstrations offer their own entities too
    threshold: float | None = None  # hybrid: GLiNER's candidate threshold
    accept: float | None = None  # hybrid: GLiNER's spans at or above it kept unasked

    @property
    def template_dir(self) -> Path | None:
        return None if self.none_rule else NO_NONE_PROMPTS


_NAME = re.compile(r"^(?P<mode>[a-z]+)-(?P<shots>\d+)shot(?P<flags>(-[a-z0-9.]+)*)$")


def parse_variant(name: str, default_threshold: float) -> Variant:
    """The variant a name describes; a clear error for a name that is not one."""
    m = _NAME.match(name)
    if not m or m["mode"] not in MODES:
        raise ValueError(f"not a variant name: {name!r} (MODE-Nshot[-flags], MODE one of "
                         f"{', '.join(MODES)})")
    mode, flags = m["mode"], [f for f in m["flags"].split("-") if f]
    fields: dict = {"name": name, "mode": mode, "shots": int(m["shots"])}
    for flag in flags:
        if flag == "bare":
            fields["describe"] = False
        elif flag == "nonone" and mode != "hybrid":
            fields["none_rule"] = False
        elif flag == "names":
            fields["label_key"] = "name"
        elif flag == "hints" and mode == "hybrid":
            fields["hints"] = True
        elif flag == "pdemo" and mode == "hybrid":
            fields["demo_gold"] = False
        elif re.fullmatch(r"t0?\.\d+", flag) and mode == "hybrid":
            fields["threshold"] = float(flag[1:])
        elif re.fullmatch(r"a[01]?\.\d+", flag) and mode == "hybrid":
            fields["accept"] = float(flag[1:])
        else:
            raise ValueError(f"{name!r}: flag {flag!r} does not apply to mode {mode}")
    if mode == "hybrid" and "threshold" not in fields:
        fields["threshold"] = default_threshold
    return Variant(**fields)


def expand(names: str) -> list[str]:
    """Comma-separated names; ``ablation`` is the dev ablation, ``old-ablation`` adds
    the earlier prompt changes."""
    out: list[str] = []
    for n in names.split(","):
        out += {"ablation": DEV_ABLATION, "old-ablation": DEV_ABLATION + OLD_ABLATION}.get(n, [n])
    return list(dict.fromkeys(out))


# ------------------------------------------------------------------------- splits
def dev_schema() -> Schema:
    """The 36 INTER-train types with the hand-made dev demonstrations."""
    base = Schema.load("fewnerd_inter_train")
    demos = json.loads(DEV_DEMOS.read_text(encoding="utf-8"))["demonstrations"]
    return Schema.from_dict({**base.to_dict(), "name": "fewnerd_inter_dev",
                             "demonstrations": demos}, source=str(DEV_DEMOS))


DEV_SPLIT = HERE / "splits" / "general_v1.json"  # issue #16's committed split


def dev_examples(limit: int | None, seed: int, *, smoke: bool = False,
                 split_file: str | Path | None = None) -> tuple[list[Example], dict]:
    """A seeded sample of ``limit`` held-out INTER-train sentences (the dev ids of
    issue #16's split file). ``smoke=True`` instead takes a seeded sample of
    ``train_part_b`` (NOT held out): for smoke runs only."""
    if smoke:
        path = find_fewnerd("inter/train_part_b")
        everything = list(read_fewnerd(path))
        logger.warning("SMOKE dev: a seeded sample of %s, not the held-out dev split; "
                       "never choose anything on it", path.name)
        return sample(everything, limit, seed), {
            "split": "dev-smoke", "data": path.name, "note": "seeded sample of train_part_b, "
            "NOT held out from GLiNER training: smoke run only"}
    path = Path(split_file or DEV_SPLIT)
    everything = read_dev_split(path)
    return sample(everything, limit, seed), {
        "split": "dev", "data": f"{path.name}: {len(everything)} held-out Few-NERD INTER-train "
        f"sentences (train_part_a/b), 36 INTER-train types"}


def read_dev_split(path: Path) -> list[Example]:
    """The Few-NERD INTER-train sentences listed as dev in a split file (issue #16:
    ``fewnerd.dev_sentences.ids``, ids ``<file stem>:<sentence index>``), in file
    order. Uses ``zeroshot.training.splits.fewnerd_dev_sentences`` where that module
    exists (the same ids, read the same way)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no dev split file (issue #16); pass --dev-split "
                                f"FILE, or --split dev-smoke for a smoke run")
    try:
        from zeroshot.training.splits import fewnerd_dev_sentences
    except ImportError:
        pass
    else:
        return fewnerd_dev_sentences(path)
    fewnerd = json.loads(path.read_text(encoding="utf-8"))["fewnerd"]
    ids = set(fewnerd["dev_sentences"]["ids"])
    out = []
    for name in fewnerd["train_files"]:
        stem = name.rsplit("/", 1)[-1]
        out += [dataclasses.replace(ex, id=f"{stem}:{ex.id}")
                for ex in read_fewnerd(find_fewnerd(name)) if f"{stem}:{ex.id}" in ids]
    if len(out) != len(ids):
        raise ValueError(f"{path}: {len(ids) - len(out)} dev ids are not in "
                         f"{fewnerd['train_files']}")
    return out


def test_examples(data: str | None, limit: int | None, seed: int) -> tuple[list[Example], dict]:
    """The seeded INTER-test sample ``zeroshot bench --llm-limit N`` reads (same seed:
    the same sentences)."""
    path = Path(data) if data else find_fewnerd("inter/test")
    everything = list(read_fewnerd(path))
    return sample(everything, limit, seed), {"split": "test", "data": path.name}


def load_split(split: str, data: str | None, limit: int | None, seed: int,
               dev_split: str | None = None) -> tuple[list[Example], Schema, dict]:
    if split == "test":
        examples, info = test_examples(data, limit, seed)
        return examples, Schema.load("fewnerd_inter_test"), info
    examples, info = dev_examples(limit, seed, smoke=split == "dev-smoke", split_file=dev_split)
    return examples, dev_schema(), info
