"""Rate limits, slow mode and flood control, shared across nodes.

Promises:

- :class:`Limits` is a room's configuration (validated; unknown keys and bad values raise
  ``ValueError``); :meth:`Limits.merged` applies a room's overrides to the server defaults.
- The decisions are pure functions (:func:`slow_mode_verdict`, :func:`bucket_verdict`,
  :func:`flood_verdict`): they turn what the state store answered into a
  :class:`Rejection` with a ``retry_after`` in seconds, or ``None``.
- :class:`RateLimiter` does the I/O through :class:`rooms.engine.StateStore` only, so every
  node sees the same counters: token buckets with the atomic ``take_token`` (per user per
  room, under the room's hash tag so it lives on the room's shard of a Redis Cluster, and
  per connection), slow mode with an atomic ``add`` of a key that expires after
  the slow-mode interval, and flood control with ``flood_max`` expiring slots per
  (user, message fingerprint) claimed with atomic ``add``, so two nodes never both let the
  same excess message through.
"""

from __future__ import annotations

import functools
import hashlib
import math
import time
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Callable

from rooms.engine import StateStore

NS_SLOW = "slow"
NS_FLOOD = "flood"

# Bounds of Limits: a room's owner (any guest) sets them, so absurd values are refused. A
# bucket's key lives until the bucket is full again (burst / rate seconds), so these also
# bound every bucket key's TTL.
MIN_RATE = 0.01          # one message per 100 s
MAX_RATE = 1e6           # "no limit", for load tests
MAX_BURST = 1e6


@dataclass(frozen=True, slots=True)
class Limits:
    """How fast one user may post in one room. ``flood_max = 0`` turns flood control off.

    - ``user_rate``/``user_burst``: messages per second a user may sustain in a room, and
      how many they may send at once (token bucket, shared by all their connections).
    - ``conn_rate``/``conn_burst``: the same for one connection across all its rooms.
    - ``flood_window``/``flood_max``: at most ``flood_max`` messages with the same
      fingerprint (normalized text) from one user in a room per ``flood_window`` seconds.
    """

    user_rate: float = 1.0
    user_burst: float = 5.0
    conn_rate: float = 2.0
    conn_burst: float = 10.0
    flood_window: float = 30.0
    flood_max: int = 2

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{f.name} must be a number")
        for rate, burst in ((self.user_rate, self.user_burst), (self.conn_rate, self.conn_burst)):
            if not MIN_RATE <= rate <= MAX_RATE:
                raise ValueError(f"rates must be in [{MIN_RATE:g}, {MAX_RATE:g}] messages/s")
            if not 1 <= burst <= MAX_BURST:
                raise ValueError(f"bursts must be in [1, {MAX_BURST:g}]")
        if self.flood_window <= 0 or self.flood_window > 86400:
            raise ValueError("flood_window must be in (0, 86400]")
        if self.flood_max < 0 or self.flood_max > 20 or int(self.flood_max) != self.flood_max:
            raise ValueError("flood_max must be an integer in [0, 20]")

    def merged(self, overrides: dict[str, Any] | None) -> "Limits":
        """These limits with ``overrides`` applied (validated)."""
        if not overrides:
            return self
        try:
            key = tuple(sorted(overrides.items()))
            hash(key)
        except TypeError:  # an unhashable value: let validation say what is wrong
            return _merge(self, overrides)
        return _merged(self, key)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _merge(base: Limits, overrides: dict[str, Any]) -> Limits:
    known = {f.name for f in fields(base)}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown limit(s): {', '.join(sorted(unknown))}")
    return replace(base, **overrides)


@functools.lru_cache(maxsize=1024)
def _merged(base: Limits, overrides: tuple[tuple[str, Any], ...]) -> Limits:
    # Every send reads its room's limits: a room's overrides are merged (and validated) once.
    return _merge(base, dict(overrides))


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a message may not be sent now: ``code`` and seconds until it could be."""

    code: str  # "slow_mode" | "rate_limited" | "flood"
    retry_after: float
    message: str


def _retry(seconds: float) -> float:
    return round(max(0.001, seconds), 3)


def slow_mode_verdict(claimed: bool, until: float | None, now: float) -> Rejection | None:
    """Slow mode: ``claimed`` is whether this message took the user's slot."""
    if claimed:
        return None
    wait = (until - now) if until is not None else 0.001
    return Rejection("slow_mode", _retry(wait), "slow mode is on: wait before your next message")


