"""The lean receive queue and writable flag that replace asyncio's in our WebSocket protocol."""

import asyncio

import pytest

from chatserver.wsprotocol import LeanEvent, LeanQueue


async def test_queue_is_fifo_and_allocates_nothing_when_empty():
    q = LeanQueue()
    assert q.empty() and q.qsize() == 0 and q._items is None
    for i in range(3):
        q.put_nowait(i)
    assert q.qsize() == 3
    assert [await q.get() for _ in range(3)] == [0, 1, 2]
    assert q._items is None and q._getters is None
    with pytest.raises(asyncio.QueueEmpty):
        q.get_nowait()


async def test_waiting_getters_are_served_in_order():
    q = LeanQueue()
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.put_nowait("a")
    q.put_nowait("b")
    assert await first == "a" and await second == "b"


async def test_a_cancelled_getter_passes_its_item_on():
    q = LeanQueue()
    doomed = asyncio.create_task(q.get())
    survivor = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.put_nowait("x")  # wakes `doomed`...
    doomed.cancel()  # ...which is cancelled before it takes the item
    assert await survivor == "x"
    with pytest.raises(asyncio.CancelledError):
        await doomed


async def test_event_set_clear_wait():
    e = LeanEvent()
    assert not e.is_set()
    waiters = [asyncio.create_task(e.wait()) for _ in range(2)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    e.set()
    assert await asyncio.gather(*waiters) == [True, True]
    assert e._waiters is None
    e.clear()
    late = asyncio.create_task(e.wait())
    await asyncio.sleep(0)
    late.cancel()
    with pytest.raises(asyncio.CancelledError):
        await late
    assert e._waiters is None
    e.set()
    assert await e.wait() is True
