"""The LiveBridge client: one logical connection to a server, across reconnects and restarts.

Written from docs/protocol.md alone; it imports nothing of the server. docs/client.md is the
guide and the API reference (generated from these docstrings).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import itertools
import json
import logging
import random
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping, Union, cast

import msgpack
import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from . import types as t
from ._events import Buffer, EventStream, Handler, Waiter, matcher
from .errors import (ClientClosed, ConnectionLost, ConnectTimeout, LiveBridgeError, MessageHeld,
                     RequestInterrupted, RequestTimeout, ServerError)
from .tokens import (TokenRefused, TokenSource, call_source, expires_soon, guest_token_source,
                     ws_url)

__all__ = ["LiveBridgeClient", "State", "RoomState", "JSON", "MSGPACK", "FINAL_CLOSE_CODES"]

log = logging.getLogger("livebridge_client")

JSON = "livebridge.v1.json"
MSGPACK = "livebridge.v1.msgpack"

FINAL_CLOSE_CODES = frozenset({1000, 1007, 1008, 1009, 4400, 4401, 4403, 4429})
"""Close codes after which reconnecting cannot help (docs/protocol.md, "Close codes"); 4401 is
retried with a new token when the client has a token source."""

# Requests that may be sent again after a drop without changing their effect: ``send`` keeps its
# client_msg_id (the server acks a repeat as ``duplicate``); the others are reads or idempotent.
RESENDABLE = frozenset({"send", "join", "leave", "history", "members", "ping", "set_lang"})
# Error codes whose ``retry_after`` the client waits out before sending again (opt-out).
WAIT_CODES = frozenset({"rate_limited", "slow_mode"})
# Error codes after which a rejoin on reconnect is tried again (a few times) instead of given up.
TRANSIENT_CODES = frozenset({"unavailable", "internal", "rate_limited"})

Handler_ = Callable[[Any], Union[None, Awaitable[None]]]


class State(str, enum.Enum):
    """:attr:`LiveBridgeClient.state`."""

    IDLE = "idle"                  #: made, ``connect()`` not called yet
    CONNECTING = "connecting"      #: ``connect()`` is trying (with backoff)
    CONNECTED = "connected"        #: connected and every room rejoined: requests go out now
    RECONNECTING = "reconnecting"  #: the connection dropped; reconnecting and rejoining rooms
    CLOSED = "closed"              #: done for good (``close()``, or a final close code)


@dataclass
class RoomState:
    """What the client keeps per joined room (:attr:`LiveBridgeClient.rooms`): the highest
    ``offset`` seen and its ``epoch`` (sent as ``since``/``epoch`` on reconnect), your ``role``
    and the room's ``title``."""

    offset: int
    epoch: str | None
    role: str | None = None
    title: str | None = None

    def __getitem__(self, key: str) -> Any:  # older code read rooms[room]["offset"]
        return getattr(self, key)


