"""Score a GLiNER model on all of Few-NERD INTER test at one or more thresholds.

    python eval/score_inter_test.py --model gliner-mpnet-general --thresholds 0.2 \
        --device cpu --threads 2 --name general_inter_test_cpu

The engine runs once, at the lowest threshold, under the flat overlap policy;
each higher threshold is the same predictions with the spans under it dropped.
That is exact for the flat policy: spans are kept greedily best score first, so a
span under a threshold never displaces one above it. Writes ``<name>.json`` and
``<name>.md`` under ``--out`` with provenance. INTER test is the benchmark: run
this once for a model whose threshold the dev sets chose, never to choose one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from zeroshot.core.loaders import find_fewnerd, read_fewnerd
from zeroshot.core.metrics import MODES, evaluate
from zeroshot.core.provenance import provenance, stamp_markdown
from zeroshot.core.schema import OverlapPolicy, Schema


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model directory or bundled name (default: the default)")
    ap.add_argument("--thresholds", default="0.4", help="comma list")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--data", help="Few-NERD file (default: INTER test)")
    ap.add_argument("--name", default="inter_test_scores")
    ap.add_argument("--out", default="eval/results")
    args = ap.parse_args()
    from zeroshot.engines.gliner import GlinerEngine

    thresholds = sorted(float(t) for t in args.thresholds.split(","))
    path = Path(args.data) if args.data else find_fewnerd("inter/test")
    examples = list(read_fewnerd(path, limit=args.limit))
    schema = Schema.load("fewnerd_inter_test")
    if schema.options.overlap is not OverlapPolicy.FLAT:
        raise SystemExit("the threshold filter is exact for the flat policy only")
    t0 = time.perf_counter()
    engine = GlinerEngine(args.model, device=args.device, threads=args.threads)
    start_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    docs = engine.extract([e.tokens.tokens for e in examples],
                          schema.with_options(threshold=thresholds[0]),
                          ids=[e.id for e in examples])
    seconds = time.perf_counter() - t0
    gold = [e.spans for e in examples]
    scores = {}
    for t in thresholds:
        report = evaluate(gold, [[s for s in d.spans if s.score >= t] for d in docs],
                          labels=schema.names)
        scores[f"{t:g}"] = {m: report[m].micro.to_dict() for m in MODES}
        scores[f"{t:g}"]["strict_macro_f1"] = report["strict"].macro.f1
        scores[f"{t:g}"]["per_type_strict_f1"] = {k: v.f1 for k, v in
                                                  report["strict"].per_type.items()}
    command = "python eval/score_inter_test.py " + " ".join(sys.argv[1:])
    result = {"provenance": provenance(command), "model": engine.source,
              "model_default_threshold": engine.default_threshold, "runtime":
              engine.runtime_name(), "device": args.device, "data": path.name,
              "sentences": len(examples), "engine_start_s": start_s, "seconds": seconds,
              "sentences_per_s": len(examples) / seconds, "scores": scores}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    lines = [f"# {Path(engine.source or '').name} on Few-NERD INTER test", "",
             *stamp_markdown(result["provenance"]), "",
             f"{len(examples):,} sentences, 17 types, pre-tokenised; {args.device}, runtime "
             f"`{result['runtime']}`; {result['sentences_per_s']:.1f} sentences/s (engine "
             f"start {start_s:.1f} s not counted). Micro P / R / F1 %, bootstrap 95 % CI.", "",
             "| threshold | strict P / R / F1 | strict F1 CI | exact F1 | partial F1 | type F1 |"
             " strict macro F1 |", "|---|---|---|---|---|---|---|"]
    for t, s in scores.items():
        st = s["strict"]
        lo, hi = st["ci95"]["f1"] if st.get("ci95") else (0.0, 0.0)
        lines.append(f"| {t} | {100 * st['precision']:.1f} / {100 * st['recall']:.1f} / "
                     f"{100 * st['f1']:.2f} | {100 * lo:.1f}–{100 * hi:.1f} | "
                     f"{100 * s['exact']['f1']:.1f} | {100 * s['partial']['f1']:.1f} | "
                     f"{100 * s['type']['f1']:.1f} | {100 * s['strict_macro_f1']:.1f} |")
    (out / f"{args.name}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
