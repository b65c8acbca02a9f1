"""`zeroshot extract` end to end beside its bare encoder, for each GLiNER model.

    python eval/bench_extract_cpu.py [--limit 2000] [--threads 2] \
        [--models gliner-mpnet-general,gliner-minilm-fewnerd] [--out eval/results]
    python eval/bench_extract_cpu.py --device cuda --limit 0 --batch-sizes default,32 \
        --models /path/to/model --out $OUT          # one GPU: writes extract_cuda.*

For each model, in one run: the first ``--limit`` Few-NERD INTER-test sentences are written
as pre-tokenised JSONL; ``zeroshot extract`` reads them, extracts with the INTER-test schema
and writes the results file, as a user runs it (a fresh process; its wall time, the engine's
start included and excluded, and its peak RSS); then, in this process, the same model's
bare encoder forward on the same rows (label prompt included, batches built beforehand;
``eval/bench_gliner_runtime.py``'s measure). The *runner* columns are the command's own
summary line (reading, extracting and writing, after the engine started). ``--batch-sizes``
runs the command once per value (``default``: no ``--batch-size``), ``--dtypes`` once per
weights' dtype (``default``: the engine's choice, e.g. bfloat16 on a CPU with native bf16;
the bare encoder runs in the same dtype). Each run's written results are scored (strict
micro F1 against the sentences' gold spans: a check that the dtype kept the answers, not a
choice). Writes ``<name>.json`` and ``.md`` (``--name``, default ``extract_<device>``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_gliner_runtime import bare_encoder

from zeroshot.core.loaders import find_fewnerd, read_fewnerd
from zeroshot.core.metrics import evaluate
from zeroshot.core.provenance import provenance, stamp_markdown
from zeroshot.core.schema import Schema
from zeroshot.engines.gliner import GlinerEngine
from zeroshot.results import read_results


def run_extract(model: str, inputs: Path, out: Path, threads: int, device: str = "cpu",
                batch_size: int | None = None, dtype: str | None = None) -> dict:
    """`zeroshot extract` in a fresh process: wall time and that process's own peak RSS.

    The peak is the child's ``VmHWM`` (``/proc/<pid>/status``, read every 20 ms until it
    exits: the high-water mark of its own address space). ``ru_maxrss`` from ``wait4``
    is not that: Linux carries the spawning process's peak across ``exec`` into it, so it
    reported this benchmark's own size (an engine loaded here beforehand) as the child's
    (the numbers of the run at ``e829f04``)."""
    cmd = [sys.executable, "-m", "zeroshot", "extract", str(inputs), "-o", str(out),
           "--schema", "fewnerd_inter_test", "--model", model, "--threads", str(threads),
           "--overwrite", "-q", *(["--device", device] if device != "cpu" else []),
           *(["--batch-size", str(batch_size)] if batch_size else []),
           *(["--dtype", dtype] if dtype else [])]
    hwm_kib = 0
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        status_file = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            hwm_kib = max(hwm_kib, _vm_hwm_kib(status_file))
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: rc {proc.returncode}\n{stderr[-2000:]}")
    rows = sum(1 for _ in out.open())
    summary = re.search(r"([\d.]+) s, ([\d.]+) docs/s", stderr)
    return {"command": " ".join(cmd[1:]), "wall_s": wall, "rows": rows,
            "peak_rss_mib": hwm_kib / 1024, "stderr_tail": stderr[-600:],
            "runner_s": float(summary.group(1)) if summary else None}


def _vm_hwm_kib(status: Path) -> int:
    """A process's peak resident set (kB), or 0 once it has gone."""
    try:
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def started(model: str, threads: int, device: str = "cpu", dtype: str | None = None
            ) -> tuple[GlinerEngine, float]:
    """The engine, loaded here, and the seconds its start took (kept for the bare
    encoder: a child's peak RSS is its own VmHWM, so this process's size does not count)."""
    t0 = time.perf_counter()
    engine = GlinerEngine(model, threads=threads, device=device, dtype=dtype)
    return engine, time.perf_counter() - t0


