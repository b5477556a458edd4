"""A join's Redis work as one script: :meth:`rooms.engine.Engine.enter` on Redis.

A join needs three things of its room: the state that decides it (role, bans, settings), the
history it starts from, and its record in presence. As three scripts each is a round trip
and a turn of the node's event loop, in sequence; the JOIN script does them in one, under
the room's hash tag (one shard of a Redis Cluster). The record is made only when the reads
are as the caller guessed (``record_unless`` absent, ``record_if`` present): a host or a
banned user is decided again by the caller with the values, so nobody is recorded with a
wrong role or despite a ban. A room without history meta (unopened, with an origin hook) is opened from its origin
and the script runs again, as a plain history read does.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from rooms import redis_keys as K
from rooms.engine import Arrival, Entry, Member
from rooms.redis_state import member_json


async def enter(engine: Any, room: str, member: Member, *, reads: list[tuple[str, str]],
                since: int | None, epoch: str | None, limit: int, record_unless: tuple[int, ...],
                record_if: tuple[int, ...]) -> Entry:
    """``engine`` is the :class:`~rooms.redis_engine.RedisEngine` (its broker, presence,
    ``script`` and ``guard``)."""
    broker = engine.broker
    n = len(reads)
    keys = [*(K.state(room, ns) for ns, _ in reads), K.meta(room), K.stream(room),
            K.presence(room), K.presence_users(room)]
    mode, arg = ("since", since) if since is not None else ("tail", 0)
    history_args = broker.history_args(mode, arg, limit, epoch if since is not None else None)
    unless = "," + "".join(f"{i + 1}," for i in record_unless)
    need = "," + "".join(f"{i + 1}," for i in record_if)
    out: list = []

    async def run() -> Arrival | None:
        args = [n, unless, need, *(key for _, key in reads), *history_args,
                member.conn_id, member_json(member, engine.node_id), member.user_id]
        with engine.guard():
            reply = await engine.script("join", keys, args)
        if reply[1][3] in (b"unopened", "unopened"):
            await broker.open(room)
            args[3 + n] = secrets.token_hex(4)  # the new epoch, should the origin give none
            with engine.guard():
                reply = await engine.script("join", keys, args)
        out.append(reply)
        recorded = reply[2]
        return Arrival(bool(recorded[0]), int(recorded[1])) if recorded else None

    arrival = await engine.presence.add_with(room, member, run)
    values, history, _ = out[0]
    return Entry([json.loads(v) if v else None for v in values], broker.history_result(history, since),
                 arrival)
