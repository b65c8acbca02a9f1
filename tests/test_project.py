"""Project-level checks: lint, layering (the core imports no engine), README vs CI."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name):
    exe = Path(sys.executable).with_name(name)
    return str(exe) if exe.exists() else shutil.which(name)


def test_ruff_clean():
    ruff = _tool("ruff")
    if ruff is None:
        pytest.skip("ruff not installed (pip install -e .[dev])")
    proc = subprocess.run([ruff, "check", "zeroshot", "tests", "eval"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_import_contracts_hold():
    lint = _tool("lint-imports")
    if lint is None:
        pytest.skip("import-linter not installed (pip install -e .[dev])")
    proc = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Contracts: 2 kept, 0 broken" in proc.stdout


def test_core_imports_light():
    code = ("import sys, zeroshot, zeroshot.core.validate, zeroshot.core.metrics; "
            "heavy = {'torch', 'transformers', 'gliner', 'vllm', 'outlines'} & set(sys.modules); "
            "print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci/run").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    setup = blocks[0].strip().splitlines()
    commands = [line for line in setup if line and not line.startswith("#")]
    assert len(commands) == 2, commands
    test_cmd = next(c for c in commands if "pytest" in c)
    assert test_cmd in ci
