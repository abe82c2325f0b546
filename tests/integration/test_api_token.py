"""DAPR_API_TOKEN: every route and rpc but health needs the dapr-api-token header."""

from __future__ import annotations

import grpc
import orjson
import pytest
from dapr.proto.runtime.v1 import metadata_pb2

from tests.integration.conftest import StartMecha
from tests.integration.mecha_process import MechaProcess, dapr_stub

TOKEN = "s3cret-token"


@pytest.fixture
def guarded(start_mecha: StartMecha) -> MechaProcess:
    return start_mecha(env={"DAPR_API_TOKEN": TOKEN}).wait_ready()


def test_http_requires_the_token(guarded: MechaProcess) -> None:
    status, _, body = guarded.request("GET", "/v1.0/metadata")
    assert status == 401
    assert orjson.loads(body)["errorCode"] == "ERR_UNAUTHORIZED"
    status, _, _ = guarded.request("GET", "/v1.0/metadata", headers={"dapr-api-token": "wrong"})
    assert status == 401
    status, _, body = guarded.request("GET", "/v1.0/metadata", headers={"dapr-api-token": TOKEN})
    assert status == 200
    assert orjson.loads(body)["id"] == "orders"


def test_health_needs_no_token(guarded: MechaProcess) -> None:
    assert guarded.request("GET", "/v1.0/healthz")[0] == 204
    assert guarded.request("GET", "/v1.0/healthz/outbound")[0] == 204


def test_unknown_routes_are_still_404_not_401(guarded: MechaProcess) -> None:
    assert guarded.request("GET", "/v1.0/nothing")[0] == 404


def test_grpc_requires_the_token(guarded: MechaProcess) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{guarded.grpc_port}") as channel:
        stub = dapr_stub(channel)
        with pytest.raises(grpc.RpcError) as missing:
            stub.GetMetadata(metadata_pb2.GetMetadataRequest(), timeout=5)
        assert missing.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as wrong:
            stub.GetMetadata(
                metadata_pb2.GetMetadataRequest(), metadata=(("dapr-api-token", "x"),), timeout=5
            )
        assert wrong.value.code() == grpc.StatusCode.UNAUTHENTICATED
        meta = stub.GetMetadata(
            metadata_pb2.GetMetadataRequest(), metadata=(("dapr-api-token", TOKEN),), timeout=5
        )
        assert meta.id == "orders"
