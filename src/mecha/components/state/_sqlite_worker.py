"""The thread that owns a SQLite connection, and runs the event loop's jobs on it.

Callers hand in a function of the connection; it runs on the thread and its result (or
exception) comes back as an awaited value. Jobs that queue up while the thread is busy run as
one batch: writes share one `BEGIN IMMEDIATE ... COMMIT`, each in its own savepoint so a job
that fails undoes only itself. A burst of concurrent writes thus costs one commit (one fsync)
instead of one each, and a caller hears of success only once its write is committed.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mecha.blocks.state.errors import StoreUnavailable
from mecha.components.state._sqlite_settings import SQLiteSettings

log = logging.getLogger("mecha.components.state.sqlite")

T = TypeVar("T")
_MAX_BATCH = 256
_PROGRESS_STEPS = 1000  # SQLite VM steps between deadline checks
# Errors that say the database cannot be used right now, rather than that the request was bad.
_UNAVAILABLE = (
    "database is locked",
    "database table is locked",
    "unable to open",
    "disk i/o error",
    "interrupted",
    "database or disk is full",
)


@dataclass(slots=True)
class _Job:
    function: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]
    deadline: float  # time.monotonic()
    writes: bool
    savepoint: bool
    outcome: tuple[bool, Any] = field(default=(False, None))  # (succeeded, result or error)


class SQLiteWorker:
    def __init__(self, settings: SQLiteSettings) -> None:
        self._settings = settings
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._deadline = float("inf")  # of the job running now; read by the progress handler
        self._closing = False

    async def open(self) -> None:
        """Start the thread and connect; raises what connecting raised."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        opened: asyncio.Future[None] = loop.create_future()
        self._stopped = loop.create_future()
        self._thread = threading.Thread(
            target=self._main, args=(opened,), name="mecha-sqlite", daemon=True
        )
        self._thread.start()
        try:
            await opened
        except BaseException:
            self._closing = True  # the thread has ended: nothing would ever run a job
            raise

    async def run(
        self,
        function: Callable[[sqlite3.Connection], T],
        *,
        writes: bool = False,
        savepoint: bool = True,
    ) -> T:
        """Run `function(connection)` on the database thread; `writes` ones are committed.

        A write job that fails is undone by rolling back to a savepoint taken before it. A job
        of a single statement may pass `savepoint=False`: SQLite undoes a failed statement alone.
        """
        if self._loop is None or self._closing:
            raise StoreUnavailable(f"{self._settings.described} is closed")
        future: asyncio.Future[T] = self._loop.create_future()
        deadline = time.monotonic() + self._settings.timeout
        self._jobs.put(_Job(function, future, deadline, writes, savepoint))
        return await future

    async def close(self) -> None:
        """Finish the queued jobs, close the connection and end the thread."""
        if self._stopped is None or self._thread is None:
            return
        if not self._closing:
            self._closing = True  # no job may queue up behind the stop signal
            self._jobs.put(None)
        await asyncio.shield(self._stopped)

    # ---- on the database thread --------------------------------------------------------------

    def _main(self, opened: asyncio.Future[None]) -> None:
        try:
            connection = self._connect()
        except BaseException as error:
            self._post(_settle_one, opened, _unavailable(error, self._settings.described))
            self._post(_settle_one, self._stopped, None)
            return
        self._post(_settle_one, opened, None)
        try:
            stop = False
            while not stop:
                batch, stop = self._next_batch()
                if batch:
                    self._execute_safely(connection, batch)
                    self._post(_settle_batch, batch)
        finally:
            try:
                connection.close()
            finally:
                self._post(_settle_one, self._stopped, None)

    def _connect(self) -> sqlite3.Connection:
        settings = self._settings
        if settings.folder is not None and not settings.read_only:
            settings.folder.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            settings.database,
            timeout=settings.busy_timeout,
            isolation_level=None,  # we issue BEGIN and COMMIT ourselves
            uri=settings.database.startswith("file:"),
        )
        try:
            if settings.in_memory:
                connection.execute("PRAGMA journal_mode = MEMORY")
            elif not settings.read_only:  # a read-only database keeps the mode it has
                journal = "DELETE" if settings.disable_wal else "WAL"
                _set_journal_mode(connection, journal, patience=settings.busy_timeout)
            for name, value in settings.pragmas:
                connection.execute(f"PRAGMA {name} = {value}")
            connection.set_progress_handler(self._late, _PROGRESS_STEPS)
        except BaseException:
            connection.close()
            raise
        return connection

    def _late(self) -> int:
        """Progress handler: a non-zero answer interrupts the statement that overran its time."""
        return 1 if time.monotonic() > self._deadline else 0

    def _next_batch(self) -> tuple[list[_Job], bool]:
        job = self._jobs.get()
        if job is None:
            return [], True
        batch = [job]
        while len(batch) < _MAX_BATCH:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return batch, True
            batch.append(job)
        return batch, False

    def _execute_safely(self, connection: sqlite3.Connection, batch: list[_Job]) -> None:
        """Run a batch; whatever goes wrong becomes the jobs' outcome, never the thread's end."""
        try:
            self._execute(connection, batch)
        except BaseException as error:
            log.exception("%s: a batch of operations failed", self._settings.described)
            if connection.in_transaction:
                connection.rollback()
            _fail(batch, _unavailable(error, self._settings.described))

    def _execute(self, connection: sqlite3.Connection, batch: list[_Job]) -> None:
        now = time.monotonic()
        runnable = []
        for job in batch:
            if job.future.cancelled():
                continue
            if now > job.deadline:
                job.outcome = (False, self._timed_out())
            else:
                runnable.append(job)
        if not any(job.writes for job in runnable):
            self._read(connection, runnable)
            return
        if not self._begin(connection, runnable):
            return
        committed_later: list[_Job] = []
        for position, job in enumerate(runnable):
            if job.savepoint:
                connection.execute("SAVEPOINT job")
            self._run(connection, job)
            if not connection.in_transaction:
                # SQLite rolled back the whole transaction (I/O error, interrupt...): the jobs
                # before this one are lost too. Start again for the rest.
                _fail(
                    [*committed_later, job], job.outcome[1] if not job.outcome[0] else self._lost()
                )
                committed_later.clear()
                if not self._begin(connection, runnable[position + 1 :]):
                    return
                continue
            if job.savepoint:
                if not job.outcome[0]:
                    connection.execute("ROLLBACK TO job")
                connection.execute("RELEASE job")
            committed_later.append(job)
        try:
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            if connection.in_transaction:
                connection.rollback()
            _fail(committed_later, _unavailable(error, self._settings.described))

    def _begin(self, connection: sqlite3.Connection, jobs: list[_Job]) -> bool:
        """Start the write transaction; when that fails (locked), so do the jobs."""
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            _fail(jobs, self._translate(error))
            return False
        return True

    def _read(self, connection: sqlite3.Connection, jobs: list[_Job]) -> None:
        """Run read-only jobs, several in one read transaction (one snapshot, fewer locks)."""
        if len(jobs) == 1:
            self._run(connection, jobs[0])
            return
        connection.execute("BEGIN")
        try:
            for job in jobs:
                self._run(connection, job)
        finally:
            if connection.in_transaction:
                connection.execute("COMMIT")

    def _lost(self) -> StoreUnavailable:
        return StoreUnavailable(f"{self._settings.described}: the transaction was rolled back")

    def _run(self, connection: sqlite3.Connection, job: _Job) -> None:
        self._deadline = job.deadline
        try:
            job.outcome = (True, job.function(connection))
        except sqlite3.Error as error:
            late = time.monotonic() > job.deadline
            job.outcome = (False, self._timed_out() if late else self._translate(error))
        except BaseException as error:
            job.outcome = (False, error)
        finally:
            self._deadline = float("inf")

    def _timed_out(self) -> StoreUnavailable:
        timeout = self._settings.timeout
        return StoreUnavailable(f"{self._settings.described}: no answer within {timeout:g} s")

    def _translate(self, error: sqlite3.Error) -> BaseException:
        if any(word in str(error).lower() for word in _UNAVAILABLE):
            return _unavailable(error, self._settings.described)
        return error

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        """Call `callback(*args)` on the event loop, unless the loop is already gone."""
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            log.debug("event loop closed before a sqlite result could be delivered")


def _unavailable(error: BaseException, described: str) -> BaseException:
    if isinstance(error, sqlite3.Error | OSError):
        return StoreUnavailable(f"{described}: {error}")
    return error


def _fail(jobs: list[_Job], error: BaseException) -> None:
    """Make `error` the outcome of the jobs that succeeded or never ran; failed ones keep theirs."""
    for job in jobs:
        if job.outcome[0] or job.outcome[1] is None:
            job.outcome = (False, error)


def _settle_one(future: asyncio.Future[Any] | None, error: BaseException | None) -> None:
    if future is None or future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


def _settle_batch(batch: list[_Job]) -> None:
    for job in batch:
        if job.future.done():
            continue
        succeeded, value = job.outcome
        if succeeded:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)


def _set_journal_mode(connection: sqlite3.Connection, mode: str, *, patience: float) -> None:
    """Switch the journal mode, waiting out other connections doing the same.

    SQLite answers a journal-mode switch that meets another connection's lock with "database
    is locked" at once, without its busy handler: two runtimes opening one new database
    together would fail. So the wait the busy timeout promises is done here.
    """
    deadline = time.monotonic() + patience
    pause = 0.005
    while True:
        try:
            connection.execute(f"PRAGMA journal_mode = {mode}")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
