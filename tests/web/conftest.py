"""Browser tests of the web client (clients/web): Debian's Chromium driven by Playwright.

Each test starts its own real `livebridge serve` process (tests/harness.py) and opens pages
in separate browser contexts, so every user has their own sessionStorage and token.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.harness import ROOT

CHROMIUM = os.environ.get("LIVEBRIDGE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = ROOT / "artifacts"
# Server tokens must survive a restart in the resume test, and guests stay allowed.
SECRET_ARGS = ("--secret", "web-tests-secret-0123456789abcdef", "--allow-guests")


# Package scope, not session: Playwright's sync API keeps an event loop running in this thread
# while it is open, so any asyncio test collected after tests/web would fail to start its own.
@pytest.fixture(scope="package")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make system-deps` (installs Debian's chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Pages:
    """Opens pages in fresh contexts and records console errors and CSP violations."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.contexts: list[BrowserContext] = []
        self.errors: list[str] = []

    def new(self, width: int = 1280, height: int = 800, *, touch: bool = False) -> Page:
        ctx = self.browser.new_context(viewport={"width": width, "height": height}, locale="en-US",
                                       has_touch=touch, is_mobile=touch)
        ctx.set_default_timeout(10_000)
        self.contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("console", lambda msg: self.errors.append(f"console: {msg.text}")
                if msg.type == "error" and "Content Security Policy" in msg.text else None)
        return page

    def close(self) -> None:
        for ctx in self.contexts:
            ctx.close()


@pytest.fixture
def pages(browser):
    p = Pages(browser)
    yield p
    p.close()
    assert not p.errors, "page errors or CSP violations:\n" + "\n".join(p.errors)


def join_room(page: Page, base: str, room: str, name: str, lang: str) -> None:
    """Open /r/{room}, pick a name and a language, and wait until the room is live."""
    page.goto(f"{base}/r/{room}")
    page.fill("input[name=name]", name)
    if not page.locator(f"input[name=lang][value={lang}]").is_checked():
        # Picking a language re-renders the form in that language (the name is kept).
        page.click(f"input[name=lang][value={lang}] + label")
        expect(page.locator(f"input[name=lang][value={lang}]")).to_be_checked()
    page.click("form.identity-form button[type=submit]")
    expect(page.locator(".conn")).to_have_attribute("data-state", "live")


def send(page: Page, text: str) -> None:
    page.fill("textarea.composer-input", text)
    page.press("textarea.composer-input", "Enter")


def message(page: Page, text: str):
    """The delivered (not pending) message whose original text is exactly `text`."""
    return page.locator("li.msg:not(.pending)").filter(
        has=page.locator(".msg-text", has_text=re.compile("^" + re.escape(text) + "$")))


def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
