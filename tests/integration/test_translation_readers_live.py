"""Every reader gets translations, through a real server and the tiny offline MarianMT models,
on both backends: a late joiner, a history pager, a reconnecting reader, a set_lang reader and
a traditional-script reader; and a message that will never be translated says so."""

from __future__ import annotations

import asyncio
import time

import pytest

from clients.client import LiveBridgeClient
from tests.tinymodel import ensure_tiny_models


@pytest.fixture(scope="module", params=["transformers", "ctranslate2"])
def server(request, model_cache):
    from tests.harness import ServerProcess

    models = ensure_tiny_models()
    srv = ServerProcess("--translation", "inline", "--translation-backend", request.param,
                        "--model-en-zh", str(models["en-zh"]), "--model-zh-en", str(models["zh-en"]),
                        "--model-cache-dir", str(model_cache)).start(timeout=120)
    srv.backend = request.param
    yield srv
    srv.stop()


async def client(server, name, lang):
    c = LiveBridgeClient(server.url, name=name, lang=lang)
    await c.connect()
    return c


async def stored_translation(server, room, message_id, lang, timeout=30.0):
    """Wait (polling the room's history over HTTP) until the message's translation is stored."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, page = server.get(f"/api/rooms/{room}/messages?limit=100")
        for e in page.get("events", []):
            if e["type"] == "translation" and e["message_id"] == message_id and e["lang"] == lang:
                return e
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {lang} translation of {message_id} stored in {room}")


def translations(events):
    return [(e["message_id"], e["lang"], e["text"]) for e in events if e["type"] == "translation"]


async def test_a_late_joiner_a_pager_and_a_reconnecting_reader_get_translations(server):
    room = f"late-{server.port}"
    ann = await client(server, "Ann", "en")
    try:
        assert ann.welcome["translation"]["backend"] == server.backend  # the one that runs
        await ann.join(room)  # nobody reads Chinese yet
        ack = await ann.send(room, "hello")
        await stored_translation(server, room, ack["id"], "zh")
        li = await client(server, "Li", "zh")
        try:
            joined = await li.join(room)
            assert translations(joined["history"]) == [(ack["id"], "zh", "你好")]
            page = await li.history(room)
            assert translations(page["events"]) == [(ack["id"], "zh", "你好")]
            await li.leave(room)
            ack2 = await ann.send(room, "thank you")
            await stored_translation(server, room, ack2["id"], "zh")
            back = await li.join(room, since=joined["offset"], epoch=joined["epoch"])
            assert back["recovered"] is True
            assert translations(back["history"]) == [(ack2["id"], "zh", "谢谢")]
        finally:
            await li.close()
        # English readers never get the Chinese translations, live or in history.
        english = await ann.history(room)
        assert translations(english["events"]) == []
    finally:
        await ann.close()


async def test_a_set_lang_reader_and_a_traditional_reader_get_translations(server):
    room = f"langs-{server.port}"
    ann = await client(server, "Ann", "en")
    bob = await client(server, "Bob", "en")  # an English token reading Chinese
    mei = await client(server, "Mei", "zh")
    try:
        await bob.set_lang("zh")
        await mei.set_lang("zh", script="hant")
        await ann.join(room)
        ack = await ann.send(room, "thank you")
        await stored_translation(server, room, ack["id"], "zh")
        joined = await mei.join(room)  # late, traditional
        [tr] = [e for e in joined["history"] if e["type"] == "translation"]
        assert (tr["text"], tr["script"]) == ("謝謝", "hant")
        await bob.join(room)
        ack2 = await ann.send(room, "good morning")
        live = await bob.wait_for(lambda e: e["type"] == "translation" and e["message_id"] == ack2["id"], timeout=30)
        assert (live["lang"], live["text"]) == ("zh", "早上好")
    finally:
        for c in (ann, bob, mei):
            await c.close()


async def test_a_message_that_will_never_be_translated_says_so(server):
    room = f"never-{server.port}"
    ann, li = await client(server, "Ann", "en"), await client(server, "Li", "zh")
    try:
        await ann.join(room)
        await li.join(room)
        await ann.send(room, "🎉🎉 https://example.com")
        got = await li.wait_for(lambda e: e["type"] == "message", timeout=10)
        assert got["no_translation"] == "nothing_to_translate"
    finally:
        await ann.close()
        await li.close()


async def test_a_chinese_host_reviewing_a_held_english_message_gets_its_translation(server):
    room = f"held-{server.port}"
    host_token = server.token("Li", "zh")
    status, _ = server.post("/api/rooms", {"name": room}, token=host_token)
    assert status == 201
    li = LiveBridgeClient(server.url, name="Li", lang="zh", token=host_token)
    await li.connect()
    ann = await client(server, "Ann", "en")
    try:
        assert (await li.join(room))["role"] == "owner"
        await li.moderate(room, "add_term", term="hello", action="hold")
        await ann.join(room)
        ack = await ann.send(room, "hello")
        assert ack["status"] == "held"
        updated = await li.wait_for(lambda e: e["type"] == "review" and e["action"] == "updated", timeout=30)
        assert updated["item"]["id"] == ack["hold_id"]
        assert updated["item"]["translations"] == {"zh": "你好"}
        status, queue = server.get(f"/api/rooms/{room}/review", token=host_token)
        assert status == 200 and [i["translations"] for i in queue["items"]] == [{"zh": "你好"}]
    finally:
        await ann.close()
        await li.close()
