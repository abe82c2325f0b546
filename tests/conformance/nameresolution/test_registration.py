"""Resolvers that register instances: what one runtime announces, the others resolve, until it
unregisters, closes, or dies.

Each test plays several runtimes by opening several resolvers on one data folder (local) or one
Redis (redis). A resolver that has not resolved an app before has nothing cached for it, so it
shows what the backing store holds now.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from pathlib import Path

import pytest

from mecha.blocks.nameresolution.models import Address, Instance
from mecha.blocks.nameresolution.protocols import NameResolver
from tests.conformance.nameresolution.conftest import OpenResolver
from tests.conformance.nameresolution.orphan import REGISTERED
from tests.conformance.nameresolution.resolvers import ResolverUnderTest

pytestmark = pytest.mark.registration

REPOSITORY = Path(__file__).resolve().parents[3]
POLL_SECONDS = 0.05


@pytest.fixture
def app_id() -> str:
    return f"app-{uuid.uuid4().hex[:8]}"


def instance(app_id: str, port: int, namespace: str = "") -> Instance:
    return Instance(
        app_id=app_id,
        namespace=namespace,
        host="127.0.0.1",
        internal_port=port,
        grpc_port=port + 1,
        http_port=port + 2,
        pid=os.getpid(),
    )


def address(of: Instance) -> Address:
    return Address(of.host, of.internal_port, of.grpc_port)


def addresses(*instances: Instance) -> set[Address]:
    return {address(i) for i in instances}


async def resolved(resolver: NameResolver, app_id: str, namespace: str = "") -> set[Address]:
    found = await resolver.resolve(app_id, namespace)
    assert len(found) == len(set(found)), f"duplicates in {found}"
    return set(found)


async def test_a_registered_instance_resolves_everywhere(
    open_resolver: OpenResolver, app_id: str
) -> None:
    owner, peer = await open_resolver(), await open_resolver()
    announced = instance(app_id, 41000)

    await owner.register(announced)

    assert await owner.resolve(app_id, "") == [address(announced)]
    assert await peer.resolve(app_id, "") == [address(announced)]


async def test_registering_again_keeps_one_instance(
    open_resolver: OpenResolver, app_id: str
) -> None:
    owner = await open_resolver()
    announced = instance(app_id, 41000)

    await owner.register(announced)
    await owner.register(announced)

    assert await (await open_resolver()).resolve(app_id, "") == [address(announced)]


async def test_two_instances_of_one_app_both_resolve(
    open_resolver: OpenResolver, app_id: str
) -> None:
    first, second = instance(app_id, 41000), instance(app_id, 41010)
    await (await open_resolver()).register(first)
    await (await open_resolver()).register(second)

    assert await resolved(await open_resolver(), app_id) == addresses(first, second)


async def test_unregister_removes_only_that_instance(
    open_resolver: OpenResolver, app_id: str
) -> None:
    owner = await open_resolver()
    leaving, staying = instance(app_id, 41000), instance(app_id, 41010)
    await owner.register(leaving)
    await owner.register(staying)
    assert await resolved(owner, app_id) == addresses(leaving, staying)

    await owner.unregister(leaving)

    assert await resolved(owner, app_id) == addresses(staying)
    assert await resolved(await open_resolver(), app_id) == addresses(staying)
    await owner.unregister(leaving)  # again: nothing to do, no error


async def test_close_removes_what_the_resolver_registered(
    open_resolver: OpenResolver, app_id: str
) -> None:
    closing, other = await open_resolver(), await open_resolver()
    mine = [instance(app_id, 41000), instance(app_id, 41010), instance(app_id + "-b", 41020)]
    theirs = instance(app_id, 41030)
    for announced in mine:
        await closing.register(announced)
    await other.register(theirs)
    assert await resolved(closing, app_id) == addresses(mine[0], mine[1], theirs)

    await closing.close()

    observer = await open_resolver()
    assert await resolved(observer, app_id) == addresses(theirs)
    assert await observer.resolve(app_id + "-b", "") == []


async def test_namespaces_keep_apps_apart(open_resolver: OpenResolver, app_id: str) -> None:
    owner = await open_resolver()
    in_a, in_b = instance(app_id, 41000, "team-a"), instance(app_id, 41010, "team-b")

    await owner.register(in_a)
    observer = await open_resolver()
    assert await observer.resolve(app_id, "team-b") == []
    assert await observer.resolve(app_id, "") == []

    await owner.register(in_b)
    observer = await open_resolver()
    assert await observer.resolve(app_id, "team-a") == [address(in_a)]
    assert await observer.resolve(app_id, "team-b") == [address(in_b)]


async def test_an_instance_whose_owner_was_killed_stops_resolving(
    open_resolver: OpenResolver,
    under_test: ResolverUnderTest,
    configuration: dict[str, object],
    tmp_path: Path,
    app_id: str,
) -> None:
    observer = await open_resolver()
    survivor = instance(app_id, 41010)
    await observer.register(survivor)
    orphan = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.conformance.nameresolution.orphan",
        under_test.id,
        str(tmp_path),
        json.dumps(configuration),
        app_id,
        "",
        "41000",
        cwd=REPOSITORY,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert orphan.stdout is not None
        assert await orphan.stdout.readline() == REGISTERED
        killed = Address("127.0.0.1", 41000, 41001)
        assert await resolved(observer, app_id) == {killed, address(survivor)}
    finally:
        orphan.send_signal(signal.SIGKILL)
        await orphan.wait()

    deadline = time.monotonic() + under_test.orphan_deadline
    while await resolved(observer, app_id) != addresses(survivor):
        assert time.monotonic() < deadline, (
            f"the killed owner's instance still resolves after {under_test.orphan_deadline} s"
        )
        await asyncio.sleep(POLL_SECONDS)
    assert await resolved(await open_resolver(), app_id) == addresses(survivor)
