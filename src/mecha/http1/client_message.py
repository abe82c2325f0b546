"""What the HTTP/1.1 client hands back: a buffered response, or one of its errors."""

from __future__ import annotations

from mecha.http1.message import Headers


class ClientResponse:
    """A complete response; interim (1xx) responses are not kept."""

    __slots__ = ("body", "headers", "reason", "status")

    def __init__(self, status: int, reason: str, headers: Headers, body: bytes) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"<ClientResponse {self.status} {self.reason} body={len(self.body)}B>"


class ClientError(Exception):
    """The request got no usable response."""


class ConnectError(ClientError):
    """No response byte came back: the request was certainly not processed, so it is safe
    to send again (the connection could not be opened, was refused, or was closed first)."""


class ClientTimeout(ClientError):
    """No complete response within the request's timeout."""


class NotSentError(ConnectError):
    """The connection closed before the request was written: certainly not processed."""


class UnansweredError(ClientError):
    """The connection closed after the request went out but before any byte of the response.

    On a reused connection the server may have closed it while idle, or it may have processed
    the request and died: only requests that are safe to repeat are tried again.
    """
