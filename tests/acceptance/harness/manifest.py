"""Scenario files and the needs their leading comment block declares (see README.md)."""

from __future__ import annotations

import re
import shlex
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

ACCEPTANCE_DIR = Path(__file__).resolve().parents[1]
SCENARIO_DIRS = {
    "python": ACCEPTANCE_DIR / "python" / "scenarios",
    "js": ACCEPTANCE_DIR / "js" / "scenarios",
}
SUFFIXES = {"python": ".py", "js": ".mjs"}
COMMENT_MARKERS = {"python": "#", "js": "//"}
DEFAULT_TIMEOUT_S = 30.0


class ManifestError(Exception):
    """A scenario's header cannot be understood."""


@dataclass(frozen=True)
class Peer:
    """A second runtime beside the scenario's own, hosting another app (the `@peer*` lines)."""

    app_id: str
    env: Mapping[str, str] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    app_command: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scenario:
    """One run of one scenario file, with everything its header declared."""

    name: str
    path: Path
    language: str
    app_id: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    protocol: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    mecha_env: Mapping[str, str] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    app_command: tuple[str, ...] = ()
    resources: tuple[tuple[str, str], ...] = ()
    config: str | None = None
    mecha_exits: bool = False
    peer: Peer | None = None


@dataclass(frozen=True)
class Directive:
    key: str
    argument: str
    body: str


def read_directives(path: Path, marker: str) -> list[Directive]:
    """The `@key argument` lines of the leading comment block, each with its indented body.

    A body is the run of lines indented deeper than the directive (blank comment lines
    included) right below it; any other comment line ends it.
    """
    directives: list[tuple[str, str, list[str]]] = []
    in_body = False
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if number == 1 and line.startswith("#!"):
            continue
        if not line.startswith(marker):
            break
        content = line[len(marker) :]
        stripped = content.strip()
        if stripped.startswith("@"):
            key, _, argument = stripped[1:].partition(" ")
            directives.append((key, argument.strip(), []))
            in_body = True
        elif in_body and (content.startswith("   ") or not stripped):
            directives[-1][2].append(content)
        else:
            in_body = False
    return [
        Directive(key, argument, textwrap.dedent("\n".join(body)).strip("\n"))
        for key, argument, body in directives
    ]


def parse_assignment(text: str, path: Path) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ManifestError(f"{path}: expected NAME=VALUE, got {text!r}")
    return name, value


def load_scenarios(language: str, path: Path) -> list[Scenario]:
    """The runs a scenario file asks for: one, or one per declared protocol."""
    name = f"{language}/{path.stem}"
    app_id = "acc-" + re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-")
    base = Scenario(name=name, path=path, language=language, app_id=app_id)
    env: dict[str, str] = {}
    mecha_env: dict[str, str] = {}
    flags: list[str] = []
    resources: list[tuple[str, str]] = []
    protocols: list[str] = []
    peer_id = ""
    peer_env: dict[str, str] = {}
    peer_flags: list[str] = []
    peer_app: tuple[str, ...] = ()
    for d in read_directives(path, COMMENT_MARKERS[language]):
        if d.key == "timeout":
            base = replace(base, timeout_s=float(d.argument))
        elif d.key == "app-id":
            base = replace(base, app_id=d.argument)
        elif d.key == "protocols":
            protocols = d.argument.split()
            if not protocols or set(protocols) - {"http", "grpc"}:
                raise ManifestError(f"{path}: @protocols takes http and/or grpc")
        elif d.key == "env":
            env.update([parse_assignment(d.argument, path)])
        elif d.key == "mecha-env":
            mecha_env.update([parse_assignment(d.argument, path)])
        elif d.key == "flags":
            flags.extend(shlex.split(d.argument))
        elif d.key == "app":
            base = replace(base, app_command=tuple(shlex.split(d.argument)))
        elif d.key == "resource":
            if not d.argument.endswith((".yaml", ".yml")) or not d.body:
                raise ManifestError(f"{path}: @resource NAME.yaml needs an indented YAML body")
            resources.append((d.argument, d.body + "\n"))
        elif d.key == "config":
            if not d.body:
                raise ManifestError(f"{path}: @config needs an indented YAML body")
            base = replace(base, config=d.body + "\n")
        elif d.key == "mecha-exits":
            base = replace(base, mecha_exits=True)
        elif d.key == "peer":
            if peer_id or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*", d.argument):
                raise ManifestError(f"{path}: one @peer APP_ID is allowed, got {d.argument!r}")
            peer_id = d.argument
        elif d.key == "peer-env":
            peer_env.update([parse_assignment(d.argument, path)])
        elif d.key == "peer-flags":
            peer_flags.extend(shlex.split(d.argument))
        elif d.key == "peer-app":
            peer_app = tuple(shlex.split(d.argument))
        else:
            raise ManifestError(f"{path}: unknown directive @{d.key}")
    base = replace(
        base, env=env, mecha_env=mecha_env, flags=tuple(flags), resources=tuple(resources)
    )
    if peer_id:
        if peer_id == base.app_id:
            raise ManifestError(f"{path}: the @peer needs an app id of its own")
        base = replace(base, peer=Peer(peer_id, peer_env, tuple(peer_flags), peer_app))
    elif peer_env or peer_flags or peer_app:
        raise ManifestError(f"{path}: @peer-env, @peer-flags and @peer-app need @peer APP_ID")
    if not protocols:
        return [base]
    return [with_protocol(replace(base, name=f"{name}[{p}]", protocol=p)) for p in protocols]


def with_protocol(scenario: Scenario) -> Scenario:
    """Fill `{protocol}` in the environment a run declares (`@env`, `@mecha-env`, `@peer-env`)."""

    def fill(env: Mapping[str, str]) -> dict[str, str]:
        return {k: v.replace("{protocol}", scenario.protocol or "") for k, v in env.items()}

    peer = scenario.peer
    return replace(
        scenario,
        env=fill(scenario.env),
        mecha_env=fill(scenario.mecha_env),
        peer=replace(peer, env=fill(peer.env)) if peer else None,
    )


@dataclass(frozen=True)
class BrokenScenario:
    """A scenario file whose header cannot be understood; it counts as failed."""

    name: str
    error: str


def discover() -> tuple[list[Scenario], list[BrokenScenario]]:
    """Every scenario run the files ask for, and the files whose header is broken."""
    scenarios: list[Scenario] = []
    broken: list[BrokenScenario] = []
    for language, directory in SCENARIO_DIRS.items():
        for path in sorted(directory.glob("*" + SUFFIXES[language])):
            try:
                scenarios.extend(load_scenarios(language, path))
            except (ManifestError, ValueError) as error:
                broken.append(BrokenScenario(f"{language}/{path.stem}", f"bad header: {error}"))
    return scenarios, broken
