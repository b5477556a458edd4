"""Translation in live rooms, through a real server running the tiny offline MarianMT model."""

import asyncio

import pytest

from clients.client import LiveBridgeClient
from tests.harness import drain
from tests.tinymodel import ensure_tiny_models


@pytest.fixture(scope="module")
def translating_server():
    from tests.harness import ServerProcess

    models = ensure_tiny_models()
    server = ServerProcess("--translation", "inline", "--model-en-zh", str(models["en-zh"]),
                           "--model-zh-en", str(models["zh-en"])).start(timeout=120)
    yield server
    server.stop()


async def client(server, name, lang):
    c = LiveBridgeClient(server.url, name=name, lang=lang)
    await c.connect()
    return c


async def test_each_reader_gets_the_original_first_then_its_translation(translating_server):
    server = translating_server
    ann, li, ben = await client(server, "Ann", "en"), await client(server, "Li", "zh"), await client(server, "Ben", "en")
    try:
        assert ann.welcome["translation"]["enabled"] is True
        # No --translation-backend: "auto", which is CTranslate2 here, and welcome says so.
        assert ann.welcome["translation"]["backend"] == "ctranslate2"
        for c in (ann, li, ben):
            await c.join("bridge")
        ack = await ann.send("bridge", "hello")
        first = await li.wait_for(lambda e: e["type"] in ("message", "translation"))
        assert first["type"] == "message" and first["text"] == "hello" and first["lang"] == "en"
        translated = await li.wait_for(lambda e: e["type"] == "translation", timeout=30)
        assert (translated["message_id"], translated["lang"], translated["text"]) == (ack["id"], "zh", "你好")
        assert translated["message_offset"] == ack["offset"] and translated["source_lang"] == "en"

        await li.send("bridge", "明天见")
        back = await ben.wait_for(lambda e: e["type"] == "translation", timeout=30)
        assert (back["lang"], back["text"]) == ("en", "see you tomorrow")
        # English readers never receive the zh translation of an English message.
        assert all(e.get("lang") != "zh" for e in await drain(ben) if e["type"] == "translation")
    finally:
        for c in (ann, li, ben):
            await c.close()


async def test_translation_is_made_once_and_kept_in_history_for_late_joiners(translating_server):
    server = translating_server
    ann, li, li2 = await client(server, "Ann", "en"), await client(server, "Li", "zh"), await client(server, "Lu", "zh")
    try:
        for c in (ann, li, li2):
            await c.join("history-tr")
        ack = await ann.send("history-tr", "thank you")
        await li.wait_for(lambda e: e["type"] == "translation", timeout=30)
        await asyncio.sleep(0.3)
        late = await client(server, "Mei", "zh")
        joined = await late.join("history-tr")
        translations = [e for e in joined["history"] if e["type"] == "translation"]
        assert len(translations) == 1  # one per target language, not one per zh reader
        assert translations[0]["message_id"] == ack["id"] and translations[0]["text"] == "谢谢"
        await late.close()
        _, body = server.get("/metrics")
        assert "livebridge_translation_batch_size_count" in body
    finally:
        for c in (ann, li, li2):
            await c.close()


async def test_readers_of_one_language_get_no_translations(translating_server):
    # The Chinese translation is made (for later readers) but never sent to English readers.
    server = translating_server
    ann, ben = await client(server, "Ann", "en"), await client(server, "Ben", "en")
    try:
        await ann.join("english-only")
        await ben.join("english-only")
        await ann.send("english-only", "hello")
        await asyncio.sleep(1.0)
        history = await ben.history("english-only")
        assert [e["type"] for e in history["events"]] == ["message"]
    finally:
        await ann.close()
        await ben.close()


async def test_without_models_chat_works_untranslated_and_says_why(start_server):
    server = start_server("--translation", "inline", "--model-en-zh", "/nonexistent/en-zh",
                          "--model-zh-en", "/nonexistent/zh-en")
    status, health = server.get("/healthz")
    assert status == 200 and health["translation"]["enabled"] is False
    assert "does not exist" in health["translation"]["reason"]
    ann, li = await client(server, "Ann", "en"), await client(server, "Li", "zh")
    try:
        assert ann.welcome["translation"]["enabled"] is False
        assert ann.welcome["translation"]["message"].startswith("translation off")
        await ann.join("plain")
        await li.join("plain")
        await ann.send("plain", "hello")
        got = await li.wait_for(lambda e: e["type"] == "message")
        assert got["text"] == "hello"
        assert not [e for e in await drain(li) if e["type"].startswith("translation")]
    finally:
        await ann.close()
        await li.close()



async def test_translations_are_moderated_against_the_target_language(translating_server):
    server = translating_server
    token = server.token("Host")
    assert server.post("/api/rooms", {"name": "tr-moderated"}, token=token)[0] == 201
    host = LiveBridgeClient(server.url, token=token)
    await host.connect()
    li = await client(server, "Li", "zh")
    try:
        await host.join("tr-moderated")
        await li.join("tr-moderated")
        await host.moderate("tr-moderated", "add_term", term="谢谢", action="mask")
        await host.send("tr-moderated", "thank you")
        translated = await li.wait_for(lambda e: e["type"] == "translation", timeout=30)
        assert translated["text"] == "**"
    finally:
        await host.close()
        await li.close()


async def test_readers_may_choose_traditional_characters(translating_server):
    server = translating_server
    ann, mei, li = await client(server, "Ann", "en"), await client(server, "Mei", "zh"), await client(server, "Li", "zh")
    try:
        reply = await mei.set_lang("zh", script="hant")
        assert (reply["lang"], reply["script"]) == ("zh", "hant")
        for c in (ann, mei, li):
            await c.join("scripts")
        await ann.send("scripts", "thank you")
        traditional = await mei.wait_for(lambda e: e["type"] == "translation", timeout=30)
        simplified = await li.wait_for(lambda e: e["type"] == "translation", timeout=30)
        assert (traditional["text"], traditional["script"]) == ("謝謝", "hant")
        assert simplified["text"] == "谢谢" and "script" not in simplified
        history = await mei.history("scripts")
        assert [e["text"] for e in history["events"] if e["type"] == "translation"] == ["謝謝"]
    finally:
        for c in (ann, mei, li):
            await c.close()
