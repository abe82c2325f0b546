"""Errors state stores raise; the service turns them into Dapr's error codes."""

from __future__ import annotations


class StateStoreError(Exception):
    pass


class ETagMismatch(StateStoreError):
    """The ETag given does not match the stored one, or the key does not exist."""


class ETagInvalid(StateStoreError):
    """The ETag given is not in this store's format."""


class StoreUnavailable(StateStoreError):
    """The backend cannot be reached right now."""
