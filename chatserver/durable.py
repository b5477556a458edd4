"""The durable store, wired: which store a node uses, and the engine the node's services see.

:func:`build_store` picks the store from :class:`~chatserver.config.Settings`
(``--database-url`` -> PostgreSQL shared by many nodes, else SQLite in ``--data-dir``).
:class:`DurableEngine` is the engine with the store behind it: its broker archives
(:class:`~chatserver.archive.ArchivedBroker`), its state and its room directory write through
(:class:`~chatserver.durable_state.DurableState`,
:class:`~chatserver.durable_directory.DurableDirectory`), its presence is the engine's own. The
chat service and moderation are given this engine and need not know the store exists.
"""

from __future__ import annotations

import os
from typing import Any

from chatserver.archive import ArchivedBroker
from chatserver.durable_directory import DurableDirectory
from chatserver.config import Settings
from chatserver.durable_state import MARK_KEY, MARK_NS, DurableState
from rooms.engine import Engine, Entry
from rooms.memory import MemoryEngine
from rooms.store import Store

SQLITE_FILE = "livebridge.sqlite3"


def build_store(settings: Settings) -> Store:
    if settings.database_url:
        from rooms.store_postgres import PostgresStore  # psycopg is imported only when used

        return PostgresStore(settings.database_url)
    from rooms.store_sqlite import SqliteStore

    return SqliteStore(os.path.join(os.path.expanduser(settings.data_dir), SQLITE_FILE))


class DurableEngine(Engine):
    """``inner`` with ``store`` behind its broker and state (the store's lifetime is the
    caller's: it must be started before this engine serves)."""

    def __init__(self, inner: Engine, store: Store) -> None:
        self.inner = inner
        self.store = store
        self.node_id = inner.node_id
        self.state = DurableState(inner.state, store, volatile=not isinstance(inner, MemoryEngine))
        self.directory = DurableDirectory(inner.directory, store, self.state.guard)
        self.state.record_room = self.directory.record
        self.broker = ArchivedBroker(inner.broker, store, on_first_event=self.directory.record)
        self.presence = inner.presence

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def enter(self, room, member, *, reads, since=None, epoch=None, limit=50, record_unless=(),
                    record_if=()):
        # The engine's one call, with this engine's wrappers' work around it: the scope's marker
        # read alongside (the member is recorded only if it is there: else the values may be
        # stale, and are read again once the scope is reloaded), and the history gone on in
        # the archive where the engine's window does not reach.
        marked = self.state.needs_marker(room, reads)
        if marked:
            record_if = (*record_if, len(reads))
            reads = [*reads, (MARK_NS, MARK_KEY)]
        entry = await self.inner.enter(room, member, reads=reads, since=since, epoch=epoch, limit=limit,
                                       record_unless=record_unless, record_if=record_if)
        values = entry.values
        if marked:
            values = values[:-1]
            if entry.values[-1] is None:
                await self.state.reload(room)
                values = await self.inner.state.get_many(room, reads[:-1])
        history = await self.broker.complete(room, entry.history, since=since, epoch=epoch, limit=limit)
        return Entry(values, history, entry.arrival)

    def health(self) -> dict[str, Any]:
        return self.inner.health()

    def __getattr__(self, name: str) -> Any:  # engine specifics (shards, ...) stay reachable
        return getattr(self.inner, name)
