"""The thin adapters: how the one load generator joins, sends and recognises a delivery.

Every server gets the same message text: ``~T<16-digit send time in µs><2-digit step>~``
followed by padding up to the message size. A receiver recognises a delivered message by a
prefix test on the raw frame and finds the marker with ``bytes.find``; nothing is decoded.

- LiveBridge (docs/protocol.md): ``/ws?token=...`` with a subprotocol per codec, ``join``
  and ``send`` frames; a delivered message is a ``message`` frame, whose encoding starts
  with its type (JSON ``{"type":"message"``, msgpack map then ``type``/``message``).
- raw websockets peer: ``/?room=R``, the message is the frame itself.
- python-socketio peer: Engine.IO v4 over a WebSocket (``0`` open, ``40`` connect,
  ``2``/``3`` ping/pong), events ``join`` and ``msg``.
"""

from __future__ import annotations

import json
import secrets
import time

import msgpack

from benchmarks.procs import http_json
from benchmarks.tokens import user_token
from benchmarks.wsclient import BINARY, TEXT

MARK = b"~T"
# A LiveBridge send carries ``"ref":"~A<send time µs><step>"`` (JSON codec): its ack echoes
# the ref, so the generator measures ack latency (send -> durable commit -> ack) too.
ACK_MARK = b'"ref":"~A'
ACK_PREFIX = b'{"type":"ack"'
JSON_SUB = "livebridge.v1.json"
MSGPACK_SUB = "livebridge.v1.msgpack"


def message_text(ts_us: int, step: int, size: int) -> str:
    head = f"~T{ts_us:016d}{step:02d}~"
    return head + "x" * max(0, size - len(head))


class Adapter:
    name = "?"
    opcode = TEXT
    prefix = b""  # a delivered message starts with this
    codecs = ("json",)

    def is_message(self, payload: bytes) -> bool:
        return payload.startswith(self.prefix)

    def __init__(self, codec: str = "json") -> None:
        if codec not in self.codecs:
            raise ValueError(f"{self.name} speaks {', '.join(self.codecs)}, not {codec}")
        self.codec = codec

    def prepare(self, base_urls: list[str], worker: int, secret: str | None = None) -> None:
        """Blocking setup in a worker before it connects (tokens...)."""

    def path(self, room: str, node: int) -> str:
        raise NotImplementedError

    subprotocol: str | None = None

    async def join(self, member, room: str, timeout: float) -> None:
        raise NotImplementedError

    def send_payload(self, room: str, text: str) -> bytes:
        raise NotImplementedError

    def other(self, member, payload: bytes) -> None:
        """A frame that is not a delivered message (acks, presence, pings...)."""

    def is_error(self, payload: bytes) -> bool:
        return False


