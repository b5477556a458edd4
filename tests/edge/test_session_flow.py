"""The node's whole client-facing behaviour, in-process: frames in, frames out, milliseconds.

These drive :class:`chatserver.app.LiveBridge` over the memory engine with a fake
translator. What needs uvicorn, Redis or a browser is tested in tests/server, tests/cluster
and tests/web with real processes.
"""

from __future__ import annotations

import json

import msgpack

from chatserver import errors as E
from chatserver import protocol as p
from rooms.engine import EngineUnavailable, Member
from tests.edge.conftest import FakeTranslator, arrived, departed


async def test_welcome_states_the_limits_in_force(node):
    client = await node.connect("Ann")
    await client.send({"type": "ping"})  # the welcome was taken by connect(); read it again
    welcome = client.session.welcome()
    limits = welcome["limits"]
    s = node.bridge.settings
    assert limits["max_text_chars"] == s.max_text_chars
    assert limits["message_rate"] == s.rate_user and limits["message_burst"] == s.rate_user_burst
    assert limits["frame_rate"] == s.rate_frames and limits["frame_burst"] == s.rate_frames_burst
    assert welcome["translation"]["enabled"] is True
    assert welcome["user"] == {"id": client.user.id, "name": "Ann", "lang": "en", "kind": "member"}


async def test_join_send_ack_and_fan_out(node):
    ann = await node.joined("Ann", "lobby")
    bob = await node.joined("Bob", "lobby")
    diff = await ann.expect("presence", arrived(bob.user))
    assert {**bob.user.public(), "role": "member"} in diff["joins"] and diff["member_count"] == 2
    ack = await ann.request({"type": "send", "room": "lobby", "text": "hello", "client_msg_id": "c1"}, "ack")
    assert ack["status"] == "published" and ack["offset"] == 1 and ack["client_msg_id"] == "c1"
    for client in (ann, bob):
        message = await client.expect("message", offset=1)
        assert message["text"] == "hello" and message["author"]["id"] == ann.user.id
        assert message["author"]["role"] == "member" and message["lang"] == "en"
        assert message["client_msg_id"] == "c1" and message["epoch"] == ack["epoch"]


async def test_the_sender_gets_its_message_before_its_ack(node):
    ann = await node.joined("Ann", "lobby")
    await ann.send({"type": "send", "room": "lobby", "text": "first", "ref": 7})
    await ann.expect("ack", ref=7)
    assert [f["type"] for f in ann.sink.frames if f["type"] in ("message", "ack")] == ["message"]


async def test_a_retry_with_the_same_client_msg_id_is_acked_not_published_twice(node):
    ann = await node.joined("Ann", "lobby")
    first = await ann.request({"type": "send", "room": "lobby", "text": "hi", "client_msg_id": "x"}, "ack")
    again = await ann.request({"type": "send", "room": "lobby", "text": "hi", "client_msg_id": "x"}, "ack")
    assert again["status"] == "duplicate" and again["offset"] == first["offset"] and again["id"] == first["id"]
    page = await ann.request({"type": "history", "room": "lobby"}, "history")
    assert [e["offset"] for e in page["events"] if e["type"] == "message"] == [1]


async def test_history_pages_and_says_the_limit_it_applied(make_node):
    node = await make_node(translator=FakeTranslator(enabled=False))
    ann = await node.joined("Ann", "lobby")
    for i in range(5):
        await ann.request({"type": "send", "room": "lobby", "text": f"m{i}"}, "ack")
    page = await ann.request({"type": "history", "room": "lobby", "limit": 2}, "history")
    assert [e["text"] for e in page["events"]] == ["m3", "m4"] and page["has_more"] is True
    older = await ann.request({"type": "history", "room": "lobby", "limit": 2,
                               "before": page["events"][0]["offset"]}, "history")
    assert [e["text"] for e in older["events"]] == ["m1", "m2"]
    clamped = await ann.request({"type": "history", "room": "lobby", "limit": 5000}, "history")
    assert clamped["limit"] == 100 and len(clamped["events"]) == 5
    refused = await ann.error({"type": "history", "room": "lobby", "limit": 0})
    assert refused["code"] == E.INVALID_FRAME


