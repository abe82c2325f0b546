"""Channels as the factory builds them, over HTTP and gRPC: max concurrency and health checks."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable

import pytest

from mecha.blocks.invocation.errors import AppTimeout, AppUnhealthy
from mecha.blocks.invocation.models import InvokeRequest, InvokeResponse
from mecha.channel.factory import (
    AppChannelSettings,
    BuiltChannel,
    UnsupportedAppProtocol,
    build_app_channel,
)
from mecha.channel.grpc import GrpcAppChannel
from mecha.channel.health import HealthSettings
from mecha.channel.http import HttpAppChannel
from mecha.channel.protocols import invoke
from mecha.config import build_parser, from_args

from .apps import GrpcApp, HttpApp
from .conftest import call_context, settled

App = HttpApp | GrpcApp
FAST_HEALTH = HealthSettings(interval=0.1, timeout=0.1, threshold=3)


@pytest.fixture(params=["http", "grpc"])
async def app(request: pytest.FixtureRequest) -> AsyncIterator[App]:
    app: App = HttpApp() if request.param == "http" else GrpcApp()
    await app.start()
    try:
        yield app
    finally:
        await app.close()


@pytest.fixture
async def build(app: App) -> AsyncIterator[Callable[..., BuiltChannel]]:
    built: list[BuiltChannel] = []

    def make(**settings: object) -> BuiltChannel:
        protocol = "http" if isinstance(app, HttpApp) else "grpc"
        one = build_app_channel(
            AppChannelSettings(port=app.port, protocol=protocol, **settings)  # type: ignore[arg-type]
        )
        built.append(one)
        return one

    yield make
    for one in built:
        await one.channel.close()


async def test_plain_channel_by_protocol(app: App, build: Callable[..., BuiltChannel]) -> None:
    built = build(app_api_token="t")
    expected = HttpAppChannel if isinstance(app, HttpApp) else GrpcAppChannel
    assert isinstance(built.channel, expected)
    assert built.health is None
    reply = await invoke(built.channel, InvokeRequest(method="m", body=b"hi"), call_context())
    assert reply.body == b"hi"
    assert app.state.seen[0].header("dapr-api-token") == "t"


async def test_max_concurrency_is_honoured_in_order(
    app: App, build: Callable[..., BuiltChannel]
) -> None:
    limit, total = 3, 10
    channel = build(max_concurrency=limit).channel
    in_flight = app.state.in_flight
    calls: list[asyncio.Task[InvokeResponse]] = []
    for number in range(total):
        request = InvokeRequest(method=f"held/{number}")
        calls.append(asyncio.create_task(invoke(channel, request, call_context())))
        # Let each call reach the limiter before the next one, so the queue order is known.
        await asyncio.sleep(0)
    await in_flight.wait_entered(limit)
    assert sorted(in_flight.entered) == list(range(limit))
    # Release one call at a time: exactly one waiting call is let in each time, first come first.
    for released in range(total):
        in_flight.release(released)
        await in_flight.wait_entered(min(limit + released + 1, total))
        assert in_flight.now <= limit
    await asyncio.gather(*calls)
    assert in_flight.most == limit
    assert in_flight.entered[limit:] == list(range(limit, total))


async def test_waiting_for_a_slot_counts_against_the_timeout(
    app: App, build: Callable[..., BuiltChannel]
) -> None:
    channel = build(max_concurrency=1).channel
    held = asyncio.create_task(invoke(channel, InvokeRequest(method="held/0"), call_context()))
    await app.state.in_flight.wait_entered(1)
    with pytest.raises(AppTimeout):
        await invoke(channel, InvokeRequest(method="m"), call_context(timeout=0.05))
    app.state.in_flight.release(0)
    await held
    # The slot is free again, and the call that timed out never reached the app.
    assert (await invoke(channel, InvokeRequest(method="m"), call_context())).status == 200
    assert [seen.method for seen in app.state.seen] == ["held/0", "m"]


async def test_health_transitions_and_fail_fast(
    app: App, build: Callable[..., BuiltChannel]
) -> None:
    built = build(health=FAST_HEALTH)
    assert built.health is not None
    changes: list[bool] = []
    built.health.add_listener(changes.append)
    await settled(built.health, True)
    assert (await invoke(built.channel, InvokeRequest(method="m"), call_context())).status == 200

    app.state.healthy = False
    await settled(built.health, False)
    with pytest.raises(AppUnhealthy):
        await invoke(built.channel, InvokeRequest(method="m"), call_context())
    # Failed fast: the app never saw the call.
    assert len(app.state.seen) == 1

    app.state.healthy = True
    await settled(built.health, True)
    assert (await invoke(built.channel, InvokeRequest(method="m"), call_context())).status == 200
    assert changes == [True, False, True]


async def test_app_down_turns_unhealthy(closed_port: int) -> None:
    settings = AppChannelSettings(port=closed_port, health=FAST_HEALTH)
    built = build_app_channel(settings)
    assert built.health is not None
    try:
        with pytest.raises(AppUnhealthy):
            await invoke(built.channel, InvokeRequest(method="m"), call_context())
        assert not built.health.healthy
    finally:
        await built.channel.close()


async def test_health_probes_skip_the_concurrency_limit(
    app: App, build: Callable[..., BuiltChannel]
) -> None:
    built = build(max_concurrency=1, health=FAST_HEALTH)
    assert built.health is not None
    await settled(built.health, True)
    held = asyncio.create_task(
        invoke(built.channel, InvokeRequest(method="held/0"), call_context())
    )
    await app.state.in_flight.wait_entered(1)
    probes = app.state.health_probes
    assert await built.channel.probe(5.0)
    assert app.state.health_probes > probes
    app.state.in_flight.release(0)
    await held


async def test_close_stops_health_probes(app: App, build: Callable[..., BuiltChannel]) -> None:
    built = build(health=FAST_HEALTH)
    assert built.health is not None
    await settled(built.health, True)
    await built.channel.close()
    app.state.healthy = False
    probes = app.state.health_probes
    await asyncio.sleep(FAST_HEALTH.interval * 3)
    assert app.state.health_probes == probes
    assert built.health.healthy


@pytest.mark.parametrize("protocol", ["ftp", "HTTP/3"])
def test_unknown_protocols_are_refused(protocol: str) -> None:
    with pytest.raises(UnsupportedAppProtocol, match=protocol):
        build_app_channel(AppChannelSettings(port=1, protocol=protocol))


def test_settings_from_flags() -> None:
    parser = argparse.ArgumentParser()
    build_parser(parser)
    flags = parser.parse_args(
        [
            "--app-id",
            "a",
            "--app-port",
            "7000",
            "--app-protocol",
            "grpc",
            "--app-max-concurrency",
            "4",
            "--enable-app-health-check",
            "--app-health-check-path",
            "/ready",
            "--app-health-probe-interval",
            "2",
            "--app-health-probe-timeout",
            "300",
            "--app-health-threshold",
            "5",
        ]
    )
    config = from_args(flags, [], environ={"APP_API_TOKEN": "tok"})
    settings = AppChannelSettings.from_config(config)
    assert settings == AppChannelSettings(
        port=7000,
        protocol="grpc",
        app_api_token="tok",
        max_concurrency=4,
        health=HealthSettings(path="/ready", interval=2.0, timeout=0.3, threshold=5),
        max_body_bytes=4 << 20,
    )
    plain = AppChannelSettings.from_config(dataclasses.replace(config, app_health_check=False))
    assert plain.health is None
