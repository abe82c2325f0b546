"""Limits and the state one server shares with its connections."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mecha.http2.frames import MAX_WINDOW
from mecha.listening import ConnectionSet

if TYPE_CHECKING:
    from mecha.http2.call import Method

Lookup = Callable[[str], "Method | None"]


@dataclass(frozen=True, slots=True)
class Limits:
    max_message_bytes: int = 4 * 1024 * 1024
    """Largest request message; a larger one fails its call with RESOURCE_EXHAUSTED."""
    max_concurrent_streams: int = 1000
    max_header_list_bytes: int = 64 * 1024
    header_table_bytes: int = 4096
    connection_window: int = 16 * 1024 * 1024
    """Bytes a client may send ahead on the connection before the server acknowledges them."""

    @property
    def stream_window(self) -> int:
        """Per-stream receive window: room for two messages of the largest size, so that a
        client blocked on the window always has at least a quarter of it to be given back."""
        return min(MAX_WINDOW, max(2 * (self.max_message_bytes + 5), 1024 * 1024))


class ServerContext(ConnectionSet):
    __slots__ = ("limits", "lookup")

    def __init__(self, lookup: Lookup, limits: Limits) -> None:
        super().__init__()
        self.lookup = lookup
        self.limits = limits
