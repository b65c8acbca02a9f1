"""Aligner and validator throughput on Few-NERD sentences.

For each sentence of the sample, the "model output" is its gold strings (exact),
a lower-cased copy (normalized), a one-character typo (fuzzy) and a made-up
string (unaligned), so every stage is timed. Also times one 1.4 M-character
text. Writes eval/results/bench_aligner.json and prints a Markdown table.

    python eval/bench_aligner.py [--data PATH] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from zeroshot.core.align import Aligner
from zeroshot.core.loaders import read_examples
from zeroshot.core.schema import Schema
from zeroshot.core.validate import validate_output
from zeroshot.data import FEWNERD_SAMPLE, path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(path(FEWNERD_SAMPLE)))
    ap.add_argument("--limit", type=int, default=2000)
    ap.add_argument("--out", default="eval/results/bench_aligner.json")
    args = ap.parse_args()
    examples = list(read_examples(args.data, limit=args.limit))
    schema = Schema.load("fewnerd_fine")
    jobs = []
    for ex in examples:
        items = []
        for s in ex.spans:
            items += [(s.text, s.label), (s.text.lower(), s.label)]
            if len(s.text) > 4:
                items.append((s.text[:2] + s.text[3:], s.label))
        items.append(("Zanzibar Quux Pty", "location-other"))
        jobs.append((ex, items))
    n_items = sum(len(i) for _, i in jobs)

    t0 = time.perf_counter()
    statuses: dict[str, int] = {}
    for ex, items in jobs:
        for m in Aligner(ex.text, ex.tokens).align(items):
            statuses[m.status.value] = statuses.get(m.status.value, 0) + 1
    align_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    for ex, items in jobs:
        out = json.dumps({"entities": [{"text": t, "label": lab} for t, lab in items]})
        validate_output(out, ex.text, schema, tokens=ex.tokens)
    validate_s = time.perf_counter() - t0

    long_text = "The quick brown fox met Ada Lovelace near the river Thames in London. " * 20_000
    t0 = time.perf_counter()
    Aligner(long_text).align([("Ada Lovelace", "p"), ("river thames", "l"),
                              ("Ada Lovelac", "p"), ("zzzz qqqq", "x")])
    long_s = time.perf_counter() - t0

    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                   f"Python {platform.python_version()}",
        "data": Path(args.data).name, "sentences": len(examples), "strings": n_items,
        "statuses": statuses,
        "align_strings_per_s": n_items / align_s,
        "validate_strings_per_s": n_items / validate_s,
        "long_text_chars": len(long_text), "long_text_4_strings_s": long_s,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print("| measure | value |\n|---|---|")
    for k, v in result.items():
        print(f"| {k} | {v:.1f} |" if isinstance(v, float) else f"| {k} | {v} |")


if __name__ == "__main__":
    main()
