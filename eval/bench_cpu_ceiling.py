"""What bounds `zeroshot extract` on CPU: the stack's import, the engine's start and the bare
encoder's own rate, beside two cheaper encoders tried for #17 (int8 weights, packed rows).

    python eval/bench_cpu_ceiling.py [--limit 1000] [--threads 2] \
        [--models gliner-minilm-general,gliner-mpnet-general] \
        [--devsets .carry/devsets --dev-limit 300] [--out eval/results/cpu_ceiling]

Speed is measured on the first ``--limit`` Few-NERD INTER *train* sentences (no score is
read from them) under the 17-label INTER-test schema; scores only on the zero-shot dev sets
(``--devsets``, built by ``eval/build_general_bundle.py``). For each model, in one process:

1. **import**: seconds to import torch, transformers and gliner, each in a fresh
   interpreter (best of three; gliner's import includes the other two), and gliner's
   with scikit-learn unimportable (transformers imports it where installed: the dev and
   train extras pull it in, the README's main install does not);
2. **engine start**: load and self-check, in this process (gliner imported before);
3. **bare encoder** (float32): the encoder forward alone on the engine's rows, label
   prompt included, batches built beforehand (``bench_gliner_runtime.bare_encoder``), then
   on the same sentences
   - through transformers' own forward, float32 and with torch's dynamic int8
     quantisation of the encoder's Linear layers (int8 weights, float32 activations),
   - *packed*: ``n`` consecutive sentences joined into one row behind one label prompt;
4. the **engine** itself over the same sentences (``extract``, after a warm-up);
5. with ``--devsets``: the mean zero-shot dev strict F1 (at the best threshold of the
   trainer's grid, by dev mean) of the engine as shipped, with the int8 encoder, and with
   packed rows (``n`` sentences joined into one text, spans mapped back to their sentence,
   spans across two sentences dropped: a prototype of packing, not the runtime's path).

Writes ``<name>.json`` and ``.md`` under ``--out``, stamped with commit and versions.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from bench_gliner_runtime import bare_encoder, timed_extract

from zeroshot.core.loaders import find_fewnerd, read_fewnerd
from zeroshot.core.provenance import provenance, stamp_markdown
from zeroshot.core.schema import Schema
from zeroshot.core.text import TokenizedText
from zeroshot.engines.gliner import GlinerEngine
from zeroshot.training.devsets import evaluate_devsets, read_devsets


def import_seconds(module: str, tries: int = 3, *, hide: str = "") -> float:
    """Best-of-``tries`` seconds to import ``module`` in a fresh interpreter; ``hide``: a
    package made unimportable first (as if not installed: ``find_spec`` returns None)."""
    code = (f"import sys, time; sys.modules[{hide!r}] = None; " if hide else "import time; ") + (
        f"t = time.perf_counter(); import {module}; print(time.perf_counter() - t)")
    return min(float(subprocess.run([sys.executable, "-c", code], check=True,
                                    capture_output=True, text=True).stdout.split()[-1])
               for _ in range(tries))


def int8_encoder(engine: GlinerEngine) -> None:
    """The engine's encoder (transformers' forward) with int8 Linear weights, in place."""
    runtime = engine.runtime
    with warnings.catch_warnings():  # torch.ao.quantization's deprecation notice
        warnings.simplefilter("ignore")
        runtime.encode = torch.ao.quantization.quantize_dynamic(
            runtime.encode, {torch.nn.Linear}, dtype=torch.qint8)


def packed(sentences: Sequence[Sequence[str]], n: int) -> list[list[str]]:
    """``n`` consecutive sentences joined into one word list each."""
    return [[w for s in sentences[i:i + n] for w in s] for i in range(0, len(sentences), n)]


@dataclasses.dataclass
class _Spans:
    spans: tuple


class PackedEngine:
    """An engine's ``extract`` over packed texts, spans mapped back to their sentence
    (spans across two sentences dropped): the dev-F1 side of packing."""

    def __init__(self, engine: GlinerEngine, n: int):
        self.engine, self.n = engine, n

    def extract(self, texts: Sequence[Sequence[str]], schema: Schema, ids: Any = None
                ) -> list[_Spans]:
        out: list[_Spans] = []
        groups = [texts[i:i + self.n] for i in range(0, len(texts), self.n)]
        results = self.engine.extract([[w for s in g for w in s] for g in groups], schema)
        for group, result in zip(groups, results, strict=True):
            starts = list(itertools.accumulate((len(s) for s in group), initial=0))
            chars = TokenizedText.from_tokens([w for s in group for w in s]).starts
            mine: list[list[Any]] = [[] for _ in group]
            for s in result.spans:
                k = max(i for i in range(len(group)) if starts[i] <= s.token_start)
                if s.token_end <= starts[k + 1]:
                    a, c = starts[k], chars[starts[k]]
                    mine[k].append(dataclasses.replace(
                        s, start=s.start - c, end=s.end - c,
                        token_start=s.token_start - a, token_end=s.token_end - a))
            out.extend(_Spans(tuple(m)) for m in mine)
        return out


def dev_mean(engine: Any, devsets: list) -> dict[str, Any]:
    r = evaluate_devsets(engine, devsets)
    best = f"{r['best_threshold']:.2f}"
    return {"best_threshold": r["best_threshold"], "mean_f1": 100 * r["best_mean_f1"],
            "per_set_f1": {k: 100 * v["by_threshold"][best]["f1"] for k, v in r["sets"].items()}}


def measure_model(model: str, sentences: list, schema: Schema, pack: Sequence[int],
                  devsets: list | None) -> dict[str, Any]:
    t0 = time.perf_counter()
    engine = GlinerEngine(model=model, device="cpu", dtype="float32")
    out: dict[str, Any] = {"model": model, "engine_start_s": time.perf_counter() - t0}
    n = len(sentences)
    rate = lambda r: n / r["seconds"]  # noqa: E731  (sentences, not rows, per second)
    out["bare_float32"] = rate(bare_encoder(engine, sentences, schema, "cpu"))
    for k in pack:
        out[f"bare_packed_{k}"] = rate(bare_encoder(engine, packed(sentences, k), schema, "cpu"))
    engine.extract(sentences[:64], schema)
    out["engine"] = n / timed_extract(engine.extract, sentences, schema, "cpu")[0]
    plain = GlinerEngine(model=model, device="cpu", dtype="float32", encoder="transformers")
    out["bare_transformers_float32"] = rate(bare_encoder(plain, sentences, schema, "cpu"))
    int8_encoder(plain)
    out["bare_transformers_int8"] = rate(bare_encoder(plain, sentences, schema, "cpu"))
    if devsets:
        out["dev"] = {"shipped": dev_mean(engine, devsets), "int8": dev_mean(plain, devsets),
                      **{f"packed_{k}": dev_mean(PackedEngine(engine, k), devsets)
                         for k in pack}}
    engine.close()
    plain.close()
    return out


def render(r: dict[str, Any]) -> str:
    pack = r["pack"]
    lines = ["# What bounds the GLiNER engine on CPU", "", *stamp_markdown(r["provenance"]), "",
             f"{r['sentences']} Few-NERD INTER-train sentences (speed only), the 17-label "
             f"INTER-test schema, {r['threads']} torch threads, float32. Sentences per second; "
             "'bare' is the encoder forward alone on built batches, label prompt included.", "",
             f"Import in a fresh interpreter (best of 3): torch {r['import_s']['torch']:.2f} s, "
             f"transformers {r['import_s']['transformers']:.2f} s, gliner (both included) "
             f"{r['import_s']['gliner']:.2f} s"
             + (f"; gliner with scikit-learn not importable (as in an install without the "
                f"dev or train extras) {r['import_s']['gliner_without_sklearn']:.2f} s"
                if "gliner_without_sklearn" in r["import_s"] else "") + ".", "",
             "| model | engine start s | engine | bare | bare, transformers forward | "
             "bare, int8 weights | " + " | ".join(f"bare, {k} per row" for k in pack) + " |",
             "|---|---|---|---|---|---|" + "---|" * len(pack)]
    for m in r["models"]:
        lines.append(f"| `{m['model']}` | {m['engine_start_s']:.1f} | {m['engine']:.0f} | "
                     f"{m['bare_float32']:.0f} | {m['bare_transformers_float32']:.0f} | "
                     f"{m['bare_transformers_int8']:.0f} | "
                     + " | ".join(f"{m[f'bare_packed_{k}']:.0f}" for k in pack) + " |")
    dev = [m for m in r["models"] if "dev" in m]
    if dev:
        lines += ["", f"Zero-shot dev sets ({r['dev_limit'] or 'all'} sentences each): mean "
                  "strict F1 at the best threshold of the grid (dev mean), threshold in "
                  "brackets.", "", "| model | " + " | ".join(dev[0]["dev"]) + " |",
                  "|---|" + "---|" * len(dev[0]["dev"])]
        for m in dev:
            lines.append(f"| `{m['model']}` | " + " | ".join(
                f"{v['mean_f1']:.2f} ({v['best_threshold']:.2f})" for v in m["dev"].values())
                + " |")
        for m in dev:  # each set at its variant's chosen threshold
            sets = next(iter(m["dev"].values()))["per_set_f1"]
            lines += ["", f"`{m['model']}` per dev set, strict F1 at each variant's threshold "
                      "(fewnerd_dev_trained_types is reported only: its types were trained, "
                      "so it is not in the zero-shot mean):", "",
                      "| dev set | " + " | ".join(m["dev"]) + " |",
                      "|---|" + "---|" * len(m["dev"])]
            lines += [f"| {name} | " + " | ".join(f"{v['per_set_f1'][name]:.2f}"
                                                  for v in m["dev"].values()) + " |"
                      for name in sets]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--render", metavar="JSON", help="only write the .md of a results file")
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default="gliner-minilm-general,gliner-mpnet-general")
    ap.add_argument("--pack", default="4", help="comma list: sentences per packed row")
    ap.add_argument("--devsets", help="dev-set folder (eval/build_general_bundle.py)")
    ap.add_argument("--dev-limit", type=int, default=300, help="first N of each dev set")
    ap.add_argument("--name", default="cpu_ceiling")
    ap.add_argument("--out", default="eval/results/cpu_ceiling")
    args = ap.parse_args()
    if args.render:
        path = Path(args.render)
        path.with_suffix(".md").write_text(render(json.loads(path.read_text())))
        return 0
    torch.set_num_threads(args.threads)
    train = find_fewnerd("inter/train_part_a")
    sentences = [list(e.tokens.tokens)
                 for e in itertools.islice(read_fewnerd(train), args.limit)]
    schema = Schema.load("fewnerd_inter_test")
    devsets = None
    if args.devsets:
        devsets = [dataclasses.replace(d, examples=d.examples[:args.dev_limit or None])
                   for d in read_devsets(args.devsets)]
    pack = [int(k) for k in args.pack.split(",") if k]
    result: dict[str, Any] = {
        "provenance": provenance(" ".join(["python", *sys.argv])), "sentences": len(sentences),
        "threads": args.threads, "pack": pack, "dev_limit": args.dev_limit,
        "import_s": {**{m: import_seconds(m) for m in ("torch", "transformers", "gliner")},
                     "gliner_without_sklearn": import_seconds("gliner", hide="sklearn")},
        "models": []}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import gliner  # noqa: F401  (once here, so that the engine start below leaves it out)

    for model in filter(None, args.models.split(",")):
        result["models"].append(measure_model(model, sentences, schema, pack, devsets))
        (out / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
        (out / f"{args.name}.md").write_text(render(result))
    print(render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
