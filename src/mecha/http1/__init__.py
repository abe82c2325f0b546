"""Mecha's own HTTP/1.1 layer on httptools (llhttp) protocol callbacks."""

from mecha.http1.client import HttpClient, Outgoing
from mecha.http1.client_message import ClientError, ClientResponse, ClientTimeout, ConnectError
from mecha.http1.message import (
    Deferred,
    Handler,
    Headers,
    Limits,
    ProtocolErrorRenderer,
    Request,
    Response,
    TextCache,
    percent_decoded,
    percent_encoded,
)
from mecha.http1.server import HttpServer
from mecha.http1.wire import CONTENT_TYPE_LINES, LineCache

__all__ = [
    "CONTENT_TYPE_LINES",
    "ClientError",
    "ClientResponse",
    "ClientTimeout",
    "ConnectError",
    "Deferred",
    "Handler",
    "Headers",
    "HttpClient",
    "HttpServer",
    "Limits",
    "LineCache",
    "Outgoing",
    "ProtocolErrorRenderer",
    "Request",
    "Response",
    "TextCache",
    "percent_decoded",
    "percent_encoded",
]
