"""The engine contract, run on the in-memory engine and on the Redis engine alike."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from rooms.engine import Arrival, Member, StreamPosition
from tests.rooms.conftest import until


def now_ms() -> int:
    return int(time.time() * 1000)


def msg(text: str, **extra) -> dict:
    return {"type": "message", "text": text, "ts": now_ms(), **extra}


async def publish_n(engine, room, n, start=0):
    return [await engine.broker.publish(room, msg(f"m{i}")) for i in range(start, start + n)]


async def test_publish_gives_consecutive_offsets_in_one_epoch(make_engine):
    engine = await make_engine()
    assert (await engine.broker.position("r")).offset == 0
    results = await publish_n(engine, "r", 5)
    assert [r.offset for r in results] == [1, 2, 3, 4, 5]
    assert len({r.epoch for r in results}) == 1
    assert all(not r.duplicate for r in results)
    assert results[2].event["text"] == "m2" and results[2].event["offset"] == 3
    assert results[2].event["epoch"] == results[2].epoch
    position = await engine.broker.position("r")
    assert (position.offset, position.epoch) == (5, results[0].epoch)
    # rooms are independent
    other = await engine.broker.publish("other", msg("x"))
    assert other.offset == 1


async def test_epoch_of_an_empty_room_is_kept_by_its_first_publish(make_engine):
    engine = await make_engine()
    position = await engine.broker.position("r")
    result = await engine.broker.publish("r", msg("first"))
    assert result.epoch == position.epoch
    history = await engine.broker.history("r", since=0, epoch=position.epoch)
    assert history.recovered and [e["text"] for e in history.events] == ["first"]


async def test_history_newest_before_and_since(make_engine):
    engine = await make_engine()
    results = await publish_n(engine, "r", 10)
    epoch = results[0].epoch
    tail = await engine.broker.history("r", limit=3)
    assert [e["offset"] for e in tail.events] == [8, 9, 10]
    assert tail.position.offset == 10 and tail.recovered
    before = await engine.broker.history("r", before=5, limit=3)
    assert [e["offset"] for e in before.events] == [2, 3, 4]
    assert (await engine.broker.history("r", before=1)).events == []
    since = await engine.broker.history("r", since=6, epoch=epoch)
    assert [e["offset"] for e in since.events] == [7, 8, 9, 10] and since.recovered
    limited = await engine.broker.history("r", since=2, epoch=epoch, limit=3)
    assert [e["offset"] for e in limited.events] == [3, 4, 5] and limited.recovered
    up_to_date = await engine.broker.history("r", since=10, epoch=epoch)
    assert up_to_date.events == [] and up_to_date.recovered
    assert (await engine.broker.history("r", limit=0)).events == []
    # events are stored whole
    assert since.events[0] == results[6].event


async def test_history_with_a_foreign_epoch_or_future_offset_is_not_recovered(make_engine):
    engine = await make_engine()
    await publish_n(engine, "r", 4)
    wrong = await engine.broker.history("r", since=2, epoch="not-the-epoch", limit=2)
    assert not wrong.recovered
    assert [e["offset"] for e in wrong.events] == [3, 4]  # what the history has: the newest
    ahead = await engine.broker.history("r", since=9)
    assert not ahead.recovered and ahead.events == []


async def test_size_bound_trims_and_reports_loss(make_engine):
    engine = await make_engine(history_size=3)
    results = await publish_n(engine, "r", 6)
    epoch = results[0].epoch
    assert [e["offset"] for e in (await engine.broker.history("r")).events] == [4, 5, 6]
    lost = await engine.broker.history("r", since=1, epoch=epoch)
    assert not lost.recovered and [e["offset"] for e in lost.events] == [4, 5, 6]
    exact = await engine.broker.history("r", since=3, epoch=epoch)
    assert exact.recovered and [e["offset"] for e in exact.events] == [4, 5, 6]
    assert await engine.broker.get_event("r", 2) is None
    assert (await engine.broker.get_event("r", 5))["text"] == "m4"


async def test_age_bound_trims_old_events_and_reports_loss(make_engine):
    engine = await make_engine(history_ttl=60)
    old = now_ms() - 120_000
    await engine.broker.publish("r", {"type": "message", "text": "old1", "ts": old})
    first = await engine.broker.publish("r", {"type": "message", "text": "old2", "ts": old})
    await engine.broker.publish("r", msg("new"))
    history = await engine.broker.history("r", since=0, epoch=first.epoch)
    assert not history.recovered
    assert [e["text"] for e in history.events] == ["new"]
    fine = await engine.broker.history("r", since=2, epoch=first.epoch)
    assert fine.recovered and [e["text"] for e in fine.events] == ["new"]


async def test_retracted_events_leave_holes_that_are_not_loss(make_engine):
    engine = await make_engine(history_size=3)
    results = await publish_n(engine, "r", 4)  # 1 is trimmed: [2, 3, 4]
    epoch = results[0].epoch
    assert await engine.broker.retract("r", [2, 3, 99]) == 2
    assert await engine.broker.retract("r", [2]) == 0
    assert await engine.broker.get_event("r", 2) is None
    history = await engine.broker.history("r", since=1, epoch=epoch)
    assert history.recovered and [e["offset"] for e in history.events] == [4]
    # later publishes keep counting, and trimming still knows what was lost
    more = await publish_n(engine, "r", 4, start=4)  # offsets 5..8, keeps [6, 7, 8]
    assert [r.offset for r in more] == [5, 6, 7, 8]
    assert not (await engine.broker.history("r", since=4, epoch=epoch)).recovered
    assert (await engine.broker.history("r", since=5, epoch=epoch)).recovered


async def test_idempotent_publish_returns_the_first_result(make_engine):
    engine = await make_engine()
    seen = []
    await engine.broker.subscribe("r", lambda room, e: seen.append(e))
    first = await engine.broker.publish("r", msg("hello"), idempotency_key="u1:c1")
    again = await engine.broker.publish("r", msg("hello again"), idempotency_key="u1:c1")
    assert again.duplicate and not first.duplicate
    assert (again.offset, again.epoch) == (first.offset, first.epoch)
    assert again.event["text"] == "hello" and again.event == first.event
    looked = await engine.broker.lookup("r", "u1:c1")
    assert looked is not None and looked.offset == first.offset and looked.duplicate
    assert await engine.broker.lookup("r", "u1:other") is None
    assert await engine.broker.lookup("elsewhere", "u1:c1") is None
    other = await engine.broker.publish("r", msg("other"), idempotency_key="u1:c2")
    assert other.offset == first.offset + 1
    await until(lambda: len(seen) == 2)
    await asyncio.sleep(0.05)
    assert [e["text"] for e in seen] == ["hello", "other"]


async def test_subscribers_get_events_in_order_and_broadcasts_without_offset(make_engine):
    engine = await make_engine()
    seen = []

    async def handler(room, event):  # an async handler is awaited
        await asyncio.sleep(0)
        seen.append((room, event))

    await engine.broker.subscribe("r", handler)
    await publish_n(engine, "r", 20)
    await engine.broker.broadcast("r", {"type": "presence", "event": "typing"})
    await engine.broker.publish("unheard", msg("nobody listens"))
    await until(lambda: len(seen) == 21)
    assert [e["offset"] for _, e in seen[:20]] == list(range(1, 21))
    room, ephemeral = seen[20]
    assert room == "r" and ephemeral == {"type": "presence", "event": "typing"}
    assert [e["offset"] for e in (await engine.broker.history("r", limit=100)).events] == list(range(1, 21))
    await engine.broker.unsubscribe("r")
    await engine.broker.publish("r", msg("after"))
    await engine.broker.broadcast("r", {"type": "presence"})
    await asyncio.sleep(0.1)
    assert len(seen) == 21


async def test_a_failing_subscriber_does_not_stop_delivery(make_engine):
    engine = await make_engine()
    seen = []

    def handler(room, event):
        seen.append(event["offset"])
        if event["offset"] == 1:
            raise RuntimeError("bug in a subscriber")

    await engine.broker.subscribe("r", handler)
    await publish_n(engine, "r", 3)
    await until(lambda: len(seen) == 3)
    assert seen == [1, 2, 3]


async def test_state_set_get_add_delete_items(make_engine):
    engine = await make_engine()
    state = engine.state
    assert await state.get("r", "bans", "u1") is None
    await state.set("r", "bans", "u1", {"by": "host", "n": [1, 2]})
    assert await state.get("r", "bans", "u1") == {"by": "host", "n": [1, 2]}
    assert await state.get("other", "bans", "u1") is None
    assert await state.get("r", "mutes", "u1") is None
    assert not await state.add("r", "bans", "u1", "again")
    assert await state.add("r", "bans", "u2", "中文 ok")
    assert await state.items("r", "bans") == {"u1": {"by": "host", "n": [1, 2]}, "u2": "中文 ok"}
    assert await state.delete("r", "bans", "u1")
    assert not await state.delete("r", "bans", "u1")
    assert await state.items("r", "bans") == {"u2": "中文 ok"}
    await state.set("", "rooms", "lobby", {"title": "Lobby"})
    assert await state.items("", "rooms") == {"lobby": {"title": "Lobby"}}
    value = await state.get("", "rooms", "lobby")
    value["title"] = "changed"  # callers get copies
    assert (await state.get("", "rooms", "lobby"))["title"] == "Lobby"


async def test_state_readers_get_copies_of_nested_values_too(make_engine):
    engine = await make_engine()
    state = engine.state
    await state.set("r", "settings", "flat", {"a": 1, "b": "x"})
    await state.set("r", "settings", "nested", {"list": [1, {"deep": "v"}], "map": {"k": [2]}})
    await state.set("r", "settings", "items", ["a", ["b"]])
    flat, nested, items = await state.get_many("r", [("settings", "flat"), ("settings", "nested"),
                                                     ("settings", "items")])
    flat["a"] = 99
    nested["list"][1]["deep"] = "changed"
    nested["map"]["k"].append(3)
    items[1].append("c")
    got = await state.items("r", "settings")
    got["flat"]["b"] = "changed"
    got["nested"]["list"].clear()
    assert await state.get_many("r", [("settings", "flat"), ("settings", "nested"), ("settings", "items")]) == [
        {"a": 1, "b": "x"}, {"list": [1, {"deep": "v"}], "map": {"k": [2]}}, ["a", ["b"]]]
    written = {"a": [1]}
    await state.set("r", "settings", "written", written)
    written["a"].append(2)  # a writer's later change of its own value is not stored either
    assert await state.get("r", "settings", "written") == {"a": [1]}


async def test_state_entries_expire(make_engine):
    engine = await make_engine()
    state = engine.state
    await state.set("r", "mutes", "short", True, ttl=0.2)
    await state.set("r", "mutes", "long", True, ttl=30)
    await state.set("r", "mutes", "forever", True)
    assert await state.items("r", "mutes") == {"short": True, "long": True, "forever": True}
    await asyncio.sleep(0.35)
    assert await state.get("r", "mutes", "short") is None
    assert await state.items("r", "mutes") == {"long": True, "forever": True}
    assert not await state.delete("r", "mutes", "short")
    assert await state.add("r", "mutes", "short", "back", ttl=0.2)
    assert await state.get("r", "mutes", "short") == "back"
    # replacing an entry without a TTL makes it permanent
    await state.set("r", "mutes", "long", "kept")
    assert await state.get("r", "mutes", "long") == "kept"


async def test_state_namespace_of_ttl_entries_only_expires_whole(make_engine):
    engine = await make_engine()
    await engine.state.set("r", "held", "a", 1, ttl=0.15)
    await engine.state.set("r", "held", "b", 2, ttl=0.8)
    await asyncio.sleep(0.3)
    assert await engine.state.items("r", "held") == {"b": 2}
    await asyncio.sleep(0.6)
    assert await engine.state.items("r", "held") == {}


async def test_token_bucket(make_engine):
    engine = await make_engine()
    take = engine.state.take_token
    assert [await take("k", rate=2.0, burst=3) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = await take("k", rate=2.0, burst=3)
    assert 0.3 < wait <= 0.5
    assert await take("other", rate=2.0, burst=3) == 0.0
    await asyncio.sleep(wait + 0.05)
    assert await take("k", rate=2.0, burst=3) == 0.0
    assert await take("big", rate=1.0, burst=5, cost=5) == 0.0
    assert 4.5 < await take("big", rate=1.0, burst=5, cost=5) <= 5.0
    assert await take("never", rate=0.0, burst=1) == 0.0
    assert math.isinf(await take("never", rate=0.0, burst=1))


async def test_logs_are_bounded_and_newest_first(make_engine):
    engine = await make_engine()
    ids = [await engine.state.log_append("r", "audit", {"n": i, "who": "主持人"}, maxlen=3) for i in range(5)]
    assert len(set(ids)) == 5
    entries = await engine.state.log_read("r", "audit")
    assert [e["n"] for e in entries] == [4, 3, 2]
    assert [e["id"] for e in entries] == ids[:1:-1]
    assert entries[0]["who"] == "主持人"
    assert [e["n"] for e in await engine.state.log_read("r", "audit", limit=2)] == [4, 3]
    assert await engine.state.log_read("r", "nothing") == []
    assert await engine.state.log_read("other", "audit") == []


async def test_presence_members_and_counts(make_engine):
    engine = await make_engine()
    ann = Member("c1", "u1", "Ann", "en", node=engine.node_id)
    ann2 = Member("c2", "u1", "Ann", "en", node=engine.node_id)
    bo = Member("c3", "u2", "波", "zh", role="owner", node=engine.node_id, extra={"k": 1})
    await engine.presence.add("r", ann)
    await engine.presence.add("r", ann2)
    await engine.presence.add("r", bo)
    await engine.presence.add("s", bo)
    members = sorted(await engine.presence.members("r"), key=lambda m: m.conn_id)
    assert members == [ann, ann2, bo]
    assert await engine.presence.counts() == {"r": 3, "s": 1}
    await engine.presence.remove("r", "c1")
    await engine.presence.remove("r", "c1")
    await engine.presence.remove("s", "c3")
    assert sorted(m.conn_id for m in await engine.presence.members("r")) == ["c2", "c3"]
    assert await engine.presence.members("s") == []
    assert await engine.presence.counts() == {"r": 2}


async def test_presence_says_first_and_last_connection_and_counts_users(make_engine):
    engine = await make_engine()
    ann1 = Member("c1", "u1", "Ann", "en", node=engine.node_id)
    ann2 = Member("c2", "u1", "Ann", "en", node=engine.node_id)
    bo = Member("c3", "u2", "Bo", "zh", node=engine.node_id)
    assert await engine.presence.add("r", ann1) == Arrival(True, 1)
    assert await engine.presence.add("r", ann2) == Arrival(False, 1)  # Ann's second tab
    assert await engine.presence.add("r", bo) == Arrival(True, 2)
    assert await engine.presence.add("r", Member("c3", "u2", "Bo", "zh", role="moderator",
                                                 node=engine.node_id)) == Arrival(False, 2)  # re-recorded
    assert await engine.presence.user_count("r") == 2
    assert await engine.presence.user_count("elsewhere") == 0
    assert await engine.presence.remove("r", "c1") is False  # Ann still has c2
    assert await engine.presence.remove("r", "c1") is False  # unknown now
    assert await engine.presence.user_count("r") == 2
    assert await engine.presence.remove("r", "c2") is True
    assert await engine.presence.remove("r", "c3") is True
    assert await engine.presence.user_count("r") == 0
    assert await engine.presence.add("r", ann1) == Arrival(True, 1)  # back again


async def test_state_get_many_reads_one_scope_in_order(make_engine):
    engine = await make_engine()
    await engine.state.set("r", "a", "k1", {"v": 1})
    await engine.state.set("r", "b", "k2", [2])
    await engine.state.set("r", "b", "gone", 3, ttl=0.05)
    await engine.state.set("other", "a", "k1", "elsewhere")
    assert await engine.state.get_many("r", [("a", "k1"), ("b", "k2"), ("a", "missing"), ("c", "k1")]) == \
        [{"v": 1}, [2], None, None]
    assert await engine.state.get_many("r", []) == []
    await asyncio.sleep(0.1)  # the TTL is what is tested; nothing to wait on but the clock
    assert await engine.state.get_many("r", [("b", "gone"), ("b", "k2")]) == [None, [2]]


async def test_presence_sample_gives_at_least_what_was_asked_for(make_engine):
    engine = await make_engine()
    for i in range(60):
        await engine.presence.add("big", Member(f"c{i}", f"u{i}", f"U{i}", "en", node=engine.node_id))
    sample = await engine.presence.sample("big", 25)
    assert len(sample) >= 25 and len({m.conn_id for m in sample}) == len(sample)
    assert {m.conn_id for m in sample} <= {f"c{i}" for i in range(60)}
    assert len(await engine.presence.sample("big", 100)) == 60
    assert await engine.presence.sample("empty", 10) == []


async def test_a_room_the_engine_lost_goes_on_from_its_origin(make_engine):
    """With an origin hook (the durable archive), an unopened room's offsets and epoch go on
    from the origin's position; the history before it reads as trimmed; a room the origin
    does not know starts at 1."""
    engine = await make_engine()
    asked: list[str] = []

    async def origin(room):
        asked.append(room)
        return StreamPosition(41, "arch1") if room == "kept" else None

    engine.broker.origin = origin
    first = await engine.broker.publish("kept", msg("after the restart"))
    assert (first.offset, first.epoch) == (42, "arch1")
    assert (await engine.broker.publish("kept", msg("next"))).offset == 43
    assert asked == ["kept"]  # asked once: the room is open now
    gone = await engine.broker.history("kept", since=10, epoch="arch1")
    assert not gone.recovered and [e["offset"] for e in gone.events] == [42, 43]
    fine = await engine.broker.history("kept", since=41, epoch="arch1")
    assert fine.recovered and [e["offset"] for e in fine.events] == [42, 43]
    # a read opens the room too
    assert (await engine.broker.position("read-first")).offset == 0
    fresh = await engine.broker.publish("fresh", msg("new room"))
    assert fresh.offset == 1


async def test_a_read_of_a_lost_room_opens_it_at_its_origin(make_engine):
    engine = await make_engine()

    async def origin(room):
        return StreamPosition(7, "arch2")

    engine.broker.origin = origin
    position = await engine.broker.position("r")
    assert (position.offset, position.epoch) == (7, "arch2")
    assert (await engine.broker.publish("r", msg("x"))).offset == 8


async def test_enter_reads_state_and_history_and_records_the_member(make_engine):
    """A join's engine work at once: the state reads in order, the history (the newest, or
    after ``since``), and the member recorded with what presence.add would say."""
    engine = await make_engine()
    published = await publish_n(engine, "r", 5)
    epoch = published[0].epoch
    await engine.state.set("r", "settings", "room", {"slow_mode": 2})
    ann = Member("c1", "u1", "Ann", "en", node=engine.node_id)
    entry = await engine.enter("r", ann, reads=[("roles", "u1"), ("settings", "room")], limit=3,
                               record_unless=(0,))
    assert entry.values == [None, {"slow_mode": 2}]
    assert [e["offset"] for e in entry.history.events] == [3, 4, 5]
    assert entry.history.position == StreamPosition(5, epoch) and entry.history.recovered
    assert entry.arrival == Arrival(True, 1)
    assert await engine.presence.members("r") == [ann]
    # a second tab of the same user, recovering after offset 3; no reads at all
    tab = Member("c2", "u1", "Ann", "en", node=engine.node_id)
    entry = await engine.enter("r", tab, reads=[], since=3, epoch=epoch, limit=10)
    assert entry.values == [] and entry.arrival == Arrival(False, 1)
    assert [e["offset"] for e in entry.history.events] == [4, 5] and entry.history.recovered
    # a since of another epoch is not recovered, and says so
    gone = await engine.enter("r", Member("c3", "u2", "Bo", "zh", node=engine.node_id), reads=[],
                              since=2, epoch="other-epoch", limit=10)
    assert not gone.history.recovered and gone.arrival == Arrival(True, 2)
    assert await engine.presence.user_count("r") == 2


async def test_enter_records_nobody_when_a_guessed_read_is_not_as_guessed(make_engine):
    """``record_unless`` reads must be absent and ``record_if`` reads present, or nothing is
    recorded (arrival None) while the values and history are still read."""
    engine = await make_engine()
    await engine.state.set("r", "bans", "u1", {"reason": "spam"})
    await engine.state.set("r", "durable", "loaded", True)
    await engine.state.set("r", "bans", "old", {"reason": "x"}, ttl=0.05)
    pest = Member("c1", "u1", "Pest", "en", node=engine.node_id)
    entry = await engine.enter("r", pest, reads=[("roles", "u1"), ("bans", "u1")], record_unless=(0, 1))
    assert entry.values == [None, {"reason": "spam"}] and entry.arrival is None
    assert entry.history.events == [] and entry.history.position.offset == 0
    assert await engine.presence.members("r") == [] and await engine.presence.user_count("r") == 0
    ann = Member("c2", "u2", "Ann", "en", node=engine.node_id)
    missing = await engine.enter("r", ann, reads=[("durable", "missing")], record_if=(0,))
    assert missing.values == [None] and missing.arrival is None
    assert await engine.presence.members("r") == []
    kept = await engine.enter("r", ann, reads=[("bans", "u2"), ("durable", "loaded")],
                              record_unless=(0,), record_if=(1,))
    assert kept.values == [None, True] and kept.arrival == Arrival(True, 1)
    await asyncio.sleep(0.1)  # the TTL is what is tested; nothing to wait on but the clock
    expired = await engine.enter("r", Member("c3", "old", "Old", "en", node=engine.node_id),
                                 reads=[("bans", "old")], record_unless=(0,))
    assert expired.values == [None] and expired.arrival == Arrival(True, 2)
    assert sorted(m.conn_id for m in await engine.presence.members("r")) == ["c2", "c3"]


async def test_enter_opens_a_lost_room_at_its_origin(make_engine):
    engine = await make_engine()

    async def origin(room):
        return StreamPosition(41, "arch1")

    engine.broker.origin = origin
    ann = Member("c1", "u1", "Ann", "en", node=engine.node_id)
    entry = await engine.enter("lost", ann, reads=[("roles", "u1")], record_unless=(0,))
    assert entry.history.position == StreamPosition(41, "arch1") and entry.history.events == []
    assert entry.arrival == Arrival(True, 1)
    assert (await engine.broker.publish("lost", msg("next"))).offset == 42
