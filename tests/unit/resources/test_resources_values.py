import math

import pytest

from mecha.resources.values import (
    UnsupportedValueError,
    dynamic_text,
    expand_env,
    freeze,
    go_float_text,
    json_text,
    thaw,
)


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (1.0, "1"),
        (1.5, "1.5"),
        (-0.0, "-0"),
        (0.0, "0"),
        (0.1, "0.1"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.5e21, "1.5e+21"),
        (0.000001, "0.000001"),
        (0.0000001, "1e-7"),
        (1.25e-10, "1.25e-10"),
        (123456.789, "123456.789"),
    ],
)
def test_floats_are_written_as_go_writes_them(number: float, text: str) -> None:
    assert go_float_text(number) == text


@pytest.mark.parametrize("number", [math.inf, -math.inf, math.nan])
def test_non_finite_floats_have_no_text(number: float) -> None:
    with pytest.raises(UnsupportedValueError):
        go_float_text(number)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain", "plain"),
        (True, "true"),
        (False, "false"),
        (10, "10"),
        (2.50, "2.5"),
        ({"b": 1, "a": [1, 2.0, "x", None, True]}, '{"a":[1,2,"x",null,true],"b":1}'),
        ([1, {"k": "v"}], '[1,{"k":"v"}]'),
        ({2: "two", True: "yes"}, '{"2":"two","true":"yes"}'),
        ({"big": 1 << 70}, '{"big":1180591620717411303424}'),
        ({"é": "ü"}, '{"é":"ü"}'),
    ],
)
def test_dynamic_values_become_daprs_strings(value: object, text: str) -> None:
    assert dynamic_text(value) == text


def test_values_without_json_form_are_refused() -> None:
    with pytest.raises(UnsupportedValueError, match="bytes"):
        json_text({"k": b"raw"})
    with pytest.raises(UnsupportedValueError, match="mapping key"):
        json_text({(1, 2): "tuple key"})


@pytest.mark.parametrize(
    ("text", "expanded"),
    [
        ("host: $HOST", "host: db"),
        ("host: ${HOST}:5432", "host: db:5432"),
        ("a${HOST}b$HOST_X", "adbb"),  # HOST_X is one (unset) name
        ("unset: [$NOPE]", "unset: []"),
        ("price: 5$", "price: 5$"),  # trailing dollar stays
        ("cost: $ 5", "cost: $ 5"),  # dollar before a non-name stays
        ("bad: ${}x", "bad: x"),  # empty braces are dropped
        ("open: ${HOST", "open: HOST"),  # `${` without a close is dropped
        ("special: $1 ${*}", "special: one star"),
        ("double: $$", "double: pid"),
    ],
)
def test_env_expansion_follows_go(text: str, expanded: str) -> None:
    environ = {"HOST": "db", "1": "one", "*": "star", "$": "pid"}
    assert expand_env(text, environ) == expanded


def test_freeze_makes_read_only_copies_and_thaw_undoes_it() -> None:
    raw = {"a": [1, {"b": 2}]}
    frozen = freeze(raw)
    with pytest.raises(TypeError):
        frozen["a"] = 1
    assert frozen["a"][1]["b"] == 2
    assert isinstance(frozen["a"], tuple)
    raw["a"].append(3)  # the frozen copy does not follow the original
    assert len(frozen["a"]) == 2
    assert thaw(frozen) == {"a": [1, {"b": 2}]}
