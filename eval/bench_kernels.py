"""The GLiNER runtime's fused GPU kernels against torch, one launch at a time.

1. The span scorer's last step: torch (hidden layer materialised) against the fused
   Triton kernel (zeroshot.engines.gliner_triton), on the shapes a 1,024-row
   INTER-test batch gives, with a few kernel tilings;
2. the MPNet encoder's residual add + LayerNorm: torch against the Triton kernel;
3. its feed-forward's first layer: linear + exact GELU against
   ``torch._addmm_activation(..., use_gelu=True)`` (cuBLASLt's bias + GELU epilogue),
   with how far each is from the exact and the tanh-approximate GELU.

    python eval/bench_kernels.py --out eval/results --name kernels_h200

Inputs are random (the time does not depend on the values); each timing is the
median of ``--reps`` launches between CUDA events after a warm-up. Max |diff|: the
fused result against torch's in float32 on the same fp16/bf16 inputs. Writes
``<name>.json`` and ``<name>.md``.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import sys
import time
from pathlib import Path

import torch

from zeroshot.core.provenance import git_commit
from zeroshot.engines.gliner_fast import combine
from zeroshot.engines.gliner_triton import add_layer_norm, span_scores

# (rows, words per row, hidden = 4D, labels): MPNet (D = 768) and MiniLM (D = 384)
SHAPES = [(1024, 16, 3072, 17), (1024, 32, 3072, 17), (1024, 48, 3072, 17),
          (1024, 32, 1536, 17), (1024, 32, 3072, 40)]
TILINGS = [(128, 64, None), (64, 64, None), (128, 32, None), (128, 128, 8), (256, 64, 8)]
K = 12
DEV = "cuda" if torch.cuda.is_available() else "cpu"  # cpu: a smoke test under TRITON_INTERPRET=1


def timed(fn, reps: int) -> float:
    """Median milliseconds of ``fn`` (CUDA events on a GPU, a wall clock elsewhere)."""
    for _ in range(3):
        fn()
    times = []
    for _ in range(reps):
        if not torch.cuda.is_available():
            t0 = time.perf_counter()
            fn()
            times.append(1000 * (time.perf_counter() - t0))
            continue
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return sorted(times)[len(times) // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--small", action="store_true",
                    help="tiny shapes (a CPU smoke test with TRITON_INTERPRET=1)")
    ap.add_argument("--out", default="eval/results")
    ap.add_argument("--name", default="kernels_cuda")
    args = ap.parse_args()
    torch.manual_seed(0)
    rows = []
    shapes = [(2, 3, 128, 5)] if args.small else SHAPES
    tilings = TILINGS[:1] if args.small else TILINGS
    for dtype in (torch.float16,) if args.small else (torch.float16, torch.bfloat16):
        for B, W, H, C in shapes:
            s, e = (torch.randn(B, W, H, device=DEV, dtype=dtype) for _ in range(2))
            q = torch.randn(B, C, H, device=DEV, dtype=dtype) / H ** 0.5
            bias = torch.randn(B, C, device=DEV, dtype=dtype)
            if DEV == "cuda":
                torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated() if DEV == "cuda" else 0
            want = combine(s, e, q, bias, K).float()
            torch_mib = ((torch.cuda.max_memory_allocated() - base) / 2**20 if DEV == "cuda"
                         else float("nan"))
            row = {"dtype": str(dtype).removeprefix("torch."), "rows": B, "words": W,
                   "hidden": H, "labels": C,
                   "torch_ms": timed(functools.partial(combine, s, e, q, bias, K), args.reps),
                   "torch_extra_mib": torch_mib, "fused": []}
            for bm, bh, warps in tilings:
                fused = functools.partial(span_scores, s, e, q, bias, K, block_m=bm,
                                          block_h=bh, num_warps=warps)
                got = fused()
                row["fused"].append({
                    "block_m": bm, "block_h": bh, "num_warps": warps,
                    "ms": timed(fused, args.reps),
                    "max_abs_diff": (got - want).abs().max().item()})
            rows.append(row)
            print(json.dumps(row), flush=True)
            del s, e, q, bias, want
            if DEV == "cuda":
                torch.cuda.empty_cache()
    encoder = encoder_pieces(args.reps, *((64, 96, 128) if args.small else ()))
    accel = torch.cuda.get_device_name() if DEV == "cuda" else "none (CPU)"
    result = {"commit": git_commit(), "command": "python eval/bench_kernels.py "
              + " ".join(sys.argv[1:]), "accelerator": accel,
              "torch": torch.__version__, "triton": __import__("triton").__version__,
              "python": platform.python_version(), "K": K, "rows": rows,
              "encoder": encoder}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / f"{args.name}.md").write_text(render(result))
    print(render(result))


def encoder_pieces(reps: int, tokens: int = 98_304, D: int = 768, F: int = 3072):
    """Residual add + LayerNorm and linear + GELU on ``tokens`` rows (a 1,024-row
    batch of ~96 subwords), MPNet's widths, fp16."""
    import torch.nn.functional as tf

    out = []
    x, r = (torch.randn(tokens, D, device=DEV, dtype=torch.float16) for _ in range(2))
    norm = torch.nn.LayerNorm(D).to(DEV).half()
    want = tf.layer_norm(x.float() + r.float(), (D,), norm.weight.float(), norm.bias.float())
    out.append({"what": f"add + LayerNorm [{tokens}, {D}]",
                "torch_ms": timed(lambda: norm(x + r), reps),
                "fused_ms": timed(lambda: add_layer_norm(x, r, norm), reps),
                "torch_diff": (norm(x + r).float() - want).abs().max().item(),
                "fused_diff": (add_layer_norm(x, r, norm).float() - want).abs().max().item()})
    lin = torch.nn.Linear(D, F).to(DEV).half()
    pre = tf.linear(x.float(), lin.weight.float(), lin.bias.float())
    exact, tanh = tf.gelu(pre), tf.gelu(pre, approximate="tanh")
    plain = tf.gelu(lin(x)).float()
    epi = torch._addmm_activation(lin.bias, x, lin.weight.t(), use_gelu=True).float()
    out.append({"what": f"linear + GELU [{tokens}, {D}] -> {F}",
                "torch_ms": timed(lambda: tf.gelu(lin(x)), reps),
                "fused_ms": timed(lambda: torch._addmm_activation(lin.bias, x, lin.weight.t(),
                                                                  use_gelu=True), reps),
                "torch_diff": (plain - exact).abs().max().item(),
                "fused_diff": (epi - exact).abs().max().item(),
                "fused_diff_to_tanh_gelu": (epi - tanh).abs().max().item(),
                "linear_alone_ms": timed(lambda: lin(x), reps)})
    for row in out:
        print(json.dumps(row), flush=True)
    return out


