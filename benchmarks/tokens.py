"""Tokens for load-generator users, signed with the node's secret.

A benchmark that starts its own LiveBridge nodes knows their ``--secret`` and signs a token
per simulated user here, as an operator's ``livebridge token`` would: each connection is a
distinct person (presence, per-user limits and member lists see them all), without an HTTP
round trip per user.
"""

from __future__ import annotations

import secrets
import time

import jwt

ISSUER = "livebridge"  # chatserver.auth.ISSUER (benchmarks import nothing of chatserver)


def user_token(secret: str, i: int, *, prefix: str = "bench", ttl: float = 3600.0) -> str:
    """A guest token for simulated user ``i`` (English for even ``i``, Chinese for odd)."""
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": f"{prefix}-{i}-{secrets.token_hex(3)}", "name": f"Viewer {i}",
              "lang": "zh" if i % 2 else "en", "kind": "guest", "iat": now, "exp": now + int(ttl)}
    return jwt.encode(claims, secret, algorithm="HS256")
