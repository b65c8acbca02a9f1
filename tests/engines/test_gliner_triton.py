"""The fused Triton span scorer against the torch one.

Without a GPU the kernel runs under Triton's interpreter (``TRITON_INTERPRET=1``,
read when triton compiles the kernel, so in a child process); on a CUDA machine it
also runs compiled, inside the runtime, against the torch scorer on real weights.
Skipped where triton is not installed (it ships with PyTorch's CUDA wheels, not
with the CPU wheel CI installs)."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from zeroshot.engines import gliner_runtime as rt

has_triton = True
try:
    import triton  # noqa: F401
except ImportError:
    has_triton = False

needs_triton = pytest.mark.skipif(not has_triton, reason="triton is not installed")

INTERPRETED = textwrap.dedent("""
    import json, sys
    import torch
    from zeroshot.engines.gliner_fast import combine, span_logits
    from zeroshot.engines.gliner_triton import span_scores
    from zeroshot.engines.gliner import load_gliner

    torch.manual_seed(0)
    out = {}
    # odd sizes: H not a multiple of the kernel's 64, one word, more labels than 32,
    # a width larger than the row
    for B, W, H, C, K in [(3, 7, 96, 5, 4), (2, 20, 128, 17, 12), (1, 1, 64, 40, 12),
                          (2, 3, 64, 1, 12)]:
        s, e = torch.randn(B, W, H).half(), torch.randn(B, W, H).half()
        q, b = (torch.randn(B, C, H) / H ** 0.5).half(), torch.randn(B, C).half()
        got = span_scores(s, e, q, b, K)
        want = combine(s.float(), e.float(), q.float(), b.float(), K)
        out[f"{B}x{W}x{H}x{C}x{K}"] = [list(got.shape), got.dtype == torch.float32,
                                       (got - want).abs().max().item()]
    # the real span MLP of the Few-NERD reference model (MiniLM, D = 384), in fp16
    model = load_gliner("gliner-minilm-fewnerd")
    marker = model.model.span_rep_layer.span_rep_layer.half()
    words, prompts = torch.randn(4, 9, 384).half(), torch.randn(4, 6, 384).half()
    with torch.inference_mode():
        got = span_logits(marker, words, prompts, 12, fused=True)
        want = span_logits(marker.float(), words.float(), prompts.float(), 12)
    out["marker"] = [list(got.shape), True, (got - want).abs().max().item(),
                     want.abs().max().item()]
    # residual add + LayerNorm, and a small random MPNet through the fused norms
    from transformers import MPNetConfig, MPNetModel
    from zeroshot.engines.gliner_mpnet import MPNetEncoder
    from zeroshot.engines.gliner_triton import add_layer_norm

    norm = torch.nn.LayerNorm(100)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    x, r = torch.randn(3, 5, 100).half(), torch.randn(3, 5, 100).half()
    got = add_layer_norm(x, r, norm.half())
    want = torch.nn.functional.layer_norm(x.float() + r.float(), (100,), norm.weight.float(),
                                          norm.bias.float(), norm.eps)
    out["norm"] = [list(got.shape), got.dtype == torch.float16,
                   (got.float() - want).abs().max().item()]
    cfg = MPNetConfig(vocab_size=100, hidden_size=64, num_hidden_layers=2,
                      num_attention_heads=4, intermediate_size=128)
    mpnet = MPNetModel(cfg).eval()
    ids = torch.randint(5, 100, (2, 11))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    with torch.inference_mode():
        want = MPNetEncoder(mpnet)(input_ids=ids, attention_mask=mask).last_hidden_state
        got = MPNetEncoder(mpnet.half(), fused_norm=True)(
            input_ids=ids, attention_mask=mask).last_hidden_state.float()
    keep = mask.bool()
    out["mpnet"] = [list(got.shape), True, (got - want)[keep].abs().max().item()]
    json.dump(out, sys.stdout)
