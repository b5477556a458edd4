"""Unit tests of moderation.roles, and the permission table in docs/moderation.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from moderation.roles import PERMISSIONS, ROLES, can, can_target

DOC = Path(__file__).resolve().parents[2] / "docs" / "moderation.md"


def test_rank_order_and_table():
    assert ROLES == ("guest", "member", "moderator", "owner", "admin")
    assert can("guest", "send") and can("guest", "report") and not can("guest", "delete")
    assert can("member", "report") and not can("member", "ban")
    assert can("moderator", "ban") and not can("moderator", "add_moderator")
    assert can("owner", "add_moderator") and not can("owner", "global_terms")
    assert can("admin", "global_terms")
    assert not can("admin", "no_such_action")
    assert not can("nonsense-role", "send_locked")


@pytest.mark.parametrize("actor,action,target,same,ok", [
    ("moderator", "ban", "member", False, True),
    ("moderator", "ban", "moderator", False, False),
    ("moderator", "ban", "owner", False, False),
    ("moderator", "timeout", "admin", False, False),
    ("owner", "ban", "moderator", False, True),
    ("owner", "ban", "owner", True, False),
    ("moderator", "delete", "moderator", True, True),
    ("moderator", "delete", "owner", False, False),
    ("member", "delete", "member", True, False),
    ("admin", "kick", "owner", False, True),
    ("owner", "remove_moderator", "moderator", False, True),
    ("moderator", "remove_moderator", "moderator", False, False),
    ("moderator", "lock", "guest", False, True),
])
def test_can_target(actor, action, target, same, ok):
    assert can_target(actor, action, target, same_user=same) is ok


def test_docs_permission_table_matches_code():
    text = DOC.read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \| (guest|member|moderator|owner|admin) \|", text, flags=re.M)
    assert dict(rows) == PERMISSIONS
