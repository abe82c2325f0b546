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

__all__ = [
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
    "Outgoing",
    "ProtocolErrorRenderer",
    "Request",
    "Response",
    "TextCache",
    "percent_decoded",
    "percent_encoded",
]
