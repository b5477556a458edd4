"""The example bot of docs/client.md (clients/examples/bot.py), run as a bot author runs it: a
process with only the client's distribution installed (the fresh venv of ``installed_client``),
against a real default-mode node that is restarted under it, stopped with SIGINT."""

from __future__ import annotations

import asyncio
import signal
import subprocess

from clients.livebridge_client import LiveBridgeClient
from tests.harness import ROOT

BOT = ROOT / "clients" / "examples" / "bot.py"


async def next_line(stream, needle: str, timeout: float = 20.0) -> str:
    async def scan() -> str:
        while True:
            line = (await stream.readline()).decode(errors="replace")
            if not line:
                raise AssertionError(f"the bot's output ended before {needle!r}")
            if needle in line:
                return line
    return await asyncio.wait_for(scan(), timeout)


async def bot_says(client: LiveBridgeClient, needle: str, timeout: float = 10.0) -> dict:
    return await client.wait_for(lambda e: e["type"] == "message" and e["author"]["name"] == "Bot"
                                 and needle in e["text"], timeout=timeout)


async def test_the_example_bot_greets_answers_survives_a_restart_and_stops_on_sigint(installed_client,
                                                                                      start_server):
    server = start_server()
    bot = await asyncio.create_subprocess_exec(
        str(installed_client.python), "-I", str(BOT), "--url", server.url, "--room", "bots", "--name", "Bot",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=installed_client.venv)
    li = LiveBridgeClient(server.url, name="李雷", lang="zh", backoff_min=0.05, backoff_max=0.3)
    try:
        await next_line(bot.stdout, "bot ready in bots")
        await li.connect()
        await li.join("bots")
        greeting = await bot_says(li, "李雷")
        assert greeting["text"].startswith("欢迎")                  # in the joiner's language

        await li.send("bots", "!时间")
        assert "UTC" in (await bot_says(li, "现在是"))["text"]
        # The bot never answers itself: echoing "!time" must not make it tell the time.
        await li.send("bots", "!echo !time")
        await bot_says(li, "!time")
        await li.send("bots", "!echo 你好 world")
        await bot_says(li, "你好 world")
        said = [e["text"] for e in li._buffer.items if e["type"] == "message" and e["author"]["name"] == "Bot"]
        assert not [t for t in said if "UTC" in t]

        await asyncio.to_thread(server.stop)                         # a default server: new secret
        await asyncio.to_thread(server.start)
        await li.wait_for("resumed", timeout=20)
        await li.send("bots", "!echo still here")
        await bot_says(li, "still here", timeout=20)                 # the bot got a new token

        bot.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(bot.wait(), 10) == 0
        errors = (await bot.stderr.read()).decode(errors="replace")
        assert "Traceback" not in errors and "stopped" in errors, errors
    finally:
        if bot.returncode is None:
            bot.kill()
            await bot.wait()
        await li.close()
