"""The state API through a real runtime: each scenario runs over HTTP and gRPC, on every store."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.integration.mecha_process import MechaProcess
from tests.integration.state_clients import (
    ApiError,
    GrpcStateClient,
    HttpStateClient,
    Save,
    StateClient,
)

RUN = uuid.uuid4().hex[:8]

COMPONENT = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: store
spec:
  type: {type}
  version: v1
  metadata:{metadata}
"""

STORES: dict[str, tuple[str, dict[str, str]]] = {
    "sqlite": ("state.sqlite", {"connectionString": "it-state.db"}),
    "in-memory": ("state.in-memory", {}),
    "redis": ("state.redis", {"redisHost": "127.0.0.1:6379"}),
    "postgresql": (
        "state.postgresql",
        {
            "connectionString": "host=127.0.0.1 port=5432 user=postgres dbname=test",
            "tableName": "mecha_it_state",
        },
    ),
    "mysql": (
        "state.mysql",
        {
            "connectionString": "root:@tcp(127.0.0.1:3306)/?parseTime=true",
            "schemaName": "mecha_it",
            "tableName": "state",
        },
    ),
}
QUERYABLE = {"in-memory", "postgresql", "mysql", "sqlite"}


def _yaml(store: str) -> str:
    type_, metadata = STORES[store]
    lines = "".join(f"\n  - name: {k}\n    value: {v!r}" for k, v in metadata.items()) or " []"
    return COMPONENT.format(type=type_, metadata=lines)


@pytest.fixture(scope="module", params=list(STORES))
def runtime(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, MechaProcess]]:
    store: str = request.param
    workdir: Path = tmp_path_factory.mktemp(store)
    process = MechaProcess(workdir, app_id=f"it-{RUN}", resources={"store.yaml": _yaml(store)})
    try:
        yield store, process.wait_ready()
    finally:
        process.stop()


@pytest.fixture(params=["http", "grpc"])
def client(
    request: pytest.FixtureRequest, runtime: tuple[str, MechaProcess]
) -> Iterator[StateClient]:
    _, process = runtime
    if request.param == "http":
        yield HttpStateClient(process)
    else:
        grpc_client = GrpcStateClient(process)
        yield grpc_client
        grpc_client.close()


@pytest.fixture
def key() -> str:
    return f"k-{uuid.uuid4().hex[:10]}"


def test_save_get_delete(client: StateClient, key: str) -> None:
    assert client.get("store", key) is None
    client.save("store", [Save(key, {"n": 1, "s": "ü"})])
    got = client.get("store", key)
    assert got is not None
    assert got.value == {"n": 1, "s": "ü"}
    assert got.etag
    client.delete("store", key)
    assert client.get("store", key) is None


def test_etags_guard_writes(client: StateClient, key: str) -> None:
    client.save("store", [Save(key, 1)])
    first = client.get("store", key)
    assert first is not None and first.etag
    client.save("store", [Save(key, 2, etag=first.etag)])
    with pytest.raises(ApiError) as stale:
        client.save("store", [Save(key, 3, etag=first.etag)])
    assert stale.value.kind == "conflict"
    with pytest.raises(ApiError) as stale_delete:
        client.delete("store", key, etag=first.etag)
    assert stale_delete.value.kind == "conflict"
    current = client.get("store", key)
    assert current is not None and current.value == 2
    client.delete("store", key, etag=current.etag)
    assert client.get("store", key) is None


def test_malformed_etag_is_invalid(client: StateClient, key: str) -> None:
    client.save("store", [Save(key, 1)])
    with pytest.raises(ApiError) as bad:
        client.save("store", [Save(key, 2, etag="not an etag!")])
    assert bad.value.kind == "invalid"


def test_first_write_needs_an_etag_to_update(client: StateClient, key: str) -> None:
    client.save("store", [Save(key, "a", first_write=True)])
    with pytest.raises(ApiError) as conflict:
        client.save("store", [Save(key, "b", first_write=True)])
    assert conflict.value.kind == "conflict"


def test_key_with_separator_is_illegal(client: StateClient) -> None:
    with pytest.raises(ApiError) as illegal:
        client.save("store", [Save("a||b", 1)])
    assert illegal.value.kind == "invalid"
    assert "||" in illegal.value.detail


