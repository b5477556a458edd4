"""The durable store in one SQLite file: the embedded default (``livebridge serve`` with no
flags keeps its data in the data directory).

- Never on the event loop: the store has two threads, each with its own connection: one
  writer (every write but the archive's, in order) and one reader; the archive's group
  commits are made by a child process on a connection of its own
  (:mod:`rooms.sqlite_archiver`: a thread would take the GIL from a busy event loop after
  every SQLite call). WAL mode lets readers read while a writer writes; the two writers
  take SQLite's write lock in turn.
- Durable: ``synchronous=FULL`` (each commit, and so each group-committed archive batch, is
  fsynced: an acked message survives SIGKILL and power loss); group commit keeps that to
  one fsync per batch.
- One process per file: the store holds an exclusive ``flock`` on ``<file>.lock`` while open,
  so a second node pointed at the same data directory is refused at start with a clear
  :class:`StoreLocked` (SQLite's own locks would let both run and both give out offsets).
- Errors: an unwritable directory, a file locked by another program, or a file that is not a
  database (or is damaged) each raise their :class:`rooms.store.StoreError` at :meth:`start`
  with a message naming the file; while running, failures are :class:`StoreUnavailable`.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rooms.store import (
    DataDirError,
    StoreCorrupt,
    StoreError,
    StoreLocked,
    StoreUnavailable,
    ensure_data_dir,
)
from rooms.sqlite_archiver import ArchiverProcess
from rooms.store_sql import SQLITE, Op, SqlStore
from rooms.store_sql import drive_sync as _drive_sync

FILE_NAME = "livebridge.sqlite3"


class SqliteStore(SqlStore):
    """The store in the SQLite file ``path`` (its directory is created if missing)."""

    dialect = SQLITE

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 5.0,
                 synchronous: str = "FULL", exclusive: bool = True, archive_process: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.archive_process = archive_process
        self._archiver: ArchiverProcess | None = None
        self.path = Path(path).expanduser()
        self.busy_timeout = busy_timeout
        self.synchronous = synchronous
        self.exclusive = exclusive
        self._writer: ThreadPoolExecutor | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._started = False

    # Lifetime ------------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="lb-sqlite-writer")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="lb-sqlite-reader")
        try:
            await loop.run_in_executor(self._writer, self._open_writer)
            await self._migrate()
            await loop.run_in_executor(self._reader, self._open_reader)
            if self.archive_process:
                archiver = ArchiverProcess(str(self.path), busy_timeout=self.busy_timeout,
                                           synchronous=self.synchronous,
                                           archive_per_room=self.limits.archive_per_room)
                await archiver.start()
                self._archiver = archiver
        except BaseException:
            await self._close_threads()
            raise
        self._started = True
        self._start_background()

    def _open_writer(self) -> None:
        ensure_data_dir(self.path.parent)
        if self.exclusive:
            self._take_lock()
        conn = self._connect()
        self._wconn = conn
        try:
            # Reading the schema proves the file is a database; WAL needs the write lock the
            # first time; BEGIN IMMEDIATE proves nobody else holds it for long.
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"SQLite file {self.path}: cannot use WAL mode (got {mode!r})")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise self._translate(exc) from None

    def _open_reader(self) -> None:
        try:
            self._rconn = self._connect()
            self._rconn.execute("PRAGMA query_only=ON")
        except sqlite3.Error as exc:
            raise self._translate(exc) from None

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None,
                                   check_same_thread=True)
        except sqlite3.Error as exc:
            raise self._translate(exc) from None
        conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        return conn

    def _take_lock(self) -> None:
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise DataDirError(f"cannot create {lock_path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StoreLocked(f"SQLite file {self.path} is in use by another LiveBridge process "
                              f"(pid {holder}); give each node its own --data-dir, or use "
                              "--database-url postgresql://... to share one store") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    async def close(self) -> None:
        if self._started:
            await self._stop_background()  # the archive's last batches are committed first
            self._started = False
        await self._close_threads()

    async def _write_batch(self, records) -> None:
        if self._archiver is None:
            await super()._write_batch(records)
            return
        await self._archiver.write(records)

    async def _close_threads(self) -> None:
        loop = asyncio.get_running_loop()
        if self._archiver is not None:
            archiver, self._archiver = self._archiver, None
            await archiver.close()
        for executor, attr in ((self._reader, "_rconn"), (self._writer, "_wconn")):
            if executor is None:
                continue
            if getattr(self, attr) is not None:
                await loop.run_in_executor(executor, self._close_conn, attr)
            executor.shutdown(wait=True)
        self._reader = self._writer = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def _close_conn(self, attr: str) -> None:
        conn = getattr(self, attr)
        setattr(self, attr, None)
        try:
            conn.close()
        except sqlite3.Error:
            pass

    def health(self) -> dict[str, Any]:
        out = self._health("sqlite", "ok" if self._started else "degraded")
        out["path"] = str(self.path)
        return out

    # Running operations --------------------------------------------------------------------

    async def _run(self, op: Op, *, write: bool) -> Any:
        executor = self._writer if write else self._reader
        if executor is None or (not write and self._rconn is None):
            if not write and self._writer is not None and self._rconn is None:
                executor = self._writer  # during start, before the reader opens
            else:
                raise StoreUnavailable("the store is not open")
        return await asyncio.get_running_loop().run_in_executor(executor, self._drive, op, write)

    def _drive(self, op: Op, write: bool) -> Any:
        conn = self._wconn if write or self._rconn is None else self._rconn
        if conn is None:
            raise StoreUnavailable("the store is not open")
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                result = _drive_sync(conn, op)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result
        except sqlite3.Error as exc:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            error = self._translate(exc)
            if self._started and not isinstance(error, StoreUnavailable):
                error = StoreUnavailable(str(error))
            raise error from None

    def _translate(self, exc: sqlite3.Error) -> StoreError:
        text = str(exc)
        lowered = text.lower()
        where = f"SQLite file {self.path}"
        if "locked" in lowered or "busy" in lowered:
            return StoreLocked(f"{where} is locked by another program (waited "
                               f"{self.busy_timeout:g} s); stop it, or give LiveBridge its own "
                               "--data-dir")
        if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
            return StoreCorrupt(f"{where} is not a LiveBridge database or is damaged ({text}); "
                                "restore it from a backup, or move it away to start empty")
        if "unable to open" in lowered or "readonly" in lowered or "read-only" in lowered:
            return DataDirError(f"cannot write {where}: {text} (check the data directory's "
                                "permissions and free space)")
        if "disk i/o" in lowered or "full" in lowered:
            return StoreUnavailable(f"{where}: {text}")
        return StoreError(f"{where}: {text}")
