"""Moderation service over a real engine, actor and target on different nodes."""

from __future__ import annotations

import asyncio

import pytest

from moderation.service import Actor, ModerationError
from tests.moderation.conftest import ADMIN, BOB, CAROL, GUEST, MOD, MOD2, OWNER, ROOM, post


def controls(events, action=None):
    return [e for e in events if e.get("type") == "control" and (action is None or e["action"] == action)]


async def test_roles_are_shared_between_nodes(nodes):
    assert await nodes.b.role_of(ROOM, OWNER) == "owner"
    assert await nodes.b.role_of(ROOM, MOD) == "moderator"
    assert await nodes.a.role_of(ROOM, MOD2) == "moderator"
    assert await nodes.a.role_of(ROOM, BOB) == "member"
    assert await nodes.a.role_of(ROOM, GUEST) == "guest"
    assert await nodes.a.role_of(ROOM, ADMIN) == "admin"
    assert not await nodes.b.set_owner(ROOM, BOB.user_id)  # the first owner stays


@pytest.mark.parametrize("actor,action,params", [
    (BOB, "ban", {"user_id": CAROL.user_id}),
    (GUEST, "timeout", {"user_id": BOB.user_id, "seconds": 5}),
    (MOD, "ban", {"user_id": OWNER.user_id}),
    (MOD, "kick", {"user_id": MOD2.user_id}),
    (MOD, "timeout", {"user_id": MOD2.user_id, "seconds": 5}),
    (MOD, "add_moderator", {"user_id": BOB.user_id}),
    (MOD, "set_limits", {"user_burst": 2}),
    (OWNER, "ban", {"user_id": OWNER.user_id}),
    (OWNER, "add_term", {"term": "spam", "scope": "global"}),
    (BOB, "add_term", {"term": "spam"}),
    (BOB, "lock", {}),
    (BOB, "slow_mode", {"seconds": 3}),
])
async def test_members_without_permission_are_refused(nodes, actor, action, params):
    with pytest.raises(ModerationError) as err:
        await nodes.b.act(ROOM, actor, action, params)
    assert err.value.code == "forbidden"
    assert controls(nodes.events) == []


async def test_invalid_and_unknown_actions(nodes):
    for action, params in [("explode", {}), ("timeout", {"user_id": BOB.user_id, "seconds": -1}),
                           ("ban", {}), ("slow_mode", {"seconds": "x"}),
                           ("add_term", {"term": "x", "action": "nuke"}), ("delete", {})]:
        with pytest.raises(ModerationError) as err:
            await nodes.a.act(ROOM, OWNER, action, params)
        assert err.value.code == "invalid", action


async def test_ban_holds_on_every_node_and_survives_reconnect(nodes):
    result = await nodes.a.act(ROOM, MOD, "ban", {"user_id": BOB.user_id, "reason": "spam"})
    assert result == {"user_id": BOB.user_id}
    assert controls(nodes.events, "ban") == [{
        "type": "control", "room": ROOM, "action": "ban", "user_id": BOB.user_id,
        "reason": "spam", "until": None, "disconnect": True, "by": MOD.user_id}]
    for node in (nodes.a, nodes.b):
        d = await node.check_join(ROOM, BOB)
        assert (d.action, d.code) == ("reject", "banned")
        d = await node.check_send(ROOM, BOB, "hello", conn_id="new-conn")
        assert (d.action, d.code) == ("reject", "banned")
    await nodes.b.act(ROOM, MOD2, "unban", {"user_id": BOB.user_id})
    assert (await nodes.a.check_join(ROOM, BOB)).action == "allow"
    assert (await nodes.a.check_send(ROOM, BOB, "hello again", conn_id="c")).action == "allow"


async def test_timeout_mutes_across_nodes_then_expires(nodes):
    r = await nodes.a.act(ROOM, MOD, "timeout", {"user_id": BOB.user_id, "seconds": 0.3})
    [event] = controls(nodes.events, "timeout")
    assert event["until"] == r["until"] and event["disconnect"] is False
    d = await nodes.b.check_send(ROOM, BOB, "hi", conn_id="c2")
    assert d.code == "timed_out" and 0 < d.retry_after <= 0.3
    assert (await nodes.b.check_join(ROOM, BOB)).action == "allow"  # muted, not banned
    await asyncio.sleep(0.35)
    assert (await nodes.b.check_send(ROOM, BOB, "hi", conn_id="c2")).action == "allow"
    await nodes.a.act(ROOM, MOD, "timeout", {"user_id": BOB.user_id, "seconds": 60})
    await nodes.b.act(ROOM, MOD2, "untimeout", {"user_id": BOB.user_id})
    assert (await nodes.a.check_send(ROOM, BOB, "back", conn_id="c2")).action == "allow"


