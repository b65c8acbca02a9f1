"""MPNet encoder variants on one GPU: same weights, same batch, forward time each.

    python eval/bench_mpnet_encoder.py MODEL_DIR [cuda|cpu]

One ragged batch of 1,024 rows x 80 subwords (lengths 50-80, seeded), fp16 weights as
the engine loads them, 3 warm-up and 20 timed forwards per variant; printed, not
written (results by hand in eval/results/mpnet_encoder_h200.md):

* hf: transformers' MPNet forward (eager attention: matmul, bias, mask, softmax);
* fast: the runtime's encoder (zeroshot.engines.gliner_mpnet: bias and mask summed
  once per forward, SDPA per layer);
* fused-qkv: fast with the three query/key/value projections in one matmul;
* no-bias(flash): flash attention without the position bias (wrong numbers: a lower
  bound for the attention's cost);
* no-attn: linears, norms and activations only (wrong numbers: a lower bound);
* compile(fast): torch.compile of fast (steady state after its compilation).

max|d| is the largest difference from hf over each row's first 50 positions.
"""

from __future__ import annotations

import sys
import time

import torch
import torch.nn.functional as F

from zeroshot.api import Extractor
from zeroshot.engines.gliner_mpnet import MPNetEncoder


class Fused(MPNetEncoder):
    """fast, with query, key and value in one matmul."""

    def __init__(self, model):
        super().__init__(model)
        attn = [layer.attention.attn for layer in model.encoder.layer]
        self.w = [torch.cat([a.q.weight, a.k.weight, a.v.weight]) for a in attn]
        self.b = [torch.cat([a.q.bias, a.k.bias, a.v.bias]) for a in attn]

    def forward(self, input_ids, attention_mask, **_):
        h = self.model.embeddings(input_ids=input_ids)
        keep = attention_mask[:, None, None, :].bool()
        m = self.position_bias(input_ids.shape[1], h).masked_fill(~keep, torch.finfo(h.dtype).min)
        for i, layer in enumerate(self.model.encoder.layer):
            a = layer.attention
            B, L, D = h.shape
            qkv = F.linear(h, self.w[i], self.b[i]).view(B, L, 3, self.heads, D // self.heads)
            qkv = qkv.permute(2, 0, 3, 1, 4)
            c = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=m)
            h = a.LayerNorm(a.attn.o(c.transpose(1, 2).reshape(B, L, D)) + h)
            h = layer.output(layer.intermediate(h), h)
        return h


class NoBias(MPNetEncoder):
    """Flash attention without the position bias (wrong numbers: a lower bound)."""

    def forward(self, input_ids, attention_mask, **_):
        h = self.model.embeddings(input_ids=input_ids)
        for layer in self.model.encoder.layer:
            a = layer.attention
            B, L, D = h.shape
            shape = (B, L, self.heads, D // self.heads)
            q, k, v = (x(h).view(shape).transpose(1, 2) for x in (a.attn.q, a.attn.k, a.attn.v))
            c = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, L, D)
            h = a.LayerNorm(a.attn.o(c) + h)
            h = layer.output(layer.intermediate(h), h)
        return h


class NoAttn(MPNetEncoder):
    """Linears, norms and activations only (wrong numbers: a lower bound)."""

    def forward(self, input_ids, attention_mask, **_):
        h = self.model.embeddings(input_ids=input_ids)
        for layer in self.model.encoder.layer:
            a = layer.attention
            h = a.LayerNorm(a.attn.o(a.attn.v(h)) + h)
            h = layer.output(layer.intermediate(h), h)
        return h


def batch(rows: int, length: int, device: str):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 30000, (rows, length), generator=g)
    mask = torch.ones(rows, length, dtype=torch.long)
    lens = torch.randint(50, length + 1, (rows,), generator=g)
    for r in range(rows):
        mask[r, lens[r]:] = 0
        ids[r, lens[r]:] = 1
    return ids.to(device), mask.to(device)


def main() -> None:
    device = sys.argv[2] if len(sys.argv) > 2 else "cuda"
    cuda = device == "cuda"
    rt = Extractor("gliner", model=sys.argv[1], device=device).engine.runtime
    rows = 1024 if cuda else 4
    ids, mask = batch(rows, 80, device)
    bert = rt.bert
    variants = {"hf": bert, "fast": rt.encode, "fused-qkv": Fused(bert),
                "no-bias(flash)": NoBias(bert), "no-attn": NoAttn(bert)}
    if cuda:
        variants["compile(fast)"] = torch.compile(MPNetEncoder(bert))

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def out(f):
        r = f(input_ids=ids, attention_mask=mask)
        return r.last_hidden_state if hasattr(r, "last_hidden_state") else r

    ref, n = None, 20 if cuda else 1  # timed forwards per variant
    with torch.inference_mode(), rt._attention():
        for name, f in variants.items():
            try:
                for _ in range(3):
                    o = out(f)
                sync()
                t = time.perf_counter()
                for _ in range(n):
                    o = out(f)
                sync()
                dt = (time.perf_counter() - t) / n
                ref = o if ref is None else ref
                err = (o[:, :50] - ref[:, :50]).abs().max().item()
                print(f"{name:16s} {dt * 1e3:7.2f} ms/batch  {rows / dt:9,.0f} rows/s  "
                      f"max|d| vs hf {err:.3g}")
            except Exception as exc:  # a variant that cannot run is a result
                print(name, "failed", type(exc).__name__, exc)


if __name__ == "__main__":
    main()
