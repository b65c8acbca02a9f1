"""`zeroshot serve` / VLLMServer without vLLM: a stand-in process that answers
/health shows where the log goes, how the API key is passed and what a
non-loopback bind says (issue #15 row 14)."""

from __future__ import annotations

import logging
import os
import stat
import sys

import pytest

from zeroshot.engines.llm.server import ServerError, VLLMServer, is_loopback

# a stand-in for vLLM's server: answers /health, writes what it was given to its log
STAND_IN = r"""
import http.server, os, sys
print("argv:", sys.argv[1:], flush=True)
print("key in env:", os.environ.get("VLLM_API_KEY"), flush=True)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


class StandInServer(VLLMServer):
    def command(self) -> list[str]:
        return [sys.executable, "-c", STAND_IN, str(self.port), *super().command()[3:]]


@pytest.mark.parametrize("host, loop", [("127.0.0.1", True), ("127.8.0.1", True),
                                        ("::1", True), ("localhost", True),
                                        ("0.0.0.0", False), ("10.0.0.5", False),
                                        ("::", False), ("example.org", False)])
def test_is_loopback(host, loop):
    assert is_loopback(host) is loop


def test_log_in_a_private_dir_and_api_key_in_the_environment(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    server = StandInServer(tmp_path, host="127.0.0.1", api_key="s3cret")
    server.start(timeout=60)
    try:
        log = server.log_path
        assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(log.stat().st_mode) == 0o600
        assert log.parent.name.startswith("zeroshot-vllm-")
        text = server.log_tail()
        assert "key in env: s3cret" in text
        assert "s3cret" not in text.split("key in env:")[0]  # not on the command line
        assert "binds" not in caplog.text  # loopback: no warning
    finally:
        server.stop()
    assert not log.parent.exists()  # a clean stop removes the private directory


def test_non_loopback_bind_is_warned_about(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    server = StandInServer(tmp_path, host="0.0.0.0")
    with caplog.at_level(logging.WARNING):
        server.start(timeout=60)
    server.stop()
    assert "the server binds 0.0.0.0: anyone who can reach this address" in caplog.text
    assert "no API key" in caplog.text


def test_log_is_never_written_through_a_symlink(tmp_path):
    target = tmp_path / "victim.txt"
    target.write_text("keep me\n")
    planted = tmp_path / "server.log"
    os.symlink(target, planted)
    with pytest.raises(ServerError, match="symbolic link"):
        StandInServer(tmp_path, log_path=planted).start(timeout=30)
    assert target.read_text() == "keep me\n"
