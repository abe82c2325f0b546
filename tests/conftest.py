"""Refuse to test compiled modules built from other sources than the ones checked out."""

from __future__ import annotations

import pytest

from mecha import build


def pytest_configure(config: pytest.Config) -> None:
    reason = build.stale()
    if reason is not None:
        raise pytest.UsageError(reason)
