"""The collection policy: when a sweep and a whole pass are due, that a sweep freezes what
survived and a whole pass reclaims cycles among frozen objects, and that it hands back."""

import asyncio
import gc
import weakref

from chatserver.gcpolicy import NEVER, Collections, forget_transport_callback


class Node:
    """Something that can sit in a reference cycle and be watched with a weak reference."""

    def __init__(self) -> None:
        self.other = None


def test_a_sweep_waits_for_enough_promotions():
    policy = Collections(promotions=2)
    assert not policy.sweep_due(0)
    assert not policy.sweep_due(1)
    assert policy.sweep_due(2)
    assert policy.sweep_due(7)


def test_no_whole_pass_before_the_min_interval_even_when_the_heap_grew():
    policy = Collections(whole_min_interval=600, whole_max_interval=3600, growth=0.25)
    policy._last_whole, policy._base = 0.0, 1000
    assert not policy.whole_due(599.0, 5000)
    assert policy.whole_due(600.0, 1250)


def test_growth_below_the_share_waits_for_the_max_interval():
    policy = Collections(whole_min_interval=600, whole_max_interval=3600, growth=0.25, growth_min=0.05)
    policy._last_whole, policy._base = 0.0, 1000
    assert not policy.whole_due(1000.0, 1100)
    assert policy.whole_due(3600.0, 1100)


def test_a_heap_that_holds_steady_gets_no_whole_pass():
    policy = Collections(whole_min_interval=600, whole_max_interval=3600, growth=0.25, growth_min=0.05)
    policy._last_whole, policy._base = 0.0, 1000
    assert not policy.whole_due(100_000.0, 1000)
    assert not policy.whole_due(100_000.0, 1040)  # under 5%: not worth a scan of everything


def _cycle() -> weakref.ref:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_a_sweep_frees_young_cycles_and_freezes_survivors_until_a_whole_pass():
    gc.collect()
    frozen_before = gc.get_freeze_count()
    policy = Collections()
    try:
        garbage = _cycle()  # unreachable already: the sweep frees it
        kept = Node()
        kept.other = Node()
        kept.other.other = kept
        survivor = weakref.ref(kept)
        policy.sweep()
        assert garbage() is None
        assert gc.get_freeze_count() > frozen_before  # the survivors are out of the scans
        del kept  # a cycle among frozen objects: only a whole pass finds it
        gc.collect()
        assert survivor() is not None
        policy.whole()
        assert survivor() is None
        assert policy.pauses["sweep"].count == 1 and policy.pauses["whole"].count == 1
        assert policy.pauses["whole"].longest > 0
    finally:
        gc.unfreeze()


def test_a_closed_transport_no_longer_refers_to_itself():
    class Transport:
        def __init__(self, closing: bool) -> None:
            self._closing = closing
            self._read_ready_cb = self._read

        def _read(self) -> None: ...

        def is_closing(self) -> bool:
            return self._closing

    open_one, closed = Transport(False), Transport(True)
    forget_transport_callback(open_one)
    forget_transport_callback(closed)
    forget_transport_callback(object())  # not an asyncio transport: nothing happens
    assert open_one._read_ready_cb is not None  # still read from
    assert closed._read_ready_cb is None
    gc.disable()
    try:
        watched = weakref.ref(closed)
        del closed
        assert watched() is None  # by reference count, with the collector off
    finally:
        gc.enable()


def test_start_takes_the_oldest_generation_and_stop_gives_it_back():
    before = gc.get_threshold()

    async def run():
        policy = Collections(promotions=1, check_every=0.01)
        policy.start()
        assert gc.get_threshold() == (*before[:2], NEVER)
        assert policy.pauses["sweep"].count == 1  # startup's objects frozen at once
        sweeps = policy.pauses["sweep"].count
        # Enough young collections to promote into the oldest generation: a sweep follows.
        deadline = asyncio.get_running_loop().time() + 5
        while policy.pauses["sweep"].count == sweeps:
            assert asyncio.get_running_loop().time() < deadline, "no sweep after promotions"
            junk = [[Node() for _ in range(100)] for _ in range(100)]
            del junk
            await asyncio.sleep(0)
        assert policy.pauses["young"].count > 0
        await policy.stop()
        return policy

    asyncio.run(run())
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert not any(getattr(cb, "__self__", None).__class__ is Collections for cb in gc.callbacks)