def test_unknown_store(client: StateClient) -> None:
    with pytest.raises(ApiError) as missing:
        client.get("no-such-store", "k")
    assert missing.value.kind == "invalid"
    assert "no-such-store" in missing.value.detail


def test_bulk_get_keeps_order(client: StateClient, key: str) -> None:
    client.save("store", [Save(f"{key}-a", "A"), Save(f"{key}-c", "C")])
    got = client.bulk_get("store", [f"{key}-c", f"{key}-b", f"{key}-a"])
    assert got == [(f"{key}-c", "C"), (f"{key}-b", None), (f"{key}-a", "A")]


def test_transaction_is_all_or_nothing(client: StateClient, key: str) -> None:
    client.save("store", [Save(f"{key}-1", "old")])
    stale = client.get("store", f"{key}-1")
    assert stale is not None
    client.save("store", [Save(f"{key}-1", "newer")])
    with pytest.raises(ApiError) as failed:
        client.transact(
            "store",
            [
                ("upsert", Save(f"{key}-2", "two")),
                ("upsert", Save(f"{key}-1", "mine", etag=stale.etag)),
            ],
        )
    assert failed.value.kind == "conflict"
    assert client.get("store", f"{key}-2") is None
    client.transact(
        "store", [("upsert", Save(f"{key}-2", "two")), ("delete", Save(f"{key}-1", None))]
    )
    assert client.get("store", f"{key}-1") is None
    got = client.get("store", f"{key}-2")
    assert got is not None and got.value == "two"


def test_unicode_keys_and_large_values(client: StateClient, key: str) -> None:
    unicode_key = f"{key}-ключ/键 ✓"
    big = "x" * (1024 * 1024)
    client.save("store", [Save(unicode_key, big)])
    got = client.get("store", unicode_key)
    assert got is not None and got.value == big


def test_values_round_trip_byte_exact(client: StateClient, key: str) -> None:
    value = {"b": [1, 2.5, None, True], "a": {"z": "é"}}
    client.save("store", [Save(key, value)])
    assert client.get_raw("store", key) == orjson.dumps(value)


def test_ttl_expires_keys(client: StateClient, key: str) -> None:
    client.save("store", [Save(key, "brief", metadata={"ttlInSeconds": "1"})])
    deadline = time.monotonic() + 10
    while client.get("store", key) is not None:
        assert time.monotonic() < deadline, "the key did not expire"
        time.sleep(0.1)


def test_bad_ttl_is_invalid(client: StateClient, key: str) -> None:
    with pytest.raises(ApiError) as bad:
        client.save("store", [Save(key, 1, metadata={"ttlInSeconds": "soon"})])
    assert bad.value.kind == "invalid"


def test_query(client: StateClient, runtime: tuple[str, MechaProcess], key: str) -> None:
    store, _ = runtime
    people = {
        f"{key}-1": {"name": "ana", "team": key, "age": 31},
        f"{key}-2": {"name": "bo", "team": key, "age": 25},
        f"{key}-3": {"name": "cy", "team": "other", "age": 40},
    }
    client.save("store", [Save(k, v) for k, v in people.items()])
    query = {"filter": {"EQ": {"team": key}}, "sort": [{"key": "age", "order": "DESC"}]}
    if store not in QUERYABLE:
        with pytest.raises(ApiError) as refused:
            client.query("store", query)
        assert refused.value.kind == "failed"
        return
    results, _ = client.query("store", query)
    assert [k for k, _ in results] == [f"{key}-1", f"{key}-2"]
    assert results[0][1]["name"] == "ana"


@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="needs redis-cli")
def test_redis_keys_are_stored_as_dapr_does(tmp_path: Path, key: str) -> None:
    process = MechaProcess(tmp_path, app_id=f"it-{RUN}", resources={"s.yaml": _yaml("redis")})
    try:
        HttpStateClient(process.wait_ready()).save("store", [Save(key, {"v": 1})])
        stored = subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "HGETALL", f"{process.app_id}||{key}"],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        process.stop()
    fields = stored.stdout.split()
    assert dict(zip(fields[::2], fields[1::2], strict=True)) == {"data": '{"v":1}', "version": "1"}
