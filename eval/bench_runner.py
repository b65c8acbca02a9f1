"""Batch-runner overhead: records/s of ``BatchRunner`` with a trivial engine.

The engine does no work (two spans per document, from its tokens), so what is
timed is the runner: checking, batching, building rows, JSON encoding, writing,
syncing, and the resume scan of a finished output. Documents are Few-NERD
sample sentences (the bundled 200), repeated with distinct ids.

    python eval/bench_runner.py [--docs 20000] [--batch-size 32] [--out PATH.json]

Writes a JSON record stamped with the git commit, versions, command and machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import zeroshot
from zeroshot.batch import BatchRunner, Record
from zeroshot.core.loaders import read_fewnerd
from zeroshot.core.schema import Schema
from zeroshot.core.spans import DocumentResult, Span
from zeroshot.core.text import TokenizedText
from zeroshot.data import FEWNERD_SAMPLE, path


class TrivialEngine:
    """Two spans per document (its first and last token); no model."""

    name = "trivial"

    def extract(self, texts, schema, *, ids=None):
        out = []
        for i, t in enumerate(texts):
            tok = t if isinstance(t, TokenizedText) else TokenizedText.coerce(t)
            spans = []
            for k in {0, len(tok) - 1}:
                s, e = tok.starts[k], tok.ends[k]
                spans.append(Span(s, e, "thing", tok.text[s:e], score=0.5, token_start=k,
                                  token_end=k + 1, engine=self.name))
            out.append(DocumentResult.from_tokenized(tok, spans=tuple(sorted(
                spans, key=lambda s: s.start)), id=ids[i] if ids else None, engine=self.name))
        return out

    def identity(self):
        return {"engine": self.name}

    def close(self):
        pass


def _stamp() -> dict:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True,
                                  cwd=Path(__file__).parent, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "?"

    versions = {"python": platform.python_version(), "zeroshot": zeroshot.__version__}
    try:
        import orjson

        versions["orjson"] = orjson.__version__
    except ImportError:
        pass
    return {"commit": git("rev-parse", "HEAD") + ("-dirty" if git("status", "--porcelain")
                                                   else ""),
            "versions": versions, "command": " ".join([Path(sys.argv[0]).as_posix(),
                                                       *sys.argv[1:]]),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3, help="best of N runs")
    ap.add_argument("--out", default="eval/results/bench_runner.json")
    args = ap.parse_args()
    sentences = [ex.tokens for ex in read_fewnerd(path(FEWNERD_SAMPLE))]
    records = [Record(f"d{i}", sentences[i % len(sentences)]) for i in range(args.docs)]
    schema = Schema.from_labels(["thing"])
    runner = BatchRunner(TrivialEngine(), schema, batch_size=args.batch_size, progress=False)
    best_run = best_resume = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            out = Path(tmp) / f"out{r}.jsonl"
            t0 = time.perf_counter()
            summary = runner.run(records, out)
            best_run = min(best_run, time.perf_counter() - t0)
            assert summary.documents == args.docs, summary
            t0 = time.perf_counter()
            again = runner.run(records, out)  # everything done: the resume scan alone
            best_resume = min(best_resume, time.perf_counter() - t0)
            assert again.skipped == args.docs, again
        size = out.stat().st_size
    result = {**_stamp(), "docs": args.docs, "batch_size": args.batch_size,
              "output_bytes": size, "run_s": best_run, "records_per_s": args.docs / best_run,
              "resume_scan_s": best_resume, "resume_records_per_s": args.docs / best_resume}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
