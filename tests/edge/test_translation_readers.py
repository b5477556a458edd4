"""Every reader gets translations: late joiners, history pages, recovery, set_lang readers,
the traditional script; and a terminal answer (no_translation, translation_unavailable with
retryable) wherever no translation will come. In-process, over the memory engine."""

from __future__ import annotations

import asyncio

import pytest

from tests.edge.conftest import FakeTranslator
from tests.harness import until
from translator.types import Translation


class GatedTranslator(FakeTranslator):
    """A fake that takes the server's ``priority`` and can be held (``gate``) or hang."""

    def __init__(self) -> None:
        super().__init__()
        self.priorities: list[str] = []
        self.gate: asyncio.Event | None = None
        self.hang = False

    async def translate(self, text: str, source: str, target: str, *, priority: str = "live") -> Translation:
        self.priorities.append(priority)
        if self.hang:
            await asyncio.sleep(3600)
        if self.gate is not None:
            await self.gate.wait()
        return await super().translate(text, source, target)


@pytest.fixture
async def gated(make_node):
    node = await make_node(translator=GatedTranslator())
    node.bridge.chat.translations.deadline = 0.2  # fill-ins of young messages wait 0.4 s
    return node


async def fill_ins_done(node, timeout=3.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while node.bridge.chat._filling:
        assert loop.time() < deadline, "fill-ins still running"
        await asyncio.sleep(0.01)


def translations(events, lang=None):
    return [e for e in events if e["type"] == "translation" and (lang is None or e["lang"] == lang)]


async def test_a_late_joiner_finds_translations_made_while_nobody_read_its_language(node):
    ann = await node.joined("Ann", "lobby", "en")
    ack = await ann.request({"type": "send", "room": "lobby", "text": "hello"}, "ack")
    await ann.settle()
    assert node.translator.calls == [("hello", "en", "zh")]  # made at publish, nobody reading zh
    assert not ann.frames_of("translation")  # an English reader never gets the zh one
    li = await node.connect("Li", "zh")
    joined = await li.request({"type": "join", "room": "lobby"}, "joined")
    [tr] = translations(joined["history"])
    assert (tr["message_id"], tr["lang"], tr["text"]) == (ack["id"], "zh", "[zh] hello")


async def test_history_pages_carry_the_readers_translations_only(node):
    ann = await node.joined("Ann", "lobby", "en")
    li = await node.joined("Li", "lobby", "zh")
    await li.request({"type": "send", "room": "lobby", "text": "你好"}, "ack")
    await ann.expect("translation")
    for i in range(3):
        await ann.request({"type": "send", "room": "lobby", "text": f"hello {i}"}, "ack")
        await li.expect("translation")
    page = await li.request({"type": "history", "room": "lobby", "limit": 4}, "history")
    # Four events counted as the reader sees them: its translations, not the English ones.
    assert [(e["type"], e.get("lang")) for e in page["events"]] == [
        ("message", "en"), ("translation", "zh"), ("message", "en"), ("translation", "zh")]
    assert page["has_more"] is True
    english = await ann.request({"type": "history", "room": "lobby"}, "history")
    assert [e["text"] for e in translations(english["events"])] == ["[en] 你好"]


async def test_a_page_ending_at_a_message_carries_its_translation_stored_after_the_page(node):
    ann = await node.joined("Ann", "lobby", "en")
    li = await node.joined("Li", "lobby", "zh")
    for i in range(2):
        await ann.request({"type": "send", "room": "lobby", "text": f"hello {i}"}, "ack")
        await li.expect("translation")
    # Offsets: 1 message, 2 its translation, 3 message, 4 translation. A page before 4 ends at 3.
    page = await li.request({"type": "history", "room": "lobby", "before": 4, "limit": 3}, "history")
    assert [(e["type"], e["offset"]) for e in page["events"]] == [
        ("message", 1), ("translation", 2), ("message", 3), ("translation", 4)]


async def test_a_recovering_reader_gets_the_translations_it_missed(node):
    ann = await node.joined("Ann", "lobby", "en")
    li = await node.connect("Li", "zh")
    first = await li.request({"type": "join", "room": "lobby"}, "joined")
    await li.request({"type": "leave", "room": "lobby"}, "left")
    ack = await ann.request({"type": "send", "room": "lobby", "text": "still there?"}, "ack")
    await ann.settle()
    back = await li.request({"type": "join", "room": "lobby", "since": first["offset"],
                             "epoch": first["epoch"]}, "joined")
    assert back["recovered"] is True
    assert [(e["type"], e.get("message_id", e.get("id"))) for e in back["history"]] == [
        ("message", ack["id"]), ("translation", ack["id"])]


async def test_a_set_lang_reader_gets_translations_live_and_in_history(node):
    ann = await node.joined("Ann", "lobby", "en")
    await ann.request({"type": "send", "room": "lobby", "text": "before"}, "ack")
    bob = await node.connect("Bob", "en")  # an English token that chooses to read Chinese
    await bob.request({"type": "set_lang", "lang": "zh"}, "lang")
    joined = await bob.request({"type": "join", "room": "lobby"}, "joined")
    assert [e["text"] for e in translations(joined["history"])] == ["[zh] before"]
    await ann.request({"type": "send", "room": "lobby", "text": "after"}, "ack")
    live = await bob.expect("translation")
    assert (live["lang"], live["text"]) == ("zh", "[zh] after")


async def test_a_traditional_reader_joining_late_gets_traditional_characters(make_node):
    class Chinese(FakeTranslator):
        async def translate(self, text, source, target, *, priority="live"):
            return Translation("谢谢", True) if target == "zh" else await super().translate(text, source, target)

    node = await make_node(translator=Chinese())
    ann = await node.joined("Ann", "lobby", "en")
    await ann.request({"type": "send", "room": "lobby", "text": "thank you"}, "ack")
    await ann.settle()
    mei = await node.connect("Mei", "zh")
    await mei.request({"type": "set_lang", "lang": "zh", "script": "hant"}, "lang")
    joined = await mei.request({"type": "join", "room": "lobby"}, "joined")
    [tr] = translations(joined["history"])
    assert (tr["text"], tr["script"]) == ("謝謝", "hant")


@pytest.mark.parametrize("text, reason", [("bonjour mes amis, ça va très bien", "other_language"),
                                          ("😂😂 https://example.com 123", "nothing_to_translate")])
async def test_a_message_that_will_never_be_translated_says_so(node, text, reason):
    ann = await node.joined("Ann", "lobby", "en")
    li = await node.joined("Li", "lobby", "zh")
    await ann.request({"type": "send", "room": "lobby", "text": text}, "ack")
    message = await li.expect("message")
    assert message["no_translation"] == reason
    await li.settle()
    assert node.translator.calls == [] and not li.frames_of("translation_unavailable")
    joined = await (await node.connect("Lu", "zh")).request({"type": "join", "room": "lobby"}, "joined")
    assert joined["history"][0]["no_translation"] == reason


async def test_translatable_messages_carry_no_no_translation_field(node):
    ann = await node.joined("Ann", "lobby", "en")
    await ann.request({"type": "send", "room": "lobby", "text": "ok 123"}, "ack")
    message = await ann.expect("message")
    assert "no_translation" not in message


async def test_readers_present_go_first_and_absent_languages_are_background_work(gated):
    ann = await gated.joined("Ann", "lobby", "en")
    await ann.request({"type": "send", "room": "lobby", "text": "nobody reads zh"}, "ack")
    await ann.settle()
    await gated.joined("Li", "lobby", "zh")
    gated.bridge.chat.translations._reader_langs.clear()  # cached for 2 s; do not wait for it
    await ann.request({"type": "send", "room": "lobby", "text": "Li reads zh"}, "ack")
    await ann.settle()
    assert gated.translator.priorities == ["background", "live"]


async def test_a_failed_translation_is_made_on_first_need_and_reaches_the_late_reader(gated):
    gated.translator.fail.add("zh")
    ann = await gated.joined("Ann", "lobby", "en")
    ack = await ann.request({"type": "send", "room": "lobby", "text": "hello"}, "ack")
    await ann.settle()
    gated.translator.fail.clear()  # the outage is over; nothing was stored for zh
    li = await gated.connect("Li", "zh")
    joined = await li.request({"type": "join", "room": "lobby"}, "joined")
    assert translations(joined["history"]) == []
    tr = await li.expect("translation")  # made now, published like any translation
    assert (tr["message_id"], tr["text"]) == (ack["id"], "[zh] hello")
    page = await li.request({"type": "history", "room": "lobby"}, "history")
    assert len(translations(page["events"])) == 1


async def test_what_cannot_be_made_on_first_need_is_told_to_that_reader_with_retryable(gated):
    gated.translator.fail.add("zh")
    ann = await gated.joined("Ann", "lobby", "en")
    ack = await ann.request({"type": "send", "room": "lobby", "text": "hello"}, "ack")
    await ann.expect("translation_unavailable", message_id=ack["id"])  # the publish-time attempt
    li = await gated.connect("Li", "zh")
    await li.request({"type": "join", "room": "lobby"}, "joined")
    unavailable = await li.expect("translation_unavailable")  # the attempt made for Li
    assert unavailable["message_id"] == ack["id"] and unavailable["retryable"] is True
    assert "fake outage" in unavailable["reason"]
    await ann.settle()
    assert not ann.frames_of("translation_unavailable")  # said to the reader who asked, not the room


async def test_readers_asking_at_once_share_one_attempt_and_one_translation_is_stored(gated):
    gated.translator.fail.add("zh")
    ann = await gated.joined("Ann", "lobby", "en")
    await ann.request({"type": "send", "room": "lobby", "text": "hello"}, "ack")
    await ann.settle()
    gated.translator.fail.clear()
    gated.translator.calls.clear()
    readers = [await gated.joined(f"Li{i}", "lobby", "zh") for i in range(3)]
    for reader in readers:
        await reader.expect("translation")
    assert gated.translator.calls == [("hello", "en", "zh")]
    page = await readers[0].request({"type": "history", "room": "lobby"}, "history")
    assert len(translations(page["events"])) == 1


async def test_a_young_message_is_left_to_its_publish_time_translation(gated):
    gated.translator.gate = asyncio.Event()  # the publish-time translation is under way
    ann = await gated.joined("Ann", "lobby", "en")
    await ann.request({"type": "send", "room": "lobby", "text": "hello"}, "ack")
    await ann.settle()
    li = await gated.joined("Li", "lobby", "zh")
    gated.translator.gate.set()
    tr = await li.expect("translation")
    await fill_ins_done(gated)  # the fill-in waited, found the translation and added none
    await li.settle()
    assert tr["text"] == "[zh] hello" and len(gated.translator.calls) == 1
    assert not li.frames_of("translation")


async def test_a_translation_past_its_deadline_turns_into_translation_unavailable(gated):
    gated.translator.hang = True
    ann = await gated.joined("Ann", "lobby", "en")
    li = await gated.joined("Li", "lobby", "zh")
    await ann.request({"type": "send", "room": "lobby", "text": "hello"}, "ack")
    unavailable = await li.expect("translation_unavailable")
    assert "deadline" in unavailable["reason"] and unavailable["retryable"] is True


async def test_a_translation_withheld_by_moderation_is_said_to_be_unavailable(make_node):
    class Rude(FakeTranslator):
        async def translate(self, text, source, target, *, priority="live"):
            return Translation("你是傻逼", True)

    node = await make_node(translator=Rude())
    admin = await node.joined("Admin", "stage", "en", admin=True)
    li = await node.joined("Li", "stage", "zh")
    await admin.request({"type": "moderate", "room": "stage", "action": "add_term",
                         "params": {"term": "傻逼", "action": "block"}}, "moderated")
    await admin.request({"type": "send", "room": "stage", "text": "you are great"}, "ack")
    unavailable = await li.expect("translation_unavailable")
    assert unavailable["reason"].startswith("translation withheld") and "retryable" not in unavailable


# What hosts see quotes messages with their translations -------------------------------------


async def zh_host(node, room):
    """A room owned by a Chinese reader, who is in it."""
    li = node.user("Li", "zh")
    await node.bridge.chat.create_room(room, title=None, owner=li)
    host = await node.connect(user=li)
    await host.request({"type": "join", "room": room}, "joined")
    return host


async def test_a_host_reviewing_a_held_message_gets_its_translation(node):
    li = await zh_host(node, "stage")
    await li.request({"type": "moderate", "room": "stage", "action": "add_term",
                      "params": {"term": "spoiler", "action": "hold"}}, "moderated")
    ann = await node.joined("Ann", "stage", "en")
    ack = await ann.request({"type": "send", "room": "stage", "text": "a spoiler here"}, "ack")
    assert ack["status"] == "held"
    added = await li.expect("review", action="added")
    assert "translations" not in added["item"]  # the original is not held back for it
    updated = await li.expect("review", action="updated")
    assert updated["item"]["id"] == ack["hold_id"]
    assert updated["item"]["translations"] == {"zh": "[zh] a spoiler here"}
    [item] = await node.bridge.chat.review_queue("stage", li.user)  # what GET .../review returns
    assert item["translations"] == {"zh": "[zh] a spoiler here"}
    assert not ann.frames_of("translation")  # nothing of a held message is published
    await node.bridge.chat.decide("stage", li.user, ack["hold_id"], "reject")
    [entry] = [e for e in await node.bridge.chat.audit_log("stage", li.user, 10) if e["action"] == "reject"]
    assert entry["details"]["translations"] == {"zh": "[zh] a spoiler here"}


async def test_a_held_message_resolved_before_its_translation_stays_resolved(make_node):
    node = await make_node(translator=GatedTranslator())
    node.translator.gate = asyncio.Event()
    li = await zh_host(node, "stage")
    await li.request({"type": "moderate", "room": "stage", "action": "add_term",
                      "params": {"term": "spoiler", "action": "hold"}}, "moderated")
    ann = await node.joined("Ann", "stage", "en")
    ack = await ann.request({"type": "send", "room": "stage", "text": "a spoiler here"}, "ack")
    await node.bridge.chat.decide("stage", li.user, ack["hold_id"], "reject")
    node.translator.gate.set()
    await li.expect("review", action="resolved")
    await until(lambda: not node.bridge.chat._tasks, timeout=2, what="the held translation task ended")
    assert await node.bridge.chat.review_queue("stage", li.user) == []
    assert [f["action"] for f in li.frames_of("review")] == ["added"]  # no "updated" after "resolved"


async def test_the_pin_reports_and_deletions_quote_the_messages_translations(node):
    li = await zh_host(node, "stage")
    ann = await node.joined("Ann", "stage", "en")
    ack = await ann.request({"type": "send", "room": "stage", "text": "hello"}, "ack")
    await li.expect("translation", message_id=ack["id"])
    pinned = await li.request({"type": "moderate", "room": "stage", "action": "pin",
                               "params": {"offset": ack["offset"]}}, "moderated")
    assert pinned["result"]["pin"]["translations"] == {"zh": "[zh] hello"}
    event = await ann.expect("pinned")
    assert event["pin"]["translations"] == {"zh": "[zh] hello"}
    late = await node.connect("Bo", "zh")
    joined = await late.request({"type": "join", "room": "stage"}, "joined")
    assert joined["settings"]["pinned"]["translations"] == {"zh": "[zh] hello"}

    bob = await node.joined("Bob", "stage", "en")
    await bob.request({"type": "report", "room": "stage", "offset": ack["offset"], "reason": "rude"}, "reported")
    report = await li.expect("review", action="added", where=lambda f: f["item"]["kind"] == "report")
    assert report["item"]["translations"] == {"zh": "[zh] hello"}

    await li.request({"type": "moderate", "room": "stage", "action": "delete",
                      "params": {"offset": ack["offset"]}}, "moderated")
    [entry] = [e for e in await node.bridge.chat.audit_log("stage", li.user, 10) if e["action"] == "delete"]
    assert entry["details"]["translations"] == {"zh": "[zh] hello"}


async def test_a_message_with_no_translation_is_quoted_with_none(node):
    li = await zh_host(node, "stage")
    ann = await node.joined("Ann", "stage", "en")
    ack = await ann.request({"type": "send", "room": "stage", "text": "😂😂"}, "ack")
    pinned = await li.request({"type": "moderate", "room": "stage", "action": "pin",
                               "params": {"offset": ack["offset"]}}, "moderated")
    assert pinned["result"]["pin"]["translations"] == {}


async def test_each_published_translation_is_timed_once_for_the_cluster_figures(node):
    """The admin's cluster latency counts the translations this node published (issue 16)."""
    ann = await node.joined("Ann", "lobby", "en")
    await node.joined("Li", "lobby", "zh")
    await ann.request({"type": "send", "room": "lobby", "text": "hello"}, "ack")
    stats = node.bridge.admin.stats
    await until(lambda: sum(stats.published_latency) >= 1, timeout=3, what="the translation timed")
    await ann.settle()
    assert sum(stats.published_latency) == 1
    assert sum(node.bridge.admin.stats.node_figures()["published_latency"]) == 1
