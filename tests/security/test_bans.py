"""Finding 5 of issue 14 (bans): a banned guest took a new token and came back.

A ban may now hold the client address too (``"address": true``): a join from that address is
refused, whatever the token, for 24 h; hosts see the address masked in ``bans``. The clients
here come through a trusted proxy, each with an address of its own (X-Forwarded-For).
"""

from __future__ import annotations

import contextlib
import json
import urllib.request

from websockets.sync.client import connect

from tests.harness import ServerProcess

SUB = ["livebridge.v1.json"]


def token_from(node: ServerProcess, name: str, address: str) -> str:
    request = urllib.request.Request(node.url + "/api/token", data=json.dumps({"name": name}).encode(),
                                     method="POST", headers={"Content-Type": "application/json",
                                                             "X-Forwarded-For": address})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["token"]


@contextlib.contextmanager
def join_from(node: ServerProcess, token: str, address: str, room: str = "stage"):
    """(the connection, the reply to its join) of a client at ``address``."""
    with connect(f"{node.ws_url}?token={token}", subprotocols=SUB,
                 additional_headers={"X-Forwarded-For": address}) as ws:
        ws.recv(timeout=10)
        ws.send(json.dumps({"type": "join", "room": room, "ref": "j"}))
        while True:
            frame = json.loads(ws.recv(timeout=10))
            if frame.get("ref") == "j":
                yield ws, frame
                return


def moderate(node: ServerProcess, token: str, action: str, **params) -> dict:
    status, body = node.post("/api/rooms/stage/moderation", {"action": action, "params": params}, token=token)
    assert status == 200, body
    return body["result"]


def test_a_ban_can_hold_the_address_against_a_new_token(start_server):
    node = start_server("--trusted-proxies", "127.0.0.1")
    host = token_from(node, "Host", "198.51.100.1")
    assert node.post("/api/rooms", {"name": "stage"}, token=host)[0] == 201
    troll = token_from(node, "Troll", "203.0.113.5")
    with join_from(node, host, "198.51.100.1"), join_from(node, troll, "203.0.113.5") as (_, joined):
        assert joined["type"] == "joined"
        troll_id = next(m["id"] for m in node.get("/api/rooms/stage")[1]["members"] if m["name"] == "Troll")
        result = moderate(node, host, "ban", user_id=troll_id, reason="spam", address=True)
        assert result == {"user_id": troll_id, "address": "203.0.113.x"}
    # back with a fresh identity from the same address: refused
    with join_from(node, token_from(node, "Troll2", "203.0.113.5"), "203.0.113.5") as (_, refused):
        assert refused["type"] == "error" and refused["code"] == "banned", refused
    # someone else still gets in
    with join_from(node, token_from(node, "Fan", "192.0.2.9"), "192.0.2.9") as (_, ok):
        assert ok["type"] == "joined"
    bans = moderate(node, host, "bans")["bans"]
    assert bans[troll_id]["address"] == "203.0.113.x" and "203.0.113.5" not in json.dumps(bans)
    # a ban without the address holds the user only (as before)
    assert "address" not in moderate(node, host, "ban", user_id="g_nobody")
    assert "address" not in moderate(node, host, "bans")["bans"]["g_nobody"]
    # lifting the ban lifts its address part
    assert moderate(node, host, "unban", user_id=troll_id)["removed"] is True
    with join_from(node, token_from(node, "Troll3", "203.0.113.5"), "203.0.113.5") as (_, back):
        assert back["type"] == "joined", back
    status, body = node.post("/api/rooms/stage/moderation",
                             {"action": "ban", "params": {"user_id": troll_id, "address": "yes"}}, token=host)
    assert status == 422 and body["error"]["code"] == "invalid"
