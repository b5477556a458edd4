"""Replies and mentions on a message, without I/O: the quote a reply carries and the
``@name`` mentions parsed from its text (docs/protocol.md, ``message``).

A quote is bounded (:data:`QUOTE_CHARS`), and so are mentions (:data:`MAX_MENTIONS` names of
at most :data:`NAME_CHARS` characters each), so neither can make a message much bigger.
"""

from __future__ import annotations

import re
from typing import Any

QUOTE_CHARS = 200
MAX_MENTIONS = 10
NAME_CHARS = 32

# "@" at the start or after a non-word character, then a run without spaces or another "@";
# trailing punctuation (ASCII and CJK) is not part of the name.
_MENTION = re.compile(r"(?:(?<=^)|(?<=[^\w@]))@([^\s@]{1,%d})" % NAME_CHARS)
_TRAILING = re.compile(r"[.,!?;:)\]}'\"，。！？；：、）》」』]+$")


def mentions(text: str) -> list[str]:
    """The names mentioned as ``@name`` in ``text``, in order, each once (ignoring case)."""
    if "@" not in text:  # most lines (this runs for every message sent)
        return []
    out: list[str] = []
    seen: set[str] = set()
    for match in _MENTION.finditer(text):
        name = _TRAILING.sub("", match.group(1))
        key = name.casefold()
        if name and key not in seen:
            seen.add(key)
            out.append(name)
            if len(out) == MAX_MENTIONS:
                break
    return out


def quote(event: dict[str, Any]) -> dict[str, Any]:
    """The short quote of ``event`` (a published message) that a reply to it carries."""
    author = event.get("author") or {}
    text = str(event.get("text", ""))
    return {"offset": event["offset"], "id": event.get("id"),
            "author": {"id": author.get("id"), "name": author.get("name", "")},
            "text": text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS - 1] + "…"}
