"""Cost of one message's moderation check in the smallrooms shape (run:
python tests/moderation/bench_check_send.py [CALLS] [ROOMS]).

Not a test. ``ModerationGate.check_send`` over the durable memory engine (a SQLite store
behind it, as ``livebridge serve`` runs), ROOMS rooms (500) of 10 distinct users each, the
rooms' limits lifted as the benchmark's owner lifts them, no terms: the path every message of
``livebridge bench smallrooms`` takes. Prints the best per-call thread time of 5 repeats of
CALLS calls (the machine is shared: the minimum is the least noisy). With CALLS = 0 it only
sets up, so that the instructions of the calls alone are the difference of two runs under
``valgrind --tool=callgrind`` (deterministic, unlike the times).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from chatserver.auth import User  # noqa: E402
from chatserver.durable import DurableEngine  # noqa: E402
from chatserver.moderation_gate import ModerationGate  # noqa: E402
from moderation import Actor  # noqa: E402
from rooms.memory import MemoryEngine  # noqa: E402
from rooms.store_sqlite import SqliteStore  # noqa: E402

LIFTED = {"user_rate": 1e6, "user_burst": 1e6, "conn_rate": 1e6, "conn_burst": 1e6, "flood_max": 0}
SERVE_DEFAULTS = {"user_rate": 1.0, "user_burst": 10.0, "conn_rate": 5.0, "conn_burst": 20.0, "flood_max": 3}


async def main(calls: int, n_rooms: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(os.path.join(tmp, "bench.sqlite3"))
        await store.start()
        engine = DurableEngine(MemoryEngine(), store)
        await engine.start()
        gate = ModerationGate(engine, node_id="bench", default_limits=SERVE_DEFAULTS)
        owner = Actor("owner", "Owner", "member")
        rooms = [f"room-{i}" for i in range(n_rooms)]
        for room in rooms:
            await gate.moderation.set_owner(room, owner.user_id)
            await gate.moderation.act(room, owner, "set_limits", dict(LIFTED))
        senders = [(rooms[i % n_rooms], User(f"u{i}", f"U{i}", "en", "guest"), f"c{i}")
                   for i in range(10 * n_rooms)]
        for room, user, conn in senders:  # every scope loaded, every bucket made
            await gate.check_send(room, user, "hello", conn_id=conn, client_msg_id="m")
        times = []
        for _ in range(5 if calls else 0):
            start = time.thread_time()
            for i in range(calls):
                room, user, conn = senders[i % len(senders)]
                decision = await gate.check_send(room, user, "hello there, how is it going?",
                                                 conn_id=conn, client_msg_id="m")
            times.append((time.thread_time() - start) / calls * 1e6)
            assert decision.action == "allow", decision
        if times:
            print(f"check_send: {min(times):.2f} us per call (best of 5 x {calls})")
        await engine.close()
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000,
                     int(sys.argv[2]) if len(sys.argv) > 2 else 500))
