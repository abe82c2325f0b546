"""W3C trace context: continue the caller's trace, or start one, with a new span per hop."""

from __future__ import annotations

import random
from typing import Final

_ZERO_TRACE: Final = "0" * 32
_ZERO_SPAN: Final = "0" * 16
# Random hex digits are drawn 4096 at a time: one call for every 256 span ids.
_POOL_DIGITS: Final = 4096


class _RandomHex:
    """Ids need to be unique, not secret: the process-wide generator, drawn in bulk, avoids a
    syscall and a conversion per id."""

    def __init__(self) -> None:
        self._digits = ""
        self._at = 0

    def take(self, count: int) -> str:
        at = self._at
        if at + count > len(self._digits):
            self._digits = random.randbytes(_POOL_DIGITS // 2).hex()
            at = 0
        self._at = at + count
        return self._digits[at : at + count]

    def nonzero(self, count: int) -> str:
        """`count` digits, not all zeros (an invalid trace or span id); count is 16 or 32."""
        digits = self.take(count)
        # Strings of another length differ at once, so one id's check is one comparison.
        while digits in (_ZERO_SPAN, _ZERO_TRACE):
            digits = self.take(count)
        return digits


_random_hex: Final = _RandomHex()


def next_traceparent(incoming: str | None) -> str:
    """The traceparent for the next hop: same trace and flags as `incoming`, a new span id.

    A missing or malformed `incoming` starts a new, sampled trace.
    """
    parent = _well_formed(incoming) if incoming else None
    if parent is not None:
        trace_id = parent[3:35]
        if parent[:2] != "ff" and trace_id != _ZERO_TRACE and parent[36:52] != _ZERO_SPAN:
            return f"00-{trace_id}-{_random_hex.nonzero(16)}-{parent[53:]}"
    return f"00-{_random_hex.nonzero(32)}-{_random_hex.nonzero(16)}-01"


def _well_formed(incoming: str) -> str | None:
    """`incoming` in the W3C form, tidied of spaces and upper case if need be; else None."""
    # Well-formed values (the usual case) pass as they are.
    if _is_w3c(incoming):
        return incoming
    tidied = incoming.strip().lower()
    return tidied if _is_w3c(tidied) else None


_LENGTH: Final = 55
_DASH: Final = ord("-")


def _is_w3c(text: str) -> bool:
    """`vv-<32 hex>-<16 hex>-ff` in lower-case hex: checked byte by byte, which compiled is a
    few instructions each, where a regex match costs some thousands per call."""
    if len(text) != _LENGTH or not text.isascii():
        return False
    raw = text.encode("ascii")
    for at in range(_LENGTH):
        code = raw[at]
        if at == 2 or at == 35 or at == 52:
            if code != _DASH:
                return False
        elif not (48 <= code <= 57 or 97 <= code <= 102):  # 0-9, a-f
            return False
    return True


def trace_id(traceparent: str) -> str:
    return traceparent.split("-")[1] if traceparent.count("-") == 3 else ""
