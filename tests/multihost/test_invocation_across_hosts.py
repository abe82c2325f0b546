"""Service invocation between runtimes on different hosts, found through the Redis resolver.

App `caller` on host A calls app `echo` by id; the runtimes on hosts B and C both serve it.
Calls are made from the root namespace to A's address, so every hop crosses the bridge.
"""

from __future__ import annotations

import time
from collections import Counter

import grpc
import orjson
import pytest
from dapr.proto.common.v1 import common_pb2
from dapr.proto.runtime.v1 import invoke_pb2
from google.protobuf import any_pb2

from tests.integration.mecha_process import dapr_stub
from tests.multihost.processes import LEASE_SECONDS, HostRuntime, Mesh

pytestmark = pytest.mark.multihost

INVOKE = "/v1.0/invoke/echo/method/x"
# Long enough for a resolver cache and a few peer retries on a loaded machine.
SETTLE_SECONDS = 10.0


def _invoke(caller: HostRuntime, body: bytes) -> str:
    """Call `echo` through runtime A; the name of the host that answered."""
    status, headers, reply = caller.request("POST", INVOKE, body, {"x-probe": "mesh"})
    assert status == 200, reply
    assert reply == body
    seen = orjson.loads(headers["x-echo-headers"])
    assert seen["dapr-caller-app-id"] == "caller"
    assert seen["x-probe"] == "mesh"
    return headers["x-echo-host"]


def _until_both_answer(caller: HostRuntime) -> Counter[str]:
    """Call until B and C have both answered (C may register after A first resolves)."""
    answered: Counter[str] = Counter()
    deadline = time.monotonic() + SETTLE_SECONDS
    while not {"b", "c"} <= answered.keys() and time.monotonic() < deadline:
        answered[_invoke(caller, b"hello")] += 1
    assert set(answered) == {"b", "c"}, answered
    return answered


def test_calls_reach_the_app_on_both_hosts(
    mesh: Mesh, caller: HostRuntime, echo_b: HostRuntime, echo_c: HostRuntime
) -> None:
    assert mesh.resolved_hosts("echo") == {echo_b.host.address, echo_c.host.address}
    assert mesh.resolved_hosts("caller") == {caller.host.address}
    _until_both_answer(caller)
    answered = Counter(_invoke(caller, f"call {n}".encode()) for n in range(20))
    assert set(answered) == {"b", "c"}, answered


def test_grpc_invoke_service_crosses_hosts(caller: HostRuntime, echo_b: HostRuntime) -> None:
    """Runtime A hosts no `echo`: every reply crossed to another host."""
    target = f"{caller.host.address}:{caller.grpc_port}"
    # A proxy named in the environment must not carry calls meant for the test's own hosts.
    with grpc.insecure_channel(target, options=[("grpc.enable_http_proxy", 0)]) as channel:
        stub = dapr_stub(channel)
        for n in range(10):
            payload = f"\x00grpc {n}".encode()
            reply = stub.InvokeService(
                invoke_pb2.InvokeServiceRequest(
                    id="echo",
                    message=common_pb2.InvokeRequest(
                        method="orders/9",
                        data=any_pb2.Any(value=payload),
                        content_type="application/octet-stream",
                        http_extension=common_pb2.HTTPExtension(
                            verb=common_pb2.HTTPExtension.Verb.PUT, querystring="a=1"
                        ),
                    ),
                ),
                timeout=10,
            )
            assert reply.data.value == payload
            assert reply.content_type == "application/octet-stream"


def test_calls_keep_succeeding_when_a_runtime_dies(
    mesh: Mesh, caller: HostRuntime, echo_b: HostRuntime, echo_c: HostRuntime
) -> None:
    _until_both_answer(caller)
    echo_c.kill()
    # C never unregisters; its lease ends within LEASE_SECONDS of its last renewal. Meanwhile
    # every call must still succeed, answered by B (A retries a peer it cannot reach).
    deadline = time.monotonic() + LEASE_SECONDS + SETTLE_SECONDS
    while mesh.resolved_hosts("echo") != {echo_b.host.address}:
        assert time.monotonic() < deadline, "C's lease did not end"
        assert _invoke(caller, b"during") == "b"
    answered = Counter(_invoke(caller, f"after {n}".encode()) for n in range(20))
    assert answered == Counter({"b": 20})
