"""state.redis over TLS, against a TLS-only redis-server started for these tests."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mecha.blocks.state.errors import StoreUnavailable
from mecha.blocks.state.models import GetRequest, SetRequest
from mecha.components.base import ComponentContext
from mecha.components.redis.settings import SettingsError
from mecha.components.state.redis import RedisStateStore

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None or shutil.which("openssl") is None,
    reason="needs redis-server and openssl",
)


@dataclass(frozen=True)
class TlsRedis:
    address: str
    cert: str  # PEM, also the CA the server trusts for client certificates
    key: str


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = [
        *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
        *("-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)),
        *("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
    ]
    subprocess.run(command, check=True, capture_output=True)
    return cert, key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
async def tls_redis(tmp_path: Path) -> AsyncIterator[TlsRedis]:
    cert, key = self_signed_certificate(tmp_path)
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        *("redis-server", "--port", "0", "--bind", "127.0.0.1", "--tls-port", str(port)),
        *("--tls-cert-file", str(cert), "--tls-key-file", str(key)),
        *("--tls-ca-cert-file", str(cert), "--tls-auth-clients", "yes"),
        *("--save", "", "--appendonly", "no", "--dir", str(tmp_path)),
        stdout=asyncio.subprocess.PIPE,
    )
    assert server.stdout is not None
    try:
        async with asyncio.timeout(10):
            while b"Ready to accept connections" not in await server.stdout.readline():
                assert server.returncode is None, "redis-server exited"
        yield TlsRedis(f"127.0.0.1:{port}", cert.read_text(), key.read_text())
    finally:
        server.terminate()
        await server.wait()


async def open_store(**metadata: str) -> RedisStateStore:
    store = RedisStateStore()
    await store.init(ComponentContext("statestore", "state.redis", "v1", metadata, "", Path(".")))
    return store


async def test_reads_and_writes_over_tls_with_a_client_certificate(tls_redis: TlsRedis) -> None:
    store = await open_store(
        redisHost=tls_redis.address,
        enableTLS="true",
        insecureSkipTLSVerify="true",
        clientCert=tls_redis.cert,
        clientKey=tls_redis.key,
    )
    try:
        await store.set(SetRequest("app||k", b"secret value"))
        item = await store.get(GetRequest("app||k"))
    finally:
        await store.close()
    assert item is not None
    assert item.data == b"secret value"


async def test_the_server_certificate_is_verified_by_default(tls_redis: TlsRedis) -> None:
    with pytest.raises(StoreUnavailable, match="certificate verify failed"):
        await open_store(
            redisHost=tls_redis.address,
            enableTLS="true",
            clientCert=tls_redis.cert,
            clientKey=tls_redis.key,
        )


async def test_a_server_that_requires_a_client_certificate_refuses_one_without(
    tls_redis: TlsRedis,
) -> None:
    with pytest.raises(StoreUnavailable, match=tls_redis.address):
        await open_store(redisHost=tls_redis.address, enableTLS="true", insecureSkipTLSVerify="1")


async def test_client_certificate_and_key_come_together(tls_redis: TlsRedis) -> None:
    with pytest.raises(SettingsError, match="clientCert and clientKey must be given together"):
        await open_store(redisHost=tls_redis.address, enableTLS="true", clientCert=tls_redis.cert)
    with pytest.raises(SettingsError, match="not a PEM certificate"):
        await open_store(
            redisHost=tls_redis.address, enableTLS="true", clientCert="junk", clientKey="junk"
        )