""")


@needs_triton
@pytest.mark.skipif(tuple(int(x) for x in np.__version__.split(".")[:2]) >= (2, 5),
                    reason="Triton 3.6's interpreter failed under numpy 2.5 (on the lent H200, "
                           "where the compiled kernels are tested instead)")
def test_kernels_equal_torch_interpreted():
    """Random factors of awkward sizes and a real model's span MLP: the scorer's
    float32 logits match the torch scorer's (fp16 inputs: to ~1e-2); residual add +
    LayerNorm matches torch's, and a small random MPNet in fp16 through the fused
    norms matches the float32 forward on its real positions."""
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    done = subprocess.run([sys.executable, "-c", INTERPRETED], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout)
    assert set(got) == {"3x7x96x5x4", "2x20x128x17x12", "1x1x64x40x12", "2x3x64x1x12",
                        "marker", "norm", "mpnet"}
    for key, (shape, dtype_ok, diff, *_) in got.items():
        if "x" in key:
            B, W, _, C, K = map(int, key.split("x"))
            assert shape == [B, W, K, C], key
        assert dtype_ok, key
        assert diff < 2e-2, (key, diff)
    assert got["marker"][0] == [4, 9, 12, 6]
    assert got["norm"][0] == [3, 5, 100]
    assert got["mpnet"][0] == [2, 11, 64]
    assert got["marker"][3] > 0.5  # real logits, not zeros


def test_kernels_choice():
    """auto falls back to torch off CUDA; asking for the kernels where they cannot
    run, or for unknown ones, is an error naming the problem."""
    assert rt.use_kernels("auto", "cpu", torch.float32) is False
    assert rt.use_kernels("torch", "cpu", torch.float16) is False
    with pytest.raises(ValueError, match="CUDA"):
        rt.use_kernels("triton", "cpu", torch.float16)
    with pytest.raises(ValueError, match="unknown kernels"):
        rt.use_kernels("fast", "cpu", torch.float32)


@pytest.mark.skipif(not (has_triton and torch.cuda.is_available()), reason="needs CUDA")
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_runtime_fused_equals_torch_on_cuda(dtype):
    """The default model on the GPU: the runtime's span probabilities with the fused
    kernels (scorer, add + LayerNorm) and without, on ragged rows with a 40-label
    prompt."""
    from zeroshot.engines.gliner import default_model_path, load_gliner

    model = load_gliner(default_model_path())
    words = ["Ada", "Lovelace", "met", "Charles", "Babbage", "in", "London", "in", "1833", "."]
    labels = [f"type {i}" for i in range(38)] + ["person", "city"]
    probs = {}
    for kernels in ("torch", "triton"):
        runtime = rt.GlinerRuntime(model, device="cuda", dtype=dtype, batch_size=8,
                                   kernels=kernels)
        assert runtime.fused == (kernels == "triton")
        assert (runtime.encode.add_norm is not None) == (kernels == "triton")
        prompt = runtime.prompt(labels)
        wids = runtime.pieces.ids(words * 3)
        starts = torch.tensor([0, 10, 21]).numpy()
        counts = torch.tensor([10, 9, 3]).numpy()
        batch = runtime.build(wids, starts, counts, prompt, runtime.text_budget(len(prompt.ids)))
        probs[kernels] = torch.sigmoid(runtime.logits(batch, prompt)).cpu()
    assert probs["torch"].shape == probs["triton"].shape == (3, 10, 12, 40)
    valid = (torch.arange(10)[:, None] + torch.arange(12)[None, :]) < torch.tensor(
        [10, 9, 3]).view(3, 1, 1)
    diff = (probs["torch"] - probs["triton"]).abs()[valid]
    assert diff.max().item() < (2e-2 if dtype == "float16" else 5e-2)


@pytest.mark.skipif(not (has_triton and torch.cuda.is_available()), reason="needs CUDA")
def test_kernels_that_fail_at_start_fall_back_to_torch(monkeypatch, caplog):
    """A GPU the fused kernels do not build for: the engine keeps the project's
    runtime with its kernels in torch (said in a warning), not gliner's slow path."""
    from zeroshot.engines.gliner import GlinerEngine, default_model_path

    caplog.set_level("WARNING")
    check = rt.self_check

    def failing(runtime, reference):
        if runtime.fused:
            raise RuntimeError("no kernel image for this device")
        return check(runtime, reference)

    monkeypatch.setattr(rt, "self_check", failing)
    engine = GlinerEngine(default_model_path(), device="cuda")
    assert engine.runtime is not None and not engine.runtime.fused
    assert engine.runtime_name() == "zeroshot-float16"
    assert "fused kernels failed" in caplog.text
