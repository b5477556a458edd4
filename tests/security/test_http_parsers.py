"""The HTTP edge keeps its checks under either of uvicorn's parsers (``--http-parser``).

httptools (uvicorn's C parser, a dependency) is what ``auto`` chooses; h11 is uvicorn's own. Under each: a bad upgrade (a body, Transfer-Encoding) and a malformed request
get 400 at once; another Host gets 400 ``host_not_allowed`` (request and upgrade); another
Origin 403 before the upgrade; a bad token 4401; an upgraded connection counts against
``--max-connections`` until it closes; and a good token joins a room. The handshake timeout
and the caps on plain sockets: tests/security/test_connections.py, for both parsers too.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.harness import ServerProcess, http_parsers
from tests.security.test_hosts import get, raw_request, upgrade

SUB = ["livebridge.v1.json"]


@pytest.fixture(scope="module", params=http_parsers())
def node(request):
    """A node with this parser, serving only its own Host."""
    node = ServerProcess()
    node.args += ["--http-parser", request.param, "--public-hosts", f"127.0.0.1:{node.port}",
                  "--max-connections", "6"]
    node.start()
    yield node
    node.stop()


def _exchange(node: ServerProcess, data: bytes) -> bytes:
    """Send ``data``; everything the node answers until it closes (10 s at the most)."""
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize("extra,body", [
    (b"Content-Length: 5\r\n", b"hello"),
    (b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n"),
])
def test_an_upgrade_with_a_body_gets_400(node, extra, body):
    answer = _exchange(node, b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                             b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                             b"Sec-WebSocket-Version: 13\r\n%s\r\n%s" % (node.port, extra, body))
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer
    assert json.loads(payload)["error"]["code"] == "bad_request", answer


def test_a_malformed_request_gets_400(node):
    answer = _exchange(node, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 "), answer


def test_another_host_is_refused_on_requests_and_upgrades(node):
    for status, data in (get(node, "/healthz", "evil.example"), upgrade(node, "evil.example", node.token())):
        assert status == 400 and b"host_not_allowed" in data, data[:300]
    assert get(node, "/healthz", f"127.0.0.1:{node.port}")[0] == 200
    assert upgrade(node, f"127.0.0.1:{node.port}", node.token())[0] == 101


def test_another_origin_is_refused_before_the_upgrade(node):
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{node.ws_url}?token={node.token()}", subprotocols=SUB, origin="http://evil.example",
                open_timeout=10)
    assert refused.value.response.status_code == 403


def test_a_bad_token_gets_4401_and_a_good_one_joins(node):
    with connect(f"{node.ws_url}?token=not-a-token", subprotocols=SUB, open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["code"] == "unauthorized"
    assert ws.close_code == 4401
    with connect(f"{node.ws_url}?token={node.token()}", subprotocols=SUB, open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
        ws.send(json.dumps({"type": "join", "room": "parsers", "ref": 1}))
        frame = json.loads(ws.recv(timeout=10))
        while frame["type"] != "joined":  # (a presence frame may come first)
            assert frame["type"] != "error", frame
            frame = json.loads(ws.recv(timeout=10))
        assert frame["room"] == "parsers", frame


def test_upgraded_connections_count_until_they_close(node):
    token = node.token()
    with contextlib.ExitStack() as stack:
        held = [stack.enter_context(connect(f"{node.ws_url}?token={token}", subprotocols=SUB,
                                            open_timeout=10)) for _ in range(6)]
        for ws in held:
            ws.recv(timeout=10)  # welcome: each is upgraded and served
        with pytest.raises(InvalidStatus) as refused:  # the 7th, past --max-connections 6
            connect(f"{node.ws_url}?token={token}", subprotocols=SUB, open_timeout=10)
        assert refused.value.response.status_code == 503
        held[0].close()
        deadline = time.monotonic() + 10  # freed once the node sees it closed
        while raw_request(node, f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{node.port}\r\n"
                                "Connection: close\r\n\r\n")[0] != 200:
            assert time.monotonic() < deadline, "a closed WebSocket still counted"
            time.sleep(0.05)