def render(r) -> str:
    c = r["commit"]
    lines = ["# The runtime's fused GPU kernels against torch", "",
             f"Commit: `{(c.get('commit') or 'unknown')[:12]}`  ",
             f"Command: `{r['command']}`  ",
             f"Accelerator: {r['accelerator']}; torch {r['torch']}, triton {r['triton']}, "
             f"Python {r['python']}  ", "",
             f"Random factors of the shapes a batch gives (K = {r['K']} widths); median of "
             "the launches between CUDA events. torch: add + ReLU into the materialised "
             "hidden layer, then a batched product (its extra memory: the hidden layer). "
             "fused: one kernel, tiling BLOCK_M spans x BLOCK_H hidden units per step.", "",
             "| dtype | rows x words x hidden x labels | torch ms | torch extra MiB | "
             "best fused ms (tiling) | speed-up | fused ms by tiling | max abs diff |",
             "|---|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        best = min(row["fused"], key=lambda f: f["ms"])
        tiles = ", ".join(f"{f['block_m']}x{f['block_h']}/{f['num_warps'] or 'auto'}: "
                          f"{f['ms']:.2f}" for f in row["fused"])
        lines.append(
            f"| {row['dtype']} | {row['rows']} x {row['words']} x {row['hidden']} x "
            f"{row['labels']} | {row['torch_ms']:.2f} | {row['torch_extra_mib']:,.0f} | "
            f"{best['ms']:.2f} ({best['block_m']}x{best['block_h']}) | "
            f"{row['torch_ms'] / best['ms']:.1f}x | {tiles} | "
            f"{max(f['max_abs_diff'] for f in row['fused']):.2g} |")
    lines += ["", "Encoder pieces (fp16; diff: max |result - float32 reference|, the reference "
              "with exact GELU):", "",
              "| what | torch ms | fused ms | torch diff | fused diff | note |",
              "|---|---|---|---|---|---|"]
    for e in r.get("encoder", []):
        note = (f"linear alone {e['linear_alone_ms']:.2f} ms; epilogue vs tanh GELU "
                f"{e['fused_diff_to_tanh_gelu']:.2g}" if "linear_alone_ms" in e else "")
        lines.append(f"| {e['what']} | {e['torch_ms']:.3f} | {e['fused_ms']:.3f} | "
                     f"{e['torch_diff']:.2g} | {e['fused_diff']:.2g} | {note} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
