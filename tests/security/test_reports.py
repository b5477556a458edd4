"""Finding 5 of issue 14 (reports): report spam cannot wipe the audit log.

Before the fix guest tokens were free and the report limit was per user only: 100 fresh
guests filed 500 reports in 0.9 s, and since reports shared the 1,000-entry audit log with
moderation actions, the real history (bans included) was evicted within seconds. Now reports
(and filter hits) go to a bounded log of their own ("flags"), reports are limited per user
and per room and once per (reporter, message), banned users cannot report, and
``POST /reports`` needs a room that exists.
"""

from __future__ import annotations

import json
import time

from websockets.sync.client import connect

from moderation.ratelimit import ROOM_REPORT_BURST, ROOM_REPORT_RATE
from tests.harness import ServerProcess
from tests.security.conftest import ask

GUESTS = 100
MESSAGES = 5


async def test_a_hundred_fresh_guests_cannot_push_a_ban_out_of_the_audit_log(node):
    moderation = node.bridge.moderation.moderation
    moderation.audit_maxlen = 100  # a small log: 100 guests x 5 reports would fill it 5 times
    owner = node.user("Olga", kind="guest")
    await node.bridge.chat.create_room("show", title=None, owner=owner)
    host = await node.joined("Olga", "show", user=owner)
    offsets = [(await ask(host, {"type": "send", "room": "show", "text": f"line {i}"}, "ack"))["offset"]
               for i in range(MESSAGES)]
    await ask(host, {"type": "moderate", "room": "show", "action": "ban",
                     "params": {"user_id": "u-spammer", "reason": "spam"}}, "moderated")

    started = time.monotonic()
    accepted = limited = 0
    for i in range(GUESTS):
        guest = await node.joined(f"G{i}", "show", kind="guest")
        for offset in offsets:
            reply = await ask(guest, {"type": "report", "room": "show", "offset": offset,
                                      "reason": "spam"}, None)
            if reply["type"] == "reported":
                accepted += 1
            else:
                assert reply["code"] == "rate_limited", reply
                limited += 1
        if i == 0:
            # One report per (reporter, message): the same report again is a duplicate.
            again = await ask(guest, {"type": "report", "room": "show", "offset": offsets[0]}, "reported")
            assert again["result"]["duplicate"] is True
        await guest.close()
    elapsed = time.monotonic() - started

    assert accepted + limited == GUESTS * MESSAGES
    assert accepted <= ROOM_REPORT_BURST + ROOM_REPORT_RATE * elapsed + 1, (accepted, elapsed)
    actor = moderation_actor(owner)
    assert [e["action"] for e in await moderation.audit_log("show", actor, log="audit")] == ["ban"]
    flags = await moderation.audit_log("show", actor, limit=1000, log="flags")
    assert len(flags) == accepted <= moderation.audit_maxlen
    # What the HTTP route shows (both logs, newest first): the ban is on the page however
    # many reports came after it.
    page = await moderation.audit_log("show", actor, limit=10)
    assert len(page) == 10 and "ban" in [e["action"] for e in page] and accepted > 10


def moderation_actor(user):
    from chatserver.moderation_gate import actor_of

    return actor_of(user)


def _post_message(node: ServerProcess, token: str, room: str) -> int:
    with connect(f"{node.ws_url}?token={token}", subprotocols=["livebridge.v1.json"]) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
        ws.send(json.dumps({"type": "join", "room": room, "ref": "j"}))
        ws.send(json.dumps({"type": "send", "room": room, "text": "hello", "ref": "s"}))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            frame = json.loads(ws.recv(timeout=10))
            if frame.get("type") == "ack":
                return frame["offset"]
            assert frame.get("type") != "error", frame
    raise AssertionError("no ack")


def test_http_reports_need_a_room_that_exists_and_a_reporter_not_banned(start_server):
    node = start_server()
    owner = node.token("Olga")
    assert node.post("/api/rooms", {"name": "show", "title": "Show"}, token=owner)[0] == 201
    offset = _post_message(node, owner, "show")
    status, body = node.post("/api/token", {"name": "Spam"})
    spammer, spammer_id = body["token"], body["user"]["id"]
    assert node.post("/api/rooms/show/moderation", {"action": "ban", "params": {"user_id": spammer_id}},
                     token=owner)[0] == 200
    status, body = node.post("/api/rooms/show/reports", {"offset": offset}, token=spammer)
    assert (status, body["error"]["code"]) == (403, "forbidden"), body
    status, body = node.post("/api/rooms/nowhere/reports", {"offset": 1}, token=owner)
    assert (status, body["error"]["code"]) == (404, "room_not_found"), body
    assert node.post("/api/rooms/show/reports", {"offset": offset}, token=node.token("Ann"))[0] == 201
