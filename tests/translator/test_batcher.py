"""Flush rules and shedding of the batcher, with a fake (pure-logic) batch function.

No test sleeps and hopes: each waits for the state it needs (a call under way in the fake,
requests queued in the batcher) or holds the fake with an Event until it has looked.
"""

import asyncio
import threading

import pytest

from tests.harness import until
from translator.batcher import BacklogFull, Batcher, BatcherClosed
from translator.scheduler import Waiting


class FakeBackend:
    def __init__(self, fail: bool = False):
        self.calls: list[tuple[list[str], str, str]] = []
        self.threads: set[str] = set()
        self.fail = fail
        self.release = threading.Event()
        self.release.set()

    def __call__(self, texts, source, target):
        self.calls.append((list(texts), source, target))
        self.threads.add(threading.current_thread().name)
        self.release.wait(5)
        if self.fail:
            raise RuntimeError("model exploded")
        return [f"{target}:{t}" for t in texts]


async def test_full_batch_flushes_without_waiting_for_the_timer():
    fake = FakeBackend()
    b = Batcher(fake, max_batch=4, max_wait_ms=10_000, max_backlog=100)
    # A hang guard far below the 10 s timer: only a full batch can answer within it.
    out = await asyncio.wait_for(asyncio.gather(*(b.submit(f"m{i}", "en", "zh") for i in range(4))), 5)
    assert out == ["zh:m0", "zh:m1", "zh:m2", "zh:m3"]
    assert fake.calls == [(["m0", "m1", "m2", "m3"], "en", "zh")]
    await b.close()


async def test_partial_batch_flushes_after_max_wait():
    fake = FakeBackend()
    b = Batcher(fake, max_batch=100, max_wait_ms=30, max_backlog=100)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    out = await asyncio.gather(b.submit("a", "en", "zh"), b.submit("b", "en", "zh"))
    waited = loop.time() - t0
    assert out == ["zh:a", "zh:b"]
    assert len(fake.calls) == 1
    assert waited >= 0.029  # it did wait for more requests
    await b.close()


async def test_more_than_max_batch_is_split_and_pairs_never_mix():
    fake = FakeBackend()
    b = Batcher(fake, max_batch=3, max_wait_ms=5, max_backlog=100)
    jobs = [b.submit(f"e{i}", "en", "zh") for i in range(7)] + [b.submit(f"z{i}", "zh", "en") for i in range(2)]
    out = await asyncio.gather(*jobs)
    assert out[:7] == [f"zh:e{i}" for i in range(7)]
    assert out[7:] == ["en:z0", "en:z1"]
    assert all(len(texts) <= 3 for texts, _, _ in fake.calls)
    for texts, src, tgt in fake.calls:
        assert all(t[0] == src[0] for t in texts)
    assert sorted(len(texts) for texts, s, _ in fake.calls if s == "en") == [1, 3, 3]
    await b.close()


async def test_runs_off_the_event_loop_in_the_batchers_worker_threads():
    fake = FakeBackend()
    fake.release.clear()  # the "model" blocks until the event loop releases it
    b = Batcher(fake, max_batch=8, max_wait_ms=1, max_backlog=100)
    jobs = asyncio.gather(*(b.submit(str(i), "en", "zh") for i in range(3)))
    await until(lambda: fake.calls, what="the model call under way")
    assert not jobs.done()  # the loop runs while the call is blocked: the call is not on it
    fake.release.set()
    assert await jobs == ["zh:0", "zh:1", "zh:2"]
    assert fake.threads and all(n.startswith("translate") for n in fake.threads)
    assert threading.current_thread().name not in fake.threads
    await b.close()


async def test_requests_arriving_while_busy_form_the_next_batch():
    fake = FakeBackend()
    fake.release.clear()
    b = Batcher(fake, max_batch=10, max_wait_ms=1, max_backlog=100)
    first = asyncio.create_task(b.submit("first", "en", "zh"))
    await until(lambda: fake.calls, what="the first call under way")
    rest = [asyncio.create_task(b.submit(f"r{i}", "en", "zh")) for i in range(5)]
    await until(lambda: b.backlog == 6, what="five requests queued behind the call")
    fake.release.set()
    await asyncio.gather(first, *rest)
    assert [c[0] for c in fake.calls] == [["first"], [f"r{i}" for i in range(5)]]
    await b.close()


async def test_backlog_sheds_new_requests_immediately():
    fake = FakeBackend()
    fake.release.clear()
    shed = []

    class Metrics:
        def inc_shed(self, pair):
            shed.append(pair)

    b = Batcher(fake, max_batch=2, max_wait_ms=1, max_backlog=4, metrics=Metrics())
    held = [asyncio.create_task(b.submit(f"m{i}", "en", "zh")) for i in range(4)]
    await until(lambda: b.backlog == 4 and fake.calls, what="four requests in the backlog")
    # The model is held: a request that queued would hang, so BacklogFull here is "at once".
    with pytest.raises(BacklogFull):
        await asyncio.wait_for(b.submit("one too many", "en", "zh"), 5)
    assert shed == ["en-zh"]
    fake.release.set()
    assert await asyncio.gather(*held) == [f"zh:m{i}" for i in range(4)]
    assert b.backlog == 0
    assert await b.submit("room again", "en", "zh") == "zh:room again"
    await b.close()


