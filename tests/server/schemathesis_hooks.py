"""schemathesis hooks for tests/server/test_openapi_fuzz.py (loaded through SCHEMATHESIS_HOOKS).

Each hook drops one kind of failure that is not a lie in /openapi.json, and says why. Every
drop is counted in the run's JSON report ("filtered"); the test prints the count.
"""

from __future__ import annotations

import json
import os
from typing import Any

import regex  # the engine that reads \p{C} as Python's unicodedata does (a transformers dependency)
import schemathesis

from chatserver.openapi import _NAME_PATTERN

# What moderation answers, with 422 invalid, for requests JSON Schema cannot tell from good ones
# (the description says so in the params' descriptions).
_SEMANTIC_REFUSALS = (
    "is not a moderator",                                      # remove_moderator: state, not shape
    "term has no letters or characters left after normalization",  # add_term & co: normalization
    "terms per scope",                                         # add_term: the scope is full
)


def _error(response: Any) -> dict:
    try:
        body = json.loads(response.content or b"{}")
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _dropped(reason: str, failure, case) -> bool:
    """Note the drop in $LB_FUZZ_DROPPED (one JSON line each), for the test to show; False."""
    path = os.environ.get("LB_FUZZ_DROPPED")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"reason": reason, "code": failure.code,
                                  "operation": f"{case.method} {case.path}"}) + "\n")
    return False


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    """False drops the failure."""
    error = _error(response)
    if failure.code == "ST202" and response.status_code == 422:
        message = str(error.get("message", ""))
        for refusal in _SEMANTIC_REFUSALS:
            if error.get("code") == "invalid" and refusal in message:
                return _dropped(f"422 invalid: {refusal}", failure, case)
    if (failure.code == "ST202" and response.status_code == 422
            and error.get("code") == "invalid_parameter" and "must not be empty" in str(error.get("message"))
            and isinstance(case.body, dict) and isinstance(case.body.get("name"), str)
            and regex.search(_NAME_PATTERN, case.body["name"]) is None):
        # The generator's regex dialect took a name of only control, unassigned or surrogate
        # characters for one matching NAME_SCHEMA's pattern; the pattern itself refuses it.
        return _dropped("422 a name the schema's own pattern refuses", failure, case)
    if failure.code == "ST302" and response.status_code == 404 and error.get("code") == "not_found":
        # The room the link came from exists; moderation's not_found is about a message, pin,
        # term or review item named in the request (room_not_found would be a real failure).
        return _dropped("404 not_found about a message, pin, term or item, not the room", failure, case)
    return True
