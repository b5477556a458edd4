"""Finding 3 of issue 14: a chunked body is capped while it streams.

Before the fix a 200 MiB chunked POST to /api/token (no login needed while guests are on) was
read whole before the size check: the node grew from 124 to 331 MB before answering 413. Now
the body is counted as it arrives and refused at 64 KiB: the node's RSS moves by less than
5 MB and the answer is 413, long before the client could send 200 MiB.
"""

from __future__ import annotations

import json
import select
import socket
import time

import pytest

from chatserver.http_api import MAX_BODY
from tests.harness import ServerProcess

TOTAL = 200 * 1024 * 1024
CHUNK = 64 * 1024


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def chunked_post(port: int, path: str, total: int, *, deadline: float) -> tuple[int, bytes, int]:
    """POST ``total`` bytes in chunks; stop as soon as the server answers. Returns the
    status, the response and how many body bytes were sent."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setblocking(False)
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    piece = f"{CHUNK:x}\r\n".encode() + b"[" * CHUNK + b"\r\n"
    pending, sent, response = head, 0, b""
    try:
        while time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock] if sent < total else [], [], 0.2)
            if readable:
                try:
                    data = sock.recv(65536)
                except ConnectionError:
                    data = b""
                response += data
                if not data or b"\r\n\r\n" in response:
                    break
            if writable:
                if not pending:
                    pending, sent = piece, sent + CHUNK
                try:
                    pending = pending[sock.send(pending):]
                except (BlockingIOError, InterruptedError):
                    pass
                except ConnectionError:
                    break
        # read the rest of the response (headers and a small JSON body)
        end = time.monotonic() + 5
        while b"\r\n\r\n" not in response or not response.rstrip().endswith(b"}"):
            if time.monotonic() > end or not select.select([sock], [], [], 0.2)[0]:
                break
            try:
                data = sock.recv(65536)
            except ConnectionError:
                break
            if not data:
                break
            response += data
    finally:
        sock.close()
    status = int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else 0
    return status, response, sent


@pytest.fixture(scope="module")
def node():
    server = ServerProcess().start()
    yield server
    server.stop()


def test_a_200_mib_chunked_body_is_refused_as_it_streams(node):
    pid = node.proc.pid
    node.token()  # warm the route
    before = rss_kb(pid)
    status, response, sent = chunked_post(node.port, "/api/token", TOTAL, deadline=time.monotonic() + 30)
    after = rss_kb(pid)
    assert status == 413, response[:500]
    assert json.loads(response.split(b"\r\n\r\n", 1)[1] or b"{}")["error"]["code"] == "too_large"
    assert sent > MAX_BODY  # the body really passed the cap before the answer
    assert after - before < 5 * 1024, f"RSS grew by {(after - before) / 1024:.1f} MB"
    # The node still serves.
    assert node.post("/api/token", {"name": "Ann"})[0] == 201


def test_a_declared_length_over_the_cap_is_refused_before_reading(node):
    status, body = node.request("POST", "/api/token", raw=b'{"name": "Ann"}' + b" " * (2 * MAX_BODY))
    assert status == 413 and body["error"]["code"] == "too_large"
