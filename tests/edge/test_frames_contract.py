"""docs/protocol.md is a checked contract: each server frame constructor's fields against the
"Server frames" table, the constructors in the table's order, and the handler table against
the client frame table."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from chatserver import frames
from chatserver import protocol as p
from chatserver.membership import traditional
from chatserver.session import HANDLERS
from rooms.engine import HistoryResult, Member, PublishResult, StreamPosition

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def documented_frames() -> dict[str, tuple[set[str], set[str]]]:
    """type -> (fields, optional fields), from the table under "## Server frames"."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Server frames", 1)[1].split("\n## ", 1)[0]
    table: dict[str, tuple[set[str], set[str]]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        names = [set(re.findall(r"`([a-z_]+)`", cell)) for cell in cells]
        (kind,) = names[0]
        table[kind] = (names[1], names[2])
    return table


def published(event: dict) -> dict:
    """A room event as the engine delivers it."""
    return {**event, "offset": 3, "epoch": "e1"}


MEMBER = Member("c1", "u1", "Ann", "en", "member", "n1")
MESSAGE = published(frames.message(room="r", author={"id": "u1", "name": "Ann", "lang": "en", "role": "member"},
                                   text="hi", lang="en"))
HISTORY = HistoryResult([], StreamPosition(3, "e1"))
RESULT = PublishResult(3, "e1", MESSAGE)

# Every way each constructor is called, in frames.py's order.
SAMPLES: list[tuple[object, list[dict]]] = [
    (frames.welcome, [frames.welcome(codec=p.JSON, user={}, conn_id="c", node="n", limits={}, translation={})]),
    (frames.joined, [frames.joined(room="r", title="t", role="member", history=HISTORY, recovered=True, events=[],
                                   members=[], member_count=0, settings={})]),
    (frames.left, [frames.left("r", "left"), frames.left("r", "kicked", "you were kicked", "calm down")]),
    (frames.message, [MESSAGE, published(frames.message(room="r", author={}, text="x", lang="en",
                                                        client_msg_id="c1", no_translation="other_language",
                                                        reply={"offset": 1, "id": "m", "author": {}, "text": "hi"},
                                                        mentions=["Ann"]))]),
    (frames.translation, [published(frames.translation(room="r", message=MESSAGE, lang="zh", source_lang="en",
                                                       text="你好")),
                          traditional(published(frames.translation(room="r", message=MESSAGE, lang="zh",
                                                                   source_lang="en", text="你好")))]),
    (frames.translation_unavailable, [frames.translation_unavailable(room="r", message=MESSAGE, lang="zh",
                                                                     reason="busy"),
                                      frames.translation_unavailable(room="r", message=MESSAGE, lang="zh",
                                                                     reason="busy", retryable=True)]),
    (frames.presence, [frames.presence("r", "typing", MEMBER)]),
    (frames.presence_diff, [frames.presence_diff("r", [MEMBER], [], 1), frames.presence_diff("r", [], [], 9000)]),
    (frames.role_changed, [frames.role_changed("r", "u1", "moderator")]),
    (frames.role, [frames.role("r", "moderator")]),
    (frames.notice, [frames.notice("r", "timed_out", "m", until=5.0), frames.notice("r", "held_approved", "m", id="h"),
                     frames.notice("r", "timeout_lifted", "m")]),
    (frames.ack_published, [frames.ack_published("r", RESULT, None), frames.ack_published("r", RESULT, "c1")]),
    (frames.ack_held, [frames.ack_held("r", "h1", "c1")]),
    (frames.history, [frames.history(room="r", events=[], offset=3, epoch="e1", has_more=False, limit=50)]),
    (frames.members, [frames.members("r", [], total=0, next=None), frames.members("r", [], total=9, next="c")]),
    (frames.error, [frames.error("bad_frame", "m"), frames.error("slow_mode", "m", ref=1, room="r", retry_after=2.0)]),
    (frames.pong, [frames.pong()]),
    (frames.lang, [frames.lang("zh", "hant")]),
    (frames.moderated, [frames.moderated("r", "kick", {})]),
    (frames.reported, [frames.reported("r", {})]),
]


@pytest.mark.parametrize("constructor,built", SAMPLES, ids=[c.__name__ for c, _ in SAMPLES])
def test_each_constructor_builds_the_documented_fields(constructor, built):
    documented = documented_frames()
    for frame in built:
        kind = frame["type"]
        assert kind in documented, f"{kind} is not in docs/protocol.md's Server frames table"
        required, optional = documented[kind]
        fields = set(frame) - {"type"}
        assert required <= fields, f"{constructor.__name__}: missing {required - fields}"
        assert fields <= required | optional, f"{constructor.__name__}: undocumented {fields - required - optional}"


def test_every_constructor_is_sampled_and_they_follow_the_documents_order():
    public = [f for name, f in inspect.getmembers(frames, inspect.isfunction)
              if f.__module__ == frames.__name__ and not name.startswith("_")
              and name not in ("now_ms", "new_message_id", "with_ref")]
    assert {f.__name__ for f in public} == {c.__name__ for c, _ in SAMPLES}
    by_line = sorted(public, key=lambda f: inspect.getsourcelines(f)[1])
    kinds = []
    for constructor in by_line:
        built = dict(SAMPLES)[constructor][0]
        if not kinds or kinds[-1] != built["type"]:
            kinds.append(built["type"])
    assert kinds == list(documented_frames()), "frames.py must build frames in docs/protocol.md's order"


def test_every_documented_client_frame_has_a_spec_and_a_handler():
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Client frames", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M)
    assert documented == list(p.CLIENT_FRAMES) == list(HANDLERS)


def _welcome_translation_doc() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text.split("- `welcome`, the first frame", 1)[1].split("\n- `joined`", 1)[0]


async def test_welcome_translation_carries_the_documented_fields_and_reason_codes():
    """welcome.translation is the translator's status: its fields and every reason ``code``
    are the ones docs/protocol.md's welcome entry lists (clients localise the codes)."""
    from translator.service import DISABLED, STATUS_CODES, TranslationService, TranslatorConfig

    doc = _welcome_translation_doc()
    listed = set(re.findall(r"`([a-z_0-9]+)`", doc.split("`translation` {", 1)[1].split("}", 1)[0]))
    service = TranslationService(TranslatorConfig(mode="off"))
    await service.start()
    status = service.status
    assert set(status) == listed, (set(status) ^ listed)
    assert status["enabled"] is False and status["code"] == DISABLED
    for code in STATUS_CODES:
        assert f"`{code}`" in doc, f"reason code {code} not documented in the welcome entry"
    await service.close()
    assert service.status["code"] == "closed"