async def test_duplicates_in_a_batch_are_translated_once():
    fake = FakeBackend()
    b = Batcher(fake, max_batch=4, max_wait_ms=50, max_backlog=100)
    out = await asyncio.gather(*(b.submit(t, "en", "zh") for t in ["hi", "hi", "yo", "hi"]))
    assert out == ["zh:hi", "zh:hi", "zh:yo", "zh:hi"]
    assert fake.calls == [(["hi", "yo"], "en", "zh")]
    await b.close()


async def test_backend_error_reaches_every_caller_of_the_batch_and_batcher_survives():
    fake = FakeBackend(fail=True)
    b = Batcher(fake, max_batch=2, max_wait_ms=1, max_backlog=100)
    results = await asyncio.gather(b.submit("a", "en", "zh"), b.submit("b", "en", "zh"), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) and "exploded" in str(r) for r in results)
    fake.fail = False
    assert await b.submit("c", "en", "zh") == "zh:c"
    await b.close()


async def test_close_fails_pending_and_later_requests():
    fake = FakeBackend()
    b = Batcher(fake, max_batch=100, max_wait_ms=10_000, max_backlog=100)
    pending = asyncio.create_task(b.submit("never", "en", "zh"))
    await until(lambda: b.backlog == 1, what="the request queued")
    await b.close()
    with pytest.raises(BatcherClosed):
        await pending
    with pytest.raises(BatcherClosed):
        await b.submit("late", "en", "zh")
    assert fake.calls == []


async def test_a_long_message_shares_each_batch_with_short_ones_behind_it():
    fake = FakeBackend()
    fake.release.clear()  # hold the first batch so everything below queues behind it
    b = Batcher(fake, max_batch=4, max_wait_ms=1, max_backlog=1000)
    first = asyncio.ensure_future(b.submit("first", "en", "zh"))
    await until(lambda: fake.calls, what="the first call under way")
    long = [asyncio.ensure_future(b.submit(f"long{i}", "en", "zh", group="long")) for i in range(12)]
    short = [asyncio.ensure_future(b.submit(f"short{i}", "en", "zh", group=f"s{i}")) for i in range(2)]
    await until(lambda: b.backlog == 15, what="every request queued")
    fake.release.set()
    await asyncio.gather(first, *long, *short)
    # The short messages, queued after twelve sentences of the long one, go in the next batch.
    assert fake.calls[1][0] == ["long0", "short0", "short1", "long1"]
    await b.close()


async def test_a_message_share_keeps_a_long_message_in_short_batches():
    fake = FakeBackend()
    fake.release.clear()
    b = Batcher(fake, max_batch=8, max_wait_ms=1, max_backlog=1000, group_share=3)
    first = asyncio.ensure_future(b.submit("first", "en", "zh"))
    await until(lambda: fake.calls, what="the first call under way")
    long = [asyncio.ensure_future(b.submit(f"long{i}", "en", "zh", group="long")) for i in range(7)]
    short = asyncio.ensure_future(b.submit("short", "en", "zh", group="s"))
    await until(lambda: b.backlog == 9, what="every request queued")
    fake.release.set()
    await asyncio.gather(first, *long, short)
    # At most 3 sentences of the long message per call, however much room the batch has.
    assert [c[0] for c in fake.calls[1:]] == [["long0", "short", "long1", "long2"],
                                              ["long3", "long4", "long5"], ["long6"]]
    await b.close()


async def test_similar_lengths_keep_a_short_line_out_of_a_batch_of_long_sentences():
    fake = FakeBackend()
    fake.release.clear()
    b = Batcher(fake, max_batch=8, max_wait_ms=1, max_backlog=1000, similar_lengths=True)
    first = asyncio.ensure_future(b.submit("first", "en", "zh"))
    await until(lambda: fake.calls, what="the first call under way")
    longs = [f"long sentence {i} " + "x" * 80 for i in range(3)]
    long = [asyncio.ensure_future(b.submit(t, "en", "zh", group="long")) for t in longs]
    short = [asyncio.ensure_future(b.submit(f"hi {i}", "en", "zh", group=f"s{i}")) for i in range(2)]
    await until(lambda: b.backlog == 6, what="every request queued")
    fake.release.set()
    await asyncio.gather(first, *long, *short)
    # The short lines go alone (their batch decodes for a short line's steps), the long ones next.
    assert [c[0] for c in fake.calls[1:]] == [["hi 0", "hi 1"], longs]
    await b.close()


