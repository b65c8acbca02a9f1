"""Build the general training mixture: many corpora, per-corpus weights, caps and prompts.

Input: the corpus collection (``<dataset>/<split>.jsonl.gz``, read by
:func:`zeroshot.core.loaders.read_ner_collection`), Few-NERD INTER train, a split
definition (:mod:`zeroshot.training.splits`) and a mixture config
(``eval/configs/mixture_general_v1.json``). Output: a :class:`Mixture`: compact records
(tokens, inclusive token spans with user-facing labels, corpus, repeat count), one
:class:`~zeroshot.engines.gliner_data.PromptPool` per corpus, and a count of everything
dropped on the way (spans, sentences, types, paraphrases), by reason and corpus.

Rules that keep prompts honest (see the module docstring of gliner_data):

* Few-NERD sentences leave INTER-test (and INTER-dev) mentions unlabelled, so their
  negatives are Few-NERD's own training labels only, and none of those or of their
  paraphrases may equal an INTER-test label or a near string (split file).
* Held-out Few-NERD types are removed everywhere: spans dropped, label and paraphrases
  never in a prompt (also in other corpora: a span with that label string is dropped).
* Partially annotated corpora get only their gold labels.
* A corpus's foreign negatives come from corpora of other domain groups, minus labels
  related (hierarchy) to its own types, minus universal labels, minus its own labels.
* A fine-typed corpus adds the coarse parent of a gold label as a negative only where
  the corpus annotates that parent itself (an "other X" type), or the config allows it.
* No training sentence equals (normalised text) an INTER-test sentence, a Few-NERD dev
  sentence or a sentence of a zero-shot dev dataset.
"""

from __future__ import annotations

import collections
import dataclasses
import gzip
import json
import logging
import random
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from zeroshot.core.loaders import Example, list_ner_collection, read_ner_collection
from zeroshot.core.schema import Schema
from zeroshot.engines.gliner_data import PromptPool
from zeroshot.training.labels import LabelRules, clashes, load_variants, usable_variants
from zeroshot.training.splits import (
    MIN_NORMALISED_CHARS,
    SplitDefinition,
    fewnerd_train_examples,
    inter_test_texts,
    normalise_text,
)

logger = logging.getLogger(__name__)
FEWNERD = "fewnerd_inter_train"
ANNOTATION = ("exhaustive", "partial")


@dataclasses.dataclass(frozen=True)
class CorpusConfig:
    """How one corpus enters the mixture."""

    name: str
    weight: float = 1.0            # reads per epoch of each kept sentence (fraction: chance)
    cap: int | None = None         # at most this many distinct sentences (seeded sample)
    splits: tuple[str, ...] = ("train", "dev")
    empty_rate: float = 0.1        # share of sentences without spans that are kept
    group: str = "general"
    annotation: str = "exhaustive"
    parents: str | tuple[str, ...] = "own"  # "own", "none", or the parents allowed
    parent_rate: float = 1.0
    why: str = ""

    def __post_init__(self) -> None:
        if self.annotation not in ANNOTATION:
            raise ValueError(f"{self.name}: annotation must be one of {ANNOTATION}")
        if self.weight < 0 or not 0 <= self.empty_rate <= 1:
            raise ValueError(f"{self.name}: weight >= 0 and empty_rate in [0, 1]")


@dataclasses.dataclass(frozen=True)
class MixtureConfig:
    name: str
    split: str
    labels: str
    variants: tuple[str, ...]
    fewnerd_variants: str
    corpora: tuple[CorpusConfig, ...]
    foreign_from: Mapping[str, tuple[str, ...]]
    foreign_exclude: Mapping[str, frozenset[str]] = dataclasses.field(default_factory=dict)
    seed: int = 0
    max_len: int = 256
    max_width: int = 12
    min_foreign_count: int = 20
    fewnerd_schema: str = "fewnerd_inter_train"

    @classmethod
    def load(cls, path: str | Path) -> MixtureConfig:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        defaults = raw.get("defaults", {})
        corpora = []
        for name, opts in raw["corpora"].items():
            merged = {**defaults, **opts}
            for key in ("splits", "parents"):
                if isinstance(merged.get(key), list):
                    merged[key] = tuple(merged[key])
            corpora.append(CorpusConfig(name=name, **merged))
        return cls(name=raw["name"], split=raw["split"], labels=raw["labels"],
                   variants=tuple(raw.get("variants", ())),
                   fewnerd_variants=raw["fewnerd_variants"], corpora=tuple(corpora),
                   foreign_from={k: tuple(v) for k, v in raw["foreign_from"].items()},
                   foreign_exclude={k: frozenset(v) for k, v in
                                    raw.get("foreign_exclude", {}).items() if k[0] != "_"},
                   seed=int(raw.get("seed", 0)), max_len=int(raw.get("max_len", 256)),
                   max_width=int(raw.get("max_width", 12)),
                   min_foreign_count=int(raw.get("min_foreign_count", 20)),
                   fewnerd_schema=raw.get("fewnerd_schema", "fewnerd_inter_train"))


