"""The browser client against a real server: chat across languages, moderation, resume, safety.

Scenarios of issue 6. Screenshots go to artifacts/ (gitignored).
"""

from __future__ import annotations

import re
import urllib.request

import pytest

from playwright.sync_api import Page, expect

from tests.harness import ROOT, ServerProcess
from tests.web.conftest import SECRET_ARGS, join_room, message, send, shot

WEB = ROOT / "clients" / "web"
XSS = "<img src=x onerror=window.__xss=1>"
XSS_NAME = "<img src=x onerror=__xss=1>"  # display names are at most 32 characters


def create_room_from_home(page: Page, base: str, name: str, lang: str, room: str, title: str) -> None:
    page.goto(base + "/")
    page.fill(".profile-card input[name=name]", name)
    if lang != "en":
        page.click(f".profile-card input[name=lang][value={lang}] + label")
        page.fill(".profile-card input[name=name]", name)
    page.click(".profile-card form button[type=submit]")
    expect(page.locator(".profile-card .author")).to_have_text(name)
    page.fill(".create-form input[name=room]", room)
    page.fill(".create-form input[name=title]", title)
    page.click(".create-form button[type=submit]")
    page.wait_for_url(f"**/r/{room}")
    expect(page.locator(".conn")).to_have_attribute("data-state", "live")


def members(page: Page):
    return page.locator(".member-list .member")


# ---------------------------------------------------------------------------------------------


def test_csp_header_and_no_inline_code(start_server):
    srv = start_server()
    for path in ("/", "/r/lobby", "/static/js/app.js", "/static/app.css"):
        with urllib.request.urlopen(srv.url + path, timeout=5) as response:
            csp = response.headers.get("Content-Security-Policy", "")
            body = response.read().decode()
        assert "script-src 'self'" in csp and "style-src 'self'" in csp, (path, csp)
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, (path, csp)
        if path in ("/", "/r/lobby"):
            scripts = re.findall(r"<script\b[^>]*>", body)
            assert scripts and all("src=" in tag for tag in scripts), scripts
            assert not re.search(r"<script\b[^>]*>\s*[^<\s]", body), "inline script in index.html"
            assert not re.search(r"\sstyle\s*=", body) and "<style" not in body
            assert not re.search(r"\son[a-z]+\s*=", body), "inline event handler"
    # No HTML sinks anywhere in the client: user data can only ever become text.
    for js in (WEB / "js").glob("*.js"):
        source = js.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                     "new Function", "setAttribute(\"style\""):
            assert sink not in source, f"{js.name} uses {sink}"


