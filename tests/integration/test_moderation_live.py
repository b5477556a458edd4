"""Host actions and filters over the real protocol, against a real server process."""


import pytest

from clients.client import LiveBridgeClient, ServerError
from tests.harness import drain


async def client(server, name, lang="en", token=None, **kw):
    c = LiveBridgeClient(server.url, name=name, lang=lang, token=token, reconnect=False, **kw)
    await c.connect()
    return c


async def hosted_room(server, room):
    """An owner (who created the room through the API) and a guest, both joined."""
    owner_token = server.token("Host")
    status, body = server.post("/api/rooms", {"name": room, "title": "Hosted"}, token=owner_token)
    assert status == 201 and body["owner"]["name"] == "Host"
    owner, guest = await client(server, "Host", token=owner_token), await client(server, "Guest")
    joined = await owner.join(room)
    assert joined["role"] == "owner"
    assert (await guest.join(room))["role"] == "guest"
    return owner, guest, owner_token


async def expect_error(coro, code):
    with pytest.raises(ServerError) as info:
        await coro
    assert info.value.code == code, info.value.frame
    return info.value


async def test_ban_removes_the_user_and_refuses_rejoin_until_unbanned(server):
    owner, guest, owner_token = await hosted_room(server, "ban-room")
    try:
        guest_id = guest.welcome["user"]["id"]
        await owner.moderate("ban-room", "ban", user_id=guest_id, reason="spam")
        left = await guest.wait_for(lambda e: e["type"] == "left")
        assert left["reason"] == "banned" and "spam" in left["message"]
        await expect_error(guest.join("ban-room"), "banned")
        status, _ = server.post("/api/rooms/ban-room/moderation", {"action": "unban", "params": {"user_id": guest_id}},
                                token=owner_token)
        assert status == 200
        assert (await guest.join("ban-room"))["room"] == "ban-room"
        status, audit = server.get("/api/rooms/ban-room/audit", token=owner_token)
        actions = [e["action"] for e in audit["entries"]]
        assert status == 200 and "ban" in actions and "unban" in actions
    finally:
        await owner.close()
        await guest.close()


async def test_members_without_permission_are_refused(server):
    owner, guest, _ = await hosted_room(server, "perm-room")
    try:
        await expect_error(guest.moderate("perm-room", "kick", user_id=owner.welcome["user"]["id"]), "forbidden")
        await expect_error(guest.moderate("perm-room", "lock"), "forbidden")
        status, body = server.get("/api/rooms/perm-room/audit", token=server.token("Nobody"))
        assert status == 403 and body["error"]["code"] == "forbidden"
    finally:
        await owner.close()
        await guest.close()


async def test_timeout_mutes_with_retry_after_and_tells_the_user(server):
    owner, guest, _ = await hosted_room(server, "mute-room")
    try:
        await owner.moderate("mute-room", "timeout", user_id=guest.welcome["user"]["id"], seconds=30)
        notice = await guest.wait_for(lambda e: e["type"] == "notice")
        assert notice["code"] == "timed_out"
        err = await expect_error(guest.send("mute-room", "let me talk"), "timed_out")
        assert 0 < err.retry_after <= 30
    finally:
        await owner.close()
        await guest.close()


async def test_delete_retracts_from_every_client_and_from_history(server):
    owner, guest, _ = await hosted_room(server, "del-room")
    try:
        ack = await guest.send("del-room", "regrettable")
        await owner.moderate("del-room", "delete", offset=ack["offset"])
        for c in (owner, guest):
            deleted = await c.wait_for(lambda e: e["type"] == "deleted")
            assert deleted["message_id"] == ack["id"] and ack["offset"] in deleted["retracted"]
        history = await owner.history("del-room")
        assert ack["id"] not in [e.get("id") for e in history["events"]]
    finally:
        await owner.close()
        await guest.close()


