"""A built wheel, installed outside the checkout, extracts with the bundled default model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys
import zeroshot
from zeroshot.engines.gliner import default_model_path, bundled_models
docs = zeroshot.extract(["Serena Williams beat Venus Williams at Wimbledon ."],
                        ["athlete", "sports event"], threshold=0.2, threads=1)
print(json.dumps({"package": zeroshot.__file__, "model": str(default_model_path()),
                  "bundled": sorted(bundled_models()),
                  "spans": [[s.text, s.label] for s in docs[0].spans]}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("gliner")
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                    str(ROOT)], check=True, timeout=600)
    (whl,) = out.glob("zeroshot-*.whl")
    return whl


def test_wheel_carries_schemas_prompts_and_the_default_model(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    from zeroshot.engines.gliner import DEFAULT_MODEL

    for part in ("gliner_config.json", "tokenizer.json", "zeroshot_model.json"):
        assert f"zeroshot/models/{DEFAULT_MODEL}/{part}" in names
    weights = {f"zeroshot/models/{DEFAULT_MODEL}/{f}" for f in
               ("model.safetensors", "model.int8.safetensors")}  # fp16, or int8 weight-only
    assert weights & names
    assert "zeroshot/schemas/fewnerd_inter_test.json" in names
    assert "zeroshot/prompts/extract_system.j2" in names


def test_installed_wheel_extracts_outside_the_checkout(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), str(wheel)], check=True, timeout=600)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "HF_HUB_OFFLINE": "1"}
    env.pop("ZEROSHOT_GLINER_MODEL", None)
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["package"].startswith(str(target))  # the installed copy, not the checkout
    assert got["model"].startswith(str(target))
    assert ["Serena Williams", "athlete"] in got["spans"]