def test_english_and_chinese_users_exchange_messages(start_server, pages):
    srv = start_server()
    ann = pages.new()
    create_room_from_home(ann, srv.url, "Ann", "en", "bridge", "Bridge Café")
    ming = pages.new()
    join_room(ming, srv.url, "bridge", "小明", "zh")

    # Interface strings follow each user's language.
    expect(ann.locator(".conn")).to_have_text("Live")
    expect(ming.locator(".conn")).to_have_text("在线")
    expect(ming.locator("button.send-btn")).to_have_text("发送")
    expect(ann.locator(".room-h1")).to_have_text("Bridge Café")

    # Members with their language and role; the creator is the host.
    expect(members(ann)).to_have_count(2)
    expect(members(ann).filter(has_text="小明").locator(".lang-chip")).to_have_text("中文")
    expect(members(ming).filter(has_text="Ann").locator(".lang-chip")).to_have_text("EN")
    expect(members(ming).filter(has_text="Ann").locator(".badge")).to_have_text("房主")

    send(ann, "hello everyone")
    expect(message(ming, "hello everyone")).to_have_count(1)
    expect(message(ming, "hello everyone").locator(".author")).to_have_text("Ann")
    expect(message(ming, "hello everyone").locator(".badge")).to_have_text("房主")

    # Typing indicator, then the message.
    ming.fill("textarea.composer-input", "大家")
    expect(ann.locator(".typing")).to_have_text("小明 is typing…")
    send(ming, "大家好")
    expect(message(ann, "大家好")).to_have_count(1)
    expect(message(ann, "大家好").locator(".msg-time")).to_have_text(re.compile(r"^\d\d:\d\d$"))

    # Shift+Enter adds a line, Enter sends.
    box = ann.locator("textarea.composer-input")
    box.fill("line one")
    box.press("Shift+Enter")
    box.type("line two")
    expect(box).to_have_value("line one\nline two")
    box.press("Enter")
    expect(box).to_have_value("")
    expect(message(ming, "line one\nline two")).to_have_count(1)

    # This server runs without translation: a banner says so, and no "translating…" marker waits.
    # Its reason comes as a code each page localises, with the server's English for unknown codes.
    expect(ann.locator(".banners .banner-info")).to_have_text("Translation is off: it is turned off on this server")
    expect(ming.locator(".banners .banner-info")).to_have_text("翻译已关闭：本服务器未开启翻译")
    assert ming.evaluate("""() => import('/static/js/i18n.js').then(m => [
        m.translationReason({code: 'no_worker', reason: 'no translation worker alive'}),
        m.translationReason({code: 'from_a_newer_server', reason: 'English detail'}),
        m.translationReason({reason: 'no code at all'})])""") == [
        "没有正在运行的翻译工作进程", "English detail", "no code at all"]
    expect(ming.locator(".tr-pending")).to_have_count(0)

    # Every control has an accessible name; there is a live region for new messages.
    unlabelled = ann.evaluate("""() => [...document.querySelectorAll('input, select, textarea, button')]
        .filter(el => !el.closest('[hidden]'))
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                       && !(el.textContent || '').trim())
        .map(el => el.outerHTML.slice(0, 80))""")
    assert unlabelled == []
    assert ann.locator("[aria-live=polite]#announcer").count() == 1
    expect(ann.locator("#announcer")).to_have_text("小明: 大家好")

    # Keyboard: Tab reaches the composer and the focus is visible.
    ann.locator("textarea.composer-input").focus()
    assert ann.evaluate("document.activeElement.matches('textarea.composer-input')")
    outline = ann.evaluate("getComputedStyle(document.querySelector('.composer-box')).outlineStyle")
    assert outline == "solid"

    shot(ann, "room-en")
    shot(ming, "room-zh")


@pytest.fixture(scope="module")
def translating_server():
    """One server with the tiny offline MarianMT models, shared by the translation tests."""
    from tests.tinymodel import ensure_tiny_models

    models = ensure_tiny_models()
    srv = ServerProcess("--translation", "inline", "--model-en-zh", str(models["en-zh"]),
                        "--model-zh-en", str(models["zh-en"])).start()
    yield srv
    srv.stop()


def test_translation_line_under_each_message(translating_server, pages):
    srv = translating_server
    ann = pages.new()
    join_room(ann, srv.url, "translate", "Ann", "en")
    ming = pages.new()
    join_room(ming, srv.url, "translate", "小明", "zh")
    expect(ann.locator(".banners .banner-info")).to_be_hidden()

    send(ann, "hello")
    seen = message(ming, "hello")
    expect(seen).to_have_count(1)
    # A quiet marker until the translation event arrives, then the translation under it.
    expect(seen.locator(".msg-tr")).to_have_attribute("data-state", "done", timeout=30_000)
    expect(seen.locator(".tr-text")).to_have_text(re.compile(r"\S"))
    # Ann's own English message needs no translation for Ann.
    expect(message(ann, "hello").locator(".msg-tr")).to_have_count(0)

    send(ming, "谢谢")
    thanks = message(ann, "谢谢")
    expect(thanks.locator(".msg-tr")).to_have_attribute("data-state", "done", timeout=30_000)
    expect(thanks.locator(".tr-text")).to_have_text(re.compile(r"\S"))

    # Per-user display choice: translation only, original only, both.
    ann.select_option(".mode-switch select", "translation")
    expect(thanks.locator(".msg-text")).to_be_hidden()
    expect(thanks.locator(".tr-text")).to_be_visible()
    ann.select_option(".mode-switch select", "original")
    expect(thanks.locator(".msg-tr")).to_be_hidden()
    expect(thanks.locator(".msg-text")).to_be_visible()
    ann.select_option(".mode-switch select", "both")
    expect(thanks.locator(".msg-tr")).to_be_visible()
    shot(ann, "room-translated-en")
    shot(ming, "room-translated-zh")


