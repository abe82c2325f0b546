"""Health, metadata and shutdown through a real runtime, over HTTP and gRPC."""

from __future__ import annotations

from typing import Any

import grpc
import orjson
import pytest
from dapr.proto.runtime.v1 import metadata_pb2, state_pb2

import mecha
from tests.integration.conftest import StartMecha
from tests.integration.mecha_process import MechaProcess, dapr_stub


def _stub(process: MechaProcess) -> tuple[grpc.Channel, Any]:
    channel = grpc.insecure_channel(f"127.0.0.1:{process.grpc_port}")
    return channel, dapr_stub(channel)


def test_health_routes_answer_204(mecha: MechaProcess) -> None:
    assert mecha.request("GET", "/v1.0/healthz")[0] == 204
    assert mecha.request("GET", "/v1.0/healthz/outbound")[0] == 204


def test_healthz_checks_the_app_id_when_asked(mecha: MechaProcess) -> None:
    assert mecha.request("GET", "/v1.0/healthz?appid=orders")[0] == 204
    status, _, body = mecha.request("GET", "/v1.0/healthz?appid=other")
    assert status == 500
    assert orjson.loads(body)["errorCode"] == "ERR_HEALTH_APPID_NOT_MATCH"


def test_metadata_describes_the_runtime(mecha: MechaProcess) -> None:
    status, headers, body = mecha.request("GET", "/v1.0/metadata")
    assert status == 200
    assert headers["content-type"] == "application/json"
    meta = orjson.loads(body)
    assert meta["id"] == "orders"
    assert meta["runtimeVersion"] == mecha_version()
    assert meta["extended"]["daprRuntimeVersion"] == mecha_version()
    statestore = next(c for c in meta["components"] if c["name"] == "statestore")
    assert statestore["type"] == "state.sqlite"
    assert statestore["version"] == "v1"
    assert {"ETAG", "TRANSACTIONAL", "ACTOR"} <= set(statestore["capabilities"])
    assert meta["appConnectionProperties"]["channelAddress"] == "127.0.0.1"


def mecha_version() -> str:
    return mecha.__version__


def test_put_metadata_is_reported_back(mecha: MechaProcess) -> None:
    assert mecha.request("PUT", "/v1.0/metadata/team", b"payments")[0] == 204
    meta = orjson.loads(mecha.request("GET", "/v1.0/metadata")[2])
    assert meta["extended"]["team"] == "payments"


def test_grpc_metadata_round_trip(mecha: MechaProcess) -> None:
    channel, stub = _stub(mecha)
    with channel:
        stub.SetMetadata(metadata_pb2.SetMetadataRequest(key="tier", value="gold"))
        meta = stub.GetMetadata(metadata_pb2.GetMetadataRequest())
    assert meta.id == "orders"
    assert meta.runtime_version == mecha_version()
    assert meta.extended_metadata["tier"] == "gold"
    assert "statestore" in {c.name for c in meta.registered_components}


def test_http_shutdown_stops_the_runtime(mecha: MechaProcess) -> None:
    assert mecha.request("POST", "/v1.0/shutdown")[0] == 204
    assert mecha.wait_exit() == 0
    assert "shutdown API called" in mecha.output


def test_grpc_shutdown_stops_the_runtime(mecha: MechaProcess) -> None:
    from dapr.proto.runtime.v1 import dapr_pb2

    channel, stub = _stub(mecha)
    with channel:
        stub.Shutdown(dapr_pb2.ShutdownRequest())
    assert mecha.wait_exit() == 0


def test_sigterm_stops_the_runtime_cleanly(mecha: MechaProcess) -> None:
    mecha.process.terminate()
    assert mecha.wait_exit() == 0
    assert "mecha stopped" in mecha.output


def test_unknown_route_is_a_dapr_error(mecha: MechaProcess) -> None:
    status, headers, body = mecha.request("GET", "/v1.0/nothing-here")
    assert status == 404
    assert headers["content-type"] == "application/json"
    assert orjson.loads(body)["errorCode"] == "ERR_NOT_FOUND"


def test_wrong_verb_is_405_with_allow(mecha: MechaProcess) -> None:
    status, headers, body = mecha.request("DELETE", "/v1.0/metadata")
    assert status == 405
    assert headers["allow"] == "GET"
    assert orjson.loads(body)["errorCode"] == "ERR_METHOD_NOT_ALLOWED"


def test_unimplemented_rpc_answers_unimplemented_at_once(mecha: MechaProcess) -> None:
    from dapr.proto.runtime.v1 import pubsub_pb2

    channel, stub = _stub(mecha)
    with channel, pytest.raises(grpc.RpcError) as refused:
        stub.PublishEvent(pubsub_pb2.PublishEventRequest(pubsub_name="p", topic="t"), timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "PublishEvent" in (refused.value.details() or "")


def test_a_request_message_that_does_not_parse_fails_only_its_call(mecha: MechaProcess) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{mecha.grpc_port}") as channel:
        get_state = channel.unary_unary("/dapr.proto.runtime.v1.Dapr/GetState", None, None)
        with pytest.raises(grpc.RpcError) as refused:
            get_state(b"\xff\xff\xff", timeout=5)
        assert refused.value.code() == grpc.StatusCode.INTERNAL
        assert "GetState request" in (refused.value.details() or "")
        metadata = channel.unary_unary("/dapr.proto.runtime.v1.Dapr/GetMetadata", None, None)
        answer = metadata_pb2.GetMetadataResponse.FromString(metadata(b"", timeout=5))
        assert answer.id == "orders"


def test_two_runtimes_do_not_share_a_port(start_mecha: StartMecha, mecha: MechaProcess) -> None:
    clash = start_mecha(args=("--dapr-grpc-port", str(mecha.grpc_port)))
    # The flag given last wins, so the second runtime asks for the first one's gRPC port.
    assert clash.wait_exit() == 1
    assert "cannot listen for gRPC" in clash.output


def test_metadata_answer_follows_changes(mecha: MechaProcess) -> None:
    # The encoded answer is reused between requests: a change must show on the next GET.
    before = orjson.loads(mecha.request("GET", "/v1.0/metadata")[2])
    assert "stage" not in before["extended"]
    assert mecha.request("PUT", "/v1.0/metadata/stage", b"one")[0] == 204
    assert orjson.loads(mecha.request("GET", "/v1.0/metadata")[2])["extended"]["stage"] == "one"
    channel, stub = _stub(mecha)
    with channel:
        stub.SetMetadata(metadata_pb2.SetMetadataRequest(key="stage", value="two"))
    assert orjson.loads(mecha.request("GET", "/v1.0/metadata")[2])["extended"]["stage"] == "two"


def test_api_logging_names_each_call_on_both_apis(start_mecha: StartMecha) -> None:
    process = start_mecha(args=("--enable-api-logging",)).wait_ready()
    assert process.request("GET", "/v1.0/metadata")[0] == 200
    channel, stub = _stub(process)
    with channel:
        stub.GetMetadata(metadata_pb2.GetMetadataRequest())
        with pytest.raises(grpc.RpcError):
            stub.GetState(state_pb2.GetStateRequest(store_name="nope", key="k"))
    output = process.output
    assert "HTTP API called: GET /v1.0/metadata (GetMetadata) -> 200" in output
    assert "gRPC API called: GetMetadata in" in output
    assert "gRPC API called: GetState in" in output  # failed calls are logged too