async def test_recovery_by_offset_gets_exactly_what_was_missed(make_node):
    node = await make_node(translator=FakeTranslator(enabled=False))
    ann = await node.joined("Ann", "lobby")
    for i in range(3):
        await ann.request({"type": "send", "room": "lobby", "text": f"m{i}"}, "ack")
    joined = await ann.request({"type": "leave", "room": "lobby"}, "left")
    assert joined["reason"] == "left"
    bob = await node.joined("Bob", "lobby")
    for i in range(3, 6):
        await bob.request({"type": "send", "room": "lobby", "text": f"m{i}"}, "ack")
    back = await ann.request({"type": "join", "room": "lobby", "since": 3,
                              "epoch": (await bob.request({"type": "history", "room": "lobby"},
                                                          "history"))["epoch"]}, "joined")
    assert back["recovered"] is True
    assert [e["text"] for e in back["history"]] == ["m3", "m4", "m5"]
    wrong_epoch = await node.connect("Cy")
    stale = await wrong_epoch.request({"type": "join", "room": "lobby", "since": 3, "epoch": "other"}, "joined")
    assert stale["recovered"] is False


async def test_held_message_is_approved_and_published_under_its_client_msg_id(node):
    owner = await node.host("stage")
    await owner.request({"type": "moderate", "room": "stage", "action": "add_term",
                         "params": {"term": "spoiler", "action": "hold"}}, "moderated")
    ann = await node.joined("Ann", "stage")
    ack = await ann.request({"type": "send", "room": "stage", "text": "a spoiler here", "client_msg_id": "h1"},
                            "ack")
    assert ack["status"] == "held" and ack["hold_id"]
    review = await owner.expect("review", action="added")
    assert review["item"]["text"] == "a spoiler here"
    assert not ann.frames_of("review")  # members do not see the queue
    result = await node.bridge.chat.decide("stage", owner.user, ack["hold_id"], "approve")
    assert result["resolution"] == "approved"
    notice = await ann.expect("notice", code="held_approved")
    assert notice["id"] == ack["hold_id"]
    message = await ann.expect("message", client_msg_id="h1")
    assert message["text"] == "a spoiler here" and message["offset"] == result["offset"]


async def test_kick_and_ban_leave_the_room_and_a_ban_holds(node):
    owner = await node.host("stage")
    ann = await node.joined("Ann", "stage")
    await owner.expect("presence", arrived(ann.user))
    await owner.request({"type": "moderate", "room": "stage", "action": "kick",
                         "params": {"user_id": ann.user.id, "reason": "calm down"}}, "moderated")
    left = await ann.expect("left", reason="kicked")
    assert "calm down" in left["message"]
    await ann.settle()
    assert "stage" not in ann.session.rooms
    await owner.expect("presence", departed(ann.user))
    await ann.request({"type": "join", "room": "stage"}, "joined")  # a kick is not a ban
    await owner.request({"type": "moderate", "room": "stage", "action": "ban",
                         "params": {"user_id": ann.user.id}}, "moderated")
    await ann.expect("left", reason="banned")
    refused = await ann.error({"type": "join", "room": "stage"})
    assert refused["code"] == "banned" and refused["room"] == "stage"


async def test_a_member_may_not_moderate(node):
    owner = await node.host("stage")
    ann = await node.joined("Ann", "stage")
    refused = await ann.error({"type": "moderate", "room": "stage", "action": "kick",
                               "params": {"user_id": owner.user.id}})
    assert refused["code"] == "forbidden"


async def test_role_change_reaches_the_member_and_everyone_s_list(node):
    owner = await node.host("stage")
    ann = await node.joined("Ann", "stage")
    await owner.request({"type": "moderate", "room": "stage", "action": "add_moderator",
                         "params": {"user_id": ann.user.id}}, "moderated")
    assert (await ann.expect("role"))["role"] == "moderator"
    badge = await owner.expect("presence", event="role")
    assert badge["member"] == {"id": ann.user.id, "role": "moderator"}
    await ann.settle()
    assert ann.session.rooms["stage"].role == "moderator"
    members = await node.bridge.engine.presence.members("stage")
    assert {m.user_id: m.role for m in members}[ann.user.id] == "moderator"


async def test_a_join_records_a_host_with_its_role_and_a_banned_user_not_at_all(node):
    # Engine.enter records the guessed role only when the reads it rests on are absent: a
    # moderator rejoining is recorded as moderator, a banned user's join records nothing.
    owner = await node.host("stage")
    ann = await node.joined("Ann", "stage")
    bob = await node.joined("Bob", "stage")
    for action, user in (("add_moderator", ann.user), ("ban", bob.user)):
        await owner.request({"type": "moderate", "room": "stage", "action": action,
                             "params": {"user_id": user.id}}, "moderated")
    await bob.expect("left", reason="banned")
    await ann.request({"type": "leave", "room": "stage"}, "left")
    joined = await ann.request({"type": "join", "room": "stage"}, "joined")
    assert joined["role"] == "moderator"
    assert {m["id"]: m["role"] for m in joined["members"]}[ann.user.id] == "moderator"
    assert (await bob.error({"type": "join", "room": "stage"}))["code"] == "banned"
    members = await node.bridge.engine.presence.members("stage")
    assert {m.user_id: m.role for m in members} == {owner.user.id: "owner", ann.user.id: "moderator"}


