"""What the HTTP API does with malformed and oversized requests, through a real runtime."""

from __future__ import annotations

import re
import socket

import orjson

from tests.integration.conftest import StartMecha
from tests.integration.mecha_process import MechaProcess


def _raw(process: MechaProcess, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", process.http_port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def _body(reply: bytes) -> bytes:
    return reply.split(b"\r\n\r\n", 1)[1]


def test_malformed_request_gets_400_and_the_next_request_works(mecha: MechaProcess) -> None:
    reply = _raw(mecha, b"GARBAGE \x00\x01 nonsense\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400 ")
    assert orjson.loads(_body(reply))["errorCode"] == "ERR_MALFORMED_REQUEST"
    assert mecha.request("GET", "/v1.0/healthz")[0] == 204


def test_body_over_the_limit_gets_413(start_mecha: StartMecha) -> None:
    process = start_mecha(args=("--max-body-size", "1Ki")).wait_ready()
    status, _, body = process.request("POST", "/v1.0/state/statestore", b"x" * 2048)
    assert status == 413
    assert orjson.loads(body)["errorCode"] == "ERR_BODY_TOO_LARGE"
    assert process.request("GET", "/v1.0/healthz")[0] == 204


def test_default_limit_is_4mi(mecha: MechaProcess) -> None:
    head = (
        b"POST /v1.0/state/statestore HTTP/1.1\r\nHost: x\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (4 * 1024 * 1024 + 1)
    )
    # Answered from the headers alone, without sending the body.
    assert _raw(mecha, head).startswith(b"HTTP/1.1 413 ")


def test_headers_over_the_limit_get_431(mecha: MechaProcess) -> None:
    reply = _raw(
        mecha,
        b"GET /v1.0/healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8192 + b"\r\n\r\n",
    )
    assert reply.startswith(b"HTTP/1.1 431 ")


def test_pipelined_requests_are_answered_in_order(mecha: MechaProcess) -> None:
    reply = _raw(
        mecha,
        b"GET /v1.0/metadata HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /v1.0/nothing HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /v1.0/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", reply)
    assert statuses == [b"200", b"404", b"204"]