class Drops:
    """Counts of what the builder dropped, by reason then corpus."""

    def __init__(self) -> None:
        self.counts: dict[str, collections.Counter] = collections.defaultdict(
            collections.Counter)

    def add(self, reason: str, corpus: str, n: int = 1) -> None:
        if n:
            self.counts[reason][corpus] += n

    def to_dict(self) -> dict[str, dict[str, int]]:
        return {r: dict(sorted(c.items())) for r, c in sorted(self.counts.items())}

    def log(self) -> None:
        for reason, c in sorted(self.counts.items()):
            logger.info("dropped %d (%s): %s", sum(c.values()), reason,
                        ", ".join(f"{k} {v}" for k, v in c.most_common(8)))


@dataclasses.dataclass
class Mixture:
    """Training records plus what a dataset needs to build prompts for them."""

    records: list[dict[str, Any]]   # {"tokenized_text", "ner": [[s, e_incl, label]], "pool",
                                    #  "id", "repeat"}
    pools: dict[str, PromptPool]
    stats: dict[str, Any]

    def repeats(self) -> list[int]:
        return [int(r["repeat"]) for r in self.records]

    def write(self, path: str | Path) -> None:
        """Compact gzip JSONL: a header line (pools, labels, stats), then one line per
        record, ``[pool index, repeat, "space-joined tokens", [[start, end_incl, label
        index], ...]]`` (ids are not kept: the builder is seeded and reproduces them)."""
        pools = sorted(self.pools)
        labels = sorted({lab for r in self.records for *_, lab in r["ner"]})
        pi = {p: i for i, p in enumerate(pools)}
        li = {lab: i for i, lab in enumerate(labels)}
        with gzip.open(path, "wt", encoding="utf-8", compresslevel=9) as fh:
            header = {"format": "zeroshot-mixture/1", "pools": {k: _pool_to_dict(self.pools[k])
                                                                for k in pools},
                      "pool_order": pools, "labels": labels, "stats": self.stats}
            fh.write(json.dumps(header, ensure_ascii=False) + "\n")
            for r in self.records:
                if any(not t or any(ch.isspace() for ch in t) for t in r["tokenized_text"]):
                    raise ValueError(f"{r.get('id')}: a token is empty or holds white space")
                row = [pi[r["pool"]], r["repeat"], " ".join(r["tokenized_text"]),
                       [[a, b, li[lab]] for a, b, lab in r["ner"]]]
                fh.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")

    @classmethod
    def read(cls, path: str | Path) -> Mixture:
        n = 1
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            try:
                header = json.loads(fh.readline())
                if header.get("format") != "zeroshot-mixture/1":
                    raise ValueError("not a zeroshot-mixture/1 file")
                pools, labels = header["pool_order"], header["labels"]
                records = []
                for n, line in enumerate(fh, 2):
                    pool, repeat, text, ner = json.loads(line)
                    records.append({"tokenized_text": text.split(" "), "pool": pools[pool],
                                    "ner": [[a, b, labels[k]] for a, b, k in ner],
                                    "id": f"{pools[pool]}#{n - 2}", "repeat": repeat})
            except (json.JSONDecodeError, ValueError, KeyError, IndexError, TypeError) as exc:
                raise ValueError(f"{path}:{n}: not a mixture record ({exc})") from None
        return cls(records, {k: _pool_from_dict(v) for k, v in header["pools"].items()},
                   header["stats"])

    def assert_disjoint(self, texts: set[str], what: str) -> None:
        """Raise if a record's normalised text is in ``texts``."""
        hits = [r["id"] for r in self.records if _norm(r["tokenized_text"]) in texts]
        if hits:
            raise AssertionError(f"{len(hits)} training sentences are {what} sentences, "
                                 f"e.g. {hits[:3]}")


