"""Component metadata: names and aliases, Go durations and booleans, errors naming the field."""

from __future__ import annotations

import pytest

from mecha.components.metadata import (
    BareNumber,
    Fields,
    MetadataError,
    parse_go_duration,
    parse_seconds,
    read_boolean,
    read_integer,
    read_port,
    read_seconds,
)


def fields(**metadata: str) -> Fields:
    return Fields(metadata, component="state.test")


# ---- names and aliases -------------------------------------------------------------------------


def test_names_match_case_insensitively_as_dapr_does() -> None:
    metadata = fields(ConnectionString="db", TIMEOUT="5")
    assert metadata.text("connectionString") == "db"
    assert metadata.integer("timeout", default=0) == 5


def test_case_sensitive_fields_match_names_exactly() -> None:
    metadata = Fields({"redisHost": "h", "REDISDB": "3"}, case_sensitive=True)
    assert metadata.text("redisHost") == "h"
    assert metadata.text("redishost") == ""
    assert metadata.integer("redisDB", default=0) == 0


def test_text_is_the_first_alias_with_a_value() -> None:
    metadata = fields(connectionString="", url="x.db")
    assert metadata.text("connectionString", "url") == "x.db"
    assert metadata.text("url", "connectionString") == "x.db"
    assert metadata.text("tableName", default="state") == "state"
    assert fields(padded=" v ").text("padded") == " v "  # as written


def test_get_is_the_first_alias_present_even_when_empty() -> None:
    metadata = fields(connectionString="", url="x.db")
    assert metadata.get("connectionString", "url") == ""
    assert metadata.get("missing", "URL") == "x.db"
    assert metadata.get("missing") is None


# ---- integers and ports ------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "number"), [("7", 7), ("-1", -1), ("+3", 3), (" 12 ", 12)])
def test_integers(text: str, number: int) -> None:
    assert fields(n=text).integer("n", default=0) == number


@pytest.mark.parametrize("text", ["", "  "])
def test_an_empty_or_blank_number_is_the_default(text: str) -> None:
    assert fields(n=text).integer("n", default=4) == 4
    assert fields().integer("n", default=4) == 4


@pytest.mark.parametrize("text", ["one", "1.5", "1_000", "1e3", "--1", "0x10"])
def test_what_is_not_an_integer_is_refused_naming_component_and_field(text: str) -> None:
    with pytest.raises(MetadataError) as raised:
        fields(maxRetries=text).integer("redisMaxRetries", "maxRetries", default=3)
    assert str(raised.value) == f'state.test: maxRetries must be an integer, not "{text}"'
    assert raised.value.field == "maxRetries"


@pytest.mark.parametrize(("text", "port"), [("1", 1), ("50001", 50001), ("65535", 65535)])
def test_ports(text: str, port: int) -> None:
    assert fields(port=text).port("port", default=0) == port
    assert read_port(text, "port") == port


@pytest.mark.parametrize("text", ["0", "65536", "-1", "+80", "http", "²", " 80"])
def test_what_is_not_a_port_is_refused(text: str) -> None:
    with pytest.raises(MetadataError, match=r"grpcPort must be a port number \(1-65535\)"):
        read_port(text, "grpcPort")


# ---- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("-0", 0.0),
        ("20s", 20.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("2m0.5s", 120.5),
        ("500ms", 0.5),
        ("10us", 1e-5),
        ("10µs", 1e-5),  # micro sign
        ("10μs", 1e-5),  # Greek mu
        ("300ns", 3e-7),
        ("1.s", 1.0),
        (".5s", 0.5),
        ("-1.5s", -1.5),
        ("+2s", 2.0),
    ],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["", "-", "+", "s", "5", "1.5", "5 s", " 5s", "1d", "5x", ".s", "--1s", "+-1s", "1h-5m"]
)
def test_what_go_refuses_as_a_duration(text: str) -> None:
    assert parse_go_duration(text) is None


