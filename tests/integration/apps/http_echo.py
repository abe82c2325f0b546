"""An HTTP app for invocation tests: echoes what it received, or answers as the path asks.

- `/status/<code>`: answers that status with a small body.
- `/slow/<seconds>`: waits, then answers 200.
- anything else: 200 with the request body as the body and what it saw in `x-echo-*` headers.

With ECHO_HOST set, every reply names it in `x-echo-host` (tests with several hosts).
"""

from __future__ import annotations

import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ECHO_HOST = os.environ.get("ECHO_HOST", "")


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Head and body go out in separate writes; without this Nagle holds the body ~40 ms.
    disable_nagle_algorithm = True

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        if path.startswith("/status/"):
            self._answer(int(path.rsplit("/", 1)[1]), b"app says no", "text/plain", {})
            return
        if path.startswith("/slow/"):
            time.sleep(float(path.rsplit("/", 1)[1]))
        seen = {
            "x-echo-method": self.command,
            "x-echo-path": path,
            "x-echo-query": query,
            "x-echo-headers": json.dumps({k.lower(): v for k, v in self.headers.items()}),
        }
        self._answer(200, body, self.headers.get("content-type") or "", seen)

    def _answer(self, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        if ECHO_HOST:
            self.send_header("x-echo-host", ECHO_HOST)
        for name, value in headers.items():
            self.send_header(name, value)
        if content_type:
            self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["APP_PORT"])), Echo)
    server.daemon_threads = True
    server.serve_forever()