class _Refused(Exception):
    """Internal: the server refused the connection (an error frame, then this close code)."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason


class _Interrupted(Exception):
    """Internal: the connection dropped while a request waited for its reply."""


class _Bucket:
    """A token bucket that paces outgoing frames below the server's frame limit."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.capacity = burst
        self.tokens = burst
        self.stamp = asyncio.get_running_loop().time()

    def delay(self) -> float:
        now = asyncio.get_running_loop().time()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class LiveBridgeClient:
    """One logical connection to a LiveBridge server, kept across reconnects.

    ``url`` is the server's address (``http://host:port`` or ``ws://host:port``). Who you are:

    - ``token`` a string: that token (a member token signed with ``livebridge token``). When the
      server refuses it (close 4401: expired, or the server's secret changed) the client ends.
    - ``token`` a callable (sync, run in a thread, or ``async``): called for a token at the
      first connect, whenever the current token is about to expire (its ``exp``), and after a
      4401, so the client outlives server restarts and token lifetimes.
    - no ``token``, a ``name`` (and ``lang``): guest tokens from the server's
      ``POST /api/token``, fetched again whenever needed (a restart of a server without
      ``--secret`` invalidates every token; the client gets a new one, as a new guest).

    Other options: ``codec`` (:data:`JSON` or :data:`MSGPACK`); ``reconnect`` (False: a drop
    ends the client); ``backoff_min``/``backoff_max``, the reconnect backoff of
    docs/protocol.md (wait a random time between b/2 and b, b from 0.2 s doubling up to 10 s);
    ``request_timeout``, the default timeout of every request in seconds, including time spent
    waiting for a connection; ``wait_rate_limited`` (default True): a request refused with
    ``rate_limited`` or ``slow_mode`` is sent again after its ``retry_after`` when that fits in
    its timeout; ``raise_on_held`` (default False): ``send`` raises :class:`MessageHeld` instead
    of returning a ``held`` ack; ``max_events``, how many unread events the client buffers for
    iteration (beyond it the oldest are dropped and counted in :attr:`dropped_events`).

    Events reach you four ways, all of them independent: ``async for event in client``
    (or :meth:`next_event`), :meth:`wait_for`, handlers (:meth:`on`) and extra streams
    (:meth:`events`). An event is a frame that is not the reply to a request (message,
    translation, presence, notice, left, moderation events, ...) or one the client makes up
    (``disconnected``, ``reconnected``, ``resumed``, ``resume_failed``, ``held``); see
    :mod:`livebridge_client.types`. ``message`` events carry ``own`` (True when you sent it).
    """

    def __init__(self, url: str, *, token: str | TokenSource | None = None, name: str | None = None,
                 lang: str = "en", codec: str = JSON, reconnect: bool = True,
                 backoff_min: float = 0.2, backoff_max: float = 10.0, max_events: int = 10_000,
                 request_timeout: float = 15.0, open_timeout: float = 10.0,
                 wait_rate_limited: bool = True, raise_on_held: bool = False) -> None:
        if token is None and name is None:
            raise ValueError("give a token (a string or a callable that returns one), "
                             "or a name to use guest tokens")
        if codec not in (JSON, MSGPACK):
            raise ValueError(f"codec must be {JSON!r} or {MSGPACK!r}")
        self.url = url
        self.name = name
        self.lang = lang
        self.codec = codec
        self.reconnect = reconnect
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.request_timeout = request_timeout
        self.open_timeout = open_timeout
        self.wait_rate_limited = wait_rate_limited
        self.raise_on_held = raise_on_held
        self.token: str | None = token if isinstance(token, str) else None
        """The token in use (None until the first connect when it comes from a source)."""
        self._source: TokenSource | None
        if callable(token):
            self._source = token
        elif token is None:
            self._source = guest_token_source(url, cast(str, name), lang)
        else:
            self._source = None
        self.welcome: t.Welcome | None = None
        """The current connection's ``welcome`` frame (user, limits, translation status)."""
        self._state = State.IDLE
        self._lost: ConnectionLost | None = None
        self._rooms: dict[str, RoomState] = {}
        self._lang_choice: dict[str, str] | None = None
        self._buffer = Buffer(max_events, "LiveBridgeClient")
        self._handler_buffer = Buffer(max_events, "LiveBridgeClient handlers")
        self._handlers: list[Handler] = []
        self._streams: list[EventStream] = []
        self._waiters: list[Waiter] = []
        self._pending: dict[str, tuple[asyncio.Future, Callable[[dict], None] | None]] = {}
        self._refs = itertools.count(1)
        self._ws: Any = None
        self._open = asyncio.Event()    # a connection is up (resume requests may go)
        self._ready = asyncio.Event()   # ... and its rooms are rejoined (user requests may go)
        self._done = asyncio.Event()    # closed: wakes every sleep
        self._reader: asyncio.Task | None = None
        self._resumer: asyncio.Task | None = None
        self._dispatcher: asyncio.Task | None = None
        self._frame_bucket: _Bucket | None = None
        self._frame_gate = 0.0
        self._room_locks: dict[str, asyncio.Lock] = {}
        self._own_ids: OrderedDict[str, None] = OrderedDict()
        self._closing = False

    # State ---------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """Where the client is: :class:`State` ``idle``, ``connecting``, ``connected``,
        ``reconnecting`` or ``closed``."""
        return self._state

    @property
    def connected(self) -> bool:
        """True while a connection is up and every room is rejoined."""
        return self._state is State.CONNECTED

    @property
    def closed(self) -> bool:
        """True once the client is done (see :attr:`close_reason`)."""
        return self._state is State.CLOSED

    @property
    def close_reason(self) -> ConnectionLost | None:
        """Why the client is done: :class:`ClientClosed` after :meth:`close`, otherwise the
        :class:`ConnectionLost` with the server's close code. None while it is not."""
        return self._lost

    @property
    def user(self) -> t.User | None:
        """Who the current token names (``welcome["user"]``: ``id``, ``name``, ``lang``,
        ``kind``). A refreshed guest token names a new guest, with a new ``id``."""
        return self.welcome["user"] if self.welcome else None

    @property
    def rooms(self) -> Mapping[str, RoomState]:
        """The rooms this client is in (read-only): room name -> :class:`RoomState`. Rooms
        you leave, are kicked or banned from, or that cannot be rejoined leave this mapping and
        are never rejoined on reconnect."""
        return MappingProxyType(self._rooms)

    @property
    def dropped_events(self) -> int:
        """Events dropped because nobody read the iteration buffer (``max_events``)."""
        return self._buffer.dropped

    # Lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> "LiveBridgeClient":
        await self.connect()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def connect(self, *, timeout: float | None = 30.0) -> t.Welcome:
        """Connect and return the ``welcome`` frame.

        Gets a token first when it comes from a source. A refused or unreachable server is
        tried again with the reconnect backoff until ``timeout`` seconds have passed (None: no
        limit), then :class:`ConnectTimeout` is raised (from the last error). A final refusal
        (4403, 4429, 4400, 4401 without a token source, a token source raising
        :class:`~livebridge_client.tokens.TokenRefused`) raises :class:`ConnectionLost` at once.
        Calling it again while connected returns the current ``welcome``."""
        if self._state is State.CLOSED:
            raise self._lost or ClientClosed()
        if self._state is not State.IDLE:
            await self._wait_event(self._ready, None if timeout is None else self._now() + timeout,
                                   "connect")
            return cast(t.Welcome, self.welcome)
        self._set_state(State.CONNECTING)
        self._dispatcher = asyncio.create_task(self._run_handlers(), name="livebridge-handlers")
        deadline = None if timeout is None else self._now() + timeout
        try:
            await self._establish(deadline=deadline, after_drop=False)
        except ConnectTimeout:
            self._set_state(State.IDLE)
            self._dispatcher.cancel()
            raise
        except ConnectionLost as exc:
            self._finish(exc)
            raise
        except BaseException:
            self._finish(ClientClosed())
            raise
        self._ready.set()
        self._set_state(State.CONNECTED)
        self._reader = asyncio.create_task(self._run(), name="livebridge-reader")
        return cast(t.Welcome, self.welcome)

    async def close(self) -> None:
        """Close the connection and end the client: pending requests raise
        :class:`ClientClosed`, ``async for`` loops and :meth:`events` streams end cleanly,
        :meth:`wait_closed` returns. Safe to call more than once, and from a handler."""
        if self._closing and self._state is State.CLOSED:
            return
        self._closing = True
        self._done.set()
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 5)
        current = asyncio.current_task()
        for task in (self._reader, self._resumer):
            if task is not None and task is not current and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        self._finish(ClientClosed())
        dispatcher = self._dispatcher
        if dispatcher is not None and dispatcher is not current and not dispatcher.done():
            dispatcher.cancel()
            with contextlib.suppress(BaseException):
                await dispatcher

    async def wait_closed(self) -> ConnectionLost:
        """Wait until the client is done; return why (:attr:`close_reason`). A bot that works
        through handlers runs ``await client.wait_closed()`` as its main loop."""
        await self._done.wait()
        while self._lost is None:  # close() sets _done before it finishes
            await asyncio.sleep(0.01)
        return self._lost

    # Requests ------------------------------------------------------------------------------

    async def join(self, room: str, *, since: int | None = None, epoch: str | None = None,
                   timeout: float | None = None) -> t.Joined:
        """Join ``room`` (created if it does not exist, unless the server says otherwise) and
        return the ``joined`` frame: your ``role``, the ``members``, the room's ``settings`` and
        recent ``history`` (oldest first; these are not delivered as events). With ``since``
        and ``epoch``, ``history`` holds exactly the events after offset ``since``. The room is
        rejoined on every reconnect, from the last offset seen. Raises :class:`ServerError`
        (``banned``, ``too_many_rooms``, ``already_joined``, ``invalid_room``, ...)."""
        frame: dict[str, Any] = {"type": "join", "room": room}
        if since is not None:
            frame["since"] = since
            if epoch is not None:
                frame["epoch"] = epoch
        return cast(t.Joined, await self.request(frame, timeout=timeout, on_reply=self._note_joined))

    async def leave(self, room: str, *, timeout: float | None = None) -> t.Left:
        """Leave ``room``; it is forgotten (not rejoined on reconnect)."""
        reply = await self.request({"type": "leave", "room": room}, timeout=timeout)
        self._rooms.pop(room, None)
        return cast(t.Left, reply)

    async def send(self, room: str, text: str, *, client_msg_id: str | None = None,
                   timeout: float | None = None) -> t.Ack:
        """Publish ``text`` in ``room`` and return the ``ack``.

        The message event itself arrives (as an event, ``own`` True) before the ack. Sends to
        one room go out one at a time, in call order. Across a reconnect the send is repeated
        with the same ``client_msg_id`` (a fresh one unless you give it), so it is published
        once. ``rate_limited`` and ``slow_mode`` are waited out (``retry_after``) when that
        fits in the timeout and ``wait_rate_limited`` is on; other refusals raise
        :class:`ServerError` (``timed_out``, ``banned``, ``room_locked``, ``flood``,
        ``blocked_term``, ``text_too_long``, ``not_joined``, ...).

        ``ack["status"]`` is ``published``, ``duplicate`` (a repeat: the original's ``id`` and
        ``offset``) or ``held``: the message waits for a moderator and is not published. A held
        ack is also given to handlers and iteration as a ``held`` event and logged; with
        ``raise_on_held=True`` it raises :class:`MessageHeld`."""
        frame = {"type": "send", "room": room, "text": text,
                 "client_msg_id": client_msg_id or uuid.uuid4().hex}
        async with self._room_lock(room):
            ack = cast(t.Ack, await self.request(frame, timeout=timeout))
        if ack.get("status") == "held":
            log.warning("message held for review in %s (hold_id %s)", room, ack.get("hold_id"))
            held: dict[str, Any] = {"type": "held", "room": room, "hold_id": ack.get("hold_id"),
                                    "text": text}
            if "client_msg_id" in ack:
                held["client_msg_id"] = ack["client_msg_id"]
            self._dispatch(held)
            if self.raise_on_held:
                raise MessageHeld(dict(ack))
        return ack

    async def history(self, room: str, *, before: int | None = None, limit: int = 50,
                      timeout: float | None = None) -> t.History:
        """A page of ``room``'s history: ``events`` oldest first, up to ``limit`` (the server
        lowers it to ``limits.max_history_limit`` and says so in the reply's ``limit``), older
        than offset ``before`` (default: the newest). Page back with ``before`` = the oldest
        offset returned while ``has_more``."""
        frame: dict[str, Any] = {"type": "history", "room": room, "limit": limit}
        if before is not None:
            frame["before"] = before
        return cast(t.History, await self.request(frame, timeout=timeout))

    async def members(self, room: str, *, after: str | None = None, limit: int = 100, query: str | None = None,
                      timeout: float | None = None) -> t.Members:
        """A page of ``room``'s member list (hosts first, then by name): the first page, or the
        one after ``after`` (a previous reply's ``next``, present while more follow); ``limit``
        at most 100; ``query``: only names containing it, ignoring case. ``total`` counts every
        match."""
        frame: dict[str, Any] = {"type": "members", "room": room, "limit": limit}
        if after is not None:
            frame["after"] = after
        if query is not None:
            frame["query"] = query
        return cast(t.Members, await self.request(frame, timeout=timeout))

    async def typing(self, room: str) -> bool:
        """Say you are typing in ``room`` (the server passes on one every 2 s at most). Never
        waits for a connection: returns False when there is none right now."""
        if not self._ready.is_set() or self._ws is None:
            return False
        try:
            await self._pace(self._now() + self.request_timeout)
            await self._ws.send(self._encode({"type": "typing", "room": room}))
        except (ConnectionClosed, AttributeError, LiveBridgeError):
            return False
        return True

    async def ping(self, *, timeout: float | None = None) -> t.Pong:
        """Ask the server for a ``pong`` (``ts``: server time in ms)."""
        return cast(t.Pong, await self.request({"type": "ping"}, timeout=timeout))

    async def set_lang(self, lang: str, *, script: str | None = None,
                       timeout: float | None = None) -> t.Lang:
        """Read translations in ``lang`` (``en`` or ``zh``) on this connection; for Chinese,
        ``script`` ``hans`` (simplified, default) or ``hant`` (traditional). Kept across
        reconnects."""
        frame = {"type": "set_lang", "lang": lang}
        if script is not None:
            frame["script"] = script
        reply = cast(t.Lang, await self.request(frame, timeout=timeout))
        self._lang_choice = frame
        return reply

    async def moderate(self, room: str, action: str, /, **params: Any) -> t.Moderated:
        """A host action in ``room`` (docs/moderation.md): e.g.
        ``moderate("show", "timeout", user_id=uid, seconds=60)``, ``"kick"``, ``"ban"``,
        ``"delete"`` (``offset``), ``"slow_mode"`` (``seconds``), ``"lock"``, ``"add_term"``.
        Returns the ``moderated`` frame (``result``). Not repeated after a drop: raises
        :class:`RequestInterrupted` then."""
        return cast(t.Moderated, await self.request(
            {"type": "moderate", "room": room, "action": action, "params": params}))

    async def report(self, room: str, offset: int, reason: str = "",
                     *, timeout: float | None = None) -> t.Reported:
        """Report the message at ``offset`` in ``room`` to its moderators (``reason`` at most
        500 characters). Not repeated after a drop (:class:`RequestInterrupted`)."""
        return cast(t.Reported, await self.request(
            {"type": "report", "room": room, "offset": offset, "reason": reason}, timeout=timeout))

    async def request(self, frame: dict[str, Any], *, timeout: float | None = None,
                      resend: bool | None = None,
                      on_reply: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Send any client frame with a fresh ``ref`` and return the reply with that ``ref``.

        ``timeout`` (default ``request_timeout``) bounds everything: waiting for a connection
        while reconnecting, pacing under the frame limit, waiting out ``rate_limited``, and the
        reply; past it :class:`RequestTimeout` is raised. After a drop the frame is sent again
        on the new connection when ``resend`` (default: for ``send``, ``join``, ``leave``,
        ``history``, ``members``, ``ping``, ``set_lang``), else :class:`RequestInterrupted` is raised. An
        ``error`` reply raises :class:`ServerError`; once the client is closed,
        :class:`ConnectionLost`."""
        if self._state is State.IDLE:
            raise LiveBridgeError("not connected: call connect() first")
        deadline = self._now() + (self.request_timeout if timeout is None else timeout)
        kind = frame.get("type")
        if resend is None:
            resend = kind in RESENDABLE
        while True:
            try:
                reply = await self._roundtrip(frame, deadline, self._ready, on_reply)
            except _Interrupted:
                self._raise_if_done()
                if resend:
                    continue
                raise RequestInterrupted(f"the connection dropped during {kind!r}; it may or may "
                                         "not have been applied") from None
            if reply.get("type") != "error":
                return reply
            error = ServerError(reply)
            if self.wait_rate_limited and error.code in WAIT_CODES and error.retry_after is not None:
                wait_until = self._now() + max(float(error.retry_after), 0.01)
                if wait_until < deadline:
                    log.debug("%s refused with %s: trying again in %.2fs", kind, error.code,
                              error.retry_after)
                    await self._sleep_until(wait_until, deadline, frame)
                    continue
            raise error

    async def send_frame(self, frame: dict[str, Any], *, timeout: float | None = None) -> None:
        """Send a raw frame without waiting for a reply (waits for a connection up to
        ``timeout``, default ``request_timeout``; paced under the frame limit)."""
        if self._state is State.IDLE:
            raise LiveBridgeError("not connected: call connect() first")
        deadline = self._now() + (self.request_timeout if timeout is None else timeout)
        while True:
            await self._wait_event(self._ready, deadline, frame.get("type", "frame"))
            await self._pace(deadline)
            try:
                await self._ws.send(self._encode(frame))
                return
            except (ConnectionClosed, AttributeError):
                self._raise_if_done()
                await asyncio.sleep(0.01)

    # Events --------------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[t.Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[t.Event]:
        while True:
            try:
                event = await self._buffer.get()
            except ClientClosed:
                return
            yield cast(t.Event, event)

    async def next_event(self, timeout: float | None = None) -> t.Event:
        """The next unread event (what ``async for`` yields). Raises ``TimeoutError`` after
        ``timeout`` seconds and :class:`ConnectionLost` once the client is done and every
        buffered event was read (:class:`ClientClosed` after :meth:`close`)."""
        return cast(t.Event, await asyncio.wait_for(self._buffer.get(), timeout))

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool] | str | None = None, *,
                       room: str | None = None, timeout: float | None = 10.0) -> t.Event:
        """The first unread event that matches, waiting up to ``timeout`` seconds for it.

        ``predicate`` is a function of the event, or an event type (``"message"``); ``room``
        narrows it to one room. Unread events that do not match stay where they are, in order,
        for iteration and later waits; only the match is taken from the unread events (an
        event that arrives while several waits are pending goes to the oldest that matches,
        ahead of iteration). Handlers and :meth:`events` streams get every event regardless.
        Raises ``TimeoutError``, and :class:`ConnectionLost` once the client is done."""
        if isinstance(predicate, str):
            match = matcher((predicate,), room, True)
        else:
            match = matcher(None, room, True, predicate)
        event = self._buffer.take(match)
        if event is not None:
            return cast(t.Event, event)
        if self._lost is not None:
            raise self._lost
        waiter = Waiter(match, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            return cast(t.Event, await asyncio.wait_for(waiter.future, timeout))
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def on(self, event_type: str = "*", handler: Handler_ | None = None, *, room: str | None = None,
           include_own: bool = False) -> Any:
        """Call ``handler(event)`` for every event of ``event_type`` (``"*"``: all) in ``room``
        (None: any room). Handlers skip your own messages (and their translations) unless
        ``include_own``. Works as a decorator, ``@client.on("message", room="lobby")``, and
        returns the handler (pass it to :meth:`off`).

        Handlers may be plain or ``async`` functions. They run one at a time, in the order the
        events arrived, in a task of their own: a handler may await requests (``send``,
        ``wait_for``, ...), and a slow one delays the next; start a task for long work. An
        exception in a handler is logged and does not stop the client."""
        def register(fn: Handler_) -> Handler_:
            self._handlers.append(Handler(fn, matcher((event_type,), room, include_own)))
            return fn
        return register if handler is None else register(handler)

    def off(self, handler: Handler_) -> None:
        """Remove every registration of ``handler``."""
        self._handlers[:] = [h for h in self._handlers if h.fn is not handler]

    def events(self, *types: str, room: str | None = None, include_own: bool = False,
               max_events: int = 10_000) -> EventStream:
        """A new stream of events (of ``types``, all when none; in ``room``, any when None)
        with its own buffer, from now on, whoever else reads them::

            async with client.events("message", room="lobby") as lobby:
                async for event in lobby:
                    ...

        Like handlers it skips your own messages unless ``include_own``."""
        stream = EventStream(matcher(types or None, room, include_own), max_events, self._streams.remove)
        if self._lost is not None:
            stream._finish(self._lost)
        else:
            self._streams.append(stream)
        return stream

    # Internals: connecting -----------------------------------------------------------------

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    def _set_state(self, state: State) -> None:
        if self._state is not state:
            log.debug("state %s -> %s", self._state.value, state.value)
            self._state = state

    def _backoff(self, attempt: int) -> float:
        """The wait before reconnect attempt ``attempt`` (1, 2, ...): uniform in [b/2, b], b
        starting at ``backoff_min`` and doubling up to ``backoff_max``."""
        b = min(self.backoff_max, self.backoff_min * 2 ** min(attempt - 1, 30))
        return random.uniform(b / 2, b)

    async def _ensure_token(self, force: bool) -> None:
        if self._source is None:
            return
        if force or self.token is None or expires_soon(self.token):
            self.token = await call_source(self._source)

    async def _establish(self, *, deadline: float | None, after_drop: bool,
                         force_token: bool = False) -> None:
        """Get a connection (and its welcome), retrying with backoff; raises ConnectionLost on
        a final refusal, ConnectTimeout past ``deadline``, ClientClosed when closed."""
        failures = 1 if after_drop else 0
        last: BaseException | None = None
        renewed_after_401 = False
        while True:
            if failures:
                delay = self._backoff(failures)
                if deadline is not None and self._now() + delay > deadline:
                    raise ConnectTimeout(f"no connection to {self.url} in time: {last}") from last
                await self._sleep(delay)
            self._raise_if_done()
            try:
                await self._ensure_token(force_token)
                force_token = False
                ws, welcome = await self._open_ws(deadline)
            except _Refused as exc:
                last = exc
                if exc.code == 4401 and self._source is not None:
                    force_token = True
                    log.info("token refused (%s): getting a new one", exc.reason)
                    if not renewed_after_401:
                        renewed_after_401 = True
                        continue
                elif exc.code in FINAL_CLOSE_CODES:
                    raise ConnectionLost(exc.code, exc.reason) from None
            except TokenRefused as exc:
                raise ConnectionLost(4401, f"no token: {exc}") from None
            except (ConnectionLost, asyncio.CancelledError):
                raise
            except (OSError, asyncio.TimeoutError, InvalidHandshake, ConnectionClosed) as exc:
                last = exc
                log.debug("connecting to %s failed: %r", self.url, exc)
            except Exception as exc:  # a token source's own failure: retried like a network error
                last = exc
                log.warning("getting a token failed: %r", exc)
            else:
                if self._closing:
                    with contextlib.suppress(Exception):
                        await ws.close()
                    raise ClientClosed()
                self._install(ws, welcome)
                return
            failures += 1

    async def _open_ws(self, deadline: float | None) -> tuple[Any, dict[str, Any]]:
        limit = self.open_timeout
        if deadline is not None:
            limit = max(0.1, min(limit, deadline - self._now()))
        try:
            ws = await websockets.connect(
                ws_url(self.url), subprotocols=[self.codec],  # type: ignore[list-item]
                additional_headers={"Authorization": f"Bearer {self.token}"},
                max_size=None, open_timeout=limit, compression=None,
                user_agent_header="livebridge-client")
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise _Refused(4403 if status == 403 else 4401, f"HTTP {status} on upgrade") from None
            raise
        try:
            try:
                first = self._decode(await asyncio.wait_for(ws.recv(), limit))
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else 1006
                if code in FINAL_CLOSE_CODES:
                    raise _Refused(code, exc.rcvd.reason if exc.rcvd else "") from None
                raise
            if first.get("type") == "welcome":
                return ws, first
            code = 4401 if first.get("code") == "unauthorized" else None
            with contextlib.suppress(ConnectionClosed, asyncio.TimeoutError):
                await asyncio.wait_for(ws.recv(), 5)
            if ws.close_code is not None and ws.close_code != 1006:
                code = ws.close_code
            raise _Refused(code, f"{first.get('code')}: {first.get('message')}")
        except BaseException:
            with contextlib.suppress(Exception):
                await ws.close()
            raise

    def _install(self, ws: Any, welcome: dict[str, Any]) -> None:
        self._ws = ws
        self.welcome = cast(t.Welcome, welcome)
        limits = welcome.get("limits") or {}
        rate, burst = limits.get("frame_rate"), limits.get("frame_burst")
        self._frame_bucket = (_Bucket(float(rate) * 0.9, max(1.0, float(burst) - 2))
                              if rate and burst else None)
        self._frame_gate = 0.0
        self._open.set()

    # Internals: the connection's life ------------------------------------------------------

    async def _run(self) -> None:
        """Read frames; on a drop, reconnect and resume; end the client on a final close."""
        while True:
            code, reason = await self._read(self._ws)
            self._ws = None
            self._open.clear()
            self._ready.clear()
            self._fail_pending(_Interrupted())
            if self._resumer is not None:
                self._resumer.cancel()
            if self._closing:
                return
            final = code in FINAL_CLOSE_CODES and not (code == 4401 and self._source is not None)
            if not self.reconnect or final:
                self._finish(ConnectionLost(code, reason))
                return
            log.info("connection lost (%s %s): reconnecting", code, reason)
            self._set_state(State.RECONNECTING)
            self._dispatch({"type": "disconnected", "code": code, "reason": reason})
            try:
                await self._establish(deadline=None, after_drop=True, force_token=code == 4401)
            except ClientClosed:
                return
            except ConnectionLost as exc:
                self._finish(exc)
                return
            welcome = cast(dict, self.welcome)
            self._dispatch({"type": "reconnected", "user": welcome.get("user"),
                            "conn_id": welcome.get("conn_id"), "welcome": welcome})
            self._resumer = asyncio.create_task(self._resume(), name="livebridge-resume")

    async def _read(self, ws: Any) -> tuple[int | None, str]:
        try:
            async for data in ws:
                try:
                    frame = self._decode(data)
                except ValueError as exc:
                    log.warning("undecodable frame from the server: %r", exc)
                    continue
                if isinstance(frame, dict):
                    self._handle(frame)
        except ConnectionClosed:
            pass
        except (OSError, asyncio.TimeoutError) as exc:
            log.debug("connection error: %r", exc)
            return 1006, str(exc)
        return (ws.close_code if ws.close_code is not None else 1006), ws.close_reason or ""

    async def _resume(self) -> None:
        """After a reconnect: the language choice, then every room from its last offset."""
        try:
            if self._lang_choice is not None:
                with contextlib.suppress(RequestTimeout):
                    await self._roundtrip(self._lang_choice, self._now() + self.request_timeout,
                                          self._open, None)
            for room in list(self._rooms):
                await self._rejoin(room)
        except (_Interrupted, ConnectionLost):
            return  # dropped again (the reader reconnects and resumes again), or closed
        if self._ws is not None and not self._closing:
            self._ready.set()
            self._set_state(State.CONNECTED)

    async def _rejoin(self, room: str) -> None:
        error: str = ""
        code: str | None = None
        for attempt in range(1, 4):
            position = self._rooms.get(room)
            if position is None:
                return
            frame: dict[str, Any] = {"type": "join", "room": room, "since": position.offset}
            if position.epoch is not None:
                frame["epoch"] = position.epoch
            try:
                reply = await self._roundtrip(frame, self._now() + self.request_timeout, self._open,
                                              self._note_rejoined)
            except RequestTimeout as exc:
                code, error = None, str(exc)
                continue
            if reply.get("type") != "error":
                return
            code, error = reply.get("code"), f"{reply.get('code')}: {reply.get('message')}"
            if code not in TRANSIENT_CODES:
                break
            await self._sleep(max(float(reply.get("retry_after") or 0), self._backoff(attempt)))
        self._rooms.pop(room, None)
        log.warning("could not rejoin %s after reconnecting: %s", room, error)
        self._dispatch({"type": "resume_failed", "room": room, "code": code, "error": error})

    def _finish(self, lost: ConnectionLost) -> None:
        """The client is done: tell every waiting party."""
        if self._lost is None:
            self._lost = lost
        self._set_state(State.CLOSED)
        self._done.set()
        self._fail_pending(lost)
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.set_exception(lost)
        self._waiters.clear()
        discard = isinstance(lost, ClientClosed)
        self._buffer.finish(lost, discard=discard)
        self._handler_buffer.finish(lost, discard=discard)
        for stream in list(self._streams):
            stream._finish(lost)
        self._streams.clear()
        if not isinstance(lost, ClientClosed):
            log.warning("LiveBridge client ended: %s", lost)

    # Internals: requests -------------------------------------------------------------------

    async def _roundtrip(self, frame: dict[str, Any], deadline: float, gate: asyncio.Event,
                         on_reply: Callable[[dict[str, Any]], None] | None) -> dict[str, Any]:
        """One attempt: wait for ``gate``, send with a new ref, wait for the reply. Raises
        _Interrupted when the connection drops meanwhile."""
        what = str(frame.get("type"))
        if gate is self._open and not gate.is_set():
            raise _Interrupted()  # resume requests belong to one connection
        await self._wait_event(gate, deadline, what)
        await self._pace(deadline)
        ws = self._ws
        if ws is None:
            raise _Interrupted()
        ref = f"r{next(self._refs)}"
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending[ref] = (future, on_reply)
        try:
            try:
                await ws.send(self._encode({**frame, "ref": ref}))
            except ConnectionClosed:
                raise _Interrupted() from None
            remaining = deadline - self._now()
            try:
                return await asyncio.wait_for(future, max(remaining, 0.001))
            except asyncio.TimeoutError:
                raise RequestTimeout(f"no reply to {what!r} within the timeout") from None
        finally:
            self._pending.pop(ref, None)

    async def _wait_event(self, event: asyncio.Event, deadline: float | None, what: str) -> None:
        while not event.is_set():
            self._raise_if_done()
            remaining = None if deadline is None else deadline - self._now()
            if remaining is not None and remaining <= 0:
                raise RequestTimeout(f"{what!r}: no connection within the timeout "
                                     f"(state {self._state.value})")
            waits = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(self._done.wait())]
            try:
                await asyncio.wait(waits, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
        self._raise_if_done()

    async def _pace(self, deadline: float) -> None:
        """Stay under the server's frame limit (and out of a frame-rate refusal's retry_after)."""
        while True:
            delay = max(0.0, self._frame_gate - self._now())
            if not delay and self._frame_bucket is not None:
                delay = self._frame_bucket.delay()
            if not delay:
                return
            if self._now() + delay > deadline:
                raise RequestTimeout("the frame limit leaves no room within the timeout")
            await self._sleep(delay)

    async def _sleep_until(self, when: float, deadline: float, frame: dict[str, Any]) -> None:
        delay = when - self._now()
        if delay <= 0:
            return
        if when > deadline:
            raise RequestTimeout(f"{frame.get('type')!r}: rate limited past the timeout")
        await self._sleep(delay)

    async def _sleep(self, delay: float) -> None:
        """Sleep, but wake (raising ClientClosed) when the client is closed."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._done.wait(), delay)
        self._raise_if_done()

    def _raise_if_done(self) -> None:
        if self._lost is not None:
            raise self._lost
        if self._closing:
            raise ClientClosed()

    def _room_lock(self, room: str) -> asyncio.Lock:
        lock = self._room_locks.get(room)
        if lock is None:
            lock = self._room_locks[room] = asyncio.Lock()
        return lock

    def _fail_pending(self, exc: BaseException) -> None:
        for future, _ in self._pending.values():
            if not future.done():
                future.set_exception(exc)
        self._pending.clear()

    # Internals: frames in ------------------------------------------------------------------

    def _encode(self, frame: dict[str, Any]) -> str | bytes:
        if self.codec == MSGPACK:
            return msgpack.packb(frame, use_bin_type=True)
        return json.dumps(frame, ensure_ascii=False)

    def _decode(self, data: str | bytes) -> dict[str, Any]:
        if self.codec == MSGPACK:
            return msgpack.unpackb(data, raw=False)
        return json.loads(data)

    def _handle(self, frame: dict[str, Any]) -> None:
        ref = frame.get("ref")
        if ref is not None and ref in self._pending:
            future, on_reply = self._pending.pop(ref)
            if on_reply is not None and frame.get("type") != "error":
                try:
                    on_reply(frame)  # in order with the live frames that follow it
                except Exception:
                    log.exception("handling the reply %r failed", frame.get("type"))
            if not future.done():
                future.set_result(frame)
            return
        kind = frame.get("type")
        room = frame.get("room")
        if kind == "joined":  # a late reply (its request timed out): we are in the room anyway
            self._note_joined(frame)
            return
        if kind == "left" and room is not None:
            self._rooms.pop(room, None)  # kicked or banned: never rejoined
        elif kind == "role" and room in self._rooms:
            self._rooms[room].role = frame.get("role")
        elif kind == "error" and frame.get("code") == "rate_limited" and frame.get("retry_after"):
            # A frame refused before it was read (no ref): hold every frame until retry_after.
            self._frame_gate = self._now() + float(frame["retry_after"])
        if kind in ("message", "translation"):
            self._mark_own(frame)
        if self._fresh(frame):
            self._dispatch(frame)

    def _mark_own(self, frame: dict[str, Any]) -> None:
        if frame.get("type") == "message":
            me = self.user
            own = bool(me) and (frame.get("author") or {}).get("id") == me["id"]  # type: ignore[index]
            frame["own"] = own
            if own and frame.get("id"):
                self._own_ids[frame["id"]] = None
                while len(self._own_ids) > 1000:
                    self._own_ids.popitem(last=False)
        else:
            frame["own"] = frame.get("message_id") in self._own_ids

    def _note_joined(self, joined: dict[str, Any]) -> None:
        offset = joined.get("offset", 0)
        for event in joined.get("history", []):
            offset = max(offset, event.get("offset", 0))
            if event.get("type") in ("message", "translation"):
                self._mark_own(event)
        self._rooms[joined["room"]] = RoomState(offset, joined.get("epoch"), joined.get("role"),
                                                joined.get("title"))

    def _note_rejoined(self, joined: dict[str, Any]) -> None:
        """A rejoin's reply, handled before any live frame after it: the events missed, then
        ``resumed``."""
        room = joined["room"]
        position = self._rooms.get(room)
        if position is None:
            position = self._rooms[room] = RoomState(0, None)
        recovered = bool(joined.get("recovered", False))
        if not recovered or joined.get("epoch") != position.epoch:
            position.offset = 0
        position.epoch = joined.get("epoch")
        position.role = joined.get("role")
        position.title = joined.get("title")
        for event in joined.get("history", []):
            if event.get("type") in ("message", "translation"):
                self._mark_own(event)
            if self._fresh(event):
                self._dispatch(event)
        position.offset = max(position.offset, joined.get("offset", 0))
        self._dispatch({"type": "resumed", "room": room, "recovered": recovered,
                        "offset": joined.get("offset"), "epoch": joined.get("epoch")})

    def _fresh(self, frame: dict[str, Any]) -> bool:
        """Track offsets; False for an event this client has already seen."""
        offset, room = frame.get("offset"), frame.get("room")
        if offset is None or room not in self._rooms or frame.get("type") in ("joined", "history", "ack"):
            return True
        position = self._rooms[room]
        epoch = frame.get("epoch")
        if epoch is not None and position.epoch is not None and epoch != position.epoch:
            # The room's history was reset on the server: its offsets start again.
            position.epoch, position.offset = epoch, 0
        if offset <= position.offset:
            return False
        position.offset = offset
        return True

    def _dispatch(self, event: dict[str, Any]) -> None:
        taken = False
        for waiter in list(self._waiters):
            if waiter.future.done():
                continue
            try:
                matched = waiter.match(event)
            except Exception as exc:  # the caller's predicate failed: it hears about it
                waiter.future.set_exception(exc)
                continue
            if matched:
                waiter.future.set_result(event)
                self._waiters.remove(waiter)
                taken = True
                break
        if not taken:
            self._buffer.put(event)
        for stream in list(self._streams):
            stream._offer(event)
        if self._handlers:
            self._handler_buffer.put(event)

    async def _run_handlers(self) -> None:
        while True:
            try:
                event = await self._handler_buffer.get()
            except ConnectionLost:
                return
            for handler in list(self._handlers):
                try:
                    if not handler.match(event):
                        continue
                    result = handler.fn(event)
                    if inspect.isawaitable(result):
                        await result
                except asyncio.CancelledError:
                    raise
                except ConnectionLost:
                    if self._lost is not None:
                        return
                except Exception:
                    log.exception("handler %s failed on a %r event",
                                  getattr(handler.fn, "__qualname__", handler.fn), event.get("type"))
