"""Int8 weight-only storage of GLiNER (and plain encoder) weights.

Every floating-point tensor with at least two dimensions and ``MIN_NUMEL`` elements
(linear weights and embeddings) is stored as int8 with one fp32 scale per output
channel (row): ``w ~= q * scale[:, None]``, ``scale = max|row| / 127``, symmetric. The
other tensors (biases, norms) stay fp16. The file is a safetensors file whose metadata
says ``"format": "zeroshot-int8/1"``; quantised tensors keep their names and their scales
are stored as ``<name>.__int8_scale__``. Loading dequantises to fp32 (computation is
unchanged, only the storage is int8).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

INT8_FILE = "model.int8.safetensors"
FORMAT = "zeroshot-int8/1"
SCALE_SUFFIX = ".__int8_scale__"
MIN_NUMEL = 4096


def quantise_state_dict(state: Mapping[str, Any]) -> dict[str, Any]:
    """Int8 tensors + scales for large matrices, fp16 for the rest."""
    import torch

    out: dict[str, Any] = {}
    for name, t in state.items():
        t = t.detach().cpu()
        if t.is_floating_point() and t.dim() >= 2 and t.numel() >= MIN_NUMEL:
            flat = t.float().reshape(t.shape[0], -1)
            scale = flat.abs().amax(dim=1).clamp(min=1e-12) / 127.0
            q = torch.round(flat / scale[:, None]).clamp(-127, 127).to(torch.int8)
            out[name] = q.reshape(t.shape).contiguous()
            out[name + SCALE_SUFFIX] = scale.contiguous()
        elif t.is_floating_point():
            out[name] = t.to(torch.float16).contiguous()
        else:
            out[name] = t.contiguous()
    return out


def dequantise_state_dict(stored: Mapping[str, Any], dtype: Any = None) -> dict[str, Any]:
    """The fp32 (or ``dtype``) state dict of a quantised one."""
    import torch

    dtype = dtype or torch.float32
    out = {}
    for name, t in stored.items():
        if name.endswith(SCALE_SUFFIX):
            continue
        scale = stored.get(name + SCALE_SUFFIX)
        if scale is not None:
            w = t.float().reshape(t.shape[0], -1) * scale.float()[:, None]
            out[name] = w.reshape(t.shape).to(dtype)
        elif t.is_floating_point():
            out[name] = t.to(dtype)
        else:
            out[name] = t
    return out


def write_int8(state: Mapping[str, Any], path: str | Path) -> None:
    from safetensors.torch import save_file

    save_file(quantise_state_dict(state), str(path), metadata={"format": FORMAT})


def read_int8(path: str | Path, dtype: Any = None) -> dict[str, Any]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        if (fh.metadata() or {}).get("format") != FORMAT:
            raise ValueError(f"{path} is not a {FORMAT} file")
        stored = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
    return dequantise_state_dict(stored, dtype)


def is_int8_dir(path: str | Path) -> bool:
    p = Path(path)
    return (p / INT8_FILE).is_file() and not (p / "model.safetensors").is_file()


def load_int8_gliner(path: str | Path, *, map_location: str = "cpu") -> Any:
    """Load a GLiNER directory whose weights are ``model.int8.safetensors``: dequantise
    into a temporary directory beside the other files, load it, remove it."""
    from gliner import GLiNER
    from safetensors.torch import save_file

    src = Path(path)
    with tempfile.TemporaryDirectory(prefix="zeroshot-int8-") as tmp:
        for f in src.iterdir():
            if f.name == INT8_FILE or f.is_dir():
                continue
            (Path(tmp) / f.name).symlink_to(f.resolve())
        save_file(read_int8(src / INT8_FILE), str(Path(tmp) / "model.safetensors"))
        return GLiNER.from_pretrained(tmp, local_files_only=True, load_tokenizer=True,
                                      map_location=map_location)


def int8_encoder_dir(src: str | Path, dst: str | Path) -> None:
    """Copy a transformers encoder folder, replacing ``model.safetensors`` by int8."""
    from safetensors.torch import load_file

    src, dst = Path(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file() and f.suffix not in (".safetensors", ".bin", ".h5", ".onnx", ".msgpack"):
            shutil.copy(f, dst / f.name)
    write_int8(load_file(str(src / "model.safetensors")), dst / INT8_FILE)
