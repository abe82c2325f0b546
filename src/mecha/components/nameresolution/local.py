"""nameresolution.local: runtimes on one host find each other through files in the data folder.

The default resolver; it needs no configuration. Every runtime started with the same data
folder shares `<data folder>/registry`, holding one small JSON file per registered instance
(layout in `_local_files`). Registering writes the file atomically; unregistering and closing
remove it. While registered, the owner touches its files every third of the lease.

An entry is ignored, and removed by whichever runtime notices, when its process no longer runs
(so a runtime killed with SIGKILL disappears at the next liveness check) or when its file was
not touched within its lease (a hung process, or a process whose pid was reused).

Configuration (all optional):
  leaseSeconds  how long an entry stays valid without a heartbeat (default 10)
  cacheSeconds  how long the liveness of an app's entries, once checked, is trusted (default 1;
                0 checks on every resolve)

Resolving sits on the invocation path, so it touches the disk as little as possible: at most
one stat of the app's folder per call, and none while the last one is under 10 ms old and found
live instances. While the folder is unchanged (its modification time), the entries read earlier
are reused, and their liveness is checked again only once `cacheSeconds` has passed. A
registration or removal changes the folder's modification time, so new instances are seen within
10 ms (a change within the folder's mtime tick, within 50 ms); an app not found is looked for
again on every call. Measured on a 2-core machine
(2 instances, CPU per resolve): ~2.6 µs when cached (the stat is ~2.4 µs of it), ~40 µs when
liveness is checked again (once per `cacheSeconds`), ~100 µs when the folder is read again
(at most every 50 ms during the 2 s after it changed).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from mecha.blocks.nameresolution.errors import ResolverUnavailable
from mecha.blocks.nameresolution.models import Address, Instance
from mecha.components.base import ComponentContext
from mecha.components.nameresolution import _local_files as files
from mecha.components.nameresolution._settings import Settings

log: Final = logging.getLogger("mecha.components.nameresolution.local")

_COMPONENT: Final = "nameresolution.local"
DEFAULT_LEASE_SECONDS: Final = 10.0
DEFAULT_CACHE_SECONDS: Final = 1.0

# A folder listing is trusted while the folder's mtime stays only when it was read this long
# after the folder last changed. Modification times advance in ticks (a few ms on most file
# systems, up to 2 s on some), so a change made in the same tick as a read leaves the time as is.
_MTIME_SETTLE_NS: Final = 2_000_000_000
# Until then it is read again at most this often, so a busy caller does not read it every time.
_UNSETTLED_REUSE_SECONDS: Final = 0.05
# A listing with live instances is reused without a stat for this long: under load this saves
# the syscall on nearly every call, and a peer's change is seen this much later.
_RESTAT_SECONDS: Final = 0.01
# Folder paths remembered for this many apps (encoding a path costs more than the stat).
_FOLDERS_KEPT: Final = 4096


@dataclass(slots=True)
class _Listing:
    folder_mtime_ns: int
    # Read long enough after the folder's last change to be reused while the mtime stays.
    settled: bool
    read_at: float
    entries: list[files.Entry]
    live: list[Address]
    checked_at: float
    # When the folder's mtime was last read.
    stat_at: float


class LocalNameResolver:
    def __init__(self) -> None:
        self._root: Path | None = None
        self._lease = DEFAULT_LEASE_SECONDS
        self._cache_seconds = DEFAULT_CACHE_SECONDS
        self._registered: dict[str, Instance] = {}
        self._listings: dict[tuple[str, str], _Listing] = {}
        self._folders: dict[tuple[str, str], str] = {}
        self._heartbeat: asyncio.Task[None] | None = None

    # ---- lifecycle ---------------------------------------------------------------------------

    async def init(self, context: ComponentContext) -> None:
        settings = Settings(context.metadata, _COMPONENT)
        self._lease = settings.seconds("leaseSeconds", DEFAULT_LEASE_SECONDS)
        self._cache_seconds = settings.seconds(
            "cacheSeconds", DEFAULT_CACHE_SECONDS, allow_zero=True
        )
        root = context.data_dir / "registry"
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ResolverUnavailable(
                f"{_COMPONENT}: cannot create the registry folder {root}: {error.strerror}"
            ) from None
        self._root = root

    async def close(self) -> None:
        heartbeat, self._heartbeat = self._heartbeat, None
        if heartbeat is not None:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
        for path in self._registered:
            files.discard(path)
        self._registered.clear()
        self._listings.clear()
        self._folders.clear()
        self._root = None

    def features(self) -> tuple[str, ...]:
        return ()

    # ---- registration ------------------------------------------------------------------------

    async def register(self, instance: Instance) -> None:
        path = files.entry_path(self._registry(), instance)
        try:
            files.write_entry(path, instance, self._lease)
        except OSError as error:
            raise ResolverUnavailable(f"{_COMPONENT}: cannot write {path}: {error}") from None
        self._registered[path] = instance
        self._listings.pop((instance.namespace, instance.app_id), None)
        if self._heartbeat is None:
            self._heartbeat = asyncio.get_running_loop().create_task(self._beat())

    async def unregister(self, instance: Instance) -> None:
        path = files.entry_path(self._registry(), instance)
        self._registered.pop(path, None)
        try:
            files.remove(path)
        except OSError as error:
            raise ResolverUnavailable(f"{_COMPONENT}: cannot remove {path}: {error}") from None
        self._listings.pop((instance.namespace, instance.app_id), None)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._lease / 3)
            for path, instance in list(self._registered.items()):
                try:
                    os.utime(path)
                except FileNotFoundError:
                    # Removed by a peer that took this owner for dead (it was slow): announce again.
                    self._rewrite(path, instance)
                except OSError as error:
                    log.warning("cannot refresh the registry entry %s: %s", path, error)

    def _rewrite(self, path: str, instance: Instance) -> None:
        try:
            files.write_entry(path, instance, self._lease)
        except OSError as error:
            log.warning("cannot rewrite the registry entry %s: %s", path, error)

    # ---- resolution --------------------------------------------------------------------------

    async def resolve(self, app_id: str, namespace: str) -> list[Address]:
        return self.resolve_now(app_id, namespace)

    def resolve_now(self, app_id: str, namespace: str) -> list[Address]:
        # Synchronous on purpose: a stat, and rarely a few small reads of a local folder, cost
        # less than handing them to a thread.
        key = (namespace, app_id)
        root = self._registry()
        if not app_id:
            return []
        listing = self._listings.get(key)
        now = time.monotonic()
        if (
            listing is not None
            and listing.live
            and now - listing.stat_at < _RESTAT_SECONDS
            and now - listing.checked_at < self._cache_seconds
        ):
            return list(listing.live)
        folder = self._folders.get(key)
        if folder is None:
            if len(self._folders) >= _FOLDERS_KEPT:
                self._folders.clear()
            folder = self._folders[key] = files.app_folder(root, namespace, app_id)
        try:
            folder_mtime_ns = os.stat(folder).st_mtime_ns
        except FileNotFoundError:
            return []
        except OSError as error:
            raise ResolverUnavailable(f"{_COMPONENT}: cannot read {folder}: {error}") from None
        if (
            listing is None
            or listing.folder_mtime_ns != folder_mtime_ns
            or (not listing.settled and now - listing.read_at >= _UNSETTLED_REUSE_SECONDS)
        ):
            listing = self._read(key, folder, folder_mtime_ns, now)
        elif now - listing.checked_at >= self._cache_seconds:
            listing.live = self._live(listing.entries)
            listing.checked_at = now
        listing.stat_at = now
        return list(listing.live)

    def _read(self, key: tuple[str, str], folder: str, mtime_ns: int, now: float) -> _Listing:
        read_at_ns = time.time_ns()
        try:
            entries = files.read_folder(folder)
        except FileNotFoundError:
            entries = []
        except OSError as error:
            raise ResolverUnavailable(f"{_COMPONENT}: cannot read {folder}: {error}") from None
        settled = read_at_ns - mtime_ns >= _MTIME_SETTLE_NS
        listing = _Listing(mtime_ns, settled, now, entries, self._live(entries), now, now)
        self._listings[key] = listing
        return listing

    def _live(self, entries: list[files.Entry]) -> list[Address]:
        now = time.time()
        live: list[Address] = []
        for entry in entries:
            if files.is_live(entry, now):
                live.append(entry.address)
            elif entry.path not in self._registered:
                files.discard(entry.path)
        return live

    def _registry(self) -> Path:
        if self._root is None:
            raise ResolverUnavailable(f"{_COMPONENT}: the resolver is not initialised or closed")
        return self._root
