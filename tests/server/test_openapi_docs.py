"""/openapi.json against the server's routes, its validators and docs/protocol.md's HTTP table.

In-process and quick; tests/server/test_openapi_fuzz.py fuzzes a live node with the same
description.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings, strategies as st

from chatserver import admin_api, http_api
from chatserver.auth import clean_lang, clean_name
from chatserver.openapi import LANG_SCHEMA, NAME_SCHEMA, OPENAPI, ROOM_NAME_SCHEMA
from chatserver import protocol as p
from chatserver.errors import ChatError
from chatserver.protocol import valid_room
from tests.harness import ROOT

import jsonschema_rs  # noqa: E402  (comes with schemathesis, in the test extra)

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _spec_operations() -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in OPENAPI["paths"].items() for method in item if method in METHODS}


def _docs_operations() -> set[tuple[str, str]]:
    text = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    section = text.split("\n## HTTP API\n", 1)[1].split("\n## ", 1)[0]
    found = set()
    for line in section.splitlines():
        match = re.match(r"\| `([A-Z]+) (/[^`?]*)(?:\?[^`]*)?` \|", line)
        if match:
            found.add((match.group(1), match.group(2)))
    return found


def test_docs_table_lists_the_routes_of_openapi():
    docs, spec = _docs_operations(), _spec_operations()
    assert docs, "no route rows found in docs/protocol.md, \"HTTP API\""
    assert docs == spec, {"only in docs/protocol.md": sorted(docs - spec), "only in /openapi.json": sorted(spec - docs)}


def test_openapi_describes_exactly_the_routed_methods():
    routed = set()
    for route in [*http_api.routes(), *admin_api.routes()]:
        for method in route.methods or ():
            if method != "HEAD":  # Starlette adds HEAD to every GET route
                routed.add((method, route.path))
    assert routed == _spec_operations()


def test_every_operation_has_an_id_security_and_documented_errors():
    ids = set()
    for path, item in OPENAPI["paths"].items():
        for method, operation in item.items():
            assert operation["operationId"] not in ids
            ids.add(operation["operationId"])
            assert "security" in operation, (method, path)
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")) and path != "/healthz":
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
            if operation["security"]:
                assert "401" in operation["responses"], (method, path)
    for item in OPENAPI["paths"].values():
        for operation in item.values():
            for response in operation["responses"].values():
                for link in response.get("links", {}).values():
                    assert link["operationId"] in ids


_VALIDATORS: dict[int, object] = {}


def _valid(schema: dict, value) -> bool:
    validator = _VALIDATORS.get(id(schema))
    if validator is None:
        validator = _VALIDATORS[id(schema)] = jsonschema_rs.validator_for(schema)
    return validator.is_valid(value)


def _accepts(clean, value) -> bool:
    try:
        clean(value)
    except ValueError:
        return False
    return True


@settings(max_examples=600, deadline=None, derandomize=True)
@given(st.one_of(st.text(max_size=40), st.text(alphabet=st.sampled_from("a \t\u200b\x00\u3000\x85"), max_size=40),
                 st.integers(), st.none()))
def test_name_schema_is_clean_name(name):
    assert _valid(NAME_SCHEMA, name) == _accepts(clean_name, name), repr(name)


@pytest.mark.parametrize("lang", ["en", "zh", "fr", "", None, 1, ["en"]])
def test_lang_schema_is_clean_lang(lang):
    assert _valid(LANG_SCHEMA, lang) == _accepts(clean_lang, lang)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.from_regex(r"\A[a-z0-9_\-A-Z ]{0,70}\Z"))
def test_room_name_schema_is_room_name(room):
    assert _valid(ROOM_NAME_SCHEMA, room) == valid_room(room), repr(room)


def test_a_room_name_with_a_final_newline_is_refused():
    # ROOM_NAME ends with "$", which in Python also matches before a final newline.
    assert not valid_room("abc\n")
    with pytest.raises(ChatError) as refused:
        p.decode('{"type": "join", "room": "abc\\n"}', p.JSON)
    assert refused.value.code == "invalid_room"
