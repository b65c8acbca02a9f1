"""One training run of the general GLiNER model from a carry bundle (eval/build_general_bundle.py).

    python eval/train_general.py --bundle .carry --config eval/configs/general_minilm_a.json \
        --out runs/a [--time-budget 480] [--test] [--max-steps N] [--mixture-limit N]

Trains on bundle/mixture.jsonl.gz (asserting that no sentence is an INTER-test sentence),
evaluates on bundle/devsets/ during training and at the end, chooses the threshold on the
zero-shot dev sets, scores Few-NERD INTER test once at that threshold (--test), exports
the model to OUT/model and writes OUT/summary.json. In the config, a path starting with
"bundle:" is resolved against --bundle.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from zeroshot.core.loaders import read_fewnerd
from zeroshot.core.metrics import evaluate
from zeroshot.core.schema import Schema
from zeroshot.training.devsets import read_devsets
from zeroshot.training.mixture import Mixture
from zeroshot.training.splits import inter_test_texts
from zeroshot.training.trainer import TrainConfig, dataset_from_mixture, train

logger = logging.getLogger("train_general")


def inter_test_scorer(path: Path, limit: int | None, device: str, batch: int):
    """A ``test(model, threshold)`` callable: Few-NERD INTER test, every mode, 95 % CIs."""

    def score(model, threshold: float) -> dict:
        from zeroshot.engines.gliner import GlinerEngine

        schema = Schema.load("fewnerd_inter_test").with_options(threshold=threshold)
        examples = list(read_fewnerd(path, limit=limit))
        splitter = model.data_processor.words_splitter
        engine = GlinerEngine(model, batch_size=batch, device=device)
        t0 = time.perf_counter()
        results = engine.extract([e.tokens.tokens for e in examples], schema,
                                 ids=[e.id for e in examples])
        seconds = time.perf_counter() - t0
        model.data_processor.words_splitter = splitter
        report = evaluate([e.spans for e in examples], [r.spans for r in results],
                          labels=schema.names, n_resamples=300)
        out = {"data": str(path), "sentences": len(examples), "threshold": threshold,
               "seconds": round(seconds, 1)}
        for mode in ("strict", "exact", "partial", "type"):
            m = report[mode]
            out[mode] = {"p": m.micro.precision, "r": m.micro.recall, "f1": m.micro.f1,
                         "f1_ci": list(m.micro.ci["f1"]), "macro_f1": m.macro.f1}
        out["per_type_strict_f1"] = {k: v.f1 for k, v in report["strict"].per_type.items()}
        logger.info("INTER test at %.2f: strict F1 %.4f", threshold, out["strict"]["f1"])
        return out

    return score


def resolve(value, bundle: Path):
    if isinstance(value, str) and value.startswith("bundle:"):
        return str(bundle / value[len("bundle:"):])
    return value


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default=".carry")
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--time-budget", type=float, help="seconds for the whole run")
    ap.add_argument("--reserve", type=float, help="of the budget, kept for final eval + export")
    ap.add_argument("--max-steps", type=int)
    ap.add_argument("--device", default=None)
    ap.add_argument("--test", action="store_true", help="score INTER test at the dev threshold")
    ap.add_argument("--test-limit", type=int, help="only the first N INTER-test sentences")
    ap.add_argument("--mixture-limit", type=int, help="only the first N mixture records (smoke)")
    ap.add_argument("--dev-limit", type=int, help="only the first N sentences of each dev set")
    ap.add_argument("--eval-every", type=int, help="override eval_every_steps")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for name in ("httpx", "urllib3", "transformers", "gliner"):
        logging.getLogger(name).setLevel(logging.WARNING)
    t0 = time.perf_counter()
    bundle = Path(args.bundle)
    raw = json.loads(Path(args.config).read_text(encoding="utf-8"))
    raw = {k: resolve(v, bundle) for k, v in raw.items()}
    cfg = TrainConfig.from_dict({**raw, **{k: v for k, v in {
        "time_budget_s": args.time_budget, "reserve_s": args.reserve,
        "max_steps": args.max_steps, "device": args.device,
        "eval_every_steps": args.eval_every}.items() if v is not None}})
    mixture = Mixture.read(bundle / "mixture.jsonl.gz")
    test_path = bundle / "fewnerd" / "inter" / "test.txt.gz"
    mixture.assert_disjoint(inter_test_texts("inter/test", bundle / "fewnerd"),
                            "Few-NERD INTER-test")
    if args.mixture_limit:
        mixture.records = mixture.records[:args.mixture_limit]
    dataset = dataset_from_mixture(mixture, cfg)
    devsets = [d.head(args.dev_limit) for d in read_devsets(bundle / "devsets")]
    logger.info("%d records, %d reads per epoch, %d dev sets, loaded in %.1fs",
                len(mixture.records), len(dataset), len(devsets), time.perf_counter() - t0)
    if cfg.time_budget_s:  # the budget counts from process start
        cfg.time_budget_s -= time.perf_counter() - t0
    from zeroshot.training.trainer import resolve_device

    device = resolve_device(cfg.device)
    test = inter_test_scorer(test_path, args.test_limit, device,
                             256 if device == "cuda" else 16) if args.test else None
    bundle_info = {}
    if (bundle / "bundle.json").is_file():
        bundle_info = json.loads((bundle / "bundle.json").read_text())
        os.environ.setdefault("ZEROSHOT_COMMIT", bundle_info.get("commit", ""))
    train_data = {"description": f"mixture {mixture.stats.get('mixture')} "
                                 f"({mixture.stats.get('sentences')} sentences, "
                                 f"{mixture.stats.get('labels')} label strings, split "
                                 f"{mixture.stats.get('split')}); see mixture_stats",
                  "mixture_stats": {k: v for k, v in mixture.stats.items() if k != "dropped"},
                  "bundle": bundle_info}
    result = train(cfg, dataset, devsets, args.out, train_data=train_data, test=test,
                   command="python eval/train_general.py " + shlex.join(sys.argv[1:]),
                   test_sentences=(args.test_limit or 14006) if args.test else 0)
    meta = result.meta
    thr = meta["threshold"]
    summary = {
        "name": cfg.name, "config": args.config, "steps": meta["steps"],
        "best_step": meta["best_step"], "train_seconds": meta["train_seconds"],
        "run_seconds": round(time.perf_counter() - t0, 1), "stop_reason": meta["stop_reason"],
        "threshold": thr, "dev_mean_f1": meta["dev_scores"]["best_mean_f1"],
        "dev_f1": {n: v["by_threshold"][f"{thr:.2f}"]["f1"]
                   for n, v in meta["dev_scores"]["sets"].items()},
        "dev_mean_f1_by_threshold": meta["dev_scores"]["zero_shot_mean_f1"],
        "test_strict_f1": (meta["test_scores"] or {}).get("strict", {}).get("f1"),
        "test": meta["test_scores"], "eval_history": meta["eval_history"],
        "model_dir": str(result.model_dir), "device": meta["device"], "log": meta["log"],
    }
    (Path(args.out) / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: summary[k] for k in ("name", "steps", "threshold", "dev_mean_f1",
                                              "test_strict_f1", "run_seconds")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
