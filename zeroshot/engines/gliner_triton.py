"""The ``markerV0`` span scorer's last step as one Triton kernel (CUDA, fp16 / bf16).

:mod:`zeroshot.engines.gliner_fast` factors gliner's span MLP so that a span
``(i, i + k)`` is scored against label ``c`` as

    logit[b, i, k, c] = relu(start[b, i] + end[b, i + k]) · folded[b, c] + bias[b, c]

with ``start`` / ``end`` ``[B, W, H]`` (``H`` = 4D: 3,072 for MPNet) and ``folded``
``[B, C, H]``. In torch this materialises the hidden layer ``[B, W, K, H]`` (about
3 GiB in fp16 for a 1,024-row GPU batch), writes it, ReLUs it in place and reads it
back for a thin batched matrix product (``C`` is ~17): three passes over memory,
a sixth of the default engine's device time on an H200. This kernel builds each
tile of that hidden layer in registers and feeds it straight to the tensor cores:
the hidden layer never reaches memory.

Numbers: the sum is taken in float32 and rounded once to the weights' dtype before
the product (torch rounds the sum, then ReLUs), the product accumulates in float32,
and the logits come back as float32. Spans running past the row (``i + k >= W``)
read ``end`` as zero, as the torch path's zero padding does; callers mask them.

Import needs ``triton`` (it ships with PyTorch's CUDA wheels); :func:`usable` says
whether a tensor can take this path. ``TRITON_INTERPRET=1`` runs the kernel on CPU
tensors (slowly), which is how the tests check it without a GPU.
"""

from __future__ import annotations

import os
from typing import Any

import triton
import triton.language as tl

BLOCK_M = 128  # spans per program (word-major: ~10 words x 12 widths)
BLOCK_H = 64   # hidden units per step of the reduction


def usable(t: Any) -> bool:
    """True when ``t`` can be scored here: fp16 / bf16 on a CUDA device (or any
    device under Triton's interpreter)."""
    import torch

    on_device = t.is_cuda or os.environ.get("TRITON_INTERPRET") == "1"
    return on_device and t.dtype in (torch.float16, torch.bfloat16)


def span_scores(start: Any, end: Any, folded: Any, bias: Any, K: int, *,
                block_m: int = BLOCK_M, block_h: int = BLOCK_H,
                num_warps: int | None = None) -> Any:
    """``[B, W, K, C]`` float32 logits from the factors of
    :func:`zeroshot.engines.gliner_fast.span_factors` (``start``/``end``
    ``[B, W, H]``, ``folded`` ``[B, C, H]``, ``bias`` ``[B, C]``). The block sizes
    and warps are the kernel's tiling (``eval/bench_span_scorer.py`` compares some)."""
    import torch

    B, W, H = start.shape
    C = folded.size(1)
    if end.shape != start.shape or folded.shape != (B, C, H) or bias.shape != (B, C):
        raise ValueError(f"span factors do not fit: start {tuple(start.shape)}, end "
                         f"{tuple(end.shape)}, folded {tuple(folded.shape)}, bias "
                         f"{tuple(bias.shape)}")
    start, end, folded = start.contiguous(), end.contiguous(), folded.contiguous()
    bias = bias.float().contiguous()
    out = torch.empty((B, W, K, C), dtype=torch.float32, device=start.device)
    if out.numel() == 0:
        return out
    # at least 32 label columns: one build serves every schema of up to 32 labels, and
    # the engine's self-check at start (3 labels) builds it before the first call
    block_c = max(32, triton.next_power_of_2(C))
    grid = (B, triton.cdiv(W * K, block_m))
    warps = num_warps or (8 if block_c > 32 else 4)
    # H (a model's width) and K are compile-time constants: one build per model
    _span_kernel[grid](start, end, folded, bias, out, W, C, H=H, K=K, BLOCK_M=block_m,
                       BLOCK_C=block_c, BLOCK_H=block_h, num_warps=warps)
    return out