async def test_kick_emits_disconnect_control(nodes):
    await nodes.b.act(ROOM, OWNER, "kick", {"user_id": MOD.user_id, "reason": "bye"})
    [event] = controls(nodes.events, "kick")
    assert event["user_id"] == MOD.user_id and event["disconnect"] is True
    assert (await nodes.a.check_join(ROOM, MOD)).action == "allow"  # kick is not a ban


async def test_lock_lets_only_moderators_post(nodes):
    await nodes.a.act(ROOM, MOD, "lock", {})
    [settings] = [e for e in nodes.events if e["type"] == "room_settings"]
    assert settings["locked"] is True and settings["slow_mode"] == 0.0 and settings["offset"] >= 1
    assert (await nodes.b.check_send(ROOM, BOB, "hi", conn_id="c")).code == "room_locked"
    assert (await nodes.b.check_send(ROOM, MOD2, "hi", conn_id="m")).action == "allow"
    await nodes.b.act(ROOM, MOD2, "unlock", {})
    assert (await nodes.a.check_send(ROOM, BOB, "hi", conn_id="c")).action == "allow"
    assert (await nodes.a.room_settings(ROOM))["locked"] is False


async def test_slow_mode_across_nodes(nodes):
    await nodes.a.act(ROOM, MOD, "slow_mode", {"seconds": 0.4})
    assert (await nodes.a.check_send(ROOM, BOB, "one", conn_id="c1")).action == "allow"
    d = await nodes.b.check_send(ROOM, BOB, "two", conn_id="c2")
    assert d.code == "slow_mode" and 0 < d.retry_after <= 0.4
    assert (await nodes.b.check_send(ROOM, CAROL, "mine", conn_id="c3")).action == "allow"
    assert (await nodes.b.check_send(ROOM, MOD2, "a", conn_id="m")).action == "allow"
    assert (await nodes.b.check_send(ROOM, MOD2, "b", conn_id="m")).action == "allow"
    await asyncio.sleep(0.45)
    assert (await nodes.b.check_send(ROOM, BOB, "three", conn_id="c2")).action == "allow"


async def test_blocked_message_does_not_use_up_slow_mode(nodes):
    await nodes.a.act(ROOM, MOD, "add_term", {"term": "badword", "action": "block"})
    await nodes.a.act(ROOM, MOD, "slow_mode", {"seconds": 30})
    assert (await nodes.b.check_send(ROOM, BOB, "badword", conn_id="c")).code == "blocked_term"
    assert (await nodes.a.check_send(ROOM, BOB, "sorry", conn_id="c")).action == "allow"


async def test_rate_limits_are_shared_across_nodes(nodes):
    await nodes.a.act(ROOM, OWNER, "set_limits", {"user_rate": 0.5, "user_burst": 3})
    assert [(await n.check_send(ROOM, BOB, f"m{i}", conn_id=f"c{i}")).action
            for i, n in enumerate([nodes.a, nodes.b, nodes.a])] == ["allow"] * 3
    d = await nodes.b.check_send(ROOM, BOB, "m4", conn_id="c9")
    assert d.code == "rate_limited" and 0 < d.retry_after <= 2.0
    assert (await nodes.b.check_send(ROOM, CAROL, "m4", conn_id="c8")).action == "allow"


async def test_per_connection_limit(nodes):
    await nodes.a.act(ROOM, OWNER, "set_limits", {"limits": {"conn_rate": 0.5, "conn_burst": 2}})
    assert (await nodes.a.check_send(ROOM, BOB, "x1", conn_id="tab")).action == "allow"
    assert (await nodes.b.check_send(ROOM, BOB, "x2", conn_id="tab")).action == "allow"
    d = await nodes.a.check_send(ROOM, BOB, "x3", conn_id="tab")
    assert d.code == "rate_limited" and d.retry_after > 0
    assert (await nodes.a.check_send(ROOM, BOB, "x3", conn_id="other-tab")).action == "allow"


