"""Reading component metadata: a mapping of field name to text, read as Dapr's components read it.

`Fields` finds a field by any of its names (aliases), case-insensitively as Dapr matches them, and
reads integers, port numbers, Go durations (`1h30m`, `500ms`) and Go booleans (strconv.ParseBool).
A malformed value raises `MetadataError` naming the component and the field, e.g.
`state.redis: dialTimeout must be a duration such as "20s" or "500ms", ..., not "soon"`.
The `read_*` functions check one value that is not a field of its own (a part of a connection
string, a port in an address) the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Literal

BareNumber = Literal["seconds", "whole seconds", "milliseconds"]
"""What a number without a unit means where a duration is expected."""

_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # micro sign
    "μs": 1e-6,  # Greek mu: Go accepts both
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_INTEGER = re.compile(r"[+-]?\d+")
_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_BARE_NUMBER_TEXT: dict[BareNumber, str] = {
    "seconds": "a number of seconds",
    "whole seconds": "a whole number of seconds",
    "milliseconds": "a whole number of milliseconds",
}


class MetadataError(ValueError):
    """A metadata value that is missing, malformed or unsupported; the message says which.

    `field` names the field whose value was refused, when the error is about one field.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def parse_go_duration(text: str) -> float | None:
    """Seconds in a Go duration (`1h30m`, `-1.5s`, `0`), as time.ParseDuration reads it."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if body == "0":
        return 0.0
    total, position = 0.0, 0
    while position < len(body):
        part = _GO_DURATION_PART.match(body, position)
        if part is None:
            return None
        total += float(part.group(1)) * _UNIT_SECONDS[part.group(2)]
        position = part.end()
    if not body:
        return None
    return -total if text.startswith("-") else total


def parse_seconds(text: str, *, bare: BareNumber = "seconds") -> float | None:
    """Seconds in a Go duration, or in a number without a unit read as `bare` says.

    "seconds" takes any finite decimal (`2.5`), "whole seconds" and "milliseconds" integers only.
    """
    if bare == "seconds":
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            return number if math.isfinite(number) else None
    elif _INTEGER.fullmatch(text):
        return int(text) / 1000 if bare == "milliseconds" else float(int(text))
    return parse_go_duration(text)


def read_seconds(
    text: str, field: str, *, component: str = "", bare: BareNumber = "seconds"
) -> float:
    seconds = parse_seconds(text, bare=bare)
    if seconds is None:
        expected = f'a duration such as "20s" or "500ms", or {_BARE_NUMBER_TEXT[bare]}'
        raise _invalid(component, field, text, expected)
    return seconds


def read_integer(text: str, field: str, *, component: str = "") -> int:
    if not _INTEGER.fullmatch(text):
        raise _invalid(component, field, text, "an integer")
    return int(text)


def read_port(text: str, field: str, *, component: str = "") -> int:
    # isdecimal, not isdigit: int() refuses digits such as "²" that isdigit accepts.
    if not text.isdecimal() or not 0 < int(text) < 65536:
        raise _invalid(component, field, text, "a port number (1-65535)")
    return int(text)


def read_boolean(text: str, field: str, *, component: str = "", lenient: bool = False) -> bool:
    """Go's strconv.ParseBool spellings; `lenient` also takes any letter case and spaces around."""
    value = text.strip().lower() if lenient else text
    if value in _GO_TRUE:
        return True
    if value in _GO_FALSE:
        return False
    raise _invalid(component, field, text, "true or false")


class Fields:
    """A component's metadata, read field by field; a field may go by several names (aliases).

    Names match case-insensitively, as in Dapr, unless `case_sensitive`. `component` (e.g.
    "state.redis") starts every error message. A value that is empty, or blank where a number,
    duration or boolean is read, counts as not given: the reader returns its default.
    """

    def __init__(
        self, metadata: Mapping[str, str], *, component: str = "", case_sensitive: bool = False
    ) -> None:
        self.component = component
        self._case_sensitive = case_sensitive
        self._values = {self._key(name): value for name, value in metadata.items()}

    def error(self, message: str) -> MetadataError:
        return _error(self.component, message)

    def get(self, *names: str) -> str | None:
        """The value of the first of `names` that is present, even if empty; None if none is."""
        for name in names:
            value = self._values.get(self._key(name))
            if value is not None:
                return value
        return None

    def text(self, *names: str, default: str = "") -> str:
        """The value of the first of `names` that is not empty, as written; else `default`."""
        return self._first(names)[1] or default

    def integer(self, *names: str, default: int) -> int:
        name, text = self._first(names)
        text = text.strip()
        return read_integer(text, name, component=self.component) if text else default

    def port(self, *names: str, default: int) -> int:
        name, text = self._first(names)
        text = text.strip()
        return read_port(text, name, component=self.component) if text else default

    def seconds(self, *names: str, default: float, bare: BareNumber = "seconds") -> float:
        """A Go duration or a number without a unit (see `parse_seconds`), in seconds."""
        name, text = self._first(names)
        text = text.strip()
        if not text:
            return default
        return read_seconds(text, name, component=self.component, bare=bare)

    def boolean(self, *names: str, default: bool = False, lenient: bool = False) -> bool:
        """Go's strconv.ParseBool spellings; `lenient` also takes any letter case and spaces."""
        name, text = self._first(names)
        if not (text.strip() if lenient else text):
            return default
        return read_boolean(text, name, component=self.component, lenient=lenient)

    def _first(self, names: tuple[str, ...]) -> tuple[str, str]:
        """The first of `names` with a non-empty value, and that value; else the first name, ""."""
        for name in names:
            value = self._values.get(self._key(name), "")
            if value:
                return name, value
        return (names[0] if names else ""), ""

    def _key(self, name: str) -> str:
        return name if self._case_sensitive else name.lower()


def _error(component: str, message: str, field: str | None = None) -> MetadataError:
    return MetadataError(f"{component}: {message}" if component else message, field=field)


def _invalid(component: str, field: str, text: str, expected: str) -> MetadataError:
    return _error(component, f'{field} must be {expected}, not "{text}"', field)
