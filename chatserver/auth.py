"""Tokens and origins: who is connecting, and from which page.

Tokens are HS256 JWTs (PyJWT) with ``sub`` (user id), ``name``, ``lang``, ``kind``
("guest" or "member"), optional ``admin``, ``iat`` and ``exp``. The server verifies the
signature, expiry and claims at connect; nothing about a user is taken from the client
afterwards.
"""

from __future__ import annotations

import secrets
import time
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

import jwt
from jwt.algorithms import HMACAlgorithm

ISSUER = "livebridge"
NAME_MAX = 32


class AuthError(Exception):
    """A token we refuse; the message says why, without echoing the token."""


@dataclass(frozen=True, slots=True)
class User:
    """An authenticated user, as the token says."""

    id: str
    name: str
    lang: str
    kind: str = "guest"  # guest | member
    admin: bool = False

    def public(self) -> dict:
        return {"id": self.id, "name": self.name, "lang": self.lang}


def clean_name(name: object) -> str:
    """A display name fit to show: trimmed, no control characters, 1-32 characters."""
    return clean_line(name, max_chars=NAME_MAX, what="name")


def clean_line(text: object, *, max_chars: int, what: str = "text") -> str:
    """A line of text fit to show to others, e.g. a room title: no control, format (bidi
    overrides, zero-width), private-use or unassigned characters, trimmed, 1-``max_chars``
    characters. The display-name rules (:func:`clean_name`) with another length."""
    if not isinstance(text, str):
        raise ValueError(f"{what} must be a string")
    if text.isascii() and text.isprintable():  # no control character: nothing to drop (most names)
        cleaned = text.strip()
    else:
        cleaned = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C").strip()
    if not cleaned:
        raise ValueError(f"{what} must not be empty")
    if len(cleaned) > max_chars:
        raise ValueError(f"{what} must be at most {max_chars} characters")
    return cleaned


def clean_lang(lang: object) -> str:
    if lang not in ("en", "zh"):
        raise ValueError("lang must be 'en' or 'zh'")
    return lang  # type: ignore[return-value]


class _CheckedSecret(HMACAlgorithm):
    """HS256 with the node's one secret checked once. PyJWT checks an HMAC key on every
    verify (that it is no PEM, SSH or DER key, by trying to load it as each): 8% of a node's
    CPU in a join storm, for a secret that never changes."""

    def __init__(self, secret: bytes) -> None:
        super().__init__(HMACAlgorithm.SHA256)
        self._secret = secret
        self._prepared = super().prepare_key(secret)

    def prepare_key(self, key: str | bytes) -> bytes:
        return self._prepared if key == self._secret else super().prepare_key(key)


class TokenIssuer:
    """Signs and verifies tokens with one secret."""

    def __init__(self, secret: str, *, ttl: float) -> None:
        self._secret = secret
        self.ttl = ttl
        # A key bound to HS256 whose secret is checked once (see _CheckedSecret).
        self._key = jwt.PyJWK({"kty": "oct", "k": jwt.utils.base64url_encode(secret.encode()).decode(),
                               "alg": "HS256"})
        self._key.Algorithm = _CheckedSecret(self._key.key)

    def issue(self, *, name: str, lang: str, user_id: str | None = None, kind: str = "guest",
              admin: bool = False, ttl: float | None = None) -> tuple[str, User, int]:
        user = User(
            id=user_id or ("g_" if kind == "guest" else "u_") + secrets.token_hex(6),
            name=clean_name(name), lang=clean_lang(lang), kind=kind, admin=admin,
        )
        now = int(time.time())
        expires = now + int(ttl if ttl is not None else self.ttl)
        claims = {"iss": ISSUER, "sub": user.id, "name": user.name, "lang": user.lang,
                  "kind": kind, "iat": now, "exp": expires}
        if admin:
            claims["admin"] = True
        return jwt.encode(claims, self._secret, algorithm="HS256"), user, expires

    def verify(self, token: str) -> User:
        try:
            claims = jwt.decode(
                token, self._key, algorithms=["HS256"], issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "iss"]}, leeway=5,
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"invalid token: {type(exc).__name__}") from None
        try:
            sub = claims["sub"]
            if not isinstance(sub, str) or not 0 < len(sub) <= 64:
                raise ValueError("sub must be a string of 1-64 characters")
            kind = claims.get("kind", "member")
            if kind not in ("guest", "member"):
                raise ValueError("unknown kind")
            return User(id=sub, name=clean_name(claims.get("name", sub)),
                        lang=clean_lang(claims.get("lang", "en")), kind=kind,
                        admin=claims.get("admin") is True)
        except ValueError as exc:
            raise AuthError(f"invalid token claims: {exc}") from None


def origin_allowed(origin: str | None, host: str | None, allowed: list[str]) -> bool:
    """Whether a WebSocket upgrade from ``origin`` may proceed.

    No Origin header means a non-browser client (browsers always send one), which a token
    already authenticates. A browser page may connect from the server's own origin or an
    allowed one.
    """
    if origin is None:
        return True
    if "*" in allowed:
        return True
    normalized = origin.rstrip("/").lower()
    if normalized in (o.rstrip("/").lower() for o in allowed):
        return True
    parts = urlsplit(normalized)
    return bool(host) and parts.scheme in ("http", "https") and parts.netloc == host.lower()
