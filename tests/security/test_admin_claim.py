"""Finding 4 of issue 14: the admin flag of a token does not stick.

Before the fix, the first use of a token with ``admin: true`` stored the user id as admin
for good; from then on a plain token for the same id was admin too. Now admin is carried by
the request's own token (or ``--admin-ids``) and nothing is stored.
"""

from __future__ import annotations

from tests.security.conftest import ask


async def test_a_plain_token_after_an_admin_token_is_not_admin(node):
    bridge = node.bridge
    admin_token, _, _ = bridge.tokens.issue(name="Ada", lang="en", user_id="u-ada", kind="member", admin=True)
    plain_token, _, _ = bridge.tokens.issue(name="Ada", lang="en", user_id="u-ada", kind="member")
    as_admin, as_plain = bridge.tokens.verify(admin_token), bridge.tokens.verify(plain_token)
    assert as_admin.admin and not as_plain.admin

    admin = await node.connect(user=as_admin)
    assert (await ask(admin, {"type": "join", "room": "hall"}, "joined"))["role"] == "admin"
    await ask(admin, {"type": "moderate", "room": "hall", "action": "add_term",
                      "params": {"term": "spoiler", "scope": "global"}}, "moderated")
    await admin.close()

    plain = await node.connect(user=as_plain)
    assert (await ask(plain, {"type": "join", "room": "hall"}, "joined"))["role"] == "member"
    refused = await ask(plain, {"type": "moderate", "room": "hall", "action": "add_term",
                                "params": {"term": "leak", "scope": "global"}}, "error")
    assert refused["code"] == "forbidden"
    assert await bridge.moderation.role_of("hall", as_plain) == "member"
    assert await bridge.engine.state.items("", "admins") == {}


async def test_admin_ids_still_make_admins_without_a_claim(make_node):
    node = await make_node(admin_ids="u-root")
    user = node.user("Root")
    root = await node.connect(user=type(user)(id="u-root", name="Root", lang="en", kind="member"))
    assert (await ask(root, {"type": "join", "room": "hall"}, "joined"))["role"] == "admin"
