"""The apps a runtime serves: one in sidecar mode, many in node mode.

A hosted app is an entry in the runtime's table — its id, its API listeners, its tokens, its
app channel — never a global. Everything below the front ends receives the app it acts for.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mecha.channel.health import AppHealth
    from mecha.channel.protocols import AppChannel


class HostedApp:
    # Not a dataclass: compiled, one would evaluate the annotations naming TYPE_CHECKING imports.
    __slots__ = (
        "api_token",
        "app_api_token",
        "app_channel_address",
        "app_port",
        "app_protocol",
        "channel",
        "channel_ready",
        "extended_metadata",
        "grpc_port",
        "health",
        "http_port",
        "id",
    )

    def __init__(
        self,
        id: str,
        http_port: int,
        grpc_port: int,
        app_port: int | None = None,
        app_protocol: str = "http",
        app_channel_address: str = "127.0.0.1",
        api_token: str | None = None,
        app_api_token: str | None = None,
    ) -> None:
        self.id = id
        self.http_port = http_port
        self.grpc_port = grpc_port
        self.app_port = app_port
        self.app_protocol = app_protocol
        self.app_channel_address = app_channel_address
        self.api_token = api_token
        self.app_api_token = app_api_token
        self.extended_metadata: dict[str, str] = {}
        # How the runtime calls the app; None when it has no --app-port.
        self.channel: AppChannel | None = None
        # Its health probes, when --enable-app-health-check is on.
        self.health: AppHealth | None = None
        # True once the app answers on its port (at once when it has none).
        self.channel_ready = False

    def __repr__(self) -> str:
        return f"<HostedApp {self.id} http:{self.http_port} grpc:{self.grpc_port}>"


class AppTable:
    """The apps of one runtime, by id."""

    def __init__(self) -> None:
        self._apps: dict[str, HostedApp] = {}

    def add(self, app: HostedApp) -> None:
        if app.id in self._apps:
            raise ValueError(f"app {app.id!r} is already hosted by this runtime")
        self._apps[app.id] = app

    def get(self, app_id: str) -> HostedApp | None:
        return self._apps.get(app_id)

    def __iter__(self) -> Iterator[HostedApp]:
        return iter(self._apps.values())

    def __len__(self) -> int:
        return len(self._apps)
