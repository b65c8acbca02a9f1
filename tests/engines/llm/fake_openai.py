"""A small OpenAI-compatible server on 127.0.0.1 that misbehaves on demand.

It lists one model and answers chat completions. What it answers is decided by
words in the request's messages, so one batch can mix good and bad documents:

* ``FAIL500`` / ``RATE429`` / ``BAD400``: that HTTP status (429 with Retry-After: 0);
* ``HANG``: no answer until the server stops (a client timeout);
* ``CLOSE``: the connection is dropped without an answer;
* ``GARBAGE``: 200 with a body that is not JSON;
* ``NOCHOICES``: 200 with ``"choices": []``;
* ``SLOW``: a valid answer after ``slow_s`` seconds;
* otherwise 200 with ``{"entities": [...]}``: every word ``Ent<digits>`` of the
  document, labelled with the first label the request's JSON Schema allows.

``fail_words`` (a set) can be changed while the server runs: a word removed from
it makes the documents that hold it succeed (a server that recovered). Every
request body is kept in ``requests`` so tests can look at what was sent.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ALL_FAILURES = {"FAIL500", "RATE429", "BAD400", "HANG", "CLOSE", "GARBAGE", "NOCHOICES"}


class FakeOpenAI:
    def __init__(self, *, owned_by: str = "vllm", model: str = "fake-model",
                 slow_s: float = 1.0) -> None:
        self.owned_by = owned_by
        self.model = model
        self.slow_s = slow_s
        self.fail_words: set[str] = set(ALL_FAILURES)
        self.requests: list[dict[str, Any]] = []
        self.auth: list[str | None] = []  # the Authorization header of each request
        self.model_list_delay_s = 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def count(self, word: str) -> int:
        """Chat requests whose messages held ``word``."""
        with self._lock:
            return sum(word in json.dumps(r.get("messages")) for r in self.requests)

    # -- answers ---------------------------------------------------------------
    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        text = " ".join(m.get("content", "") for m in body.get("messages", [])
                        if m.get("role") == "user")
        labels = ["thing"]
        with contextlib.suppress(KeyError, TypeError, IndexError):
            schema = body["response_format"]["json_schema"]["schema"]
            labels = schema["properties"]["entities"]["items"]["properties"]["label"]["enum"]
        ents = [{"text": w, "label": labels[0]} for w in dict.fromkeys(
            re.findall(r"\bEnt\d+\b", text))]
        content = json.dumps({"entities": ents})
        return {"id": "cmpl-1", "object": "chat.completion", "created": int(time.time()),
                "model": self.model,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, payload: bytes, ctype: str = "application/json",
                      headers: dict[str, str] | None = None) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    if fake.model_list_delay_s:
                        fake._stop.wait(fake.model_list_delay_s)
                    self._send(200, json.dumps({"object": "list", "data": [
                        {"id": fake.model, "object": "model", "created": 0,
                         "owned_by": fake.owned_by}]}).encode())
                elif self.path == "/health":
                    self._send(200, b"")
                else:
                    self._send(404, b'{"error": "not found"}')

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake._lock:
                    fake.requests.append(body)
                    fake.auth.append(self.headers.get("Authorization"))
                said = json.dumps(body.get("messages"))
                active = {w for w in fake.fail_words if w in said}
                if "HANG" in active:
                    fake._stop.wait(60)
                    return
                if "CLOSE" in active:
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(2)
                    return
                for word, code in (("FAIL500", 500), ("RATE429", 429), ("BAD400", 400)):
                    if word in active:
                        self._send(code, json.dumps({"error": {"message": f"{word} on demand",
                                                               "type": "fake"}}).encode(),
                                   headers={"Retry-After": "0"} if code == 429 else None)
                        return
                if "GARBAGE" in active:
                    self._send(200, b"<html>not json at all", ctype="application/json")
                    return
                if "NOCHOICES" in active:
                    self._send(200, json.dumps({"id": "x", "object": "chat.completion",
                                                "created": 0, "model": fake.model,
                                                "choices": []}).encode())
                    return
                if "SLOW" in said:
                    fake._stop.wait(fake.slow_s)
                self._send(200, json.dumps(fake._completion(body)).encode())

        return Handler