class LiveBridgeAdapter(Adapter):
    name = "livebridge"
    codecs = ("json", "msgpack")

    def __init__(self, codec: str = "json") -> None:
        super().__init__(codec)
        if codec == "json":
            self.subprotocol = JSON_SUB
            self.opcode = TEXT
            self.is_message = self._is_json_message  # type: ignore[method-assign]
        else:
            self.subprotocol = MSGPACK_SUB
            self.opcode = BINARY
            self.is_message = self._is_msgpack_message  # type: ignore[method-assign]
        self.token = ""
        self.secret: str | None = None  # set: every connection signs in as a user of its own
        self._users = 0

    # Frames the server builds (welcome, joined, ack...) start with their type; engine events
    # may not (the Redis engine's events come back from Lua/JSON with keys in another order),
    # so a frame that does not start with its type is searched for it.
    @staticmethod
    def _is_json_message(p: bytes) -> bool:
        if p.startswith(b'{"type":"'):
            return p.startswith(b'message"', 9)
        return b'"type":"message"' in p

    @staticmethod
    def _is_msgpack_message(p: bytes) -> bool:
        if p[1:6] == b"\xa4type":
            return p[6:14] == b"\xa7message"
        return b"\xa4type\xa7message" in p

    def prepare(self, base_urls: list[str], worker: int, secret: str | None = None) -> None:
        # Without a secret, one guest user per worker process: the servers run with a raised
        # --max-connections-per-user, and presence stays one join per worker, as in the
        # peers, which have no presence at all. Nodes share a secret, so any node's token works.
        self.worker = worker
        if secret:
            self.secret = secret
            return
        reply = http_json(base_urls[0] + "/api/token", {"name": f"bench-{worker}-{secrets.token_hex(2)}",
                                                        "lang": "en"})
        self.token = reply["token"]

    def path(self, room: str, node: int) -> str:
        if self.secret:
            self._users += 1
            return f"/ws?token={user_token(self.secret, self._users, prefix=f'w{self.worker}')}"
        return f"/ws?token={self.token}"

    def _kind(self, payload: bytes) -> bytes:
        if self.codec == "json":
            end = payload.find(b'"', 9)
            return payload[9:end] if payload.startswith(b'{"type":"') else b""
        # msgpack: fixmap byte, b"\xa4type", then a fixstr with the type
        if payload[1:6] == b"\xa4type":
            n = payload[6] & 0x1F
            return payload[7:7 + n]
        return b""

    async def join(self, member, room: str, timeout: float) -> None:
        await member.expect(lambda p: self._kind(p) == b"welcome", timeout)
        frame = {"type": "join", "room": room}
        if self.codec == "json":
            member.ws.send(json.dumps(frame).encode(), TEXT)
        else:
            member.ws.send(msgpack.packb(frame), BINARY)
        reply = await member.expect(lambda p: self._kind(p) in (b"joined", b"error"), timeout)
        if self._kind(reply) == b"error":
            raise RuntimeError(f"join refused: {reply[:200]!r}")

    def send_payload(self, room: str, text: str) -> bytes:
        if self.codec == "json":  # text[2:20]: the send time and step of message_text
            return ('{"type":"send","room":"%s","text":"%s","ref":"~A%s"}' % (room, text, text[2:20])).encode()
        return msgpack.packb({"type": "send", "room": room, "text": text})

    def other(self, member, payload: bytes) -> None:
        if payload.startswith(ACK_PREFIX):
            i = payload.find(ACK_MARK)
            if i >= 0:
                i += len(ACK_MARK)
                member.worker.record_ack(int(payload[i + 16:i + 18]),
                                         time.time_ns() // 1000 - int(payload[i:i + 16]))

    def is_error(self, payload: bytes) -> bool:
        return self._kind(payload) == b"error"


# A load test sends far faster than the per-user chat limits allow (1 msg/s by default), as
# an operator's test room would: the owner raises the room's limits with ``set_limits``.
BENCH_LIMITS = {"user_rate": 1e6, "user_burst": 1e6, "conn_rate": 1e6, "conn_burst": 1e6, "flood_max": 0}


def livebridge_setup_rooms(base_url: str, rooms: list[str], timeout: float = 60.0) -> dict:
    """Create the rooms with a bench owner and lift their rate limits (docs/moderation.md).

    Uses the project's Python client (:mod:`clients.client`), as an operator's script would.
    Returns what was done, for the report.
    """
    import asyncio
    import urllib.error
    import urllib.request

    from clients.client import LiveBridgeClient, ServerError

    owner_token = http_json(base_url + "/api/token", {"name": "bench-owner", "lang": "en"})["token"]
    created = 0
    for room in rooms:
        request = urllib.request.Request(
            base_url + "/api/rooms", method="POST", data=json.dumps({"name": room, "title": room}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {owner_token}"})
        try:
            with urllib.request.urlopen(request, timeout=10):
                created += 1
        except urllib.error.HTTPError as exc:
            if exc.code != 409:
                raise

    async def lift() -> tuple[int, str | None]:
        done, problem = 0, None
        async with LiveBridgeClient(base_url, token=owner_token, reconnect=False) as client:
            for room in rooms:
                await client.join(room)
                try:
                    await client.moderate(room, "set_limits", **BENCH_LIMITS)
                    done += 1
                except ServerError as exc:  # no moderation in this build, or refused: say so
                    problem = f"{exc.code}: {exc}"
                await client.leave(room)
        return done, problem

    done, problem = asyncio.run(asyncio.wait_for(lift(), timeout))
    return {"rooms_created": created, "limits_lifted": done, "limits": BENCH_LIMITS, "problem": problem}


class RawAdapter(Adapter):
    name = "raw"
    prefix = MARK

    def path(self, room: str, node: int) -> str:
        return f"/?room={room}"

    async def join(self, member, room: str, timeout: float) -> None:
        await member.expect(lambda p: p == b"joined", timeout)

    def send_payload(self, room: str, text: str) -> bytes:
        return text.encode()


class SocketIOAdapter(Adapter):
    name = "socketio"
    prefix = b'42["msg"'

    def path(self, room: str, node: int) -> str:
        return "/socket.io/?EIO=4&transport=websocket"

    async def join(self, member, room: str, timeout: float) -> None:
        await member.expect(lambda p: p[:1] == b"0", timeout)
        member.ws.send(b"40")
        await member.expect(lambda p: p[:2] == b"40", timeout)
        member.ws.send(('42["join","%s"]' % room).encode())
        await member.expect(lambda p: p.startswith(b'42["joined"'), timeout)

    def send_payload(self, room: str, text: str) -> bytes:
        return ('42["msg",{"room":"%s","text":"%s"}]' % (room, text)).encode()

    def other(self, member, payload: bytes) -> None:
        if payload == b"2":  # Engine.IO ping: answer or be dropped
            member.ws.send(b"3")

    def is_error(self, payload: bytes) -> bool:
        return payload.startswith(b"44")


ADAPTERS = {"livebridge": LiveBridgeAdapter, "livebridge-nostore": LiveBridgeAdapter,
            "livebridge-compared": LiveBridgeAdapter, "raw": RawAdapter,
            "socketio": SocketIOAdapter}


def make_adapter(server: str, codec: str) -> Adapter:
    return ADAPTERS[server](codec)
