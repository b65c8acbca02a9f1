"""MPNet's encoder forward with fused attention, for the GLiNER runtime.

transformers' MPNet has no SDPA path: every layer multiplies queries and keys in
one kernel, divides, adds the relative-position bias (expanded and copied to
``[B, heads, L, L]`` once per forward), adds the padding mask, runs softmax and
multiplies by the values: five passes over a ``[B, heads, L, L]`` tensor per layer.
On an H200 that was about a third of the default model's encoder time
(``eval/results/gliner_gpu_profile_h200_mpnet.md``: ``copy_``, ``add``, ``bmm``,
``softmax``).

:class:`MPNetEncoder` runs the same weights with the bias and the padding mask
summed into one additive mask once per forward, shared by all layers, and each
layer's attention through ``torch.nn.functional.scaled_dot_product_attention``
(the memory-efficient kernel on CUDA). The sequence is padded to a multiple of 8
so the mask's rows are aligned for that kernel; padded positions are masked keys
and are cut from the output, and MPNet's bias depends only on the distance between
positions, so the real positions' outputs do not change. Same maths as
transformers' forward up to floating-point rounding (tests; the runtime's
self-check at load compares the scores with gliner's own path like any other).

With ``fused_norm`` (the runtime's default on CUDA in fp16 / bf16), each residual
add and the LayerNorm after it run as one Triton kernel
(:func:`zeroshot.engines.gliner_triton.add_layer_norm`: the sum is never written).
``gelu_tanh`` (also the runtime's default on CUDA with its fused kernels) runs the
feed-forward's first layer with cuBLASLt's bias + GELU epilogue
(``torch._addmm_activation``): one pass fewer over the widest activations, at the
price of the tanh approximation of MPNet's exact GELU (within 1e-3 of it; on an
H200 the INTER-test strict F1 did not move: eval/results/gliner_runtime_h200_triton.md).
On CPU that call computes the exact GELU.
"""

from __future__ import annotations

from typing import Any

from zeroshot.engines.gliner_torch import EncoderOutput, module_base

# sequence lengths are rounded up to this (fp16 rows of the mask 16-byte aligned)
ALIGN = 8


def is_mpnet(module: Any) -> bool:
    """Whether ``module`` is transformers' ``MPNetModel`` (the layout this module reads)."""
    return type(module).__name__ == "MPNetModel" and hasattr(module, "encoder") and \
        hasattr(module.encoder, "relative_attention_bias")


class MPNetEncoder(module_base()):  # type: ignore[misc]
    """``(input_ids, attention_mask) -> last_hidden_state`` of an ``MPNetModel``.

    Args:
        model: the loaded ``MPNetModel`` (its modules are used, not copied).
        fused_norm: residual add + LayerNorm through one Triton kernel (CUDA).
        gelu_tanh: the feed-forward's GELU as cuBLASLt's tanh-approximate epilogue.
    """

    def __init__(self, model: Any, *, fused_norm: bool = False, gelu_tanh: bool = False):
        super().__init__()
        if not is_mpnet(model):
            raise TypeError(f"not an MPNetModel: {type(model).__name__}")
        self.model = model
        self.config = model.config
        self.pad_id = int(model.embeddings.padding_idx)
        self.heads = int(model.config.num_attention_heads)
        self._bias: dict[tuple[int, Any, Any], Any] = {}
        self.add_norm: Any = None
        if fused_norm:
            from zeroshot.engines.gliner_triton import add_layer_norm

            self.add_norm = add_layer_norm
        self.gelu_tanh = gelu_tanh

    def position_bias(self, length: int, like: Any) -> Any:
        """MPNet's relative-position bias ``[1, heads, L, L]`` (cached per length)."""
        key = (length, like.device, like.dtype)
        hit = self._bias.get(key)
        if hit is None:
            import torch

            enc = self.model.encoder
            pos = torch.arange(length, dtype=torch.long)
            bucket = enc.relative_position_bucket(pos[None, :] - pos[:, None])
            hit = enc.relative_attention_bias(bucket.to(like.device))  # [L, L, H]
            hit = hit.permute(2, 0, 1).unsqueeze(0).to(like.dtype).contiguous()
            self._bias[key] = hit
        return hit

    def forward(self, input_ids: Any, attention_mask: Any, return_dict: bool = True,
                **_: Any) -> EncoderOutput:
        import torch
        import torch.nn.functional as F

        L = input_ids.shape[1]
        padded = -(-L // ALIGN) * ALIGN
        if padded != L:
            input_ids = F.pad(input_ids, (0, padded - L), value=self.pad_id)
            attention_mask = F.pad(attention_mask, (0, padded - L), value=0)
        h = self.model.embeddings(input_ids=input_ids)
        keep = attention_mask[:, None, None, :].to(torch.bool)
        lowest = torch.finfo(h.dtype).min
        mask = self.position_bias(padded, h).masked_fill(~keep, lowest)  # [B, H, L, L]
        for layer in self.model.encoder.layer:
            h = self._layer(layer, h, mask)
        return EncoderOutput(h[:, :L])

    def _layer(self, layer: Any, h: Any, mask: Any) -> Any:
        import torch.nn.functional as F

        attn = layer.attention
        a = attn.attn
        B, L, D = h.shape
        shape = (B, L, self.heads, D // self.heads)
        q = a.q(h).view(shape).transpose(1, 2)
        k = a.k(h).view(shape).transpose(1, 2)
        v = a.v(h).view(shape).transpose(1, 2)
        c = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        c = c.transpose(1, 2).reshape(B, L, D)
        h = self._norm(attn.LayerNorm, a.o(c), h)
        out = layer.output  # dense, dropout (off in eval), LayerNorm(x + h)
        return self._norm(out.LayerNorm, out.dense(self._ffn_in(layer.intermediate, h)), h)

    def _norm(self, norm: Any, x: Any, residual: Any) -> Any:
        if self.add_norm is not None:
            return self.add_norm(x, residual, norm)
        return norm(x + residual)

    def _ffn_in(self, intermediate: Any, h: Any) -> Any:
        if not self.gelu_tanh:
            return intermediate(h)
        import torch

        dense = intermediate.dense
        flat = torch._addmm_activation(dense.bias, h.reshape(-1, h.shape[-1]), dense.weight.t(),
                                       use_gelu=True)
        return flat.view(*h.shape[:-1], -1)


def fast_encoder(model: Any, *, fused_norm: bool = False, gelu_tanh: bool = False) -> Any:
    """The fastest forward this module has for ``model``: :class:`MPNetEncoder` for an
    ``MPNetModel`` (``fused_norm``, ``gelu_tanh``: see there), else ``model`` itself."""
    if not is_mpnet(model):
        return model
    return MPNetEncoder(model, fused_norm=fused_norm, gelu_tanh=gelu_tanh).eval()
