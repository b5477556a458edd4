"""A LiveBridge node driven in-process: frames in, frames out, no socket, no subprocess.

Each test gets a node on the memory engine with a fake translator, and opens sessions on
:class:`ListSink`s. ``await client.send(frame)`` hands a raw frame to the session as the
WebSocket endpoint would; ``await client.expect(type, **fields)`` waits (yielding to the
loop, never sleeping) until a matching frame arrives, and fails after a deadline.
"""

from __future__ import annotations

import asyncio
import tempfile
import json
from collections.abc import Callable
from typing import Any

import msgpack
import pytest_asyncio

from chatserver import protocol as p
from chatserver.app import LiveBridge
from chatserver.auth import User
from chatserver.config import Settings
from rooms.memory import MemoryEngine
from translator.types import Translation

DEADLINE = 2.0  # seconds; the in-process node answers in microseconds


class FakeTranslator:
    """Translates by tagging: "hello" into zh is "[zh] hello". Counts its calls."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.enabled = enabled
        self.fail: set[str] = set()  # target languages that answer "unavailable"

    @property
    def status(self) -> dict:
        return {"enabled": self.enabled, "mode": "fake", "backend": "fake", "reason": None,
                "pairs": ["en-zh", "zh-en"], "message": "translation on"}

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def translate(self, text: str, source: str, target: str, *, priority: str = "live") -> Translation:
        self.calls.append((text, source, target))
        if target in self.fail:
            return Translation(None, False, "translation unavailable: fake outage")
        return Translation(f"[{target}] {text}", True)


class ListSink:
    """A sink that keeps what the node writes, decoded."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.aborted: tuple[int, str] | None = None
        self.changed = asyncio.Event()

    def writable(self) -> bool:
        return self.aborted is None

    def buffered(self) -> int:
        return 0

    def write(self, frames) -> None:
        for frame in frames:
            payload = frame.payload
            self.frames.append(json.loads(payload) if isinstance(payload, str) else msgpack.unpackb(payload))
        self.changed.set()

    def abort(self, code: int, reason: str) -> None:
        self.aborted = (code, reason)
        self.changed.set()


def arrived(user: User) -> Callable[[dict[str, Any]], bool]:
    """A presence diff in which ``user`` arrived."""
    return lambda f: f.get("event") == "diff" and user.id in [m["id"] for m in f["joins"]]


def departed(user: User) -> Callable[[dict[str, Any]], bool]:
    """A presence diff in which ``user`` left."""
    return lambda f: f.get("event") == "diff" and user.id in [m["id"] for m in f["leaves"]]


