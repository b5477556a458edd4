"""Running a node: uvicorn with our WebSocket protocol, limits and logging set from Settings."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import signal
from urllib.parse import unquote_plus

import uvicorn

from chatserver.app import LiveBridge, create_app
from chatserver.config import Settings, SettingsError
from chatserver.connguard import ConnectionGate, guarded_http_protocol, http_protocol_base
from chatserver.gcpolicy import Collections
from chatserver.http_api import trusted_networks
from chatserver.wsprotocol import LiveBridgeWebSocketProtocol
from rooms.store import StoreError


class RedactTokens(logging.Filter):
    """Keeps tokens out of logs: uvicorn logs WebSocket paths with their query string. A
    parameter is redacted when its name, URL-decoded (as the server reads it: ``tok%65n`` is
    ``token``), is ``token`` or ``ticket`` in any case; its whole value is replaced."""

    _PARAM = re.compile(r"(?P<name>[^?&=\s\"']+)=(?P<value>[^&\s\"']*)")

    @staticmethod
    def _is_token(name: str) -> bool:
        for _ in range(3):  # also what a double-encoding proxy would decode
            decoded = unquote_plus(name)
            if decoded.strip().lower() in ("token", "ticket"):
                return True
            if decoded == name:
                return False
            name = decoded
        return False

    @classmethod
    def redact(cls, text: str) -> str:
        if "=" not in text:
            return text
        return cls._PARAM.sub(lambda m: f"{m['name']}=***" if cls._is_token(m["name"]) else m[0], text)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(self.redact(a) if isinstance(a, str) else a
                                for a in (record.args if isinstance(record.args, tuple) else (record.args,)))
        if isinstance(record.msg, str):
            record.msg = self.redact(record.msg)
        return True


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "livebridge"):
        logging.getLogger(name).addFilter(RedactTokens())
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactTokens())


def connection_gate(settings: Settings) -> ConnectionGate:
    proxies = trusted_networks(settings.trusted_proxies)

    def is_proxy(host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in n for n in proxies)

    return ConnectionGate(max_connections=settings.max_connections,
                          max_per_address=settings.max_connections_per_address, exempt=is_proxy)


def check_http_parser(settings: Settings) -> None:
    """A SettingsError when ``--http-parser`` names a parser that is not installed."""
    try:
        http_protocol_base(settings.http_parser)
    except ImportError:
        raise SettingsError("--http-parser httptools: httptools is not installed (pip install httptools)") from None


def uvicorn_config(settings: Settings, bridge: LiveBridge | None = None) -> uvicorn.Config:
    gate = connection_gate(settings)
    check_http_parser(settings)
    http = guarded_http_protocol(gate, settings.handshake_timeout, settings.http_parser)
    app = create_app(settings, bridge=bridge)
    app.state.connection_gate = gate
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=http,
        timeout_keep_alive=settings.keep_alive_timeout,
        ws=LiveBridgeWebSocketProtocol,
        ws_max_size=settings.max_frame_bytes,
        ws_ping_interval=settings.heartbeat_interval,
        ws_ping_timeout=settings.heartbeat_timeout,
        ws_per_message_deflate=False,  # frames are encoded once and shared; compression would not be
        # uvicorn would trust X-Forwarded-For from 127.0.0.1 by default; --trusted-proxies
        # decides instead (chatserver.http_api.client_address), so the peer stays the peer.
        proxy_headers=False,
        log_level=settings.log_level.lower(),
        access_log=settings.log_level.lower() == "debug",
        timeout_graceful_shutdown=5,
        log_config=None,
    )


class _Server(uvicorn.Server):
    """uvicorn's server, minus re-raising SIGTERM after a graceful shutdown (exit status 0).

    Once the node has started (imports, models, the app), the oldest generation is collected
    a little at a time (:mod:`chatserver.gcpolicy`): what startup left is frozen out of the
    collector's sight, and so is every later survivor, so no pause scans the whole heap."""

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets=sockets)
        self.collections = Collections()
        self.collections.start()

    async def shutdown(self, sockets=None) -> None:
        await super().shutdown(sockets=sockets)
        if hasattr(self, "collections"):
            await self.collections.stop()

    @contextlib.contextmanager
    def capture_signals(self):
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM; on shutdown every WebSocket is closed with 1001."""
    try:
        trusted_networks(settings.trusted_proxies)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    check_http_parser(settings)  # before anything is made (the token secret, the store)
    configure_logging(settings.log_level)
    logging.getLogger("livebridge").info("settings: %s", settings.redacted())
    bridge = LiveBridge(settings)
    server = _Server(uvicorn_config(settings, bridge))
    scheme_host = settings.host if ":" not in settings.host else f"[{settings.host}]"

    async def run() -> None:
        try:  # before serving, so a bad store is one line and exit 2, not a traceback
            await bridge.open_store()
        except StoreError as exc:
            raise SettingsError(str(exc)) from None
        print(f"LiveBridge is serving on http://{scheme_host}:{settings.port}/  (Ctrl+C to stop)", flush=True)
        await server.serve()

    with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:
        runner.run(run())
