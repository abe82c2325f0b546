"""The state service's copy-with-changes of request dataclasses behaves as dataclasses.replace."""

from __future__ import annotations

import dataclasses

import pytest

from mecha.blocks.state.models import (
    Concurrency,
    Consistency,
    DeleteRequest,
    GetRequest,
    SetRequest,
)
from mecha.blocks.state.service import _changed


@pytest.mark.parametrize(
    "request_",
    [
        GetRequest("k", Consistency.STRONG, {"a": "1"}),
        SetRequest("k", b"v", "e", Concurrency.FIRST_WRITE, Consistency.STRONG, 5, "text/plain"),
        DeleteRequest("k", "e", Concurrency.FIRST_WRITE, Consistency.STRONG, {"b": "2"}),
    ],
)
def test_a_changed_copy_equals_what_replace_gives(
    request_: GetRequest | SetRequest | DeleteRequest,
) -> None:
    copy = _changed(request_, key="app||k")
    assert copy == dataclasses.replace(request_, key="app||k")
    assert copy is not request_ and request_.key == "k"


def test_several_fields_change_at_once_and_unknown_ones_are_refused() -> None:
    request = SetRequest("k", b"v", ttl_seconds=5)
    copy = _changed(request, key="app||k", ttl_seconds=None, content_type="text/plain")
    assert (copy.key, copy.ttl_seconds, copy.content_type, copy.value) == (
        "app||k",
        None,
        "text/plain",
        b"v",
    )
    with pytest.raises(TypeError, match="no field 'kee'"):
        _changed(request, kee="x")
