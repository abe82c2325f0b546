"""Mecha's own HTTP/1.1 layer on httptools (llhttp) protocol callbacks."""

from mecha.http1.client import HttpClient
from mecha.http1.client_message import ClientError, ClientResponse, ClientTimeout, ConnectError
from mecha.http1.message import Handler, Headers, Limits, ProtocolErrorRenderer, Request, Response
from mecha.http1.server import HttpServer

__all__ = [
    "ClientError",
    "ClientResponse",
    "ClientTimeout",
    "ConnectError",
    "Handler",
    "Headers",
    "HttpClient",
    "HttpServer",
    "Limits",
    "ProtocolErrorRenderer",
    "Request",
    "Response",
]
