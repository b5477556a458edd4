"""``livebridge db migrate|delete-user`` and ``livebridge export``: looking after the store.

Each command opens the store the node would (``--database-url``, else the SQLite file in
``--data-dir``; the same environment variables as ``livebridge serve``), does its one job and
closes it. The SQLite file is held by one process at a time: stop the node first (the command
says so if it is running); on PostgreSQL the commands run beside the nodes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from chatserver import config
from rooms.store import Store, StoreError

EXPORT_PAGE = 500


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="the node's data directory (the SQLite store) "
                        "[env LIVEBRIDGE_DATA_DIR]")
    parser.add_argument("--database-url", help="the PostgreSQL store's URL [env LIVEBRIDGE_DATABASE_URL]")


def register(commands) -> None:
    db = commands.add_parser("db", help="the durable store: migrate, delete a user's messages")
    sub = db.add_subparsers(dest="db_command", required=True)
    migrate = sub.add_parser("migrate", help="bring the store's schema to this version (also done at start)")
    _store_options(migrate)
    migrate.set_defaults(run=lambda a: _with_store(a, "db migrate", _migrate))
    delete = sub.add_parser("delete-user", help="delete a user's archived messages, their "
                            "translations and held messages, for good (a deletion request)")
    delete.add_argument("user_id")
    delete.add_argument("--room", help="only in this room (default: every room)")
    _store_options(delete)
    delete.set_defaults(run=lambda a: _with_store(a, "db delete-user", _delete_user))

    export = commands.add_parser("export", help="write a room's transcript (with translations) as JSON lines")
    export.add_argument("room")
    export.add_argument("--output", "-o", help="file to write (default: standard output)")
    _store_options(export)
    export.set_defaults(run=lambda a: _with_store(a, "export", _export))


def _with_store(args: argparse.Namespace, name: str,
                job: Callable[[Store, argparse.Namespace], Awaitable[int]]) -> int:
    from chatserver.durable import build_store

    store = build_store(config.load(args))

    async def run() -> int:
        await store.start()
        try:
            return await job(store, args)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except StoreError as exc:
        print(f"livebridge {name}: {exc}", file=sys.stderr)
        return 2


async def _migrate(store: Store, args: argparse.Namespace) -> int:
    health = store.health()
    where = health.get("path") or health.get("server")
    print(f"store schema at version {await store.schema_version()} ({health.get('backend')}: {where})")
    return 0


async def _delete_user(store: Store, args: argparse.Namespace) -> int:
    gone = await store.delete_user(args.user_id, room=args.room)
    print(f"deleted {gone['messages']} messages of {args.user_id} ({gone['events']} archived events "
          f"with their translations) and {gone['held']} held messages")
    return 0


async def _export(store: Store, args: argparse.Namespace) -> int:
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            count = await export_room(store, args.room, out)
    else:
        count = await export_room(store, args.room, sys.stdout)
    print(f"exported {count} messages of room {args.room}", file=sys.stderr)
    return 0


async def export_room(store: Store, room: str, out: TextIO) -> int:
    """Every archived message of ``room``, oldest first, one JSON object a line: the event as
    archived (offset, epoch, author, text, ...) with ``translations``: lang -> text."""
    count, after = 0, 0
    while True:
        events = await store.after(room, after, limit=EXPORT_PAGE)
        if not events:
            return count
        after = events[-1]["offset"]
        messages = [e for e in events if e.get("type") == "message"]
        found = await store.translations(room, [m["offset"] for m in messages])
        for message in messages:
            line: dict[str, Any] = {**message, "translations": {
                t.get("lang"): t.get("text") for t in found.get(message["offset"], [])}}
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            count += 1
