"""Bad conditions give clear answers: each is one StoreError subclass with one line that names
the problem (the directory, the file, the server, the user), never the password."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import tempfile
from pathlib import Path

import pytest

from rooms.store import (
    DataDirError,
    RoomRecord,
    StoreAuthError,
    StoreConfigError,
    StoreCorrupt,
    StoreError,
    StoreLocked,
    StoreUnavailable,
    StoreUnreachable,
    ensure_data_dir,
)
from rooms.store_postgres import PostgresStore
from rooms.store_sqlite import SqliteStore
from tests.harness import free_port
from tests.store.conftest import until
from tests.store.pg import PostgresServer


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text, repr(text)
    return text


async def start_fails(store, kind: type[StoreError]) -> str:
    with pytest.raises(kind) as info:
        await store.start()
    await store.close()
    return one_line(info.value)


# The data directory and the SQLite file -------------------------------------------------------


def _as_nobody(path: Path) -> tuple[str, str]:
    """Open a SqliteStore at ``path`` in a child process that runs as nobody (root bypasses
    permission bits): returns the error's class name and message."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop privileges, try, report, leave without cleanup
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            try:
                asyncio.run(SqliteStore(path).start())
                answer = ("None", "")
            except BaseException as exc:  # noqa: BLE001 - reported to the parent
                answer = (type(exc).__name__, str(exc))
            os.write(write, json.dumps(answer).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return tuple(json.loads(data))


def _not_writable(tmp: Path, path: Path) -> tuple[str, str]:
    """The error of opening a store at ``path`` whose directory (or its parent) ``tmp`` the
    process may not write."""
    if os.geteuid() == 0:
        tmp.chmod(0o755)  # nobody may enter, not write
        return _as_nobody(path)
    tmp.chmod(0o555)
    try:
        asyncio.run(SqliteStore(path).start())
    except StoreError as exc:
        return type(exc).__name__, str(exc)
    finally:
        tmp.chmod(0o755)
    return "None", ""


def test_a_data_directory_that_is_not_writable():
    tmp = Path(tempfile.mkdtemp(prefix="lb-store-"))
    try:
        kind, message = _not_writable(tmp, tmp / "livebridge.sqlite3")
        assert kind == "DataDirError"
        assert message == f"data directory {tmp} is not writable: permission denied"
        kind, message = _not_writable(tmp, tmp / "sub" / "livebridge.sqlite3")
        assert kind == "DataDirError"
        assert message == f"cannot create data directory {tmp / 'sub'}: permission denied"
    finally:
        tmp.chmod(0o700)
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def test_a_data_directory_that_is_a_file(tmp_path):
    (tmp_path / "data").write_text("not a directory")
    with pytest.raises(DataDirError, match="is not a directory"):
        ensure_data_dir(tmp_path / "data")
    with pytest.raises(DataDirError) as info:
        asyncio.run(SqliteStore(tmp_path / "data" / "x" / "livebridge.sqlite3").start())
    assert "a part of the path is not a directory" in one_line(info.value)


async def test_a_second_node_on_the_same_file_is_refused(tmp_path):
    path = tmp_path / "livebridge.sqlite3"
    first = SqliteStore(path)
    await first.start()
    try:
        message = await start_fails(SqliteStore(path), StoreLocked)
        assert message.startswith(f"SQLite file {path} is in use by another LiveBridge process "
                                  f"(pid {os.getpid()})")
    finally:
        await first.close()
    second = SqliteStore(path)  # the first has gone: the lock went with it
    await second.start()
    await second.close()


@pytest.mark.parametrize("existing", [False, True], ids=["new-file", "livebridge-file"])
async def test_a_file_locked_by_another_program(tmp_path, existing):
    path = tmp_path / "livebridge.sqlite3"
    if existing:
        store = SqliteStore(path)
        await store.start()
        await store.close()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE" if not existing else "BEGIN IMMEDIATE")
    holder.execute("CREATE TABLE IF NOT EXISTS other_program (x)")
    try:
        message = await start_fails(SqliteStore(path, busy_timeout=0.3), StoreLocked)
        assert message == (f"SQLite file {path} is locked by another program (waited 0.3 s); "
                           "stop it, or give LiveBridge its own --data-dir")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def test_a_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "livebridge.sqlite3"
    path.write_bytes(b"these are somebody's notes, not a database\n" * 200)
    message = await start_fails(SqliteStore(path), StoreCorrupt)
    assert message.startswith(f"SQLite file {path} is not a LiveBridge database or is damaged")
    assert message.endswith("restore it from a backup, or move it away to start empty")


async def test_a_damaged_database(tmp_path):
    path = tmp_path / "livebridge.sqlite3"
    store = SqliteStore(path)
    await store.start()
    await store.create_room(RoomRecord("r", "R"))
    await store.close()
    with open(path, "r+b") as f:  # the schema's page, past the 100-byte header
        f.seek(100)
        f.write(os.urandom(3900))
    message = await start_fails(SqliteStore(path), StoreCorrupt)
    assert "is not a LiveBridge database or is damaged" in message


# PostgreSQL ---------------------------------------------------------------------------------


async def test_an_unreachable_postgres_refusing_connections():
    port = free_port()
    url = f"postgresql://lb:secret-pw@127.0.0.1:{port}/livebridge"
    message = await start_fails(PostgresStore(url), StoreUnreachable)
    assert message == (f"cannot reach PostgreSQL at 127.0.0.1:{port}: connection refused (is "
                       "PostgreSQL running there, and is --database-url right?)")


async def test_an_unreachable_postgres_that_never_answers():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts at the kernel, never speaks
    port = listener.getsockname()[1]
    try:
        url = f"postgresql://lb:secret-pw@127.0.0.1:{port}/livebridge"
        message = await start_fails(PostgresStore(url, connect_timeout=1), StoreUnreachable)
        assert message == f"cannot reach PostgreSQL at 127.0.0.1:{port}: no answer within 1 s"
    finally:
        listener.close()


async def test_an_unknown_host():
    message = await start_fails(PostgresStore("postgresql://lb:pw@no-such-host.invalid:5432/db",
                                              connect_timeout=2), StoreUnreachable)
    assert message.startswith("cannot reach PostgreSQL at no-such-host.invalid:5432")


async def test_a_wrong_password(postgres_server):
    url = postgres_server.url(password="not-the-password")
    message = await start_fails(PostgresStore(url), StoreAuthError)
    assert message == (f"PostgreSQL at 127.0.0.1:{postgres_server.port} refused the password for "
                       "user 'postgres' (check the password in --database-url)")
    assert "not-the-password" not in message


async def test_an_unknown_user_and_an_unknown_database(postgres_server):
    message = await start_fails(PostgresStore(postgres_server.url(user="nobody_here")), StoreAuthError)
    assert "nobody_here" in message
    message = await start_fails(PostgresStore(postgres_server.url("no_such_db")), StoreConfigError)
    assert message == (f"PostgreSQL at 127.0.0.1:{postgres_server.port} has no database "
                       "'no_such_db' (create it with createdb, or fix --database-url)")


async def test_a_url_that_is_not_postgresql():
    message = await start_fails(PostgresStore("mysql://root:hunter2@db/x"), StoreConfigError)
    assert message == "--database-url must start with postgresql:// (got 'mysql://root:***@db/x')"


async def test_postgres_lost_while_running_refuses_then_recovers_by_itself():
    server = await asyncio.to_thread(lambda: PostgresServer().start())
    try:
        store = PostgresStore(server.url(), connect_timeout=1, pool_size=2)
        await store.start()
        await store.append("r", 1, "e", {"type": "message", "text": "before"})
        await asyncio.to_thread(server.stop, "immediate")
        # Never a false ack: the append and the reads fail, plainly.
        with pytest.raises(StoreUnavailable) as info:
            await store.append("r", 2, "e", {"type": "message", "text": "while down"})
        one_line(info.value)
        assert store.health()["status"] == "degraded"
        with pytest.raises(StoreUnavailable):
            await store.get_room("r")
        await asyncio.to_thread(server.start_again)

        async def works() -> bool:
            try:
                await store.append("r", 2, "e", {"type": "message", "text": "after"})
                return True
            except StoreUnavailable:
                return False

        ok = False
        for _ in range(100):  # the pool reconnects by itself; a deadline of ~10 s
            if await works():
                ok = True
                break
            await asyncio.sleep(0.1)
        assert ok, "the store did not recover after PostgreSQL came back"
        assert [e["text"] for e in (await store.page("r")).events] == ["before", "after"]
        await until(lambda: store.health()["status"] == "ok")
        await store.close()
    finally:
        await asyncio.to_thread(server.close)


def test_errors_name_one_kind_each():
    kinds = {DataDirError, StoreLocked, StoreCorrupt, StoreUnreachable, StoreAuthError,
             StoreConfigError, StoreUnavailable}
    assert len({k.code for k in kinds}) == len(kinds)
    assert all(issubclass(k, StoreError) for k in kinds)
    from rooms.engine import EngineUnavailable

    assert issubclass(StoreUnavailable, EngineUnavailable)  # the edge answers `unavailable`