async def test_timeout_tells_the_member_and_refuses_their_messages(node):
    owner = await node.host("stage")
    ann = await node.joined("Ann", "stage")
    await owner.request({"type": "moderate", "room": "stage", "action": "timeout",
                         "params": {"user_id": ann.user.id, "seconds": 60}}, "moderated")
    notice = await ann.expect("notice", code="timed_out")
    assert notice["until"] > 0
    refused = await ann.error({"type": "send", "room": "stage", "text": "hi"})
    assert refused["code"] == "timed_out" and refused["retry_after"] > 0


async def test_timeouts_and_bans_are_listed_with_names_and_can_be_lifted(node):
    owner = await node.host("stage")
    ann = await node.joined("Ann", "stage")
    bob = await node.joined("Bob", "stage")
    mod = lambda action, **params: owner.request(  # noqa: E731
        {"type": "moderate", "room": "stage", "action": action, "params": params}, "moderated")
    await mod("timeout", user_id=ann.user.id, seconds=600, reason="spam", name="Ann")
    await mod("ban", user_id=bob.user.id, reason="abuse", name="Bob")
    listed = (await mod("timeouts"))["result"]["timeouts"]
    assert set(listed) == {ann.user.id}
    assert listed[ann.user.id]["name"] == "Ann" and listed[ann.user.id]["reason"] == "spam"
    assert listed[ann.user.id]["until"] > 0
    bans = (await mod("bans"))["result"]["bans"]
    assert bans[bob.user.id]["name"] == "Bob" and bans[bob.user.id]["reason"] == "abuse"
    await mod("untimeout", user_id=ann.user.id, name="Ann")
    await ann.expect("notice", code="timeout_lifted")
    assert (await mod("timeouts"))["result"]["timeouts"] == {}
    await mod("unban", user_id=bob.user.id)
    assert (await mod("bans"))["result"]["bans"] == {}
    # The names reach the audit log; a member may not read either list.
    entries = await node.bridge.moderation.audit_log("stage", owner.user, 10)
    assert {"action": "timeout", "name": "Ann"} in [{"action": e["action"], "name": e["details"].get("name")}
                                                    for e in entries]
    refused = await ann.error({"type": "moderate", "room": "stage", "action": "timeouts", "params": {}})
    assert refused["code"] == "forbidden"


async def test_a_reply_carries_a_quote_and_mentions_through_history_and_recovery(node):
    ann = await node.joined("Ann", "lobby")
    bob = await node.joined("Bob", "lobby")
    first = await ann.request({"type": "send", "room": "lobby", "text": "who is on stage?"}, "ack")
    reply = await bob.request({"type": "send", "room": "lobby", "text": "@Ann, Hana is. cc @Bo @ann",
                               "reply_to": first["offset"]}, "ack")
    live = await ann.expect("message", offset=reply["offset"])
    assert live["reply"] == {"offset": first["offset"], "id": first["id"],
                             "author": {"id": ann.user.id, "name": "Ann"}, "text": "who is on stage?"}
    assert live["mentions"] == ["Ann", "Bo"]
    plain = await ann.request({"type": "send", "room": "lobby", "text": "mail me at a@b.c"}, "ack")
    assert "mentions" not in (await bob.expect("message", offset=plain["offset"]))
    # History and recovery carry the same fields.
    page = await bob.request({"type": "history", "room": "lobby"}, "history")
    [stored] = [e for e in page["events"] if e["offset"] == reply["offset"]]
    assert stored["reply"] == live["reply"] and stored["mentions"] == ["Ann", "Bo"]
    late = await node.connect("Cy")
    joined = await late.request({"type": "join", "room": "lobby", "since": first["offset"],
                                 "epoch": first["epoch"]}, "joined")
    assert [e.get("reply", {}).get("offset") for e in joined["history"] if e["type"] == "message"][0] == first["offset"]
    # A reply to nothing, or to a bad offset, is refused; the quote of a long text is cut.
    missing = await bob.error({"type": "send", "room": "lobby", "text": "hm", "reply_to": 999})
    assert missing["code"] == "not_found"
    bad = await bob.error({"type": "send", "room": "lobby", "text": "hm", "reply_to": "1"})
    assert bad["code"] == "invalid_frame"
    long = await ann.request({"type": "send", "room": "lobby", "text": "x" * 500}, "ack")
    await bob.request({"type": "send", "room": "lobby", "text": "ok", "reply_to": long["offset"]}, "ack")
    quoted = await ann.expect("message", lambda f: f.get("text") == "ok")
    assert len(quoted["reply"]["text"]) == 200 and quoted["reply"]["text"].endswith("…")


