"""What a runtime registers about itself, and what resolving an app id returns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Instance:
    """One runtime serving one app, as peers reach it."""

    app_id: str
    namespace: str
    host: str
    # Runtime-to-runtime invocation port (Mecha's internal HTTP/1.1 listener).
    internal_port: int
    # The runtime's public gRPC API port: proxied gRPC calls travel to it.
    grpc_port: int
    # The runtime's public HTTP API port (for tools and diagnostics).
    http_port: int
    # Process id on `host`; lets same-host resolvers drop entries of runtimes that died.
    pid: int = 0


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    internal_port: int
    grpc_port: int
