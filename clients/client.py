"""The LiveBridge Python async client, written from docs/protocol.md.

    async with LiveBridgeClient("http://127.0.0.1:8000", name="Ann", lang="en") as client:
        await client.join("lobby")
        await client.send("lobby", "hello")          # returns the ack frame
        async for event in client:                    # message, translation, presence, ...
            print(event)

Requests (join, send, history, ...) carry a ``ref`` and return the server's reply, or raise
:class:`ServerError` with the error frame's code. When the connection drops, the client
reconnects with jittered exponential backoff, rejoins its rooms with the last offset it saw
and yields what it missed (the server sends it; the client drops anything it already has), then
a ``{"type": "resumed"}`` event per room; a send in flight is retried with the same
``client_msg_id``, so it is published once. A close the server means as final (bad token,
banned connection, bad requests) ends the client instead.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
import urllib.request
import uuid
from typing import Any, AsyncIterator
from urllib.parse import urlencode, urlsplit, urlunsplit

import msgpack
import websockets
from websockets.exceptions import ConnectionClosed

log = logging.getLogger(__name__)

JSON = "livebridge.v1.json"
MSGPACK = "livebridge.v1.msgpack"
# Close codes after which reconnecting cannot help (docs/protocol.md).
FINAL_CLOSE_CODES = {1008, 4400, 4401, 4403, 4429}


class ServerError(Exception):
    """The server answered a request with an error frame."""

    def __init__(self, frame: dict[str, Any]) -> None:
        super().__init__(f"{frame.get('code')}: {frame.get('message')}")
        self.frame = frame
        self.code = frame.get("code")
        self.retry_after = frame.get("retry_after")


class ConnectionLost(Exception):
    """The connection ended and the client will not reconnect (closed, or a final close code)."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"connection closed: {code} {reason}".strip())
        self.code = code
        self.reason = reason


def guest_token(base_url: str, name: str, lang: str, timeout: float = 10.0) -> str:
    """Ask a server for a guest token (blocking; run it in a thread from async code)."""
    request = urllib.request.Request(
        base_url.rstrip("/") + "/api/token", method="POST",
        data=json.dumps({"name": name, "lang": lang}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())["token"]


def ws_url(base_url: str, token: str) -> str:
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, "/ws", urlencode({"token": token}), ""))


