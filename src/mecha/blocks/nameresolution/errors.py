"""Errors name resolvers raise."""

from __future__ import annotations


class ResolverUnavailable(Exception):
    """The resolver's backing service (Redis, DNS) cannot be reached."""
