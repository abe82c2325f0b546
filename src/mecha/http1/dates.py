"""The `Date` header line, formatted at most once a second.

Read as `DATE.line if time() < DATE.expires else DATE.refresh()`: two attribute reads of a
compiled object rather than a function call, as this runs for every response.
"""

from __future__ import annotations

from email.utils import formatdate
from time import time
from typing import Final


class DateLine:
    __slots__ = ("expires", "line")

    def __init__(self) -> None:
        self.line = b""
        """b"Date: Sun, 06 Nov 1994 08:49:37 GMT\\r\\n" for the second before `expires`."""
        self.expires = 0.0

    def refresh(self) -> bytes:
        second = int(time())
        self.line = b"Date: %s\r\n" % formatdate(second, usegmt=True).encode("ascii")
        self.expires = second + 1.0
        return self.line


DATE: Final = DateLine()
