"""python-socketio on uvicorn with its Redis manager: the peer a Python user would pick.

Events: ``join`` (room name; the server enters the room and emits ``joined`` back) and
``msg`` ({room, text}; the server emits ``msg`` with the text to the whole room, the sender
included). With ``--redis-url`` the server uses ``AsyncRedisManager``, so an emit goes
through Redis to every node, as it would in a cluster; ``--manager memory`` uses the default
in-process manager.
"""

from __future__ import annotations

import argparse

import socketio
import uvicorn

from benchmarks.sysinfo import raise_nofile


def build(redis_url: str | None) -> socketio.ASGIApp:
    manager = socketio.AsyncRedisManager(redis_url) if redis_url else None
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager, logger=False,
                               engineio_logger=False, cors_allowed_origins="*")

    @sio.on("join")
    async def join(sid, room):
        await sio.enter_room(sid, room)
        await sio.emit("joined", room, to=sid)

    @sio.on("msg")
    async def msg(sid, data):
        await sio.emit("msg", data["text"], room=data["room"])

    return socketio.ASGIApp(sio)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url")
    args = parser.parse_args()
    raise_nofile()
    print(f"python-socketio on {args.host}:{args.port} (redis: {args.redis_url})", flush=True)
    uvicorn.run(build(args.redis_url), host=args.host, port=args.port, ws="websockets-sansio",
                ws_per_message_deflate=False, log_level="warning", backlog=4096, lifespan="off")