def strict_f1(out: Path, examples: list) -> float:
    """Strict micro F1 of a results file against the examples' gold spans."""
    got = {doc.id: doc.spans for doc, _ in read_results(out)}
    report = evaluate([e.spans for e in examples], [got.get(e.id, ()) for e in examples])
    return report["strict"].micro.f1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default="gliner-mpnet-general,gliner-minilm-fewnerd")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-sizes", default="default",
                    help="comma-separated --batch-size values to run (default: the command's)")
    ap.add_argument("--dtypes", default="default",
                    help="comma-separated --dtype values to run (default: the engine's choice)")
    ap.add_argument("--name", help="output file stem (default extract_<device>)")
    ap.add_argument("--out", default="eval/results")
    args = ap.parse_args()
    examples = list(read_fewnerd(find_fewnerd("inter/test")))
    examples = examples[: args.limit] if args.limit else examples
    sentences = [e.tokens.tokens for e in examples]
    schema = Schema.load("fewnerd_inter_test")
    sizes = [None if b == "default" else int(b) for b in args.batch_sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "inter_test.jsonl"
        with inputs.open("w") as fh:
            for e in examples:
                fh.write(json.dumps({"id": e.id, "tokens": e.tokens.tokens}) + "\n")
        out_file = Path(tmp) / "out.jsonl"
        for model in args.models.split(","):
            for dtype in [None if d == "default" else d for d in args.dtypes.split(",")]:
                engine, start = started(model, args.threads, args.device, dtype)
                runs = []
                for b in sizes:
                    ext = run_extract(model, inputs, out_file, args.threads, args.device, b,
                                      dtype)
                    runs.append({**ext, "strict_f1": strict_f1(out_file, examples)})
                bare = bare_encoder(engine, sentences, schema, args.device)
                weights = engine.runtime_name()
                engine.close()
                for b, ext in zip(sizes, runs, strict=True):
                    rows.append({**_row(model, b, sentences, start, ext, bare),
                                 "dtype": dtype or "default", "runtime": weights})
    result = {"provenance": provenance("python eval/bench_extract_cpu.py "
                                       + " ".join(sys.argv[1:]), threads=args.threads,
                                       cpus=os.cpu_count(), device=args.device,
                                       accelerator=_accelerator(args.device)),
              "rows": rows}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = args.name or f"extract_{args.device.split(':')[0]}"
    (out / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = render(result, len(sentences), args.threads, args.device)
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def _accelerator(device: str) -> str | None:
    if not device.startswith("cuda"):
        return None
    import torch

    return torch.cuda.get_device_name(torch.device(device))


def _row(model: str, batch: int | None, sentences: list, start: float, ext: dict,
         bare: dict) -> dict:
    work = max(1e-9, ext["wall_s"] - start)
    runner = ext.get("runner_s")
    return {"model": model, "batch_size": batch or "default", "sentences": len(sentences),
            "start_s": start, "extract": ext, "extract_per_s": len(sentences) / ext["wall_s"],
            "extract_per_s_after_start": len(sentences) / work,
            "runner_per_s": len(sentences) / runner if runner else None,
            "bare_encoder": bare,
            "ratio_after_start": len(sentences) / work / bare["sentences_per_s"]}


def render(result: dict, n: int, threads: int, device: str) -> list[str]:
    lines = [f"# `zeroshot extract` on {device.upper() if device != 'cpu' else 'CPU'} beside "
             "the bare encoder", "",
             *stamp_markdown(result["provenance"]), "",
             f"{n} Few-NERD INTER-test sentences (the first ones) as pre-tokenised JSONL, the "
             "17-label INTER-test schema, each model's own threshold, "
             f"{threads} torch threads. `extract` is a fresh `zeroshot extract` process "
             "(read, extract, write the results file); 'after start' takes out the engine "
             "start measured on its own in this process; 'runner' is the command's own "
             "summary (reading, extracting, writing; the engine started). The bare encoder "
             "is the same model's encoder forward on the same rows, label prompt included, "
             "batches built beforehand.", "",
             "| model | --dtype (runtime) | --batch-size | engine start s | extract s | "
             "sentences/s | sentences/s after start | runner sentences/s | bare encoder "
             "sentences/s | after start / bare | peak RSS MiB | strict F1 |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        runner = f"{r['runner_per_s']:.0f}" if r.get("runner_per_s") else "–"
        f1 = r["extract"].get("strict_f1")
        lines.append(f"| `{Path(r['model']).name}` | {r.get('dtype', 'default')} "
                     f"(`{r.get('runtime', '?')}`) | {r.get('batch_size', 'default')} | "
                     f"{r['start_s']:.1f} | {r['extract']['wall_s']:.1f} | "
                     f"{r['extract_per_s']:.0f} | {r['extract_per_s_after_start']:.0f} | "
                     f"{runner} | {r['bare_encoder']['sentences_per_s']:.0f} | "
                     f"{r['ratio_after_start']:.2f} | {r['extract']['peak_rss_mib']:.0f} | "
                     + ("–" if f1 is None else f"{100 * f1:.2f}") + " |")
    return lines


if __name__ == "__main__":
    sys.exit(main())
