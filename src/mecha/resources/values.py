"""How YAML values become the strings daprd would see.

daprd turns YAML into JSON before reading it, so a metadata value written as `true` or `10` is
the string `"true"` or `"10"`, and a mapping is its JSON text. Numbers are written the way Go's
JSON encoder writes them (`1.0` is `"1"`, `0.0000001` is `"1e-7"`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import orjson


class UnsupportedValueError(ValueError):
    """A YAML value that has no JSON form (a timestamp object, bytes, infinity...)."""


def kind_of(value: object) -> str:
    """The YAML name of a value's kind, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__} value"


def go_float_text(number: float) -> str:
    """Format a float as Go's encoding/json does: shortest digits, exponent outside [1e-6, 1e21)."""
    if not math.isfinite(number):
        raise UnsupportedValueError(f"{number} is not a finite number")
    digits = Decimal(repr(number))
    magnitude = abs(number)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        return format(digits, "e")
    text = format(digits, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def scalar_text(value: object) -> str | None:
    """The string daprd reads for a scalar, or None when the value is not a scalar."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float_text(value)
    return None


def json_text(value: object) -> str:
    """Compact JSON with sorted keys, as daprd hands a structured value to a component."""
    return orjson.dumps(_jsonable(value), option=orjson.OPT_SORT_KEYS).decode()


def _jsonable(value: object) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1 << 63:
        return orjson.Fragment(str(value))  # beyond what orjson encodes natively
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        # Go's number text, kept as a JSON number.
        return orjson.Fragment(go_float_text(value))
    if isinstance(value, dict):
        return {_key_text(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    raise UnsupportedValueError(f"{kind_of(value)} has no JSON form")


def _key_text(key: object) -> str:
    text = scalar_text(key)
    if text is None:
        raise UnsupportedValueError(f"a mapping key cannot be {kind_of(key)}")
    return text


def dynamic_text(value: object) -> str:
    """A free-form value (metadata `value`) as text: scalars as strings, structures as JSON."""
    text = scalar_text(value)
    return text if text is not None else json_text(value)


def freeze(value: object) -> Any:
    """A read-only deep copy: mappings become MappingProxyType, lists become tuples."""
    if isinstance(value, dict):
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(freeze(item) for item in value)
    return value


def thaw(value: object) -> Any:
    """Plain dicts and lists again, e.g. to hand a frozen structure to a JSON encoder."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [thaw(item) for item in value]
    return value


_SHELL_SPECIAL = frozenset("*#$@!?-0123456789")


def expand_env(text: str, environ: Mapping[str, str]) -> str:
    """Replace `$NAME` and `${NAME}` as Go's os.ExpandEnv does; unset names become empty."""
    out: list[str] = []
    start = 0
    index = 0
    while index < len(text):
        if text[index] != "$" or index + 1 == len(text):
            index += 1
            continue
        out.append(text[start:index])
        name, width = _shell_name(text, index + 1)
        if name:
            out.append(environ.get(name, ""))
        elif width == 0:
            out.append("$")  # a lone `$` stays as written
        index += 1 + width
        start = index
    out.append(text[start:])
    return "".join(out)


def _shell_name(text: str, at: int) -> tuple[str, int]:
    """The variable name after a `$` at `at`, and how many characters it spans."""
    first = text[at]
    if first == "{":
        if at + 2 < len(text) and text[at + 1] in _SHELL_SPECIAL and text[at + 2] == "}":
            return text[at + 1], 3
        close = text.find("}", at + 1)
        if close == -1:
            return "", 1  # `${` without a closing brace is dropped
        if close == at + 1:
            return "", 2  # `${}` is dropped
        return text[at + 1 : close], close - at + 1
    if first in _SHELL_SPECIAL:
        return first, 1
    end = at
    while end < len(text) and (text[end] == "_" or (text[end].isascii() and text[end].isalnum())):
        end += 1
    return text[at:end], end - at
