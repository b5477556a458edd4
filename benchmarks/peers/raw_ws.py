"""The raw ceiling: a ``websockets`` server that broadcasts each text frame to its room.

Clients connect to ``/?room=<name>``; the server answers ``joined`` once the connection is
in the room, then every frame a client sends is broadcast (``websockets.broadcast``: one
synchronous write per connection, no queue, no backpressure) to every connection in that
room, the sender included.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import broadcast, serve

from benchmarks.sysinfo import raise_nofile

ROOMS: dict[str, set] = {}


async def handler(ws) -> None:
    query = parse_qs(urlsplit(ws.request.path).query)
    room = (query.get("room") or ["lobby"])[0]
    members = ROOMS.setdefault(room, set())
    members.add(ws)
    try:
        await ws.send("joined")
        async for message in ws:
            broadcast(members, message)
    finally:
        members.discard(ws)


async def main(host: str, port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(handler, host, port, compression=None, max_queue=None,
                     ping_interval=20, ping_timeout=20, backlog=4096):
        print(f"raw websockets broadcast server on {host}:{port}", flush=True)
        await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    raise_nofile()
    asyncio.run(main(args.host, args.port))
