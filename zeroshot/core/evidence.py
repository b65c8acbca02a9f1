"""Evidence cards: what an engine was asked, what it said, and how it scored.

A card is Markdown with five parts: the schema, a summary of the predictions,
the metric (four modes, per type), failure checks (boundary errors, type
confusions, spurious, missed, unaligned strings, repairs), and a
gold-vs-predicted span table that always shows misses when there are any.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

from zeroshot.core.metrics import MODES, Report, evaluate
from zeroshot.core.schema import Schema
from zeroshot.core.spans import DocumentResult, Span

CORRECT, BOUNDARY, TYPE, BOUNDARY_TYPE, MISSED, SPURIOUS = (
    "correct", "boundary", "type", "boundary+type", "missed", "spurious")


@dataclasses.dataclass(frozen=True)
class Row:
    doc: int
    gold: Span | None
    pred: Span | None
    verdict: str


def compare_spans(gold: Sequence[Span], pred: Sequence[Span], doc: int = 0) -> list[Row]:
    """Pair gold and predicted spans of one document and name each outcome.

    Exact typed matches first; then each left-over prediction is paired with the
    left-over gold span it overlaps most (verdict ``type``, ``boundary`` or
    ``boundary+type``); what remains is ``missed`` or ``spurious``.
    """
    rows: list[Row] = []
    gold_left = list(gold)
    pred_left = []
    for p in pred:
        hit = next((g for g in gold_left if g.key == p.key), None)
        if hit is not None:
            gold_left.remove(hit)
            rows.append(Row(doc, hit, p, CORRECT))
        else:
            pred_left.append(p)
    for p in pred_left:
        overlapping = [g for g in gold_left if g.overlaps(p)]
        if not overlapping:
            rows.append(Row(doc, None, p, SPURIOUS))
            continue
        g = max(overlapping, key=lambda g: min(g.end, p.end) - max(g.start, p.start))
        gold_left.remove(g)
        same_bounds = (g.start, g.end) == (p.start, p.end)
        verdict = TYPE if same_bounds else (BOUNDARY if g.label == p.label else BOUNDARY_TYPE)
        rows.append(Row(doc, g, p, verdict))
    rows.extend(Row(doc, g, None, MISSED) for g in gold_left)
    rows.sort(key=lambda r: ((r.gold or r.pred).start, (r.gold or r.pred).end))  # type: ignore[union-attr]
    return rows


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _span_cell(s: Span | None) -> str:
    return "—" if s is None else f"`{_cell(s.text)}` {s.label}"


def _threshold_note(schema: Schema) -> str:
    if schema.options.threshold is not None:
        return f"{schema.options.threshold}"
    return "the engine's default (a GLiNER model's calibrated threshold)"


def render_evidence_card(
    schema: Schema,
    gold: Sequence[Sequence[Span]],
    predictions: Sequence[DocumentResult],
    *,
    title: str | None = None,
    report: Report | None = None,
    max_rows: int = 25,
    extra_repairs: int = 0,
) -> str:
    """Markdown evidence card for one engine on one dataset.

    ``gold`` holds one list of spans per document, aligned with ``predictions``.
    ``extra_repairs`` adds repairs made before prediction (e.g. BIO repairs when
    reading gold), so the card shows every repair of the run.
    """
    if len(gold) != len(predictions):
        raise ValueError("gold and predictions differ in length")
    engine = next((p.engine for p in predictions if p.engine), "engine")
    report = report or evaluate(gold, [p.spans for p in predictions], labels=schema.names)
    rows = [r for i, (g, p) in enumerate(zip(gold, predictions, strict=True))
            for r in compare_spans(list(g), list(p.spans), i)]
    lines = [f"# {title or f'Evidence card: {engine}'}", "",
             *_schema_section(schema), "",
             *_predictions_section(gold, predictions), "",
             *_metric_section(report), "",
             *_failure_section(rows, predictions, extra_repairs), "",
             *_table_section(rows, predictions, max_rows)]
    return "\n".join(lines) + "\n"


def _schema_section(schema: Schema) -> list[str]:
    lines = ["## Schema", "", f"`{schema.name}`: {schema.description}".rstrip(": "), "",
             f"Overlap policy: {schema.options.overlap.value}; threshold: "
             f"{_threshold_note(schema)}", "",
             "| name | label | description | examples |", "|---|---|---|---|"]
    for t in schema:
        lines.append(f"| {_cell(t.name)} | {_cell(t.label)} | {_cell(t.description)} | "
                     f"{_cell(', '.join(t.examples[:3]))} |")
    return lines


def _predictions_section(gold: Sequence[Sequence[Span]],
                         predictions: Sequence[DocumentResult]) -> list[str]:
    status_counts = Counter(s.alignment.value for p in predictions for s in p.spans)
    status_counts["unaligned"] += sum(len(p.unaligned) for p in predictions)
    return ["## Predictions", "",
            f"- documents: {len(predictions)}",
            f"- gold spans: {sum(len(g) for g in gold)}",
            f"- predicted spans: {sum(len(p.spans) for p in predictions)}",
            "- alignment: " + ", ".join(f"{k} {v}" for k, v in sorted(status_counts.items())
                                        if v) if status_counts else "- alignment: none"]


def _metric_section(report: Report) -> list[str]:
    lines = ["## Metric", "", "| mode | P | R | F1 | F1 95% CI | macro F1 |",
             "|---|---|---|---|---|---|"]
    for mode in MODES:
        if mode not in report.modes:
            continue
        m = report[mode]
        ci = m.micro.ci["f1"] if m.micro.ci else None
        ci_text = f"{_pct(ci[0])}–{_pct(ci[1])}" if ci else "—"
        lines.append(f"| {mode} | {_pct(m.micro.precision)} | {_pct(m.micro.recall)} | "
                     f"{_pct(m.micro.f1)} | {ci_text} | {_pct(m.macro.f1)} |")
    if "strict" in report.modes:
        lines += ["", "Per type (strict):", "", "| type | gold | pred | P | R | F1 |",
                  "|---|---|---|---|---|---|"]
        for name, s in sorted(report["strict"].per_type.items(), key=lambda kv: -kv[1].f1):
            c = s.counts
            lines.append(f"| {_cell(name)} | {c.possible if c else 0} | {c.actual if c else 0} | "
                         f"{_pct(s.precision)} | {_pct(s.recall)} | {_pct(s.f1)} |")
    return lines


def _failure_section(rows: Sequence[Row], predictions: Sequence[DocumentResult],
                     extra_repairs: int) -> list[str]:
    verdicts = Counter(r.verdict for r in rows)
    confusions = Counter((r.gold.label, r.pred.label) for r in rows
                         if r.verdict in (TYPE, BOUNDARY_TYPE) and r.gold and r.pred)
    issue_counts = Counter(i.kind for p in predictions for i in p.issues)
    repairs = sum(1 for p in predictions for i in p.issues if i.repair) + extra_repairs
    lines = ["## Failure checks", "",
             f"- correct: {verdicts[CORRECT]}",
             f"- boundary errors (right type, wrong span): {verdicts[BOUNDARY]}",
             f"- type confusions (right span, wrong type): {verdicts[TYPE]}",
             f"- boundary and type wrong: {verdicts[BOUNDARY_TYPE]}",
             f"- spurious predictions: {verdicts[SPURIOUS]}",
             f"- missed gold spans: {verdicts[MISSED]}",
             "- unaligned strings (occur nowhere in the text): "
             f"{sum(len(p.unaligned) for p in predictions)}",
             f"- repairs (counted, not silent): {repairs}"]
    if issue_counts:
        lines.append("- issues by kind: " + ", ".join(f"{k} {v}" for k, v in
                                                      sorted(issue_counts.items())))
    if confusions:
        lines.append("- most frequent confusions (gold → predicted): " + ", ".join(
            f"{g} → {p} ({n})" for (g, p), n in confusions.most_common(5)))
    unaligned_examples = [m for p in predictions for m in p.unaligned][:5]
    if unaligned_examples:
        lines.append("- unaligned examples: " + ", ".join(
            f"`{_cell(m.generated)}` ({m.label})" for m in unaligned_examples))
    return lines


def _table_section(rows: Sequence[Row], predictions: Sequence[DocumentResult],
                   max_rows: int) -> list[str]:
    """The gold-vs-predicted table: errors first (misses guaranteed a place), then
    some correct rows."""
    errors = [r for r in rows if r.verdict != CORRECT]
    misses = [r for r in errors if r.verdict == MISSED]
    others = [r for r in errors if r.verdict != MISSED]
    chosen = misses[: max(1, max_rows // 3)] + others[: max_rows // 3]
    chosen += [r for r in errors if r not in chosen][: max_rows - len(chosen)]
    chosen += [r for r in rows if r.verdict == CORRECT][: max(0, max_rows - len(chosen))]
    chosen.sort(key=lambda r: (r.doc, (r.gold or r.pred).start))  # type: ignore[union-attr]
    lines = ["## Gold vs predicted", "",
             f"{len(chosen)} of {len(rows)} rows; errors first, every kind shown.", "",
             "| doc | gold | predicted | verdict |", "|---|---|---|---|"]
    for r in chosen:
        doc_id = predictions[r.doc].id if predictions[r.doc].id is not None else r.doc
        lines.append(f"| {doc_id} | {_span_cell(r.gold)} | {_span_cell(r.pred)} | "
                     f"{'**' + r.verdict + '**' if r.verdict != CORRECT else r.verdict} |")
    return lines