async def test_blocked_masked_and_held_terms(server):
    owner, guest, owner_token = await hosted_room(server, "terms-room")
    try:
        await owner.moderate("terms-room", "add_term", term="spamword", action="block")
        await owner.moderate("terms-room", "add_term", term="darn", action="mask")
        await owner.moderate("terms-room", "add_term", term="坏蛋", action="hold")
        await expect_error(guest.send("terms-room", "buy S.P.A.M.W.O.R.D now"), "blocked_term")
        await guest.send("terms-room", "well DARN it")
        masked = await owner.wait_for(lambda e: e["type"] == "message")
        assert masked["text"] == "well **** it"
        held = await guest.send("terms-room", "你 是 坏 蛋")
        assert held["status"] == "held"
        review = await owner.wait_for(lambda e: e["type"] == "review")
        assert review["item"]["id"] == held["hold_id"]
        status, queue = server.get("/api/rooms/terms-room/review", token=owner_token)
        assert [i["id"] for i in queue["items"]] == [held["hold_id"]]
        status, body = server.post(f"/api/rooms/terms-room/review/{held['hold_id']}/approve", {}, token=owner_token)
        assert status == 200 and body["result"]["resolution"] == "approved"
        outcome = await guest.wait_for(lambda e: e["type"] == "notice" and e["code"].startswith("held_"))
        assert outcome["code"] == "held_approved" and outcome["id"] == held["hold_id"]
        published = await guest.wait_for(lambda e: e["type"] == "message" and e["text"] == "你 是 坏 蛋")
        assert published["author"]["name"] == "Guest"
        assert published["client_msg_id"] == held["client_msg_id"]  # the author's client can match it
        status, body = server.post(f"/api/rooms/terms-room/review/{held['hold_id']}/approve", {}, token=owner_token)
        assert status == 404
    finally:
        await owner.close()
        await guest.close()


async def test_slow_mode_and_lock(server):
    owner, guest, _ = await hosted_room(server, "slow-room")
    try:
        await owner.moderate("slow-room", "slow_mode", seconds=30)
        settings = await guest.wait_for(lambda e: e["type"] == "room_settings")
        assert settings["slow_mode"] == 30
        await guest.send("slow-room", "one")
        err = await expect_error(guest.send("slow-room", "two"), "slow_mode")
        assert err.retry_after > 0
        await owner.send("slow-room", "hosts are exempt")
        await owner.send("slow-room", "from slow mode")
        await owner.moderate("slow-room", "lock")
        await expect_error(guest.send("slow-room", "three"), "room_locked")
    finally:
        await owner.close()
        await guest.close()


async def test_reports_reach_the_review_queue_live(start_server):
    from chatserver.auth import TokenIssuer

    secret = "r" * 32
    server = start_server("--secret", secret, "--allow-guests")
    owner, guest, _ = await hosted_room(server, "report-room")
    member_token = TokenIssuer(secret, ttl=600).issue(name="Member", lang="en", kind="member")[0]
    member = await client(server, "Member", token=member_token)
    try:
        assert (await member.join("report-room"))["role"] == "member"
        ack = await owner.send("report-room", "something")
        reported = await member.report("report-room", ack["offset"], "rude")
        review = await owner.wait_for(lambda e: e["type"] == "review")
        assert review["item"]["kind"] == "report" and review["item"]["id"] == reported["result"]["id"]
        assert review["item"]["reason"] == "rude"
        # Review events go to moderators only; guests may report too (the web client's users).
        assert not [e for e in await drain(member) if e["type"] == "review"]
        by_guest = await guest.report("report-room", ack["offset"], "also rude")
        assert by_guest["result"]["duplicate"] is False
    finally:
        await owner.close()
        await guest.close()
        await member.close()



async def test_rate_limits_answer_with_retry_after(start_server):
    server = start_server("--rate-user", "1", "--rate-user-burst", "3", relaxed_limits=False)
    ann = await client(server, "Ann", wait_rate_limited=False)  # see the refusals, not wait them out
    try:
        await ann.join("rl")
        results = []
        for i in range(6):
            try:
                await ann.send("rl", f"message {i}")
                results.append("ok")
            except ServerError as exc:
                results.append(exc.code)
                assert exc.retry_after and exc.retry_after > 0
        assert results[:3] == ["ok"] * 3 and "rate_limited" in results[3:]
    finally:
        await ann.close()


async def test_appointing_a_moderator_updates_everyone_and_their_powers(server):
    owner, guest, _ = await hosted_room(server, "role-room")
    try:
        guest_id = guest.welcome["user"]["id"]
        await owner.moderate("role-room", "add_moderator", user_id=guest_id)
        mine = await guest.wait_for(lambda e: e["type"] == "role")
        assert mine["role"] == "moderator"
        seen = await owner.wait_for(lambda e: e["type"] == "presence" and e["event"] == "role")
        assert seen["member"] == {"id": guest_id, "role": "moderator"}
        # The new moderator now receives review events and may lock the room.
        await guest.moderate("role-room", "lock")
        await owner.wait_for(lambda e: e["type"] == "room_settings" and e["locked"])
    finally:
        await owner.close()
        await guest.close()
