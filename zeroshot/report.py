"""Benchmark reports from ``results.json``: Markdown, self-contained HTML, plots.

Every number in the reports is read from ``results.json`` (tests check that the
Markdown and the JSON agree). Plots are matplotlib PNGs: per-type F1 per engine,
F1 against throughput, the error breakdown (boundary vs type), and the most
frequent type confusions.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from zeroshot.core.provenance import stamp_markdown

MODES = ("strict", "exact", "partial", "type")
VERDICTS = ("correct", "type", "boundary", "boundary+type", "missed", "spurious")

# Published results, not measured here (shown as reference rows, marked as such).
REFERENCES: tuple[dict[str, str], ...] = (
    {"engine": "BERT-Tagger, supervised (published)",
     "note": "F1 67.13 on Few-NERD SUP (all 66 fine types seen in training; not INTER, "
             "not zero-shot)",
     "source": "Ding et al., Few-NERD, ACL 2021"},
    {"engine": "GLiNER-L, zero-shot (published)",
     "note": "average F1 60.9 over 7 out-of-domain sets (CrossNER, MIT movie/restaurant); "
             "not Few-NERD; ChatGPT 47.5 there",
     "source": "Zaratiana et al., GLiNER, NAACL 2024"},
)


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def rate(x: float | None) -> str:
    """A throughput with the digits that matter: 1,377 / 69.7 / 0.044."""
    if not x:
        return "–"
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}" if x >= 1 else f"{x:.2g}"


def _micro(row: Mapping[str, Any], mode: str) -> Mapping[str, Any]:
    return row["metrics"][mode]["micro"]


def summary_rows(result: Mapping[str, Any]) -> list[list[str]]:
    """The comparison table: one row per engine, strings as they are printed."""
    rows = []
    for r in result["engines"]:
        s = _micro(r, "strict")
        lo, hi = s["ci95"]["f1"]
        sp = r["speed"]
        rows.append([
            r["engine"], str(r["sentences"]),
            f"{pct(s['precision'])} / {pct(s['recall'])} / {pct(s['f1'])}",
            f"{pct(lo)}–{pct(hi)}",
            pct(_micro(r, "exact")["f1"]), pct(_micro(r, "partial")["f1"]),
            pct(_micro(r, "type")["f1"]), pct(r["metrics"]["strict"]["macro"]["f1"]),
            rate(sp.get("sentences_per_s")), rate(sp.get("tokens_per_s")),
            (f"{sp['latency_p50_ms']:.0f} / {sp['latency_p95_ms']:.0f}"
             if "latency_p50_ms" in sp else "not measured"),
            f"{sp.get('engine_start_s', 0):.1f}", f"{sp.get('peak_rss_mib', 0) / 1024:.1f}",
        ])
    return rows


HEADER = ["engine", "sentences", "strict P / R / F1", "strict F1 95% CI", "exact F1",
          "partial F1", "type F1", "macro F1", "sent/s", "tok/s", "latency p50 / p95 ms",
          "start s", "peak RSS GiB"]


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return out


def failure_rows(result: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    kinds = sorted({k for r in result["engines"] for k, v in r["failures"].items() if v}
                   | {"invalid_json", "schema_violation", "unaligned", "windowed"})
    header = ["engine", "record errors", *kinds, "unaligned %"]
    rows = [[r["engine"], str(r["record_errors"]), *[str(r["failures"].get(k, 0)) for k in kinds],
             f"{r['unaligned_pct']:.1f}"] for r in result["engines"]]
    return header, rows


def plots(result: Mapping[str, Any], out: Path) -> list[Path]:
    """Write the PNGs next to the report; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    engines, types = result["engines"], list(result["types"])
    paths = []
    for name, draw in (("per_type_f1.png", lambda: _per_type_plot(plt, engines, types)),
                       ("f1_vs_throughput.png", lambda: _throughput_plot(plt, engines)),
                       ("error_breakdown.png", lambda: _outcome_plot(plt, engines)),
                       ("type_confusion.png", lambda: _confusion_plot(plt, engines))):
        fig = draw()
        fig.tight_layout()
        paths.append(out / name)
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths


