"""The GLiNER runtime's encoder through ONNX Runtime (CPU; the ``onnx`` extra).

fp32, or int8 (dynamic quantisation of the weights; measured in
``eval/bench_gliner_runtime.py``, not a default: see the results for its F1 cost).

The transformer encoder is exported once per set of weights (and torch / onnx
versions) to ``$ZEROSHOT_CACHE/onnx/`` and run by an ONNX Runtime session with the
engine's thread count; everything after the encoder stays in torch. The runtime's
self-check at load compares the result with gliner's scores like any other path.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

from zeroshot.engines.gliner_runtime import RuntimeOptionError
from zeroshot.engines.gliner_torch import EncoderOutput
from zeroshot.engines.llm.model_prep import default_cache_dir

logger = logging.getLogger(__name__)


def _last_hidden(encoder: Any) -> Any:
    """The encoder as a plain (ids, mask) -> hidden states module, for export."""
    import torch

    class LastHidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.encoder(input_ids=input_ids,
                                attention_mask=attention_mask).last_hidden_state

    return LastHidden().eval()


def weights_key(module: Any) -> str:
    """A digest of a module's weights and the exporting versions."""
    import torch

    h = hashlib.sha256(f"torch {torch.__version__}".encode())
    for name, tensor in module.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().to(torch.float32).contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:20]


class OnnxEncoder:
    """Callable like the torch encoder (``input_ids``, ``attention_mask``) and
    returning ``.last_hidden_state`` as a torch tensor.

    Args:
        encoder: the transformer (fp32, CPU) to export.
        threads: ONNX Runtime intra-op threads (default: torch's).
        cache_dir: where exported graphs are kept (default ``$ZEROSHOT_CACHE/onnx``).
    """

    def __init__(self, encoder: Any, *, threads: int | None = None,
                 cache_dir: str | Path | None = None, int8: bool = False):
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise RuntimeOptionError("the ONNX encoder needs the 'onnx' extra: "
                                     "pip install 'zeroshot[onnx]'") from exc
        import torch

        self.torch = torch
        folder = Path(cache_dir) if cache_dir else default_cache_dir() / "onnx"
        folder.mkdir(parents=True, exist_ok=True)
        fp32 = folder / f"encoder-{weights_key(encoder)}.onnx"
        if not fp32.is_file():
            try:
                import onnx  # noqa: F401  (torch's exporter needs it)
            except ImportError as exc:
                raise RuntimeOptionError("exporting the encoder to ONNX needs the 'onnx' "
                                         "package: pip install 'zeroshot[onnx]'") from exc
            self._export(encoder, fp32)
        self.path = fp32.with_suffix(".int8.onnx") if int8 else fp32
        if int8 and not self.path.is_file():
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(str(fp32), str(self.path), weight_type=QuantType.QInt8)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(self.path), options,
                                            providers=["CPUExecutionProvider"])

    @staticmethod
    def _export(encoder: Any, path: Path) -> None:
        import torch

        logger.info("exporting the GLiNER encoder to ONNX (once): %s", path)
        ids = torch.ones((2, 16), dtype=torch.int64)
        mask = torch.ones((2, 16), dtype=torch.int64)
        mask[1, 10:] = 0
        fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=path.parent)
        os.close(fd)
        axes = {0: "batch", 1: "length"}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the tracer's notes on data-dependent branches
                torch.onnx.export(_last_hidden(encoder), (ids, mask), tmp,
                                  input_names=["input_ids", "attention_mask"],
                                  output_names=["hidden"], opset_version=17, dynamo=False,
                                  dynamic_axes={"input_ids": axes, "attention_mask": axes,
                                                "hidden": axes})
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def __call__(self, *, input_ids: Any, attention_mask: Any, **_: Any) -> EncoderOutput:
        out = self.session.run(["hidden"], {"input_ids": input_ids.numpy(),
                                            "attention_mask": attention_mask.numpy()})[0]
        return EncoderOutput(self.torch.from_numpy(out))
