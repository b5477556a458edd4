"""The edge's side of moderation: adapts :class:`moderation.Moderation` to the chat service.

Moderation decides, and keeps its state in the engine, so decisions hold on every node.
This adapter only turns users into actors and moderation's refusals into
:class:`~chatserver.errors.ChatError`; it publishes nothing and touches no connection
(the chat service publishes; :mod:`chatserver.control` says what moderation's events mean
for a connection). Moderation works out the caller's role itself, from the engine, on
every call, so no method here takes one.
"""

from __future__ import annotations

from typing import Any

from chatserver.auth import User
from chatserver.errors import ChatError
from moderation import Actor, Decision, Moderation, ModerationError
from moderation.model import AdmissionReads
from rooms.engine import Engine


def actor_of(user: User, address: str = "") -> Actor:
    """The moderation actor for a verified token's user. Admin comes from the token (or
    ``--admin-ids``, which moderation knows) at each use and is never stored: a later token
    for the same id without the claim is not admin. ``address``: the client's, where known."""
    return Actor(user.id, user.name, user.kind, admin=user.admin, address=address)


ACTORS_REMEMBERED = 10_000  # senders whose actor the gate keeps (see ModerationGate.check_send)


def _refusal(exc: ModerationError) -> ChatError:
    return ChatError.from_moderation(exc.code, exc.message, getattr(exc, "retry_after", None))


class ModerationGate:
    """What the chat service asks moderation; one per node."""

    def __init__(self, engine: Engine, *, node_id: str, admin_ids: tuple[str, ...] = (),
                 default_limits: dict | None = None) -> None:
        self.moderation = Moderation(engine, node_id=node_id, admin_ids=admin_ids,
                                     default_limits=default_limits)
        # user id -> (user, actor_of(user)): a User is immutable, so its actor is built once
        # per token's user, not per message; a new User (another token) gets its own.
        self._senders: dict[str, tuple[User, Actor]] = {}

    def quote_translations_with(self, translations_of) -> None:
        """Where moderation reads a message's translations, to quote them beside the message
        (pin, reports, audit entries): ``translations_of(room, event) -> {lang: text}``."""
        self.moderation.translations_of = translations_of

    async def set_review_translations(self, room: str, item_id: str, translations: dict[str, str]) -> bool:
        return await self.moderation.set_review_translations(room, item_id, translations)

    async def _actor(self, user: User) -> Actor:
        return actor_of(user)

    async def role_of(self, room: str, user: User) -> str:
        return await self.moderation.role_of(room, await self._actor(user))

    async def set_owner(self, room: str, user: User) -> None:
        await self.moderation.set_owner(room, user.id)

    async def admission(self, room: str, user: User, *, address: str = "") -> tuple[str, dict[str, Any]]:
        """The user's role in the room and the room's settings, or a ``banned`` refusal (of the
        user, or of ``address`` when a ban holds it)."""
        return self._admitted(await self.moderation.admission(room, actor_of(user, address)))

    def admission_reads(self, user: User, *, address: str = "") -> AdmissionReads:
        """The state reads that decide the user's join, to be made with the join's other work."""
        return self.moderation.admission_reads(actor_of(user, address))

    def admission_of(self, user: User, values: list[Any], *, address: str = "") -> tuple[str, dict[str, Any]]:
        """:meth:`admission` from the values of :meth:`admission_reads`' reads."""
        return self._admitted(self.moderation.admission_of(actor_of(user, address), values))

    @staticmethod
    def _admitted(admission: tuple[str, Decision, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
        role, decision, settings = admission
        if decision.action == "reject":
            raise ChatError.from_moderation(decision.code or "banned", decision.message or "you may not join",
                                            status=403)
        return role, settings

    async def check_send(self, room: str, user: User, text: str, *, conn_id: str,
                         client_msg_id: str | None = None, reply_to: int | None = None) -> Decision:
        """Allow (with the text to publish), hold, or refuse with a :class:`ChatError`."""
        extra: dict[str, Any] = {"lang": user.lang, "client_msg_id": client_msg_id}
        if reply_to is not None:
            extra["reply_to"] = reply_to  # kept with a held message, for its approval
        decision = await self.moderation.check_send(room, self._sender(user), text, conn_id=conn_id, extra=extra)
        if decision.action == "reject":
            raise ChatError.from_moderation(decision.code or "forbidden", decision.message or "message refused",
                                            decision.retry_after, status=403)
        return decision

    def _sender(self, user: User) -> Actor:
        known = self._senders.get(user.id)
        if known is not None and known[0] is user:
            return known[1]
        if len(self._senders) >= ACTORS_REMEMBERED:
            self._senders.clear()
        actor = actor_of(user)
        self._senders[user.id] = (user, actor)
        return actor

    async def check_translation(self, room: str, text: str, lang: str) -> Decision:
        return await self.moderation.check_translation(room, text, lang)

    async def is_deleted(self, room: str, offset: int) -> bool:
        return await self.moderation.is_deleted(room, offset)

    async def room_settings(self, room: str) -> dict[str, Any]:
        return await self.moderation.room_settings(room)

    async def act(self, room: str, user: User, action: str, params: dict) -> dict:
        try:
            return await self.moderation.act(room, await self._actor(user), action, params)
        except ModerationError as exc:
            raise _refusal(exc) from None

    async def report(self, room: str, user: User, offset: int, reason: str) -> dict:
        try:
            return await self.moderation.report(room, await self._actor(user), offset, reason)
        except ModerationError as exc:
            raise _refusal(exc) from None

    async def review_queue(self, room: str, user: User) -> list[dict]:
        try:
            return await self.moderation.review_queue(room, await self._actor(user))
        except ModerationError as exc:
            raise _refusal(exc) from None

    async def audit_log(self, room: str, user: User, limit: int) -> list[dict]:
        try:
            return await self.moderation.audit_log(room, await self._actor(user), limit)
        except ModerationError as exc:
            raise _refusal(exc) from None

    async def approve(self, room: str, user: User, item_id: str) -> dict[str, Any]:
        """Resolve a review item as approved; returns the item (the caller publishes a held
        message)."""
        try:
            return await self.moderation.approve(room, await self._actor(user), item_id)
        except ModerationError as exc:
            raise _refusal(exc) from None

    async def reject(self, room: str, user: User, item_id: str) -> None:
        try:
            await self.moderation.reject(room, await self._actor(user), item_id)
        except ModerationError as exc:
            raise _refusal(exc) from None
