"""Where an idle connection's memory goes: tracemalloc inside a real LiveBridge node.

``python -m benchmarks.memprofile --connections 3000 --rooms 20`` starts one node (in-memory
engine, translation off) in a child process with tracemalloc on
(``python -m chatserver.memprofile_node``, which takes heap snapshots on SIGUSR1/SIGUSR2), opens
the connections with the benchmark's lean clients, joins each to a room, waits, and prints the
node's Python heap and RSS growth per connection, with the allocation sites that hold it
(grouped by line), and the objects the garbage collector tracks per connection, by type: what
each connection adds to the scan of every full collection. ``--frames 0`` leaves tracemalloc
off (the census alone); ``--distinct-users`` signs a token per connection, as ``bench
--distinct-users`` does. Loopback only; the node is stopped at the end (and dies with this process).
Like every benchmark, this imports nothing of chatserver: the node is a process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import procs
from benchmarks.adapters import LiveBridgeAdapter
from benchmarks.sysinfo import raise_nofile, rss_bytes
from benchmarks.tokens import user_token
from benchmarks.wsclient import connect


async def _clients(port: int, n: int, rooms: int, token: str, concurrency: int, timeout: float,
                   secret: str | None = None) -> list:
    adapter = LiveBridgeAdapter("json")
    adapter.token = token
    adapter.secret, adapter.worker = secret, 0  # secret set: a user of its own per connection
    conns: list = []
    sem = asyncio.Semaphore(concurrency)

    class Member:
        def __init__(self) -> None:
            self.inbox: asyncio.Queue = asyncio.Queue()
            self.ws = None

        async def expect(self, match, timeout_: float) -> bytes:
            deadline = time.monotonic() + timeout_
            while True:
                payload = await asyncio.wait_for(self.inbox.get(), max(0.01, deadline - time.monotonic()))
                if match(payload):
                    return payload

    async def one(i: int) -> None:
        async with sem:
            m = Member()
            m.ws = await connect("127.0.0.1", port, adapter.path("", 0), m.inbox.put_nowait,
                                 subprotocol=adapter.subprotocol, timeout=timeout)
            await adapter.join(m, f"mem-{i % rooms}", timeout)
            m.inbox = asyncio.Queue()  # presence frames keep coming; drop them
            m.ws.on_frame = lambda _p: None
            conns.append(m)

    await asyncio.gather(*(one(i) for i in range(n)))
    return conns


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.memprofile", description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=3000)
    ap.add_argument("--rooms", type=int, default=20)
    ap.add_argument("--idle", type=float, default=2.0)
    ap.add_argument("--frames", type=int, default=12, help="traceback depth kept by tracemalloc (0: off)")
    ap.add_argument("--distinct-users", action="store_true", help="a user (signed token) per connection")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--json", help="also write the raw result here")
    args = ap.parse_args(argv)

    raise_nofile()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so that `finally` stops the node
    out = tempfile.mktemp(prefix="lb-memprofile-", suffix=".json")
    port = procs.free_port()
    secret = secrets.token_hex(24) if args.distinct_users else None
    argv = [sys.executable, "-m", "chatserver.memprofile_node", "--port", str(port), "--out", out,
            "--frames", str(args.frames), *([f"--secret={secret}"] if secret else [])]
    # all the load comes from one address, as in the benchmark: lift the per-address caps
    env = {"LIVEBRIDGE_MAX_CONNECTIONS_PER_ADDRESS": "10000000", "LIVEBRIDGE_MAX_CONNECTIONS": "10000000",
           "LIVEBRIDGE_ROOM_CREATE_RATE": "1000000", "LIVEBRIDGE_ROOM_CREATE_BURST": "10000000",
           "LIVEBRIDGE_DATA_DIR": tempfile.mkdtemp(prefix="lb-memprofile-data-")}
    child = procs.Child("memprofile-node", argv, port, None, env=env).start()

    async def wait_file(path: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not os.path.exists(path):
            if not child.alive():
                raise RuntimeError(f"the memprofile node exited\n--- its log ---\n{child.log()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the memprofile node wrote no {path} in {timeout} s")
            await asyncio.sleep(0.05)

    try:
        token = procs.http_json(f"http://127.0.0.1:{port}/api/token", {"name": "mem", "lang": "en"})["token"]

        async def run() -> dict:
            # warm-up: one connection through the whole path, so imports and caches are in the baseline
            warm = await _clients(port, 1, 1, token, 1, 30, secret)
            warm[0].ws.close()
            await asyncio.sleep(0.5)
            rss0 = rss_bytes(child.pid)
            os.kill(child.pid, signal.SIGUSR1)
            await wait_file(out + ".base", 60)
            t0 = time.monotonic()
            conns = await _clients(port, args.connections, args.rooms, token, args.concurrency, 30, secret)
            took = time.monotonic() - t0
            await asyncio.sleep(args.idle)
            rss1 = rss_bytes(child.pid)
            os.kill(child.pid, signal.SIGUSR2)
            await wait_file(out, 300)  # the node writes it aside and renames it: complete once it exists
            result = json.loads(Path(out).read_text())
            for c in conns:
                c.ws.close()
            await asyncio.sleep(0.5)
            result.update(connections=len(conns), connect_seconds=round(took, 2), rss_before=rss0, rss_after=rss1)
            return result

        result = asyncio.run(run())
    finally:
        child.stop()
        for path in (out, out + ".base"):
            if os.path.exists(path):
                os.unlink(path)

    n = result["connections"]
    print(f"{n} idle connections joined to {args.rooms} rooms (connected in {result['connect_seconds']} s)")
    print(f"python heap (tracemalloc): {result['total_diff'] / n / 1024:.2f} KB per connection")
    print(f"RSS (with tracemalloc's own overhead): {(result['rss_after'] - result['rss_before']) / n / 1024:.2f}"
          " KB per connection")
    print(f"\ntop {args.top} allocation sites, bytes per connection:")
    root = str(Path(procs.ROOT))
    for row in sorted(result["rows"], key=lambda r: -r["size_diff"])[:args.top]:
        where = row["where"].replace(root + "/", "")
        where = where[where.find("site-packages/") + 14:] if "site-packages/" in where else where
        print(f"{row['size_diff'] / n:9.1f}  {row['count_diff'] / n:6.2f} blocks  {where}")
    print(f"\nobjects tracked by the garbage collector: {result['tracked_diff'] / n:.1f} per connection; "
          f"a collection of all of them took {result['whole_pass_seconds'] * 1000:.0f} ms")
    for row in result["tracked"][:args.top]:
        print(f"{row['count_diff'] / n:9.2f}  {row['type']}")
    print("\nthe same objects by what holds them (new since the baseline), per connection:")
    for row in result["owners"][:args.top * 2]:
        print(f"{row['count'] / n:9.2f}  {row['owner']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
