"""The gate keeps one actor per token's user: a later token for the same id is what it says."""

from __future__ import annotations

import pytest

from chatserver.auth import User
from chatserver.errors import ChatError
from chatserver.moderation_gate import ModerationGate
from moderation.model import NS_SETTINGS
from rooms.memory import MemoryEngine


async def test_a_plain_token_after_an_admin_token_sends_as_a_plain_user():
    engine = MemoryEngine()
    gate = ModerationGate(engine, node_id="n")
    await engine.state.set("hall", NS_SETTINGS, "room", {"locked": True})
    admin = User("u-ada", "Ada", "en", "member", admin=True)
    plain = User("u-ada", "Ada", "en", "member")
    assert (await gate.check_send("hall", admin, "hi", conn_id="c1")).action == "allow"
    with pytest.raises(ChatError) as refused:
        await gate.check_send("hall", plain, "hi", conn_id="c2")
    assert refused.value.code == "room_locked"
    assert (await gate.check_send("hall", admin, "again", conn_id="c1")).action == "allow"
