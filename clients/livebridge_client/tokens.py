"""Tokens: guest tokens from ``POST /api/token``, a token's expiry, and the token sources the
client calls (docs/protocol.md, "Connecting")."""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import time
import urllib.error
import urllib.request
from typing import Awaitable, Callable, Union
from urllib.parse import quote, urlsplit, urlunsplit

__all__ = ["TokenSource", "TokenRefused", "guest_token", "guest_token_source", "token_expiry",
           "http_base", "ws_url"]

TokenSource = Callable[[], Union[str, Awaitable[str]]]
"""A callable the client calls (with no arguments) for a token: a plain function (run in a worker
thread, so it may block on I/O) or an ``async def`` function (awaited)."""


class TokenRefused(Exception):
    """A token source cannot ever give a token (e.g. the server answers 403 ``guests_disabled``):
    retrying is pointless. Raise it from your own source to make the client give up; any other
    exception from a source counts as a passing failure and is retried with backoff."""


def http_base(url: str) -> str:
    """``ws://host:port/...`` or ``http://host:port/...`` -> ``http://host:port``."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, "", "", ""))


def ws_url(url: str, token: str | None = None) -> str:
    """The WebSocket URL of a server given by its ``http(s)://`` or ``ws(s)://`` address. The
    client sends its token in an ``Authorization`` header; ``token`` puts it in the query string
    instead, for tools that cannot set headers."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    query = "" if token is None else "token=" + quote(token, safe="")
    return urlunsplit((scheme, parts.netloc, "/ws", query, ""))


def guest_token(url: str, name: str, lang: str = "en", timeout: float = 10.0) -> str:
    """Ask a server for a guest token (blocking). Raises :class:`TokenRefused` when the server
    refuses for good (HTTP 4xx: guests are off, or the name is not allowed) and ``OSError`` when
    it cannot be reached."""
    request = urllib.request.Request(
        http_base(url) + "/api/token", method="POST",
        data=json.dumps({"name": name, "lang": lang}).encode(),
        headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())["token"]
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace")[:300]
        if 400 <= exc.code < 500 and exc.code not in (408, 429):
            raise TokenRefused(f"POST /api/token: HTTP {exc.code} {body}") from None
        raise OSError(f"POST /api/token: HTTP {exc.code} {body}") from None


def guest_token_source(url: str, name: str, lang: str = "en") -> TokenSource:
    """A token source that asks ``url`` for a new guest token each time it is called."""
    async def fetch() -> str:
        return await asyncio.to_thread(guest_token, url, name, lang)
    fetch.__qualname__ = f"guest_token_source({name!r})"
    return fetch


def token_expiry(token: str) -> float | None:
    """The ``exp`` claim (Unix seconds) of a JWT, read without verifying it, or None."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        exp = claims.get("exp")
        return float(exp) if exp is not None else None
    except (IndexError, ValueError, TypeError, AttributeError):
        return None


def expires_soon(token: str, margin: float = 30.0) -> bool:
    exp = token_expiry(token)
    return exp is not None and exp - time.time() < margin


async def call_source(source: TokenSource) -> str:
    """Call a token source, sync (in a thread) or async, and check it gave a string."""
    if inspect.iscoroutinefunction(source) or inspect.iscoroutinefunction(getattr(source, "__call__", None)):
        result = source()
    else:
        result = await asyncio.to_thread(source)
    if inspect.isawaitable(result):
        result = await result
    if not isinstance(result, str) or not result:
        raise TypeError(f"the token source returned {type(result).__name__}, not a token string")
    return result
