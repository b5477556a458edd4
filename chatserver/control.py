"""What moderation's events mean for one local connection: a pure function, no I/O.

Moderation publishes ``control`` events (kick, ban, timeout, untimeout, role) and ``review``
events to a room; every node hands them to each of its members of that room. For one member
:func:`effects_of` turns such an event into a list of effects, and the session applies them
(:meth:`chatserver.session.Session.apply`). Deciding here and acting there keeps the rules
testable without a session, and keeps moderation out of the session's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chatserver import frames

MODERATOR_ROLES = frozenset({"admin", "owner", "moderator"})


@dataclass(frozen=True, slots=True)
class Send:
    """Queue this frame to the connection."""

    frame: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Leave:
    """The connection leaves the room (it was kicked or banned)."""

    room: str


@dataclass(frozen=True, slots=True)
class SetRole:
    """The connection's role in the room is now ``role`` (and presence should say so)."""

    room: str
    role: str


Effect = Send | Leave | SetRole


def _reason(event: dict[str, Any]) -> str:
    return f": {event['reason']}" if event.get("reason") else ""


def effects_of(event: dict[str, Any], *, room: str, user_id: str, role: str) -> list[Effect]:
    """The effects of a ``control`` or ``review`` event on a member of ``room`` who is
    ``user_id`` with ``role``. Review events reach moderators as frames (the hub forwards
    them); for everyone else this only tells a held message's author its outcome."""
    if event.get("type") == "review":
        return _review_outcome(event, room=room, user_id=user_id)
    action = event.get("action")
    effects: list[Effect] = []
    if action == "role" and event.get("role"):
        effects.append(Send(frames.role_changed(room, event.get("user_id", ""), event["role"])))
    if event.get("user_id") != user_id:
        return effects
    if action in ("kick", "ban") and event.get("disconnect", True):
        reason = "banned" if action == "ban" else "kicked"
        effects += [Send(frames.left(room, reason, f"you were {reason} from {room}{_reason(event)}",
                                     note=event.get("reason") or None)),
                    Leave(room)]
    elif action == "timeout":
        effects.append(Send(frames.notice(room, "timed_out", "you are timed out in this room" + _reason(event),
                                          until=event.get("until"))))
    elif action == "untimeout":
        effects.append(Send(frames.notice(room, "timeout_lifted", "your timeout was lifted")))
    elif action == "role" and event.get("role") and event["role"] != role:
        effects += [SetRole(room, event["role"]), Send(frames.role(room, event["role"]))]
    return effects


def _review_outcome(event: dict[str, Any], *, room: str, user_id: str) -> list[Effect]:
    if (event.get("action") != "resolved" or event.get("kind") != "held"
            or event.get("user_id") != user_id):
        return []
    approved = event.get("resolution") == "approved"
    return [Send(frames.notice(
        room, "held_approved" if approved else "held_rejected",
        "a moderator approved your message" if approved else "a moderator rejected your message",
        id=event.get("id")))]