def test_chinese_reader_picks_traditional_characters(translating_server, pages):
    srv = translating_server
    ann = pages.new()
    join_room(ann, srv.url, "script", "Ann", "en")
    # Only Chinese readers get the choice.
    expect(ann.locator(".script-switch")).to_have_count(0)
    mei = pages.new()
    join_room(mei, srv.url, "script", "美", "zh")
    switch = mei.get_by_label("字形")
    expect(switch).to_have_value("hans")
    expect(switch.locator("option")).to_have_text(["简体", "繁體"])
    # Keyboard: focus the select and pick the second option with the arrow key.
    switch.focus()
    switch.press("ArrowDown")
    expect(switch).to_have_value("hant")

    send(ann, "thank you")
    thanks = message(mei, "thank you")
    expect(thanks.locator(".msg-tr")).to_have_attribute("data-state", "done", timeout=30_000)
    expect(thanks.locator(".tr-text")).to_have_text("謝謝")
    expect(thanks.locator(".msg-tr")).to_have_attribute("lang", "zh-Hant")  # a Chinese voice for traditional text
    shot(mei, "room-traditional-zh")

    # Kept across a reload; set_lang goes out before the join, so history is traditional too.
    mei.reload()
    expect(mei.locator(".conn")).to_have_attribute("data-state", "live")
    expect(mei.get_by_label("字形")).to_have_value("hant")
    expect(message(mei, "thank you").locator(".tr-text")).to_have_text("謝謝")

    # Back to simplified: new translations follow, nothing else is re-requested.
    mei.get_by_label("字形").select_option("hans")
    send(ann, "thanks")
    again = message(mei, "thanks")
    expect(again.locator(".msg-tr")).to_have_attribute("data-state", "done", timeout=30_000)
    expect(again.locator(".tr-text")).to_have_text("谢谢")
    expect(message(mei, "thank you").locator(".tr-text")).to_have_text("謝謝")


