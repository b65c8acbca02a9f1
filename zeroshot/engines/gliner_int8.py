"""Int8 weight-only storage of GLiNER (and plain encoder) weights.

Every floating-point tensor with at least two dimensions and ``MIN_NUMEL`` elements
(linear weights and embeddings) is stored as int8 with one fp32 scale per output
channel (row): ``w ~= q * scale[:, None]``, ``scale = max|row| / 127``, symmetric. The
other tensors (biases, norms) stay fp16. The file is a safetensors file whose metadata
says ``"format": "zeroshot-int8/1"``; quantised tensors keep their names and their scales
are stored as ``<name>.__int8_scale__``. Loading dequantises to fp32 (computation is
unchanged, only the storage is int8), one tensor at a time into a plain safetensors file
that gliner then maps: the process never holds the whole fp32 state dict beside the
model (:func:`write_dequantised`).
"""

from __future__ import annotations

import json
import math
import shutil
import struct
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
    return {name: _dequantise(t, stored.get(name + SCALE_SUFFIX), dtype)
            for name, t in stored.items() if not name.endswith(SCALE_SUFFIX)}


def _dequantise(t: Any, scale: Any, dtype: Any) -> Any:
    """One stored tensor in ``dtype``: int8 rows times their scales, other floating
    tensors cast, the rest as stored."""
    if scale is not None:
        import torch

        w = t.to(torch.float32, copy=True).reshape(t.shape[0], -1)
        w *= scale.float()[:, None]  # in place: one float32 copy of the tensor at a time
        return w.reshape(t.shape).to(dtype)
    return t.to(dtype) if t.is_floating_point() else t


def _check_format(fh: Any, path: str | Path) -> None:
    if (fh.metadata() or {}).get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} file")


def write_int8(state: Mapping[str, Any], path: str | Path) -> None:
    from safetensors.torch import save_file

    save_file(quantise_state_dict(state), str(path), metadata={"format": FORMAT})


def read_int8(path: str | Path, dtype: Any = None) -> dict[str, Any]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        _check_format(fh, path)
        stored = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
    return dequantise_state_dict(stored, dtype)


_SAFETENSORS_DTYPES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16",
                       "float64": "F64", "int64": "I64", "int32": "I32", "int16": "I16",
                       "int8": "I8", "uint8": "U8", "bool": "BOOL"}
_ITEMSIZE = {"F64": 8, "I64": 8, "F32": 4, "I32": 4, "F16": 2, "BF16": 2, "I16": 2, "I8": 1,
             "U8": 1, "BOOL": 1}


def write_dequantised(src: str | Path, dst: str | Path, dtype: Any = None) -> None:
    """Write the fp32 (or ``dtype``) safetensors file of a ``zeroshot-int8`` file,
    one tensor at a time (peak memory: one tensor, not the state dict)."""
    import torch
    from safetensors import safe_open

    dtype = dtype or torch.float32
    out_name = _SAFETENSORS_DTYPES[str(dtype).removeprefix("torch.")]
    with safe_open(str(src), framework="pt") as fh:
        _check_format(fh, src)
        names = set(fh.keys())
        order = sorted(n for n in names if not n.endswith(SCALE_SUFFIX))
        header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
        offset = 0
        for name in order:
            sl = fh.get_slice(name)
            shape = list(sl.get_shape())
            stored = sl.get_dtype()
            floating = stored in ("F16", "BF16", "F32", "F64") or name + SCALE_SUFFIX in names
            kind = out_name if floating else stored
            size = math.prod(shape) * _ITEMSIZE[kind]
            header[name] = {"dtype": kind, "shape": shape, "data_offsets": [offset, offset + size]}
            offset += size
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)
        with open(dst, "wb") as out:
            out.write(struct.pack("<Q", len(raw)))
            out.write(raw)
            for name in order:
                scale_name = name + SCALE_SUFFIX
                scale = fh.get_tensor(scale_name) if scale_name in names else None
                t = _dequantise(fh.get_tensor(name), scale, dtype).contiguous()
                out.write(t.reshape(-1).view(torch.uint8).numpy().data)
                del t


def is_int8_dir(path: str | Path) -> bool:
    p = Path(path)
    return (p / INT8_FILE).is_file() and not (p / "model.safetensors").is_file()


def load_int8_gliner(path: str | Path, *, map_location: str = "cpu") -> Any:
    """Load a GLiNER directory whose weights are ``model.int8.safetensors``: dequantise
    into a temporary directory beside the other files, load it, remove it."""
    from gliner import GLiNER

    src = Path(path)
    with tempfile.TemporaryDirectory(prefix="zeroshot-int8-") as tmp:
        for f in src.iterdir():  # folders too: a bi-encoder keeps labels_tokenizer/
            if f.name != INT8_FILE:
                (Path(tmp) / f.name).symlink_to(f.resolve())
        write_dequantised(src / INT8_FILE, Path(tmp) / "model.safetensors")
        # meta-device construction: no random init of weights that are overwritten anyway
        model = GLiNER.from_pretrained(tmp, local_files_only=True, load_tokenizer=True,
                                       map_location=map_location, low_cpu_mem_usage=True)
        return model.float()


def int8_encoder_dir(src: str | Path, dst: str | Path) -> None:
    """Copy a transformers encoder folder, replacing ``model.safetensors`` by int8."""
    from safetensors.torch import load_file

    src, dst = Path(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file() and f.suffix not in (".safetensors", ".bin", ".h5", ".onnx", ".msgpack"):
            shutil.copy(f, dst / f.name)
    write_int8(load_file(str(src / "model.safetensors")), dst / INT8_FILE)
