"""An app for mecha to launch (`mecha run ... -- python env_app.py`).

It serves HTTP on APP_PORT and answers `GET /env` with the variables mecha gave it, so a
scenario can check what the runtime hands the app it starts. Other paths answer 404, which is
what the runtime expects from an app that has no subscriptions or configuration to offer.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType

REPORTED = ("APP_ID", "APP_PORT", "DAPR_HTTP_PORT", "DAPR_GRPC_PORT", "DAPR_API_TOKEN")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/env":
            body = json.dumps({name: os.environ.get(name) for name in REPORTED}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
        else:
            body = b""
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        print(f"env_app: {format % args}", flush=True)


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["APP_PORT"])), Handler)

    def stop(signum: int, frame: FrameType | None) -> None:
        server.server_close()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"env_app: listening on {server.server_address}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
