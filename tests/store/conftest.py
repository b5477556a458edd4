"""One store contract, two stores: every test taking `make_store` runs on SQLite (a file in a
temporary directory) and on PostgreSQL (a fresh database in the session's own cluster)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tests.harness import until  # noqa: F401  (re-exported for the tests here)

_databases = itertools.count(1)




@pytest.fixture(params=["sqlite", "postgres"])
async def make_store(request, tmp_path):
    """``await make_store(**kwargs)``: a started store of the parametrised kind. Calling it again
    opens another store on the same data (a restart, or a second node on PostgreSQL)."""
    stores = []
    location = {}
    if request.param == "postgres":
        server = request.getfixturevalue("postgres_server")
        location["url"] = await asyncio.to_thread(server.create_database, f"t{next(_databases)}")

    async def make(**kwargs):
        kwargs.setdefault("maintenance_interval", 0)
        if request.param == "sqlite":
            from rooms.store_sqlite import SqliteStore

            store = SqliteStore(tmp_path / "data" / "livebridge.sqlite3", **kwargs)
        else:
            from rooms.store_postgres import PostgresStore

            store = PostgresStore(location["url"], pool_size=4, **kwargs)
        await store.start()
        stores.append(store)
        return store

    make.kind = request.param
    make.url = location.get("url")
    make.path = tmp_path / "data" / "livebridge.sqlite3"
    yield make
    for store in stores:
        await store.close()
