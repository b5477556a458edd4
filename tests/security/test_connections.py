"""Finding 6 of issue 14 (connections): no header or handshake timeout (300 half-open
sockets stayed 18 s+) and no per-address or global connection cap.

Now a connection that has not sent a whole request head within --handshake-timeout is
closed; past --max-connections a new connection gets HTTP 503, past
--max-connections-per-address from one address HTTP 429 (WebSockets through
--trusted-proxies: by their forwarded address, close 4429).
"""

from __future__ import annotations

import json
import re
import socket
import time

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.harness import ServerProcess, http_parsers

SUB = ["livebridge.v1.json"]
TIMEOUT = 2.0


@pytest.mark.parametrize("parser", http_parsers())
def test_half_open_sockets_are_closed_within_the_handshake_timeout(start_server, parser):
    node: ServerProcess = start_server("--handshake-timeout", str(TIMEOUT), "--http-parser", parser,
                                       "--max-connections-per-address", "1000")
    socks = []
    for i in range(300):
        sock = socket.create_connection(("127.0.0.1", node.port), timeout=10)
        if i % 3 == 1:  # a request head that never ends
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        elif i % 3 == 2:  # an upgrade that never ends
            sock.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
        socks.append(sock)
    opened = time.monotonic()
    assert node.get("/healthz")[0] == 200  # a bystander is served meanwhile
    for sock in socks:
        sock.settimeout(max(0.1, opened + TIMEOUT + 8 - time.monotonic()))
        try:
            assert sock.recv(1024) == b""  # closed, nothing said
        except (ConnectionResetError, socket.timeout) as exc:
            assert not isinstance(exc, socket.timeout), "a half-open socket was not closed in time"
        sock.close()
    closed_after = time.monotonic() - opened
    assert closed_after < TIMEOUT + 8, closed_after
    # a client that speaks is not cut off by the timeout: a WebSocket, and an HTTP client
    # keeping its connection alive (under the keep-alive timeout, 5 s by default)
    token = node.token()
    with connect(f"{node.ws_url}?token={token}", subprotocols=SUB) as ws, \
            socket.create_connection(("127.0.0.1", node.port), timeout=10) as http:
        ws.recv(timeout=10)
        assert _healthz_on(http).startswith(b"HTTP/1.1 200")
        time.sleep(TIMEOUT + 0.5)  # longer than the handshake timeout, on purpose
        ws.send(json.dumps({"type": "ping", "ref": 1}))
        assert json.loads(ws.recv(timeout=10))["type"] == "pong"
        assert _healthz_on(http).startswith(b"HTTP/1.1 200")  # the same connection, kept


def _healthz_on(sock: socket.socket) -> bytes:
    """GET /healthz on an open connection: the whole answer (head and its Content-Length)."""
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < int(
            re.search(rb"(?i)content-length: *(\d+)", answer)[1]):
        chunk = sock.recv(65536)
        assert chunk, f"closed after {answer!r}"
        answer += chunk
    return answer


def _from(source: str, port: int) -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


@pytest.mark.parametrize("parser", http_parsers())
def test_connection_caps_refuse_with_a_clear_status(start_server, parser):
    node = start_server("--max-connections", "8", "--max-connections-per-address", "3",
                        "--handshake-timeout", "30", "--http-parser", parser)
    held = [_from("127.0.0.2", node.port) for _ in range(3)]
    extra = _from("127.0.0.2", node.port)
    extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = extra.recv(4096)
    assert answer.startswith(b"HTTP/1.1 429") and b"too_many_connections" in answer, answer
    held += [_from(f"127.0.0.{3 + i // 3}", node.port) for i in range(4)]  # 7 open, the healthz 8th
    assert node.get("/healthz")[0] == 200
    held.append(_from("127.0.0.9", node.port))  # the 8th
    over = _from("127.0.0.10", node.port)
    over.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = over.recv(4096)
    assert answer.startswith(b"HTTP/1.1 503") and b"too_many_connections" in answer, answer
    with pytest.raises(InvalidStatus) as refused:  # a WebSocket client reads the status too
        connect(node.ws_url, subprotocols=SUB, open_timeout=10)
    assert refused.value.response.status_code == 503
    for sock in held:
        sock.close()
    deadline = time.monotonic() + 10  # freed as they close
    while node.request("GET", "/healthz")[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert node.get("/healthz")[0] == 200


def test_websockets_through_a_trusted_proxy_are_capped_by_forwarded_address(start_server):
    node = start_server("--trusted-proxies", "127.0.0.1", "--max-connections-per-address", "2")
    token = node.token()
    headers = {"X-Forwarded-For": "198.51.100.7"}
    with connect(f"{node.ws_url}?token={token}", subprotocols=SUB, additional_headers=headers) as a, \
            connect(f"{node.ws_url}?token={token}", subprotocols=SUB, additional_headers=headers) as b:
        a.recv(timeout=10), b.recv(timeout=10)
        with connect(f"{node.ws_url}?token={token}", subprotocols=SUB, additional_headers=headers) as c:
            frame = json.loads(c.recv(timeout=10))
            assert frame["code"] == "too_many_connections", frame
        assert c.close_code == 4429
        # another client behind the same proxy is not affected
        with connect(f"{node.ws_url}?token={token}", subprotocols=SUB,
                     additional_headers={"X-Forwarded-For": "198.51.100.8"}) as d:
            welcome = json.loads(d.recv(timeout=10))
            assert welcome["type"] == "welcome"
            assert welcome["limits"]["max_connections_per_address"] == 2
