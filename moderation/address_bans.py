"""Bans that also hold the client address, so that a banned guest cannot walk back in with a
fresh token (guest tokens are free).

``ban`` with ``"address": true`` records, besides the user's ban, the address the user is
connected to the room from (presence keeps it in each member's ``extra``; a user who is not in
the room has no address to ban, and the result's ``address`` is null). A join from a banned
address is refused like a banned user, except for the room's hosts and admins.

Trade-offs (docs/moderation.md): one address can be many people (a shared NAT: an office, a
campus, a mobile carrier), so an address ban lasts ADDRESS_BAN_TTL (24 h), not for good like
the user's own ban; and hosts, who may be any guest who made a room, see the address only
masked (``198.51.100.x``, ``2001:db8:1:…``), never whole.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from rooms.engine import Presence, StateStore

NS_BANNED_ADDRESSES = "ban_addresses"
ADDRESS_BAN_TTL = 86400.0


def mask(address: str | None) -> str | None:
    """What a host is shown of an address: enough to tell two apart, not to find anyone."""
    if not address:
        return None
    text = address.split("/", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return "…"
    if ip.version == 4:
        return ".".join(text.split(".")[:3]) + ".x"
    groups = ip.exploded.split(":")[:3]
    return ":".join(g.lstrip("0") or "0" for g in groups) + ":…"


async def address_of(presence: Presence, room: str, user_id: str) -> str | None:
    """The address ``user_id`` is connected to ``room`` from (any of their connections)."""
    for member in await presence.members(room):
        if member.user_id == user_id and member.extra.get("address"):
            return str(member.extra["address"])
    return None


async def ban_address(state: StateStore, room: str, address: str, entry: dict[str, Any]) -> None:
    await state.set(room, NS_BANNED_ADDRESSES, address, entry, ttl=ADDRESS_BAN_TTL)


async def unban_address(state: StateStore, room: str, ban: dict[str, Any] | None, user_id: str) -> None:
    """Lift the address part of ``user_id``'s ban (if another ban has the address since, it stays)."""
    address = (ban or {}).get("address")
    if address:
        current = await state.get(room, NS_BANNED_ADDRESSES, address)
        if current is not None and current.get("user_id") == user_id:
            await state.delete(room, NS_BANNED_ADDRESSES, address)


def listed(bans: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The ``bans`` result: each ban with its address masked (``address`` only when it has one)."""
    out = {}
    for user_id, ban in bans.items():
        ban = dict(ban)
        if ban.get("address"):
            ban["address"] = mask(ban["address"])
        else:
            ban.pop("address", None)
        out[user_id] = ban
    return out
