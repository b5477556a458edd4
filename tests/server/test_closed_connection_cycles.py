"""A closed connection leaves no reference cycle on the node: its objects die by reference
count, as chatserver.gcpolicy needs (the node freezes long-lived objects, so a cycle among
them would wait for a whole pass). A real uvicorn node in this process, the collector off
while connections come and go, then every piece of cyclic garbage is looked at."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import secrets
import weakref

import pytest
import websockets

from chatserver import config
from chatserver.app import LiveBridge
from chatserver.server import _Server, uvicorn_config
from chatserver.session import Session
from chatserver.wsprotocol import LiveBridgeWebSocketProtocol
from tests.harness import http_parsers

DEADLINE = 10.0


async def _until(condition, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + DEADLINE
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.01)


@pytest.fixture(params=http_parsers())
async def node(request, tmp_path, unused_tcp_port, monkeypatch):
    monkeypatch.setenv("LIVEBRIDGE_DATA_DIR", str(tmp_path))
    settings = config.load(argparse.Namespace(host="127.0.0.1", port=unused_tcp_port, translation="off",
                                              log_level="warning", secret=secrets.token_hex(24),
                                              allow_guests=True, http_parser=request.param))
    bridge = LiveBridge(settings)
    await bridge.open_store()
    server = _Server(uvicorn_config(settings, bridge))
    serving = asyncio.create_task(server.serve())
    await _until(lambda: server.started, "the node never started")
    await server.collections.stop()  # this test decides when the collector runs
    yield bridge, unused_tcp_port
    server.should_exit = True
    await serving


async def _http_get(port: int, path: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    body = await reader.read()
    writer.close()
    await writer.wait_closed()
    return body


def _server_side(obj: object, port: int) -> bool:
    """Whether a piece of garbage belongs to the node (not to this test's clients)."""
    if isinstance(obj, (Session, LiveBridgeWebSocketProtocol)):
        return True
    if isinstance(obj, asyncio.BaseTransport):
        sockname = obj.get_extra_info("sockname")
        return bool(sockname) and sockname[1] == port
    return type(obj).__module__.startswith(("chatserver", "uvicorn", "h11", "httptools"))


async def test_closed_connections_leave_no_cycles_on_the_node(node):
    bridge, port = node
    url = f"ws://127.0.0.1:{port}/ws"
    token, _, _ = bridge.tokens.issue(name="Cycles", lang="en")
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        await _http_get(port, "/healthz")  # plain HTTP
        with pytest.raises(websockets.exceptions.ConnectionClosed):  # refused after the upgrade
            async with websockets.connect(f"{url}?token=nonsense", subprotocols=["livebridge.v1.json"]) as ws:
                await ws.recv()
                await ws.recv()
        async with websockets.connect(f"{url}?token={token}", subprotocols=["livebridge.v1.json"]) as ws:
            assert json.loads(await ws.recv())["type"] == "welcome"
            await ws.send(json.dumps({"type": "join", "room": "cycles"}))
            assert json.loads(await ws.recv())["type"] == "joined"
            await ws.send(json.dumps({"type": "send", "room": "cycles", "text": "hello"}))
            kinds = {json.loads(await ws.recv())["type"] for _ in range(2)}
            assert {"message", "ack"} <= kinds
            (session,) = bridge.sessions
            protocol = session.outbound.sink._raw._protocol
            watched = [weakref.ref(o) for o in (session, protocol, protocol.transport)]
            del session, protocol
        await _until(lambda: not bridge.sessions, "the session was never closed")
        await _until(lambda: all(w() is None for w in watched),
                     f"still alive with the collector off: {[w() for w in watched if w() is not None]}")
        gc.collect()
        ours = [type(o).__qualname__ for o in gc.garbage if _server_side(o, port)]
        assert ours == [], f"cyclic garbage left on the node: {sorted(set(ours))}"
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
