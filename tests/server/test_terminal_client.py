"""`livebridge chat`: two terminal clients talk through a real server."""

import asyncio
import subprocess
import sys

from clients.client import LiveBridgeClient
from tests.harness import ROOT


async def read_until(stream, needle, timeout=15):
    seen = []

    async def scan():
        while True:
            line = await stream.readline()
            if not line:
                raise AssertionError(f"EOF before {needle!r}; saw {seen}")
            seen.append(line.decode())
            if needle in seen[-1]:
                return seen[-1]

    return await asyncio.wait_for(scan(), timeout)


async def test_terminal_client_sends_and_prints(server):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chatserver.cli", "chat", "tty", "--name", "Term", "--lang", "en",
        "--url", server.url, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    other = LiveBridgeClient(server.url, name="李", lang="zh")
    await other.connect()
    try:
        await read_until(proc.stdout, "joined tty")
        await other.join("tty")
        await read_until(proc.stdout, "李 (zh) joined")
        proc.stdin.write("hello from a terminal\n".encode())
        await proc.stdin.drain()
        got = await other.wait_for(lambda e: e["type"] == "message")
        assert got["text"] == "hello from a terminal" and got["author"]["name"] == "Term"
        await other.send("tty", "你好 \x1b[2Jterminal")
        line = await read_until(proc.stdout, "李: ")
        assert "你好" in line and "\x1b" not in line  # control characters never reach the terminal
        proc.stdin.write(b"/quit\n")
        await proc.stdin.drain()
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
        await other.close()


async def test_terminal_client_gives_up_on_an_unreachable_server_with_a_message():
    from tests.harness import free_port

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chatserver.cli", "chat", "tty", "--name", "Term", "--url", url,
        "--connect-timeout", "1", cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    # Bounded by the default 5 s too; the wait only keeps a regression from hanging the suite.
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    assert f"cannot connect to {url} within 1 s" in err.decode()
    assert "Traceback" not in err.decode()
