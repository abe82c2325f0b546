"""The same-host registry's files: where an instance's entry lives, writing and reading it, and
whether the process that wrote it still runs.

Layout under the registry folder: `ns-<namespace>/<app id>/<host>_<internal port>.json`, names
percent-encoded so that any namespace or app id is one safe path segment (`.` included, so no
segment is ever `.` or `..`). An entry is written to a dot-prefixed temporary file and renamed
into place, so readers see a whole entry or none.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from mecha.blocks.nameresolution.models import Address, Instance

_TEMP_SUFFIX = ".tmp"
_HAS_PROC = os.path.isdir("/proc/self")


@dataclass(frozen=True, slots=True)
class Entry:
    path: str
    address: Address
    pid: int
    # The process's start time in clock ticks since boot (Linux); 0 when unknown. Tells a live
    # owner from a later process that was given the same pid.
    pid_start: int
    lease: float


def app_folder(root: Path, namespace: str, app_id: str) -> str:
    return os.path.join(root, "ns-" + _segment(namespace), _segment(app_id))


def entry_path(root: Path, instance: Instance) -> str:
    name = f"{_segment(instance.host)}_{instance.internal_port}.json"
    return os.path.join(app_folder(root, instance.namespace, instance.app_id), name)


def write_entry(path: str, instance: Instance, lease: float) -> None:
    folder, name = os.path.split(path)
    os.makedirs(folder, exist_ok=True)
    document = {
        "appId": instance.app_id,
        "namespace": instance.namespace,
        "host": instance.host,
        "internalPort": instance.internal_port,
        "grpcPort": instance.grpc_port,
        "httpPort": instance.http_port,
        "pid": instance.pid,
        "pidStart": (process_start(instance.pid) or 0) if instance.pid > 0 else 0,
        "leaseSeconds": lease,
    }
    temporary = os.path.join(folder, f".{name}.{os.getpid()}{_TEMP_SUFFIX}")
    with open(temporary, "w", encoding="utf-8") as file:
        json.dump(document, file)
    os.replace(temporary, path)


def remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def discard(path: str) -> None:
    """Remove if possible: for clean-ups that must not fail the caller."""
    with contextlib.suppress(OSError):
        os.unlink(path)


def read_folder(folder: str) -> list[Entry]:
    """The entries in an app's folder, by file name; removes temporary files of dead writers."""
    entries: list[Entry] = []
    with os.scandir(folder) as items:
        for item in sorted(items, key=lambda item: item.name):
            if item.name.startswith("."):
                _remove_orphaned_temporary(item.path, item.name)
            elif item.name.endswith(".json"):
                entry = _read_entry(item.path)
                if entry is not None:
                    entries.append(entry)
    return entries


def is_live(entry: Entry, now: float) -> bool:
    """Its owner still runs (when it named a pid) and refreshed the file within its lease."""
    if entry.pid > 0 and not process_matches(entry.pid, entry.pid_start):
        return False
    try:
        refreshed = os.stat(entry.path).st_mtime
    except FileNotFoundError:
        return False
    return now - refreshed <= entry.lease


def process_start(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot; None when it does not run (a
    zombie does not run either); 0 when it runs but this system cannot tell since when."""
    if not _HAS_PROC:
        return 0 if _process_exists(pid) else None
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read()
    except FileNotFoundError:
        return None
    except OSError:
        return 0 if _process_exists(pid) else None
    # The command name (field 2) is in parentheses and may itself contain ") ".
    fields = stat[stat.rfind(b")") + 2 :].split()
    if len(fields) < 20 or fields[0] == b"Z":
        return None
    return int(fields[19])


def process_matches(pid: int, started: int) -> bool:
    """Process `pid` runs and, when both start times are known, is the one that started then."""
    actual = process_start(pid)
    if actual is None:
        return False
    return started == 0 or actual == 0 or actual == started


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _read_entry(path: str) -> Entry | None:
    try:
        with open(path, "rb") as file:
            document = json.load(file)
        address = Address(
            host=_text(document["host"]),
            internal_port=_number(document["internalPort"]),
            grpc_port=_number(document["grpcPort"]),
        )
        return Entry(
            path=path,
            address=address,
            pid=_number(document.get("pid", 0)),
            pid_start=_number(document.get("pidStart", 0)),
            lease=float(document["leaseSeconds"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None  # vanished meanwhile, or not an entry this version understands


def _remove_orphaned_temporary(path: str, name: str) -> None:
    if not name.endswith(_TEMP_SUFFIX):
        return
    writer = name[: -len(_TEMP_SUFFIX)].rpartition(".")[2]
    if writer.isdigit() and not _process_exists(int(writer)):
        discard(path)


def _segment(text: str) -> str:
    return quote(text, safe="-_").replace(".", "%2E")


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("expected text")
    return value


def _number(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("expected an integer")
    return value
