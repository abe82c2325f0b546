"""`/v1.0/healthz` and `/v1.0/healthz/outbound`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qs

from mecha.api.http.router import Call
from mecha.errors import ErrorCode, MechaError
from mecha.http1 import Response

if TYPE_CHECKING:
    from mecha.apps import HostedApp
    from mecha.runtime import Runtime

_NO_CONTENT: Final = Response(204)


def healthz(call: Call) -> Response:
    runtime, app = call.runtime, call.app
    health = app.health
    # Asked by every probe, so the usual answer is three attribute reads, no calls.
    if not (runtime.outbound_ready and app.channel_ready and (health is None or health.healthy)):
        raise MechaError(
            ErrorCode.HEALTH_NOT_READY,
            f"mecha is not ready: {', '.join(unready_targets(runtime, app))}",
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


def unready_targets(runtime: Runtime, app: HostedApp) -> list[str]:
    targets = []
    if not runtime.outbound_ready:
        targets.append("components")
    if not app.channel_ready:
        targets.append("app channel")
    if app.health is not None and not app.health.healthy:
        targets.append("app health")
    return targets
