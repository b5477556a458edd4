"""A client that stops reading is dropped with 4408 and never slows the room; SIGTERM closes
every connection with 1001 and the process exits cleanly."""

import asyncio
import base64
import json
import os
import signal
import socket

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from clients.client import LiveBridgeClient


def stalled_client(server, token, room):
    """A raw socket that completes the handshake, joins a room, then never reads again."""
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                  f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert b" 101 " in response.split(b"\r\n")[0]
    payload = json.dumps({"type": "join", "room": room}).encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
    return sock


def metric(server, name):
    _, text = server.get("/metrics")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


async def test_stalled_client_is_dropped_and_the_room_keeps_flowing(start_server):
    # 3 MiB of queue: more than a reading client needs even when this test's own process (the
    # reader) is slowed by a busy machine, far less than we send.
    unlimited = ["--rate-user", "1e6", "--rate-user-burst", "1e6", "--rate-connection", "1e6",
                 "--rate-connection-burst", "1e6", "--flood-max", "0", "--rate-frames", "1e6",
                 "--rate-frames-burst", "1e6"]  # the sender is a firehose, not a person
    server = start_server("--outbound-max-bytes", str(3 * 1024 * 1024), "--outbound-max-messages", "4000",
                          *unlimited)
    sender = LiveBridgeClient(server.url, name="Sender")
    reader = LiveBridgeClient(server.url, name="Reader")
    await sender.connect()
    await reader.connect()
    await sender.join("busy")
    await reader.join("busy")
    sock = await asyncio.to_thread(stalled_client, server, server.token("Stuck"), "busy")
    try:
        await reader.wait_for(lambda e: e["type"] == "presence" and e["event"] == "diff"
                              and "Stuck" in [m["name"] for m in e["joins"]])
        # More than the kernel's socket buffers (4 MiB send + receive) and our queue can absorb.
        text = "x" * 1900
        count = 6000
        for i in range(count):
            await sender.send_frame({"type": "send", "room": "busy", "text": f"{i} {text}"})
        seen = set()
        while len(seen) < count:
            event = await reader.next_event(30)
            assert event["type"] != "disconnected", "the reading client was dropped"
            if event["type"] == "message":
                seen.add(int(event["text"].split()[0]))
        assert seen == set(range(count))
        for _ in range(100):
            if metric(server, "livebridge_slow_consumer_disconnects_total") >= 1:
                break
            await asyncio.sleep(0.1)
        assert metric(server, "livebridge_slow_consumer_disconnects_total") == 1
        for _ in range(100):
            members = server.get("/api/rooms/busy")[1]["members"]
            if len(members) == 2:
                break
            await asyncio.sleep(0.1)
        assert sorted(m["name"] for m in members) == ["Reader", "Sender"]
    finally:
        sock.close()
        await sender.close()
        await reader.close()


async def test_sigterm_closes_connections_with_1001_and_exits_zero(start_server):
    server = start_server()
    async with websockets.connect(f"{server.ws_url}?token={server.token()}") as ws:
        assert json.loads(await ws.recv())["type"] == "welcome"
        proc = server.proc
        proc.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 10)
        assert info.value.rcvd.code == 1001
        assert await asyncio.to_thread(proc.wait, 15) == 0
    assert "Traceback" not in server.log()


async def test_heartbeat_drops_a_peer_that_never_answers_pings(start_server):
    server = start_server("--heartbeat-interval", "0.3", "--heartbeat-timeout", "0.3")
    watcher = LiveBridgeClient(server.url, name="Watcher")
    await watcher.connect()
    await watcher.join("hb")
    # A raw socket never answers pings (nobody reads it).
    sock = await asyncio.to_thread(stalled_client, server, server.token("Silent"), "hb")
    try:
        left = await watcher.wait_for(
            lambda e: e["type"] == "presence" and e["event"] == "diff"
            and "Silent" in [m["name"] for m in e["leaves"]],
            timeout=10)
        assert left["room"] == "hb"
    finally:
        sock.close()
        await watcher.close()
