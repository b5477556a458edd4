"""The message archive behind the broker: what a room said, kept in the durable store.

:class:`ArchivedBroker` wraps the engine's broker. Every persistent event goes through the
engine first (its offset, the live window, fan-out to every node: nobody waits for the
disk), then into :meth:`rooms.store.Store.append`. What it promises:

- **The ack means durable.** ``publish`` returns as soon as the engine has published; its
  result's ``committed`` future resolves when the event's group commit is done, and the
  session sends the ack only then (a connection's later frames are not held up meanwhile,
  and acks keep their order: batches commit in order). A failed commit fails the future with
  :class:`~rooms.store.StoreUnavailable`: the sender gets ``unavailable``, never a false ack.
  A retry with the same ``client_msg_id`` finds the engine's idempotency record and appends
  the same offset again (a replace), so nothing doubles. Translations are archived too, but
  nobody waits for them.
- **Offsets go on.** A room the engine has no history of (a restart of the memory engine, an
  emptied Redis) is opened at the archive's last offset and epoch (the engine's
  :attr:`~rooms.engine.Broker.origin` hook), so offsets never restart at 1 over an archive.
- **History reaches back.** A ``before`` page that runs out of the live window goes on in the
  archive, back to the room's first message; a ``since`` the live window no longer covers is
  served from the archive (still ``recovered``) when its epoch is the archive's.
- **Deletions are for good.** ``retract`` deletes from the store first, then the window.

Whole event dicts are archived, so fields added to events later pass through unchanged.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from rooms.engine import Broker, Event, HistoryResult, PublishResult, StreamPosition
from rooms.store import Store

log = logging.getLogger(__name__)

NOT_AWAITED = frozenset({"translation"})  # archived, but no sender waits for them
ROOMS_REMEMBERED = 10_000  # rooms this node knows to be recorded in the store


class ArchivedBroker(Broker):
    """The engine's broker with the store's archive behind it (see the module docstring).

    ``on_first_event`` is awaited before a room's first archived event on this node (the
    room is recorded in the store then: an auto-created room becomes durable only once
    something is said in it)."""

    def __init__(self, inner: Broker, store: Store, *,
                 on_first_event: Callable[[str], Awaitable[None]] | None = None) -> None:
        self.inner = inner
        self.store = store
        self.on_first_event = on_first_event
        self._recorded: OrderedDict[str, None] = OrderedDict()
        inner.origin = self._origin

    async def _origin(self, room: str) -> StreamPosition | None:
        await self.store.flush()  # this node's own appends first
        return await self.store.position(room)

    async def _archive(self, room: str, result: PublishResult) -> PublishResult:
        """Queue ``result``'s event for the archive; the result carries its commit future."""
        if room not in self._recorded:
            if self.on_first_event is not None:
                await self.on_first_event(room)
            self._recorded[room] = None
            if len(self._recorded) > ROOMS_REMEMBERED:
                self._recorded.popitem(last=False)
        try:
            # (A failed commit's exception is retrieved by the store's committer, so a commit
            # nobody waits for never logs "exception never retrieved": no callback per event.)
            committed = asyncio.ensure_future(
                self.store.append(room, result.offset, result.epoch, result.event))
        except ValueError as exc:  # not JSON or too big for the archive: live only
            log.warning("room %s: event %s not archived: %s", room, result.offset, exc)
            return result
        if result.event.get("type") in NOT_AWAITED:
            return result
        # (not dataclasses.replace: it costs more than the rest of this method)
        return PublishResult(result.offset, result.epoch, result.event, result.duplicate, committed)

    # Writes --------------------------------------------------------------------------------

    async def publish(self, room, event, *, idempotency_key=None):
        """Publish through the engine (fan-out is not held back), then append; the result's
        ``committed`` future is the append's commit (a duplicate is appended again: a
        retry's replace)."""
        result = await self.inner.publish(room, event, idempotency_key=idempotency_key)
        return await self._archive(room, result)

    async def lookup(self, room, idempotency_key):
        result = await self.inner.lookup(room, idempotency_key)
        if result is not None and result.event.get("type") == "message":
            # A sender's retry: answered from its first publish, acked only once archived.
            return await self._archive(room, result)
        return result

    async def broadcast(self, room, event):
        await self.inner.broadcast(room, event)

    async def retract(self, room, offsets):
        archived = await self.store.retract(room, list(offsets))
        live = await self.inner.retract(room, offsets)
        return max(archived, live)

    # Subscriptions -------------------------------------------------------------------------

    async def subscribe(self, room, handler):
        await self.inner.subscribe(room, handler)

    async def unsubscribe(self, room):
        await self.inner.unsubscribe(room)

    # Reads ---------------------------------------------------------------------------------

    async def position(self, room):
        return await self.inner.position(room)

    async def get_event(self, room, offset):
        event = await self.inner.get_event(room, offset)
        return event if event is not None else await self.store.get_event(room, offset)

    async def history(self, room, *, since=None, epoch=None, before=None, limit=50):
        live = await self.inner.history(room, since=since, epoch=epoch, before=before, limit=limit)
        return await self.complete(room, live, since=since, epoch=epoch, before=before, limit=limit)

    async def complete(self, room: str, live: HistoryResult, *, since: int | None = None,
                       epoch: str | None = None, before: int | None = None, limit: int = 50) -> HistoryResult:
        """The history read ``live`` from the engine's window (with these arguments), gone on
        in the archive where the window does not reach back far enough."""
        if since is not None:
            return live if live.recovered else await self._recover(room, since, epoch, limit, live)
        if len(live.events) >= limit:
            return live
        cutoff = live.events[0]["offset"] if live.events else before
        if cutoff is not None and cutoff <= 1:
            return live
        if not live.events and live.position.offset == 0:
            # Nothing was ever published in the room (an archived room opens the engine at the
            # archive's offset): no archive read for every joiner of a new room.
            return live
        page = await self.store.page(room, before=cutoff, limit=limit - len(live.events))
        return HistoryResult(page.events + live.events, live.position)

    async def _recover(self, room: str, since: int, epoch: str | None, limit: int,
                       live: HistoryResult) -> HistoryResult:
        """``since`` is older than the live window (or of the archive's epoch): the archive's
        events after it, then the live window's after those; at most ``limit`` in all, or
        not recovered (the engine's answer)."""
        archived_at = await self.store.position(room)
        if archived_at is None or (epoch is not None and epoch != archived_at.epoch) \
                or since > max(archived_at.offset, live.position.offset):
            return live
        # More than ``limit`` missed is not recovered (the joiner pages history instead).
        events: list[Event] = await self.store.after(room, since, limit=limit + 1)
        if len(events) > limit:
            return live
        last = events[-1]["offset"] if events else since
        tail = await self.inner.history(room, since=last, epoch=archived_at.epoch,
                                        limit=limit - len(events) + 1)
        if tail.recovered:
            events += tail.events
            return live if len(events) > limit else HistoryResult(events, tail.position, recovered=True)
        # The live window starts after what the archive has: caught up as far as it goes.
        return HistoryResult(events, live.position, recovered=live.position.offset <= archived_at.offset)