def _pool_to_dict(p: PromptPool) -> dict[str, Any]:
    return {"own": list(p.own), "foreign": list(p.foreign),
            "parents": {k: list(v) for k, v in p.parents.items()},
            "parent_rate": p.parent_rate, "variants": {k: list(v) for k, v in p.variants.items()},
            "positives_only": p.positives_only}


def _pool_from_dict(d: Mapping[str, Any]) -> PromptPool:
    return PromptPool(own=tuple(d["own"]), foreign=tuple(d["foreign"]),
                      parents={k: tuple(v) for k, v in d["parents"].items()},
                      parent_rate=float(d["parent_rate"]), variants=dict(d["variants"]),
                      positives_only=bool(d["positives_only"]))


def _norm(tokens: Iterable[str]) -> str:
    t = normalise_text(tokens)
    return t if len(t) >= MIN_NORMALISED_CHARS else ""


@dataclasses.dataclass
class _Corpus:
    cfg: CorpusConfig
    examples: list[tuple[str, list[str], list[list]]]  # (id, tokens, [[s, e_incl, label]])
    types: collections.Counter


def _convert(cfg: CorpusConfig, examples: Iterator[Example], label_of, cfg_mix: MixtureConfig,
             drops: Drops) -> _Corpus:
    """Map labels, drop spans/sentences per the rules, count every drop."""
    out, types = [], collections.Counter()
    name = cfg.name
    for ex in examples:
        tokens = list(ex.tokens.tokens)
        if len(tokens) > cfg_mix.max_len:
            drops.add("sentence longer than max_len", name)
            continue
        seen: dict[tuple[int, int], str] = {}
        for s in ex.spans:
            label = label_of(s.label)
            if label is None:
                drops.add(f"span of dropped type {s.label!r}", name)
                continue
            if s.token_end - s.token_start > cfg_mix.max_width:
                drops.add("span wider than max_width", name)
                continue
            key = (s.token_start, s.token_end - 1)
            if key in seen:
                drops.add("duplicate or coinciding span (one label per span)", name)
                continue
            seen[key] = label
        ner = [[a, b, lab] for (a, b), lab in sorted(seen.items())]
        types.update(lab for *_, lab in ner)
        out.append((ex.id, tokens, ner))
    return _Corpus(cfg, out, types)


def _sample(corpus: _Corpus, seed: int, drops: Drops) -> list[tuple[str, list[str], list]]:
    cfg = corpus.cfg
    rng = random.Random(f"{seed}:{cfg.name}")
    kept = []
    for ex in corpus.examples:
        if not ex[2] and (cfg.annotation == "partial" or rng.random() >= cfg.empty_rate):
            drops.add("sentence without spans (empty_rate)", cfg.name)
            continue
        kept.append(ex)
    if cfg.cap is not None and len(kept) > cfg.cap:
        drops.add("over the corpus cap", cfg.name, len(kept) - cfg.cap)
        kept = rng.sample(kept, cfg.cap)
    return kept


def _repeat(weight: float, rng: random.Random) -> int:
    whole = int(weight)
    return whole + (1 if rng.random() < weight - whole else 0)


def build_mixture(cfg: MixtureConfig, *, ner_root: str | Path,
                  fewnerd_root: str | Path | None = None,
                  split: SplitDefinition | None = None,
                  dev_texts: set[str] | None = None) -> Mixture:
    """Read every configured corpus, apply the rules, and return the mixture.

    ``dev_texts``: normalised texts of the zero-shot dev sets (no training sentence may
    equal one); the INTER-test and Few-NERD dev texts are read here.
    """
    from zeroshot.training.splits import load_split

    split = split or load_split(cfg.split)
    rules = LabelRules.load(cfg.labels)
    variants = load_variants(cfg.variants)
    drops = Drops()
    _check_corpora(cfg, split, ner_root)

    fn_schema = Schema.load(cfg.fewnerd_schema)
    heldout_labels = {fn_schema[t].label for t in split.fewnerd_heldout_types}
    fn_variants = load_variants([cfg.fewnerd_variants])
    heldout_strings = heldout_labels | {v for lab in heldout_labels
                                        for v in fn_variants.get(lab, ())}
    test_labels = [t.label for t in Schema.load(split.fewnerd_test_schema)]
    clash = clashes([v for lab, vs in fn_variants.items() if lab not in heldout_labels
                     for v in vs], test_labels)
    if clash:
        raise ValueError(f"{cfg.fewnerd_variants} names INTER-test labels: {clash}")

    corpora: dict[str, _Corpus] = {}
    for c in cfg.corpora:
        if c.weight == 0:
            drops.add("corpus weight 0", c.name)
            continue
        if c.name == FEWNERD:
            corpora[c.name] = _fewnerd_corpus(c, split, fn_schema, fewnerd_root, cfg, drops)
            continue
        examples = (ex for _, ex in read_ner_collection(ner_root, [c.name], c.splits))

        def label_of(raw: str, _name: str = c.name) -> str | None:
            lab = rules.map(_name, raw)
            return None if lab is not None and lab in heldout_strings else lab

        corpora[c.name] = _convert(c, examples, label_of, cfg, drops)

    records = _records(corpora, _forbidden_texts(split, fewnerd_root, dev_texts), cfg.seed,
                       drops)
    pools = _pools(corpora, cfg, rules, variants, fn_variants, split, test_labels,
                   heldout_strings, drops)
    drops.log()
    stats = _stats(records, corpora, pools, drops, cfg, split, heldout_labels)
    return Mixture(records, pools, stats)


