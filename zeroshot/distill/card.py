"""The student's card: what :mod:`zeroshot.training` writes, plus where its data came from.

``zeroshot_model.json`` gains a ``distill`` object (teacher settings and model,
teacher counts, filter rules and their counts, training counts, general data, dev
scores before and after); README.md gains a "Distillation" section saying the same.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zeroshot.core.schema import Schema
from zeroshot.distill.filters import RECORD_RULES, SPAN_RULES
from zeroshot.distill.teacher import CONFIG, summarise_teacher


def _at(scores: dict[str, Any] | None, name: str, threshold: float | None) -> dict | None:
    if not scores or threshold is None:
        return None
    entry = scores.get("sets", {}).get(name)
    return entry["by_threshold"].get(f"{threshold:.2f}") if entry else None


def dev_summary(meta: dict[str, Any]) -> dict[str, Any]:
    """Strict P/R/F1 of each dev set before and after training, at the chosen threshold
    (before: also at the best threshold of the base model)."""
    thr = meta.get("threshold")
    after, before = meta.get("dev_scores"), meta.get("dev_scores_before")
    out = {}
    for name in (after or {}).get("sets", {}):
        out[name] = {"after": _at(after, name, thr), "before": _at(before, name, thr),
                     "zero_shot": after["sets"][name]["zero_shot"],
                     "sentences": after["sets"][name]["sentences"]}
    return out


def distill_meta(meta: dict[str, Any], *, out: Path, schema: Schema, config: Any,
                 teacher_folder: Path, replay: dict[str, Any], counts: dict[str, Any]
                 ) -> dict[str, Any]:
    teacher_cfg = teacher_folder / CONFIG
    teacher = json.loads(teacher_cfg.read_text()) if teacher_cfg.exists() else {}
    filter_report = json.loads((out / "filter" / "report.json").read_text())
    distill = {
        "schema": schema.name,
        "teacher": {"settings": teacher.get("teacher"), "identity": teacher.get("identity"),
                    "summary": summarise_teacher(teacher_folder).to_dict()},
        "filter": filter_report, "counts": counts, "replay": replay,
        "student": config.to_dict(), "dev_summary": dev_summary(meta),
    }
    return {**meta, "distill": distill}


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}"


def card_section(meta: dict[str, Any]) -> list[str]:
    d = meta["distill"]
    t = d["teacher"]
    s = t["summary"]
    ident = t.get("identity") or {}
    settings = t.get("settings") or {}
    lines = ["## Distillation", "",
             f"A student distilled from an LLM teacher under the schema `{d['schema']}`.", "",
             f"- Teacher: `{ident.get('model', '?')}` ({ident.get('backend', '?')}), mode "
             f"{settings.get('mode', '?')}, {settings.get('shots', '?')}-shot; "
             f"{s['documents']} texts labelled ({s['failed']} failed), {s['spans']} spans "
             f"({', '.join(f'{k} {v}' for k, v in sorted(s['alignment'].items()))}), "
             f"{s['sentences_per_s']:.2f} texts/s.",
             "- Teacher issues: " + (", ".join(f"{k} {v}" for k, v in
                                               sorted(s["issues"].items()) if v) or "none")
             + ".",
             f"- Training data: {d['counts']['distilled_sentences']} distilled sentences "
             f"({d['counts']['distilled_spans']} spans) + {d['counts']['replay_sentences']} "
             f"general sentences ({d['replay'].get('source', 'none')}).",
             f"- Silver dev: {d['counts']['silver_dev_sentences']} sentences "
             f"({d['counts']['silver_dev_spans']} teacher spans) held out of training.", "",
             "Filter rules (`" + json.dumps(d["filter"]["config"], sort_keys=True) + "`):", "",
             "| rule | dev | train |", "|---|---|---|"]
    f = d["filter"]
    for table, rules, what in ((f["record_rules"], RECORD_RULES, "records"),
                               (f["span_rules"], SPAN_RULES, "spans")):
        for rule in rules:
            c = table.get(rule, {"dev": 0, "train": 0})
            lines.append(f"| {what}: {rule} | {c['dev']} | {c['train']} |")
    lines += ["", f"Dev scores (strict micro %, threshold {meta.get('threshold')}; "
                  "before = the base model):", "",
              "| dev set | counts for choice | sentences | P before | R before | F1 before "
              "| P | R | F1 |", "|---|---|---|---|---|---|---|---|---|"]
    for name, v in d["dev_summary"].items():
        b, a = v["before"] or {}, v["after"] or {}
        lines.append(f"| {name} | {'yes' if v['zero_shot'] else 'no'} | {v['sentences']} | "
                     f"{_pct(b.get('p'))} | {_pct(b.get('r'))} | {_pct(b.get('f1'))} | "
                     f"{_pct(a.get('p'))} | {_pct(a.get('r'))} | {_pct(a.get('f1'))} |")
    lines.append("")
    return lines


def write_distill_card(model_dir: Path, meta: dict[str, Any]) -> None:
    """Rewrite ``zeroshot_model.json`` with the ``distill`` object and add the section
    to the card (before its Command section)."""
    from zeroshot.training.export import write_model_meta

    write_model_meta(model_dir, meta)
    readme = model_dir / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.exists() else f"# {meta['name']}\n"
    section = "\n".join(card_section(meta))
    head, sep, tail = text.partition("\n## Command")
    readme.write_text(head.rstrip("\n") + "\n\n" + section + (sep + tail if sep else "\n"),
                      encoding="utf-8")