async def test_flood_of_identical_messages(nodes):
    await nodes.a.act(ROOM, OWNER, "set_limits", {"flood_max": 2, "flood_window": 30})
    assert (await nodes.a.check_send(ROOM, BOB, "buy now", conn_id="c")).action == "allow"
    assert (await nodes.b.check_send(ROOM, BOB, "BUY NOW!!", conn_id="c")).action == "allow"
    d = await nodes.a.check_send(ROOM, BOB, "b u y   n o w", conn_id="c")
    assert d.code == "flood" and 29 < d.retry_after <= 30
    assert (await nodes.a.check_send(ROOM, BOB, "something else", conn_id="c")).action == "allow"
    assert (await nodes.a.check_send(ROOM, CAROL, "buy now", conn_id="c2")).action == "allow"
    with pytest.raises(ModerationError):
        await nodes.a.act(ROOM, OWNER, "set_limits", {"flood_max": -1})
    with pytest.raises(ModerationError):
        await nodes.a.act(ROOM, OWNER, "set_limits", {"bogus": 1})


async def test_room_terms_change_is_seen_by_the_other_node(nodes):
    assert (await nodes.b.check_send(ROOM, BOB, "you ass", conn_id="c")).action == "allow"
    await nodes.a.act(ROOM, MOD, "add_term", {"term": "ass", "action": "block"})
    d = await nodes.b.check_send(ROOM, BOB, "you a.s.s", conn_id="c")
    assert (d.action, d.code) == ("reject", "blocked_term")
    assert (await nodes.b.check_send(ROOM, BOB, "my class", conn_id="c")).action == "allow"
    await nodes.a.act(ROOM, MOD, "remove_term", {"term": "ASS"})
    assert (await nodes.b.check_send(ROOM, BOB, "you ass", conn_id="c")).action == "allow"
    # Other rooms are not affected by room terms.
    await nodes.a.act(ROOM, MOD, "add_term", {"term": "ass"})
    assert (await nodes.b.check_send("elsewhere", BOB, "you ass", conn_id="c")).action == "allow"


async def test_mask_shows_the_original_with_stars(nodes):
    await nodes.a.act(ROOM, MOD, "set_terms", {"terms": [{"term": "*fuck*", "action": "mask"},
                                                         {"term": "他妈的", "action": "mask"}]})
    d = await nodes.b.check_send(ROOM, BOB, "ｆｕｃｋ this 他媽的 thing", conn_id="c")
    assert d.action == "allow" and d.text == "**** this *** thing"
    listed = await nodes.b.act(ROOM, MOD2, "list_terms", {})
    assert [t["term"] for t in listed["terms"]] == ["*fuck*", "他妈的"]


async def test_global_terms_need_an_admin_and_apply_everywhere(nodes):
    await nodes.a.act(ROOM, ADMIN, "add_term", {"term": "法轮功", "scope": "global"})
    for room in (ROOM, "other-room"):
        assert (await nodes.b.check_send(room, BOB, "法 輪 功", conn_id="c")).code == "blocked_term"
    [entry] = await nodes.b.audit_log("", ADMIN)
    assert entry["action"] == "add_term" and entry["node"] == "node-a"
    with pytest.raises(ModerationError):
        await nodes.b.audit_log("", OWNER)


async def test_hold_goes_to_review_and_approve_returns_payload_once(nodes):
    await nodes.a.act(ROOM, MOD, "add_term", {"term": "习近平", "action": "hold"})
    d = await nodes.a.check_send(ROOM, BOB, "关于習近平", conn_id="c", extra={"client_msg_id": "x1"})
    assert d.action == "hold" and d.hold_id and d.code == "held"
    [added] = [e for e in nodes.events if e["type"] == "review"]
    assert added["action"] == "added" and added["item"]["id"] == d.hold_id
    queue = await nodes.b.review_queue(ROOM, MOD2)
    assert [(i["id"], i["kind"], i["original"]) for i in queue] == [(d.hold_id, "held", "关于習近平")]
    with pytest.raises(ModerationError) as err:
        await nodes.b.review_queue(ROOM, BOB)
    assert err.value.code == "forbidden"
    payload = await nodes.b.approve(ROOM, MOD2, d.hold_id)
    assert payload["user_id"] == BOB.user_id and payload["text"] == "关于習近平"
    assert payload["extra"] == {"client_msg_id": "x1"}
    with pytest.raises(ModerationError) as err:
        await nodes.a.approve(ROOM, MOD, d.hold_id)
    assert err.value.code == "not_found"
    resolved = [e for e in nodes.events if e["type"] == "review" and e["action"] == "resolved"]
    assert resolved == [{"type": "review", "room": ROOM, "action": "resolved", "id": d.hold_id,
                         "kind": "held", "resolution": "approved", "by": MOD2.user_id,
                         "user_id": BOB.user_id}]
    assert await nodes.a.review_queue(ROOM, MOD) == []
    # Moderators' own messages are not held.
    assert (await nodes.a.check_send(ROOM, MOD, "习近平", conn_id="m")).action == "allow"