def bucket_verdict(wait: float, *, per: str) -> Rejection | None:
    """A token bucket's answer (0 = taken) as a rejection."""
    if wait <= 0:
        return None
    return Rejection("rate_limited", _retry(wait), f"too many messages ({per}): slow down")


def flood_verdict(claimed: bool, slot_untils: list[float | None], now: float) -> Rejection | None:
    """Flood: ``claimed`` is whether a slot was free; else wait for the first to expire."""
    if claimed:
        return None
    live = [u for u in slot_untils if u is not None]
    wait = (min(live) - now) if live else 0.001
    return Rejection("flood", _retry(wait), "you already sent that message: don't repeat it")


def flood_digest(fingerprint: str, text: str) -> str:
    """Key part for a message: its normalized fingerprint (raw text when that is empty)."""
    basis = fingerprint or text.strip()
    return hashlib.blake2b(basis.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def user_bucket(room: str, user_id: str) -> str:
    """Under the room's hash tag (``{room}...``): on a Redis Cluster the bucket lives on the
    room's shard, so a send touches no shard but its room's."""
    return f"{{{room}}}:rl:u:{user_id}"


def report_bucket(room: str, user_id: str) -> str:
    return f"{{{room}}}:rl:report:{user_id}"


def room_report_bucket(room: str) -> str:
    """All reports in a room, whoever files them (fresh guest tokens are free)."""
    return f"{{{room}}}:rl:reports"


# Reports: per user and room 5 at once, then one per 10 s; per room 30 at once, then one per 5 s.
REPORT_RATE, REPORT_BURST = 0.1, 5.0
ROOM_REPORT_RATE, ROOM_REPORT_BURST = 0.2, 30.0


def conn_bucket(conn_id: str) -> str:
    """A connection's bucket spans its rooms, so it has no room's tag; the Redis engine takes
    it on the connection's own node while the bucket's shard is unreachable."""
    return f"rl:c:{conn_id}"


class RateLimiter:
    """Applies :class:`Limits` and slow mode with shared state. Stateless itself."""

    def __init__(self, state: StateStore, *, clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.clock = clock

    async def claim_slow_mode(self, room: str, user_id: str, seconds: float) -> Rejection | None:
        """Take the user's slow-mode slot for ``seconds`` (no-op when slow mode is off)."""
        if seconds <= 0:
            return None
        now = self.clock()
        claimed = await self.state.add(room, NS_SLOW, user_id, now + seconds, ttl=seconds)
        until = None if claimed else await self.state.get(room, NS_SLOW, user_id)
        return slow_mode_verdict(claimed, until, now)

    async def release_slow_mode(self, room: str, user_id: str) -> None:
        """Give the slot back (the message was rejected later, so it does not count)."""
        await self.state.delete(room, NS_SLOW, user_id)

    async def take(self, room: str, user_id: str, conn_id: str, limits: Limits) -> Rejection | None:
        """One message's worth from the user's and the connection's buckets."""
        wait = await self.state.take_token(
            user_bucket(room, user_id), rate=limits.user_rate, burst=limits.user_burst
        )
        rejection = bucket_verdict(wait, per="user")
        if rejection is None and conn_id:
            wait = await self.state.take_token(
                conn_bucket(conn_id), rate=limits.conn_rate, burst=limits.conn_burst
            )
            rejection = bucket_verdict(wait, per="connection")
        return rejection

    async def flood(
        self, room: str, user_id: str, fingerprint: str, text: str, limits: Limits
    ) -> Rejection | None:
        """Claim one of ``flood_max`` slots for this (user, message) in the window."""
        if limits.flood_max <= 0:
            return None
        now = self.clock()
        digest = flood_digest(fingerprint, text)
        keys = [f"{user_id}:{digest}:{i}" for i in range(int(limits.flood_max))]
        for key in keys:
            if await self.state.add(room, NS_FLOOD, key, now + limits.flood_window,
                                    ttl=limits.flood_window):
                return None
        untils = [await self.state.get(room, NS_FLOOD, key) for key in keys]
        return flood_verdict(False, untils, now)
