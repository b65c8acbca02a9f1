"""gliner's bidirectional word LSTM over padded batches, for the GLiNER runtime on CUDA.

gliner packs each batch (``pack_padded_sequence``) so that the backward direction
starts at each row's last word. Through cuDNN a packed batch is a new problem for
every new profile of row lengths: on an H200 a process's first pass over INTER test
spent 457 ms of host time in ``_cudnn_rnn`` for 14 ms of device time, and a warm
process met the same cost again on sentences it had not seen
(``eval/results/gliner_first_pass_h200_lstm.md``) -- what a server meets on every call.

:class:`PaddedBiLSTM` computes the same outputs from padded batches: the forward
direction runs over the padded rows (padding comes after a row's words, so it
changes none of their outputs); the backward direction runs as a forward LSTM with
the reverse weights over each row with its words reversed in place (padding still
last), and its outputs are put back in word order. Rows and time steps are padded
up to buckets, so cuDNN sees few shapes. Outputs past a row's length are zero, as
``pad_packed_sequence`` leaves them. The weights are copied once into two
one-direction LSTMs (a few MiB on the device).
"""

from __future__ import annotations

from typing import Any

from zeroshot.engines.gliner_torch import module_base

# padded batches are rounded up to these (few distinct shapes for cuDNN)
ROW_BUCKET = 64
TIME_BUCKET = 8


def supports(lstm: Any) -> bool:
    """A one-layer, bidirectional, batch-first ``nn.LSTM`` without projections."""
    return (type(lstm).__name__ == "LSTM" and lstm.num_layers == 1 and lstm.bidirectional
            and lstm.batch_first and not getattr(lstm, "proj_size", 0))


class PaddedBiLSTM(module_base()):  # type: ignore[misc]
    """``(words [B, T, D], lengths [B] on the same device) -> [B, T, 2H]``, as gliner's
    packed bidirectional LSTM gives them."""

    def __init__(self, lstm: Any, *, row_bucket: int = ROW_BUCKET,
                 time_bucket: int = TIME_BUCKET):
        import torch

        super().__init__()
        if not supports(lstm):
            raise ValueError("PaddedBiLSTM needs a one-layer bidirectional batch-first LSTM")
        ref = lstm.weight_ih_l0
        self.directions = torch.nn.ModuleList()
        for suffix in ("", "_reverse"):
            one = torch.nn.LSTM(lstm.input_size, lstm.hidden_size, batch_first=True,
                                bias=lstm.bias).to(device=ref.device, dtype=ref.dtype)
            with torch.no_grad():
                for name in ("weight_ih", "weight_hh", *(("bias_ih", "bias_hh") if lstm.bias
                                                          else ())):
                    getattr(one, f"{name}_l0").copy_(getattr(lstm, f"{name}_l0{suffix}"))
            one.eval()
            one.flatten_parameters()
            self.directions.append(one)
        self.row_bucket = max(1, int(row_bucket))
        self.time_bucket = max(1, int(time_bucket))

    def forward(self, words: Any, lengths: Any) -> Any:
        import torch
        import torch.nn.functional as F

        B, T, D = words.shape
        rows = -(-B // self.row_bucket) * self.row_bucket
        steps = -(-T // self.time_bucket) * self.time_bucket
        x = F.pad(words, (0, 0, 0, steps - T, 0, rows - B))
        n = F.pad(lengths.to(words.device), (0, rows - B)).view(rows, 1)
        t = torch.arange(steps, device=words.device).view(1, steps)
        inside = t < n
        # word t of a row <-> word n - 1 - t (a reversal of the row's words; padding stays)
        flip = torch.where(inside, n - 1 - t, t).unsqueeze(-1)
        fwd, _ = self.directions[0](x)
        bwd, _ = self.directions[1](x.gather(1, flip.expand(-1, -1, D)))
        bwd = bwd.gather(1, flip.expand(-1, -1, bwd.size(-1)))
        out = torch.cat([fwd, bwd], dim=-1).masked_fill_(~inside.unsqueeze(-1), 0)
        return out[:B, :T]
