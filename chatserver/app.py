"""Wiring: one :class:`LiveBridge` per server process, and the Starlette app that serves it.

This is the only module that knows every package. :class:`LiveBridge` is the process
object (``bridge`` wherever it is held; ``app.state.bridge`` in the Starlette app): it
builds the engine (memory or Redis) and the translator from :class:`Settings` unless they
are given, the hub, the moderation gate and the chat service, and it opens a
:class:`Session` on any :class:`Sink`: a WebSocket in :mod:`chatserver.ws`, a list in
tests/edge.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import secrets
import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.websockets import WebSocket

from chatserver import errors as E
from chatserver import admin_api, hosts, http_api, protocol, web
from chatserver.admin import AdminService
from chatserver.admin_metrics import AdminCollector
from chatserver.auth import TokenIssuer, User
from chatserver.chat import ChatService
from chatserver.config import Settings
from chatserver.durable import DurableEngine, build_store
from chatserver.metrics import Metrics
from chatserver.moderation_gate import ModerationGate
from chatserver.outbound import Flusher, Outbound, SharedFrame, Sink
from chatserver.secret_file import token_secret
from chatserver.room_catalog import RoomLimits
from chatserver.session import Session
from chatserver.tickets import TicketBook
from chatserver.translation import RoomTranslations, Translator, build_translator
from chatserver.ws import websocket_endpoint
from rooms.engine import Engine
from rooms.hub import Hub
from rooms.store import Store

log = logging.getLogger("livebridge")


def build_engine(settings: Settings, node_id: str) -> Engine:
    if settings.redis_url:
        from rooms.redis_engine import RedisEngine  # redis-py is imported only when used

        return RedisEngine(settings.redis_url, node_id=node_id, history_size=settings.history_size,
                           history_ttl=settings.history_ttl)
    from rooms.memory import MemoryEngine

    return MemoryEngine(history_size=settings.history_size, history_ttl=settings.history_ttl,
                        node_id=node_id)


def encode_shared(event: dict, codec: str) -> SharedFrame:
    return SharedFrame(protocol.encode(event, codec))


class LiveBridge:
    """Everything one server process holds: settings, engine, hub, services, sessions.

    ``engine``, ``translator`` and ``store`` default to what ``settings`` describe; pass them
    to run a node on parts of your own (tests/edge drives a node over the memory engine and a
    fake translator, with no socket). With a store (``settings.store``, the default), the
    services see the engine through :class:`~chatserver.durable.DurableEngine`: what people
    build up is written to the store, and the engine is its cache.
    """

    def __init__(self, settings: Settings, *, engine: Engine | None = None,
                 translator: Translator | None = None, store: Store | None = None) -> None:
        self.settings = settings
        self.node_id = settings.node_id or "node-" + secrets.token_hex(3)
        if settings.secret is None:
            log.warning("no --secret configured: signing tokens with the secret kept in %s/secret "
                        "(guest tokens are on)", settings.data_dir)
        self.tokens = TokenIssuer(token_secret(settings.secret, settings.data_dir), ttl=settings.token_ttl)
        self.metrics = Metrics()
        engine = engine if engine is not None else build_engine(settings, self.node_id)
        self.store = store if store is not None else build_store(settings) if settings.store else None
        self._store_open = False
        if self.store is not None and settings.redis_url and not settings.database_url:
            log.warning("--redis-url without --database-url: this node keeps its own SQLite store; "
                        "nodes sharing Redis must share one PostgreSQL store (--database-url)")
        self.engine = DurableEngine(engine, self.store) if self.store is not None else engine
        self.metrics.watch_engine(self.engine.health)
        self.tickets = TicketBook(self.engine.state)
        self.hub = Hub(self.engine.broker, encode_shared)
        self.hub.on_fanout = self._on_fanout
        self.flusher = Flusher()
        admins = tuple(a.strip() for a in settings.admin_ids.split(",") if a.strip())
        self.moderation = ModerationGate(self.engine, node_id=self.node_id, admin_ids=admins,
                                         default_limits=settings.default_limits())
        self.translator = translator if translator is not None else build_translator(settings, self.metrics)
        self.chat = ChatService(self.engine, auto_create_rooms=settings.auto_create_rooms,
                                room_limits=RoomLimits(settings.room_create_rate, settings.room_create_burst,
                                                       settings.auto_room_ttl),
                                moderation=self.moderation,
                                translations=RoomTranslations(self.translator, self.engine.presence),
                                metrics=self.metrics)
        self.engine.presence.on_expired = self.chat.on_presence_expired
        self.admin = AdminService(self)
        self.chat.admission_check = self.admin.check_join
        self.chat.on_translation_published = self.admin.stats.on_translation_published
        self.metrics.registry.register(AdminCollector(self.admin))
        self.sessions: set[Session] = set()
        self._per_user: dict[str, int] = {}
        self.ws_per_address: dict[str, int] = {}  # WebSockets through trusted proxies (chatserver.ws)
        self._translation_status = self.translation_status  # one bound method for every session

    def _on_fanout(self, room: str, event: dict, recipients: int) -> None:
        self.metrics.frames_out.inc(recipients)
        self.admin.stats.on_fanout(room, event, recipients)
        ts = event.get("ts")
        if ts is not None and event.get("type") == "message":
            self.metrics.fanout_latency.observe(max(0.0, time.time() - ts / 1000))

    def translation_status(self) -> dict:
        return self.translator.status

    # Sessions ------------------------------------------------------------------------------

    def connections_of(self, user_id: str) -> int:
        return self._per_user.get(user_id, 0)

    def open_session(self, user: User, codec: str, sink: Sink, *,
                     on_overflow: Callable[[], None] | None = None, address: str = "") -> Session:
        """A session for ``user`` speaking ``codec`` whose frames go to ``sink``; it is
        counted until :meth:`close_session`. Queue its ``welcome`` to start."""
        # A partial, not a closure: two tracked objects per connection instead of six.
        overflow = functools.partial(LiveBridge._overflowed, self, user.id, sink, on_overflow)
        outbound = Outbound(sink, max_messages=self.settings.outbound_max_messages,
                            max_bytes=self.settings.outbound_max_bytes, on_overflow=overflow,
                            flusher=self.flusher)
        session = Session(user=user, codec=codec, chat=self.chat, hub=self.hub, settings=self.settings,
                          outbound=outbound, metrics=self.metrics, node_id=self.node_id,
                          translation_status=self._translation_status, address=address)
        self.sessions.add(session)
        self._per_user[user.id] = self._per_user.get(user.id, 0) + 1
        self.metrics.connections.set(len(self.sessions))
        return session

    def _overflowed(self, user_id: str, sink: Sink, on_overflow: Callable[[], None] | None) -> None:
        self.metrics.slow_consumers.inc()
        self.metrics.errors.labels(E.SLOW_CONSUMER).inc()
        log.info("closing %s: outbound queue overflowed", user_id)
        sink.abort(protocol.CLOSE_SLOW_CONSUMER, "slow consumer: outbound queue overflowed")
        if on_overflow is not None:
            on_overflow()

    async def close_session(self, session: Session) -> None:
        """The connection is gone: forget it and leave its rooms."""
        if session in self.sessions:
            self.sessions.discard(session)
            left = self._per_user.get(session.user.id, 1) - 1
            if left > 0:
                self._per_user[session.user.id] = left
            else:
                self._per_user.pop(session.user.id, None)
            self.metrics.connections.set(len(self.sessions))
        await session.close()

    # Lifetime ------------------------------------------------------------------------------

    async def open_store(self) -> None:
        """Open (and migrate) the store; raises a :class:`~rooms.store.StoreError` naming the
        problem. ``livebridge serve`` calls it before serving, to exit with that one line."""
        if self.store is not None and not self._store_open:
            await self.store.start()
            self._store_open = True
            log.info("store: %s", {k: v for k, v in self.store.health().items()
                                   if k in ("backend", "path", "server", "schema_version")})

    def store_health(self) -> dict | None:
        return self.store.health() if self.store is not None else None

    async def start(self) -> None:
        self.flusher.bind(asyncio.get_running_loop())
        await self.open_store()
        await self.engine.start()
        await self.translator.start()
        await self.admin.start()
        status = self.translator.status
        if status.get("enabled"):
            log.info("%s", status.get("message"))
        else:
            log.warning("%s; chat works untranslated", status.get("message"))
        log.info("node %s ready: engine=%s translation=%s", self.node_id,
                 self.engine.health().get("engine"), status)

    async def close(self) -> None:
        await self.admin.close()
        await self.chat.close()
        await self.translator.close()
        await self.engine.close()
        if self.store is not None and self._store_open:
            self._store_open = False
            await self.store.close()  # commits what the archive writer holds
        self.flusher.bind(None)


class App:
    """The ASGI app: ``/ws`` WebSockets go straight to their endpoint, everything else (HTTP,
    lifespan, other WebSocket paths) through Starlette.

    A WebSocket lives for hours and its coroutine chain is what an idle connection costs:
    through Starlette's middleware and router it held about 4 KB more per connection (frames
    of ServerErrorMiddleware, ExceptionMiddleware, the router and their closures; measured
    with ``python -m benchmarks.memprofile``). The endpoint catches what it must itself.
    """

    def __init__(self, starlette: Starlette) -> None:
        self.starlette = starlette
        self.state = starlette.state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket") and not hosts.host_allowed(
                _host(scope), hosts.parse_public_hosts(self.state.bridge.settings.public_hosts)):
            await refuse_host(scope, receive, send)
            return
        if scope["type"] == "websocket" and scope["path"] == "/ws":
            scope["app"] = self.starlette
            await websocket_endpoint(WebSocket(scope, receive, send))
            return
        await self.starlette(scope, receive, send)


def _host(scope) -> str | None:
    for name, value in scope.get("headers") or ():
        if name == b"host":
            return value.decode("latin-1")
    return None


async def refuse_host(scope, receive, send) -> None:
    """400 ``host_not_allowed``, over HTTP or instead of a WebSocket upgrade."""
    body = json.dumps({"error": {"code": E.HOST_NOT_ALLOWED, "message":
                                 "this server does not answer to that Host (see --public-hosts)"}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    prefix = "websocket.http" if scope["type"] == "websocket" else "http"
    await send({"type": f"{prefix}.response.start", "status": 400, "headers": headers})
    await send({"type": f"{prefix}.response.body", "body": body})


def create_app(settings: Settings | None = None, *, bridge: LiveBridge | None = None) -> App:
    bridge = bridge or LiveBridge(settings or Settings())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await bridge.start()
        try:
            yield
        finally:
            await bridge.close()

    routes = [*http_api.routes(), *admin_api.routes(), *web.routes()]  # /ws is served by App itself
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=http_api.exception_handlers())
    app.state.bridge = bridge
    return App(app)
