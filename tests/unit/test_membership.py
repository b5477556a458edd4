"""A membership holds live events while its join reads history, then drops what history had."""

from chatserver.membership import Membership
from rooms.hub import Encoded


class FakeSession:
    codec = "json"
    conn_id = "c1"
    read_lang = "zh"
    script = "hans"

    def __init__(self):
        self.pushed = []
        self.controls = []
        self.user = type("U", (), {"id": "u1"})()
        self.outbound = self  # fan-out pushes straight to the connection's queue


    def push(self, frame):
        self.pushed.append(frame)

    def on_moderation_event(self, membership, event):
        self.controls.append(event)


def deliver(m, event):
    m.deliver("r", event, Encoded(event, lambda e, codec: e))


def test_events_during_join_wait_and_history_duplicates_are_dropped():
    session = FakeSession()
    m = Membership(session, "r", "member")
    for offset in (4, 5, 6):
        deliver(m, {"type": "message", "offset": offset})
    deliver(m, {"type": "presence", "event": "join", "conn": "other"})
    assert session.pushed == []
    m.go_live(after_offset=5)  # history (and the joined frame) covered up to 5
    assert [f.get("offset") for f in session.pushed] == [6, None]
    deliver(m, {"type": "message", "offset": 6})  # a duplicate after going live
    deliver(m, {"type": "message", "offset": 7})
    assert [f.get("offset") for f in session.pushed] == [6, None, 7]


def test_routing_by_kind():
    session = FakeSession()
    m = Membership(session, "r", "member")
    m.go_live(0)
    deliver(m, {"type": "review", "action": "added"})  # moderators only
    deliver(m, {"type": "translation", "lang": "en", "offset": 1})  # not this reader's language
    deliver(m, {"type": "translation", "lang": "zh", "offset": 2})
    deliver(m, {"type": "presence", "event": "typing", "conn": "c1"})  # own typing is not echoed
    deliver(m, {"type": "control", "action": "kick", "user_id": "u1"})
    assert [f["type"] for f in session.pushed] == ["translation"]
    # Review events reach non-moderators only through the gate (which tells authors the
    # outcome of their held messages); control events always go to the gate.
    assert [c["type"] for c in session.controls] == ["review", "control"]
    moderator = Membership(session, "r", "moderator")
    moderator.go_live(0)
    deliver(moderator, {"type": "review", "action": "added"})
    assert session.pushed[-1]["type"] == "review"


def test_a_new_epoch_on_the_live_stream_restarts_offsets():
    session = FakeSession()
    m = Membership(session, "r", "member")
    m.go_live(after_offset=40, epoch="old")
    deliver(m, {"type": "message", "offset": 41, "epoch": "old"})
    deliver(m, {"type": "message", "offset": 1, "epoch": "new"})  # history lost, offsets restart
    deliver(m, {"type": "message", "offset": 2, "epoch": "new"})
    deliver(m, {"type": "message", "offset": 2, "epoch": "new"})
    assert [(f["offset"], f["epoch"]) for f in session.pushed] == [(41, "old"), (1, "new"), (2, "new")]


async def test_an_ack_waits_for_its_own_message_on_the_fast_path_too():
    session = FakeSession()
    acks = []
    session.send = acks.append
    m = Membership(session, "r", "member")
    m.go_live(after_offset=0, epoch="e")
    deliver(m, {"type": "message", "offset": 1, "epoch": "e"})
    m.ack_after(2, "e", {"type": "ack", "offset": 2})  # its message is not here yet
    assert acks == []
    deliver(m, {"type": "message", "offset": 2, "epoch": "e"})
    assert acks == [{"type": "ack", "offset": 2}]
    deliver(m, {"type": "message", "offset": 2, "epoch": "e"})  # twice: dropped
    deliver(m, {"type": "message", "offset": 3, "epoch": "e"})
    assert [f["offset"] for f in session.pushed] == [1, 2, 3]
