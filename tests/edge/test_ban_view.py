"""A node's view of the global bans (issue 16): what HTTP calls are checked against with no
round trip. The broadcast path is tested on two real nodes (tests/cluster/test_admin_cluster.py);
here, the heartbeat's re-read, for a ban this node never heard broadcast."""

from __future__ import annotations

import time

import pytest

from chatserver.admin import NS_BANS_META, NS_GLOBAL_BANS
from chatserver.errors import ChatError
from moderation.model import GLOBAL


async def test_the_heartbeat_rereads_bans_only_when_their_generation_moved(node):
    admin, state = node.bridge.admin, node.bridge.engine.state
    user = node.user("Spammer")
    await admin._refresh_bans()
    admin.check_banned(user)  # not banned

    # Written by another node whose broadcast this node missed: the moved generation is re-read.
    await state.set(GLOBAL, NS_GLOBAL_BANS, user.id, {"reason": "spam", "expires_at": None})
    await state.set(GLOBAL, NS_BANS_META, "generation", "g1")
    await admin._refresh_bans()
    with pytest.raises(ChatError) as refused:
        admin.check_banned(user)
    assert refused.value.code == "banned" and refused.value.status == 403 and "spam" in refused.value.message

    await state.delete(GLOBAL, NS_GLOBAL_BANS, user.id)
    await admin._refresh_bans()  # same generation: the view is kept, no re-read
    with pytest.raises(ChatError):
        admin.check_banned(user)
    await state.set(GLOBAL, NS_BANS_META, "generation", "g2")
    await admin._refresh_bans()
    admin.check_banned(user)

    # An expired ban no longer refuses, even before its TTL removes it; admins never are held.
    await state.set(GLOBAL, NS_GLOBAL_BANS, user.id, {"reason": "", "expires_at": time.time() - 1})
    await state.set(GLOBAL, NS_BANS_META, "generation", "g3")
    await admin._refresh_bans()
    admin.check_banned(user)
    boss = node.user("Boss", admin=True)
    await state.set(GLOBAL, NS_GLOBAL_BANS, boss.id, {"reason": "", "expires_at": None})
    await state.set(GLOBAL, NS_BANS_META, "generation", "g4")
    await admin._refresh_bans()
    admin.check_banned(boss)


async def test_connect_is_checked_from_the_view_unless_a_broadcast_may_have_been_missed(node):
    admin, state = node.bridge.admin, node.bridge.engine.state
    user = node.user("Missed")
    await admin._refresh_bans()
    assert admin._bans_current()
    await admin.check_connect(user)  # not banned

    # Another node bans the user while this node's pub/sub link is down: the broadcast is lost.
    await state.set(GLOBAL, NS_GLOBAL_BANS, user.id, {"reason": "gap", "expires_at": None})
    await state.set(GLOBAL, NS_BANS_META, "generation", "g-gap")
    node.bridge.engine.reconnects = getattr(node.bridge.engine, "reconnects", 0) + 1
    assert not admin._bans_current()
    with pytest.raises(ChatError) as refused:  # asked of the engine until the view is re-checked
        await admin.check_connect(user)
    assert refused.value.code == "banned" and "gap" in refused.value.message

    await admin._refresh_bans()  # the heartbeat: generation moved, re-read; the view is current again
    assert admin._bans_current()
    await state.delete(GLOBAL, NS_GLOBAL_BANS, user.id)  # the view alone now answers
    with pytest.raises(ChatError):
        await admin.check_connect(user)