class LiveBridgeClient:
    """One logical connection to a LiveBridge server, across reconnects."""

    def __init__(self, url: str, *, token: str | None = None, name: str | None = None,
                 lang: str = "en", codec: str = JSON, reconnect: bool = True,
                 backoff_min: float = 0.2, backoff_max: float = 10.0, max_events: int = 10_000,
                 request_timeout: float = 15.0) -> None:
        if token is None and name is None:
            raise ValueError("give a token, or a name to get a guest token")
        self.url = url
        self.token = token
        self.name = name
        self.lang = lang
        self.codec = codec
        self.reconnect = reconnect
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.request_timeout = request_timeout
        self.welcome: dict[str, Any] | None = None
        self.rooms: dict[str, dict[str, Any]] = {}  # room -> {"offset", "epoch"}
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue(max_events)
        self._pending: dict[str, asyncio.Future] = {}
        self._refs = itertools.count(1)
        self._ws: Any = None
        self._connected = asyncio.Event()
        self._reader: asyncio.Task | None = None
        self._closed: ConnectionLost | None = None
        self._closing = False

    # Lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> "LiveBridgeClient":
        await self.connect()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def connect(self) -> dict[str, Any]:
        """Connect and wait for the welcome frame."""
        if self.token is None:
            self.token = await asyncio.to_thread(guest_token, self.url, self.name, self.lang)
        await self._open()
        self._reader = asyncio.create_task(self._run())
        return self.welcome or {}

    async def _open(self) -> None:
        ws = await websockets.connect(ws_url(self.url, self.token), subprotocols=[self.codec],
                                      max_size=None, open_timeout=10)
        first = self._decode(await asyncio.wait_for(ws.recv(), 10))
        if first.get("type") != "welcome":
            code = None
            try:  # the server closes right after an error frame; its close code says why
                await asyncio.wait_for(ws.recv(), 5)
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else None
            except asyncio.TimeoutError:
                pass
            await ws.close()
            raise ConnectionLost(code, f"{first.get('code')}: {first.get('message')}")
        self.welcome = first
        self._ws = ws
        self._connected.set()

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):
                pass
        self._fail_pending(ConnectionLost(1000, "closed by client"))

    # Requests ------------------------------------------------------------------------------

    async def join(self, room: str, *, since: int | None = None, epoch: str | None = None) -> dict:
        frame: dict[str, Any] = {"type": "join", "room": room}
        if since is not None:
            frame["since"] = since
            if epoch is not None:
                frame["epoch"] = epoch
        joined = await self.request(frame)
        self._note_joined(joined)
        return joined

    async def leave(self, room: str) -> dict:
        reply = await self.request({"type": "leave", "room": room})
        self.rooms.pop(room, None)
        return reply

    async def send(self, room: str, text: str, *, client_msg_id: str | None = None) -> dict:
        """Publish a message; retried across reconnects with the same id; returns the ack."""
        frame = {"type": "send", "room": room, "text": text,
                 "client_msg_id": client_msg_id or uuid.uuid4().hex}
        return await self.request(frame, retry=True)

    async def history(self, room: str, *, before: int | None = None, limit: int = 50) -> dict:
        frame: dict[str, Any] = {"type": "history", "room": room, "limit": limit}
        if before is not None:
            frame["before"] = before
        return await self.request(frame)

    async def typing(self, room: str) -> None:
        await self.send_frame({"type": "typing", "room": room})

    async def ping(self) -> dict:
        return await self.request({"type": "ping"})

    async def set_lang(self, lang: str, *, script: str | None = None) -> dict:
        frame = {"type": "set_lang", "lang": lang}
        if script is not None:
            frame["script"] = script
        return await self.request(frame)

    async def moderate(self, room: str, action: str, /, **params: Any) -> dict:
        return await self.request({"type": "moderate", "room": room, "action": action, "params": params})

    async def report(self, room: str, offset: int, reason: str = "") -> dict:
        return await self.request({"type": "report", "room": room, "offset": offset, "reason": reason})

    async def request(self, frame: dict[str, Any], *, retry: bool = False) -> dict:
        """Send a frame with a fresh ref and wait for the reply with that ref."""
        while True:
            if self._closed is not None:
                raise self._closed
            await self._connected.wait()
            ref = f"r{next(self._refs)}"
            future: asyncio.Future = asyncio.get_running_loop().create_future()
            self._pending[ref] = future
            try:
                await self._ws.send(self._encode({**frame, "ref": ref}))
                reply = await asyncio.wait_for(future, self.request_timeout)
            except (ConnectionClosed, _Reconnecting):
                if retry and self.reconnect and not self._closing:
                    continue
                raise ConnectionLost(None, "connection lost during request") from None
            finally:
                self._pending.pop(ref, None)
            if reply.get("type") == "error":
                raise ServerError(reply)
            return reply

    async def send_frame(self, frame: dict[str, Any]) -> None:
        """Send a frame without waiting for a reply (raw access, also for tests)."""
        await self._connected.wait()
        await self._ws.send(self._encode(frame))

    # Events --------------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            yield await self.next_event()

    async def next_event(self, timeout: float | None = None) -> dict[str, Any]:
        """The next event; raises :class:`ConnectionLost` once the client is done."""
        if self._closed is not None and self._events.empty():
            raise self._closed
        event = await asyncio.wait_for(self._events.get(), timeout)
        if event.get("type") == "_closed":
            raise self._closed or ConnectionLost(None)
        return event

    async def wait_for(self, predicate, timeout: float = 10.0) -> dict[str, Any]:
        """Skip events until one matches ``predicate``."""
        async def scan():
            while True:
                event = await self.next_event()
                if predicate(event):
                    return event
        return await asyncio.wait_for(scan(), timeout)

    # Internals -----------------------------------------------------------------------------

    def _encode(self, frame: dict[str, Any]) -> str | bytes:
        if self.codec == MSGPACK:
            return msgpack.packb(frame, use_bin_type=True)
        return json.dumps(frame, ensure_ascii=False)

    def _decode(self, data: str | bytes) -> dict[str, Any]:
        if self.codec == MSGPACK:
            return msgpack.unpackb(data, raw=False)
        return json.loads(data)

    def _note_joined(self, joined: dict[str, Any]) -> None:
        room = joined["room"]
        offset = joined.get("offset", 0)
        for event in joined.get("history", []):
            offset = max(offset, event.get("offset", 0))
        self.rooms[room] = {"offset": offset, "epoch": joined.get("epoch")}

    def _fresh(self, frame: dict[str, Any]) -> bool:
        """Track offsets; False for an event this client has already seen."""
        offset, room = frame.get("offset"), frame.get("room")
        if offset is None or room not in self.rooms or frame.get("type") in ("joined", "history", "ack"):
            return True
        position = self.rooms[room]
        epoch = frame.get("epoch")
        if epoch is not None and position.get("epoch") is not None and epoch != position["epoch"]:
            # The room's history was reset on the server: its offsets start again.
            position["epoch"], position["offset"] = epoch, 0
        if offset <= position["offset"]:
            return False
        position["offset"] = offset
        return True

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                async for data in self._ws:
                    attempt = 0
                    frame = self._decode(data)
                    ref = frame.get("ref")
                    if ref is not None and ref in self._pending:
                        future = self._pending.pop(ref)
                        if not future.done():
                            future.set_result(frame)
                        continue
                    if self._fresh(frame):
                        await self._events.put(frame)
                code, reason = self._ws.close_code, self._ws.close_reason or ""
            except ConnectionClosed as exc:
                code, reason = (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (1006, "")
            except (OSError, ValueError) as exc:
                code, reason = 1006, str(exc)
            self._connected.clear()
            self._fail_pending(_Reconnecting())
            if self._closing or not self.reconnect or code in FINAL_CLOSE_CODES:
                await self._finish(ConnectionLost(code, reason))
                return
            await self._events.put({"type": "disconnected", "code": code, "reason": reason})
            while True:
                attempt += 1
                delay = min(self.backoff_max, self.backoff_min * 2 ** min(attempt, 10))
                await asyncio.sleep(random.uniform(delay / 2, delay))
                try:
                    await self._open()
                    break
                except ConnectionLost as exc:
                    if exc.code in FINAL_CLOSE_CODES:
                        await self._finish(exc)
                        return
                except (OSError, ConnectionClosed, asyncio.TimeoutError, websockets.InvalidStatus,
                        websockets.InvalidHandshake) as exc:
                    log.debug("reconnect attempt %d failed: %s", attempt, exc)
            asyncio.create_task(self._resume())

    async def _resume(self) -> None:
        for room, position in list(self.rooms.items()):
            try:
                joined = await self.request({"type": "join", "room": room, "since": position["offset"],
                                             "epoch": position["epoch"]})
            except (ServerError, ConnectionLost) as exc:
                await self._events.put({"type": "resume_failed", "room": room, "error": str(exc)})
                continue
            recovered = joined.get("recovered", False)
            if not recovered:
                position["offset"] = 0
            position["epoch"] = joined.get("epoch")
            for event in joined.get("history", []):
                if self._fresh(event):
                    await self._events.put(event)
            position["offset"] = max(position["offset"], joined.get("offset", 0))
            await self._events.put({"type": "resumed", "room": room, "recovered": recovered,
                                    "offset": joined.get("offset"), "epoch": joined.get("epoch")})

    async def _finish(self, lost: ConnectionLost) -> None:
        self._closed = lost
        self._fail_pending(lost)
        try:
            self._events.put_nowait({"type": "_closed"})
        except asyncio.QueueFull:
            pass

    def _fail_pending(self, exc: BaseException) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(exc)
        self._pending.clear()


class _Reconnecting(Exception):
    """Internal: the connection dropped while a request waited; it may be retried."""
