"""The HTTP route table's matcher: literal paths, parameters, rest segments, precedence."""

from __future__ import annotations

import pytest

from mecha.api.http.router import Call, NoRoute, Route, Router
from mecha.api.http.routes import ROUTES
from mecha.http1 import Response


def handler(call: Call) -> Response:
    return Response(204)


def table(*specs: tuple[str, str]) -> Router:
    return Router(
        [Route(method, pattern, handler, f"{method} {pattern}") for method, pattern in specs]
    )


def matched(router: Router, method: str, path: str) -> tuple[str, dict[str, str]]:
    route, params = router.match(method, path)
    return route.pattern, params


def test_the_api_table_routes_each_kind_of_path() -> None:
    router = Router(ROUTES)
    assert matched(router, "GET", "/v1.0/healthz") == ("/v1.0/healthz", {})
    assert matched(router, "GET", "/v1.0/state/store/a%2Fb") == (
        "/v1.0/state/{store}/{key}",
        {"store": "store", "key": "a/b"},
    )
    assert matched(router, "POST", "/v1.0/state/store/bulk") == (
        "/v1.0/state/{store}/bulk",
        {"store": "store"},
    )
    assert matched(router, "PUT", "/v1.0-alpha1/state/s/query") == (
        "/v1.0-alpha1/state/{store}/query",
        {"store": "s"},
    )
    assert matched(router, "PATCH", "/v1.0/invoke/app/method/a/b") == (
        "/v1.0/invoke/{rest...}",
        {"rest": "app/method/a/b"},
    )


def test_a_known_path_with_another_method_names_the_allowed_ones() -> None:
    router = Router(ROUTES)
    with pytest.raises(NoRoute) as refused:
        router.match("POST", "/v1.0/state/store/key")
    assert refused.value.allowed == ["DELETE", "GET"]
    with pytest.raises(NoRoute) as refused:
        router.match("DELETE", "/v1.0/healthz")
    assert refused.value.allowed == ["GET"]


@pytest.mark.parametrize(
    "path", ["/", "/v1.0", "/v1.0/state", "/v1.0/state//key", "/v2.0/state/s/k", "/v1.0/invoke"]
)
def test_paths_no_pattern_covers_are_refused_with_nothing_allowed(path: str) -> None:
    with pytest.raises(NoRoute) as refused:
        Router(ROUTES).match("GET", path)
    assert refused.value.allowed == []


def test_patterns_with_a_parameter_up_front_are_tried_for_every_path() -> None:
    router = table(("GET", "/{version}/things/{id}"), ("GET", "/v1/things/special"))
    assert matched(router, "GET", "/v1/things/special") == ("/v1/things/special", {})
    assert matched(router, "GET", "/v1/things/7") == (
        "/{version}/things/{id}",
        {"version": "v1", "id": "7"},
    )
    assert matched(router, "GET", "/v9/things/7") == (
        "/{version}/things/{id}",
        {"version": "v9", "id": "7"},
    )


def test_more_literal_segments_win_over_parameters() -> None:
    router = table(("GET", "/a/b/{x}/{y}"), ("GET", "/a/b/{x}/fixed"), ("GET", "/a/b/{rest...}"))
    assert matched(router, "GET", "/a/b/1/fixed")[0] == "/a/b/{x}/fixed"
    assert matched(router, "GET", "/a/b/1/2")[0] == "/a/b/{x}/{y}"
    assert matched(router, "GET", "/a/b/1/2/3")[0] == "/a/b/{rest...}"


def test_a_prefix_served_by_a_rest_alone_hands_over_all_that_follows() -> None:
    router = table(("GET", "/a/b/{rest...}"), ("PUT", "/a/b/{rest...}"), ("GET", "/a/c/{x}"))
    assert matched(router, "GET", "/a/b/x%2Fy//z/") == ("/a/b/{rest...}", {"rest": "x%2Fy//z/"})
    assert matched(router, "PUT", "/a/b/") == ("/a/b/{rest...}", {"rest": ""})
    with pytest.raises(NoRoute) as refused:
        router.match("POST", "/a/b/x")
    assert refused.value.allowed == ["GET", "PUT"]
    with pytest.raises(NoRoute) as refused:
        router.match("GET", "/a/b")
    assert refused.value.allowed == []


def test_a_rest_beside_other_patterns_under_its_prefix_still_comes_last() -> None:
    router = table(("GET", "/a/b/{rest...}"), ("GET", "/a/b/{x}/fixed"))
    assert matched(router, "GET", "/a/b/1/fixed") == ("/a/b/{x}/fixed", {"x": "1"})
    assert matched(router, "GET", "/a/b/1/2") == ("/a/b/{rest...}", {"rest": "1/2"})