async def test_live_requests_go_before_background_ones():
    fake = FakeBackend()
    fake.release.clear()
    b = Batcher(fake, max_batch=2, max_wait_ms=1, max_backlog=1000)
    first = asyncio.ensure_future(b.submit("first", "en", "zh"))
    await until(lambda: fake.calls, what="the first call under way")
    background = [asyncio.ensure_future(b.submit(f"bg{i}", "en", "zh", priority=1)) for i in range(3)]
    live = asyncio.ensure_future(b.submit("live", "en", "zh"))
    await until(lambda: b.backlog == 5, what="every request queued")
    fake.release.set()
    await asyncio.gather(first, live, *background)
    # Background work is in the bulk lane: never in a live batch, and after the live one.
    assert [c[0] for c in fake.calls[1:]] == [["live"], ["bg0", "bg1"], ["bg2"]]
    await b.close()


class GatedBackend:
    """Each call blocks until its texts' gate opens (pure logic: the test says when)."""

    def __init__(self):
        self.calls: list[list[str]] = []
        self.gates: dict[str, threading.Event] = {}
        self.started = threading.Condition()

    def gate(self, text: str) -> threading.Event:
        return self.gates.setdefault(text, threading.Event())

    def __call__(self, texts, source, target):
        with self.started:
            self.calls.append(list(texts))
            self.started.notify_all()
        for t in texts:
            self.gate(t).wait(10)
        return [f"{target}:{t}" for t in texts]

    async def until_called(self, n: int) -> None:
        def wait():
            with self.started:
                return self.started.wait_for(lambda: len(self.calls) >= n, 10)
        assert await asyncio.to_thread(wait), f"{n} calls expected, got {self.calls}"


async def test_a_live_line_runs_beside_a_bulk_batch_under_way_in_another_pair_and_its_own():
    fake = GatedBackend()
    b = Batcher(fake, max_batch=4, max_wait_ms=1, max_backlog=100, slots=2, pair_slots=2, bulk_batch=2)
    long_zh = [asyncio.ensure_future(b.submit(f"long{i}", "zh", "en", bulk=True)) for i in range(4)]
    await fake.until_called(1)
    assert fake.calls == [["long0", "long1"]]  # bulk batches are bulk_batch long
    live_en = asyncio.ensure_future(b.submit("hi", "en", "zh"))
    await fake.until_called(2)  # the second slot, while the bulk batch is still under way
    assert fake.calls[1] == ["hi"]
    fake.gate("hi").set()
    assert await live_en == "zh:hi"
    live_zh = asyncio.ensure_future(b.submit("你好", "zh", "en"))  # same pair as the bulk batch
    await fake.until_called(3)
    assert fake.calls[2] == ["你好"]
    fake.gate("你好").set()
    assert await live_zh == "en:你好"
    for i in range(4):
        fake.gate(f"long{i}").set()
    assert await asyncio.gather(*long_zh) == [f"en:long{i}" for i in range(4)]
    assert fake.calls[3] == ["long2", "long3"]  # one bulk batch at a time
    await b.close()


async def test_one_slot_runs_one_call_at_a_time_and_live_before_bulk():
    fake = GatedBackend()
    b = Batcher(fake, max_batch=4, max_wait_ms=1, max_backlog=100, slots=1, bulk_batch=1)
    peak: list[int] = []  # calls under way each time one starts
    started = b.scheduler.started
    b.scheduler.started = lambda key: (started(key), peak.append(b.scheduler.in_use()))
    bulk = [asyncio.ensure_future(b.submit(f"long{i}", "en", "zh", bulk=True)) for i in range(3)]
    await fake.until_called(1)
    live = [asyncio.ensure_future(b.submit("hi", "zh", "en")), asyncio.ensure_future(b.submit("yo", "en", "zh"))]
    await until(lambda: b.backlog == 5, what="both live lines queued")  # 1 in the call, 2 bulk, 2 live
    # The dispatcher has seen them (a submit wakes it) and the scheduler says: nothing starts.
    waiting = {k: Waiting(len(q), q.oldest()) for k, q in b._queues.items() if len(q)}
    assert b.scheduler.in_use() == 1 and b.scheduler.choose(waiting, float("inf")) == (None, None)
    for t in ("hi", "yo", "long0", "long1", "long2"):
        fake.gate(t).set()
    await asyncio.gather(*bulk, *live)
    assert peak == [1] * 5  # never two calls at once
    assert sorted(map(tuple, fake.calls[1:3])) == [("hi",), ("yo",)]  # both live lines before more bulk
    assert fake.calls[3:] == [["long1"], ["long2"]]
    await b.close()


async def test_a_request_whose_caller_gave_up_is_never_translated():
    fake = FakeBackend()
    fake.release.clear()
    b = Batcher(fake, max_batch=4, max_wait_ms=1, max_backlog=100)
    first = asyncio.ensure_future(b.submit("first", "en", "zh"))
    await until(lambda: fake.calls, what="the first call under way")
    late = asyncio.ensure_future(b.submit("too late", "en", "zh"))
    kept = asyncio.ensure_future(b.submit("kept", "en", "zh"))
    await until(lambda: b.backlog == 3, what="every request queued")
    late.cancel()  # e.g. its deadline passed
    fake.release.set()
    assert await kept == "zh:kept" and await first == "zh:first"
    assert all("too late" not in texts for texts, _, _ in fake.calls)
    await b.close()
