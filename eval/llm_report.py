"""Markdown of an LLM benchmark result (eval/bench_llm.py): one table of every
(model, variant) row beside GLiNER alone, what each prompt change bought, the
hybrid's candidates and how its LLM treated the encoder's types."""

from __future__ import annotations

from llm_scores import OVERRULE_KEYS

from zeroshot.benchmark import FAILURE_KINDS
from zeroshot.report import pct

# What each change is measured against: (variant, against, change); both must be rows
# of the same model. Hybrid threshold rows (-tX) are compared with hybrid-3shot.
STEPS = [
    ("constrained-0shot", "constrained-0shot-bare",
     "type descriptions and examples in the system prompt"),
    ("constrained-0shot", "constrained-0shot-nonone",
     'an explicit "none" rule: answer {"entities": []} when nothing fits'),
    ("constrained-0shot-names", "constrained-0shot",
     "type names (person-athlete) instead of label words (athlete) in the answer"),
    ("unconstrained-0shot", "constrained-0shot", "no grammar (same prompt)"),
    ("grounded-0shot", "constrained-0shot", "grounded grammar (token n-grams), 0 shots"),
    ("constrained-1shot", "constrained-0shot", "one demonstration"),
    ("constrained-3shot", "constrained-1shot", "three demonstrations (one has no entity)"),
    ("grounded-3shot", "constrained-3shot", "grounded grammar, three demonstrations"),
    ("hybrid-0shot", "constrained-0shot", "hybrid (GLiNER candidates, the LLM types), 0 shots"),
    ("hybrid-3shot", "constrained-3shot", "hybrid, three demonstrations"),
    ("hybrid-3shot", "hybrid-0shot", "hybrid: three demonstrations"),
    ("hybrid-3shot-hints", "hybrid-3shot", "hybrid: GLiNER's type shown with each candidate"),
    ("hybrid-3shot-pdemo", "hybrid-3shot",
     "hybrid: demonstrations offer only GLiNER's candidates (not also their missed entities)"),
]


def _f1(row: dict, mode: str = "strict") -> float:
    return row["metrics"][mode]["micro"]["f1"]


def _ci(row: dict, mode: str = "strict") -> str:
    lo, hi = row["metrics"][mode]["micro"]["ci95"]["f1"]
    return f"{pct(lo)}–{pct(hi)}"


def steps(rows: list[dict]) -> list[tuple[str, str, str, dict, dict]]:
    """(model, change, variants, changed row, base row) for every step both rows of
    one model measured."""
    out = []
    by = {(r["model"], r["variant"]): r for r in rows}
    models = list(dict.fromkeys(r["model"] for r in rows))
    for model in models:
        extra = []
        if (model, "hybrid-3shot") in by:
            base = by[(model, "hybrid-3shot")]["candidate_threshold"]
            extra = [(v, "hybrid-3shot", f"hybrid: candidate threshold "
                      f"{by[(model, v)]['candidate_threshold']:g} instead of {base:g}")
                     for (m, v) in by if m == model and v.startswith("hybrid-3shot-t")]
        for variant, against, change in STEPS + extra:
            if (model, variant) in by and (model, against) in by:
                out.append((model, change, f"{against} → {variant}", by[(model, variant)],
                            by[(model, against)]))
    return out


def _header(result: dict) -> list[str]:
    split = result["split"]
    packages = ", ".join(f"{k} {v}" for k, v in result["packages"].items())
    dirty = " (uncommitted changes)" if result["git_dirty"] else ""
    note = f"; {split['note']}" if split.get("note") else ""
    lines = [f"# LLM engine on Few-NERD {split['split']}", "",
             f"Command: `{result['command']}`  ",
             f"Commit: {result['git_commit'][:12]}{dirty}; {packages}; "
             f"Python {result['python']}  ",
             f"Machine: {result['machine']}  ",
             f"Split: {split['split']} ({split.get('data', '')}{note}); "
             f"{result['sentences']} sentences (seed {result['sample_seed']}), "
             f"{result['gold_spans']} gold spans; schema {result['schema']} "
             f"({result['types']} types)  "]
    if result.get("note"):
        lines.append(f"Note: {result['note']}  ")
    chosen = result.get("chosen_on")
    if chosen:
        best = "; ".join(f"{m} {v} {pct(f)}" for m, v, f in chosen["best"])
        lines.append(f"Variants chosen on: {chosen['split']['split']} ({chosen['file']}, "
                     f"{chosen['sentences']} sentences, commit "
                     f"{(chosen.get('git_commit') or '')[:12]}; best there: {best})  ")
    for model, e in result["engines"].items():
        lines.append(f"Engine {model} ({e.get('dtype') or 'auto'}): start "
                     f"{e['engine_start_s']:.0f} s, peak RSS of all processes "
                     f"{e['peak_rss_mib_all_processes'] / 1024:.1f} GiB  ")
    return lines


