"""Start and stop a local vLLM OpenAI-compatible server, with a health check.

``zeroshot serve MODEL_DIR`` uses this; so do tests, once per session. The
server binds to 127.0.0.1 unless told otherwise (another address is warned
about: anyone who can reach it can use the model, so give it an API key) and
uses the ``guidance`` structured-output backend (xgrammar 0.2.8 lets raw
control characters into strings with ``maxLength``, which is invalid JSON).

The API key goes to vLLM in its environment (``VLLM_API_KEY``), not on its
command line, where every user of the machine could read it. The server's log
is written in a private directory (``mkdtemp``: mode 0700) and opened with
``O_NOFOLLOW``, so no other user can plant a link for it to write through.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
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


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def open_log(path: Path) -> int:
    """A log file opened for writing, never through a symbolic link, mode 0600."""
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
                       | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        why = "it is a symbolic link" if exc.errno == errno.ELOOP else exc.strerror
        raise ServerError(f"cannot open the server log {path}: {why}") from None


class VLLMServer:
    """A vLLM server process. Use as a context manager, or ``start()``/``stop()``.

    Args:
        model: a local model directory (or a hub id where there is a network).
        host, port: where to listen (port None: a free one).
        served_name: the model name clients ask for (default: the directory name).
        enforce_eager: skip torch.compile (starts in seconds instead of minutes
            on CPU; decoding may be slower).
        extra_args: more ``vllm.entrypoints.openai.api_server`` flags.
        api_key: clients must send it (``Authorization: Bearer KEY``); passed to
            vLLM as ``VLLM_API_KEY``. Default: ``$VLLM_API_KEY`` if set, else none.
        log_path: where the server's output goes (default: ``server.log`` in a new
            private temporary directory, removed when the server stops after a
            clean start; kept, and named in the error, when it fails).
    """

    def __init__(self, model: str | Path, *, host: str = "127.0.0.1", port: int | None = None,
                 served_name: str | None = None, max_model_len: int = 4096,
                 kv_cache_gib: int = 2, structured_backend: str = "guidance",
                 enforce_eager: bool = False, extra_args: Sequence[str] = (),
                 api_key: str | None = None, log_path: Path | None = None) -> None:
        self.model = str(model)
        self.host = host
        self.port = port or free_port(host)
        self.served_name = served_name or Path(self.model).name
        self.max_model_len = max_model_len
        self.kv_cache_gib = kv_cache_gib
        self.structured_backend = structured_backend
        self.enforce_eager = enforce_eager
        self.extra_args = list(extra_args)
        self.api_key = api_key or os.environ.get("VLLM_API_KEY") or None
        self._log_dir: Path | None = None
        self.log_path = Path(log_path) if log_path else None
        self._proc: subprocess.Popen | None = None
        self._log: int | None = None
        self._failed = False

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
        if not is_loopback(self.host):
            logger.warning("the server binds %s: anyone who can reach this address can use "
                           "it%s", self.host, "" if self.api_key else
                           " (no API key: pass --api-key or set VLLM_API_KEY)")
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": str(self.kv_cache_gib)}
        if self.api_key:
            env["VLLM_API_KEY"] = self.api_key
        if self.log_path is None:
            self._log_dir = Path(tempfile.mkdtemp(prefix="zeroshot-vllm-"))  # mode 0700
            self.log_path = self._log_dir / "server.log"
        self._log = open_log(self.log_path)
        logger.info("starting vLLM server on %s (log: %s)", self.root_url, self.log_path)
        self._proc = subprocess.Popen(self.command(), stdout=self._log,
                                      stderr=subprocess.STDOUT, env=env,
                                      start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                tail = self.log_tail()
                self._failed = True
                self.stop()
                raise ServerError(f"vLLM server exited with code {code} before it was healthy; "
                                  f"last lines of {self.log_path}:\n{tail}")
            if is_healthy(self.root_url):
                logger.info("vLLM server healthy at %s", self.base_url)
                return self
            time.sleep(1.0)
        self._failed = True
        self.stop()
        raise ServerError(f"vLLM server not healthy after {timeout:.0f} s; see {self.log_path}")

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None:
            return ""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait(self) -> int:
        """Block until the server exits (``zeroshot serve`` in the foreground); a
        server that dies keeps its log."""
        code = self._proc.wait() if self._proc else 0
        self._failed = self._failed or code != 0
        return code

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
            os.close(self._log)
            self._log = None
        if self._log_dir is not None and not self._failed:
            shutil.rmtree(self._log_dir, ignore_errors=True)
            self._log_dir = None

    def __enter__(self) -> VLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
