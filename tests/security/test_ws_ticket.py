"""Finding 6 of issue 14 (tokens in URLs): the web client put its token in ``/ws?token=``, so
the documented nginx set-up logged tokens.

Now a browser trades its token for a one-time ticket (POST /api/ws-ticket) and opens
``/ws?ticket=``: the ticket works once, on any node sharing the Redis, expires unused after
30 s, is redacted from logs like a token, and a user gets only so many. ``?token=`` and the
Authorization header still work for other clients.
"""

from __future__ import annotations

import json
import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.harness import ServerProcess

SUB = ["livebridge.v1.json"]


def first_frame(url: str, **kw) -> tuple[dict, int | None]:
    with connect(url, subprotocols=SUB, **kw) as ws:
        frame = json.loads(ws.recv(timeout=10))
        if frame["type"] == "welcome":
            return frame, None
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
        return frame, ws.close_code


def ticket(node: ServerProcess, token: str) -> str:
    status, body = node.post("/api/ws-ticket", token=token)
    assert status == 201 and body["expires_in"] == 30, body
    return body["ticket"]


@pytest.fixture
def two_nodes(start_server, redis_server):
    return [start_server("--redis-url", redis_server.url, "--secret", "s" * 32, "--allow-guests", "--log-level", "debug")
            for _ in range(2)]


def test_a_ticket_opens_one_connection_on_any_node_and_stays_out_of_logs(two_nodes):
    a, b = two_nodes
    token = a.token("Tia")
    t = ticket(a, token)
    welcome, _ = first_frame(f"{b.ws_url}?ticket={t}")  # issued by a, spent on b
    assert welcome["user"]["name"] == "Tia"
    for node in (a, b):  # spent: not again, on either node
        frame, code = first_frame(f"{node.ws_url}?ticket={t}")
        assert frame["code"] == "unauthorized" and code == 4401, frame
    assert first_frame(f"{a.ws_url}?ticket={'x' * 32}")[1] == 4401
    # the other ways in still work
    assert first_frame(f"{a.ws_url}?token={token}")[0]["type"] == "welcome"
    assert first_frame(a.ws_url, additional_headers={"Authorization": f"Bearer {token}"})[0]["type"] == "welcome"
    deadline = time.monotonic() + 10
    while f"/ws?ticket=***" not in b.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "ticket=***" in b.log() and t not in b.log() and t not in a.log()


def test_tickets_need_a_token_are_bounded_per_user_and_expire_in_redis(two_nodes, redis_server):
    a, _ = two_nodes
    status, body = a.post("/api/ws-ticket")
    assert status == 401 and body["error"]["code"] == "unauthorized"
    token = a.token("Ula")
    statuses = [a.post("/api/ws-ticket", token=token)[0] for _ in range(14)]
    assert statuses[:10] == [201] * 10 and 429 in statuses[10:], statuses
    keys = [k for k in redis_server.cli("--scan", "--pattern", "lb:{~ticket.*").split() if k]
    assert 10 <= len(keys) <= 14, keys
    for key in keys:  # each ticket a key of its own, gone 30 s after it was made
        assert 0 < int(redis_server.cli("pttl", key)) <= 30_000, key
