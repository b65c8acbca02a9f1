"""Train a GLiNER model: one trainer for the GPU runs (eval/device_general.sh) and
``zeroshot train``.

It wraps gliner's Trainer as ``eval/train_gliner.py`` did: fp32 weights (fp16 weights
gave NaN losses), bf16 autocast allowed on CUDA, linear warmup and decay. Added here:

* dev evaluation every N steps (or each epoch) on the dev sets through the zeroshot
  GLiNER engine and core metrics, keeping the best weights (early stopping on the mean
  strict F1 of the zero-shot dev sets, best over the threshold grid);
* a wall-clock budget: the learning rate decays with elapsed time instead of steps, and
  training stops early enough to leave ``reserve_s`` for the final evaluation and export,
  so a run in a time-limited call always ends with a model;
* threshold calibration on the full dev sets (the grid threshold with the best mean
  zero-shot strict micro F1), written with the dev scores to ``zeroshot_model.json``;
* export as fp16 safetensors (or int8 weight-only) plus a model card.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from zeroshot.training.devsets import THRESHOLDS, DevSet, evaluate_devsets
from zeroshot.training.export import (
    export_model,
    git_commit,
    versions,
    write_model_card,
    write_model_meta,
)

logger = logging.getLogger(__name__)

DEFAULT_GLINER_CONFIG: dict[str, Any] = {
    "span_mode": "markerV0", "max_width": 12, "max_len": 256, "hidden_size": 384,
    "dropout": 0.4, "max_types": 25, "max_neg_type_ratio": 1,
}


@dataclasses.dataclass
class TrainConfig:
    """Everything that decides a training run besides its data."""

    name: str = "gliner-general"
    backbone: str | None = None      # encoder folder: train a new GLiNER head on it
    backbone_name: str = ""          # what the backbone is, for the model card
    base_model: str | None = None    # GLiNER folder: continue from its weights
    # sentence-encoder folder: a bi-encoder model (labels embedded by this encoder on their
    # own, once per schema at inference; the text encoder never sees the label prompt)
    labels_encoder: str | None = None
    # GLiNER folder: a new model on ``backbone`` starts from this model's weights where
    # names and shapes match (e.g. a bi-encoder's text encoder and span layers from a
    # trained uni-encoder); see init_model
    init_from: str | None = None
    gliner_config: dict[str, Any] = dataclasses.field(
        default_factory=lambda: dict(DEFAULT_GLINER_CONFIG))
    labels_per_prompt: tuple[int, int] = (15, 25)
    variant_rate: float = 0.5
    # mixture prompts: pool -> {coarse parent: [fine labels]} added as negatives on top of
    # the mixture's own parent rules (e.g. "person" for Few-NERD's fine person types)
    extra_parents: dict[str, dict[str, list[str]]] = dataclasses.field(default_factory=dict)
    learning_rate: float = 5e-5
    others_lr: float = 1e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    batch_size: int = 32
    max_grad_norm: float = 1.0
    epochs: float = 1.0
    max_steps: int | None = None
    time_budget_s: float | None = None  # the whole run: training, final evaluation, export
    reserve_s: float = 90.0             # of the budget, kept for final evaluation + export
    eval_every_steps: int | None = None  # None: at the end of each epoch
    eval_limit: int | None = 300         # sentences per dev set in the evaluations in training
    patience: int | None = 3             # evaluations without improvement before stopping
    eval_before: bool = False            # score the dev sets before training too
    thresholds: tuple[float, ...] = THRESHOLDS
    # dev sets reported but not used for choices in this run (e.g. sets the starting model
    # was trained on: the Few-NERD dev sentences for a run continued from the Few-NERD model)
    dev_not_zero_shot: tuple[str, ...] = ()
    bf16: bool = False
    device: str = "auto"
    seed: int = 42
    min_grad_norm: float = 0.0           # > 0: stop when the gradient norm stays below it
    dataloader_workers: int = 0
    eval_batch_size: int | None = None
    # weights' dtype of the engine in dev evaluations. The engine's runtime casts the model
    # it is given in place (fp16 by default on CUDA); a training model must stay fp32.
    eval_dtype: str = "float32"
    logging_steps: int = 50
    progress: bool = True
    export_int8: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields - {"_comment"})
        if unknown:
            raise ValueError(f"unknown training options {unknown}; known: {sorted(fields)}")
        data = {k: v for k, v in data.items() if k in fields}
        for key in ("labels_per_prompt", "thresholds", "dev_not_zero_shot"):
            if key in data:
                data[key] = tuple(data[key])
        if "gliner_config" in data:
            data["gliner_config"] = {**DEFAULT_GLINER_CONFIG, **data["gliner_config"]}
        return cls(**data)

    @classmethod
    def from_json(cls, path: str | Path, **overrides: Any) -> TrainConfig:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls.from_dict({**data, **{k: v for k, v in overrides.items() if v is not None}})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class TrainResult:
    model_dir: Path
    meta: dict[str, Any]
    model: Any = None


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda, but torch sees no CUDA device")
    return device


def init_model(cfg: TrainConfig) -> Any:
    """A fp32 GLiNER model: from ``base_model`` weights, or a new head on ``backbone``."""
    if bool(cfg.backbone) == bool(cfg.base_model):
        raise ValueError("give exactly one of backbone (new model) or base_model (fine-tune)")
    if cfg.base_model and cfg.labels_encoder:
        raise ValueError("labels_encoder builds a new bi-encoder model: give a backbone, "
                         "not a base_model")
    if cfg.base_model:
        from zeroshot.engines.gliner import load_gliner

        model = load_gliner(cfg.base_model, allow_hub=False)
        for key in ("max_width", "span_mode", "hidden_size"):
            if key in cfg.gliner_config and getattr(model.config, key, None) != \
                    cfg.gliner_config[key]:
                logger.warning("base model's %s is %s; the config's %s is ignored", key,
                               getattr(model.config, key, None), cfg.gliner_config[key])
        return model.float()
    from gliner import GLiNER, GLiNERConfig

    gcfg = dict(cfg.gliner_config, model_name=str(cfg.backbone))
    if cfg.labels_encoder:
        # gliner 0.2.29's bi-encoder span model never runs its LSTM: none is built
        gcfg.update(labels_encoder=str(cfg.labels_encoder), num_rnn_layers=0)
    model = GLiNER.from_config(GLiNERConfig(**gcfg), backbone_from_pretrained=True,
                               load_tokenizer=True).float()
    if cfg.init_from:
        from zeroshot.engines.gliner import load_gliner

        copy_matching_weights(load_gliner(cfg.init_from, allow_hub=False), model)
    return model


def per_example_labels(model: Any) -> None:
    """Make a bi-encoder's training batches keep each example's own label set.

    gliner 0.2.29's bi-encoder processor pools every label of a batch into one set
    shared by all its examples, and reads predefined label sets under ``ner_label``
    where the datasets write ``ner_labels``: so a sentence from one corpus was scored
    against the other corpora's types, its unannotated mentions of them counting as
    negatives, and the mixture's label plans (negatives, parent rules) were dropped.
    The uni-encoder's per-example mapping is bound on this model's processor instead;
    its collator then encodes the batch's distinct labels once and gathers them per row
    (``labels_gather_indices``). A uni-encoder is left as it is."""
    import types

    from gliner.data_processing.processor import BaseProcessor

    from zeroshot.engines.gliner_runtime import is_bi_encoder

    if is_bi_encoder(model):
        proc = model.data_processor
        proc.batch_generate_class_mappings = types.MethodType(
            BaseProcessor.batch_generate_class_mappings, proc)


def copy_matching_weights(src: Any, dst: Any) -> dict[str, int]:
    """Copy ``src``'s weights into ``dst`` (two ``gliner.GLiNER``) wherever a tensor's
    name exists in both: same shape, or a 2-D table whose rows differ (an embedding
    matrix with more or fewer added tokens: the rows both have). Logs and returns the
    counts; raises when nothing matched."""
    import torch

    want = dst.model.state_dict()
    counts = {"copied": 0, "rows": 0, "shape differs": 0, "only in init": 0}
    with torch.no_grad():
        for name, t in src.model.state_dict().items():
            target = want.get(name)
            if target is None:
                counts["only in init"] += 1
            elif target.shape == t.shape:
                target.copy_(t)
                counts["copied"] += 1
            elif t.dim() == 2 and target.dim() == 2 and t.shape[1] == target.shape[1]:
                n = min(len(t), len(target))
                target[:n].copy_(t[:n])
                counts["rows"] += 1
            else:
                counts["shape differs"] += 1
    if not counts["copied"]:
        raise ValueError("init_from: no weight of the init model matches the new model")
    logger.info("init_from: %d tensors copied, %d by their shared rows, %d of another shape "
                "and %d not in the new model left out; %d of the new model's %d keep their "
                "own start",
                counts["copied"], counts["rows"], counts["shape differs"],
                counts["only in init"], len(want) - counts["copied"] - counts["rows"],
                len(want))
    return counts


class _Clock:
    """Wall-clock of the training phase, for the time-based schedule and the stop."""

    def __init__(self, train_budget: float | None) -> None:
        self.budget = train_budget
        self.start: float | None = None

    def fraction(self) -> float:
        if self.start is None or not self.budget:
            return 0.0
        return min(1.0, (time.perf_counter() - self.start) / self.budget)


def _lr_lambda(cfg: TrainConfig, steps: int, clock: _Clock) -> Callable[[int], float]:
    warm = cfg.warmup_ratio

    def factor(step: int) -> float:
        f = clock.fraction() if clock.budget else step / max(1, steps)
        if warm > 0 and f < warm:
            return max(f / warm, 1e-3)
        return max(0.0, (1.0 - f) / max(1e-9, 1.0 - warm))

    return factor


def _dev_eval(model: Any, devsets: Sequence[DevSet], cfg: TrainConfig, device: str,
              limit: int | None, ci: bool = False) -> dict[str, Any]:
    """Score the dev sets with the zeroshot engine; the model is left as it was found."""
    from zeroshot.engines.gliner import GlinerEngine

    was_training = model.training
    splitter = model.data_processor.words_splitter
    dtypes = {p.dtype for p in model.parameters()}
    batch = cfg.eval_batch_size or (128 if device == "cuda" else 16)
    try:
        engine = GlinerEngine(model, batch_size=batch, device=device, dtype=cfg.eval_dtype)
        return evaluate_devsets(engine, [d.head(limit) for d in devsets], cfg.thresholds, ci=ci)
    finally:
        model.data_processor.words_splitter = splitter
        model.train(was_training)
        after = {p.dtype for p in model.parameters()}
        if after != dtypes and len(dtypes) == 1:
            logger.warning("the dev evaluation cast the weights to %s; back to %s (rounded "
                           "once)", sorted(map(str, after)), next(iter(dtypes)))
            model.to(dtype=next(iter(dtypes)))


def train(cfg: TrainConfig, dataset: Any, devsets: Sequence[DevSet], out_dir: str | Path, *,
          train_data: dict[str, Any], command: str = "",
          test: Callable[[Any, float], dict[str, Any]] | None = None,
          model_dir: str | Path | None = None, test_sentences: int = 0) -> TrainResult:
    """Train on ``dataset`` (a NegativeSamplingDataset), choose on ``devsets``, export to
    ``model_dir`` (default ``out_dir/model``; ``out_dir`` also holds the trainer's scratch
    folder). ``test(model, threshold)``, when given, is called once after the threshold
    is chosen and its scores are stored beside the dev scores; ``test_sentences`` (its size)
    lets a time-budgeted run keep enough time for it: once an evaluation has measured the
    engine's speed, training stops early enough for the full dev sets, the test and the
    export (at least ``reserve_s``)."""
    t_run = time.perf_counter()
    if len(dataset) == 0:
        raise ValueError("no training examples")
    devsets = _choice_devsets(cfg, devsets)
    device = _prepare(cfg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = init_model(cfg)
    per_example_labels(model)
    before = _dev_eval(model, devsets, cfg, device, None) if cfg.eval_before else None
    state = _TrainState()
    if before:
        logger.info("dev before training: mean zero-shot strict F1 %.4f at %s",
                    before["best_mean_f1"], before["best_threshold"])
        if cfg.eval_limit is None:  # the starting weights compete with the trained ones
            state.record(0, before, model)
    steps, clock = _schedule(cfg, len(dataset), t_run)
    final_sentences = sum(len(d.examples) for d in devsets) + test_sentences
    trainer = _make_trainer(model, dataset, devsets, cfg, device, out, steps, clock, state,
                            lambda scores: _adapt_budget(cfg, clock, t_run, final_sentences,
                                                         scores))
    t0 = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - t0
    dev = _final_dev_scores(model, devsets, cfg, device, state, trainer.state.global_step)
    threshold = dev["best_threshold"]
    model_dir = export_model(model, Path(model_dir) if model_dir else out / "model",
                             int8=cfg.export_int8)
    meta = _model_meta(cfg, model, trainer, state, dev=dev, before=before, device=device,
                       train_data=train_data, command=command, train_seconds=train_seconds,
                       t_run=t_run)
    write_model_meta(model_dir, meta)  # written before the test: a run stopped there keeps it
    write_model_card(model_dir, meta)
    if test:
        meta["test_scores"] = test(model, threshold)
        meta["run_seconds"] = round(time.perf_counter() - t_run, 1)
        write_model_meta(model_dir, meta)
        write_model_card(model_dir, meta)
    return TrainResult(model_dir, meta, model)


def _choice_devsets(cfg: TrainConfig, devsets: Sequence[DevSet]) -> list[DevSet]:
    """The dev sets with ``cfg.dev_not_zero_shot`` marked as not counting for model
    choice; at least one must still count."""
    unknown = sorted(set(cfg.dev_not_zero_shot) - {d.name for d in devsets})
    if unknown:
        raise ValueError(f"dev_not_zero_shot names unknown dev sets {unknown}")
    out = [dataclasses.replace(d, zero_shot=False) if d.name in cfg.dev_not_zero_shot
           else d for d in devsets]
    if not any(d.zero_shot for d in out):
        raise ValueError("need at least one dev set that counts for model choice")
    return out


def _model_meta(cfg: TrainConfig, model: Any, trainer: Any, state: _TrainState, *,
                dev: dict[str, Any], before: dict[str, Any] | None, device: str,
                train_data: dict[str, Any], command: str, train_seconds: float,
                t_run: float) -> dict[str, Any]:
    """What ``zeroshot_model.json`` records of a run (test scores come later)."""
    return {
        "name": cfg.name, "threshold": dev["best_threshold"],
        "threshold_chosen_on": "mean strict micro F1 of the zero-shot dev sets "
                               f"{dev['zero_shot_sets']} over the grid {list(cfg.thresholds)}",
        "dev_scores": dev, "dev_scores_before": before, "test_scores": None,
        "train_data": train_data,
        "backbone": cfg.backbone_name or cfg.backbone or f"continued from {cfg.base_model}",
        "gliner_config": {k: getattr(model.config, k, None) for k in DEFAULT_GLINER_CONFIG},
        "weights": "int8 weight-only (model.int8.safetensors)" if cfg.export_int8
                   else "fp16 safetensors",
        "train_config": cfg.to_dict(), "steps": trainer.state.global_step,
        "best_step": state.best_step, "train_seconds": round(train_seconds, 1),
        "run_seconds": round(time.perf_counter() - t_run, 1),
        "stop_reason": state.stop_reason or "schedule finished",
        "eval_history": state.history, "device": _device_name(device),
        "commit": git_commit(), "versions": versions(), "command": command,
        "log": [h for h in trainer.state.log_history if "loss" in h][-5:],
    }


def _prepare(cfg: TrainConfig) -> str:
    """Seed everything, pick the device, allow TF32 on CUDA."""
    import numpy as np
    import torch

    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    device = resolve_device(cfg.device)
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return device


def _device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name(0) if device == "cuda" else "cpu"


def _schedule(cfg: TrainConfig, n_reads: int, t_run: float) -> tuple[int, _Clock]:
    """Step limit and clock: steps from epochs, or (time budget) the clock decides."""
    steps = cfg.max_steps or max(1, math.ceil(math.ceil(n_reads / cfg.batch_size) * cfg.epochs))
    if not cfg.time_budget_s:
        return steps, _Clock(None)
    train_budget = cfg.time_budget_s - cfg.reserve_s - (time.perf_counter() - t_run)
    if train_budget <= 0:
        raise ValueError(f"time budget {cfg.time_budget_s}s leaves no time to train after "
                         f"the {cfg.reserve_s}s reserve")
    return cfg.max_steps or 10**9, _Clock(train_budget)


def _adapt_budget(cfg: TrainConfig, clock: _Clock, t_run: float, final_sentences: int,
                  scores: dict[str, Any]) -> None:
    """Shrink the training budget so the final evaluation fits, at the measured speed."""
    if not cfg.time_budget_s or clock.start is None or clock.budget is None:
        return
    seconds = sum(v["seconds"] for v in scores["sets"].values())
    done = sum(v["sentences"] for v in scores["sets"].values())
    if seconds <= 0 or done == 0:
        return
    need = max(cfg.reserve_s, 1.3 * final_sentences * seconds / done + 30)
    clock.budget = min(clock.budget, cfg.time_budget_s - need - (clock.start - t_run))
    logger.info("final evaluation of %d sentences estimated at %.0fs: training budget %.0fs",
                final_sentences, need, clock.budget)


def _final_dev_scores(model: Any, devsets: Sequence[DevSet], cfg: TrainConfig, device: str,
                      state: _TrainState, step: int) -> dict[str, Any]:
    """Full dev scores of the best weights (restored if an earlier evaluation won)."""
    dev = None
    if state.last_eval_step != step:  # with no eval limit, these are the full scores
        dev = _dev_eval(model, devsets, cfg, device, cfg.eval_limit, ci=cfg.eval_limit is None)
        state.record(step, dev, model)
    if state.best_step != step and state.best_weights is not None:
        logger.info("restoring the weights of step %d (best dev mean F1 %.4f)", state.best_step,
                    state.best_f1)
        model.model.load_state_dict(state.best_weights)
        dev = None
    if dev is None or cfg.eval_limit is not None:
        dev = _dev_eval(model, devsets, cfg, device, None, ci=True)
    logger.info("dev (full): mean zero-shot strict F1 %.4f at threshold %.2f",
                dev["best_mean_f1"], dev["best_threshold"])
    return dev


class _TrainState:
    """Best dev score so far, its weights, and why training stopped."""

    def __init__(self) -> None:
        self.best_f1 = -1.0
        self.best_step = -1
        self.best_weights: dict[str, Any] | None = None
        self.last_eval_step = -1
        self.bad_evals = 0
        self.history: list[dict[str, Any]] = []
        self.stop_reason = ""

    def record(self, step: int, scores: dict[str, Any], model: Any) -> bool:
        """Store an evaluation; True when it is the best so far."""
        self.last_eval_step = step
        f1 = scores["best_mean_f1"]
        self.history.append({"step": step, "mean_f1": round(f1, 4),
                             "threshold": scores["best_threshold"],
                             "per_set": {n: round(max(t["f1"] for t in v["by_threshold"]
                                                      .values()), 4)
                                         for n, v in scores["sets"].items()}})
        logger.info("step %d: dev mean zero-shot strict F1 %.4f (threshold %s)", step, f1,
                    scores["best_threshold"])
        if f1 > self.best_f1:
            self.best_f1, self.best_step, self.bad_evals = f1, step, 0
            self.best_weights = {k: v.detach().to("cpu", copy=True)
                                 for k, v in model.model.state_dict().items()}
            return True
        self.bad_evals += 1
        return False


def _make_trainer(model: Any, dataset: Any, devsets: Sequence[DevSet], cfg: TrainConfig,
                  device: str, out: Path, steps: int, clock: _Clock, state: _TrainState,
                  on_eval: Callable[[dict[str, Any]], None]) -> Any:
    import torch
    from gliner.training import Trainer
    from transformers.trainer_callback import PrinterCallback

    class ScheduledTrainer(Trainer):
        def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
            if self.lr_scheduler is None:
                self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
                    optimizer or self.optimizer, _lr_lambda(cfg, num_training_steps, clock))
                self._created_lr_scheduler = True
            return self.lr_scheduler

    targs = model.create_training_args(
        output_dir=str(out / "trainer"), max_steps=steps, save_strategy="no", seed=cfg.seed,
        use_cpu=device == "cpu", bf16=cfg.bf16 and device == "cuda",
        learning_rate=cfg.learning_rate, others_lr=cfg.others_lr,
        weight_decay=cfg.weight_decay, warmup_ratio=cfg.warmup_ratio, loss_reduction="sum",
        per_device_train_batch_size=cfg.batch_size, max_grad_norm=cfg.max_grad_norm,
        logging_steps=cfg.logging_steps, dataloader_num_workers=cfg.dataloader_workers,
        dataloader_persistent_workers=cfg.dataloader_workers > 0,
        disable_tqdm=not cfg.progress, report_to="none")
    control = _control_callback(model, devsets, cfg, device, steps, clock, state, on_eval)
    trainer = ScheduledTrainer(model=model, args=targs, train_dataset=dataset,
                               data_collator=model._create_data_collator(),
                               processing_class=model.data_processor.transformer_tokenizer,
                               callbacks=[control])
    if not cfg.progress:  # transformers prints every log dict when its progress bar is off
        trainer.remove_callback(PrinterCallback)
    return trainer


def _control_callback(model: Any, devsets: Sequence[DevSet], cfg: TrainConfig, device: str,
                      steps: int, clock: _Clock, state: _TrainState,
                      on_eval: Callable[[dict[str, Any]], None]) -> Any:
    """The trainer callback that runs dev evaluation, early stopping, the time budget
    and a gradient-norm watchdog."""
    from transformers import TrainerCallback

    class Control(TrainerCallback):
        """Dev evaluation, early stopping, the time budget and a gradient-norm watchdog."""

        def __init__(self) -> None:
            self.low = 0

        def on_train_begin(self, args, st, control, **kw):
            clock.start = time.perf_counter()

        def _evaluate(self, st, control) -> None:
            scores = _dev_eval(model, devsets, cfg, device, cfg.eval_limit)
            state.record(st.global_step, scores, model)
            on_eval(scores)
            if cfg.patience is not None and state.bad_evals >= cfg.patience:
                state.stop_reason = f"early stopping: {state.bad_evals} evaluations without " \
                                    "a better dev score"
                control.should_training_stop = True

        def on_step_end(self, args, st, control, **kw):
            if cfg.eval_every_steps and st.global_step % cfg.eval_every_steps == 0:
                self._evaluate(st, control)
            if clock.budget and clock.fraction() >= 1.0:
                state.stop_reason = state.stop_reason or "time budget reached"
                control.should_training_stop = True

        def on_epoch_end(self, args, st, control, **kw):
            if not cfg.eval_every_steps and not control.should_training_stop:
                self._evaluate(st, control)

        def on_log(self, args, st, control, logs=None, **kw):
            if not cfg.progress:  # in place of transformers' PrinterCallback (removed)
                logger.info("step %d: %s", st.global_step, logs)
            g = (logs or {}).get("grad_norm")
            done = clock.fraction() if clock.budget else st.global_step / max(1, steps)
            if cfg.min_grad_norm and g is not None and done > cfg.warmup_ratio:
                self.low = self.low + 1 if g < cfg.min_grad_norm else 0
                if self.low >= 3:
                    state.stop_reason = f"gradient norm {g:.2e} below {cfg.min_grad_norm}"
                    control.should_training_stop = True

    return Control()


def dataset_from_mixture(mixture: Any, cfg: TrainConfig) -> Any:
    """The NegativeSamplingDataset of a :class:`~zeroshot.training.mixture.Mixture`, with
    the config's ``extra_parents`` added to the pools they name."""
    from zeroshot.engines.gliner_data import NegativeSamplingDataset

    lo, hi = cfg.labels_per_prompt
    max_types = int(cfg.gliner_config.get("max_types", hi))
    if hi > max_types:
        raise ValueError(f"labels_per_prompt {hi} exceeds the model's max_types {max_types}")
    pools = dict(mixture.pools)
    for name, extra in cfg.extra_parents.items():
        if name not in pools:
            raise ValueError(f"extra_parents names pool {name!r}; the mixture has {sorted(pools)}")
        parents = {k: list(v) for k, v in pools[name].parents.items()}
        for parent, children in extra.items():
            for child in children:
                if child not in pools[name].own:
                    raise ValueError(f"extra_parents: {child!r} is not a label of {name}")
                parents.setdefault(child, [])
                if parent not in parents[child]:
                    parents[child].append(parent)
        pools[name] = dataclasses.replace(pools[name],
                                          parents={k: tuple(v) for k, v in parents.items()})
    return NegativeSamplingDataset(mixture.records, min_labels=lo, max_labels=hi,
                                   seed=cfg.seed, variant_rate=cfg.variant_rate,
                                   pools=pools, repeats=mixture.repeats())
