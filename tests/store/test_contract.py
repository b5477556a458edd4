"""The durable store's contract, run on SQLite and on PostgreSQL alike (see conftest.py)."""

from __future__ import annotations

import asyncio
import time

import pytest

from rooms.engine import StreamPosition
from rooms.store import (
    GLOBAL,
    Restriction,
    RoomRecord,
    StoreFull,
    StoreLimits,
    StoreSchemaError,
    StoreUnavailable,
)
from rooms.store_schema import LATEST


def msg(text: str, author: str = "u1", **extra) -> dict:
    return {"type": "message", "id": f"m-{text}", "author": {"id": author, "name": author},
            "text": text, "lang": "en", "ts": 1, **extra}


async def reopen(make_store, store, **kwargs):
    """A restart: close ``store`` and open the same data again."""
    await store.close()
    return await make_store(**kwargs)


# Schema --------------------------------------------------------------------------------------


async def test_migrations_are_applied_once_and_recorded(make_store):
    store = await make_store()
    assert await store.schema_version() == LATEST
    store = await reopen(make_store, store)
    assert await store.schema_version() == LATEST
    assert store.health()["status"] == "ok"


async def test_a_schema_newer_than_the_code_is_refused(make_store):
    store = await make_store()
    await store._run(_insert_version(LATEST + 1), write=True)
    await store.close()
    with pytest.raises(StoreSchemaError, match=f"version {LATEST + 1}, newer"):
        await make_store()


