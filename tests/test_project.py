"""Project-level checks: lint, layering (the core imports no engine), README vs CI, the
README's commands and examples."""

import os
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


def _readme_commands():
    """Every `zeroshot ...` command in the README's shell blocks (line continuations
    joined, `&&` / `|` chains split, comments cut; an optional group written
    `[--flag value]` is checked as given)."""
    readme = (ROOT / "README.md").read_text()
    for block in re.findall(r"```(?:bash|sh|shell)\n(.*?)```", readme, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            for part in re.split(r"&&|\|\||;|\|", line):
                part = part.split(" #")[0].strip()
                if part.startswith("zeroshot "):
                    yield re.sub(r"\[(--[^\]]*)\]", r"\1", part)


def test_readme_commands_parse():
    """The README's commands are what the CLI accepts (documentation that rots fails here)."""
    import contextlib
    import io
    import shlex

    from zeroshot.cli import build_parser

    commands = list(_readme_commands())
    assert len(commands) >= 15 and any(c.startswith("zeroshot train ") for c in commands)
    for command in commands:
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                build_parser().parse_args(shlex.split(command)[1:])
        except SystemExit as exc:
            assert not exc.code, f"{command}: {err.getvalue().strip()}"


def _literal_prefix(comment):
    """The longest prefix of a comment that is a Python literal (None if none is)."""
    import ast

    for end in range(len(comment), 0, -1):
        if comment[end - 1] in ")]}'\"0123456789":
            try:
                return ast.literal_eval(comment[:end])
            except (ValueError, SyntaxError):
                continue
    return None


def _close(got, want, tol=0.02):
    if isinstance(want, float) and isinstance(got, (int, float)):
        return abs(got - want) <= tol  # printed rounded; CPUs differ in the last digit
    if isinstance(want, (list, tuple)) and isinstance(got, (list, tuple)):
        return len(got) == len(want) and all(_close(g, w, tol)
                                             for g, w in zip(got, want, strict=True))
    if isinstance(want, dict) and isinstance(got, dict):
        return got.keys() == want.keys() and all(_close(got[k], want[k], tol) for k in want)
    return got == want


def _python_blocks():
    readme = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", readme, re.S)


@pytest.mark.parametrize("index", [0, 5])
def test_readme_python_examples_print_what_they_say(index):
    """The README's runnable Python blocks (the first example; the core API tour) run as
    written, and each expression (or ``name = ...``) followed by a `# <literal>` comment,
    on its line or on the lines below, gives that value."""
    import ast

    if index == 0 and not os.environ.get("CI"):
        pytest.importorskip("gliner")
    block = _python_blocks()[index]
    lines = block.splitlines()
    scope, checked = {}, 0
    for stmt in ast.parse(block).body:
        code = ast.get_source_segment(block, stmt)
        if isinstance(stmt, ast.Expr):
            value = eval(compile(code, "README.md", "eval"), scope)
        else:
            exec(compile(code, "README.md", "exec"), scope)
            if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], ast.Name)):
                continue
            value = scope[stmt.targets[0].id]
        last = lines[stmt.end_lineno - 1]
        comment = last[last.index("#") + 1:].strip() if "#" in last[stmt.end_col_offset:] \
            else ""
        below = []
        for line in lines[stmt.end_lineno:]:
            if not line.lstrip().startswith("#"):
                break
            below.append(line.lstrip()[1:].strip())
        want = _literal_prefix(comment) if comment else _literal_prefix(" ".join(below))
        if want is not None:
            assert _close(value, want), f"{code}: {value!r}, the README says {want!r}"
            checked += 1
    assert checked >= (1 if index == 0 else 4)