@triton.jit(do_not_specialize=["W", "C"])  # one build for every batch shape
def _span_kernel(S, E, Q, QB, OUT, W, C, H: tl.constexpr, K: tl.constexpr,
                 BLOCK_M: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_H: tl.constexpr):
    b = tl.program_id(0).to(tl.int64)
    m = tl.program_id(1) * BLOCK_M + tl.arange(0, BLOCK_M)  # span index i * K + k
    i = m // K
    j = i + m % K  # the span's last word
    row_ok = i < W
    end_ok = row_ok & (j < W)
    c = tl.arange(0, BLOCK_C)
    c_ok = c < C
    s_ptr = S + b * W * H + i[:, None] * H
    e_ptr = E + b * W * H + j[:, None] * H
    q_ptr = Q + b * C * H + c[None, :] * H
    acc = tl.zeros((BLOCK_M, BLOCK_C), dtype=tl.float32)
    for h0 in range(0, H, BLOCK_H):
        h = h0 + tl.arange(0, BLOCK_H)
        h_ok = h < H
        s = tl.load(s_ptr + h[None, :], mask=row_ok[:, None] & h_ok[None, :], other=0.0)
        e = tl.load(e_ptr + h[None, :], mask=end_ok[:, None] & h_ok[None, :], other=0.0)
        a = tl.maximum(s.to(tl.float32) + e.to(tl.float32), 0.0).to(S.dtype.element_ty)
        q = tl.load(q_ptr + h[:, None], mask=h_ok[:, None] & c_ok[None, :], other=0.0)
        acc = tl.dot(a, q, acc)
    acc += tl.load(QB + b * C + c, mask=c_ok, other=0.0)[None, :]
    o_ptr = OUT + b * W * K * C + m[:, None] * C + c[None, :]
    tl.store(o_ptr, acc, mask=row_ok[:, None] & c_ok[None, :])


def add_layer_norm(x: Any, residual: Any, norm: Any) -> Any:
    """``norm(x + residual)`` for a ``torch.nn.LayerNorm`` over the last dimension,
    in one pass: the sum is taken in float32 and never written (torch writes it in
    the activations' dtype, then reads it again for the norm). Same maths as
    torch's up to that rounding."""
    import torch

    if x.shape != residual.shape or x.shape[-1:] != tuple(norm.normalized_shape):
        raise ValueError(f"add_layer_norm: {tuple(x.shape)} + {tuple(residual.shape)} "
                         f"under a norm over {tuple(norm.normalized_shape)}")
    D = x.shape[-1]
    x2, r2 = x.reshape(-1, D).contiguous(), residual.reshape(-1, D).contiguous()
    out = torch.empty_like(x2)
    if x2.shape[0]:
        _add_norm_kernel[(x2.shape[0],)](x2, r2, norm.weight, norm.bias, out, D=D,
                                         eps=float(norm.eps),
                                         BLOCK_D=triton.next_power_of_2(D), num_warps=4)
    return out.view(x.shape)


@triton.jit
def _add_norm_kernel(X, R, Wt, Bs, Y, D: tl.constexpr, eps, BLOCK_D: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    d = tl.arange(0, BLOCK_D)
    ok = d < D
    x = tl.load(X + row * D + d, mask=ok, other=0.0).to(tl.float32)
    x += tl.load(R + row * D + d, mask=ok, other=0.0).to(tl.float32)
    mean = tl.sum(x, axis=0) / D
    xc = tl.where(ok, x - mean, 0.0)
    rstd = 1.0 / tl.sqrt(tl.sum(xc * xc, axis=0) / D + eps)
    w = tl.load(Wt + d, mask=ok, other=0.0).to(tl.float32)
    b = tl.load(Bs + d, mask=ok, other=0.0).to(tl.float32)
    tl.store(Y + row * D + d, (xc * rstd * w + b).to(Y.dtype.element_ty), mask=ok)
