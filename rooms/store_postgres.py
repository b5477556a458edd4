"""The durable store in PostgreSQL, shared by every node (``--database-url postgresql://...``).

The driver is psycopg 3 (``psycopg[binary,pool]``): the PostgreSQL project's own Python
adapter line, maintained by the psycopg team, native asyncio, libpq underneath (so every libpq
connection option, ``sslmode``, service files, ``PGPASSFILE`` and the libpq environment work
as operators know them), and a maintained async pool (``psycopg_pool``). Each operation runs
in one transaction on a pooled connection; the pool checks a connection before lending it and
reconnects by itself after PostgreSQL comes back.

Migrations at start run under a transaction-scoped advisory lock, so nodes starting together
apply each migration once. Errors at start name the problem: unreachable server (refused,
timed out, unknown host), wrong password or unknown user, missing database, a URL that is not
``postgresql://``; the password never appears in a message. While running, a lost server is
:class:`StoreUnavailable` (never a false success).
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from rooms.store import (
    StoreAuthError,
    StoreConfigError,
    StoreError,
    StoreUnavailable,
    StoreUnreachable,
)
from rooms.store_sql import POSTGRES, Op, Q, SqlStore

# pg_advisory_xact_lock key for migrations ("LBmigr" as a number).
MIGRATION_LOCK = 0x4C424D696772


def describe(url: str) -> dict[str, str]:
    """host, port, user and dbname of a URL, for messages (never the password)."""
    try:
        params = pg_conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        params = {}
    host = str(params.get("host") or "localhost")
    return {"host": host, "port": str(params.get("port") or "5432"),
            "user": str(params.get("user") or "(default)"), "dbname": str(params.get("dbname") or "(default)")}


def redact(url: str) -> str:
    """The URL with its password replaced, for logs."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


def translate_connect_error(url: str, exc: Exception, timeout: float) -> StoreError:
    """One clear error for a failed connection attempt."""
    d = describe(url)
    where = f"PostgreSQL at {d['host']}:{d['port']}"
    text = str(exc)
    lowered = text.lower()
    if "password authentication failed" in lowered or "authentication failed" in lowered:
        return StoreAuthError(f"{where} refused the password for user {d['user']!r} "
                              "(check the password in --database-url)")
    if "no password supplied" in lowered or "password is required" in lowered:
        return StoreAuthError(f"{where} wants a password for user {d['user']!r} and "
                              "--database-url gives none")
    if "role" in lowered and "does not exist" in lowered:
        return StoreAuthError(f"{where} has no user {d['user']!r}")
    if "database" in lowered and "does not exist" in lowered:
        return StoreConfigError(f"{where} has no database {d['dbname']!r} (create it with "
                                f"createdb, or fix --database-url)")
    if "pg_hba.conf" in lowered:
        return StoreAuthError(f"{where} does not let user {d['user']!r} connect from this host "
                              "(pg_hba.conf)")
    if "timeout" in lowered or "timed out" in lowered:
        return StoreUnreachable(f"cannot reach {where}: no answer within {timeout:g} s")
    if "refused" in lowered:
        return StoreUnreachable(f"cannot reach {where}: connection refused (is PostgreSQL "
                                "running there, and is --database-url right?)")
    if "translate host name" in lowered or "name or service not known" in lowered \
            or "nodename nor servname" in lowered:
        return StoreUnreachable(f"cannot reach {where}: unknown host {d['host']!r}")
    if "starting up" in lowered or "shutting down" in lowered or "recovery" in lowered:
        return StoreUnreachable(f"cannot use {where} yet: {_first_line(text)}")
    return StoreUnreachable(f"cannot connect to {where}: {_first_line(text)}")


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # libpq puts the reason last: 'connection to server at "h", port p failed: FATAL:  reason'
    line = lines[0] if lines else text
    return line.split("failed: ", 1)[-1].replace("FATAL:  ", "")


class PostgresStore(SqlStore):
    """The store in the PostgreSQL database at ``url`` (``postgresql://user:pw@host:port/db``)."""

    dialect = POSTGRES

    def __init__(self, url: str, *, pool_size: int = 8, connect_timeout: float = 5.0,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.url = url
        self.pool_size = pool_size
        self.connect_timeout = connect_timeout
        self._pool: AsyncConnectionPool | None = None
        self._started = False
        d = describe(url)
        self._where = f"PostgreSQL at {d['host']}:{d['port']}"

    async def start(self) -> None:
        if not self.url.startswith(("postgresql://", "postgres://")):
            raise StoreConfigError("--database-url must start with postgresql:// "
                                   f"(got {redact(self.url)!r})")
        try:
            pg_conninfo.conninfo_to_dict(self.url)
        except psycopg.ProgrammingError as exc:
            raise StoreConfigError(f"--database-url is not a valid PostgreSQL URL: {exc}") from None
        # One connection first, for a clear error; the pool would only say it timed out.
        try:
            probe = await asyncio.wait_for(
                psycopg.AsyncConnection.connect(self.url, autocommit=True,
                                                connect_timeout=max(1, round(self.connect_timeout))),
                self.connect_timeout + 1)
        except (psycopg.Error, OSError, asyncio.TimeoutError) as exc:
            raise translate_connect_error(self.url, exc if not isinstance(exc, asyncio.TimeoutError)
                                          else TimeoutError("timed out"), self.connect_timeout) from None
        await probe.close()
        self._pool = AsyncConnectionPool(
            self.url, min_size=1, max_size=self.pool_size, open=False,
            kwargs={"autocommit": True}, timeout=self.connect_timeout,
            check=AsyncConnectionPool.check_connection, reconnect_timeout=0,
            name="livebridge-store")
        try:
            await self._pool.open(wait=True, timeout=self.connect_timeout)
            await self._migrate()
        except BaseException:
            await self._pool.close()
            self._pool = None
            raise
        self._started = True
        self._start_background()

    async def close(self) -> None:
        if self._started:
            await self._stop_background()
            self._started = False
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def health(self) -> dict[str, Any]:
        out = self._health("postgres", "ok" if self._started else "degraded")
        out["server"] = self._where
        return out

    def _migration_kwargs(self) -> dict:
        return {"lock": MIGRATION_LOCK}

    async def _run(self, op: Op, *, write: bool, lock: int | None = None) -> Any:
        if self._pool is None:
            raise StoreUnavailable("the store is not open")
        try:
            async with self._pool.connection() as conn:
                async with conn.transaction():
                    async with conn.cursor() as cur:
                        if lock is not None:
                            await cur.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
                        return await _drive_async(cur, op)
        except PoolTimeout:
            raise StoreUnavailable(f"no connection to {self._where} within "
                                   f"{self.connect_timeout:g} s") from None
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise StoreUnavailable(f"lost {self._where}: {_first_line(str(exc))}") from None
        except psycopg.Error as exc:
            raise StoreError(f"{self._where}: {_first_line(str(exc))}") from exc


async def _drive_async(cur: psycopg.AsyncCursor, op: Op) -> Any:
    dialect = POSTGRES
    try:
        q: Q = next(op)
    except StopIteration as stop:
        return stop.value
    while True:
        sql = dialect.sql(q.sql)
        if q.many is not None:
            await cur.executemany(sql, q.many)
            result: Any = None
        else:
            await cur.execute(sql, q.params)
            if q.fetch == "one":
                result = await cur.fetchone()
            elif q.fetch == "all":
                result = await cur.fetchall()
            elif q.fetch == "rowcount":
                result = cur.rowcount
            else:
                result = None
        try:
            q = op.send(result)
        except StopIteration as stop:
            return stop.value