def test_host_moderates_and_bans_a_user(start_server, pages):
    srv = start_server()
    host = pages.new()
    create_room_from_home(host, srv.url, "Hana", "en", "stage", "Main stage")
    ming = pages.new()
    join_room(ming, srv.url, "stage", "小明", "zh")
    expect(host.locator("#tab-host")).to_be_visible()
    expect(ming.locator("#tab-host")).to_be_hidden()  # members get no host panel

    send(ming, "第一条消息")
    send(ming, "请置顶这条")
    msg = message(host, "第一条消息")
    expect(msg).to_have_count(1)

    # Pin and delete from the message's toolbar (keyboard reachable: focus shows it).
    message(host, "请置顶这条").locator("button[aria-label=Pin]").click()
    expect(ming.locator(".pinbar .pin-text")).to_have_text("请置顶这条")
    msg.locator("button[aria-label=Delete]").click()
    expect(message(ming, "第一条消息")).to_have_count(0)
    expect(ming.locator(".note-deleted")).to_have_count(1)

    # Host panel: lock the room, then slow mode; the member's page follows.
    host.click("#tab-host")
    host.check(".host-panel input[type=checkbox]")
    expect(ming.locator(".banners .banner-warn")).to_contain_text("房间已锁定")
    expect(ming.locator("textarea.composer-input")).to_have_attribute("placeholder", "房间已锁定")
    host.uncheck(".host-panel input[type=checkbox]")
    expect(ming.locator(".banners .banner-warn")).to_be_hidden()

    # Blocked terms editor: add a term; a message with it is refused with a short notice.
    host.fill(".term-form input", "badword")
    host.click(".term-form button[type=submit]")
    expect(host.locator(".term-list .term-text")).to_have_text(["badword"])
    send(ming, "this is a badword")
    expect(ming.locator(".notices-alert .notice")).to_contain_text("屏蔽词")
    expect(message(host, "this is a badword")).to_have_count(0)

    # Hold term -> review queue -> approve publishes it.
    host.fill(".term-form input", "maybe")
    host.select_option(".term-form select", "hold")
    host.click(".term-form button[type=submit]")
    expect(host.locator(".term-list .term-text")).to_have_count(2)
    send(ming, "maybe later")
    held = ming.locator("li.msg.held")
    expect(held.locator(".msg-status")).to_have_text("等待审核")
    item = host.locator(".review-list .review-item")
    expect(item).to_have_count(1)
    expect(item.locator(".review-text")).to_have_text("maybe later")
    shot(host, "host-panel")
    shot(ming, "held-for-review-zh")
    item.locator("button.btn-ok").click()
    # Approved: the real message (a normal `message` event) takes the marker's place.
    expect(message(ming, "maybe later")).to_have_count(1)
    expect(ming.locator("li.msg", has_text="maybe later")).to_have_count(1)
    expect(held).to_have_count(0)
    expect(message(ming, "maybe later").locator(".msg-status")).to_have_count(0)
    expect(host.locator(".review-list .review-item")).to_have_count(0)

    # Rejected: "rejected by a moderator" on it for a moment, then it goes (checked below).
    send(ming, "maybe not")
    expect(held).to_have_count(1)
    host.locator(".review-item", has_text="maybe not").locator("button.btn-danger").click()
    rejected = ming.locator("li.msg.rejected")
    expect(rejected.locator(".msg-status")).to_have_text("已被管理员拒绝")
    expect(rejected.locator(".msg-text")).to_have_text("maybe not")
    shot(ming, "held-rejected-zh")

    # Ban from the member list.
    host.click("#tab-members")
    row = members(host).filter(has_text="小明")
    row.locator("summary").click()
    row.locator("button.menu-item.danger").click()
    # A ban is confirmed first, with an optional reason; the menu has closed.
    dialog = host.locator("dialog.host-dialog")
    expect(dialog).to_contain_text("小明")
    expect(row.locator("details.member-menu")).not_to_have_attribute("open", "")
    dialog.locator("textarea").fill("spam")
    dialog.locator("button[type=submit]").click()
    expect(ming.locator(".ended")).to_have_attribute("data-kind", "banned")
    expect(ming.locator(".ended-detail")).to_have_text("原因：spam")
    expect(ming.locator(".ended-text")).to_have_text("你已被本房间封禁。")
    expect(ming.locator("textarea.composer-input")).to_be_disabled()
    expect(members(host).filter(has_text="小明")).to_have_count(0)
    host.click("#tab-host")
    expect(host.locator(".audit-list")).to_contain_text("ban")

    expect(ming.locator("li.msg", has_text="maybe not")).to_have_count(0, timeout=8000)
    expect(message(host, "maybe not")).to_have_count(0)

    # A banned user who reloads is still refused, and told so.
    ming.reload()
    expect(ming.locator(".ended")).to_have_attribute("data-kind", "banned")
    shot(ming, "banned-zh")
    shot(host, "host-panel-after-ban")


@pytest.mark.parametrize("engine", ["memory", "redis"])
def test_server_restart_resumes_without_gap_or_duplicate(engine, start_server, pages, request):
    extra = ("--redis-url", request.getfixturevalue("fresh_redis").url) if engine == "redis" else ()
    srv = start_server(*SECRET_ARGS, *extra)
    ann = pages.new()
    join_room(ann, srv.url, "resume", "Ann", "en")
    ming = pages.new()
    join_room(ming, srv.url, "resume", "小明", "zh")
    send(ann, "before-1")
    send(ming, "before-2")
    for page in (ann, ming):
        expect(message(page, "before-2")).to_have_count(1)
        expect(message(page, "before-1")).to_have_count(1)

    srv.stop()
    for page in (ann, ming):
        expect(page.locator(".conn")).to_have_attribute("data-state", "reconnecting")
    send(ann, "during-1")  # kept and retried with the same client_msg_id
    expect(ann.locator("li.msg.pending")).to_have_count(1)

    srv.start()
    for page in (ann, ming):
        expect(page.locator(".conn")).to_have_attribute("data-state", "live", timeout=20_000)
    expect(message(ming, "during-1")).to_have_count(1)
    send(ming, "after-1")
    expected = ["before-1", "before-2", "during-1", "after-1"]
    for page in (ann, ming):
        expect(message(page, "after-1")).to_have_count(1)
        expect(page.locator("li.msg .msg-text")).to_have_text(expected)
        expect(page.locator("li.msg.pending")).to_have_count(0)
        # The history and its epoch survive (Redis, or the memory engine over the node's
        # durable store): a true resume from the last offset, no "history was reset" divider.
        expect(page.locator("li.divider")).to_have_count(0)
    shot(ann, f"resumed-{engine}")


