"""`POST /v1.0/shutdown`: answer first, then stop gracefully."""

from __future__ import annotations

from mecha.api.http.router import Call
from mecha.http1 import Response


def shutdown(call: Call) -> Response:
    call.runtime.request_shutdown(reason="shutdown API called")
    return Response(204)