def _per_type_plot(plt: Any, engines: Sequence[Mapping[str, Any]], types: list[str]) -> Any:
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(types) + 1.5))
    h = 0.8 / max(1, len(engines))
    for k, r in enumerate(engines):
        per = r["metrics"]["strict"]["per_type"]
        ax.barh([i + k * h for i in range(len(types))],
                [100 * per.get(t, {}).get("f1", 0.0) for t in types], height=h, label=r["engine"])
    ax.set_yticks([i + h * (len(engines) - 1) / 2 for i in range(len(types))], types,
                  fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("strict F1 (%)")
    ax.set_title("Per-type strict F1")
    ax.legend(loc="lower right")
    return fig


def _throughput_plot(plt: Any, engines: Sequence[Mapping[str, Any]]) -> Any:
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in engines:
        x = r["speed"].get("sentences_per_s")
        if x:
            ax.scatter([x], [100 * _micro(r, "strict")["f1"]], s=60)
            ax.annotate(r["engine"], (x, 100 * _micro(r, "strict")["f1"]),
                        textcoords="offset points", xytext=(6, 4), fontsize=9)
    ax.set_xscale("log")
    ax.set_xlabel("sentences / s (log)")
    ax.set_ylabel("strict micro F1 (%)")
    ax.set_title("Quality against throughput")
    ax.grid(alpha=0.3)
    return fig


def _outcome_plot(plt: Any, engines: Sequence[Mapping[str, Any]]) -> Any:
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(engines) + 2.2))
    left = [0.0] * len(engines)
    totals = [max(1, sum(r["verdicts"].values())) for r in engines]
    for v in VERDICTS:
        vals = [100 * r["verdicts"].get(v, 0) / t for r, t in zip(engines, totals, strict=True)]
        ax.barh([r["engine"] for r in engines], vals, left=left, label=v)
        left = [a + b for a, b in zip(left, vals, strict=True)]
    ax.set_xlabel("% of paired gold / predicted spans")
    ax.set_title("Outcomes: correct, wrong type, wrong boundary, both, missed, spurious",
                 fontsize=10)
    ax.legend(ncol=6, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3))
    return fig


def _confusion_plot(plt: Any, engines: Sequence[Mapping[str, Any]]) -> Any:
    fig, axes = plt.subplots(1, len(engines), figsize=(6 * len(engines), 4), squeeze=False)
    for ax, r in zip(axes[0], engines, strict=True):
        top = r["confusion"][:10]
        ax.barh([f"{g} → {p}" for g, p, _ in top], [n for _, _, n in top])
        ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=7)
        ax.set_title(f"{r['engine']}: gold → predicted type\n(same boundaries)", fontsize=9)
    return fig


def engine_notes(result: Mapping[str, Any]) -> list[str]:
    """One line per engine: its note and the model it ran (rows of older runs have none)."""
    lines = []
    for r in result["engines"]:
        model = r.get("identity", {}).get("model")
        if model and Path(model).is_absolute():  # a local directory: its name, not the path
            model = Path(model).name
        what = "; ".join(x for x in (r.get("note"), model and f"model `{model}`") if x)
        if what:
            lines.append(f"- **{r['engine']}**: {what}")
    return [*lines, ""] if lines else []


