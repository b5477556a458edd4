"""What presence and the state store need from the Redis engine, and nothing more.

:mod:`rooms.redis_state` is written against :class:`RedisLink` rather than the engine, so
the engine can import it while it imports nothing of the engine (no import cycle).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol


class RedisLink(Protocol):
    """A node's way to Redis: its client, its name and its failure handling."""

    #: The redis-py client (``redis.asyncio.Redis`` or ``RedisCluster``).
    redis: Any
    #: This node's id among the nodes sharing Redis.
    node_id: str
    #: Seconds a heartbeat keeps this node alive.
    node_ttl: float
    #: Whether ``redis`` is a Redis Cluster client.
    cluster: bool

    def guard(self, key: str | None = None) -> AbstractContextManager[None]:
        """Turn Redis failures into engine errors (and start recovering if Redis is gone);
        with ``key``, refuse at once when that key's shard is known to be unreachable."""

    async def command(self, *args: Any) -> Any:
        """Run one plain command (``"SADD", key, member``), batched with concurrent ones
        where the engine can."""

    async def script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """Run one of the engine's Lua scripts (by name) on ``keys``."""

    def shard_failing(self, key: str) -> bool:
        """Whether the shard serving ``key`` is known to be unreachable right now."""
