"""Mecha's own HTTP/2 server for gRPC, on asyncio protocol callbacks with hand-rolled framing."""

from mecha.http2.call import (
    Method,
    ServerCall,
    StreamHandler,
    StreamMethod,
    UnaryHandler,
    UnaryMethod,
)
from mecha.http2.context import Limits, Lookup
from mecha.http2.metadata import Metadata, MetadataValue
from mecha.http2.server import GrpcServer
from mecha.http2.status import GrpcError, StatusCode

__all__ = [
    "GrpcError",
    "GrpcServer",
    "Limits",
    "Lookup",
    "Metadata",
    "MetadataValue",
    "Method",
    "ServerCall",
    "StatusCode",
    "StreamHandler",
    "StreamMethod",
    "UnaryHandler",
    "UnaryMethod",
]
