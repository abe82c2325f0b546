"""The write side of a connection: one buffered write per loop turn, and flow control.

Frames produced while input is being processed, or by handlers finishing in the same loop
turn, are joined into one transport write. DATA respects the peer's connection and stream
windows and the transport's back-pressure: what does not fit waits for WINDOW_UPDATE or
resume_writing, while the rest of the connection goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from mecha.http2.call import ServerCall
from mecha.http2.frames import DATA, DEFAULT_MAX_FRAME, DEFAULT_WINDOW, frame_head, header_frames


class Sender:
    """A protocol's write side (duck-typed: a compiled class cannot derive from asyncio's)."""

    __slots__ = (
        "_blocked",
        "_flush_scheduled",
        "_holding",
        "_out",
        "_transport",
        "_write_paused",
        "loop",
        "peer_initial_window",
        "peer_max_frame",
        "send_window",
    )

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()  # protocol factories run inside the loop
        self._transport: asyncio.Transport | None = None
        self._out: list[bytes] = []
        self._holding = False
        """Input is being processed: its output is written once, at the end."""
        self._flush_scheduled = False
        self._write_paused = False
        self.send_window = DEFAULT_WINDOW
        self.peer_initial_window = DEFAULT_WINDOW
        self.peer_max_frame = DEFAULT_MAX_FRAME
        self._blocked: dict[ServerCall, None] = {}
        """Calls waiting for the connection window or for the transport to take more."""

    def write(self, data: bytes) -> None:
        self._out.append(data)
        if not self._holding and not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self.flush)

    def write_now(self, data: bytes) -> None:
        """Like `write`, but out at once (with anything pending) unless input is being
        processed: for an answer that should not wait a loop turn."""
        self._out.append(data)
        if not self._holding:
            self.flush()

    def flush(self) -> None:
        self._flush_scheduled = False
        out = self._out
        if not out:
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def send_headers(self, call: ServerCall) -> None:
        if call.done or call.headers_sent:
            return
        call.headers_sent = True
        self.write(header_frames(call.id, call.initial_block, False, self.peer_max_frame))

    def send_data(self, call: ServerCall, payload: bytes) -> Coroutine[Any, Any, None] | None:
        """Sends DATA now when the windows allow; otherwise returns what to await for it."""
        size = len(payload)
        if not self._write_paused and size <= self.send_window and size <= call.send_window:
            self.send_window -= size
            call.send_window -= size
            self.write(self.data_frames(call.id, payload))
            return None
        return self._send_waiting(call, payload)

    async def _send_waiting(self, call: ServerCall, payload: bytes) -> None:
        view = memoryview(payload)
        offset = 0
        total = len(view)
        while offset < total:
            if call.done:
                return
            allowed = min(self.send_window, call.send_window, total - offset)
            if self._write_paused or allowed <= 0:
                await self._wait_for_room(call)
                continue
            self.send_window -= allowed
            call.send_window -= allowed
            self.write(self.data_frames(call.id, view[offset : offset + allowed]))
            offset += allowed

    async def _wait_for_room(self, call: ServerCall) -> None:
        waiter = self.loop.create_future()
        call.waiter = waiter
        self._blocked[call] = None
        try:
            await waiter
        finally:
            call.waiter = None

    def data_frames(self, stream_id: int, payload: bytes | memoryview) -> bytes:
        size = len(payload)
        step = self.peer_max_frame
        if size <= step:
            return frame_head(DATA, 0, stream_id, size) + payload
        parts: list[bytes | memoryview] = []
        view = memoryview(payload)
        for start in range(0, size, step):
            chunk = view[start : start + step]
            parts.append(frame_head(DATA, 0, stream_id, len(chunk)))
            parts.append(chunk)
        return b"".join(parts)

    def wake_blocked(self) -> None:
        blocked = self._blocked
        self._blocked = {}
        for call in blocked:
            call.wake_writer()

    # asyncio.Protocol

    def pause_writing(self) -> None:
        self._write_paused = True
        transport = self._transport
        if transport is not None and not transport.is_closing():
            # A client that does not read its answers gets no new calls started either.
            transport.pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.resume_reading()
        self.wake_blocked()
