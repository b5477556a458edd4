"""The typed frames are a checked contract: each TypedDict against docs/protocol.md's "Server
frames" table, and moderation's room events against docs/moderation.md's examples."""

from __future__ import annotations

import re

import pytest

from clients.livebridge_client import types
from tests.edge.test_frames_contract import DOC, documented_frames

MODERATION_DOC = DOC.parent / "moderation.md"


def keys(cls: type) -> tuple[set[str], set[str]]:
    """(required fields, optional fields) of a frame TypedDict, without ``type`` and the fields
    this client adds itself."""
    required = set(cls.__required_keys__) - {"type"}
    optional = set(cls.__optional_keys__) - types.CLIENT_FIELDS
    return required, optional


def test_every_documented_server_frame_has_a_type():
    assert set(types.SERVER_FRAMES) == set(documented_frames())


@pytest.mark.parametrize("kind", sorted(documented_frames()))
def test_typed_frame_matches_the_protocol_table(kind):
    fields, optional = documented_frames()[kind]
    assert keys(types.SERVER_FRAMES[kind]) == (fields, optional)


def documented_events() -> dict[str, set[str]]:
    """type -> top-level keys of each JSON example of a room event in docs/moderation.md."""
    text = MODERATION_DOC.read_text(encoding="utf-8").split("## Events emitted", 1)[1]
    found: dict[str, set[str]] = {}
    for line in re.findall(r'^\{"type": "(?:deleted|cleared|pinned|unpinned|room_settings)".*$', text, re.M):
        body = line.strip()[1:-1]
        while re.search(r"\{[^{}]*\}", body):  # drop nested objects: top-level keys only
            body = re.sub(r"\{[^{}]*\}", "0", body)
        kind = re.match(r'"type": "(\w+)"', body).group(1)
        found[kind] = set(re.findall(r'"(\w+)":', body)) - {"type"}
    return found


def test_moderation_events_match_docs_moderation():
    documented = documented_events()
    assert set(documented) == set(types.MODERATION_EVENTS) - {"review"}
    for kind, fields in documented.items():
        required, optional = keys(types.MODERATION_EVENTS[kind])
        assert required | optional == fields, kind


def test_every_type_is_exported_and_the_package_is_typed():
    from pathlib import Path

    for cls in [*types.SERVER_FRAMES.values(), *types.MODERATION_EVENTS.values(), *types.CLIENT_EVENTS.values()]:
        assert cls.__name__ in types.__all__
    assert (Path(types.__file__).parent / "py.typed").exists()
