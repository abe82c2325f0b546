"""PeerClient: send an invocation to the runtime that hosts the target app."""

from __future__ import annotations

from functools import partial

import orjson

from mecha.blocks.invocation.errors import AppTimeout, AppUnreachable, InvocationError
from mecha.blocks.invocation.models import CallContext, InvokeRequest
from mecha.blocks.invocation.service import RemoteError
from mecha.blocks.nameresolution.models import Address
from mecha.callbacks import Cancel, nothing_to_cancel
from mecha.channel.protocols import ChannelDone
from mecha.errors import ErrorCode, MechaError
from mecha.http1 import ClientError, ClientResponse, ClientTimeout, ConnectError, HttpClient
from mecha.mesh import wire


class PeerClient:
    def __init__(self, http: HttpClient) -> None:
        self._http = http

    def call(
        self, address: Address, request: InvokeRequest, context: CallContext, done: ChannelDone
    ) -> Cancel:
        """Sends the call to the peer at `address`; `done` hears the app's answer or the error:
        AppUnreachable when it certainly was not delivered (safe to try again)."""
        try:
            outgoing = self._http.send(
                address.host,
                address.internal_port,
                request.verb,
                wire.request_target(request.method, request.query),
                partial(_answered, address, context.timeout, done),
                wire.call_headers(request, context),
                request.body,
                context.timeout,
                wire.call_lines(request, context),
            )
        except ValueError as error:
            done(InvocationError(f"cannot send this call to the peer runtime: {error}"))
            return nothing_to_cancel
        return outgoing.cancel


def _answered(
    address: Address,
    timeout: float | None,
    done: ChannelDone,
    outcome: ClientResponse | ClientError,
) -> None:
    if isinstance(outcome, ClientResponse):
        reply = wire.read_reply(outcome)
        if isinstance(reply, wire.Refusal):
            done(RemoteError(_remote_error(reply)))
        else:
            done(reply)
    elif isinstance(outcome, ConnectError):
        where = f"{address.host}:{address.internal_port}"
        done(AppUnreachable(f"runtime at {where} unreachable: {outcome}"))
    elif isinstance(outcome, ClientTimeout):
        done(AppTimeout(f"no answer within {timeout}s"))
    else:
        # Delivered, perhaps processed: reported, never retried.
        where = f"{address.host}:{address.internal_port}"
        done(InvocationError(f"call to runtime at {where} failed: {outcome}"))


def _remote_error(refusal: wire.Refusal) -> MechaError:
    try:
        message = str(orjson.loads(refusal.body).get("message", ""))
    except (orjson.JSONDecodeError, AttributeError):
        message = refusal.body.decode("utf-8", "replace")
    code = ErrorCode.__members__.get(refusal.code, ErrorCode.DIRECT_INVOKE)
    return MechaError(code, message)
