"""W3C trace context: continue the caller's trace, or start one, with a new span per hop."""

from __future__ import annotations

import random
import re

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


# Ids need to be unique, not secret: the process-wide generator avoids a syscall per id.
def _span_id() -> str:
    return f"{random.getrandbits(64) or 1:016x}"


def next_traceparent(incoming: str | None) -> str:
    """The traceparent for the next hop: same trace and flags as `incoming`, a new span id.

    A missing or malformed `incoming` starts a new, sampled trace.
    """
    if incoming:
        match = _TRACEPARENT.match(incoming.strip().lower())
        if match:
            version, trace_id, span_id, flags = match.groups()
            if version != "ff" and trace_id != _ZERO_TRACE and span_id != _ZERO_SPAN:
                return f"00-{trace_id}-{_span_id()}-{flags}"
    return f"00-{random.getrandbits(128) or 1:032x}-{_span_id()}-01"


def trace_id(traceparent: str) -> str:
    return traceparent.split("-")[1] if traceparent.count("-") == 3 else ""
