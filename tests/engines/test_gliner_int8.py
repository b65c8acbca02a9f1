"""Int8 weight-only storage: error bound, file format, and a model directory that loads."""

from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")

from zeroshot.engines.gliner_int8 import (  # noqa: E402
    INT8_FILE,
    SCALE_SUFFIX,
    dequantise_state_dict,
    is_int8_dir,
    quantise_state_dict,
    read_int8,
    write_dequantised,
    write_int8,
)


def test_per_row_error_is_within_half_a_step_and_small_tensors_stay_float(tmp_path):
    g = torch.Generator().manual_seed(0)
    state = {"w": torch.randn(64, 128, generator=g) * torch.linspace(0.01, 3, 64)[:, None],
             "emb": torch.randn(300, 16, generator=g), "b": torch.randn(64, generator=g),
             "ids": torch.arange(5)}
    q = quantise_state_dict(state)
    assert q["w"].dtype == torch.int8 and q["w" + SCALE_SUFFIX].shape == (64,)
    assert q["b"].dtype == torch.float16 and q["ids"].dtype == torch.int64
    back = dequantise_state_dict(q)
    step = state["w"].abs().amax(dim=1, keepdim=True) / 127
    assert ((back["w"] - state["w"]).abs() <= step / 2 + 1e-6).all()
    assert back["w"].dtype == torch.float32 and SCALE_SUFFIX not in "".join(back)
    write_int8(state, tmp_path / "x.safetensors")
    again = read_int8(tmp_path / "x.safetensors")
    assert torch.equal(again["w"], back["w"]) and torch.equal(again["ids"], state["ids"])


def test_streamed_dequantised_file_equals_the_dequantised_state_dict(tmp_path):
    """The file written one tensor at a time reads back as the in-memory dequantisation:
    same names, dtypes, shapes and values (int, float16 and int8-stored tensors)."""
    from safetensors.torch import load_file

    g = torch.Generator().manual_seed(1)
    state = {"enc.w": torch.randn(96, 64, generator=g), "emb": torch.randn(70, 64, generator=g),
             "b": torch.randn(96, generator=g), "pos": torch.arange(7),
             "flag": torch.ones(3).bool(), "h": torch.randn(5, 3, generator=g).half()}
    write_int8(state, tmp_path / "q.safetensors")
    want = read_int8(tmp_path / "q.safetensors")
    for dtype in (torch.float32, torch.float16):
        write_dequantised(tmp_path / "q.safetensors", tmp_path / "d.safetensors", dtype)
        got = load_file(str(tmp_path / "d.safetensors"))
        assert sorted(got) == sorted(want)
        for name, t in want.items():
            expect = t.to(dtype) if t.is_floating_point() else t
            assert got[name].dtype == expect.dtype and torch.equal(got[name], expect), name
    with pytest.raises(ValueError, match="not a zeroshot-int8/1 file"):
        write_dequantised(tmp_path / "d.safetensors", tmp_path / "e.safetensors")


def test_plain_safetensors_file_is_refused(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2, 2)}, str(tmp_path / "y.safetensors"))
    with pytest.raises(ValueError, match="not a zeroshot-int8/1 file"):
        read_int8(tmp_path / "y.safetensors")


def test_int8_model_directory_loads_and_predicts_like_fp16(tmp_path):
    if not os.environ.get("CI"):
        pytest.importorskip("gliner")
    from zeroshot.core.schema import Schema
    from zeroshot.engines.gliner import GlinerEngine, load_gliner, resolve_model
    from zeroshot.training.export import export_model

    # an fp16 bundled model (the default is stored int8 already)
    model = load_gliner(resolve_model("gliner-minilm-general"))
    out = export_model(model, tmp_path / "int8", int8=True)
    assert is_int8_dir(out) and not (out / "model.safetensors").exists()
    assert (out / INT8_FILE).stat().st_size < 0.55 * 57_853_792  # about half the fp16 file
    schema = Schema.load("fewnerd_inter_test").with_options(threshold=0.3)
    text = ["Serena Williams won the 2012 Summer Olympics and drove a Ford Mustang ."]
    (a,) = GlinerEngine(model, threads=2).extract(text, schema)
    (b,) = GlinerEngine(str(out), threads=2).extract(text, schema)
    assert [s.key for s in a.spans] == [s.key for s in b.spans]
    assert max(abs(x.score - y.score) for x, y in zip(a.spans, b.spans, strict=True)) < 0.02