def _insert_version(version):
    from rooms.store_sql import Q

    yield Q("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (version, 0.0))


# Rooms ---------------------------------------------------------------------------------------


async def test_rooms_are_created_once_updated_listed_and_survive_a_restart(make_store):
    store = await make_store()
    owner = {"id": "u1", "name": "Ann", "lang": "en", "role": "owner"}
    assert await store.create_room(RoomRecord("show", "My show", owner, 1700000000123,
                                              {"slow_mode": 5}, {"user_rate": 2.0}))
    assert not await store.create_room(RoomRecord("show", "Another"))
    assert await store.create_room(RoomRecord("lobby", "Lobby"))
    assert await store.update_room("show", title="Renamed 节目", settings={"locked": True})
    assert not await store.update_room("nope", title="x")
    store = await reopen(make_store, store)
    room = await store.get_room("show")
    assert room == RoomRecord("show", "Renamed 节目", owner, 1700000000123, {"locked": True},
                              {"user_rate": 2.0})
    assert await store.get_room("nope") is None
    assert [r.name for r in await store.list_rooms()] == ["lobby", "show"]
    assert [r.name for r in await store.list_rooms(after="lobby")] == ["show"]
    assert await store.update_room("show", owner=None)
    assert (await store.get_room("show")).owner is None


async def test_deleting_a_room_deletes_everything_of_it(make_store):
    store = await make_store()
    await store.create_room(RoomRecord("r", "R"))
    await store.set_role("r", "u1", "moderator")
    await store.restrict(Restriction("r", "u2", "ban"))
    await store.put_term("r", "k", {"term": "x"})
    await store.audit("r", "ban", {"target": "u2"})
    await store.append("r", 1, "e", msg("hi"))
    assert await store.delete_room("r")
    assert await store.get_room("r") is None
    assert await store.roles("r") == {}
    assert await store.restrictions("r") == []
    assert await store.terms("r") == {}
    assert await store.audit_log("r") == []
    assert (await store.page("r")).events == [] and await store.position("r") is None


async def test_rooms_are_bounded(make_store):
    store = await make_store(limits=StoreLimits(rooms=2))
    assert await store.create_room(RoomRecord("a", "A"))
    assert await store.create_room(RoomRecord("b", "B"))
    assert not await store.create_room(RoomRecord("a", "A"))  # existing: no error
    with pytest.raises(StoreFull, match="2 rooms"):
        await store.create_room(RoomRecord("c", "C"))


# Roles ---------------------------------------------------------------------------------------


async def test_roles_are_set_replaced_removed_and_bounded(make_store):
    store = await make_store(limits=StoreLimits(roles_per_room=2))
    await store.set_role("r", "u1", "owner", by="u1")
    await store.set_role("r", "u2", "moderator", by="u1")
    await store.set_role("r", "u2", "host", by="u1")  # a change, not a new row
    assert await store.roles("r") == {"u1": "owner", "u2": "host"}
    assert await store.get_role("r", "u2") == "host" and await store.get_role("r", "u3") is None
    with pytest.raises(StoreFull, match="2 roles"):
        await store.set_role("r", "u3", "moderator")
    await store.set_role("r", "u2", None)
    await store.set_role("r", "u3", "moderator")
    assert await store.roles("r") == {"u1": "owner", "u3": "moderator"}
    assert await store.roles("other") == {}


# Restrictions --------------------------------------------------------------------------------


async def test_bans_and_timeouts_expire_and_are_purged(make_store):
    now = time.time()
    store = await make_store()
    await store.restrict(Restriction("r", "u1", "ban", None, now, "mod", "spam"))
    await store.restrict(Restriction("r", "u2", "timeout", now + 60, now, "mod", None))
    await store.restrict(Restriction("r", "u3", "timeout", now - 1, now - 61, "mod", None))
    await store.restrict(Restriction(GLOBAL, "u9", "ban", None, now, "admin", None))
    live = await store.restrictions("r")
    assert [(r.user_id, r.kind, r.until, r.reason) for r in live] == [
        ("u1", "ban", None, "spam"), ("u2", "timeout", pytest.approx(now + 60), None)]
    assert await store.restrictions("r", user_id="u2", now=now + 61) == []
    assert [r.user_id for r in await store.restrictions(GLOBAL)] == ["u9"]
    assert not await store.lift("r", "u3", "timeout")  # expired: nothing to lift
    assert await store.lift("r", "u1", "ban")
    assert not await store.lift("r", "u1", "ban")
    await store.restrict(Restriction("r", "u4", "timeout", now + 5, now, "mod", None))
    counts = await store.purge(now=now + 10)
    assert counts["restrictions"] == 1  # u4's (u3's went with its lift attempt)
    assert [r.user_id for r in await store.restrictions("r", now=now)] == ["u2"]
    with pytest.raises(ValueError):
        await store.restrict(Restriction("r", "u5", "mute"))


async def test_restrictions_are_bounded_after_dropping_expired_ones(make_store):
    now = time.time()
    store = await make_store(limits=StoreLimits(restrictions_per_room=2))
    await store.restrict(Restriction("r", "u1", "ban"))
    await store.restrict(Restriction("r", "u2", "timeout", now - 1, now - 2))  # expired
    await store.restrict(Restriction("r", "u3", "ban"))  # room made by dropping u2's
    await store.restrict(Restriction("r", "u3", "ban", reason="again"))  # replace: fine
    with pytest.raises(StoreFull, match="2 bans and timeouts"):
        await store.restrict(Restriction("r", "u4", "ban"))


# Terms ---------------------------------------------------------------------------------------


async def test_terms_per_room_and_global_are_kept_replaced_and_bounded(make_store):
    store = await make_store(limits=StoreLimits(terms_per_scope=3))
    await store.put_term("r", "spoiler", {"term": "spoiler", "action": "mask"})
    await store.put_term("r", "坏", {"term": "坏", "action": "block"})
    await store.put_term(GLOBAL, "scam", {"term": "scam", "action": "hold"})
    await store.put_term("r", "spoiler", {"term": "spoiler", "action": "block"})
    assert await store.terms("r") == {"spoiler": {"term": "spoiler", "action": "block"},
                                      "坏": {"term": "坏", "action": "block"}}
    assert list(await store.terms(GLOBAL)) == ["scam"]
    assert await store.delete_term("r", "坏") and not await store.delete_term("r", "坏")
    await store.replace_terms("r", {"a": {"term": "a"}, "b": {"term": "b"}, "c": {"term": "c"}})
    assert sorted(await store.terms("r")) == ["a", "b", "c"]
    with pytest.raises(StoreFull):
        await store.put_term("r", "d", {"term": "d"})
    with pytest.raises(StoreFull):
        await store.replace_terms("r", {k: {"term": k} for k in "abcd"})
    assert sorted(await store.terms("r")) == ["a", "b", "c"]  # the refused replace changed nothing
    store = await reopen(make_store, store)
    assert list(await store.terms(GLOBAL)) == ["scam"]


# Held messages -------------------------------------------------------------------------------


async def test_held_messages_are_decided_once_and_keep_their_outcome(make_store):
    store = await make_store()
    for i in range(3):
        await store.hold("r", f"h{i}", {"text": f"held {i}", "user_id": "u1"}, user_id="u1", at=100 + i)
    assert [h.id for h in await store.held("r")] == ["h0", "h1", "h2"]
    results = await asyncio.gather(*[store.decide_held("r", "h1", o, by=f"mod{i}", at=200)
                                     for i, o in enumerate(["approved", "rejected"] * 3)])
    decided = [r for r in results if r is not None]
    assert len(decided) == 1 and decided[0].item == {"text": "held 1", "user_id": "u1"}
    assert await store.decide_held("r", "nope", "approved", by="m") is None
    with pytest.raises(ValueError):
        await store.decide_held("r", "h2", "maybe", by="m")
    store = await reopen(make_store, store)
    assert [h.id for h in await store.held("r")] == ["h0", "h2"]
    h1 = await store.get_held("r", "h1")
    assert (h1.outcome, h1.decided_by, h1.decided_at) == (decided[0].outcome, decided[0].decided_by, 200)
    assert [h.id for h in await store.held("r", pending=False)] == ["h0", "h1", "h2"]


async def test_held_messages_are_bounded_oldest_decided_first(make_store):
    store = await make_store(limits=StoreLimits(held_per_room=3))
    for i in range(3):
        await store.hold("r", f"h{i}", {"n": i}, user_id="u", at=i)
    await store.decide_held("r", "h1", "rejected", by="m", at=10)
    await store.hold("r", "h3", {"n": 3}, user_id="u", at=3)  # h1 (decided) makes room
    assert await store.get_held("r", "h1") is None
    with pytest.raises(StoreFull, match="3 pending held messages"):
        await store.hold("r", "h4", {"n": 4}, user_id="u", at=4)
    assert [h.id for h in await store.held("r")] == ["h0", "h2", "h3"]


# Reports -------------------------------------------------------------------------------------


async def test_reports_are_one_per_reporter_per_message_and_decided_once(make_store):
    store = await make_store()
    first = await store.report("r", "r-1", {"reason": "rude"}, offset=7, reporter="u2", user_id="u1", at=1)
    again = await store.report("r", "r-2", {"reason": "rude!"}, offset=7, reporter="u2", user_id="u1", at=2)
    other = await store.report("r", "r-3", {"reason": "spam"}, offset=7, reporter="u3", user_id="u1", at=3)
    assert (first, again, other) == ("r-1", "r-1", "r-3")
    pending = await store.reports("r")
    assert [(p.id, p.offset, p.reporter) for p in pending] == [("r-1", 7, "u2"), ("r-3", 7, "u3")]
    assert (await store.decide_report("r", "r-1", "rejected", by="mod")).outcome == "rejected"
    assert await store.decide_report("r", "r-1", "approved", by="mod") is None
    assert [p.id for p in await store.reports("r")] == ["r-3"]


async def test_reports_never_evict_moderation_actions(make_store):
    store = await make_store(limits=StoreLimits(reports_per_room=20, audit_per_room=10))
    for i in range(5):
        await store.audit("r", "ban", {"target": f"u{i}"})
    for i in range(20):
        await store.report("r", f"r-{i}", {}, offset=i + 1, reporter=f"spammer{i}", user_id="u")
    with pytest.raises(StoreFull, match="20 pending reports"):
        await store.report("r", "r-x", {}, offset=99, reporter="spammer", user_id="u")
    log = await store.audit_log("r")
    assert [e.entry["target"] for e in log] == ["u4", "u3", "u2", "u1", "u0"]


# Audit log -----------------------------------------------------------------------------------


async def test_audit_log_pages_newest_first_and_is_bounded_per_room(make_store):
    store = await make_store(limits=StoreLimits(audit_per_room=5))
    ids = [await store.audit("r", "timeout", {"i": i}, at=1000 + i) for i in range(8)]
    await store.audit("other", "ban", {"i": 0})
    assert ids == sorted(ids) and len(set(ids)) == 8
    log = await store.audit_log("r")
    assert [e.entry["i"] for e in log] == [7, 6, 5, 4, 3]  # the 5 newest
    assert log[0].action == "timeout" and log[0].at == 1007 and log[0].room == "r"
    older = await store.audit_log("r", limit=2, before=log[1].id)
    assert [e.entry["i"] for e in older] == [5, 4]
    assert len(await store.audit_log("other")) == 1


async def test_audit_retention_is_by_age(make_store):
    day = 86400.0
    now = 1_800_000_000.0
    store = await make_store(limits=StoreLimits(audit_retention=90 * day))
    await store.audit("r", "ban", {"old": True}, at=now - 91 * day)
    await store.audit("r", "ban", {"old": False}, at=now - 89 * day)
    await store.hold("r", "h", {}, user_id="u", at=now - 100 * day)
    await store.decide_held("r", "h", "approved", by="m", at=now - 95 * day)
    await store.hold("r", "h2", {}, user_id="u", at=now - 100 * day)  # pending: kept
    counts = await store.purge(now=now)
    assert counts["audit"] == 1 and counts["held"] == 1
    assert [e.entry["old"] for e in await store.audit_log("r")] == [False]
    assert [h.id for h in await store.held("r", pending=False)] == ["h2"]


# Archive -------------------------------------------------------------------------------------


async def test_appends_are_group_committed_and_acked_only_when_durable(make_store):
    store = await make_store()
    n = 300
    futures = [store.append("r", i, "ep1", msg(f"m{i}")) for i in range(1, n + 1)]
    await asyncio.gather(*futures)
    health = store.health()
    assert health["appended"] == n and health["batches"] < n / 10, health
    # What an ack said is committed: a restart reads all of it.
    store = await reopen(make_store, store)
    page = await store.page("r", limit=n)
    assert [e["offset"] for e in page.events] == list(range(1, n + 1)) and page.at_start
    assert page.events[0] == {**msg("m1"), "offset": 1, "epoch": "ep1"}
    assert await store.position("r") == StreamPosition(n, "ep1")


async def test_one_append_at_low_load_commits_at_once(make_store):
    # A 10 s window between commits, yet a lone append is not held back for it.
    store = await make_store(commit_interval=10.0)
    await asyncio.wait_for(store.append("r", 1, "e", msg("x")), 2)
    assert (await store.position("r")).offset == 1


async def test_pages_go_back_to_the_first_message(make_store):
    store = await make_store()
    await asyncio.gather(*[store.append("r", i, "e", msg(f"m{i}")) for i in range(1, 26)])
    await store.append("other", 1, "e", msg("elsewhere"))
    seen, before = [], None
    while True:
        page = await store.page("r", before=before, limit=10)
        seen = [e["offset"] for e in page.events] + seen
        if page.at_start:
            break
        before = page.events[0]["offset"]
    assert seen == list(range(1, 26))
    assert [e["offset"] for e in await store.after("r", 20, limit=3)] == [21, 22, 23]
    assert (await store.get_event("r", 5))["text"] == "m5"
    assert await store.get_event("r", 99) is None
    assert (await store.page("empty")).events == [] and (await store.page("empty")).at_start


async def test_retracted_offsets_are_gone_and_stay_gone(make_store):
    store = await make_store()
    await asyncio.gather(*[store.append("r", i, "e", msg(f"m{i}")) for i in range(1, 6)])
    translation = {"type": "translation", "message_offset": 5, "lang": "zh", "text": "五"}
    await store.append("r", 6, "e", translation)
    assert await store.retract("r", [5, 6, 42]) == 2
    assert [e["offset"] for e in (await store.page("r")).events] == [1, 2, 3, 4]
    assert await store.position("r") == StreamPosition(6, "e")  # offsets go on past a deleted last event
    # A retraction that reaches the store before the append (another node's writer): it holds.
    assert await store.retract("r", [7]) == 0
    await store.append("r", 7, "e", msg("deleted before it was archived"))
    await store.append("r", 8, "e", msg("m8"))
    assert [e["offset"] for e in (await store.page("r")).events] == [1, 2, 3, 4, 8]
    assert await store.get_event("r", 7) is None


async def test_position_is_the_last_offset_and_its_epoch(make_store):
    store = await make_store()
    assert await store.position("r") is None
    await store.append("r", 1, "old", msg("a"))
    await store.append("r", 2, "old", msg("b"))
    await store.append("r", 3, "new", msg("c"))  # Redis came back empty; offsets went on
    await store.append("r", 2, "old", msg("b, retried"))  # a retry: replaces, position stays
    assert await store.position("r") == StreamPosition(3, "new")
    assert (await store.get_event("r", 2))["text"] == "b, retried"
    store = await reopen(make_store, store)
    assert await store.position("r") == StreamPosition(3, "new")


async def test_the_archive_is_bounded_per_room(make_store):
    store = await make_store(limits=StoreLimits(archive_per_room=10))
    await asyncio.gather(*[store.append("r", i, "e", msg(f"m{i}")) for i in range(1, 31)])
    page = await store.page("r", limit=100)
    assert [e["offset"] for e in page.events] == list(range(21, 31)) and page.at_start


async def test_bad_events_fail_their_own_append_only(make_store):
    store = await make_store(limits=StoreLimits(max_event_bytes=1024))
    with pytest.raises(ValueError, match="over the archive"):
        store.append("r", 1, "e", msg("x" * 2000))
    with pytest.raises(ValueError, match="not JSON"):
        store.append("r", 1, "e", {"type": "message", "x": object()})
    with pytest.raises(ValueError, match="positive"):
        store.append("r", 0, "e", msg("x"))
    # (Line breaks too: the archive process reads each event's JSON as one line.)
    awkward = "😀 emoji and 中文 and \u0000 nul\nand\r\nbreaks \u2028\u2029\x85"
    await store.append("r", 1, "e", msg(awkward))
    assert (await store.get_event("r", 1))["text"] == awkward
    # A lone surrogate (JSON text may carry "\ud800") must not fail its batch, nor be lost.
    await asyncio.gather(store.append("r", 2, "e", msg("lone \ud800 surrogate")),
                         store.append("r", 3, "e", msg("its batch-mate")))
    assert (await store.get_event("r", 2))["text"] == "lone \ud800 surrogate"
    assert (await store.get_event("r", 3))["text"] == "its batch-mate"


async def test_a_writer_too_far_behind_refuses_at_once(make_store):
    store = await make_store(limits=StoreLimits(max_pending_appends=5))
    futures = [store.append("r", i, "e", msg(f"m{i}")) for i in range(1, 6)]
    with pytest.raises(StoreUnavailable, match="appends behind"):
        store.append("r", 6, "e", msg("m6"))
    await asyncio.gather(*futures)
    await store.append("r", 6, "e", msg("m6"))  # caught up: taken again


async def test_close_commits_what_is_queued(make_store):
    store = await make_store()
    futures = [store.append("r", i, "e", msg(f"m{i}")) for i in range(1, 101)]
    await store.close()
    assert all(f.done() and f.exception() is None for f in futures)
    store = await make_store()
    assert (await store.position("r")).offset == 100


async def test_the_event_loop_never_waits_for_the_database(make_store):
    store = await make_store()
    gaps = []
    stop = False

    async def ticker():
        last = time.perf_counter()
        while not stop:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    futures = []
    for i in range(1, 5001):  # as senders would: a hundred at a time, then the loop turns
        futures.append(store.append("r", i, "e", msg("x" * 500 + str(i))))
        if i % 100 == 0:
            await asyncio.sleep(0)
    await asyncio.gather(*futures)
    for _ in range(20):
        await store.page("r", limit=500)
    stop = True
    await task
    assert (await store.position("r")).offset == 5000
    # The loop kept turning while the database worked. A loop that waited for the database
    # would stall at every commit and page (dozens of times); on a loaded 2-core machine the
    # OS may still take the thread off its core once or twice, which is not the code's doing.
    stalls = sorted(g for g in gaps if g >= 0.25)
    assert len(stalls) <= max(2, len(gaps) // 100), (len(gaps), stalls)


# Many nodes (PostgreSQL) ----------------------------------------------------------------------


# One SQLite file serves one node (a second is refused: test_errors.py): PostgreSQL only.
@pytest.mark.parametrize("make_store", ["postgres"], indirect=True)
async def test_two_nodes_share_one_database(make_store):
    a, b = await make_store(), await make_store()
    await a.create_room(RoomRecord("r", "R", {"id": "u1"}))
    assert (await b.get_room("r")).owner == {"id": "u1"}
    await b.hold("r", "h", {"text": "?"}, user_id="u", at=1)
    decided = await asyncio.gather(a.decide_held("r", "h", "approved", by="ma"),
                                   b.decide_held("r", "h", "rejected", by="mb"))
    assert sum(d is not None for d in decided) == 1
    await asyncio.gather(a.append("r", 1, "e", msg("from a")), b.append("r", 2, "e", msg("from b")))
    assert [e["text"] for e in (await a.page("r")).events] == ["from a", "from b"]
    assert await b.position("r") == StreamPosition(2, "e")


@pytest.mark.parametrize("make_store", ["postgres"], indirect=True)
async def test_nodes_starting_together_migrate_once(make_store):
    stores = await asyncio.gather(*[make_store() for _ in range(4)])
    rows = await stores[0]._run(_versions(), write=False)
    assert rows == list(range(1, LATEST + 1))


def _versions():
    from rooms.store_sql import Q

    rows = yield Q("SELECT version FROM schema_version ORDER BY version", fetch="all")
    return [int(r[0]) for r in rows]


def _said(offset: int, author: str, text: str) -> dict:
    return {"type": "message", "id": f"m{offset}", "text": text, "author": {"id": author, "name": author}}


def _translated(offset: int, of: int, lang: str) -> dict:
    return {"type": "translation", "message_id": f"m{of}", "message_offset": of, "lang": lang,
            "text": f"t{of}-{lang}"}


async def test_translations_of_messages_are_found_by_their_message(make_store):
    store = await make_store()
    await store.append("r", 1, "e", _said(1, "ann", "hello"))
    await store.append("r", 2, "e", _said(2, "bo", "hi"))
    await store.append("r", 3, "e", _translated(3, 1, "zh"))
    await store.append("r", 4, "e", _translated(4, 2, "zh"))
    await store.append("r", 5, "e", _translated(5, 1, "en"))
    found = await store.translations("r", [1, 2, 9])
    assert {k: [e["offset"] for e in v] for k, v in found.items()} == {1: [3, 5], 2: [4]}
    assert await store.translations("other", [1]) == {}


async def test_a_users_messages_are_deleted_on_request_with_their_translations(make_store):
    store = await make_store()
    await store.append("r", 1, "e", _said(1, "ann", "mine"))
    await store.append("r", 2, "e", _translated(2, 1, "zh"))
    await store.append("r", 3, "e", _said(3, "bo", "theirs"))
    await store.append("s", 1, "e", _said(1, "ann", "elsewhere"))
    await store.hold("r", "h-1", {"text": "held"}, user_id="ann")
    gone = await store.delete_user("ann", room="s")
    assert gone == {"messages": 1, "events": 1, "held": 0}
    gone = await store.delete_user("ann")
    assert gone == {"messages": 1, "events": 2, "held": 1}
    assert [e["offset"] for e in (await store.page("r")).events] == [3]
    assert (await store.page("s")).events == [] and await store.get_held("r", "h-1") is None
    await store.append("r", 1, "e", _said(1, "ann", "mine"))  # a late retry stays deleted
    assert [e["offset"] for e in (await store.page("r")).events] == [3]


async def test_a_retry_in_the_same_batch_replaces_and_big_batches_commit(make_store):
    store = await make_store(commit_interval=0.05)
    first = store.append("r", 1, "e", {"type": "message", "text": "first"})
    again = store.append("r", 1, "e", {"type": "message", "text": "again"})
    many = [store.append(f"room-{i % 7}", 10 + i, "e", {"type": "message", "text": str(i)}) for i in range(1200)]
    await asyncio.gather(first, again, *many)
    assert [e["text"] for e in (await store.page("r")).events] == ["again"]
    assert (await store.position("room-3")).offset == max(10 + i for i in range(1200) if i % 7 == 3)
    assert len(await store.after("room-0", 0, limit=1000)) == len(range(0, 1200, 7))


async def test_a_restriction_gives_back_the_whole_record_it_was_made_from(make_store):
    store = await make_store()
    record = {"reason": "spam", "by": "mod", "time": 5.0, "address": "203.0.113.7"}
    await store.restrict(Restriction("r", "u1", "ban", None, 5.0, "mod", "spam", data=record))
    await store.restrict(Restriction("r", "u2", "ban", None, 5.0, "mod", None))
    got = {r.user_id: r.data for r in await store.restrictions("r")}
    assert got == {"u1": record, "u2": None}
