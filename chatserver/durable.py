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
from chatserver.durable_state import DurableState
from rooms.engine import Engine
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

    def health(self) -> dict[str, Any]:
        return self.inner.health()

    def __getattr__(self, name: str) -> Any:  # engine specifics (shards, ...) stay reachable
        return getattr(self.inner, name)
