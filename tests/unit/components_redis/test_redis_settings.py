"""Dapr's Redis connection metadata: what is accepted, what it means, what is refused."""

from __future__ import annotations

import ssl

import pytest

from mecha.components.redis.client import ConnectionOptions
from mecha.components.redis.settings import SettingsError, connection_options, parse_duration


def options(**metadata: str) -> ConnectionOptions:
    return connection_options(metadata, "state.redis")


def test_defaults_follow_dapr() -> None:
    parsed = options(redisHost="localhost:6380")
    assert (parsed.host, parsed.port, parsed.db) == ("localhost", 6380, 0)
    assert (parsed.username, parsed.password) == ("", "")
    assert (parsed.dial_timeout, parsed.command_timeout, parsed.read_retries) == (5.0, 3.0, 3)


@pytest.mark.parametrize(
    ("metadata", "address"),
    [
        ({"redisHost": "redis"}, ("redis", 6379)),
        ({"redisHost": "redis", "redisPort": "7000"}, ("redis", 7000)),
        ({"redisHost": "redis:7000", "redisPort": "7000"}, ("redis", 7000)),
        ({"redisHost": "[::1]:7001"}, ("::1", 7001)),
        ({"redisHost": "::1"}, ("::1", 6379)),
    ],
)
def test_host_and_port(metadata: dict[str, str], address: tuple[str, int]) -> None:
    parsed = connection_options(metadata, "state.redis")
    assert (parsed.host, parsed.port) == address


def test_the_address_is_printed_as_host_and_port() -> None:
    assert options(redisHost="[::1]:7001").address == "[::1]:7001"
    assert options(redisHost="127.0.0.1").address == "127.0.0.1:6379"


def test_credentials_database_retries_and_timeouts() -> None:
    parsed = options(
        redisHost="h:1",
        redisUsername="app",
        redisPassword="secret",
        redisDB="4",
        redisMaxRetries="-1",
        dialTimeout="250ms",
        readTimeout="1m30s",
    )
    assert (parsed.username, parsed.password, parsed.db) == ("app", "secret", 4)
    assert parsed.read_retries == 0
    assert parsed.dial_timeout == pytest.approx(0.25)
    assert parsed.command_timeout == pytest.approx(90.0)


def test_legacy_max_retries_and_no_read_timeout() -> None:
    parsed = options(redisHost="h", maxRetries="7", readTimeout="-1")
    assert parsed.read_retries == 7
    assert parsed.command_timeout is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1500", 1.5), ("2s", 2.0), ("1.5h", 5400.0), ("300us", 0.0003), ("1m2s", 62.0), ("0", 0.0)],
)
def test_durations_are_go_durations_or_milliseconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5 s", "s", "5x", "1.2.3s", "-"])
def test_malformed_durations(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({}, "redisHost is required"),
        ({"redisHost": "a:1,b:2"}, "several hosts"),
        ({"redisHost": "h:1", "redisPort": "2"}, "already contains port 1"),
        ({"redisHost": "h:notaport"}, "invalid port"),
        ({"redisHost": "h", "redisType": "cluster"}, '"cluster" is not supported'),
        ({"redisHost": "h", "redisType": "ring"}, 'must be "node" or "cluster"'),
        ({"redisHost": "h", "failover": "true"}, "failover is set, but Redis Sentinel"),
        ({"redisHost": "h", "enableTLS": "maybe"}, "enableTLS must be true or false"),
        ({"redisHost": "h", "useEntraID": "1"}, "Entra ID"),
        ({"redisHost": "h", "redisDB": "one"}, "redisDB must be an integer"),
        ({"redisHost": "h", "redisDB": "-1"}, "redisDB must be 0 or more"),
        ({"redisHost": "h", "dialTimeout": "soon"}, "dialTimeout must be a duration"),
    ],
)
def test_bad_or_unsupported_settings_are_refused(metadata: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message) as raised:
        connection_options(metadata, "state.redis")
    assert str(raised.value).startswith("state.redis: ")


def test_tls_off_and_node_type_are_fine() -> None:
    parsed = options(redisHost="h", enableTLS="false", redisType="node", failover="False")
    assert parsed.tls is None


def test_tls_verifies_the_server_unless_told_to_skip() -> None:
    verified = options(redisHost="h", enableTLS="true").tls
    skipped = options(redisHost="h", enableTLS="true", insecureSkipTLSVerify="true").tls
    assert verified is not None
    assert skipped is not None
    assert (verified.verify_mode, verified.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert (skipped.verify_mode, skipped.check_hostname) == (ssl.CERT_NONE, False)
