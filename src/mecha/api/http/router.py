"""A declarative route table and the matcher over it.

Patterns are paths whose segments may be `{name}` (one segment) or, last, `{name...}` (the
rest of the path). Matching works on the raw path; a `{name}` value is percent-decoded, a rest
is handed over raw, for the handler to split before it decodes (an encoded `/` stays apart).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mecha.http1 import Deferred, Request, Response, percent_decoded

if TYPE_CHECKING:
    from mecha.apps import HostedApp
    from mecha.runtime import Runtime


class Call:
    """One API call as a handler sees it."""

    # Not a dataclass: compiled, one would evaluate the annotations naming TYPE_CHECKING imports.
    __slots__ = ("app", "params", "request", "runtime")

    def __init__(
        self, request: Request, params: dict[str, str], app: HostedApp, runtime: Runtime
    ) -> None:
        self.request = request
        self.params = params
        self.app = app
        self.runtime = runtime


Handler = Callable[[Call], Response | Deferred | Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: str
    handler: Handler
    name: str
    # Health routes answer without the API token, as daprd's do.
    public: bool = False


@dataclass(frozen=True, slots=True)
class _Pattern:
    segments: tuple[str, ...]
    params: tuple[tuple[int, str], ...]
    rest: str | None
    methods: dict[str, Route]


class NoRoute(Exception):
    def __init__(self, allowed: Sequence[str]) -> None:
        super().__init__()
        self.allowed = allowed


class Router:
    def __init__(self, routes: Sequence[Route]) -> None:
        self._static: dict[str, dict[str, Route]] = {}
        patterns: dict[str, _Pattern] = {}
        for route in routes:
            if "{" not in route.pattern:
                self._static.setdefault(route.pattern, {})[route.method] = route
                continue
            pattern = patterns.get(route.pattern) or _compile(route.pattern)
            patterns[route.pattern] = pattern
            pattern.methods[route.method] = route
        # Longer literal prefixes first, so `/state/{s}/bulk` wins over `/state/{s}/{key}`.
        ordered = sorted(
            patterns.values(),
            key=lambda p: (sum(1 for s in p.segments if s), p.rest is None),
            reverse=True,
        )
        # Indexed by the first two segments (`v1.0`, `state`), so a path is tried only against
        # the patterns that can match it; those that take a parameter there are tried always.
        self._unprefixed = [p for p in ordered if _prefix(p) is None]
        self._by_prefix: dict[tuple[str, str], list[_Pattern]] = {}
        for pattern in ordered:
            key = _prefix(pattern)
            if key is not None and key not in self._by_prefix:
                self._by_prefix[key] = [p for p in ordered if _prefix(p) in (key, None)]
        # `/v1.0/invoke/{rest...}`: when the only pattern under a prefix is those two segments
        # and a rest, whatever follows the prefix is the rest, found without splitting it.
        self._rest_only = {
            key: candidates[0]
            for key, candidates in self._by_prefix.items()
            if len(candidates) == 1
            and len(candidates[0].segments) == 3
            and candidates[0].rest is not None
        }

    def static(self) -> Mapping[str, Mapping[str, Route]]:
        """Routes without parameters by path, then method: one dict lookup each for the
        busiest paths (health, metadata), before `match` is asked about anything else."""
        return self._static

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route for a request; NoRoute (with the allowed methods) when there is none."""
        methods = self._static.get(path)
        if methods is not None:
            route = methods.get(method)
            if route is not None:
                return route, {}
            raise NoRoute(sorted(methods))
        head = path.split("/", 3)
        if len(head) == 4:
            sole = self._rest_only.get((head[1], head[2]))
            if sole is not None:
                assert sole.rest is not None
                route = sole.methods.get(method)
                if route is None:
                    raise NoRoute(sorted(sole.methods))
                return route, {sole.rest: head[3]}
        parts = path.split("/")
        candidates = self._unprefixed
        if len(parts) > 2:
            candidates = self._by_prefix.get((parts[1], parts[2]), candidates)
        allowed: list[str] = []
        for pattern in candidates:
            params = _match(pattern, parts)
            if params is None:
                continue
            route = pattern.methods.get(method)
            if route is not None:
                return route, params
            allowed.extend(pattern.methods)
        raise NoRoute(sorted(set(allowed)))


def _prefix(pattern: _Pattern) -> tuple[str, str] | None:
    """The pattern's first two segments when both are literal."""
    segments = pattern.segments
    if len(segments) > 2 and segments[1] and segments[2]:
        return segments[1], segments[2]
    return None


def _compile(text: str) -> _Pattern:
    segments: list[str] = []
    params: list[tuple[int, str]] = []
    rest: str | None = None
    parts = text.split("/")
    for index, part in enumerate(parts):
        if part.startswith("{") and part.endswith("...}"):
            if index != len(parts) - 1:
                raise ValueError(f"{text}: a rest segment must come last")
            rest = part[1:-4]
        elif part.startswith("{") and part.endswith("}"):
            params.append((index, part[1:-1]))
            segments.append("")
        else:
            segments.append(part)
    return _Pattern(tuple(segments), tuple(params), rest, {})


def _match(pattern: _Pattern, parts: list[str]) -> dict[str, str] | None:
    count = len(pattern.segments)
    if pattern.rest is None:
        if len(parts) != count:
            return None
    elif len(parts) <= count:
        return None
    for literal, part in zip(pattern.segments, parts, strict=False):
        if literal and literal != part:
            return None
    values: dict[str, str] = {}
    for index, name in pattern.params:
        if not parts[index]:
            return None
        values[name] = percent_decoded(parts[index])
    if pattern.rest is not None:
        # The rest as it stands in the path: after the matched segments and their slashes.
        values[pattern.rest] = "/".join(parts[count:])
    return values