async def test_reject_held_message(nodes):
    await nodes.a.act(ROOM, MOD, "add_term", {"term": "buy followers", "action": "hold"})
    d = await nodes.a.check_send(ROOM, BOB, "BUY   followers here", conn_id="c")
    assert d.action == "hold"
    assert await nodes.b.reject(ROOM, MOD2, d.hold_id) is None
    assert await nodes.a.review_queue(ROOM, MOD) == []
    [event] = [e for e in nodes.events if e["type"] == "review" and e["action"] == "resolved"]
    assert (event["id"], event["resolution"], event["user_id"]) == (d.hold_id, "rejected", BOB.user_id)


async def test_delete_retracts_message_and_translation_everywhere(nodes):
    offset = await post(nodes.engine, BOB, "hello", "m-1")
    t = await nodes.engine.broker.publish(ROOM, {"type": "translation", "message_id": "m-1",
                                                 "source_offset": offset, "lang": "zh", "text": "你好"})
    nodes.events.clear()
    result = await nodes.b.act(ROOM, MOD2, "delete", {"message_id": "m-1"})
    assert result["retracted"] == [offset, t.offset]
    assert await nodes.engine.broker.get_event(ROOM, offset) is None
    assert await nodes.engine.broker.get_event(ROOM, t.offset) is None
    [deleted] = nodes.events
    assert {k: v for k, v in deleted.items() if k not in ("offset", "epoch")} == {
        "type": "deleted", "room": ROOM, "message_id": "m-1", "message_offset": offset,
        "retracted": [offset, t.offset], "by": MOD2.user_id}
    assert deleted["offset"] > t.offset  # the deleted event has its own offset
    assert await nodes.a.is_deleted(ROOM, offset)
    with pytest.raises(ModerationError) as err:
        await nodes.a.act(ROOM, MOD, "delete", {"offset": offset})
    assert err.value.code == "not_found"


async def test_moderator_cannot_delete_owners_message(nodes):
    offset = await post(nodes.engine, OWNER, "host says hi", "m-o")
    with pytest.raises(ModerationError) as err:
        await nodes.b.act(ROOM, MOD2, "delete", {"offset": offset})
    assert err.value.code == "forbidden"
    assert await nodes.engine.broker.get_event(ROOM, offset) is not None
    own = await post(nodes.engine, MOD2, "oops", "m-m")
    await nodes.a.act(ROOM, MOD2, "delete", {"offset": own})


async def test_report_joins_review_queue_and_reject_deletes(nodes):
    offset = await post(nodes.engine, CAROL, "rude thing", "m-r")
    r = await nodes.a.report(ROOM, BOB, offset, "rude")
    assert r["duplicate"] is False
    assert (await nodes.b.report(ROOM, BOB, "m-r", "again"))["duplicate"] is True
    [item] = await nodes.b.review_queue(ROOM, MOD2)
    assert item["kind"] == "report" and item["user_id"] == CAROL.user_id
    assert item["reporter"] == {"id": BOB.user_id, "name": BOB.name} and item["reason"] == "rude"
    await nodes.b.reject(ROOM, MOD2, r["id"])
    assert await nodes.engine.broker.get_event(ROOM, offset) is None
    assert any(e["type"] == "deleted" and e["message_id"] == "m-r" for e in nodes.events)
    resolved = [e for e in nodes.events if e["type"] == "review" and e["action"] == "resolved"]
    assert resolved == [{"type": "review", "room": ROOM, "action": "resolved", "id": r["id"],
                         "kind": "report", "resolution": "rejected", "by": MOD2.user_id,
                         "user_id": CAROL.user_id}]


