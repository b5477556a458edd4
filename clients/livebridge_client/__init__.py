"""livebridge_client: the Python client of LiveBridge, the bilingual (English/Chinese) chat server.

    import asyncio
    from livebridge_client import LiveBridgeClient

    async def main():
        async with LiveBridgeClient("http://127.0.0.1:8000", name="Ann", lang="en") as client:
            await client.join("lobby")
            await client.send("lobby", "hello")           # returns the ack
            async for event in client:                     # message, translation, presence, ...
                if event["type"] == "message" and not event["own"]:
                    print(event["author"]["name"], event["text"])

    asyncio.run(main())

Requests (join, send, history, ...) carry a ``ref`` and return the server's reply, or raise
:class:`ServerError` with the error frame's code; each has a timeout, also while the client is
reconnecting. When the connection drops the client reconnects with the backoff of
docs/protocol.md (getting a new token when the old one is refused or expires), rejoins its rooms
from the last offset it saw and delivers what it missed, then a ``resumed`` event per room; a
send in flight is repeated with the same ``client_msg_id``, so it is published once.

Depends on ``websockets`` and ``msgpack`` only. The guide and API reference: docs/client.md.
"""

from . import types
from .client import FINAL_CLOSE_CODES, JSON, MSGPACK, LiveBridgeClient, RoomState, State
from .errors import (ClientClosed, ConnectionLost, ConnectTimeout, LiveBridgeError, MessageHeld,
                     RequestInterrupted, RequestTimeout, ServerError)
from ._events import EventStream
from .tokens import TokenRefused, TokenSource, guest_token, guest_token_source, token_expiry, ws_url

__version__ = "0.2.0"

__all__ = [
    "LiveBridgeClient", "State", "RoomState", "EventStream", "JSON", "MSGPACK", "FINAL_CLOSE_CODES",
    "LiveBridgeError", "ServerError", "ConnectionLost", "ClientClosed", "RequestTimeout",
    "ConnectTimeout", "RequestInterrupted", "MessageHeld", "TokenRefused", "TokenSource",
    "guest_token", "guest_token_source", "token_expiry", "ws_url", "types", "__version__",
]
