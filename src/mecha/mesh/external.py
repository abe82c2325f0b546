"""ExternalClient: invocations of non-Mecha HTTP services, by URL or HTTPEndpoint resource."""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

from mecha.blocks.invocation.errors import AppTimeout, AppUnreachable, InvocationError
from mecha.blocks.invocation.models import InvokeRequest, InvokeResponse
from mecha.http1 import ClientError, ClientTimeout, ConnectError, HttpClient
from mecha.mesh import wire


class ExternalClient:
    def __init__(self, http: HttpClient) -> None:
        self._http = http
        # https endpoints get their own client, made on first use, verifying certificates.
        self._https: HttpClient | None = None

    def _client(self, scheme: str) -> HttpClient:
        if scheme == "http":
            return self._http
        if self._https is None:
            self._https = HttpClient(ssl=ssl.create_default_context())
        return self._https

    async def close(self) -> None:
        if self._https is not None:
            await self._https.close()

    async def invoke(
        self,
        base_url: str,
        headers: tuple[tuple[str, str], ...],
        request: InvokeRequest,
        traceparent: str,
        tracestate: str,
        timeout: float | None,
    ) -> InvokeResponse:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https"):
            raise InvocationError(f"{url.scheme}:// endpoints are not supported; use http(s)://")
        if not url.hostname:
            raise InvocationError(f"invalid endpoint URL {base_url!r}")
        port = url.port or (443 if url.scheme == "https" else 80)
        target = url.path.rstrip("/") + wire.request_target(request.method, request.query)
        outgoing = [*request.headers, *headers, ("traceparent", traceparent)]
        if tracestate:
            outgoing.append(("tracestate", tracestate))
        if request.content_type:
            outgoing.append(("content-type", request.content_type))
        try:
            reply = await self._client(url.scheme).request(
                url.hostname, port, request.verb, target, outgoing, request.body, timeout=timeout
            )
        except ConnectError as error:
            raise AppUnreachable(f"{url.hostname}:{port} unreachable: {error}") from None
        except ClientTimeout:
            raise AppTimeout(f"no answer within {timeout}s") from None
        except ClientError as error:
            raise InvocationError(f"call to {base_url} failed: {error}") from None
        return InvokeResponse(
            status=reply.status,
            headers=wire.passed_back(reply.headers.pairs()),
            body=reply.body,
            content_type=reply.headers.get("content-type"),
        )
