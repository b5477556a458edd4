"""The store from the command line: `livebridge serve` refusing a store it cannot use (one line,
exit 2, no traceback), and `livebridge db migrate`, `db delete-user` and `export`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from rooms.store_schema import LATEST
from rooms.store_sqlite import SqliteStore
from tests.harness import ROOT, ServerProcess, free_port

SECRET = "cli-store-secret-0123456789"


def livebridge(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chatserver.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def serve_fails(*args: str) -> str:
    """`livebridge serve` with ``args`` exits 2 with one line naming the problem."""
    done = livebridge("serve", "--port", str(free_port()), "--secret", SECRET, "--translation", "off", *args)
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.startswith("livebridge serve:")]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_serve_refuses_a_data_directory_that_is_a_file(tmp_path):
    (tmp_path / "data").write_text("not a directory")
    assert "is not a directory" in serve_fails("--data-dir", str(tmp_path / "data"))


def test_serve_refuses_a_store_file_that_is_not_a_database(tmp_path):
    (tmp_path / "livebridge.sqlite3").write_bytes(b"this is not SQLite" * 100)
    line = serve_fails("--data-dir", str(tmp_path))
    assert "livebridge.sqlite3" in line and "not" in line


def test_serve_refuses_a_store_file_another_node_holds(tmp_path, start_server):
    start_server("--data-dir", str(tmp_path))
    line = serve_fails("--data-dir", str(tmp_path))
    assert "livebridge.sqlite3" in line


def test_serve_refuses_an_unreachable_postgres_and_a_wrong_password(postgres_server):
    line = serve_fails("--database-url", f"postgresql://lb:pw@127.0.0.1:{free_port()}/lb")
    assert "127.0.0.1" in line and "pw" not in line.replace("postgresql", "")
    line = serve_fails("--database-url", postgres_server.url(password="wrong-password"))
    assert "password" in line and "wrong-password" not in line


def _fill(path) -> None:
    async def fill():
        store = SqliteStore(path, maintenance_interval=0)
        await store.start()
        ann = {"id": "u-ann", "name": "Ann"}
        bo = {"id": "u-bo", "name": "Bo"}
        await store.append("r", 1, "e1", {"type": "message", "id": "m1", "text": "hello", "author": ann})
        await store.append("r", 2, "e1", {"type": "message", "id": "m2", "text": "你好", "author": bo})
        await store.append("r", 3, "e1", {"type": "translation", "message_id": "m1", "message_offset": 1,
                                          "lang": "zh", "text": "你好"})
        await store.append("r", 4, "e1", {"type": "translation", "message_id": "m2", "message_offset": 2,
                                          "lang": "en", "text": "hi"})
        await store.close()

    asyncio.run(fill())


def test_migrate_export_and_delete_a_user(tmp_path):
    done = livebridge("db", "migrate", "--data-dir", str(tmp_path))
    assert done.returncode == 0 and f"version {LATEST}" in done.stdout, done
    _fill(tmp_path / "livebridge.sqlite3")
    out = tmp_path / "r.jsonl"
    done = livebridge("export", "r", "--data-dir", str(tmp_path), "--output", str(out))
    assert done.returncode == 0, done
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(m["offset"], m["text"], m["translations"]) for m in lines] == [
        (1, "hello", {"zh": "你好"}), (2, "你好", {"en": "hi"})]
    done = livebridge("db", "delete-user", "u-ann", "--data-dir", str(tmp_path))
    assert done.returncode == 0 and "deleted 1 messages" in done.stdout, done
    done = livebridge("export", "r", "--data-dir", str(tmp_path))
    assert [json.loads(line)["author"]["id"] for line in done.stdout.splitlines()] == ["u-bo"]


def test_commands_on_a_store_a_running_node_holds_say_so(tmp_path, start_server):
    start_server("--data-dir", str(tmp_path))
    done = livebridge("export", "r", "--data-dir", str(tmp_path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("livebridge export:") and "livebridge.sqlite3" in done.stderr


@pytest.fixture
def start_server():
    started: list[ServerProcess] = []

    def start(*args: str) -> ServerProcess:
        server = ServerProcess(*args, "--secret", SECRET).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
