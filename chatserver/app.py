"""Wiring: one :class:`LiveBridge` per server process, and the Starlette app that serves it.

This is the only module that knows every package: it builds the engine (memory or Redis),
the hub, the moderation gate and the translation bridge from :class:`Settings`, and
starts and stops them with the app's lifespan.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from typing import Any

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute

from chatserver import http_api, protocol, web
from chatserver.auth import TokenIssuer
from chatserver.chat import ChatService
from chatserver.config import Settings
from chatserver.metrics import Metrics
from chatserver.outbound import Flusher, SharedFrame
from chatserver.ws import websocket_endpoint
from rooms.engine import Engine
from rooms.hub import Hub

log = logging.getLogger("livebridge")


def build_engine(settings: Settings, node_id: str) -> Engine:
    if settings.redis_url:
        from rooms.redis_engine import RedisEngine  # imported only when used

        return RedisEngine(settings.redis_url, node_id=node_id, history_size=settings.history_size,
                           history_ttl=settings.history_ttl)
    from rooms.memory import MemoryEngine

    return MemoryEngine(history_size=settings.history_size, history_ttl=settings.history_ttl,
                        node_id=node_id)


def encode_shared(event: dict, codec: str) -> SharedFrame:
    return SharedFrame(protocol.encode(event, codec))


class LiveBridge:
    """Everything one server process holds: settings, engine, hub, services, sessions."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.node_id = settings.node_id or "node-" + secrets.token_hex(3)
        if settings.secret is None:
            log.warning("no --secret configured: signing tokens with a random secret for this run "
                        "(tokens will not survive a restart; guest tokens are on)")
        self.tokens = TokenIssuer(settings.secret or secrets.token_urlsafe(32), ttl=settings.token_ttl)
        self.metrics = Metrics()
        self.engine = build_engine(settings, self.node_id)
        self.hub = Hub(self.engine.broker, encode_shared)
        self.hub.on_fanout = self._on_fanout
        self.flusher = Flusher()
        self.moderation = self._build_moderation()
        self.translation = self._build_translation()
        self.chat = ChatService(self.engine, auto_create_rooms=settings.auto_create_rooms,
                                moderation=self.moderation, translation=self.translation,
                                metrics=self.metrics)
        if self.translation is not None:
            self.translation.chat = self.chat
        self.sessions: set[Any] = set()
        self._per_user: dict[str, int] = {}

    def _build_moderation(self):
        try:
            from chatserver.moderation_gate import ModerationGate
        except ImportError:  # moderation package not present in this build
            return None
        admins = tuple(a.strip() for a in self.settings.admin_ids.split(",") if a.strip())
        return ModerationGate(self.engine, node_id=self.node_id, admin_ids=admins,
                              default_limits=self.settings.default_limits())

    def _build_translation(self):
        try:
            from chatserver.translation import TranslationBridge
        except ImportError:
            return None
        return TranslationBridge(self.settings, self.engine, self.metrics)

    def _on_fanout(self, room: str, event: dict, recipients: int) -> None:
        self.metrics.frames_out.inc(recipients)
        ts = event.get("ts")
        if ts is not None and event.get("type") == "message":
            self.metrics.fanout_latency.observe(max(0.0, time.time() - ts / 1000))

    def translation_status(self) -> dict:
        if self.translation is None:
            return {"enabled": False, "mode": "off", "reason": "translation is not installed"}
        return self.translation.status()

    def connections_of(self, user_id: str) -> int:
        return self._per_user.get(user_id, 0)

    def add_session(self, session) -> None:
        self.sessions.add(session)
        self._per_user[session.user.id] = self._per_user.get(session.user.id, 0) + 1
        self.metrics.connections.set(len(self.sessions))

    def remove_session(self, session) -> None:
        self.sessions.discard(session)
        left = self._per_user.get(session.user.id, 1) - 1
        if left > 0:
            self._per_user[session.user.id] = left
        else:
            self._per_user.pop(session.user.id, None)
        self.metrics.connections.set(len(self.sessions))

    async def start(self) -> None:
        await self.engine.start()
        if self.translation is not None:
            await self.translation.start()
        log.info("node %s ready: engine=%s translation=%s", self.node_id,
                 self.engine.health().get("engine"), self.translation_status())

    async def close(self) -> None:
        if self.translation is not None:
            await self.translation.close()
        await self.engine.close()


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    bridge = LiveBridge(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await bridge.start()
        try:
            yield
        finally:
            await bridge.close()

    routes = [
        WebSocketRoute("/ws", websocket_endpoint),
        *http_api.routes(),
        *web.routes(),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=http_api.exception_handlers())
    app.state.livebridge = bridge
    return app
