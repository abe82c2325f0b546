"""Errors on the way to an app; the invocation service turns them into Dapr's error codes."""

from __future__ import annotations


class InvocationError(Exception):
    pass


class AppUnreachable(InvocationError):
    """The app (or the runtime in front of it) could not be reached; the call was not delivered.

    Safe to retry: nothing was processed.
    """


class AppTimeout(InvocationError):
    """The app did not answer in time; it may have processed the call."""


class AppUnhealthy(InvocationError):
    """The app's health checks fail; calls to it fail fast."""


class AppChannelMissing(InvocationError):
    """The runtime has no app to call (started without --app-port)."""
