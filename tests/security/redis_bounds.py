"""After an attack, every Redis key it left must have a TTL or a documented bound.

The bound of each key without a TTL is stated in docs/deploy.md's table of Redis keys (its
"TTL" cell starts with "none"); :func:`unbounded_keys` scans a test's own redis-server and
returns the keys that have no TTL and match no such row. The table is the list: a new key
kept for good must be documented there, with its bound, or the tests fail.
"""

from __future__ import annotations

import re
from functools import lru_cache

import redis

from tests.harness import ROOT, RedisServer


@lru_cache(maxsize=1)
def bounded_patterns() -> tuple[re.Pattern, ...]:
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    patterns = []
    for line in text.splitlines():
        row = line.strip()[1:-1] if line.startswith("| `lb") else ""
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)] if row else []
        if len(cells) < 5 or not cells[3].lower().startswith("none"):
            continue
        for key in re.findall(r"`([^`]+)`", cells[0]):
            regex = re.escape(key)
            regex = re.sub(r"\\\{[A-Z]\\\}", r"\\{[^}]*\\}", regex)  # {R}, {S}, {N}: any hash tag
            regex = re.sub(r"<[^>]*>", ".+", regex)  # <ns>, <name>, <user>: any part
            patterns.append(re.compile(regex + "$"))
    assert patterns, "docs/deploy.md has no table of Redis keys"
    return tuple(patterns)


def keys_without_ttl(server: RedisServer) -> list[str]:
    client = redis.Redis(port=server.port, decode_responses=True)
    try:
        keys = list(client.scan_iter(count=1000))
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.pttl(key)
        return [k for k, ttl in zip(keys, pipe.execute()) if ttl == -1]
    finally:
        client.close()


def unbounded_keys(redis: RedisServer) -> list[str]:
    """Keys with neither a TTL nor a row in docs/deploy.md that states their bound."""
    return [k for k in keys_without_ttl(redis) if not any(p.match(k) for p in bounded_patterns())]
