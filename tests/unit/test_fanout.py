"""Hub and outbound queue without sockets: encode once, batch writes, bounded queues."""

import asyncio

from chatserver.outbound import Flusher, Outbound, SharedFrame
from rooms.hub import Hub
from rooms.memory import MemoryBroker


class FakeSink:
    def __init__(self, writable=True):
        self._writable = writable
        self.writes: list[list[SharedFrame]] = []
        self.aborted = None
        self.extra_buffered = 0

    def writable(self):
        return self._writable

    def buffered(self):
        return self.extra_buffered

    def write(self, frames):
        self.writes.append(list(frames))

    def abort(self, code, reason):
        self.aborted = (code, reason)


def make_outbound(sink, **kw):
    overflowed = []
    ob = Outbound(sink, max_messages=kw.get("max_messages", 100), max_bytes=kw.get("max_bytes", 10_000),
                  on_overflow=lambda: overflowed.append(True), flusher=Flusher())
    return ob, overflowed


async def test_frames_pushed_in_one_turn_are_written_together():
    sink = FakeSink()
    ob, _ = make_outbound(sink)
    for i in range(5):
        assert ob.push(SharedFrame(f"f{i}"))
    assert sink.writes == []  # nothing written synchronously
    await asyncio.sleep(0)
    assert [[f.payload for f in w] for w in sink.writes] == [["f0", "f1", "f2", "f3", "f4"]]


async def test_message_bound_overflows_once_and_drops_the_queue():
    sink = FakeSink(writable=False)
    ob, overflowed = make_outbound(sink, max_messages=3)
    results = [ob.push(SharedFrame("x")) for _ in range(5)]
    assert results == [True, True, True, False, False]
    assert overflowed == [True] and ob.closed and ob.pending == 0


async def test_byte_bound_counts_the_transport_buffer_when_writing():
    sink = FakeSink()
    sink.extra_buffered = 9_991
    ob, overflowed = make_outbound(sink, max_bytes=10_000)
    assert ob.push(SharedFrame("123456789"))
    assert ob.push(SharedFrame("a"))  # our own queue is within the bound
    await asyncio.sleep(0)  # the flush sees the socket's backlog too
    assert overflowed == [True] and sink.writes == []


async def test_byte_bound_on_our_own_queue_is_checked_on_push():
    sink = FakeSink(writable=False)
    ob, overflowed = make_outbound(sink, max_bytes=100)
    assert ob.push(SharedFrame("x" * 60))
    assert not ob.push(SharedFrame("x" * 60))
    assert overflowed == [True]


async def test_unwritable_transport_keeps_frames_until_flushed():
    sink = FakeSink(writable=False)
    ob, _ = make_outbound(sink)
    ob.push(SharedFrame("a"))
    await asyncio.sleep(0)
    assert sink.writes == [] and ob.pending == 1
    sink._writable = True
    ob.flush()
    assert [f.payload for f in sink.writes[0]] == ["a"]


def test_shared_frame_wire_bytes_are_a_complete_unmasked_frame_built_once():
    frame = SharedFrame("hello")
    wire = frame.wire()
    assert wire == b"\x81\x05hello" and frame.wire() is wire
    assert SharedFrame(b"\x01\x02").wire() == b"\x82\x02\x01\x02"
    big = SharedFrame("x" * 300).wire()
    assert big[:4] == b"\x81\x7e\x01\x2c" and len(big) == 304


class Recorder:
    def __init__(self, codec):
        self.codec = codec
        self.got = []

    def deliver(self, room, event, encoded):
        self.got.append(encoded.get(self.codec))


async def test_hub_subscribes_once_and_encodes_once_per_codec():
    broker = MemoryBroker()
    calls = []

    def encode(event, codec):
        calls.append(codec)
        return (codec, event["n"])

    hub = Hub(broker, encode)
    members = [Recorder("json") for _ in range(50)] + [Recorder("msgpack") for _ in range(50)]
    subscribes = []
    original = broker.subscribe

    async def counting_subscribe(room, handler):
        subscribes.append(room)
        await original(room, handler)

    broker.subscribe = counting_subscribe
    for m in members:
        await hub.join("r", m)
    await broker.publish("r", {"n": 1})
    assert subscribes == ["r"]
    assert sorted(calls) == ["json", "msgpack"]
    assert all(m.got == [(m.codec, 1)] for m in members)


async def test_hub_unsubscribes_when_the_last_member_leaves():
    broker = MemoryBroker()
    hub = Hub(broker, lambda e, c: e)
    a, b = Recorder("json"), Recorder("json")
    await hub.join("r", a)
    await hub.join("r", b)
    await hub.leave("r", a)
    assert "r" in hub.rooms()
    await hub.leave("r", b)
    assert hub.rooms() == []
    await broker.publish("r", {"n": 1})
    assert a.got == [] and b.got == []


