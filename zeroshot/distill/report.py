"""Stage 4, the report: teacher, base encoder and student on the same sentences.

With a gold file (``--gold``, never used for a choice), the head-to-head benchmark
(:func:`zeroshot.benchmark.run_benchmark`) runs the three on it: strict and partial
F1 with 95 % CIs, sentences/s on this machine, failure counts, an evidence card per
engine (``report/card_<engine>.md``: gold vs predicted, misses first). The teacher,
being slow, reads a seeded subset; the table also scores every engine on the
sentences all of them read. Without gold, the base encoder and the student are
scored against the silver dev set (agreement with the teacher) and timed on it.
``REPORT.md`` in the output folder sums it up with the filter and training counts.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from zeroshot.benchmark import EngineSpec, run_benchmark
from zeroshot.core.provenance import stamp_markdown
from zeroshot.core.schema import Schema
from zeroshot.distill.teacher import TeacherConfig, summarise_teacher
from zeroshot.report import render_markdown, write_report

logger = logging.getLogger(__name__)

SEED = 13  # the head-to-head benchmark's sample seed: the same sentences as its LLM rows


def engine_specs(teacher: TeacherConfig | None, base_model: str | None, students: dict[str, str],
                 teacher_limit: int | None) -> list[EngineSpec]:
    """Teacher (when given) on a seeded subset, the base encoder, and each student."""
    specs = []
    if teacher is not None:
        specs.append(EngineSpec("teacher", "llm", teacher.engine_options(), limit=teacher_limit,
                                batch_size=teacher.batch_size, latency_samples=0))
    specs.append(EngineSpec("base", "gliner", {"model": base_model} if base_model else {}))
    specs += [EngineSpec(name, "gliner", {"model": path}) for name, path in students.items()]
    return specs


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def summary_table(result: dict[str, Any], teacher_speed: float | None) -> list[str]:
    """One row per engine: strict P/R/F1 with CI, partial F1, speed and its ratio to
    the teacher's (measured in the same run when the teacher was run)."""
    rows = {r["engine"]: r for r in result["engines"]}
    ref = rows.get("teacher", {}).get("speed", {}).get("sentences_per_s") or teacher_speed
    lines = ["| model | sentences | strict P / R / F1 | strict F1 95% CI | partial F1 | "
             "sentences/s | × teacher |", "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        s, p = r["metrics"]["strict"]["micro"], r["metrics"]["partial"]["micro"]
        lo, hi = s["ci95"]["f1"]
        sps = r["speed"].get("sentences_per_s")
        speed = f"{sps:.2f}" if sps else "—"
        ratio = "1×" if name == "teacher" else f"{sps / ref:.3g}×" if sps and ref else "—"
        lines.append(f"| {name} | {r['sentences']} | {_pct(s['precision'])} / "
                     f"{_pct(s['recall'])} / {_pct(s['f1'])} | {_pct(lo)}–{_pct(hi)} | "
                     f"{_pct(p['f1'])} | {speed} | {ratio} |")
    shared = result.get("shared")
    if shared and "teacher" in rows and len(rows) > 1:
        lines += ["", f"On the {shared['sentences']} sentences every model read:", "",
                  "| model | strict P / R / F1 | strict F1 95% CI | partial F1 |",
                  "|---|---|---|---|"]
        for name, sc in shared["engines"].items():
            s = sc["strict"]
            lo, hi = s["ci95"]["f1"]
            lines.append(f"| {name} | {_pct(s['precision'])} / {_pct(s['recall'])} / "
                         f"{_pct(s['f1'])} | {_pct(lo)}–{_pct(hi)} | "
                         f"{_pct(sc['partial']['f1'])} |")
    return lines


def write_bench_report(result: dict[str, Any], folder: Path, cards: dict[str, str]) -> None:
    """The benchmark's report files; without matplotlib (the ``bench`` extra), the
    Markdown report and the evidence cards without plots."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        logger.warning("matplotlib is not installed: the report has no plots")
        for name, card in cards.items():
            (folder / f"card_{name}.md").write_text(card, encoding="utf-8")
        (folder / "report.md").write_text(render_markdown(result), encoding="utf-8")
        return
    write_report(result, folder, cards)


def run_report(out: Path, schema: Schema, teacher: TeacherConfig, student: Any, *,
               gold: Path | None, teacher_limit: int | None, teacher_folder: Path,
               progress: bool = True, command: str = "") -> dict[str, Any]:
    folder = out / "report"
    model = out / "student" / "model"
    if not (model / "zeroshot_model.json").is_file():
        raise FileNotFoundError(f"no student model at {model}: run the student stage first")
    data = gold if gold is not None else out / "filter" / "dev.jsonl"
    specs = engine_specs(teacher if gold is not None else None, student.base_model,
                         {"student": str(model)}, teacher_limit)
    result, cards = run_benchmark(data, schema, specs, folder, seed=SEED, progress=progress,
                                  latency_samples=10, command=command)
    write_bench_report(result, folder, cards)
    t = summarise_teacher(teacher_folder)
    lines = ["# Distillation report", "", *stamp_markdown(result["provenance"]), "",
             f"Schema `{schema.name}`; teacher labels: {t.documents} texts "
             f"({t.sentences_per_s:.2f} texts/s while labelling).", "",
             (f"Scored on **gold** `{data}` (never used for a choice)." if gold is not None else
              f"No gold set: scored against the **silver dev set** `{data}` (agreement with "
              f"the teacher, which is not correctness)."), "",
             *summary_table(result, t.sentences_per_s), "",
             "Filter: `filter/report.md`; student card: `student/model/README.md`; "
             "evidence cards (gold vs predicted, misses first): "
             + ", ".join(f"`report/card_{r['engine']}.md`" for r in result["engines"]) + ".", ""]
    report_path = out / "REPORT.md"
    report_path.write_text("\n".join(lines), encoding="utf-8")
    (folder / "distill_summary.json").write_text(json.dumps(
        {"data": str(data), "gold": gold is not None, "engines": {
            r["engine"]: {"strict": r["metrics"]["strict"]["micro"],
                          "partial": r["metrics"]["partial"]["micro"], "speed": r["speed"],
                          "sentences": r["sentences"]} for r in result["engines"]}},
        indent=2) + "\n")
    return {"path": str(report_path), "results": str(folder / "results.json")}
