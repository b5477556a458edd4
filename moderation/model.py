"""The vocabulary of moderation: who acts, what a gate answers, how refusals are raised,
and where moderation keeps its state in the engine (namespaces of ``engine.state``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rooms.engine import Event

NS_ROLES = "roles"
NS_ADMINS = "admins"  # no longer read or written: admin comes from the Actor (its token) or admin_ids
NS_BANS = "bans"
NS_MUTES = "mutes"
NS_SETTINGS = "settings"
NS_TERMS = "terms"
NS_META = "meta"
NS_REVIEW = "review"
NS_RESOLVED = "review_done"
NS_REPORTED = "reported"
NS_DELETED = "deleted"
AUDIT_LOG = "audit"  # what people with a role did: host actions, approvals, term changes
# What anyone may cause: reports and filter hits. A log of its own, so a flood of them (guest
# tokens are free) can never push moderation actions out of the audit log.
FLAGS_LOG = "flags"
GLOBAL = ""

MAX_TIMEOUT = 14 * 86400.0
MAX_SLOW_MODE = 3600.0
MAX_REASON = 500
# Per scope (a room, or the global list): terms, and the UTF-8 bytes of their patterns. A
# matcher compiles about 100 us and keeps about 2.5 KB per term; the caps bound both.
MAX_TERMS = 500
MAX_TERM_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: the user id and name from their token, whether the token is a guest
    token (``role_hint`` "guest") or a member token ("member"), and whether it makes them a
    server admin (``admin``: a signed claim, checked on every node at every use; nothing
    about it is stored)."""

    user_id: str
    name: str
    role_hint: str = "member"
    admin: bool = False
    address: str = ""  # the client address, when known: a join from a banned one is refused


@dataclass(frozen=True, slots=True)
class Decision:
    """A gate's answer. ``action`` is "allow", "reject" or "hold".

    ``text`` is what to publish (masked if needed); on "reject" ``code``/``message`` say why
    and ``retry_after`` (seconds) says when to try again where that applies; on "hold"
    ``hold_id`` names the review-queue item.
    """

    action: str
    text: str = ""
    code: str | None = None
    message: str | None = None
    retry_after: float | None = None
    hold_id: str | None = None

    @classmethod
    def reject(cls, code: str, message: str, retry_after: float | None = None, text: str = "") -> "Decision":
        return cls("reject", text, code, message, retry_after)


@dataclass(frozen=True, slots=True)
class AdmissionReads:
    """The room state that decides a join (``reads``, ``(namespace, key)`` pairs read in one
    round trip), and the outcome when the reads at the indices ``decisive`` are all absent:
    the join allowed with the role ``guess``. A caller may act on the guess before it has the
    values (record the member) as long as it checks the guess held."""

    reads: list[tuple[str, str]]
    decisive: tuple[int, ...]
    guess: str


class ModerationError(Exception):
    """An action refused: ``code`` is "forbidden", "not_found", "invalid" or "rate_limited"."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _author_id(event: Event | None) -> str | None:
    if not event:
        return None
    author = event.get("author")
    if isinstance(author, dict) and author.get("id") is not None:
        return str(author["id"])
    if event.get("user_id") is not None:
        return str(event["user_id"])
    return None


def _author_name(event: Event | None) -> str | None:
    author = (event or {}).get("author")
    return author.get("name") if isinstance(author, dict) else None


def _reason(params: dict[str, Any]) -> str:
    reason = params.get("reason") or ""
    if not isinstance(reason, str):
        raise ModerationError("invalid", "reason must be a string")
    return reason[:MAX_REASON]


MAX_TARGET_NAME = 64


def _target_name(params: dict[str, Any]) -> dict[str, str]:
    """``{"name": ...}`` when the host's client said whom it meant (a display name, for the ban
    and timeout lists and the audit log; never trusted for anything else), else ``{}``."""
    name = params.get("name")
    if isinstance(name, str) and name.strip():
        return {"name": name.strip()[:MAX_TARGET_NAME]}
    if name and not isinstance(name, str):
        raise ModerationError("invalid", "name must be a string")
    return {}


def _user_param(params: dict[str, Any]) -> str:
    user_id = params.get("user_id")
    if not isinstance(user_id, str) or not user_id:
        raise ModerationError("invalid", "user_id is required")
    return user_id


def _number(params: dict[str, Any], key: str, lo: float, hi: float) -> float:
    v = params.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise ModerationError("invalid", f"{key} must be a number in [{lo:g}, {hi:g}]")
    return float(v)