def render_markdown(result: Mapping[str, Any], images: Sequence[str] = ()) -> str:
    stamp = (stamp_markdown(result["provenance"]) if result.get("provenance")
             else [f"Command: `{result['command']}`  ", f"Machine: {result['machine']}  "])
    lines = ["# Few-NERD head-to-head", "", *stamp,
             f"Data: `{Path(result['data']).name}` ({result['data_sentences']} sentences), "
             f"seeded sample of {result['sentences']} (seed {result['sample_seed']}); schema "
             f"`{result['schema']}` ({len(result['types'])} types)"
             + ("; gold read at Few-NERD's coarse level" if result.get("level") == "coarse"
                else ""), "",
             *_md_table(HEADER, summary_rows(result)), "", *engine_notes(result)]
    if result.get("gold_labels_outside_schema"):
        lines += ["**Gold labels outside the schema** (their spans can only be missed): "
                  + ", ".join(f"`{t}`" for t in result["gold_labels_outside_schema"]), ""]
    shared = result.get("shared")
    if shared and len(result["engines"]) > 1:
        lines += [f"On the {shared['sentences']} sentences every engine read:", ""]
        rows = []
        for name, sc in shared["engines"].items():
            s, p = sc["strict"], sc["partial"]
            lo, hi = s["ci95"]["f1"]
            rows.append([name, f"{pct(s['precision'])} / {pct(s['recall'])} / {pct(s['f1'])}",
                         f"{pct(lo)}–{pct(hi)}", pct(p["f1"])])
        lines += [*_md_table(["engine", "strict P / R / F1", "strict F1 95% CI", "partial F1"],
                             rows), ""]
    lines += ["Reference (published, **not measured here**):", ""]
    lines += _md_table(["reference", "result", "source"],
                       [[r["engine"], r["note"], r["source"]] for r in REFERENCES])
    header, rows = failure_rows(result)
    lines += ["", "## Failure checks", "", *_md_table(header, rows)]
    lines += ["", "## Outcomes (gold and predicted spans paired)", ""]
    lines += _md_table(["engine", *VERDICTS],
                       [[r["engine"], *[str(r["verdicts"].get(v, 0)) for v in VERDICTS]]
                        for r in result["engines"]])
    lines += ["", "## Per-type strict F1", ""]
    types = list(result["types"])
    lines += _md_table(["type", *[r["engine"] for r in result["engines"]]],
                       [[t, *[pct(r["metrics"]["strict"]["per_type"].get(t, {}).get("f1"))
                              for r in result["engines"]]] for t in types])
    if images:
        lines += ["", "## Plots", ""] + [f"![{Path(i).stem}]({Path(i).name})" for i in images]
    if result.get("disagreements"):
        lines += ["", "## Disagreements", "",
                  "Sentences where the engines' spans differ (✓ = matches gold exactly).", ""]
        for d in result["disagreements"]:
            lines.append(f"- `{d['id']}` {d['text']}")
            lines.append("  - gold: " + (", ".join(f"{t} ({lab})" for t, lab in d["gold"])
                                         or "(none)"))
            for e, spans in d["engines"].items():
                lines.append(f"  - {e}: " + (", ".join(
                    f"{t} ({lab}){' ✓' if ok else ''}" for t, lab, ok in spans) or "(none)"))
    cards = [f"`card_{r['engine']}.md`" for r in result["engines"]]
    lines += ["", "Evidence cards: " + ", ".join(cards) + "."]
    return "\n".join(lines) + "\n"


def render_html(result: Mapping[str, Any], images: Sequence[Path] = (),
                cards: Mapping[str, str] | None = None) -> str:
    """The report as one HTML file (plots embedded as data URIs)."""
    def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                       for r in rows)
        return f"<table><tr>{head}</tr>{body}</table>"

    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             "<title>Few-NERD head-to-head</title><style>body{font:14px system-ui;"
             "margin:2rem auto;max-width:70rem}table{border-collapse:collapse;margin:1rem 0}"
             "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}img{max-width:100%}"
             "pre{white-space:pre-wrap;background:#f7f7f7;padding:1rem}</style></head><body>",
             "<h1>Few-NERD head-to-head</h1>",
             f"<p>Command: <code>{html.escape(result['command'])}</code><br>"
             f"Machine: {html.escape(result['machine'])}<br>"
             f"Sample: {result['sentences']} sentences (seed {result['sample_seed']})</p>",
             table(HEADER, summary_rows(result)),
             "<p>Reference (published, not measured here):</p>",
             table(["reference", "result", "source"],
                   [[r["engine"], r["note"], r["source"]] for r in REFERENCES]),
             "<h2>Failure checks</h2>", table(*failure_rows(result))]
    for img in images:
        data = base64.b64encode(Path(img).read_bytes()).decode("ascii")
        parts.append(f"<p><img alt='{html.escape(Path(img).stem)}' "
                     f"src='data:image/png;base64,{data}'></p>")
    for name, card in (cards or {}).items():
        parts.append(f"<h2>Evidence card: {html.escape(name)}</h2><pre>{html.escape(card)}</pre>")
    parts.append("</body></html>\n")
    return "".join(parts)


def write_report(result: Mapping[str, Any], out: Path, cards: Mapping[str, str]) -> list[Path]:
    """Markdown, HTML, PNGs and evidence cards into ``out``; returns the files."""
    images = plots(result, out)
    written = [*images]
    for name, card in cards.items():
        written.append(out / f"card_{name}.md")
        written[-1].write_text(card, encoding="utf-8")
    (out / "report.md").write_text(render_markdown(result, [i.name for i in images]),
                                   encoding="utf-8")
    (out / "report.html").write_text(render_html(result, images, cards), encoding="utf-8")
    return [*written, out / "report.md", out / "report.html"]


def load(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))