class Client:
    """One connection to the in-process node."""

    def __init__(self, bridge: LiveBridge, user: User, codec: str) -> None:
        self.bridge = bridge
        self.user = user
        self.codec = codec
        self.sink = ListSink()
        self.session = bridge.open_session(user, codec, self.sink)
        self.session.send(self.session.welcome())
        self._seen = 0  # frames before this index were returned by expect() or skipped

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        if isinstance(frame, dict):
            frame = p.encode(frame, self.codec)
        await self.session.receive(frame)

    async def expect(self, kind: str, where: Callable[[dict[str, Any]], bool] | None = None,
                     **fields: Any) -> dict[str, Any]:
        """The next frame of ``kind`` whose fields include ``fields`` and for which ``where``
        holds (frames that do not match stay readable by later calls)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        while True:
            for i in range(self._seen, len(self.sink.frames)):
                frame = self.sink.frames[i]
                if (frame.get("type") == kind and all(frame.get(k) == v for k, v in fields.items())
                        and (where is None or where(frame))):
                    self.sink.frames.pop(i)
                    return frame
            self.sink.changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no {kind} frame with {fields}; got {self.sink.frames[self._seen:]}")
            try:
                await asyncio.wait_for(self.sink.changed.wait(), remaining)
            except TimeoutError:
                pass

    async def request(self, frame: dict[str, Any], reply: str) -> dict[str, Any]:
        """Send a frame with a fresh ref and wait for its reply (or an error with that ref)."""
        ref = f"r{id(frame)}-{len(self.sink.frames)}"
        await self.send({**frame, "ref": ref})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        while True:
            for i, got in enumerate(self.sink.frames):
                if got.get("ref") == ref:
                    self.sink.frames.pop(i)
                    if got["type"] != reply:
                        raise AssertionError(f"expected {reply}, got {got}")
                    return got
            self.sink.changed.clear()
            if loop.time() > deadline:
                raise AssertionError(f"no reply to {frame}; got {self.sink.frames}")
            try:
                await asyncio.wait_for(self.sink.changed.wait(), deadline - loop.time())
            except TimeoutError:
                pass

    async def error(self, frame: dict[str, Any]) -> dict[str, Any]:
        return await self.request(frame, "error")

    async def settle(self) -> None:
        """Let the node finish what the last frames started (tasks, fan-out, flushes)."""
        for _ in range(20):
            await asyncio.sleep(0)

    def frames_of(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.sink.frames if f.get("type") == kind]

    async def close(self) -> None:
        await self.bridge.close_session(self.session)


PRESENCE_INTERVAL = 0.005  # seconds; presence diffs are gathered for 100 ms in production


class Node:
    """A node and the clients opened on it."""

    def __init__(self, bridge: LiveBridge, translator: FakeTranslator) -> None:
        bridge.chat.presence.interval = PRESENCE_INTERVAL
        self.bridge = bridge
        self.translator = translator
        self._n = 0

    def user(self, name: str, lang: str = "en", *, kind: str = "member", admin: bool = False) -> User:
        self._n += 1
        return User(id=f"u{self._n}-{name.lower()}", name=name, lang=lang, kind=kind, admin=admin)

    async def connect(self, name: str = "Ann", lang: str = "en", *, user: User | None = None,
                      codec: str = p.JSON, kind: str = "member", admin: bool = False) -> Client:
        client = Client(self.bridge, user or self.user(name, lang, kind=kind, admin=admin), codec)
        await client.expect("welcome")
        return client

    async def joined(self, name: str, room: str, lang: str = "en", **kw: Any) -> Client:
        client = await self.connect(name, lang, **kw)
        await client.request({"type": "join", "room": room}, "joined")
        return client

    async def host(self, room: str, name: str = "Olive") -> Client:
        """A room created by ``name``, who is in it as its owner."""
        user = self.user(name)
        await self.bridge.chat.create_room(room, title=None, owner=user)
        owner = await self.connect(user=user)
        joined = await owner.request({"type": "join", "room": room}, "joined")
        assert joined["role"] == "owner"
        return owner


def edge_settings(**overrides: Any) -> Settings:
    values = {"node_id": "edge", "secret": "edge-test-secret", "rate_frames": 1000.0,
              "rate_frames_burst": 1000.0, "rate_user": 100.0, "rate_user_burst": 100.0,
              "rate_connection": 100.0, "rate_connection_burst": 100.0, "flood_max": 0,
              # a node of its own: the SQLite store in a fresh directory (never the user's)
              "data_dir": tempfile.mkdtemp(prefix="lb-edge-")}
    values.update(overrides)
    return Settings(**values)


@pytest_asyncio.fixture
async def node():
    translator = FakeTranslator()
    bridge = LiveBridge(edge_settings(), engine=MemoryEngine(node_id="edge"), translator=translator)
    await bridge.start()
    try:
        yield Node(bridge, translator)
    finally:
        for session in list(bridge.sessions):
            await bridge.close_session(session)
        await bridge.close()


@pytest_asyncio.fixture
async def make_node():
    """Build a node with other settings or parts: ``await make_node(rate_frames=2)``."""
    made: list[LiveBridge] = []

    async def make(*, translator: FakeTranslator | None = None, **overrides: Any) -> Node:
        translator = translator or FakeTranslator()
        bridge = LiveBridge(edge_settings(**overrides), engine=MemoryEngine(node_id="edge"),
                            translator=translator)
        await bridge.start()
        made.append(bridge)
        return Node(bridge, translator)

    yield make
    for bridge in made:
        for session in list(bridge.sessions):
            await bridge.close_session(session)
        await bridge.close()
