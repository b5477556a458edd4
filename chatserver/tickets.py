"""One-time WebSocket tickets: how a browser opens ``/ws`` without its token in the URL.

``POST /api/ws-ticket`` (``Authorization: Bearer <token>``) answers a random ticket that
stands for the token's user for TICKET_TTL seconds; the page opens ``/ws?ticket=<ticket>``.
A URL ends up in proxy and server logs; a ticket found there is worth nothing: it is spent
by the connection that used it (on whichever node: it lives in the engine's state, a Redis
key of its own with a TTL on the Redis engine) and expires unused after TICKET_TTL.

Bounds: a user gets TICKET_BURST tickets at once, then TICKET_RATE per second, so at most
TICKET_BURST + TICKET_TTL * TICKET_RATE of theirs exist at any time.
"""

from __future__ import annotations

import re
import secrets

from chatserver.auth import AuthError, User
from rooms.engine import StateStore

TICKET_TTL = 30.0
TICKET_RATE, TICKET_BURST = 1.0, 10.0
NS = "wsticket"
# Each ticket is a scope of its own (its own Redis key and hash tag, expiring with it). "~"
# keeps the scope apart from room names, which are a-z, 0-9, '-' and '_'.
SCOPE_PREFIX = "~ticket."
_TICKET = re.compile(r"[A-Za-z0-9_-]{16,64}")


class TicketBook:
    """Issues and redeems tickets in a :class:`~rooms.engine.StateStore`. Stateless itself."""

    def __init__(self, state: StateStore, *, ttl: float = TICKET_TTL) -> None:
        self.state = state
        self.ttl = ttl

    async def allowance(self, user: User) -> float:
        """0 when ``user`` may have another ticket now, else the seconds to wait."""
        return await self.state.take_token(f"rl:ticket:{user.id}", rate=TICKET_RATE, burst=TICKET_BURST)

    async def issue(self, user: User) -> str:
        ticket = secrets.token_urlsafe(24)
        value = {"id": user.id, "name": user.name, "lang": user.lang, "kind": user.kind, "admin": user.admin}
        await self.state.set(SCOPE_PREFIX + ticket, NS, "user", value, ttl=self.ttl)
        return ticket

    async def redeem(self, ticket: str) -> User:
        """The ticket's user; the ticket is spent (a second redeem, on any node, fails).
        Raises :class:`AuthError` for an unknown, spent or expired ticket."""
        if not _TICKET.fullmatch(ticket):
            raise AuthError("invalid ticket")
        scope = SCOPE_PREFIX + ticket
        value = await self.state.get(scope, NS, "user")
        # delete() is atomic: of two connections presenting one ticket, one deletes it
        if value is None or not await self.state.delete(scope, NS, "user"):
            raise AuthError("ticket unknown, expired or already used: get a new one at POST /api/ws-ticket")
        return User(id=value["id"], name=value["name"], lang=value["lang"], kind=value["kind"],
                    admin=value["admin"] is True)
