"""The node-wide scheduler's decisions (pure logic: explicit clock, no threads, no timing)."""

import pytest

from translator.scheduler import BULK_LANE, LIVE_LANE, Scheduler, Waiting

EN_ZH, ZH_EN = ("en", "zh"), ("zh", "en")
LIVE_EN, LIVE_ZH = (EN_ZH, LIVE_LANE), (ZH_EN, LIVE_LANE)
BULK_EN, BULK_ZH = (EN_ZH, BULK_LANE), (ZH_EN, BULK_LANE)


def sched(**kw) -> Scheduler:
    return Scheduler(**{"slots": 2, "pair_slots": 2, "max_batch": 4, "max_wait": 0.005, **kw})


def test_bulk_takes_one_of_two_slots_by_default():
    s = sched()
    assert s.bulk_slots == 1
    assert s.choose({BULK_EN: Waiting(10, 0.0)}, 1.0) == (BULK_EN, None)
    s.started(BULK_EN)
    # A second bulk batch (either pair) waits although a slot is free: it is the live lines'.
    assert s.choose({BULK_EN: Waiting(10, 0.0), BULK_ZH: Waiting(10, 0.0)}, 1.0) == (None, None)
    assert s.choose({BULK_ZH: Waiting(10, 0.0), LIVE_ZH: Waiting(1, 0.9)}, 1.0) == (LIVE_ZH, None)


def test_no_bulk_batch_starts_while_live_work_waits_anywhere():
    s = sched()
    # The live line is still in its batching window: nothing starts, look again when it ends.
    key, at = s.choose({BULK_EN: Waiting(10, 0.0), LIVE_ZH: Waiting(1, 0.999)}, 1.0)
    assert key is None and at == pytest.approx(1.004)
    assert s.choose({BULK_EN: Waiting(10, 0.0), LIVE_ZH: Waiting(1, 0.999)}, 1.004) == (LIVE_ZH, None)


def test_a_full_live_batch_goes_at_once_and_the_oldest_live_queue_first():
    s = sched()
    assert s.choose({LIVE_EN: Waiting(4, 0.9999)}, 1.0) == (LIVE_EN, None)
    assert s.choose({LIVE_EN: Waiting(1, 0.5), LIVE_ZH: Waiting(1, 0.4)}, 1.0) == (LIVE_ZH, None)


def test_live_work_may_use_every_slot_and_nothing_starts_when_all_are_busy():
    s = sched()
    s.started(LIVE_EN)
    assert s.choose({LIVE_EN: Waiting(1, 0.0)}, 1.0) == (LIVE_EN, None)
    s.started(LIVE_EN)
    assert s.choose({LIVE_ZH: Waiting(1, 0.0)}, 1.0) == (None, None)
    s.finished(LIVE_EN)
    assert s.choose({LIVE_ZH: Waiting(1, 0.0)}, 1.0) == (LIVE_ZH, None)


def test_a_model_runs_at_most_pair_slots_calls():
    s = sched(pair_slots=1)
    s.started(BULK_ZH)
    # zh->en's model is busy: its live line waits for it; en->zh's does not.
    assert s.choose({LIVE_ZH: Waiting(1, 0.0)}, 1.0) == (None, None)
    assert s.choose({LIVE_ZH: Waiting(1, 0.0), LIVE_EN: Waiting(1, 0.5)}, 1.0) == (LIVE_EN, None)


def test_bulk_batches_take_turns_between_pairs():
    s = sched()
    waiting = {BULK_EN: Waiting(20, 0.0), BULK_ZH: Waiting(20, 0.5)}
    order = []
    for _ in range(4):
        key, _ = s.choose(waiting, 1.0)
        order.append(key)
        s.started(key)
        s.finished(key)
    assert order == [BULK_EN, BULK_ZH, BULK_EN, BULK_ZH]


def test_one_slot_serves_live_first_then_bulk():
    s = sched(slots=1, pair_slots=1)
    assert s.bulk_slots == 1
    waiting = {BULK_EN: Waiting(5, 0.0), LIVE_EN: Waiting(1, 0.5)}
    assert s.choose(waiting, 1.0) == (LIVE_EN, None)
    s.started(LIVE_EN)
    assert s.choose({BULK_EN: Waiting(5, 0.0)}, 1.0) == (None, None)
    s.finished(LIVE_EN)
    assert s.choose({BULK_EN: Waiting(5, 0.0)}, 1.0) == (BULK_EN, None)


def test_empty_queues_are_ignored_and_bad_settings_refused():
    s = sched()
    assert s.choose({LIVE_EN: Waiting(0, 0.0), BULK_EN: Waiting(0, 0.0)}, 1.0) == (None, None)
    s.finished(LIVE_EN)  # an unknown key never goes negative
    assert s.in_use() == 0
    with pytest.raises(ValueError):
        Scheduler(slots=0)
    with pytest.raises(ValueError):
        Scheduler(slots=2, bulk_slots=3)