def _main_table(result: dict) -> list[str]:
    lines = ["", "| model | variant | JSON ok % | schema-valid % | unaligned % | empty % | "
             "strict P / R / F1 | strict F1 95% CI | partial F1 (95% CI) | sent/s | "
             "peak RSS GiB |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    rows = list(result["variants"])
    if result.get("gliner"):
        rows = [{**result["gliner"], "model": result["gliner_model"].rsplit("/", 1)[-1]},
                *rows]
    for r in rows:
        s = r["metrics"]["strict"]["micro"]
        llm = r["mode"] != "gliner"
        cells = [f"{r[k]:.1f}" if llm else "–" for k in
                 ("json_ok_pct", "schema_valid_pct", "unaligned_pct")]
        rss = f"{r['peak_rss_mib'] / 1024:.1f}" if r.get("peak_rss_mib") else "–"
        lines.append(
            f"| {r['model']} | {r['variant']} | {' | '.join(cells)} | "
            f"{r['empty_answers_pct']:.1f} | {pct(s['precision'])} / {pct(s['recall'])} / "
            f"{pct(s['f1'])} | {_ci(r)} | {pct(_f1(r, 'partial'))} ({_ci(r, 'partial')}) | "
            f"{r['sentences_per_s']:.2f} | {rss} |")
    return lines


def _steps_table(result: dict) -> list[str]:
    found = steps(result["variants"])
    if not found:
        return []
    lines = ["", "## What each change bought", "",
             "Each row changes one thing against the variant it names; both ran in this run "
             "on the same sentences with the same model. CI: the bootstrap 95% interval of "
             "the changed variant's strict F1. Δ ms/sentence: the change in wall time per "
             "sentence.", "",
             "| model | change | variants | strict F1 | Δ F1 | CI (changed) | unaligned % | "
             "Δ ms/sentence |", "|---|---|---|---|---|---|---|---|"]
    for model, change, names, a, b in found:
        per_a, per_b = a["seconds"] / a["sentences"], b["seconds"] / b["sentences"]
        lines.append(f"| {model} | {change} | {names} | {pct(_f1(b))} → {pct(_f1(a))} | "
                     f"{100 * (_f1(a) - _f1(b)):+.1f} | {_ci(a)} | "
                     f"{b['unaligned_pct']:.1f} → {a['unaligned_pct']:.1f} | "
                     f"{1000 * (per_a - per_b):+.0f} |")
    return lines


def _hybrid_tables(result: dict) -> list[str]:
    lines = []
    if result.get("proposer"):
        lines += ["", "## GLiNER's candidates", "",
                  "The hybrid's LLM can only keep what GLiNER proposes: gold spans among the "
                  "candidates bound its recall; typed right: the candidate's best GLiNER type "
                  "is gold's.", "",
                  "| threshold | candidates / sentence | sentences without one % | gold spans "
                  "among them % | of gold, typed right by GLiNER % |", "|---|---|---|---|---|"]
        lines += [f"| {p['threshold']:g} | {p['candidates_per_sentence']:.2f} | "
                  f"{p['no_candidate_pct']:.1f} | {p['gold_in_candidates_pct']:.1f} | "
                  f"{p['gold_typed_right_pct']:.1f} |" for p in result["proposer"]]
    hybrid = [r for r in result["variants"] if r.get("overrules")]
    if hybrid:
        lines += ["", "## What the hybrid's LLM did with GLiNER's types", "",
                  "Per candidate, against gold: kept with GLiNER's type (right / wrong), "
                  "retyped (rightly: the LLM's type is gold; wrongly: GLiNER's was; both "
                  "wrong; not an entity at all), rejected (a gold span: wrongly; not one: "
                  "rightly).", "",
                  "| model | variant | " + " | ".join(k.replace("_", " ") for k in OVERRULE_KEYS)
                  + " |", "|---|---|" + "---|" * len(OVERRULE_KEYS)]
        lines += [f"| {r['model']} | {r['variant']} | "
                  + " | ".join(str(r["overrules"][k]) for k in OVERRULE_KEYS) + " |"
                  for r in hybrid]
    return lines


def render_markdown(result: dict, card: str) -> str:
    lines = _header(result) + _main_table(result)
    lines += ["", "JSON ok: the answer parses; schema-valid: it satisfies the request's schema "
              "with no repair; unaligned: generated strings found nowhere in the sentence, of "
              "all strings generated (hybrid and grounded: 0 by construction); empty: "
              "sentences with no span. The GLiNER row is the encoder alone at its benchmark "
              "threshold on the same sentences. Speed: wall time of the variant's batch "
              "(hybrid: GLiNER's proposals included) after an untimed warm-up."]
    lines += _steps_table(result) + _hybrid_tables(result)
    lines += ["", "## Issue counts", "", "| model | variant | " + " | ".join(FAILURE_KINDS)
              + " |", "|---|---|" + "---|" * len(FAILURE_KINDS)]
    lines += [f"| {r['model']} | {r['variant']} | "
              + " | ".join(str(r["issues"].get(k, 0)) for k in FAILURE_KINDS) + " |"
              for r in result["variants"]]
    if result["variants"]:
        best = max(result["variants"], key=_f1)
        lines += ["", f"Evidence card (best strict F1: {best['model']} {best['variant']}): "
                      f"`{card}`."]
    return "\n".join(lines) + "\n"