async def test_guests_may_report_within_the_report_rate_limit(nodes):
    offsets = [await post(nodes.engine, CAROL, f"line {i}", f"m-g{i}") for i in range(6)]
    r = await nodes.a.report(ROOM, GUEST, offsets[0], "bad")
    assert r["duplicate"] is False
    [item] = await nodes.b.review_queue(ROOM, MOD)
    assert item["reporter"] == {"id": GUEST.user_id, "name": GUEST.name}
    assert item["user_id"] == CAROL.user_id
    for offset in offsets[1:5]:
        assert (await nodes.b.report(ROOM, GUEST, offset, "bad"))["duplicate"] is False
    with pytest.raises(ModerationError) as err:  # 5 at once, then one per 10 s
        await nodes.a.report(ROOM, GUEST, offsets[5], "bad")
    assert err.value.code == "rate_limited"


async def test_approving_a_report_keeps_the_message(nodes):
    offset = await post(nodes.engine, CAROL, "fine thing", "m-f")
    r = await nodes.a.report(ROOM, BOB, offset, "meh")
    item = await nodes.b.approve(ROOM, MOD2, r["id"])
    assert item["kind"] == "report"
    assert await nodes.engine.broker.get_event(ROOM, offset) is not None


async def test_clear_pin_unpin_events(nodes):
    o1 = await post(nodes.engine, BOB, "one", "m-1")
    await post(nodes.engine, BOB, "two", "m-2")
    r = await nodes.a.act(ROOM, MOD, "pin", {"offset": o1})
    [pinned] = [e for e in nodes.events if e["type"] == "pinned"]
    assert pinned["pin"]["offset"] == o1 and pinned["pin"]["text"] == "one"
    assert (await nodes.b.room_settings(ROOM))["pinned"] == r["pin"]
    await nodes.b.act(ROOM, MOD2, "unpin", {})
    [unpinned] = [e for e in nodes.events if e["type"] == "unpinned"]
    assert unpinned["message_offset"] == o1 and unpinned["offset"] > o1
    res = await nodes.b.act(ROOM, MOD2, "clear", {})
    history = await nodes.engine.broker.history(ROOM, limit=100)
    assert [e["type"] for e in history.events] == ["cleared"]
    assert history.events[0]["up_to"] == res["up_to"] and res["removed"] >= 2


async def test_moderator_appointment_is_live(nodes):
    await nodes.a.act(ROOM, OWNER, "add_moderator", {"user_id": BOB.user_id})
    [event] = controls(nodes.events, "role")
    assert event["user_id"] == BOB.user_id and event["role"] == "moderator"
    assert await nodes.b.role_of(ROOM, BOB) == "moderator"
    await nodes.b.act(ROOM, BOB, "timeout", {"user_id": CAROL.user_id, "seconds": 5})
    await nodes.b.act(ROOM, OWNER, "remove_moderator", {"user_id": BOB.user_id})
    assert await nodes.a.role_of(ROOM, BOB) == "member"
    with pytest.raises(ModerationError):
        await nodes.a.act(ROOM, BOB, "timeout", {"user_id": CAROL.user_id, "seconds": 5})


async def test_audit_log_records_actions_and_filter_hits_with_node(nodes):
    await nodes.a.act(ROOM, MOD, "add_term", {"term": "ass", "action": "block"})
    await nodes.b.check_send(ROOM, BOB, "a55", conn_id="c")
    await nodes.b.act(ROOM, MOD2, "ban", {"user_id": BOB.user_id, "reason": "rude"})
    log = await nodes.a.audit_log(ROOM, OWNER, limit=2)
    assert [e["action"] for e in log] == ["ban", "add_term"]
    ban, _ = log
    # Filter hits (and reports) are in a log of their own, which a flood cannot share.
    [hit] = await nodes.a.audit_log(ROOM, OWNER, limit=3, log="flags")
    assert (ban["actor"], ban["target"], ban["reason"], ban["node"]) == (MOD2.user_id, BOB.user_id, "rude", "node-b")
    assert hit["actor"] == "automod" and hit["target"] == BOB.user_id
    assert hit["details"]["terms"] == ["ass"] and hit["details"]["result"] == "block"
    assert isinstance(ban["time"], float) and ban["id"]
    with pytest.raises(ModerationError):
        await nodes.a.audit_log(ROOM, BOB)


