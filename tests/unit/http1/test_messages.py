from __future__ import annotations

import pytest

from mecha.http1 import Headers, Limits, Request, Response, TextCache


def test_headers_lookup_is_case_insensitive_and_keeps_order() -> None:
    headers = Headers([("Content-Type", "application/json"), ("X-A", "1"), ("x-a", "2")])
    assert headers.get("content-type") == "application/json"
    assert headers.get("CONTENT-TYPE") == "application/json"
    assert headers.get("x-a") == "1"
    assert headers.get_all("X-A") == ["1", "2"]
    assert headers.get("missing") is None
    assert headers.get("missing", "d") == "d"
    assert list(headers) == [("content-type", "application/json"), ("x-a", "1"), ("x-a", "2")]
    assert len(headers) == 3
    assert "X-a" in headers
    assert "nope" not in headers
    assert 1 not in headers


def test_headers_add_after_lookup_updates_the_index() -> None:
    headers = Headers()
    assert headers.get("a") is None
    headers.add("A", "first")
    headers.add("a", "second")
    assert headers.get("a") == "first"
    assert headers.get_all("a") == ["first", "second"]
    assert "a" in headers
    assert len(headers) == 2


def test_response_defaults_and_header_list_is_its_own() -> None:
    pairs = (("x-one", "1"),)
    response = Response(headers=pairs)
    assert response.status == 200
    assert response.body == b""
    assert response.content_type is None
    response.headers.append(("x-two", "2"))
    assert pairs == (("x-one", "1"),)


def test_request_is_a_plain_slotted_object() -> None:
    request = Request("GET", "/a", "b=1", Headers(), b"", True, "1.1")
    request.body = b"changed"
    assert request.body == b"changed"
    with pytest.raises(AttributeError):
        request.extra = 1  # type: ignore[attr-defined]
    assert "GET /a?b=1" in repr(request)


def test_limits_defaults_match_daprd() -> None:
    limits = Limits()
    assert limits.max_body_bytes == 4 * 1024 * 1024
    assert limits.max_header_bytes == 16 * 1024
    assert limits.keepalive_timeout == 75.0
    assert limits.max_pipelined == 64


@pytest.mark.parametrize(
    "kwargs",
    [{"max_body_bytes": -1}, {"keepalive_timeout": 0}, {"max_pipelined": 0}],
)
def test_limits_reject_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        Limits(**kwargs)  # type: ignore[arg-type]


def test_text_cache_is_bounded_and_keeps_no_long_keys() -> None:
    cache = TextCache(size=2, max_key=5)
    assert cache.put("a", "/a") == "/a"
    assert cache.get("a") == "/a"
    cache.put("b", "/b")
    cache.put("c", "/c")  # full: emptied first, so only the newest stays
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, None, "/c")
    assert cache.put("longer", "/longer") == "/longer"
    assert cache.get("longer") is None
