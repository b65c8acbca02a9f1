"""Start and stop a local vLLM OpenAI-compatible server, with a health check.

``zeroshot serve MODEL_DIR`` uses this; so do tests, once per session. The
server binds to 127.0.0.1 unless told otherwise and uses the ``guidance``
structured-output backend (xgrammar 0.2.8 lets raw control characters into
strings with ``maxLength``, which is invalid JSON).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from zeroshot.core.errors import ZeroshotError

logger = logging.getLogger(__name__)


class ServerError(ZeroshotError):
    """The server did not start or did not become healthy."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def is_healthy(base: str, timeout: float = 2.0) -> bool:
    """True when ``GET {base}/health`` answers 200 (``base`` without ``/v1``)."""
    try:
        with urllib.request.urlopen(f"{base.rstrip('/')}/health", timeout=timeout) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


class VLLMServer:
    """A vLLM server process. Use as a context manager, or ``start()``/``stop()``.

    Args:
        model: a local model directory (or a hub id where there is a network).
        host, port: where to listen (port None: a free one).
        served_name: the model name clients ask for (default: the directory name).
        enforce_eager: skip torch.compile (starts in seconds instead of minutes
            on CPU; decoding may be slower).
        extra_args: more ``vllm.entrypoints.openai.api_server`` flags.
        log_path: where the server's output goes (default: a file next to nothing,
            in the system temp dir).
    """

    def __init__(self, model: str | Path, *, host: str = "127.0.0.1", port: int | None = None,
                 served_name: str | None = None, max_model_len: int = 4096,
                 kv_cache_gib: int = 2, structured_backend: str = "guidance",
                 enforce_eager: bool = False, extra_args: Sequence[str] = (),
                 log_path: Path | None = None) -> None:
        self.model = str(model)
        self.host = host
        self.port = port or free_port(host)
        self.served_name = served_name or Path(self.model).name
        self.max_model_len = max_model_len
        self.kv_cache_gib = kv_cache_gib
        self.structured_backend = structured_backend
        self.enforce_eager = enforce_eager
        self.extra_args = list(extra_args)
        self.log_path = log_path or Path(
            os.environ.get("TMPDIR", "/tmp")) / f"zeroshot-vllm-{self.port}.log"
        self._proc: subprocess.Popen | None = None
        self._log = None

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    def command(self) -> list[str]:
        config = {"backend": self.structured_backend, "disable_any_whitespace": True,
                  "disable_additional_properties": True}
        cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server",
               "--model", self.model, "--served-model-name", self.served_name,
               "--host", self.host, "--port", str(self.port),
               "--max-model-len", str(self.max_model_len),
               "--structured-outputs-config", json.dumps(config),
               "--disable-log-stats"]
        if self.enforce_eager:
            cmd.append("--enforce-eager")
        return cmd + self.extra_args

    def start(self, timeout: float = 600.0) -> VLLMServer:
        if not Path(self.model).is_dir() and self.model.startswith((".", "/", "~")):
            raise ServerError(f"model directory {self.model} not found")
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": str(self.kv_cache_gib)}
        self._log = self.log_path.open("wb")
        logger.info("starting vLLM server on %s (log: %s)", self.root_url, self.log_path)
        self._proc = subprocess.Popen(self.command(), stdout=self._log,
                                      stderr=subprocess.STDOUT, env=env,
                                      start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                tail = self.log_tail()
                self.stop()
                raise ServerError(f"vLLM server exited with code {code} before it was healthy; "
                                  f"last lines of {self.log_path}:\n{tail}")
            if is_healthy(self.root_url):
                logger.info("vLLM server healthy at %s", self.base_url)
                return self
            time.sleep(1.0)
        self.stop()
        raise ServerError(f"vLLM server not healthy after {timeout:.0f} s; see {self.log_path}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait(self) -> int:
        """Block until the server exits (``zeroshot serve`` in the foreground)."""
        return self._proc.wait() if self._proc else 0

    def stop(self, timeout: float = 30.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            import signal

            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=timeout)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> VLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
