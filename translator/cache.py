"""Translation caches: an in-process LRU and an optional shared Redis layer.

Promise: entries are keyed by (model id, source, target, text), so changing a model never
serves a stale translation.  ``LRUCache`` is bounded to ``maxsize`` entries (least recently
used evicted first; ``maxsize=0`` disables it).  ``RedisCache`` stores entries under
``prefix + sha256(key)`` with a TTL; Redis errors are swallowed (counted in ``errors``) so a
Redis hiccup degrades to a cache miss, never to a failed translation.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

CacheKey = tuple[str, str, str, str]  # (model id, source, target, text)


def cache_key(model: str, source: str, target: str, text: str) -> CacheKey:
    return (model, source, target, text)


class LRUCache:
    def __init__(self, maxsize: int = 10000):
        self.maxsize = maxsize
        self._data: OrderedDict[CacheKey, str] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: CacheKey) -> str | None:
        value = self._data.get(key)
        if value is None:
            self.misses += 1
            return None
        self._data.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key: CacheKey, value: str) -> None:
        if self.maxsize <= 0:
            return
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.maxsize:
            self._data.popitem(last=False)


class RedisCache:
    """Shared cache on a ``redis.asyncio`` client (created and closed by the caller)."""

    def __init__(self, client, prefix: str = "lb:trcache:", ttl_seconds: int = 7 * 24 * 3600):
        self.client = client
        self.prefix = prefix
        self.ttl = ttl_seconds
        self.errors = 0

    def redis_key(self, key: CacheKey) -> str:
        digest = hashlib.sha256("\x1f".join(key).encode("utf-8")).hexdigest()
        return self.prefix + digest

    async def get(self, key: CacheKey) -> str | None:
        try:
            value = await self.client.get(self.redis_key(key))
        except Exception:  # noqa: BLE001 - degrade to a miss
            self.errors += 1
            return None
        if value is None:
            return None
        return value.decode("utf-8") if isinstance(value, bytes) else value

    async def put(self, key: CacheKey, value: str) -> None:
        try:
            await self.client.set(self.redis_key(key), value.encode("utf-8"), ex=self.ttl)
        except Exception:  # noqa: BLE001
            self.errors += 1