async def test_a_kicked_member_gets_the_reason_code_and_the_moderators_note(node):
    owner = await node.host("stage")
    ann = await node.joined("Ann", "stage")
    await owner.request({"type": "moderate", "room": "stage", "action": "kick",
                         "params": {"user_id": ann.user.id, "reason": "冷静一下"}}, "moderated")
    left = await ann.expect("left", reason="kicked")
    assert left["note"] == "冷静一下"


async def test_translation_follows_the_message_for_readers_of_the_other_language(node):
    ann = await node.joined("Ann", "lobby", "en")
    li = await node.joined("Li", "lobby", "zh")
    ack = await ann.request({"type": "send", "room": "lobby", "text": "hello there"}, "ack")
    translation = await li.expect("translation")
    assert translation["text"] == "[zh] hello there" and translation["message_offset"] == ack["offset"]
    assert translation["lang"] == "zh" and translation["source_lang"] == "en"
    assert translation["offset"] == ack["offset"] + 1
    await ann.settle()
    assert not ann.frames_of("translation")  # Ann reads English
    assert node.translator.calls == [("hello there", "en", "zh")]  # once, not per reader


async def test_traditional_readers_get_converted_translations_live_and_in_history(node):
    ann = await node.joined("Ann", "lobby", "en")
    li = await node.connect("Li", "zh")
    await li.request({"type": "set_lang", "lang": "zh", "script": "hant"}, "lang")
    await li.request({"type": "join", "room": "lobby"}, "joined")
    await ann.request({"type": "send", "room": "lobby", "text": "hello"}, "ack")
    node.translator.calls.clear()
    live = await li.expect("translation")
    assert live["script"] == "hant"
    page = await li.request({"type": "history", "room": "lobby"}, "history")
    assert [e.get("script") for e in page["events"] if e["type"] == "translation"] == ["hant"]


async def test_a_translation_that_cannot_be_made_is_said_to_be_unavailable(node):
    node.translator.fail.add("zh")
    ann = await node.joined("Ann", "lobby", "en")
    li = await node.joined("Li", "lobby", "zh")
    ack = await ann.request({"type": "send", "room": "lobby", "text": "hello"}, "ack")
    unavailable = await li.expect("translation_unavailable")
    assert unavailable["message_offset"] == ack["offset"] and "offset" not in unavailable


async def test_typing_is_passed_on_at_most_every_two_seconds(node):
    ann = await node.joined("Ann", "lobby")
    bob = await node.joined("Bob", "lobby")
    for _ in range(3):
        await ann.send({"type": "typing", "room": "lobby"})
    await bob.expect("presence", event="typing")
    await bob.settle()
    assert not [f for f in bob.frames_of("presence") if f["event"] == "typing"]
    assert not [f for f in ann.frames_of("presence") if f["event"] == "typing"]  # not echoed


async def test_a_users_second_connection_is_not_announced_twice(node):
    presence = node.bridge.chat.presence
    presence.interval = 3600.0  # flushed by hand, so each diff holds exactly what is asserted
    ann = await node.joined("Ann", "lobby")
    bob_user = node.user("Bob")
    bob1 = await node.connect(user=bob_user)
    await bob1.request({"type": "join", "room": "lobby"}, "joined")
    bob2 = await node.connect(user=bob_user)
    joined = await bob2.request({"type": "join", "room": "lobby"}, "joined")
    assert joined["member_count"] == 2
    await presence.flush_all()
    diff = await ann.expect("presence", event="diff")
    assert sorted(m["id"] for m in diff["joins"]) == sorted([ann.user.id, bob_user.id])
    await bob1.close()  # Bob is still here through bob2
    await presence.flush_all()
    await ann.settle()
    assert ann.frames_of("presence") == []
    await bob2.close()
    await presence.flush_all()
    diff = await ann.expect("presence", event="diff")
    assert [m["id"] for m in diff["leaves"]] == [bob_user.id] and diff["member_count"] == 1


