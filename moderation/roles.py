"""Roles and permissions: who may do what in a room. Pure; no I/O.

Promises:

- Roles are totally ordered: ``guest < member < moderator < owner < admin``. ``admin`` is a
  server administrator (configured on the server, not per room); ``owner`` is the room's
  creator; ``moderator`` is appointed by an owner; ``member`` is an authenticated user and
  ``guest`` holds a guest token.
- :data:`PERMISSIONS` maps every action to the minimum role allowed to do it, and
  :func:`can` answers from that table alone.
- :func:`can_target` adds the rule for actions aimed at another user (timeout, kick, ban,
  deleting their message, ...): the actor must rank strictly above the target, so
  moderators cannot act on owners, admins or other moderators, and nobody acts on
  themselves.
"""

from __future__ import annotations

GUEST = "guest"
MEMBER = "member"
MODERATOR = "moderator"
OWNER = "owner"
ADMIN = "admin"

ROLES: tuple[str, ...] = (GUEST, MEMBER, MODERATOR, OWNER, ADMIN)
RANK: dict[str, int] = {role: i for i, role in enumerate(ROLES)}

#: action -> minimum role. Keep in step with the table in docs/moderation.md
#: (tests/moderation/test_roles.py checks that they agree).
PERMISSIONS: dict[str, str] = {
    "join": GUEST,
    "send": GUEST,
    "send_locked": MODERATOR,       # post while the room is locked
    "bypass_filters": MODERATOR,    # hold-terms and slow mode do not apply (block/mask still do)
    "report": GUEST,                # guests too (web client); reports are rate-limited per user
    "delete": MODERATOR,
    "timeout": MODERATOR,
    "kick": MODERATOR,
    "ban": MODERATOR,
    "unban": MODERATOR,
    "slow_mode": MODERATOR,
    "lock": MODERATOR,
    "unlock": MODERATOR,
    "clear": MODERATOR,
    "pin": MODERATOR,
    "unpin": MODERATOR,
    "review": MODERATOR,            # read the review queue, approve, reject
    "audit_log": MODERATOR,
    "room_terms": MODERATOR,        # set_terms / add_term / remove_term with scope "room"
    "list_terms": MODERATOR,
    "add_moderator": OWNER,
    "remove_moderator": OWNER,
    "set_limits": OWNER,
    "global_terms": ADMIN,          # set_terms / add_term / remove_term with scope "global"
}

#: Actions aimed at a user; :func:`can_target` applies to them.
TARGETED: frozenset[str] = frozenset(
    {"timeout", "kick", "ban", "unban", "delete", "add_moderator", "remove_moderator"}
)


def rank(role: str) -> int:
    """Rank of a role; unknown roles rank as guests."""
    return RANK.get(role, 0)


def can(role: str, action: str) -> bool:
    """Whether ``role`` may perform ``action`` at all. Unknown actions are refused."""
    needed = PERMISSIONS.get(action)
    if needed is None:
        return False
    return rank(role) >= RANK[needed]


def can_target(
    role: str, action: str, target_role: str, *, same_user: bool = False
) -> bool:
    """Whether ``role`` may perform ``action`` on a user whose role is ``target_role``.

    Requires :func:`can`; then, for targeted actions, the actor must strictly outrank the
    target and may not target themselves. One exception: a moderator+ may delete their own
    message (``delete`` with ``same_user``).
    """
    if not can(role, action):
        return False
    if action not in TARGETED:
        return True
    if action == "delete":
        return same_user or rank(role) > rank(target_role)
    if same_user:
        return False
    return rank(role) > rank(target_role)