def _check_corpora(cfg: MixtureConfig, split: SplitDefinition, ner_root: str | Path) -> None:
    """Each corpus listed once, none the split keeps out, and every dataset of the
    collection either listed or kept out (none left out by forgetting it)."""
    names = [c.name for c in cfg.corpora]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"corpora listed twice: {dup}")
    banned = sorted(split.not_trained & set(names))
    if banned:
        raise ValueError(f"the split keeps {banned} out of training; remove them from corpora")
    unlisted = sorted({f.dataset for f in list_ner_collection(ner_root)} - set(names)
                      - split.not_trained)
    if unlisted:
        raise ValueError(f"collection datasets neither in the mixture config nor kept out "
                         f"by the split: {unlisted} (give them a weight, 0 to leave out)")


def _records(corpora: dict[str, _Corpus], forbidden: dict[str, str], seed: int,
             drops: Drops) -> list[dict[str, Any]]:
    """The training records of every corpus's sample, without sentences equal to a
    dev or test one, each with its number of reads per epoch."""
    records = []
    rng = random.Random(f"{seed}:repeat")
    for name, corpus in corpora.items():
        for idx, tokens, ner in _sample(corpus, seed, drops):
            norm = _norm(tokens)
            if norm and norm in forbidden:
                drops.add(f"sentence equals a {forbidden[norm]} sentence", name)
                continue
            repeat = _repeat(corpus.cfg.weight, rng)
            if repeat == 0:
                drops.add("fractional weight drew 0 reads", name)
                continue
            records.append({"tokenized_text": tokens, "ner": ner, "pool": name, "id": idx,
                            "repeat": repeat})
    return records


def _fewnerd_corpus(c: CorpusConfig, split: SplitDefinition, schema: Schema,
                    root: str | Path | None, cfg: MixtureConfig, drops: Drops) -> _Corpus:
    train, _dev = fewnerd_train_examples(split, root)
    drops.add("Few-NERD dev sentence (held out)", c.name, len(split.fewnerd_dev_ids))
    test_types = {t.name for t in Schema.load(split.fewnerd_test_schema)}
    heldout = set(split.fewnerd_heldout_types)

    def label_of(raw: str) -> str | None:
        if raw in test_types:
            raise AssertionError(f"INTER-test type {raw!r} in Few-NERD training data")
        return None if raw in heldout else schema[raw].label

    corpus = _convert(c, iter(train), label_of, cfg, drops)
    return corpus


def _forbidden_texts(split: SplitDefinition, fewnerd_root, dev_texts) -> dict[str, str]:
    out = {t: "zero-shot dev set" for t in (dev_texts or ())}
    _train, dev = fewnerd_train_examples(split, fewnerd_root)
    out.update({t: "Few-NERD dev" for t in (_norm(e.tokens.tokens) for e in dev) if t})
    out.update({t: "Few-NERD INTER-test" for t in inter_test_texts(split.fewnerd_test,
                                                                   fewnerd_root)})
    return out


