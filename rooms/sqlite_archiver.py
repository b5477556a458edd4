"""The SQLite archive's writer, in a process of its own.

Why a process: a writer *thread* shares the GIL with the event loop, and takes it back after
every SQLite call; under a busy fan-out (a socket write per member, each releasing the GIL)
each taking makes the loop wait. In the bigroom benchmark that halved the deliveries a node
could make. A child process commits the group-committed batches on its own connection
(WAL, ``synchronous`` as the store's), and the event loop only writes one line per batch to a
pipe and reads one line back: no thread of this process touches SQLite for the archive.

Protocol (the child's stdin and stdout, per batch): the parent writes one line, a JSON array
of the records' columns ``[room, offset, epoch, kind, author, ref]``, then each record's event
JSON as it is, one line each (JSON text holds no raw newline; quoting it inside the array cost
both processes an escape and an unescape of every event); the child commits them in one
transaction (:func:`rooms.store_sql.op_append_batch`, one statement run per row) and answers
``ok`` or ``err <one line>``. The child ignores SIGINT and SIGTERM (the parent decides when it
stops) and exits at the end of its input: when the parent closes the pipe, or dies.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys

from rooms.store import ArchiveRecord, StoreLimits, StoreUnavailable, compact_json_encoder

__all__ = ["ArchiverProcess"]

READY = b"ready\n"


class ArchiverProcess:
    """The parent's side: start the child, send it batches (one at a time), stop it."""

    def __init__(self, path: str, *, busy_timeout: float, synchronous: str, archive_per_room: int,
                 start_timeout: float = 30.0) -> None:
        self.args = [str(path), repr(float(busy_timeout)), synchronous, str(int(archive_per_room))]
        self.start_timeout = start_timeout
        self._proc: asyncio.subprocess.Process | None = None
        self.restarts = 0

    async def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rooms.sqlite_archiver", *self.args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env)
        try:
            line = await asyncio.wait_for(self._proc.stdout.readline(), self.start_timeout)
        except asyncio.TimeoutError:
            line = b"err the archive writer did not start in time"
        if line != READY:
            await self.close()
            raise StoreUnavailable(_reason(line, "the archive writer process did not start"))

    async def write(self, records: list[ArchiveRecord]) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            self.restarts += 1
            await self.start()  # it died (killed, out of memory): a new one for this batch
            proc = self._proc
        try:
            proc.stdin.write(_batch_bytes(records))
            await proc.stdin.drain()
            line = await proc.stdout.readline()
        except (BrokenPipeError, ConnectionResetError):
            line = b""
        if line != b"ok\n":
            raise StoreUnavailable(_reason(line, "the archive writer process ended"))

    async def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()


def _batch_bytes(records: list[ArchiveRecord]) -> bytes:
    columns = _encode_columns([[r.room, r.offset, r.epoch, r.kind, r.author, r.ref] for r in records])
    # surrogatepass: an event JSON with a lone surrogate was escaped by the store already;
    # one in a room name or epoch (never, they are validated) would still pass.
    return "\n".join([columns, *(r.event_json for r in records), ""]).encode("utf-8", "surrogatepass")


# A batch's columns as compact ASCII JSON (the C encoder made once: JSONEncoder.encode builds
# one per call, a batch's largest cost in the node here).
_encode_columns = compact_json_encoder(ascii_only=True, allow_nan=True)


def _read_batch(header: bytes, stdin) -> list[ArchiveRecord]:
    rows = json.loads(header)
    events = [stdin.readline() for _ in rows]
    if events and not events[-1].endswith(b"\n"):
        raise EOFError("the batch ended early")
    return [ArchiveRecord(*row, event.decode("utf-8", "surrogatepass")[:-1]) for row, event in zip(rows, events)]


def _reason(line: bytes, default: str) -> str:
    text = line.decode(errors="replace").strip()
    return text[4:] if text.startswith("err ") else default


def _serve(path: str, busy_timeout: float, synchronous: str, archive_per_room: int) -> int:
    from rooms.store_sql import SQLITE, drive_sync, op_append_batch

    out = sys.stdout.buffer
    limits = StoreLimits(archive_per_room=archive_per_room)
    try:
        conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
    except sqlite3.Error as exc:
        out.write(f"err SQLite file {path}: {exc}\n".encode())
        out.flush()
        return 1
    out.write(READY)
    out.flush()
    stdin = sys.stdin.buffer
    for line in stdin:
        try:
            records = _read_batch(line, stdin)
        except EOFError:
            break  # the parent went away mid-batch: nothing of it is committed
        except Exception as exc:  # noqa: BLE001 - out of step with the parent: it starts a new writer
            out.write(("err archive batch unreadable: " + " ".join(str(exc).split())[:500] + "\n").encode())
            out.flush()
            conn.close()
            return 1
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                drive_sync(conn, op_append_batch(SQLITE, limits, records, one_statement=True))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            answer = b"ok\n"
        except Exception as exc:  # noqa: BLE001 - every failure fails its batch, not the writer
            answer = ("err archive commit failed: " + " ".join(str(exc).split())[:500] + "\n").encode()
        out.write(answer)
        out.flush()
    conn.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    path, busy, synchronous, per_room = (argv if argv is not None else sys.argv[1:])
    return _serve(path, float(busy), synchronous, int(per_room))


if __name__ == "__main__":
    sys.exit(main())

