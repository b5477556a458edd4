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


class _Transport:
    def __init__(self):
        self.paused = False
        self.pauses = 0

    def pause_reading(self):
        self.paused, self.pauses = True, self.pauses + 1

    def resume_reading(self):
        self.paused = False


def _reader(max_size: int):
    """The read-ahead part of our protocol, without a socket (uvicorn's constructor needs one)."""
    from types import SimpleNamespace

    from chatserver.wsprotocol import LiveBridgeWebSocketProtocol
    p = object.__new__(LiveBridgeWebSocketProtocol)
    p.queue, p.read_paused, p.close_sent, p._queued_bytes = LeanQueue(), False, False, 0
    p.transport, p.config = _Transport(), SimpleNamespace(ws_max_size=max_size)
    p.curr_msg_data_type = "text"
    return p


def _arrive(p, data: bytes):
    p.frames = [data]
    p.send_receive_event_to_app()


async def test_reading_pauses_after_read_ahead_messages_not_after_each():
    from chatserver.wsprotocol import READ_AHEAD
    p = _reader(65536)
    for i in range(READ_AHEAD - 1):
        _arrive(p, b'{"type":"ping"}')
    assert not p.transport.paused and p.transport.pauses == 0
    _arrive(p, b'{"type":"ping"}')
    assert p.transport.paused
    messages = [await p.receive() for _ in range(READ_AHEAD // 2)]
    assert messages[0] == {"type": "websocket.receive", "text": '{"type":"ping"}', "size": 15}
    assert not p.transport.paused  # drained to half: reading again
    while p.queue.qsize():
        await p.receive()
    assert p._queued_bytes == 0


async def test_reading_pauses_once_the_waiting_messages_hold_a_frames_worth_of_bytes():
    p = _reader(1000)
    _arrive(p, b"x" * 600)
    assert not p.transport.paused
    _arrive(p, b"x" * 600)
    assert p.transport.paused  # two messages, but 1,200 bytes wait
    await p.receive()
    assert not p.transport.paused and p._queued_bytes == 600


class CountingLoop:
    """The running loop, counting the futures made through it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.futures = 0

    def create_future(self) -> asyncio.Future:
        self.futures += 1
        return self.loop.create_future()


async def test_a_queue_given_its_loop_makes_its_getters_futures_there():
    loop = CountingLoop(asyncio.get_running_loop())
    q = LeanQueue(loop)  # type: ignore[arg-type]
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert loop.futures == 1
    q.put_nowait("a")
    assert await getter == "a"