@pytest.mark.parametrize(
    ("bare", "text", "seconds"),
    [
        ("seconds", "10", 10.0),
        ("seconds", "2.5", 2.5),
        ("seconds", "-1", -1.0),
        ("seconds", "1m", 60.0),
        ("whole seconds", "45", 45.0),
        ("whole seconds", "-1", -1.0),
        ("whole seconds", "1m", 60.0),
        ("milliseconds", "1500", 1.5),
        ("milliseconds", "0", 0.0),
        ("milliseconds", "2s", 2.0),
    ],
)
def test_a_bare_number_means_what_the_caller_says(
    bare: BareNumber, text: str, seconds: float
) -> None:
    assert parse_seconds(text, bare=bare) == pytest.approx(seconds)
    assert fields(t=text).seconds("t", default=99.0, bare=bare) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("bare", "text"),
    [
        ("seconds", "nan"),
        ("seconds", "inf"),
        ("seconds", "10 s"),
        ("whole seconds", "1.5"),
        ("milliseconds", "1.5"),
        ("milliseconds", "1.2.3s"),
    ],
)
def test_malformed_durations(bare: BareNumber, text: str) -> None:
    assert parse_seconds(text, bare=bare) is None


def test_an_empty_or_blank_duration_is_the_default() -> None:
    assert fields(t="").seconds("t", default=3.0) == 3.0
    assert fields(t="  ").seconds("t", default=3.0) == 3.0
    assert fields().seconds("t", default=3.0) == 3.0


def test_a_malformed_duration_names_component_field_and_what_is_expected() -> None:
    with pytest.raises(MetadataError) as raised:
        fields(timeoutInSeconds=" soon ").seconds(
            "timeout", "timeoutInSeconds", default=20.0, bare="whole seconds"
        )
    assert str(raised.value) == (
        'state.test: timeoutInSeconds must be a duration such as "20s" or "500ms", '
        'or a whole number of seconds, not "soon"'
    )
    assert raised.value.field == "timeoutInSeconds"


# ---- booleans ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["1", "t", "T", "TRUE", "true", "True"])
def test_go_true(text: str) -> None:
    assert fields(flag=text).boolean("flag") is True


@pytest.mark.parametrize("text", ["0", "f", "F", "FALSE", "false", "False"])
def test_go_false(text: str) -> None:
    assert fields(flag=text).boolean("flag", default=True) is False


def test_an_empty_boolean_is_the_default() -> None:
    assert fields(flag="").boolean("flag") is False
    assert fields().boolean("flag", default=True) is True


@pytest.mark.parametrize("text", ["tRuE", " true", "yes", "on", "2", "  "])
def test_strict_booleans_take_only_go_spellings(text: str) -> None:
    with pytest.raises(MetadataError, match=r"^state\.test: disableWAL must be true or false"):
        fields(disableWAL=text).boolean("disableWAL")


def test_lenient_booleans_take_any_case_and_spaces() -> None:
    assert fields(flag=" tRuE ").boolean("flag", lenient=True) is True
    assert fields(flag="FaLsE").boolean("flag", default=True, lenient=True) is False
    assert fields(flag="  ").boolean("flag", default=True, lenient=True) is True
    with pytest.raises(MetadataError, match='enableTLS must be true or false, not "maybe"'):
        read_boolean("maybe", "enableTLS", lenient=True)


# ---- errors ------------------------------------------------------------------------------------


def test_errors_are_value_errors_prefixed_with_the_component() -> None:
    error = fields().error("redisHost is required")
    assert isinstance(error, ValueError)
    assert str(error) == "state.test: redisHost is required"
    assert error.field is None


def test_without_a_component_the_message_starts_with_the_field() -> None:
    with pytest.raises(MetadataError, match=r'^maxConns must be an integer, not "x"$'):
        read_integer("x", "maxConns")
    with pytest.raises(MetadataError, match=r"^cleanupInterval must be a duration"):
        read_seconds("5x", "cleanupInterval")
    assert str(Fields({}).error("bad")) == "bad"