def test_a_page_across_a_default_mode_restart_keeps_its_session_and_host_tools(start_server, pages):
    """`livebridge serve` with no flags (the token secret and the SQLite store in its data
    directory), restarted under open pages: no "session expired", the composer stays, the
    host keeps host tools (also after a reload), and the room's history is all there."""
    srv = start_server()
    host = pages.new()
    create_room_from_home(host, srv.url, "Hana", "en", "kept", "Kept stage")
    ming = pages.new()
    join_room(ming, srv.url, "kept", "小明", "zh")
    expect(host.locator("#tab-host")).to_be_visible()
    send(ming, "before the restart")
    expect(message(host, "before the restart")).to_have_count(1)

    srv.stop()
    for page in (host, ming):
        expect(page.locator(".conn")).to_have_attribute("data-state", "reconnecting")
    srv.start()
    for page in (host, ming):
        expect(page.locator(".conn")).to_have_attribute("data-state", "live", timeout=20_000)
    send(host, "after the restart")
    expected = ["before the restart", "after the restart"]
    for page in (host, ming):
        expect(page.locator("li.msg .msg-text")).to_have_text(expected)
        expect(page.locator("li.divider")).to_have_count(0)
        expect(page.get_by_text("Your session has expired")).to_have_count(0)
        expect(page.get_by_text("会话已过期")).to_have_count(0)
        expect(page.locator("textarea.composer-input")).to_be_enabled()
    expect(host.locator("#tab-host")).to_be_visible()
    host.reload()
    expect(host.locator(".conn")).to_have_attribute("data-state", "live")
    expect(host.locator("#tab-host")).to_be_visible()
    expect(host.locator("li.msg .msg-text")).to_have_text(expected)
    expect(ming.locator("#tab-host")).to_be_hidden()
    shot(host, "default-mode-restart")


def test_xss_payloads_are_shown_as_text(start_server, pages):
    srv = start_server()
    evil = pages.new()
    create_room_from_home(evil, srv.url, XSS_NAME, "en", "xss", XSS)
    ming = pages.new()
    join_room(ming, srv.url, "xss", "小明", "zh")
    send(evil, XSS)
    for page in (evil, ming):
        shown = message(page, XSS)
        expect(shown).to_have_count(1)
        expect(shown.locator(".author")).to_have_text(XSS_NAME)
        expect(page.locator(".room-h1")).to_have_text(XSS)
        expect(members(page).filter(has_text=XSS_NAME)).to_have_count(1)
        assert page.locator("#main img").count() == 0
    ming.goto(srv.url + "/")
    expect(ming.locator(".room-list .room-title")).to_have_text([XSS])
    assert ming.locator(".room-list img").count() == 0
    ming.wait_for_timeout(300)  # give a broken image's onerror every chance to run
    for page in (evil, ming):
        assert page.evaluate("typeof window.__xss") == "undefined"


