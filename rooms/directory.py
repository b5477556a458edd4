"""The room directory: every room's metadata by name, paged in name order, and the expiry of
rooms nobody owns.

A room made with a TTL (auto-created by a join, no owner) expires unless :meth:`touch`\\ed:
the edge touches it when someone joins or leaves, so an empty ownerless room is forgotten a
TTL after its last visitor. Owned rooms are kept. Reading a page costs the page (plus a
bounded amount of clean-up of expired rooms), never the number of rooms.
"""

from __future__ import annotations

import abc
from typing import Any

PAGE_MAX = 100
PURGE_BATCH = 100  # expired rooms one write or page removes at most


class RoomDirectory(abc.ABC):
    """Room metadata by name (JSON-serialisable dicts with at least ``name``)."""

    @abc.abstractmethod
    async def add(self, name: str, meta: dict[str, Any], *, ttl: float | None = None) -> bool:
        """Create the room if it does not exist (or expired); with ``ttl`` it expires that
        many seconds from now unless touched. Returns whether it was created."""

    @abc.abstractmethod
    async def touch(self, name: str, meta: dict[str, Any], ttl: float) -> dict[str, Any]:
        """Keep an expiring room ``ttl`` seconds more, creating it with ``meta`` if it does
        not exist; a permanent room is left as it is. Returns the room's metadata."""

    @abc.abstractmethod
    async def get(self, name: str) -> dict[str, Any] | None:
        """The room's metadata, or None (never made, or expired)."""

    @abc.abstractmethod
    async def page(self, *, after: str | None, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``limit`` (at most PAGE_MAX) live rooms with names after ``after``, in name
        order, and whether more follow."""
