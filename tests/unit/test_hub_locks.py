"""The hub's per-room locks exist only while a join or leave needs them: a node that saw
many rooms keeps none of theirs, and joiners already waiting on a lock keep it."""

import asyncio

from rooms.hub import Hub
from rooms.memory import MemoryBroker


async def until(condition, what):
    """Wait loop turn by loop turn, bounded, until ``condition()`` holds: the condition
    itself, never a count of turns."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never: {what}")


async def until_waiting(hub, room, joins_and_leaves):
    """Until that many joins and leaves hold or wait for the room's lock."""
    def reached():
        held = hub._locks.get(room)
        return held is not None and held.users >= joins_and_leaves
    await until(reached, f"{joins_and_leaves} joins/leaves at the lock of {room}")


class Recorder:
    codec = "json"

    def __init__(self):
        self.got = []

    def deliver(self, room, event, encoded):
        self.got.append(event["n"])


async def test_no_lock_is_kept_for_rooms_joined_and_left():
    broker = MemoryBroker()
    hub = Hub(broker, lambda e, c: e)
    for i in range(500):
        member = Recorder()
        await hub.join(f"r{i}", member)
        await hub.join(f"r{i}", Recorder())
        await hub.leave(f"r{i}", member)
    assert hub.locks() == 0 and len(hub.rooms()) == 500
    for i in range(500):
        for member in list(hub.members(f"r{i}")):
            await hub.leave(f"r{i}", member)
    assert hub.locks() == 0 and hub.rooms() == []


async def test_joiners_waiting_on_a_slow_subscribe_share_its_lock_and_one_subscription():
    broker = MemoryBroker()
    gate = asyncio.Event()
    subscribes = []
    original = broker.subscribe

    async def slow_subscribe(room, handler):
        subscribes.append(room)
        await gate.wait()
        await original(room, handler)

    broker.subscribe = slow_subscribe
    hub = Hub(broker, lambda e, c: e)
    members = [Recorder() for _ in range(5)]
    joins = [asyncio.create_task(hub.join("r", m)) for m in members]
    await until(lambda: subscribes, "the first join subscribes")
    await until_waiting(hub, "r", 5)  # the first holds it, the other four wait on it
    assert hub.locks() == 1  # held by the first, waited for by the others: not dropped
    gate.set()
    await asyncio.gather(*joins)
    assert subscribes == ["r"] and hub.members("r") == set(members) and hub.locks() == 0
    await broker.publish("r", {"n": 1})
    assert all(m.got == [1] for m in members)


async def test_a_join_during_the_last_leave_subscribes_again():
    broker = MemoryBroker()
    gate = asyncio.Event()
    original = broker.unsubscribe
    unsubscribing = []

    async def slow_unsubscribe(room):
        unsubscribing.append(room)
        await gate.wait()
        await original(room)

    broker.unsubscribe = slow_unsubscribe
    hub = Hub(broker, lambda e, c: e)
    first, second = Recorder(), Recorder()
    await hub.join("r", first)
    leaving = asyncio.create_task(hub.leave("r", first))
    await until(lambda: unsubscribing, "the last leave unsubscribes")
    joining = asyncio.create_task(hub.join("r", second))
    await until_waiting(hub, "r", 2)  # the leave holds it, the join waits on it
    assert not joining.done()  # waits for the unsubscribe rather than joining a room going away
    gate.set()
    await asyncio.gather(leaving, joining)
    assert hub.members("r") == {second} and hub.locks() == 0
    await broker.publish("r", {"n": 7})
    assert second.got == [7] and first.got == []


async def test_a_cancelled_waiter_gives_its_place_back():
    broker = MemoryBroker()
    gate = asyncio.Event()
    original = broker.subscribe

    async def slow_subscribe(room, handler):
        await gate.wait()
        await original(room, handler)

    broker.subscribe = slow_subscribe
    hub = Hub(broker, lambda e, c: e)
    first = asyncio.create_task(hub.join("r", Recorder()))
    waiter = asyncio.create_task(hub.join("r", Recorder()))
    await until_waiting(hub, "r", 2)
    waiter.cancel()
    gate.set()
    await first
    assert waiter.cancelled() and hub.locks() == 0 and len(hub.members("r")) == 1
