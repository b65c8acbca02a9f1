"""An exact, cheaper inference path for GLiNER's ``markerV0`` span scorer.

gliner scores a span ``(i, j)`` against a label prompt ``p`` as

    score = p · W2 relu(W1 [relu(s_i); relu(e_j)] + b1) + p · b2

where ``s``/``e`` are the start/end projections of the word states and ``W1``
(2D -> 4D) / ``W2`` (4D -> D) the span MLP. It runs the whole MLP once per
candidate span: words x max_width times, which on CPU costs more than the
encoder itself. Two identities make it cheap, with the same numbers:

* ``W1 [a; b] = W1a a + W1b b``: the first layer runs once per *word* (start
  half and end half), and a span only adds two rows.
* ``p · W2 z = (W2^T p) · z``: the second layer folds into the label side, so a
  span is scored with one 4D dot product per label instead of a 4D x D matmul.

:func:`span_logits` is the scorer (the project's own runtime,
:mod:`zeroshot.engines.gliner_runtime`, calls it). :func:`install` swaps it into
gliner's forward on a loaded model, for inference only (no labels, no span
embeddings asked for); every other call, and every other span mode, goes to
gliner's own forward. ``tests/engines/test_gliner.py`` checks
that both give the same scores.
"""

from __future__ import annotations

import logging
import types
from typing import Any

logger = logging.getLogger(__name__)


def is_bi_encoder(model: Any) -> bool:
    """Whether a loaded gliner model embeds its labels with a separate labels encoder."""
    return getattr(getattr(model, "config", None), "labels_encoder", None) is not None


def supports(model: Any) -> bool:
    """True when ``model`` (a ``gliner.GLiNER``) has the span scorer this path knows
    (``markerV0`` on a uni-encoder: the forward below is the uni-encoder's)."""
    core = getattr(model, "model", None)
    layer = getattr(getattr(core, "span_rep_layer", None), "span_rep_layer", None)
    return (type(layer).__name__ == "SpanMarkerV0" and hasattr(core, "prompt_rep_layer")
            and hasattr(core, "get_representations") and not is_bi_encoder(model))


def install(model: Any) -> bool:
    """Route ``model``'s inference forward through the factored scorer; returns
    whether it did (False: an architecture this path does not cover)."""
    if not supports(model):
        logger.info("fast span scorer not used: span mode %s%s",
                    getattr(model.config, "span_mode", "?"),
                    ", a bi-encoder" if is_bi_encoder(model) else "")
        return False
    core = model.model
    if getattr(core, "_zeroshot_fast", False):
        return True
    original = core.forward

    def forward(self: Any, *args: Any, **kwargs: Any) -> Any:
        if (args or kwargs.get("labels") is not None or kwargs.get("return_embeddings")
                or kwargs.get("span_idx") is None or self.training):
            return original(*args, **kwargs)
        return _fast_forward(self, **kwargs)

    core.forward = types.MethodType(forward, core)
    core._zeroshot_fast = True
    core._zeroshot_original_forward = original  # gliner's own, for the runtime's self-check
    return True


def span_logits(marker: Any, words: Any, prompts: Any, K: int, *,
                max_hidden_bytes: int | None = None, fused: bool = False) -> Any:
    """``markerV0`` span logits ``[B, W, K, C]`` of words ``[B, W, D]`` against
    projected label prompts ``[B, C, D]`` (``prompt_rep_layer`` applied), by the
    two identities above. Every span is scored, also those running past a text's
    end: callers mask them.

    The span MLP's hidden layer holds ``B * W * K * 4D`` numbers (900 MiB in float32
    for 128 rows of 48 words at D = 768); ``max_hidden_bytes`` caps it by scoring the
    rows in slices (same numbers: rows do not interact here). ``fused``: the last
    step through one Triton kernel that never materialises the hidden layer
    (:mod:`zeroshot.engines.gliner_triton`; CUDA, fp16 / bf16; float32 logits)."""
    import torch

    if fused:
        from zeroshot.engines.gliner_triton import span_scores

        return span_scores(*span_factors(marker, words, prompts), K)
    B, W = words.shape[:2]
    hidden = marker.out_project[0].out_features
    per_row = max(1, W * K * hidden * words.element_size())
    step = B if max_hidden_bytes is None else max(1, int(max_hidden_bytes) // per_row)
    if step >= B:
        return combine(*span_factors(marker, words, prompts), K)
    return torch.cat([combine(*span_factors(marker, words[i:i + step], prompts[i:i + step]), K)
                      for i in range(0, B, step)])


def span_factors(marker: Any, words: Any, prompts: Any) -> tuple[Any, Any, Any, Any]:
    """The per-word and per-label factors of the span MLP: ``start`` and ``end``
    ``[B, W, 4D]`` (the first layer's two halves, its bias in ``end``), ``folded``
    ``[B, C, 4D]`` (the prompts through the second layer's weight) and ``bias``
    ``[B, C]`` (the prompts against its bias)."""
    import torch.nn.functional as F

    lin1, lin2 = marker.out_project[0], marker.out_project[-1]
    D = words.size(-1)
    start = F.linear(marker.project_start(words).relu(), lin1.weight[:, :D])  # [B, W, 4D]
    end = F.linear(marker.project_end(words).relu(), lin1.weight[:, D:], lin1.bias)
    return start, end, prompts @ lin2.weight, prompts @ lin2.bias


def combine(start: Any, end: Any, folded: Any, bias: Any, K: int) -> Any:
    """``[B, W, K, C]`` logits from :func:`span_factors` in torch (the hidden layer
    ``[B, W, K, 4D]`` materialised)."""
    import torch
    import torch.nn.functional as F

    # span (i, k) runs from word i to word i + k: add start row i to end row i + k
    B, W, H = start.shape
    end = F.pad(end, (0, 0, 0, K - 1)).unfold(1, K, 1).transpose(2, 3)      # [B, W, K, 4D]
    hidden = (start.unsqueeze(2) + end).relu_().reshape(B, W * K, H)
    scores = torch.bmm(hidden, folded.transpose(1, 2))                         # [B, N, C]
    scores += bias.unsqueeze(1)
    return scores.view(B, W, K, -1)


def _fast_forward(core: Any, *, input_ids: Any = None, attention_mask: Any = None,
                  words_mask: Any = None, text_lengths: Any = None, span_idx: Any = None,
                  span_mask: Any = None, **kwargs: Any) -> Any:
    import torch
    from gliner.modeling.outputs import GLiNERBaseOutput

    encoder_kwargs = {k: kwargs[k] for k in ("packing_config", "pair_attention_mask",
                                             "token_lengths", "word_lengths") if k in kwargs}
    rep = core.get_representations(input_ids, attention_mask, text_lengths, words_mask,
                                   **encoder_kwargs)
    K = core.config.max_width
    words, mask = core._fit_length(rep.words_embedding, rep.mask, span_idx.size(1) // K)
    prompts, prompts_mask = rep.prompts_embedding, rep.prompts_embedding_mask

    prompts = core.prompt_rep_layer(prompts)                                   # [B, C, D]
    scores = span_logits(core.span_rep_layer.span_rep_layer, words, prompts, K)
    B, W = words.shape[:2]
    # gliner scores a masked-out span as the span (0, 0); do the same
    scores = torch.where(span_mask.view(B, W, K, 1).bool(), scores, scores[:, :1, :1])
    return GLiNERBaseOutput(logits=scores, loss=None, prompts_embedding=prompts,
                            prompts_embedding_mask=prompts_mask, words_embedding=words,
                            mask=mask)
