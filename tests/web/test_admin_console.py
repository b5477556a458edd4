"""The admin console at /admin in Chromium (issue 16): two nodes on Redis, a member on node B,
the console on node A. It refuses a non-admin token, then shows both nodes, the member's room
and the charts, finds the member on node B and disconnects them there.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import expect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from chatserver.auth import TokenIssuer
from tests.harness import ServerProcess
from tests.web.conftest import shot

SECRET = "admin-console-secret-0123456789abcdef"
ISSUER = TokenIssuer(SECRET, ttl=3600)
ENV = {"LIVEBRIDGE_REDIS_HEARTBEAT": "0.3", "LIVEBRIDGE_REDIS_NODE_TTL": "1.0"}


@pytest.fixture
def nodes(redis_server):
    servers = [ServerProcess("--redis-url", redis_server.url, "--node-id", name, "--secret", SECRET,
                             "--allow-guests", env=ENV) for name in ("console-a", "console-b")]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda s: s.start(), servers))
    yield servers
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda s: s.stop(), servers))


def test_console_refuses_a_guest_then_shows_and_steers_the_cluster(nodes, pages):
    with contextlib.ExitStack() as stack:
        _console(nodes, pages, stack)


def _console(nodes, pages, stack):
    a, b = nodes
    room = f"console-{uuid.uuid4().hex[:6]}"
    member_token, member, _ = ISSUER.issue(name="Visitor <b>&amp;", lang="en", kind="member")
    ws = stack.enter_context(connect(f"{b.ws_url}?token={member_token}", subprotocols=["livebridge.v1.json"]))
    assert json.loads(ws.recv(timeout=5))["type"] == "welcome"
    ws.send(json.dumps({"type": "join", "room": room, "ref": "j"}))
    while json.loads(ws.recv(timeout=5))["type"] != "joined":
        pass
    admin_token, _, _ = ISSUER.issue(name="Operator", lang="en", kind="member", admin=True)

    page = pages.new()
    response = page.goto(f"{a.url}/admin")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.fill("input[name=token]", a.token("Guest"))
    page.click("form.token-form button[type=submit]")
    expect(page.locator(".token-form .error")).to_contain_text("admin only")

    page.fill("input[name=token]", admin_token)
    page.click("form.token-form button[type=submit]")
    nodes_table = page.locator(".nodes-table")
    expect(nodes_table).to_contain_text("console-a")
    expect(nodes_table).to_contain_text("console-b")
    rooms_table = page.locator(".rooms-table")
    expect(rooms_table.locator("a", has_text=room)).to_have_attribute("href", f"/r/{room}")

    page.fill("input[name=user-search]", "Visitor")
    page.press("input[name=user-search]", "Enter")
    row = page.locator(".users-table tbody tr", has_text=member.id)
    expect(row).to_contain_text("console-b")
    expect(row).to_contain_text("Visitor <b>&amp;")  # shown as text, never parsed
    assert page.locator(".users-table b").count() == 0
    expect(page.locator("canvas[data-chart=connections]")).to_have_attribute("data-points", re.compile(r"[1-9]"))
    shot(page, "admin-console")

    row.get_by_role("button", name="Disconnect").click()
    expect(page.locator(".notice")).to_contain_text(f"{member.id}: 1 connection(s) closed")
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=5)
    assert closed.value.rcvd.code == 4403
    expect(page.locator(".audit-table")).to_contain_text("admin_disconnect")

    page.select_option("select", "zh")
    expect(page.locator("h1")).to_have_text("LiveBridge 管理台")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    # The console's strings run on the room page's shared core (js/i18n-core.js): placeholders
    # filled, English for a key the table lacks in 中文, the key itself when nobody has it.
    assert page.evaluate("""() => import('/static/js/admin-i18n.js').then(m => [
        m.lang(), m.t('banned', {user: 'u1', n: 2}), m.t('no_such_key')])""") == [
        "zh", "u1 已封禁；已关闭 2 个连接", "no_such_key"]
    expect(page.locator(".nodes-table")).to_contain_text("console-b")
