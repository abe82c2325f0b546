"""The `Date` header line, formatted at most once a second."""

from __future__ import annotations

from email.utils import formatdate
from time import time


class _Cache:
    __slots__ = ("expires", "line")

    def __init__(self) -> None:
        self.expires = 0.0
        self.line = b""


_cache = _Cache()


def date_line() -> bytes:
    """b"Date: Sun, 06 Nov 1994 08:49:37 GMT\\r\\n" for the current second."""
    if time() < _cache.expires:
        return _cache.line
    return _refresh()


def _refresh() -> bytes:
    second = int(time())
    _cache.line = b"Date: %s\r\n" % formatdate(second, usegmt=True).encode("ascii")
    _cache.expires = second + 1.0
    return _cache.line
