"""The archive's group committer (rooms.store.GroupCommitter): when a commit waits for company.

A fake batch writer stands in for the store; the commit window is 10 s, so a test that waited
it out would time out instead of passing.
"""

from __future__ import annotations

import asyncio

import pytest

from rooms.store import ArchiveRecord, GroupCommitter


def record(offset: int) -> ArchiveRecord:
    return ArchiveRecord("r", offset, "e", "message", "u", None, "{}")


class Writer:
    """Records each batch; a batch can be held until the test lets it go."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.hold: asyncio.Event | None = None

    async def __call__(self, batch: list[ArchiveRecord]) -> None:
        self.batches.append([r.offset for r in batch])
        if self.hold is not None:
            await self.hold.wait()


async def until(condition, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0)


@pytest.mark.timeout(20)
async def test_one_sender_after_another_never_waits_for_the_window():
    writer = Writer()
    committer = GroupCommitter(writer, interval=10.0)
    committer.start()
    for offset in range(1, 6):  # each append alone: each commits at once
        await asyncio.wait_for(committer.submit(record(offset)), 2)
    assert writer.batches == [[1], [2], [3], [4], [5]]
    await committer.close()


@pytest.mark.timeout(20)
async def test_under_load_the_next_commit_gathers_for_the_window():
    writer = Writer()
    committer = GroupCommitter(writer, interval=10.0)
    committer.start()
    writer.hold = asyncio.Event()
    first = committer.submit(record(1))
    await until(lambda: writer.batches == [[1]])  # committing, held
    during = [committer.submit(record(o)) for o in (2, 3)]
    writer.hold.set()
    await asyncio.wait_for(asyncio.gather(first, *during), 2)  # what came meanwhile: one batch
    assert writer.batches == [[1], [2, 3]]
    later = committer.submit(record(4))
    await until(lambda: committer._nap is not None)  # after a batch of two: the window is waited
    assert not later.done() and writer.batches == [[1], [2, 3]]
    await committer.close()  # cuts the window short and commits what waits
    assert later.done() and writer.batches == [[1], [2, 3], [4]]


@pytest.mark.timeout(20)
async def test_appends_futures_belong_to_the_loop_the_committer_started_on():
    writer = Writer()
    committer = GroupCommitter(writer, interval=10.0)
    committer.start()
    future = committer.submit(record(1))
    assert future.get_loop() is asyncio.get_running_loop()
    await asyncio.wait_for(future, 2)
    await committer.close()
