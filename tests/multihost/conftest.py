"""Three hosts on one bridge with a runtime on each, and a fourth holding Redis for name resolution.

Host `a` runs the calling app's runtime (no app); hosts `b` and `c` each run a runtime with the
HTTP echo app, whose replies name their host. Every runtime has its own data directory, so only
the Redis resolver can tell them about each other.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.multihost.netns import Lab, remove_leftovers, unavailable_reason
from tests.multihost.processes import HostRuntime, Mesh, ResolverRedis


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    remove_leftovers()
    created = Lab(("a", "b", "c", "redis"))
    try:
        yield created
    finally:
        created.close()


@pytest.fixture(scope="module")
def mesh(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    workdir = tmp_path_factory.mktemp("multihost")
    redis = ResolverRedis(lab.hosts["redis"], workdir)
    try:
        yield Mesh(lab, redis, workdir)
    finally:
        redis.stop()


@pytest.fixture(scope="module")
def caller_and_echo_b(mesh: Mesh) -> Iterator[tuple[HostRuntime, HostRuntime]]:
    """Runtime A (app `caller`, no app) and runtime B (app `echo`), started side by side."""
    hosts = mesh.lab.hosts
    caller = mesh.start_caller(hosts["a"])
    # B names its internal port; C (below) leaves it to the system.
    echo_b = mesh.start_echo(hosts["b"], "--dapr-internal-grpc-port", "50002")
    try:
        caller.wait_ready()
        echo_b.wait_ready("/v1.0/healthz")
        yield caller, echo_b
    finally:
        _stop(caller)
        _stop(echo_b)


@pytest.fixture
def caller(caller_and_echo_b: tuple[HostRuntime, HostRuntime]) -> HostRuntime:
    return caller_and_echo_b[0]


@pytest.fixture
def echo_b(caller_and_echo_b: tuple[HostRuntime, HostRuntime]) -> HostRuntime:
    return caller_and_echo_b[1]


@pytest.fixture
def echo_c(mesh: Mesh) -> Iterator[HostRuntime]:
    """Runtime C (app `echo`) for one test: a test may kill it."""
    host = mesh.lab.hosts["c"]
    runtime = mesh.start_echo(host)
    try:
        runtime.wait_ready("/v1.0/healthz")
        yield runtime
    finally:
        _stop(runtime)
        mesh.lab.end_processes(host)  # the app of a killed runtime outlives it


def _stop(runtime: HostRuntime) -> None:
    runtime.stop()
    # Captured, so shown only when a test failed.
    print(f"----- mecha on host {runtime.host.name} ({runtime.app_id}) -----\n{runtime.output}")
