"""Every HTTP route Mecha serves, in one table."""

from __future__ import annotations

from mecha.api.http import health, invoke, lifecycle, metadata, state
from mecha.api.http.router import Handler, Route


def _write(pattern: str, handler: Handler, name: str) -> tuple[Route, Route]:
    """daprd takes both POST and PUT for its write routes."""
    return Route("POST", pattern, handler, name), Route("PUT", pattern, handler, name)


ROUTES: tuple[Route, ...] = (
    # Health and runtime
    Route("GET", "/v1.0/healthz", health.healthz, "Healthz", public=True),
    Route("GET", "/v1.0/healthz/outbound", health.outbound, "HealthzOutbound", public=True),
    Route("GET", "/v1.0/metadata", metadata.get, "GetMetadata"),
    Route("PUT", "/v1.0/metadata/{key}", metadata.put, "PutMetadata"),
    Route("POST", "/v1.0/shutdown", lifecycle.shutdown, "Shutdown"),
    # Service invocation (the target may be a URL, so the handler splits the rest itself)
    *(
        Route(verb, "/v1.0/invoke/{rest...}", invoke.by_path, "InvokeService")
        for verb in invoke.VERBS
    ),
    # State
    Route("GET", "/v1.0/state/{store}/{key}", state.get, "GetState"),
    Route("DELETE", "/v1.0/state/{store}/{key}", state.delete, "DeleteState"),
    *_write("/v1.0/state/{store}", state.save, "SaveState"),
    *_write("/v1.0/state/{store}/bulk", state.bulk_get, "GetBulkState"),
    *_write("/v1.0/state/{store}/transaction", state.transaction, "ExecuteStateTransaction"),
    *_write("/v1.0-alpha1/state/{store}/query", state.query, "QueryState"),
)
