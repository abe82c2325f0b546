"""Header lines encoded ahead of sending: LineCache, and the `lines` a request carries."""

from __future__ import annotations

import asyncio

import pytest

from mecha.http1 import ClientResponse, LineCache, Request, Response
from mecha.http1.client_wire import encode_head

from .rawhttp import serve
from .test_client_support import open_client


def test_a_line_is_encoded_once_and_kept() -> None:
    ids = LineCache("dapr-caller-app-id")
    first = ids.line("orders")
    assert first == b"dapr-caller-app-id: orders\r\n"
    assert ids.line("orders") is first
    assert ids.once("other") == b"dapr-caller-app-id: other\r\n"


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\rb"])
def test_a_value_that_would_break_its_line_is_refused(value: str) -> None:
    ids = LineCache("x-id")
    with pytest.raises(ValueError, match="CR or LF"):
        ids.line(value)
    with pytest.raises(ValueError, match="CR or LF"):
        ids.once(value)
    # Refused values are not kept: asking again is refused again.
    with pytest.raises(ValueError, match="CR or LF"):
        ids.line(value)


def test_fields_the_http_layer_states_itself_get_no_cache() -> None:
    with pytest.raises(ValueError, match="HTTP layer"):
        LineCache("Content-Length")


def test_the_request_line_is_checked_even_when_a_valid_one_is_kept() -> None:
    head = encode_head("POST", "/echo", b"Host: h\r\n", [], 0)
    assert head.startswith(b"POST /echo HTTP/1.1\r\n")
    assert encode_head("POST", "/echo", b"Host: h\r\n", [], 0) == head
    with pytest.raises(ValueError, match="invalid request target"):
        encode_head("POST", "/echo\r\nX: 1", b"Host: h\r\n", [], 0)
    with pytest.raises(ValueError, match="invalid HTTP method"):
        encode_head("PO ST", "/echo", b"Host: h\r\n", [], 0)


async def test_lines_go_out_after_the_headers() -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response(204)

    lines = LineCache("x-id").line("a") + LineCache("x-trace").once("t")
    async with serve(handler) as served, open_client() as client:
        answered: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        client.send(
            "127.0.0.1",
            served.port,
            "POST",
            "/lines",
            answered.set_result,
            [("x-first", "1")],
            b"body",
            lines=lines,
        )
        outcome = await answered
    assert isinstance(outcome, ClientResponse)
    assert outcome.status == 204
    names = [name for name, _ in seen[0].headers.pairs()]
    assert names == ["host", "x-first", "x-id", "x-trace", "content-length"]
    assert (seen[0].headers.get("x-id"), seen[0].headers.get("x-trace")) == ("a", "t")
    assert seen[0].body == b"body"