async def test_presence_expiry_announces_users_who_are_gone(node):
    ann = await node.joined("Ann", "lobby")
    ghost = Member(conn_id="dead-conn", user_id="ghost", name="Ghost", lang="en", node="dead-node")
    await node.bridge.engine.presence.add("lobby", ghost)
    await node.bridge.engine.presence.remove("lobby", "dead-conn")
    await node.bridge.engine.presence.on_expired("lobby", [ghost])
    diff = await ann.expect("presence", lambda f: f.get("event") == "diff" and f["leaves"])
    assert [m["id"] for m in diff["leaves"]] == ["ghost"]
    # A user still present through another connection is not announced as gone.
    await node.bridge.engine.presence.on_expired("lobby", [Member("x", ann.user.id, "Ann", "en")])
    await ann.settle()
    assert not ann.frames_of("presence")


async def test_errors_name_their_code_and_ref(node):
    ann = await node.connect("Ann")
    cases = [
        ({"type": "send", "room": "lobby", "text": "hi"}, E.NOT_JOINED),
        ({"type": "explode"}, E.UNKNOWN_TYPE),
        ({"type": "join", "room": "Bad Room"}, E.INVALID_ROOM),
        ({"type": "join"}, E.INVALID_FRAME),
        ({"type": "send", "room": "lobby", "text": "x" * 2001}, E.TEXT_TOO_LONG),
    ]
    for frame, code in cases:
        error = await ann.error(frame)
        assert error["code"] == code, (frame, error)
        assert error["message"]
    await ann.request({"type": "join", "room": "lobby"}, "joined")
    assert (await ann.error({"type": "join", "room": "lobby"}))["code"] == E.ALREADY_JOINED
    await ann.send("{not json")
    assert (await ann.expect("error"))["code"] == E.BAD_FRAME
    await ann.send(b'{"type": "ping"}')  # a binary frame on the JSON subprotocol
    bad = await ann.expect("error")
    assert bad["code"] == E.BAD_FRAME and "text" in bad["message"]


async def test_msgpack_connections_get_msgpack_and_refuse_text(node):
    ann = await node.connect("Ann", codec=p.MSGPACK)
    await ann.send(msgpack.packb({"type": "join", "room": "lobby", "ref": 1}))
    assert (await ann.expect("joined"))["ref"] == 1
    await ann.send(json.dumps({"type": "ping"}))
    assert (await ann.expect("error"))["code"] == E.BAD_FRAME


async def test_too_many_frames_are_refused_with_retry_after(make_node):
    node = await make_node(rate_frames=1.0, rate_frames_burst=3.0)
    ann = await node.connect("Ann")
    for _ in range(3):
        await ann.request({"type": "ping"}, "pong")
    await ann.send({"type": "ping", "ref": 9})
    refused = await ann.expect("error")  # refused before it is read, so without its ref
    assert refused["code"] == E.RATE_LIMITED and 0 < refused["retry_after"] <= 1 and "ref" not in refused


async def test_rooms_per_connection_are_capped(make_node):
    node = await make_node(max_rooms_per_connection=2)
    ann = await node.connect("Ann")
    for room in ("a", "b"):
        await ann.request({"type": "join", "room": room}, "joined")
    assert (await ann.error({"type": "join", "room": "c"}))["code"] == E.TOO_MANY_ROOMS


async def test_no_auto_create_refuses_unknown_rooms(make_node):
    node = await make_node(auto_create_rooms=False)
    ann = await node.connect("Ann")
    assert (await ann.error({"type": "join", "room": "nowhere"}))["code"] == E.ROOM_NOT_FOUND


async def test_a_slow_consumer_is_aborted_without_slowing_the_room(make_node):
    node = await make_node(outbound_max_messages=5)
    ann = await node.joined("Ann", "lobby")
    slow = await node.joined("Slow", "lobby")
    slow.sink.writable = lambda: False  # this client stopped reading
    for i in range(10):
        await ann.request({"type": "send", "room": "lobby", "text": f"m{i}"}, "ack")
    assert slow.sink.aborted[0] == p.CLOSE_SLOW_CONSUMER
    await ann.expect("message", text="m9")


async def test_closing_a_session_leaves_its_rooms(node):
    ann = await node.joined("Ann", "lobby")
    bob = await node.joined("Bob", "lobby")
    await ann.expect("presence", arrived(bob.user))
    await bob.close()
    await ann.expect("presence", departed(bob.user))
    assert node.bridge.connections_of(bob.user.id) == 0
    assert [m.user_id for m in await node.bridge.engine.presence.members("lobby")] == [ann.user.id]


