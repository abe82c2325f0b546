"""`/v1.0/healthz` and `/v1.0/healthz/outbound`."""

from __future__ import annotations

from urllib.parse import parse_qs

from mecha.api.http.router import Call
from mecha.errors import ErrorCode, MechaError
from mecha.http1 import Response

_NO_CONTENT = Response(204)


def healthz(call: Call) -> Response:
    if not call.runtime.is_ready(call.app):
        raise MechaError(
            ErrorCode.HEALTH_NOT_READY,
            f"mecha is not ready: {', '.join(call.runtime.unready_targets(call.app))}",
        )
    if call.request.query:
        wanted = parse_qs(call.request.query).get("appid")
        if wanted and wanted[0] != call.app.id:
            raise MechaError(ErrorCode.HEALTH_APPID_NOT_MATCH, "app id does not match")
    return _NO_CONTENT


def outbound(call: Call) -> Response:
    if not call.runtime.outbound_ready:
        raise MechaError(ErrorCode.OUTBOUND_HEALTH_NOT_READY, "mecha outbound is not ready")
    return _NO_CONTENT
