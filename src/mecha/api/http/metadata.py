"""`GET /v1.0/metadata` and `PUT /v1.0/metadata/{key}`, in the JSON shape daprd answers."""

from __future__ import annotations

from typing import Any

import orjson

from mecha.api.http.router import Call
from mecha.http1 import Response


def get(call: Call) -> Response:
    meta = call.runtime.describe(call.app)
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
    return Response(200, orjson.dumps(body), content_type="application/json")


def put(call: Call) -> Response:
    call.runtime.set_extended_metadata(
        call.app, call.params["key"], call.request.body.decode("utf-8", "replace")
    )
    return Response(204)
