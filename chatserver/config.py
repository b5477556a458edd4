"""Server settings: one dataclass, filled from command-line options and LIVEBRIDGE_* variables.

Every field of :class:`Settings` is a ``livebridge serve`` option (``history_size`` is
``--history-size``) and an environment variable (``LIVEBRIDGE_HISTORY_SIZE``). The command
line wins over the environment, which wins over the default.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, get_type_hints


# Model calls at once on a node at most (each is a thread and, with CTranslate2, a replica sharing the weights).
MAX_TRANSLATION_SLOTS = 64


def _opt(default: Any, help: str, **kw: Any) -> Any:
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class Settings:
    host: str = _opt("127.0.0.1", "address to listen on")
    port: int = _opt(8000, "port to listen on")
    redis_url: str | None = _opt(None, "Redis URL; without it the in-memory engine serves one node")
    node_id: str | None = _opt(None, "this node's name among the nodes sharing Redis (default: random)")
    secret: str | None = _opt(
        None, "HS256 secret for tokens (default: one made once and kept in --data-dir, and guest tokens on)",
        secret=True,
    )
    data_dir: str = _opt(
        os.path.join(os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "livebridge"),
        "directory where the node keeps what lasts across restarts (the token secret when no "
        "--secret is given, the SQLite store)",
    )
    database_url: str | None = _opt(
        None, "PostgreSQL URL (postgresql://user:password@host:port/db) of a store shared by many "
        "nodes; without it the store is SQLite in --data-dir", secret=True,
    )
    store: bool = _opt(
        True, "keep rooms, moderation and chat history in the durable store (--no-store: an "
        "ephemeral node, as before issue 13; for comparisons)",
    )
    allow_guests: bool | None = _opt(
        None, "issue guest tokens at POST /api/token (default: on without --secret, off with it)"
    )
    allowed_origins: str = _opt(
        "", "comma-separated Origins allowed to open WebSockets ('*' for any); "
        "the server's own origin is always allowed"
    )
    public_hosts: str = _opt(
        "", "comma-separated Host names (name or name:port) this server answers to; any other "
        "Host header gets 400 host_not_allowed, WebSocket upgrades included (default: any)"
    )
    log_level: str = _opt("info", "debug, info, warning or error")
    history_size: int = _opt(1000, "events kept per room for history and recovery")
    history_ttl: float = _opt(86400.0, "seconds an event stays in a room's history")
    max_text_chars: int = _opt(2000, "longest message text, in characters")
    max_frame_bytes: int = _opt(65536, "largest WebSocket frame a client may send")
    max_rooms_per_connection: int = _opt(10, "rooms one connection may be in at once")
    max_connections_per_user: int = _opt(20, "connections one user may hold on this node")
    outbound_max_messages: int = _opt(1000, "frames queued for a client before it is dropped as too slow")
    outbound_max_bytes: int = _opt(4 * 1024 * 1024, "bytes queued for a client before it is dropped as too slow")
    max_connections: int = _opt(10000, "connections (HTTP and WebSocket) this node holds at once; past it a new one gets HTTP 503")
    max_connections_per_address: int = _opt(
        100, "connections one client address may hold on this node; past it HTTP 429 (WebSockets "
        "through --trusted-proxies are counted by their forwarded address and closed with 4429)")
    handshake_timeout: float = _opt(10.0, "seconds a new connection has to send a whole request head (or WebSocket upgrade) before it is closed")
    http_parser: str = _opt("auto", "HTTP/1.1 parser: auto (httptools when installed, as uvicorn chooses, else h11), h11 or httptools")
    keep_alive_timeout: float = _opt(5.0, "seconds an idle HTTP keep-alive connection is kept open")
    heartbeat_interval: float = _opt(20.0, "seconds between WebSocket pings")
    heartbeat_timeout: float = _opt(20.0, "seconds to wait for a pong before dropping a connection")
    token_ttl: float = _opt(7 * 86400.0, "lifetime of guest tokens, in seconds")
    auto_create_rooms: bool = _opt(True, "joining a room that does not exist creates it (no owner)")
    auto_room_ttl: float = _opt(86400.0, "seconds an ownerless (auto-created) room is kept after its last join or leave")
    room_create_rate: float = _opt(0.02, "rooms per second one user may go on creating, by POST /api/rooms or a join (a client address: three times as many)")
    room_create_burst: float = _opt(10.0, "rooms one user may create at once (a client address: three times as many)")
    rate_user: float = _opt(1.0, "messages per second one user may sustain in a room (default limits; hosts can change them per room)")
    rate_user_burst: float = _opt(10.0, "messages one user may send at once in a room")
    rate_connection: float = _opt(5.0, "messages per second one connection may sustain across its rooms")
    rate_connection_burst: float = _opt(20.0, "messages one connection may send at once")
    rate_frames: float = _opt(20.0, "frames of any kind per second one connection may sustain")
    rate_frames_burst: float = _opt(60.0, "frames of any kind one connection may send at once")
    flood_max: int = _opt(3, "identical messages one user may repeat within 30 s (0: no flood control)")
    admin_ids: str = _opt("", "comma-separated user ids of server admins (may edit global blocked terms)")
    guest_token_rate: float = _opt(1.0, "guest tokens per second one client address may sustain at POST /api/token (0: no limit)")
    guest_token_burst: float = _opt(60.0, "guest tokens one client address may get at once")
    trusted_proxies: str = _opt(
        "", "comma-separated addresses or networks (CIDR) of reverse proxies: a request from one "
        "of them is counted against the address its X-Forwarded-For names (the last hop no trusted proxy added)"
    )
    translation: str = _opt("inline", "inline, workers or off")
    translation_backend: str = _opt("auto", "auto (ctranslate2 when installed, else transformers), transformers or ctranslate2")
    model_en_zh: str = _opt("Helsinki-NLP/opus-mt-en-zh", "model id or directory for English to Chinese")
    model_zh_en: str = _opt("Helsinki-NLP/opus-mt-zh-en", "model id or directory for Chinese to English")
    model_cache_dir: str | None = _opt(None, "where models and converted models are kept")
    translation_beam_size: int = _opt(1, "beam size (1 is greedy, best for live chat)")
    translation_deadline: float = _opt(5.0, "seconds a message's translation may take; past it readers get translation_unavailable")
    translation_max_batch: int = _opt(16, "sentences per model call at the most")
    translation_max_wait_ms: float = _opt(5.0, "milliseconds a batch waits for more sentences")
    translation_max_backlog: int = _opt(256, "messages being translated or waiting, past which new ones are shed")
    translation_max_deadline: float = _opt(
        60.0, "seconds a long message's translation may take at most: a message over "
        "--translation-long-chars characters gets --translation-deadline per that many characters, up to this")
    translation_long_chars: int = _opt(
        300, "characters past which a message is long: translated in the bulk lane, after every "
        "short line, with a longer deadline")
    translation_slots: int = _opt(
        0, "model calls at once on the node, short lines and bulk work together (0: one per core this "
        "process may use); bulk work takes at most one less (at least 1)")
    translation_bulk_batch: int = _opt(8, "sentences per model call in the bulk lane (long messages, background work)")
    translation_threads: int = _opt(
        0, "intra-op threads per model call (0: CTranslate2 runs each call on 1 thread, --translation-slots "
        "calls side by side, where 0 used to mean the library's default; transformers: torch's default)")
    translation_cache_size: int = _opt(10000, "translated sentences kept in memory")

    @property
    def origins(self) -> list[str]:
        return [o.strip() for o in self.allowed_origins.split(",") if o.strip()]

    def default_limits(self) -> dict[str, float]:
        return {"user_rate": self.rate_user, "user_burst": self.rate_user_burst,
                "conn_rate": self.rate_connection, "conn_burst": self.rate_connection_burst,
                "flood_max": self.flood_max}

    @property
    def guests_allowed(self) -> bool:
        return self.allow_guests if self.allow_guests is not None else self.secret is None

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict with secrets replaced, for logs."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = "***" if f.metadata.get("secret") and value else value
        if self.redis_url and "@" in self.redis_url:
            scheme, _, rest = self.redis_url.partition("://")
            out["redis_url"] = f"{scheme}://***@{rest.rpartition('@')[2]}"
        return out


class SettingsError(ValueError):
    """A setting's value is not acceptable; the message names the setting."""


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _converter(hint: Any):
    text = str(hint)
    if "bool" in text:
        return _parse_bool
    if "int" in text:
        return int
    if "float" in text:
        return float
    return str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one option per setting; defaults are resolved later, in :func:`load`."""
    hints = get_type_hints(Settings)
    for f in dataclasses.fields(Settings):
        flag = "--" + f.name.replace("_", "-")
        kind = _converter(hints[f.name])
        help_text = f"{f.metadata['help']} [env LIVEBRIDGE_{f.name.upper()}; default {f.default}]"
        if kind is _parse_bool:
            parser.add_argument(flag, dest=f.name, default=None, action=argparse.BooleanOptionalAction, help=help_text)
        else:
            parser.add_argument(flag, dest=f.name, default=None, type=kind, help=help_text)


def load(args: argparse.Namespace | None = None, env: dict[str, str] | None = None) -> Settings:
    """Settings from options, then the environment, then defaults; validated."""
    env = os.environ if env is None else env
    hints = get_type_hints(Settings)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        value = getattr(args, f.name, None) if args is not None else None
        if value is None:
            raw = env.get(f"LIVEBRIDGE_{f.name.upper()}")
            if raw is not None and raw != "":
                try:
                    value = _converter(hints[f.name])(raw)
                except ValueError as exc:
                    raise SettingsError(f"LIVEBRIDGE_{f.name.upper()}: {exc}") from None
        if value is not None:
            values[f.name] = value
    settings = Settings(**values)
    validate(settings)
    return settings


def validate(s: Settings) -> None:
    def need(ok: bool, message: str) -> None:
        if not ok:
            raise SettingsError(message)

    need(0 <= s.port <= 65535, f"--port must be 0-65535, got {s.port}")
    need(s.log_level.lower() in ("debug", "info", "warning", "error"), f"--log-level: unknown level {s.log_level!r}")
    need(s.history_size >= 1, "--history-size must be at least 1")
    need(s.history_ttl > 0, "--history-ttl must be positive")
    need(1 <= s.max_text_chars <= 100_000, "--max-text-chars must be 1-100000")
    need(1024 <= s.max_frame_bytes <= 16 * 1024 * 1024, "--max-frame-bytes must be 1024-16777216")
    need(s.max_rooms_per_connection >= 1, "--max-rooms-per-connection must be at least 1")
    need(s.max_connections_per_user >= 1, "--max-connections-per-user must be at least 1")
    need(s.max_connections >= 1 and s.max_connections_per_address >= 1,
         "--max-connections and --max-connections-per-address must be at least 1")
    need(0 < s.handshake_timeout <= 300 and 0 < s.keep_alive_timeout <= 300,
         "--handshake-timeout and --keep-alive-timeout must be in (0, 300] seconds")
    need(s.http_parser in ("auto", "h11", "httptools"), f"--http-parser must be auto, h11 or httptools, got {s.http_parser!r}")
    need(s.outbound_max_messages >= 1 and s.outbound_max_bytes >= 1024, "outbound limits are too small")
    need(s.heartbeat_interval > 0 and s.heartbeat_timeout > 0, "heartbeat settings must be positive")
    need(s.translation in ("inline", "workers", "off"), f"--translation must be inline, workers or off, got {s.translation!r}")
    need(s.translation_backend in ("auto", "transformers", "ctranslate2"),
         "--translation-backend must be auto, transformers or ctranslate2")
    need(s.translation != "workers" or bool(s.redis_url), "--translation workers needs --redis-url")
    need(s.rate_user > 0 and s.rate_connection > 0, "--rate-user and --rate-connection must be positive")
    need(s.rate_user_burst >= 1 and s.rate_connection_burst >= 1, "rate bursts must be at least 1")
    need(0 <= s.flood_max <= 20, "--flood-max must be 0-20")
    need(s.rate_frames > 0 and s.rate_frames_burst >= 1, "--rate-frames must be positive and its burst at least 1")
    need(s.translation_beam_size >= 1, "--translation-beam-size must be at least 1")
    need(s.translation_deadline > 0, "--translation-deadline must be positive")
    need(s.translation_max_batch >= 1 and s.translation_max_backlog >= 1,
         "--translation-max-batch and --translation-max-backlog must be at least 1")
    need(s.translation_max_wait_ms >= 0 and s.translation_threads >= 0 and s.translation_cache_size >= 0,
         "--translation-max-wait-ms, --translation-threads and --translation-cache-size must not be negative")
    need(0 <= s.translation_slots <= MAX_TRANSLATION_SLOTS,
         f"--translation-slots must be 0-{MAX_TRANSLATION_SLOTS} (0: one per core), got {s.translation_slots}")
    need(s.translation_bulk_batch >= 1, f"--translation-bulk-batch must be at least 1, got {s.translation_bulk_batch}")
    need(s.translation_long_chars >= 1, f"--translation-long-chars must be at least 1, got {s.translation_long_chars}")
    # Below --translation-deadline it only means long messages get no longer deadline than short ones.
    need(s.translation_max_deadline > 0, f"--translation-max-deadline must be positive, got {s.translation_max_deadline:g}")
    try:
        from chatserver.hosts import parse_public_hosts

        parse_public_hosts(s.public_hosts)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    if s.secret is not None:
        need(len(s.secret) >= 16, "--secret must be at least 16 characters")
    if s.redis_url is not None:
        need(s.redis_url.startswith(("redis://", "rediss://", "unix://", "redis+cluster://")),
             "--redis-url must start with redis://, rediss://, unix:// or redis+cluster://")
