"""Translations in the page (issue 12), in Debian's Chromium: the per-message "original"
toggle, and the pin bar showing the reader's language beside the pinned original. A real
server with the tiny offline MarianMT models."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.harness import ServerProcess
from tests.web.conftest import join_room, message, send, shot

TRANSLATED = 30_000  # ms: the first translation may wait for the models to load


@pytest.fixture(scope="module")
def server():
    from tests.tinymodel import ensure_tiny_models

    models = ensure_tiny_models()
    srv = ServerProcess("--translation", "inline", "--model-en-zh", str(models["en-zh"]),
                        "--model-zh-en", str(models["zh-en"])).start()
    yield srv
    srv.stop()


def create_room(page: Page, base: str, name: str, room: str) -> None:
    """``name`` (English) creates ``room`` from the home page and is in it as its host."""
    page.goto(base + "/")
    page.fill(".profile-card input[name=name]", name)
    page.click(".profile-card form button[type=submit]")
    expect(page.locator(".profile-card .author")).to_have_text(name)
    page.fill(".create-form input[name=room]", room)
    page.click(".create-form button[type=submit]")
    page.wait_for_url(f"**/r/{room}")
    expect(page.locator(".conn")).to_have_attribute("data-state", "live")


def test_the_original_toggle_shows_and_hides_one_messages_original(server, pages):
    ann, ming = pages.new(), pages.new()
    join_room(ann, server.url, "toggle", "Ann", "en")
    join_room(ming, server.url, "toggle", "小明", "zh")
    send(ming, "早上好")
    send(ming, "明天见")
    first, second = message(ann, "早上好"), message(ann, "明天见")
    for line in (first, second):
        expect(line.locator(".msg-tr")).to_have_attribute("data-state", "done", timeout=TRANSLATED)
    expect(first.locator(".tr-text")).to_have_text("good morning")

    # "both" shows original and translation: no toggle needed.
    expect(first.locator(".tr-toggle")).to_be_hidden()
    ann.select_option(".mode-switch select", "translation")
    toggle = first.locator(".tr-toggle")
    expect(first.locator(".msg-text")).to_be_hidden()
    expect(toggle).to_be_visible()
    expect(toggle).to_have_text("original")
    expect(toggle).to_have_attribute("aria-pressed", "false")

    toggle.click()
    expect(first.locator(".msg-text")).to_be_visible()
    expect(first.locator(".msg-text")).to_have_text("早上好")
    expect(toggle).to_have_text("hide original")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(second.locator(".msg-text")).to_be_hidden()  # per message: the other stays translated
    shot(ann, "original-toggle-on")

    toggle.click()
    expect(first.locator(".msg-text")).to_be_hidden()
    expect(toggle).to_have_text("original")
    expect(toggle).to_have_attribute("aria-pressed", "false")


def test_the_pin_bar_shows_the_readers_language_beside_the_original(server, pages):
    host, ming = pages.new(), pages.new()
    create_room(host, server.url, "Hana", "pinroom")
    join_room(ming, server.url, "pinroom", "小明", "zh")

    send(ming, "早上好")
    line = message(host, "早上好")
    expect(line.locator(".msg-tr")).to_have_attribute("data-state", "done", timeout=TRANSLATED)
    line.locator("button[aria-label=Pin]").click()
    # The English host reads the pinned Chinese line in English beside the original ...
    expect(host.locator(".pinbar .pin-text")).to_have_text("早上好")
    expect(host.locator(".pinbar .pin-tr")).to_have_text("good morning")
    # ... and its Chinese author sees the original alone.
    expect(ming.locator(".pinbar .pin-text")).to_have_text("早上好")
    expect(ming.locator(".pinbar .pin-tr")).to_have_count(0)
    shot(host, "pinbar-translated")

    # A joiner gets the pin, with its translation, in `joined`.
    late = pages.new()
    join_room(late, server.url, "pinroom", "Leo", "en")
    expect(late.locator(".pinbar .pin-tr")).to_have_text("good morning")

    # Pinning an English line: the Chinese reader gets it in Chinese.
    send(host, "hello")
    expect(message(ming, "hello").locator(".msg-tr")).to_have_attribute("data-state", "done", timeout=TRANSLATED)
    message(host, "hello").locator("button[aria-label=Pin]").click()
    expect(ming.locator(".pinbar .pin-text")).to_have_text("hello")
    expect(ming.locator(".pinbar .pin-tr")).to_have_text(re.compile("你好"))
    expect(host.locator(".pinbar .pin-tr")).to_have_count(0)


def test_the_review_queue_and_audit_log_show_the_hosts_language(server, pages):
    host, ming = pages.new(), pages.new()
    create_room(host, server.url, "Hana", "reviewroom")
    join_room(ming, server.url, "reviewroom", "小明", "zh")
    host.click("#tab-host")
    host.fill(".term-form input", "早上好")
    host.select_option(".term-form select", "hold")
    host.click(".term-form button[type=submit]")
    expect(host.locator(".term-list .term-text")).to_have_text(["早上好"])

    send(ming, "早上好")
    item = host.locator(".review-item")
    expect(item.locator(".review-text")).to_have_text("早上好")
    # Translated when held, so the English host can read it before deciding.
    expect(item.locator(".review-tr")).to_have_text("good morning", timeout=TRANSLATED)
    shot(host, "review-translated")
    item.locator("button.btn-danger").click()  # reject
    expect(host.locator(".review-item")).to_have_count(0)
    entry = host.locator(".audit-entry[data-action=reject]")
    expect(entry.locator(".audit-details")).to_have_text("“早上好”")
    expect(entry.locator(".audit-tr")).to_have_text("good morning")