async def test_one_failing_member_does_not_cost_others_their_event():
    broker = MemoryBroker()
    hub = Hub(broker, lambda e, c: e["n"])

    class Broken:
        codec = "json"

        def deliver(self, room, event, encoded):
            raise RuntimeError("boom")

    good = Recorder("json")
    await hub.join("r", Broken())
    await hub.join("r", good)
    await broker.publish("r", {"n": 7})
    assert good.got == [7]


async def test_a_burst_in_one_turn_is_written_eagerly_not_counted_as_slowness():
    sink = FakeSink()
    ob, overflowed = make_outbound(sink, max_messages=100, max_bytes=40_000)
    for _ in range(300):
        assert ob.push(SharedFrame("x" * 1000))
    assert overflowed == [] and sum(len(w) for w in sink.writes) >= 290


async def test_one_large_frame_on_an_idle_connection_is_not_an_overflow():
    sink = FakeSink()
    ob, overflowed = make_outbound(sink, max_bytes=10_000)
    assert ob.push(SharedFrame("x" * 50_000))
    assert overflowed == []


async def test_hub_fan_out_follows_joins_and_leaves_between_events():
    # the hub keeps a member tuple between events: a join or a leave must replace it
    broker = MemoryBroker()
    hub = Hub(broker, lambda e, c: e["n"])
    a, b = Recorder("json"), Recorder("json")
    await hub.join("r", a)
    await broker.publish("r", {"n": 1})
    await hub.join("r", b)
    await broker.publish("r", {"n": 2})
    await hub.leave("r", a)
    await broker.publish("r", {"n": 3})
    assert a.got == [1, 2] and b.got == [2, 3]


class FakeTransport:
    def __init__(self):
        self.written = []
        self.closing = False

    def write(self, data):
        self.written.append(data)

    def is_closing(self):
        return self.closing

    def get_write_buffer_size(self):
        return 0

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)


def accepted_connection():
    """Our uvicorn protocol on a fake transport, with the RawConnection it makes on accepting."""
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    from chatserver.wsprotocol import LiveBridgeWebSocketProtocol, RawConnection

    protocol = LiveBridgeWebSocketProtocol(Config(app=None, ws="websockets-sansio"), ServerState(), {})
    protocol.connection_made(FakeTransport())
    protocol.raw_connection = RawConnection(protocol)
    return protocol


async def test_direct_sink_writes_frames_until_the_connection_closes():
    from chatserver.outbound import DirectSink

    protocol = accepted_connection()
    sink = DirectSink(protocol.raw_connection)
    written = protocol.transport.written
    assert sink.writable()
    sink.write([SharedFrame("a")])
    sink.write([SharedFrame("b"), SharedFrame("c")])
    assert written == [b"\x81\x01a", b"\x81\x01b\x81\x01c"]
    protocol.pause_writing()  # the transport's buffer is past its high-water mark
    assert not sink.writable()
    protocol.resume_writing()
    assert sink.writable()
    protocol.transport.closing = True  # e.g. the client's close frame was answered
    sink.write([SharedFrame("d")])
    protocol.transport.closing = False
    protocol.close_sent = True  # as uvicorn sets it
    assert not sink.writable()
    sink.write([SharedFrame("e")])
    assert written == [b"\x81\x01a", b"\x81\x01b\x81\x01c"]


async def test_a_lost_connection_is_not_writable():
    from chatserver.outbound import DirectSink

    protocol = accepted_connection()
    sink = DirectSink(protocol.raw_connection)
    protocol.pause_writing()
    protocol.disconnected = True  # as uvicorn's connection_lost sets it (and the writable event)
    protocol.writable.set()
    assert not sink.writable()


def test_a_bound_flusher_schedules_its_flush_on_its_loop_with_no_loop_running():
    class Loop:
        def __init__(self):
            self.scheduled = []

        def call_soon(self, callback):
            self.scheduled.append(callback)

    loop = Loop()
    flusher = Flusher()
    flusher.bind(loop)  # type: ignore[arg-type]
    sink = FakeSink()
    ob = Outbound(sink, max_messages=100, max_bytes=10_000, on_overflow=lambda: None, flusher=flusher)
    ob.push(SharedFrame("a"))
    ob.push(SharedFrame("b"))
    assert len(loop.scheduled) == 1  # one flush per turn, on the bound loop
    loop.scheduled[0]()
    assert [[f.payload for f in w] for w in sink.writes] == [["a", "b"]]
