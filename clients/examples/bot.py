#!/usr/bin/env python3
"""A bilingual LiveBridge bot: greets whoever joins in their language (English or 中文) and
answers commands in the asker's language.

    !time  / !时间        the time (UTC)
    !echo TEXT / !回声 TEXT  says TEXT back
    !help  / !帮助        the commands

It survives server restarts (a new guest token when the old one is refused), resumes its rooms
without answering a command twice, never answers itself, waits out rate limits, and stops
cleanly on Ctrl-C (SIGINT) or SIGTERM.

    pip install ./clients          # the client alone: websockets + msgpack
    python clients/examples/bot.py --url http://127.0.0.1:8000 --room lobby

With a server that runs with --secret, give a member token: --token "$(livebridge token ...)".
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time

from livebridge_client import LiveBridgeClient, LiveBridgeError

log = logging.getLogger("bot")

TEXTS = {
    "greet": {"en": "Welcome, {name}! Type !help for what I can do.",
              "zh": "欢迎，{name}！输入 !帮助 看看我能做什么。"},
    "time": {"en": "It is {time} UTC.", "zh": "现在是 UTC 时间 {time}。"},
    "echo_empty": {"en": "Echo what? Try: !echo hello", "zh": "要我说什么？试试：!回声 你好"},
    "help": {"en": "Commands: !time, !echo TEXT, !help",
             "zh": "命令：!时间、!回声 文字、!帮助"},
}
COMMANDS = {"!time": "time", "!时间": "time", "!echo": "echo", "!回声": "echo",
            "!help": "help", "!帮助": "help"}


def say(key: str, lang: str, **values: str) -> str:
    texts = TEXTS[key]
    return texts.get(lang, texts["en"]).format(**values)


class Bot:
    def __init__(self, client: LiveBridgeClient, rooms: list[str]) -> None:
        self.client = client
        self.rooms = rooms
        client.on("message", self.on_message)      # own messages are skipped by default
        client.on("presence", self.on_presence)
        client.on("resumed", lambda e: log.info("resumed %s (recovered: %s)", e["room"], e["recovered"]))
        client.on("resume_failed", lambda e: log.warning("lost %s: %s", e["room"], e["error"]))
        client.on("left", lambda e: log.warning("out of %s: %s", e["room"], e.get("message") or e["reason"]))
        client.on("held", lambda e: log.info("a reply was held for review in %s", e["room"]))

    async def start(self) -> None:
        welcome = await self.client.connect(timeout=None)   # wait for the server as long as it takes
        for room in self.rooms:
            await self.client.join(room)
        me = welcome["user"]
        print(f"bot ready in {', '.join(self.rooms)} as {me['name']} ({me['id']})", flush=True)

    async def on_message(self, event: dict) -> None:
        command, _, rest = event["text"].strip().partition(" ")
        action = COMMANDS.get(command.lower())
        if action is None:
            return
        lang = event["author"].get("lang") or event["lang"]
        if action == "time":
            reply = say("time", lang, time=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()))
        elif action == "echo":
            reply = rest.strip() or say("echo_empty", lang)
        else:
            reply = say("help", lang)
        await self.reply(event["room"], reply)

    async def on_presence(self, event: dict) -> None:
        if event["event"] == "diff":
            arrived = event.get("joins") or []
        elif event["event"] == "join" and "member" in event:   # servers before presence diffs
            arrived = [event["member"]]
        else:
            return
        me = self.client.user or {}
        for member in arrived:
            if member.get("id") != me.get("id"):
                await self.reply(event["room"], say("greet", member.get("lang", "en"), name=member.get("name", "")))

    async def reply(self, room: str, text: str) -> None:
        try:
            await self.client.send(room, text)
        except LiveBridgeError as exc:    # refused (timed_out, room_locked, ...) or timed out
            log.warning("could not say %r in %s: %s", text, room, exc)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--room", action="append", dest="rooms", help="a room to join (repeatable)")
    parser.add_argument("--name", default="EchoBot")
    parser.add_argument("--lang", default="en", choices=("en", "zh"))
    parser.add_argument("--token", help="a member token (default: guest tokens from the server)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    client = LiveBridgeClient(args.url, token=args.token, name=args.name, lang=args.lang)
    bot = Bot(client, args.rooms or ["lobby"])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    starting = asyncio.create_task(bot.start())
    stopping = asyncio.create_task(stop.wait())
    ended = asyncio.create_task(client.wait_closed())
    try:
        done, _ = await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if starting in done:
            starting.result()   # a final refusal (banned, a bad token) raises here
            await asyncio.wait({stopping, ended}, return_when=asyncio.FIRST_COMPLETED)
    except LiveBridgeError as exc:
        log.error("giving up: %s", exc)
        return 1
    finally:
        for task in (starting, stopping, ended):
            task.cancel()
        await client.close()
    if not stop.is_set():
        log.error("the server ended the connection: %s", client.close_reason)
        return 1
    log.info("stopped")
    return 0

if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