def _pools(corpora: Mapping[str, _Corpus], cfg: MixtureConfig, rules: LabelRules,
           variants: Mapping[str, list[str]], fn_variants: Mapping[str, list[str]],
           split: SplitDefinition, test_labels: list[str], heldout: set[str],
           drops: Drops) -> dict[str, PromptPool]:
    label_count: collections.Counter = collections.Counter()
    labels_of_group: dict[str, set[str]] = collections.defaultdict(set)
    for corpus in corpora.values():
        label_count.update(corpus.types)
        if corpus.cfg.annotation == "exhaustive" and corpus.cfg.name != FEWNERD:
            labels_of_group[corpus.cfg.group].update(corpus.types)
    near = set(test_labels) | set(split.inter_test_near_labels)
    pools = {}
    for name, corpus in corpora.items():
        c = corpus.cfg
        own = sorted(corpus.types)
        if c.annotation == "partial":
            var, removed = usable_variants(variants, own, heldout)
            drops.add("paraphrase naming a held-out label", name, removed)
            pools[name] = PromptPool(own=tuple(own), variants=var, positives_only=True)
            continue
        if name == FEWNERD:
            bad = clashes(own, near)
            if bad:
                raise AssertionError(f"Few-NERD training labels near INTER-test labels: {bad}")
            table = {lab: list(dict.fromkeys(fn_variants.get(lab, []) + variants.get(lab, [])))
                     for lab in own}
            var, removed = usable_variants(table, own, near | heldout)
            drops.add("paraphrase near an INTER-test label (Few-NERD prompts)", name, removed)
            foreign: list[str] = []
        else:
            var, removed = usable_variants(variants, own, heldout)
            drops.add("paraphrase naming a held-out label", name, removed)
            foreign = _foreign(c, set(own), labels_of_group, label_count, rules, cfg, heldout)
        parents = _parents(c, own, rules, near if name == FEWNERD else set(), drops)
        pools[name] = PromptPool(own=tuple(own), foreign=tuple(foreign), parents=parents,
                                 parent_rate=c.parent_rate, variants=var)
    return pools


def _foreign(c: CorpusConfig, own: set[str], labels_of_group, label_count, rules: LabelRules,
             cfg: MixtureConfig, heldout: set[str]) -> list[str]:
    related = set().union(*(rules.related(lab) for lab in own)) if own else set()
    related |= own
    pool = set()
    for group in cfg.foreign_from.get(c.group, ()):
        pool |= labels_of_group.get(group, set())
    excluded = cfg.foreign_exclude.get(c.group, frozenset())
    return sorted(lab for lab in pool
                  if lab not in related and lab not in rules.universal and lab not in excluded
                  and lab not in heldout and label_count[lab] >= cfg.min_foreign_count)


def _parents(c: CorpusConfig, own: list[str], rules: LabelRules, near: set[str],
             drops: Drops) -> dict[str, tuple[str, ...]]:
    """Coarse labels added as negatives to examples of a fine gold label."""
    if c.parents == "none":
        return {}
    allowed = set(own) if c.parents == "own" else set(c.parents) | set(own)
    out = {}
    near_folded = {n.casefold() for n in near}
    for lab in own:
        ps = []
        for p in sorted(rules.ancestors(lab)):
            if p not in allowed:
                continue
            if p.casefold() in near_folded:
                drops.add(f"parent {p!r} near an INTER-test label (Few-NERD)", c.name)
                continue
            ps.append(p)
        if ps:
            out[lab] = tuple(ps)
    return out


def _stats(records, corpora, pools, drops: Drops, cfg: MixtureConfig, split: SplitDefinition,
           heldout_labels: set[str]) -> dict[str, Any]:
    per = collections.defaultdict(lambda: collections.Counter())
    for r in records:
        per[r["pool"]]["sentences"] += 1
        per[r["pool"]]["reads"] += r["repeat"]
        per[r["pool"]]["spans"] += len(r["ner"])
    labels = sorted({lab for r in records for *_, lab in r["ner"]})
    return {
        "mixture": cfg.name, "split": split.name, "seed": cfg.seed,
        "sentences": len(records), "reads_per_epoch": sum(r["repeat"] for r in records),
        "spans": sum(len(r["ner"]) for r in records), "labels": len(labels),
        "paraphrases": sum(len(v) for p in pools.values() for v in p.variants.values()),
        "heldout_labels": sorted(heldout_labels),
        "per_corpus": {k: dict(v) for k, v in sorted(per.items())},
        "types_per_corpus": {k: len(c.types) for k, c in sorted(corpora.items())},
        "dropped": drops.to_dict(),
    }