async def test_translations_are_moderated_in_the_target_language(nodes):
    await nodes.a.act(ROOM, MOD, "set_terms", {"terms": [
        {"term": "傻逼", "action": "block"}, {"term": "他妈的", "action": "mask"},
        {"term": "damn", "action": "block"}]})
    d = await nodes.b.check_translation(ROOM, "你是傻逼", "zh")
    assert (d.action, d.code) == ("reject", "blocked_term")
    assert (await nodes.b.check_translation(ROOM, "他妈的 damn", "zh")).text == "*** damn"
    assert (await nodes.b.check_translation(ROOM, "damn", "en")).action == "reject"
    assert (await nodes.b.check_translation(ROOM, "你好", "zh")).text == "你好"


async def test_report_on_owner_message_cannot_be_upheld_by_moderator(nodes):
    offset = await post(nodes.engine, OWNER, "host message", "m-h")
    r = await nodes.a.report(ROOM, BOB, offset, "spam")
    with pytest.raises(ModerationError) as err:
        await nodes.b.reject(ROOM, MOD2, r["id"])
    assert err.value.code == "forbidden"
    assert [i["id"] for i in await nodes.a.review_queue(ROOM, MOD)] == [r["id"]]
    await nodes.a.reject(ROOM, OWNER, r["id"])  # an owner may delete their own message
    assert await nodes.engine.broker.get_event(ROOM, offset) is None


async def test_text_is_normalized_at_most_once_and_only_when_needed(nodes, monkeypatch):
    import moderation.service as service
    from moderation.normalize import normalize as real_normalize

    calls: list[str] = []

    def counting(text):
        calls.append(text)
        return real_normalize(text)

    monkeypatch.setattr(service, "normalize", counting)
    # No terms, flood control off: the text is never normalized.
    await nodes.a.act(ROOM, OWNER, "set_limits", {"flood_max": 0})
    assert (await nodes.a.check_send(ROOM, BOB, "hello there", conn_id="c")).action == "allow"
    assert calls == []
    # Flood control on, still no terms: once, for the fingerprint; the flood still works.
    await nodes.a.act(ROOM, OWNER, "set_limits", {"flood_max": 1})
    assert (await nodes.a.check_send(ROOM, BOB, "Hello!!", conn_id="c")).action == "allow"
    assert calls == ["Hello!!"]
    assert (await nodes.b.check_send(ROOM, BOB, "h e l l o", conn_id="c")).code == "flood"
    calls.clear()
    # Flood control on and terms: once, shared by the fingerprint and the scan.
    await nodes.a.act(ROOM, MOD, "add_term", {"term": "fuck", "action": "mask"})
    d = await nodes.b.check_send(ROOM, BOB, "ｆｕｃｋ this", conn_id="c")
    assert (d.action, d.text) == ("allow", "**** this")
    assert calls == ["ｆｕｃｋ this"]
    calls.clear()
    # Terms but flood control off: once, for the scan.
    await nodes.a.act(ROOM, OWNER, "set_limits", {"flood_max": 0})
    d = await nodes.a.check_send(ROOM, BOB, "f.u.c.k again", conn_id="c")
    assert (d.action, d.text) == ("allow", "******* again")
    assert calls == ["f.u.c.k again"]
    calls.clear()
    # Moderators skip flood control: once, for the scan.
    await nodes.a.act(ROOM, OWNER, "set_limits", {"flood_max": 5})
    assert (await nodes.a.check_send(ROOM, MOD, "fuck", conn_id="m")).text == "****"
    assert calls == ["fuck"]


async def test_translation_with_no_terms_of_its_language_is_not_scanned(nodes, monkeypatch):
    import moderation.terms as terms

    await nodes.a.act(ROOM, MOD, "add_term", {"term": "傻逼"})
    await nodes.a.matcher(ROOM)  # compile first: building normalizes the terms
    calls: list[str] = []
    real = terms.normalize
    monkeypatch.setattr(terms, "normalize", lambda t: calls.append(t) or real(t))
    assert (await nodes.a.check_translation(ROOM, "you are 傻逼", "en")).action == "allow"
    assert calls == []
    assert (await nodes.a.check_translation(ROOM, "你是傻逼", "zh")).code == "blocked_term"
    assert calls == ["你是傻逼"]
