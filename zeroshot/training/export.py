"""Write a trained GLiNER model directory: weights, ``zeroshot_model.json``, model card.

``zeroshot_model.json`` says what the model is and how it was chosen: ``threshold`` (the
engine's default when neither the schema nor the call sets one), on which dev sets it
was chosen, the dev scores, the training data, backbone, commit and package versions.
"""

from __future__ import annotations

import json
import platform
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from zeroshot.core import provenance
from zeroshot.core.errors import ZeroshotError

MODEL_META = "zeroshot_model.json"
MODEL_MARKERS = (MODEL_META, "gliner_config.json")


class ModelDirError(ZeroshotError, ValueError):
    """The directory a trained model would be written to cannot take it."""


def check_model_dir(out: str | Path, protected: Iterable[str | Path] = ()) -> Path:
    """Refuse, before any training, a model directory that is a file, one that holds
    other files than a model's (a model directory is replaced), or one of ``protected``
    (the model training starts from, the bundled models)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ModelDirError(f"{out} is a file; the model is written to a directory: give a "
                            f"new one")
    if any(out.resolve() == Path(p).resolve() for p in protected):
        raise ModelDirError(f"{out} is the model training starts from or a bundled model; "
                            f"write the new model to another directory")
    if out.is_dir() and any(out.iterdir()) and not any((out / m).is_file()
                                                       for m in MODEL_MARKERS):
        raise ModelDirError(f"{out} holds files that are not a model's; give a new or "
                            f"empty directory (a model directory is replaced)")
    return out


def export_model(model: Any, out: str | Path, *, int8: bool = False) -> Path:
    """Save a GLiNER model's config and tokenizer, and its weights as fp16 safetensors
    (``int8``: int8 weight-only, :mod:`zeroshot.engines.gliner_int8`)."""
    import torch
    from safetensors.torch import save_file

    from zeroshot.engines.gliner_int8 import INT8_FILE, write_int8

    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    out.mkdir(parents=True, exist_ok=True)
    for f in tmp.iterdir():
        if f.is_dir():
            shutil.copytree(f, out / f.name, dirs_exist_ok=True)
        elif f.suffix not in (".bin", ".safetensors"):
            shutil.copy(f, out / f.name)
    state = model.model.state_dict()
    if int8:
        write_int8(state, out / INT8_FILE)
        (out / "model.safetensors").unlink(missing_ok=True)
    else:
        save_file({k: v.detach().to(torch.float16).contiguous().cpu() for k, v in state.items()},
                  str(out / "model.safetensors"))
        (out / INT8_FILE).unlink(missing_ok=True)
    shutil.rmtree(tmp, ignore_errors=True)
    return out


def git_commit(default: str = "unknown") -> str:
    """The commit (:func:`zeroshot.core.provenance.git_commit`: ``$ZEROSHOT_COMMIT``,
    else the checkout's HEAD), or ``default``."""
    return provenance.git_commit().get("commit") or default


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("torch", "transformers", "gliner", "safetensors"):
        try:
            out[name] = __import__(name).__version__
        except Exception:  # a missing or broken package is reported, not raised
            out[name] = "missing"
    return out


def write_model_meta(out: str | Path, meta: dict[str, Any]) -> Path:
    path = Path(out) / MODEL_META
    path.write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_model_meta(model_dir: str | Path) -> dict[str, Any] | None:
    """The model's ``zeroshot_model.json``, or None when it has none."""
    path = Path(model_dir) / MODEL_META
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _f1(x: float) -> str:
    return f"{100 * x:.1f}"


def write_model_card(out: str | Path, meta: dict[str, Any]) -> Path:
    """A README.md that states data, licences, config, dev (and test) scores, commands."""
    dev = meta.get("dev_scores", {})
    thr = meta.get("threshold")
    lines = [f"# {meta['name']}", "",
             "A zero-shot GLiNER span model trained with `zeroshot.training` "
             f"(commit `{meta.get('commit', '?')}`).", "",
             "## What it is",
             f"- Backbone: {meta.get('backbone', '?')}; GLiNER config: "
             f"`{json.dumps(meta.get('gliner_config', {}))}`.",
             f"- Weights: {meta.get('weights', 'fp16 safetensors')}.",
             f"- Default threshold **{thr}**, chosen on {meta.get('threshold_chosen_on', '?')} "
             "(the engine uses it when neither the schema nor the call sets one).", "",
             "## Training",
             f"- Data: {meta.get('train_data', {}).get('description', '?')}",
             f"- Steps {meta.get('steps')}, {meta.get('train_seconds', 0):.0f} s on "
             f"{meta.get('device', '?')}; stopped because: {meta.get('stop_reason', '?')}.",
             f"- Config: `{json.dumps(meta.get('train_config', {}), sort_keys=True)}`", "",
             "## Dev scores (strict micro F1 %, at the chosen threshold)", "",
             "| dev set | zero-shot | sentences | P | R | F1 |", "|---|---|---|---|---|---|"]
    for name, v in sorted(dev.get("sets", {}).items()):
        s = v["by_threshold"].get(f"{thr:.2f}") if thr is not None else None
        if s:
            lines.append(f"| {name} | {'yes' if v['zero_shot'] else 'no'} | {v['sentences']} | "
                         f"{_f1(s['p'])} | {_f1(s['r'])} | {_f1(s['f1'])} |")
    if meta.get("test_scores"):
        lines += ["", "## Test (scored once, at the dev-chosen threshold)", "",
                  "```json", json.dumps(meta["test_scores"], indent=1), "```"]
    licences = meta.get("train_data", {}).get("licences")
    if licences:
        lines += ["", "## Data licences", ""] + [f"- {k}: {v}" for k, v in sorted(
            licences.items())]
    lines += ["", "## Command", "", "```", meta.get("command", "?"), "```", ""]
    path = Path(out) / "README.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
