"""The terminal client behind ``livebridge chat ROOM --name N --lang en|zh``.

Lines typed are sent to the room; messages, translations and presence are printed as they
come. ``/quit`` leaves. Everything a user typed is printed as plain text (terminal control
characters are removed, so a message cannot repaint the screen).
"""

from __future__ import annotations

import asyncio
import sys
import time
import unicodedata

from clients.client import ConnectionLost, ConnectTimeout, LiveBridgeClient, ServerError


def _safe(text: object) -> str:
    return "".join(ch for ch in str(text) if ch == "\n" or unicodedata.category(ch)[0] != "C")


def render(event: dict) -> str | None:
    kind = event.get("type")
    if kind == "message":
        author = event.get("author", {})
        stamp = time.strftime("%H:%M", time.localtime(event.get("ts", 0) / 1000))
        badge = {"owner": " [host]", "moderator": " [mod]"}.get(author.get("role"), "")
        return f"{stamp} {_safe(author.get('name'))}{badge}: {_safe(event.get('text'))}"
    if kind == "translation":
        return f"      ↳ ({event.get('lang')}) {_safe(event.get('text'))}"
    if kind == "presence" and event.get("event") == "diff":
        names = [f"  * {_safe(m.get('name'))} ({m.get('lang')}) joined" for m in event.get("joins", [])]
        names += [f"  * {_safe(m.get('name'))} ({m.get('lang')}) left" for m in event.get("leaves", [])]
        return "\n".join(names) or None
    if kind == "deleted":
        return "  * a message was deleted by a moderator"
    if kind == "disconnected":
        return "  * connection lost, reconnecting..."
    if kind == "resumed":
        return "  * reconnected" + ("" if event.get("recovered") else " (some history could not be recovered)")
    if kind == "left":
        return f"  * you left {event.get('room')}: {_safe(event.get('message') or event.get('reason'))}"
    if kind == "notice":
        return f"  * {_safe(event.get('message'))}"
    return None


async def run_terminal(url: str, room: str, *, name: str, lang: str, token: str | None = None,
                       connect_timeout: float = 5.0) -> int:
    client = LiveBridgeClient(url, token=token, name=name, lang=lang)
    try:
        welcome = await client.connect(timeout=connect_timeout)
    except ConnectTimeout as exc:
        # The client retried until the deadline; the last attempt's error says why.
        cause = exc.__cause__ or exc
        print(f"livebridge chat: cannot connect to {url} within {connect_timeout:g} s: {cause}",
              file=sys.stderr)
        return 1
    except (OSError, ConnectionLost) as exc:
        print(f"livebridge chat: cannot connect to {url}: {exc}", file=sys.stderr)
        return 1
    translation = welcome.get("translation", {})
    if not translation.get("enabled"):
        print(f"  * translation is off: {translation.get('reason')}")
    try:
        joined = await client.join(room)
    except ServerError as exc:
        print(f"livebridge chat: cannot join {room}: {exc}", file=sys.stderr)
        await client.close()
        return 1
    names = ", ".join(f"{m['name']} ({m['lang']})" for m in joined.get("members", []))
    print(f"  * joined {room} as {name} ({lang}); here: {names}")
    for event in joined.get("history", []):
        line = render(event)
        if line:
            print(line)

    async def show() -> None:
        async for event in client:
            line = render(event)
            if line:
                print(line, flush=True)

    printer = asyncio.create_task(show())
    try:
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line or line.strip() == "/quit":
                break
            if not line.strip():
                continue
            try:
                await client.send(room, line.rstrip("\n"))
            except ServerError as exc:
                wait = f" (retry in {exc.retry_after:.0f}s)" if exc.retry_after else ""
                print(f"  ! {exc.frame.get('message')}{wait}", flush=True)
    except ConnectionLost as exc:
        print(f"  ! {exc}", file=sys.stderr)
    finally:
        printer.cancel()
        await client.close()
    return 0
