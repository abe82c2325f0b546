"""Mecha's own HTTP/1.1 layer on httptools (llhttp) protocol callbacks."""

from mecha.http1.message import Handler, Headers, Limits, ProtocolErrorRenderer, Request, Response
from mecha.http1.server import HttpServer

__all__ = [
    "Handler",
    "Headers",
    "HttpServer",
    "Limits",
    "ProtocolErrorRenderer",
    "Request",
    "Response",
]