async def test_presence_changes_are_coalesced_into_one_diff(node):
    ann = await node.joined("Ann", "lobby")
    await ann.expect("presence", arrived(ann.user))
    node.bridge.chat.presence.interval = 3600.0  # flushed by hand below, not by the clock
    others = [await node.joined(f"V{i}", "lobby") for i in range(5)]
    gone = await node.joined("Gone", "lobby")
    await gone.close()  # joined and left within one interval: never announced
    await node.bridge.chat.presence.flush_all()
    diff = await ann.expect("presence", arrived(others[-1].user))
    assert sorted(m["name"] for m in diff["joins"]) == [f"V{i}" for i in range(5)]
    assert diff["member_count"] == 6


async def test_big_rooms_get_counts_not_names_and_no_typing(node):
    node.bridge.chat.presence.detail_max = 3
    node.bridge.chat.presence.count_interval = 0.02
    ann = await node.joined("Ann", "stage")
    viewers = [await node.joined(f"V{i}", "stage") for i in range(5)]
    diff = await ann.expect("presence", lambda f: f.get("member_count") == 6)
    assert diff["joins"] == [] and diff["leaves"] == []
    joined = await (await node.connect("Late")).request({"type": "join", "room": "stage"}, "joined")
    # Big rooms list members from a snapshot at most a second old: bounded, never empty.
    assert joined["member_count"] == 7 and 4 <= len(joined["members"]) <= 7
    await viewers[0].send({"type": "typing", "room": "stage"})
    await viewers[0].close()
    diff = await ann.expect("presence", lambda f: f.get("member_count") == 6)
    assert diff["leaves"] == []
    await ann.settle()
    assert not [f for f in ann.frames_of("presence") if f["event"] == "typing"]


async def test_the_member_list_is_paged_and_searchable(node):
    ann = await node.joined("Ann", "lobby")
    for name in ("Zoe", "Bob", "Bea", "Cy"):
        await node.joined(name, "lobby")
    page = await ann.request({"type": "members", "room": "lobby", "limit": 2}, "members")
    assert [m["name"] for m in page["members"]] == ["Ann", "Bea"] and page["total"] == 5
    await node.joined("Abe", "lobby")  # arrives before the next page, ahead in the order
    rest = await ann.request({"type": "members", "room": "lobby", "after": page["next"], "limit": 10}, "members")
    assert [m["name"] for m in rest["members"]] == ["Bob", "Cy", "Zoe"]  # nobody repeated or skipped
    assert "next" not in rest and rest["total"] == 6
    bad = await ann.error({"type": "members", "room": "lobby", "after": "not a cursor"})
    assert bad["code"] == E.INVALID_FRAME
    found = await ann.request({"type": "members", "room": "lobby", "query": "b"}, "members")
    assert [m["name"] for m in found["members"]] == ["Abe", "Bea", "Bob"] and found["total"] == 3
    assert (await ann.error({"type": "members", "room": "elsewhere"}))["code"] == E.NOT_JOINED


async def test_server_side_refusals_do_not_count_against_the_client(node):
    ann = await node.joined("Ann", "lobby")
    broker = node.bridge.engine.broker
    real_publish = broker.publish

    async def unavailable(*args, **kwargs):
        raise EngineUnavailable("redis is failing over")

    broker.publish = unavailable
    try:
        refused = await ann.error({"type": "send", "room": "lobby", "text": "hi"})
    finally:
        broker.publish = real_publish
    assert refused["code"] == E.UNAVAILABLE and ann.session.errors_sent == 0
    await ann.error({"type": "explode"})
    assert ann.session.errors_sent == 1


async def test_a_join_that_fails_half_way_leaves_nothing_behind(node):
    ann = await node.connect("Ann")
    chat = node.bridge.chat

    async def broken(*args, **kwargs):
        raise RuntimeError("history could not be read")

    chat.reader_translations = broken
    try:
        refused = await ann.error({"type": "join", "room": "lobby"})
    finally:
        del chat.reader_translations
    assert refused["code"] == E.INTERNAL
    assert "lobby" not in ann.session.rooms and not node.bridge.hub.members("lobby")
    assert await node.bridge.engine.presence.members("lobby") == []
    await ann.request({"type": "join", "room": "lobby"}, "joined")  # and it can try again
