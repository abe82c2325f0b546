"""The pipelined RESP client: reply order, errors, timeouts, reconnecting."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import hiredis
import pytest

from mecha.components.redis.client import (
    ConnectionOptions,
    RedisClient,
    RedisConnectError,
    RedisConnectionError,
    ResponseError,
    Script,
)
from mecha.components.redis.resp import encode_command

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379

# What a fake answers to one command: RESP bytes, an awaitable of them (answer later, keeping
# order), CLOSE to drop the connection, or None to never answer.
Answer = bytes | Awaitable[bytes] | None
CLOSE = b"<close>"


class FakeRedis:
    """A RESP server on a free port that records commands and answers through `handler`."""

    def __init__(self, handler: Callable[[list[bytes]], Answer]) -> None:
        self.handler = handler
        self.commands: list[list[bytes]] = []
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, REDIS_HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def options(self, **overrides: object) -> ConnectionOptions:
        settings: dict[str, object] = {"host": REDIS_HOST, "port": self.port} | overrides
        return ConnectionOptions(**settings)  # type: ignore[arg-type]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        parser = hiredis.Reader()
        try:
            while data := await reader.read(65536):
                parser.feed(data)
                while (command := parser.gets()) is not False:
                    self.commands.append(command)
                    answer = self.handler(command)
                    if answer is None:
                        continue
                    if not isinstance(answer, bytes):
                        answer = await answer
                    if answer == CLOSE:
                        return
                    writer.write(answer)
        finally:
            self._tasks.discard(task)
            writer.close()


async def start_fake(handler: Callable[[list[bytes]], Answer]) -> FakeRedis:
    fake = FakeRedis(handler)
    await fake.start()
    return fake


@pytest.fixture
async def fakes() -> AsyncIterator[list[FakeRedis]]:
    """Fakes a test started, stopped at the end."""
    started: list[FakeRedis] = []
    yield started
    for fake in started:
        await fake.stop()


def free_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as probe:
        probe.bind((REDIS_HOST, 0))
        port: int = probe.getsockname()[1]
    return port


def test_commands_are_encoded_as_resp_arrays_of_bulk_strings() -> None:
    assert (
        encode_command((b"SET", "kéy", 12))
        == b"*3\r\n$3\r\nSET\r\n$4\r\nk\xc3\xa9y\r\n$2\r\n12\r\n"
    )


async def test_concurrent_callers_each_get_their_own_reply(redis: RedisClient) -> None:
    # Sizes from a few bytes to 200 KB, so replies straddle socket reads.
    payloads = [uuid.uuid4().bytes * (1 + (i * 997) % 12_500) for i in range(300)]

    replies = await asyncio.gather(*(redis.execute(b"ECHO", p) for p in payloads))

    assert replies == payloads


async def test_pipeline_keeps_order_and_returns_error_replies_in_place(
    redis: RedisClient, key_prefix: str
) -> None:
    key = key_prefix + "k"
    replies = await redis.pipeline(
        [(b"SET", key, b"text"), (b"INCR", key), (b"GET", key), (b"STRLEN", key)]
    )

    assert replies[0] == b"OK"
    assert isinstance(replies[1], ResponseError)
    assert "not an integer" in str(replies[1])
    assert replies[2:] == [b"text", 4]


async def test_error_reply_raises_and_the_connection_stays_usable(redis: RedisClient) -> None:
    with pytest.raises(ResponseError, match="unknown command"):
        await redis.execute(b"NO-SUCH-COMMAND")
    assert await redis.execute(b"ECHO", b"still fine") == b"still fine"


async def test_one_command_pipeline_returns_its_error_reply(redis: RedisClient) -> None:
    (reply,) = await redis.pipeline([(b"NO-SUCH-COMMAND",)])
    assert isinstance(reply, ResponseError)


async def test_unknown_script_falls_back_to_eval_then_runs_by_sha(redis: RedisClient) -> None:
    script = Script(f"-- {uuid.uuid4()}\nreturn ARGV[1] .. KEYS[1]")

    assert await redis.execute(b"SCRIPT", b"EXISTS", script.sha) == [0]
    assert await redis.run_script(script, ["key"], ["arg-"]) == b"arg-key"
    assert await redis.execute(b"SCRIPT", b"EXISTS", script.sha) == [1]
    assert await redis.run_script(script, ["key2"], ["again-"]) == b"again-key2"


async def test_script_errors_other_than_noscript_are_raised(redis: RedisClient) -> None:
    with pytest.raises(ResponseError, match="boom"):
        await redis.run_script(Script("return redis.error_reply('boom')"), [], [])


async def test_reconnects_after_the_server_kills_the_connection(redis: RedisClient) -> None:
    first_id = await redis.execute(b"CLIENT", b"ID")
    other = RedisClient(ConnectionOptions(REDIS_HOST, REDIS_PORT))
    try:
        assert await other.execute(b"CLIENT", b"KILL", b"ID", first_id) == 1  # type: ignore[arg-type]
    finally:
        await other.close()

    # A read in flight when the loss is noticed is tried again on a new connection.
    second_id = await redis.read(b"CLIENT", b"ID")
    assert isinstance(second_id, int)
    assert second_id != first_id


async def test_a_write_in_flight_on_a_lost_connection_fails_then_the_next_call_reconnects(
    fakes: list[FakeRedis],
) -> None:
    fake = await start_fake(lambda command: CLOSE if command[0] == b"SET" else b"+PONG\r\n")
    fakes.append(fake)
    client = RedisClient(fake.options())
    try:
        with pytest.raises(RedisConnectionError, match=f"127.0.0.1:{fake.port}"):
            await client.execute(b"SET", b"k", b"v")
        assert await client.execute(b"PING") == b"PONG"
    finally:
        await client.close()
    assert fake.connections == 2
    assert [command[0] for command in fake.commands] == [b"SET", b"PING"]


async def test_a_silent_server_times_out_every_command_in_flight(fakes: list[FakeRedis]) -> None:
    fake = await start_fake(lambda command: None)
    fakes.append(fake)
    client = RedisClient(fake.options(command_timeout=0.2))
    try:
        async with asyncio.timeout(5):
            results = await asyncio.gather(
                *(client.execute(b"PING") for _ in range(5)), return_exceptions=True
            )
    finally:
        await client.close()
    assert all(isinstance(result, RedisConnectionError) for result in results)
    assert "did not answer within 0.2s" in str(results[0])


async def test_a_malformed_reply_drops_the_connection(fakes: list[FakeRedis]) -> None:
    fake = await start_fake(
        lambda command: b"?not resp\r\n" if command[0] == b"GET" else b"+OK\r\n"
    )
    fakes.append(fake)
    client = RedisClient(fake.options())
    try:
        with pytest.raises(RedisConnectionError, match="bad reply from Redis"):
            await client.execute(b"GET", b"k")
        assert await client.execute(b"PING") == b"OK"
    finally:
        await client.close()
    assert fake.connections == 2


async def test_reads_give_up_after_their_retries(fakes: list[FakeRedis]) -> None:
    fake = await start_fake(lambda command: CLOSE)
    fakes.append(fake)
    client = RedisClient(fake.options(read_retries=2))
    try:
        with pytest.raises(RedisConnectionError):
            await client.read(b"GET", b"k")
    finally:
        await client.close()
    assert len(fake.commands) == 3


async def test_a_cancelled_caller_does_not_shift_the_replies(fakes: list[FakeRedis]) -> None:
    release: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
    slow_received = asyncio.Event()

    def answer(command: list[bytes]) -> Answer:
        if command[1] == b"slow":
            slow_received.set()
            return release
        return b"$%d\r\n%s\r\n" % (len(command[1]), command[1])

    fake = await start_fake(answer)
    fakes.append(fake)
    client = RedisClient(fake.options())
    try:
        slow = asyncio.create_task(client.execute(b"ECHO", b"slow"))
        fast = asyncio.create_task(client.execute(b"ECHO", b"fast"))
        async with asyncio.timeout(5):
            await slow_received.wait()
            slow.cancel()
            release.set_result(b"$4\r\nslow\r\n")
            assert await fast == b"fast"
            assert await client.execute(b"ECHO", b"after") == b"after"
        assert slow.cancelled()
    finally:
        await client.close()


async def test_connection_refused_names_the_address() -> None:
    port = free_port()
    client = RedisClient(ConnectionOptions(REDIS_HOST, port))
    try:
        with pytest.raises(RedisConnectError, match=f"cannot connect to Redis at 127.0.0.1:{port}"):
            await client.execute(b"PING")
    finally:
        await client.close()


async def test_handshake_authenticates_and_selects_the_database(fakes: list[FakeRedis]) -> None:
    fake = await start_fake(lambda command: b"+OK\r\n")
    fakes.append(fake)
    client = RedisClient(fake.options(username="app", password="secret", db=3))
    try:
        assert await client.execute(b"PING") == b"OK"
    finally:
        await client.close()
    assert fake.commands == [[b"AUTH", b"app", b"secret"], [b"SELECT", b"3"], [b"PING"]]


async def test_a_refused_password_is_a_connect_error(fakes: list[FakeRedis]) -> None:
    fake = await start_fake(lambda command: b"-WRONGPASS invalid username-password pair\r\n")
    fakes.append(fake)
    client = RedisClient(fake.options(password="wrong"))
    try:
        with pytest.raises(RedisConnectError, match="refused AUTH: WRONGPASS"):
            await client.execute(b"PING")
    finally:
        await client.close()


async def test_the_selected_database_is_used(redis: RedisClient, key_prefix: str) -> None:
    key = key_prefix + "in-db-1"
    db1 = RedisClient(ConnectionOptions(REDIS_HOST, REDIS_PORT, db=1))
    try:
        await db1.execute(b"SET", key, b"v")
        assert await redis.execute(b"EXISTS", key) == 0
        assert await db1.execute(b"GETDEL", key) == b"v"
    finally:
        await db1.close()


async def test_a_closed_client_refuses_commands() -> None:
    client = RedisClient(ConnectionOptions(REDIS_HOST, REDIS_PORT))
    await client.execute(b"PING")
    await client.close()
    with pytest.raises(RedisConnectionError, match="closed"):
        await client.execute(b"PING")
