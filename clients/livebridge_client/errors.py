"""The exceptions the client raises. All derive from :class:`LiveBridgeError`."""

from __future__ import annotations

from typing import Any

__all__ = ["LiveBridgeError", "ServerError", "ConnectionLost", "ClientClosed", "RequestTimeout",
           "ConnectTimeout", "RequestInterrupted", "MessageHeld"]


class LiveBridgeError(Exception):
    """Base class of every error this client raises."""


class ServerError(LiveBridgeError):
    """The server refused a request with an ``error`` frame.

    ``code`` is the protocol's error code (``rate_limited``, ``banned``, ``not_joined``, ...,
    docs/protocol.md "Error codes"), ``retry_after`` the seconds after which trying again may
    work (or None), ``frame`` the whole error frame."""

    def __init__(self, frame: dict[str, Any]) -> None:
        super().__init__(f"{frame.get('code')}: {frame.get('message')}")
        self.frame = frame
        self.code: str | None = frame.get("code")
        self.retry_after: float | None = frame.get("retry_after")
        self.room: str | None = frame.get("room")


class ConnectionLost(LiveBridgeError):
    """The client is done and will not reconnect: the server closed with a final close code
    (``code``: 4403 forbidden, 4400 bad requests, 4429 too many connections, 4401 with no way
    to get a new token, 1000, ...), ``reconnect=False`` was set and the connection dropped, or
    :meth:`~livebridge_client.LiveBridgeClient.close` was called (:class:`ClientClosed`)."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"connection closed: {code} {reason}".strip())
        self.code = code
        self.reason = reason


class ClientClosed(ConnectionLost):
    """The client was closed by :meth:`~livebridge_client.LiveBridgeClient.close`. Iteration
    ends cleanly on it instead of raising."""

    def __init__(self) -> None:
        super().__init__(1000, "closed by client")


class RequestTimeout(LiveBridgeError, TimeoutError):
    """A request got no reply within its timeout, counting time spent waiting for a connection
    (while reconnecting) and waiting out ``rate_limited``. A subclass of :class:`TimeoutError`."""


class ConnectTimeout(RequestTimeout):
    """:meth:`~livebridge_client.LiveBridgeClient.connect` did not get a connection within its
    ``timeout``; ``__cause__`` is the last attempt's error."""


class RequestInterrupted(LiveBridgeError):
    """The connection dropped while a request that is not safe to repeat (``moderate``,
    ``report``) waited for its reply: it may or may not have been applied. The client itself
    is reconnecting; check and retry if you need to."""


class MessageHeld(LiveBridgeError):
    """Raised by ``send`` when the client was made with ``raise_on_held=True`` and the message
    was held for review. ``ack`` is the ``held`` ack (``ack["hold_id"]``)."""

    def __init__(self, ack: dict[str, Any]) -> None:
        super().__init__(f"message held for review in {ack.get('room')} (hold_id {ack.get('hold_id')})")
        self.ack = ack
        self.hold_id = ack.get("hold_id")
