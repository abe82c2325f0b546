"""The `Date` header line, formatted at most once a second.

Read as `dates.line if time() < dates.expires else dates.refresh()`: module attributes
rather than a function call, as this runs for every response.
"""

from __future__ import annotations

from email.utils import formatdate
from time import time

__all__ = ["expires", "line", "refresh"]

line = b""
"""b"Date: Sun, 06 Nov 1994 08:49:37 GMT\\r\\n" for the second before `expires`."""
expires = 0.0


def refresh() -> bytes:
    global line, expires
    second = int(time())
    line = b"Date: %s\r\n" % formatdate(second, usegmt=True).encode("ascii")
    expires = second + 1.0
    return line
