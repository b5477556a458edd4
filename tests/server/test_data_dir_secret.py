"""Tokens survive a restart: without --secret the node makes a secret once and keeps it in the
data directory (mode 0600); --secret still wins; a bad data directory is a clear error."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import threading

import pytest
import websockets

from chatserver import config
from chatserver.secret_file import FILE_NAME, SecretFileError, load_or_create, token_secret
from tests.harness import ROOT, ServerProcess


def test_the_secret_is_made_once_with_mode_0600_and_read_back(tmp_path):
    data = tmp_path / "data"
    first = load_or_create(data)
    path = data / FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert len(first) >= 32 and load_or_create(data) == first
    assert [p.name for p in data.iterdir()] == [FILE_NAME]  # no temporary file left behind


def test_a_configured_secret_wins_and_leaves_the_directory_alone(tmp_path):
    assert token_secret("s" * 32, tmp_path / "data") == "s" * 32
    assert not (tmp_path / "data").exists()
    assert token_secret(None, tmp_path / "data") == load_or_create(tmp_path / "data")


def test_nodes_starting_together_agree_on_one_secret(tmp_path):
    results, barrier = [], threading.Barrier(8)

    def start():
        barrier.wait()
        try:
            results.append(load_or_create(tmp_path))
        except Exception as exc:  # noqa: BLE001 - the assertion below shows it
            results.append(exc)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and len(set(results)) == 1, results


def test_a_secret_others_can_read_is_made_private(tmp_path, caplog):
    load_or_create(tmp_path)
    (tmp_path / FILE_NAME).chmod(0o644)
    load_or_create(tmp_path)
    assert stat.S_IMODE((tmp_path / FILE_NAME).stat().st_mode) == 0o600
    assert "could be read by others" in caplog.text


def test_an_empty_secret_file_is_a_clear_error(tmp_path):
    (tmp_path / FILE_NAME).write_text("\n")
    (tmp_path / FILE_NAME).chmod(0o600)
    with pytest.raises(SecretFileError, match=r"is empty or shorter than 16 characters: remove it"):
        load_or_create(tmp_path)


def test_a_data_directory_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "data").write_text("x")
    with pytest.raises(SecretFileError) as info:
        load_or_create(tmp_path / "data")
    assert str(info.value) == (f"data directory {tmp_path / 'data'} is not a directory "
                               "(set --data-dir or LIVEBRIDGE_DATA_DIR, or give --secret)")
    assert isinstance(info.value, config.SettingsError)  # printed by the CLI, exit status 2


def test_data_dir_and_database_url_are_settings(tmp_path):
    settings = config.load(None, env={"LIVEBRIDGE_DATA_DIR": str(tmp_path),
                                      "LIVEBRIDGE_DATABASE_URL": "postgresql://u:pw@db/lb"})
    assert settings.data_dir == str(tmp_path) and settings.database_url == "postgresql://u:pw@db/lb"
    assert settings.redacted()["database_url"] == "***"
    default = config.load(None, env={})
    assert default.database_url is None
    assert default.data_dir.endswith(os.path.join("", "livebridge"))


def test_serve_with_an_unusable_data_directory_says_so_and_exits_2(tmp_path):
    (tmp_path / "data").write_text("x")
    result = subprocess.run(
        [sys.executable, "-m", "chatserver.cli", "serve", "--port", "0", "--translation", "off"],
        cwd=ROOT, env={**os.environ, "LIVEBRIDGE_DATA_DIR": str(tmp_path / "data")},
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"livebridge serve: data directory {tmp_path / 'data'} is not a directory "
        "(set --data-dir or LIVEBRIDGE_DATA_DIR, or give --secret)")
    assert "Traceback" not in result.stderr


async def _welcome(server: ServerProcess, token: str) -> dict:
    async with websockets.connect(f"{server.ws_url}?token={token}") as ws:
        return json.loads(await asyncio.wait_for(ws.recv(), 10))


async def test_a_token_issued_before_two_restarts_still_works(tmp_path):
    data = tmp_path / "data"
    server = ServerProcess(env={"LIVEBRIDGE_DATA_DIR": str(data), "LIVEBRIDGE_SECRET": ""})
    try:
        await asyncio.to_thread(server.start)
        token = server.token("Host")
        status, room = server.post("/api/rooms", {"name": "show", "title": "Show"}, token=token)
        assert status == 201, room
        welcome = await _welcome(server, token)
        assert welcome["type"] == "welcome"
        user = welcome["user"]
        mode = stat.S_IMODE((data / FILE_NAME).stat().st_mode)
        assert mode == 0o600
        for _ in range(2):
            await asyncio.to_thread(server.stop)
            await asyncio.to_thread(server.start)
            again = await _welcome(server, token)  # no 4401: the same secret signs and checks
            assert again["type"] == "welcome" and again["user"] == user
        assert server.post("/api/rooms", {"name": "show2"}, token=token)[0] == 201
    finally:
        await asyncio.to_thread(server.stop)


async def test_secret_wins_over_the_data_directory(tmp_path):
    from chatserver.auth import TokenIssuer

    data = tmp_path / "data"
    from_file = TokenIssuer(load_or_create(data), ttl=600).issue(name="Bob", lang="en", kind="member")[0]
    member = TokenIssuer("x" * 32, ttl=600).issue(name="Ann", lang="en", kind="member")[0]
    server = ServerProcess("--secret", "x" * 32, env={"LIVEBRIDGE_DATA_DIR": str(data)})
    try:
        await asyncio.to_thread(server.start)
        assert (await _welcome(server, member))["type"] == "welcome"
        refused = await _welcome(server, from_file)
        assert (refused["type"], refused["code"]) == ("error", "unauthorized")
    finally:
        await asyncio.to_thread(server.stop)
