"""Throwaway "hosts" for tests: Linux network namespaces joined by a bridge in the root namespace.

Everything a run creates is named after its process id — namespaces `mecha-<pid>-<host>`, the
bridge `mbr<pid>`, the root-side veth ends `mv<pid><host>` — so concurrent runs never meet, and a
run can remove what a crashed run (a pid that no longer lives) left behind.

The hosts get addresses in a private /24 that no route on this machine uses yet; the bridge holds
`.1`, so the root namespace reaches every host directly.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

_NAMESPACE = re.compile(r"^mecha-(\d+)-([a-z]+)$")
_BRIDGE = re.compile(r"^mbr(\d+)$")
_VETH = re.compile(r"^mv(\d+)([a-z]+)$")
# Candidate subnets: 10.254.<n>.0/24, starting at one derived from the pid.
_SUBNET_BASE = ipaddress.IPv4Network("10.254.0.0/16")


class NetnsError(RuntimeError):
    """An `ip` command failed; the message carries its output."""


def _ip(*args: str, check: bool = True) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False, timeout=10)
    if check and done.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def unavailable_reason() -> str | None:
    """Why this machine cannot host the namespaces, or None when it can."""
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    if shutil.which("ip") is None:
        return "creating network namespaces needs the `ip` command (iproute2)"
    probe = f"mecha-{os.getpid()}-probe"
    try:
        _ip("netns", "add", probe)
    except NetnsError as error:
        return f"`ip netns` cannot create a namespace here: {error}"
    _ip("netns", "del", probe, check=False)
    return None


@dataclass(frozen=True, slots=True)
class Host:
    """One namespace: its short name, the namespace's name and the address peers reach it on."""

    name: str
    namespace: str
    address: str

    def command(self, argv: Sequence[str]) -> list[str]:
        """`argv` run inside this host's namespace (`ip netns exec` replaces itself with it)."""
        return ["ip", "netns", "exec", self.namespace, *argv]


class Lab:
    """A bridge and one namespace per host name, removed again by `close`."""

    def __init__(self, host_names: Sequence[str]) -> None:
        self.run_id = os.getpid()
        self.bridge = f"mbr{self.run_id}"
        subnet = _free_subnet(self.run_id)
        addresses = list(subnet.hosts())
        self.gateway = str(addresses[0])
        self.prefix_length = subnet.prefixlen
        self.hosts = {
            name: Host(name, f"mecha-{self.run_id}-{name}", str(addresses[1 + index]))
            for index, name in enumerate(host_names)
        }
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self) -> None:
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.gateway}/{self.prefix_length}", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for host in self.hosts.values():
            veth = f"mv{self.run_id}{host.name}"
            _ip("netns", "add", host.namespace)
            _ip(
                "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", host.namespace
            )
            _ip("link", "set", veth, "master", self.bridge)
            _ip("link", "set", veth, "up")
            inside = ("-n", host.namespace)
            _ip(*inside, "link", "set", "lo", "up")
            _ip(*inside, "addr", "add", f"{host.address}/{self.prefix_length}", "dev", "eth0")
            _ip(*inside, "link", "set", "eth0", "up")

    def end_processes(self, host: Host) -> None:
        """SIGKILL whatever still runs in a host (say, the app of a runtime that was killed)."""
        _end_processes(host.namespace)

    def close(self) -> None:
        _remove(
            [host.namespace for host in self.hosts.values()],
            [f"mv{self.run_id}{name}" for name in self.hosts] + [self.bridge],
        )


def remove_leftovers() -> None:
    """Remove namespaces, veths and bridges of earlier runs whose process is gone."""
    namespaces = [
        name
        for name in _namespace_names()
        if (match := _NAMESPACE.match(name)) and not _alive(int(match.group(1)))
    ]
    links = [
        name
        for name in _link_names()
        if (match := _BRIDGE.match(name) or _VETH.match(name)) and not _alive(int(match.group(1)))
    ]
    _remove(namespaces, links)


def _remove(namespaces: Iterable[str], links: Iterable[str]) -> None:
    """Best effort, so that one missing piece does not keep the rest."""
    for namespace in namespaces:
        _end_processes(namespace)
        _ip("netns", "del", namespace, check=False)
    existing = set(_link_names())
    for link in links:
        if link in existing:  # a veth goes with its namespace's end
            _ip("link", "del", link, check=False)


def _end_processes(namespace: str) -> None:
    # Anything running in one of these namespaces was started there by a test run.
    for pid in _ip("netns", "pids", namespace, check=False).split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def _namespace_names() -> list[str]:
    # Lines read "name" or "name (id: N)".
    return [line.split()[0] for line in _ip("netns", "list").splitlines() if line.strip()]


def _link_names() -> list[str]:
    # Lines read "N: name: <FLAGS> ..." or "N: name@peer: <FLAGS> ...".
    names = []
    for line in _ip("-o", "link", "show").splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            names.append(parts[1].strip().split("@")[0])
    return names


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie whose parent died unreaped does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # "pid (command) state ...": the command may hold spaces and parentheses.
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def _free_subnet(run_id: int) -> ipaddress.IPv4Network:
    """A /24 that overlaps no route or address this machine has (another run's included)."""
    taken: list[ipaddress.IPv4Network] = []
    for line in (_ip("-4", "-o", "route", "show") + _ip("-4", "-o", "addr", "show")).splitlines():
        for word in line.split():
            if "." in word and word[0].isdigit():
                with contextlib.suppress(ValueError):
                    taken.append(ipaddress.IPv4Network(word, strict=False))
    candidates = list(_SUBNET_BASE.subnets(new_prefix=24))
    for step in range(len(candidates)):
        candidate = candidates[(run_id + step) % len(candidates)]
        if not any(candidate.overlaps(network) for network in taken):
            return candidate
    raise NetnsError(f"no free /24 left in {_SUBNET_BASE}")