def test_composer_limit_scroll_marker_and_rate_limit_notice(start_server, pages):
    # One message per 5 s past a burst of 6: the refusal's countdown lasts long enough to be seen.
    srv = start_server("--max-text-chars", "40", "--rate-user", "0.2", "--rate-user-burst", "6")
    ann = pages.new()
    join_room(ann, srv.url, "scroll", "Ann", "en")
    bob = pages.new(height=480)
    join_room(bob, srv.url, "scroll", "Bob", "en")

    # Character counter at the server's limit; over it, nothing is sent.
    box = ann.locator("textarea.composer-input")
    expect(ann.locator(".counter")).to_have_text("0 / 40")
    box.fill("x" * 41)
    expect(ann.locator(".counter")).to_have_text("41 / 40")
    expect(ann.locator(".counter")).to_have_class(re.compile(r"\bover\b"))
    expect(ann.locator("button.send-btn")).to_be_disabled()
    box.press("Enter")
    expect(ann.locator("li.msg")).to_have_count(0)

    # Fill Bob's small window, scroll up: new messages do not move him, a marker appears.
    for i in range(4):
        send(ann, "\n".join(f"{i}.{j}" for j in range(8)))
    expect(bob.locator("li.msg")).to_have_count(4)
    bob.locator(".messages").evaluate("el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
    ann.wait_for_timeout(1100)
    send(ann, "newest")
    expect(message(bob, "newest")).to_have_count(1)
    marker = bob.locator("button.new-messages")
    expect(marker).to_have_text("1 new message ↓")
    assert bob.locator(".messages").evaluate("el => el.scrollTop") == 0
    marker.click()
    expect(marker).to_be_hidden()
    assert bob.locator(".messages").evaluate("el => el.scrollHeight - el.scrollTop - el.clientHeight") < 48

    # Rate limited: a short notice with a countdown from retry_after, the text is kept.
    for i in range(10):
        send(bob, f"quick {i}")
    notice = bob.locator(".notice[data-key=cooldown]")
    expect(notice).to_contain_text(re.compile(r"again in \d+s"))
    expect(bob.locator("button.send-btn")).to_be_disabled()
    expect(bob.locator("textarea.composer-input")).not_to_have_value("")
    shot(bob, "rate-limited")


def test_roles_reports_and_people_count(start_server, pages):
    srv = start_server()
    host = pages.new()
    create_room_from_home(host, srv.url, "Hana", "en", "townhall", "Town hall")
    ming = pages.new()
    join_room(ming, srv.url, "townhall", "小明", "zh")
    bob = pages.new()
    join_room(bob, srv.url, "townhall", "Bob", "en")
    for page in (host, bob):
        expect(page.locator(".people-count")).to_have_text("3 people here")
    expect(ming.locator(".people-count")).to_have_text("3 人在线")

    # 1. The owner appoints 小明: everyone's member list shows the badge (presence `role`),
    # and 小明 gets the host panel at once, without rejoining (her own `role` frame).
    row = members(host).filter(has_text="小明")
    row.locator("summary").click()
    row.get_by_role("button", name="Make moderator").click()
    expect(members(bob).filter(has_text="小明").locator(".badge")).to_have_text("Mod")
    expect(members(ming).filter(has_text="小明").locator(".badge")).to_have_text("管理员")
    expect(ming.locator("#tab-host")).to_be_visible()
    ming.click("#tab-host")
    expect(ming.locator(".host-team .host-member")).to_have_count(2)
    expect(ming.locator(".host-team .host-member").filter(has_text="小明").locator(".badge")).to_have_text("管理员")
    host.click("#tab-host")
    expect(host.locator(".host-team .host-member").filter(has_text="小明").locator(".badge")).to_have_text("Mod")
    shot(ming, "role-appointed-zh")
    # ... and removed again: the badge and the panel go away.
    host.click("#tab-members")
    row.locator("summary").click()
    row.get_by_role("button", name="Remove moderator").click()
    expect(members(bob).filter(has_text="小明").locator(".badge")).to_have_count(0)
    expect(ming.locator("#tab-host")).to_be_hidden()
    expect(ming.locator("#members-panel")).to_be_visible()
    expect(host.locator(".host-team .host-member")).to_have_count(1)

    # 4. Guests report: a Report action on others' messages (not on one's own), a reason,
    # a confirmation from the `reported` reply, and the report in the host's queue.
    send(ming, "buy cheap watches")
    target = message(bob, "buy cheap watches")
    expect(target).to_have_count(1)
    send(bob, "my own words")
    expect(message(bob, "my own words").locator("button.report-btn")).to_have_count(0)
    target.hover()
    target.locator("button.report-btn").click()
    dialog = bob.locator("dialog.report-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".report-quoted")).to_have_text("buy cheap watches")
    dialog.get_by_label("Reason (optional)").fill("spam")
    shot(bob, "report-dialog")
    dialog.locator("button[type=submit]").click()
    expect(dialog).to_have_count(0)
    expect(bob.locator(".notice[data-code=reported]")).to_have_text(re.compile("^Reported, thank you."))
    host.click("#tab-host")
    report = host.locator(".review-item[data-kind=report]")
    expect(report).to_have_count(1)
    expect(report.locator(".review-text")).to_have_text("buy cheap watches")
    expect(report).to_contain_text("spam")
    shot(host, "report-in-queue")
    # Reporting it again is recognised; cancelling sends nothing.
    target.hover()
    target.locator("button.report-btn").click()
    bob.locator("dialog.report-dialog button[type=submit]").click()
    expect(bob.locator(".notice[data-code=reported]")).to_have_text(re.compile("^You already reported"))
    target.locator("button.report-btn").click()
    bob.locator("dialog.report-dialog").get_by_role("button", name="Cancel").click()
    expect(bob.locator("dialog.report-dialog")).to_have_count(0)
    expect(report).to_have_count(1)

    # 5. The count follows presence: Bob leaves.
    bob.close()
    expect(host.locator(".people-count")).to_have_text("2 people here")
    expect(members(host)).to_have_count(2)


def test_load_older_messages_keeps_the_scroll_position(start_server, pages):
    import asyncio
    import threading

    from clients.client import LiveBridgeClient

    srv = start_server()

    async def seed() -> None:
        async with LiveBridgeClient(srv.url, name="Archivist", lang="en") as client:
            await client.join("archive")
            for i in range(1, 121):
                await client.send("archive", f"old {i}")

    # Playwright's sync API owns this thread's event loop: seed from another thread.
    seeder = threading.Thread(target=lambda: asyncio.run(seed()))
    seeder.start()
    seeder.join(30)
    assert not seeder.is_alive()
    ann = pages.new(height=600)
    join_room(ann, srv.url, "archive", "Ann", "en")
    texts = ann.locator("li.msg .msg-text")
    expect(texts).to_have_count(50)  # joined.history: the 50 most recent
    expect(texts.first).to_have_text("old 71")
    older = ann.locator(".older button")
    expect(older).to_be_visible()

    # Scroll to the top: the older page loads by itself, and "old 71" stays exactly where it was.
    scroller = ann.locator(".messages")
    y_before = scroller.evaluate("""el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll'));
        return [...el.querySelectorAll('li.msg')].find((li) => li.textContent.includes('old 71')).getBoundingClientRect().y; }""")
    anchor = message(ann, "old 71")
    expect(texts).to_have_count(100)
    expect(texts.first).to_have_text("old 21")
    assert abs(anchor.bounding_box()["y"] - y_before) < 2
    assert scroller.evaluate("el => el.scrollTop") > 0
    shot(ann, "older-loaded")

    # The button does the same for keyboards: the last page; has_more is false, the control
    # goes away; every message once, in order.
    older.click()
    expect(texts).to_have_count(120)
    expect(ann.locator(".older")).to_be_hidden()
    expect(texts).to_have_text([f"old {i}" for i in range(1, 121)])
    # New messages still go to the bottom.
    send(ann, "fresh")
    expect(texts.last).to_have_text("fresh")


def test_the_room_list_pages_with_a_more_button(start_server, pages):
    srv = start_server()
    token = srv.token("Pia")
    for i in range(120):
        status, body = srv.post("/api/rooms", {"name": f"page-{i:03d}"}, token=token)
        assert status == 201, body
    page = pages.new()
    page.goto(srv.url + "/")
    items, more = page.locator(".room-list .room-item"), page.locator(".rooms-more")
    expect(items).to_have_count(50)
    expect(items.first).to_have_attribute("data-room", "page-000")
    more.click()
    expect(items).to_have_count(100)
    more.click()
    expect(items).to_have_count(120)
    expect(items.last).to_have_attribute("data-room", "page-119")
    expect(more).to_be_hidden()
