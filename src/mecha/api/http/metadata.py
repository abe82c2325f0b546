"""`GET /v1.0/metadata` and `PUT /v1.0/metadata/{key}`, in the JSON shape daprd answers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from mecha.api.http.router import Call
from mecha.http1 import Response

if TYPE_CHECKING:
    from mecha.metadata import Metadata

_answers: dict[str, tuple[Metadata, Response]] = {}
"""The last answer per app id, reused while the runtime describes the app with the same object
(it makes a new one whenever anything shown changes)."""


def get(call: Call) -> Response:
    meta = call.runtime.describe(call.app)
    answered = _answers.get(meta.id)
    if answered is not None and answered[0] is meta:
        return answered[1]
    response = Response(200, _encode(meta), content_type="application/json")
    _answers[meta.id] = (meta, response)
    return response


def _encode(meta: Metadata) -> bytes:
    connection = meta.app_connection
    body: dict[str, Any] = {
        "id": meta.id,
        "runtimeVersion": meta.runtime_version,
        "enabledFeatures": list(meta.enabled_features),
        "components": [
            {
                "name": c.name,
                "type": c.type,
                "version": c.version,
                "capabilities": list(c.capabilities),
            }
            for c in meta.components
        ],
        "extended": meta.extended,
        "httpEndpoints": [{"name": name} for name in meta.http_endpoints],
        "appConnectionProperties": {
            key: value
            for key, value in (
                ("port", connection.port),
                ("protocol", connection.protocol),
                ("channelAddress", connection.channel_address),
                ("maxConcurrency", connection.max_concurrency),
            )
            if value
        },
        "actorRuntime": {
            "runtimeStatus": meta.actor_runtime_status,
            "hostReady": meta.actor_host_ready,
        },
    }
    # daprd omits empty lists and maps.
    for key in ("enabledFeatures", "components", "httpEndpoints"):
        if not body[key]:
            del body[key]
    return orjson.dumps(body)


def put(call: Call) -> Response:
    call.runtime.set_extended_metadata(
        call.app, call.params["key"], call.request.body.decode("utf-8", "replace")
    )
    return Response(204)
