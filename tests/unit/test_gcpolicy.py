"""The full-collection budget: when a full collection is due, and that it hands back."""

import asyncio
import gc

from chatserver.gcpolicy import NEVER, FullCollections


def test_not_before_min_interval_even_when_the_heap_grew():
    policy = FullCollections(min_interval=10, max_interval=100, growth=0.25)
    policy._last, policy._base = 0.0, 1000
    assert not policy.due(5.0, 5000)
    assert policy.due(10.0, 1250)


def test_growth_below_the_share_waits_for_max_interval():
    policy = FullCollections(min_interval=10, max_interval=100, growth=0.25, growth_min=0.05)
    policy._last, policy._base = 0.0, 1000
    assert not policy.due(50.0, 1100)
    assert policy.due(100.0, 1100)


def test_a_heap_that_holds_steady_is_left_alone():
    policy = FullCollections(min_interval=10, max_interval=100, growth=0.25, growth_min=0.05)
    policy._last, policy._base = 0.0, 1000
    assert not policy.due(1000.0, 1000)
    assert not policy.due(1000.0, 1040)  # under 5% after max_interval: not worth a scan


def test_start_takes_full_collections_and_stop_gives_them_back():
    before = gc.get_threshold()

    async def run():
        policy = FullCollections(check_every=0.01, min_interval=0.0, growth=0.0, growth_min=0.0, max_interval=0.0)
        policy.start()
        assert gc.get_threshold()[2] == NEVER
        assert gc.get_threshold()[:2] == before[:2]
        policy._base = 0  # the heap "grew": the next look collects

        async def collected():
            while policy.runs == 0:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(collected(), 5)
        await policy.stop()
        return policy

    policy = asyncio.run(run())
    assert policy.runs >= 1 and policy.cpu_seconds >= 0
    assert gc.get_threshold() == before
