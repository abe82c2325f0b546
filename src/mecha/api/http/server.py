"""HttpApi: one app's HTTP API listener: route, check the token, call, render errors."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

from mecha.api.http import invoke
from mecha.api.http.errors import render_error, render_protocol_error
from mecha.api.http.router import Call, NoRoute, Route, Router
from mecha.api.http.routes import ROUTES
from mecha.errors import ErrorCode, MechaError
from mecha.http1 import Deferred, HttpServer, Limits, Request, Response

if TYPE_CHECKING:
    from mecha.apps import HostedApp
    from mecha.runtime import Runtime

log = logging.getLogger("mecha.api.http")
api_log: Final = logging.getLogger("mecha.api")

_ROUTER: Final = Router(ROUTES)
_STATIC_ROUTES: Final = _ROUTER.static()
# Any path no route serves is an invocation when it carries `dapr-app-id`, as in daprd.
_HEADER_INVOKE: Final = Route(
    "*", "*", lambda call: invoke.by_header(call, call.params["target"]), "InvokeService"
)


class HttpApi:
    __slots__ = ("_app", "_log_calls", "_runtime", "_same_token", "_token", "server")

    def __init__(self, runtime: Runtime, app: HostedApp) -> None:
        config = runtime.config
        self._runtime = runtime
        self._app = app
        self._token = app.api_token.encode() if app.api_token else None
        self._same_token: Callable[[bytes, bytes], bool] | None = None
        if self._token is not None:
            # hmac brings in OpenSSL's digests (~0.7 MB): loaded only when a token is set.
            from hmac import compare_digest

            self._same_token = compare_digest
        self._log_calls = config.enable_api_logging
        self.server = HttpServer(
            self.handle,
            limits=Limits(
                max_body_bytes=config.max_body_bytes, max_header_bytes=config.max_header_bytes
            ),
            on_protocol_error=render_protocol_error,
        )

    async def listen(self, addresses: tuple[str, ...], port: int) -> int:
        """Listen on every address; the bound port (the one chosen when `port` is 0)."""
        return await self.server.listen_all(addresses, port)

    async def close(self, grace: float) -> None:
        await self.server.close(grace)

    def handle(self, request: Request) -> Response | Deferred | Awaitable[Response]:
        methods = _STATIC_ROUTES.get(request.path)
        route = None if methods is None else methods.get(request.method)
        if route is not None:
            params: dict[str, str] = {}
        else:
            try:
                route, params = _ROUTER.match(request.method, request.path)
            except NoRoute as missing:
                target = invoke.header_target(request)
                if target is None:
                    return self._no_route(request, missing)
                route, params = _HEADER_INVOKE, {"target": target}
        if self._token is not None and not route.public and not self._token_ok(request):
            return render_error(
                MechaError(ErrorCode.UNAUTHORIZED, "authentication error: api token mismatch")
            )
        call = Call(request, params, self._app, self._runtime)
        if self._log_calls:
            return self._logged(route, call)
        try:
            result = route.handler(call)
        except MechaError as error:
            return render_error(error)
        # A tuple, not `Response | Deferred`: compiled, the union would be built on every call.
        if isinstance(result, (Response, Deferred)):
            return result
        return _finish(result)

    def _token_ok(self, request: Request) -> bool:
        given = request.headers.get("dapr-api-token")
        assert self._token is not None and self._same_token is not None
        return given is not None and self._same_token(given.encode("latin-1"), self._token)

    def _logged(self, route: Route, call: Call) -> Response | Deferred | Awaitable[Response]:
        started = time.perf_counter()
        try:
            result = route.handler(call)
        except MechaError as error:
            result = render_error(error)
        if isinstance(result, Response):
            return _log_call(route, call, started, result)
        if isinstance(result, Deferred):
            logged = Deferred()
            result.listen(
                lambda response: logged.resolve(_log_call(route, call, started, response))
            )
            logged.on_cancel = result.cancel
            return logged
        return self._logged_later(route, call, started, result)

    @staticmethod
    async def _logged_later(
        route: Route, call: Call, started: float, pending: Awaitable[Response]
    ) -> Response:
        try:
            response = await pending
        except MechaError as error:
            response = render_error(error)
        return _log_call(route, call, started, response)

    @staticmethod
    def _no_route(request: Request, missing: NoRoute) -> Response:
        if missing.allowed:
            response = render_error(
                MechaError(
                    ErrorCode.METHOD_NOT_ALLOWED,
                    f"method {request.method} is not allowed on {request.path}",
                )
            )
            response.headers.append(("Allow", ", ".join(missing.allowed)))
            return response
        return render_error(
            MechaError(ErrorCode.NOT_FOUND, f"no API route for {request.method} {request.path}")
        )


def _log_call(route: Route, call: Call, started: float, response: Response) -> Response:
    api_log.info(
        "HTTP API called: %s %s (%s) -> %d in %.2f ms",
        call.request.method,
        call.request.path,
        route.name,
        response.status,
        (time.perf_counter() - started) * 1000,
    )
    return response


async def _finish(pending: Awaitable[Response]) -> Response:
    try:
        return await pending
    except MechaError as error:
        return render_error(error)
