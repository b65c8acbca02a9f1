"""Scale-out of `zeroshot extract --ray`: W actors (one GPU each, or CPU), same input.

    python eval/bench_ray_scale.py --sentences 200000 --workers 1,2,4 --gpus-per-worker 1 \
        --device cuda --batch-size 1024 --out eval/results/ray_scale

Writes a JSONL input of N one-sentence documents (Few-NERD INTER-test sentences,
repeated with fresh ids until N), runs the real command line
``zeroshot extract IN -o OUT_W --schema fewnerd_inter_test --ray --workers W ...``
once per W, samples per-GPU utilisation with ``nvidia-smi`` while it runs, and
reports sentences/s (wall clock of the whole command, Ray start included, and of
the extraction the runner timed), scaling efficiency against W = 1, and whether
every run's output is complete (each id exactly once) and identical (the same
spans per id). Results: ``OUT/ray_scale.json`` and ``.md``, stamped with
provenance.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from zeroshot.core.loaders import find_fewnerd, read_fewnerd
from zeroshot.core.provenance import provenance, stamp_markdown

logger = logging.getLogger("bench_ray_scale")


def write_input(path: Path, n: int, source: Path) -> int:
    """``n`` one-sentence JSONL documents (pre-tokenised), cycling through ``source``."""
    sentences = [ex.tokens.tokens for ex in read_fewnerd(source)]
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"s{i}", "tokens": sentences[i % len(sentences)]},
                                ensure_ascii=False) + "\n")
    return len(sentences)


class GpuSampler:
    """Per-GPU utilisation and memory from ``nvidia-smi`` every ``every_ms``."""

    def __init__(self, every_ms: int = 500) -> None:
        self.samples: dict[int, list[tuple[float, float]]] = {}
        self._proc: subprocess.Popen | None = None
        self._every = every_ms
        self._thread: threading.Thread | None = None

    def __enter__(self) -> GpuSampler:
        if shutil.which("nvidia-smi"):
            self._proc = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=index,utilization.gpu,memory.used",
                 "--format=csv,noheader,nounits", f"-lms={self._every}"],
                stdout=subprocess.PIPE, text=True)
            self._thread = threading.Thread(target=self._read, daemon=True)
            self._thread.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            parts = [p.strip() for p in line.split(",")]
            if len(parts) == 3 and parts[0].isdigit():
                self.samples.setdefault(int(parts[0]), []).append((float(parts[1]),
                                                                   float(parts[2])))

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait()

    def summary(self) -> dict[str, Any]:
        return {str(gpu): {"util_mean_pct": statistics.fmean(u for u, _ in rows),
                           "util_busy_mean_pct": statistics.fmean(
                               [u for u, _ in rows if u > 0] or [0.0]),
                           "memory_max_mib": max(m for _, m in rows), "samples": len(rows)}
                for gpu, rows in sorted(self.samples.items()) if rows}


def read_output(path: Path) -> tuple[dict[str, list], int, int]:
    """Spans per id, rows written twice, rows with an error."""
    spans: dict[str, list] = {}
    twice = errors = 0
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row["id"] in spans:
                twice += 1
            errors += row.get("error") is not None
            spans[row["id"]] = sorted((s["start"], s["end"], s["label"]) for s in row["spans"])
    return spans, twice, errors


def run_one(args: argparse.Namespace, inp: Path, out: Path, workers: int) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "zeroshot", "extract", str(inp), "-o", str(out), "--schema",
           args.schema, "--ray", "--workers", str(workers), "--gpus-per-worker",
           str(args.gpus_per_worker), "--batch-size", str(args.batch_size), "--overwrite",
           "--quiet"]
    if args.device:
        cmd += ["--device", args.device]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    logger.info("%s", " ".join(cmd))
    with GpuSampler() as gpus:
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    summary_line = (proc.stderr.strip().splitlines() or [""])[-1]
    runner_s = None
    for part in summary_line.split(","):  # "... spans, 12.3 s, 456.7 docs/s"
        if part.strip().endswith(" s") and part.strip()[:-2].replace(".", "").isdigit():
            runner_s = float(part.strip()[:-2])
    return {"workers": workers, "command": " ".join(cmd), "exit_code": proc.returncode,
            "wall_s": wall, "runner_s": runner_s, "summary": summary_line,
            "stderr_tail": proc.stderr[-2000:] if proc.returncode else "",
            "gpus": gpus.summary()}


def render(result: dict[str, Any]) -> str:
    lines = ["# Ray Data scale-out: `zeroshot extract --ray`", "",
             *stamp_markdown(result["provenance"]), "",
             f"{result['sentences']:,} one-sentence documents (Few-NERD INTER-test sentences "
             f"repeated), schema `{result['schema']}`, {result['gpus_per_worker']} GPU(s) per "
             f"actor, batches of {result['batch_size']}.", "",
             "| actors | sentences/s (whole command) | sentences/s (extraction) | efficiency "
             "vs 1 | GPU utilisation (mean, per GPU) | exit |",
             "|---|---|---|---|---|---|"]
    for r in result["runs"]:
        util = ", ".join(f"GPU{g}: {v['util_mean_pct']:.0f} %" for g, v in r["gpus"].items())
        lines.append(f"| {r['workers']} | {r['sentences_per_s_wall']:,.0f} | "
                     f"{r.get('sentences_per_s_runner') or 0:,.0f} | "
                     f"{r.get('efficiency', 0):.2f} | {util or 'no GPU'} | {r['exit_code']} |")
    c = result["checks"]
    lines += ["", f"Complete (every id exactly once, no error row): **{c['complete']}**; "
              f"identical spans per id across runs: **{c['identical']}**."]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=200_000)
    ap.add_argument("--workers", default="1,2", help="comma list of actor counts")
    ap.add_argument("--gpus-per-worker", type=float, default=0.0)
    ap.add_argument("--device", help="GLiNER device in the actors (cuda on GPU nodes)")
    ap.add_argument("--threads", type=int, help="torch threads per actor")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--schema", default="fewnerd_inter_test")
    ap.add_argument("--data", help="Few-NERD file to draw sentences from (default INTER test)")
    ap.add_argument("--work", default="/tmp/ray_scale", help="inputs and outputs of the runs")
    ap.add_argument("--out", default="eval/results/ray_scale")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    work, out = Path(args.work), Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    source = Path(args.data) if args.data else find_fewnerd("inter/test")
    inp = work / "input.jsonl"
    distinct = write_input(inp, args.sentences, source)
    runs, outputs = [], {}
    for w in (int(x) for x in args.workers.split(",")):
        r = run_one(args, inp, work / f"out_{w}.jsonl", w)
        r["sentences_per_s_wall"] = args.sentences / r["wall_s"]
        if r["runner_s"]:
            r["sentences_per_s_runner"] = args.sentences / r["runner_s"]
        if r["exit_code"] == 0:
            outputs[w] = read_output(work / f"out_{w}.jsonl")
        runs.append(r)
        logger.info("W=%d: %.0f sentences/s (exit %d)", w, r["sentences_per_s_wall"],
                    r["exit_code"])
    base = next((r for r in runs if r["workers"] == 1 and r["exit_code"] == 0), None)
    for r in runs:
        if base:
            key = "sentences_per_s_runner" if base.get("sentences_per_s_runner") else \
                "sentences_per_s_wall"
            r["efficiency"] = r.get(key, 0) / (r["workers"] * base[key])
    ids = {f"s{i}" for i in range(args.sentences)}
    complete = bool(outputs) and len(outputs) == len(runs) and all(
        set(spans) == ids and twice == 0 and errors == 0
        for spans, twice, errors in outputs.values())
    first = next(iter(outputs.values()))[0] if outputs else {}
    identical = bool(outputs) and all(spans == first for spans, _, _ in outputs.values())
    result = {"provenance": provenance(" ".join(sys.argv)), "sentences": args.sentences,
              "distinct_sentences": distinct, "schema": args.schema,
              "gpus_per_worker": args.gpus_per_worker, "batch_size": args.batch_size,
              "runs": runs, "checks": {"complete": complete, "identical": identical}}
    (out / "ray_scale.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (out / "ray_scale.md").write_text(render(result), encoding="utf-8")
    print(render(result))
    return 0 if complete and identical else 1


if __name__ == "__main__":
    sys.exit(main())
