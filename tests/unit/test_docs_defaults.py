"""The defaults the documents state are the defaults `livebridge serve` has.

Each document states its defaults in one Markdown table; this test reads those tables and the
CLI (the `livebridge serve` argument parser, resolved through `config.load` as `serve` does,
with no LIVEBRIDGE_* variables) and fails on any difference, and when a table loses a row it
must have.

- docs/protocol.md, section "## Limits ...": `| option | default | meaning |`.
- docs/moderation.md, section "## Rate limits and flood control": `| field | option |
  default | Limits() default | meaning |`; `default` is what the server gives a room (the
  `Limits` the server's moderation starts from), `Limits()` the library's own.
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from chatserver import cli, config
from moderation.ratelimit import Limits

DOCS = Path(__file__).resolve().parents[2] / "docs"

# What a default cell may say: a number (thousands with commas) and an optional unit.
UNITS = {"": 1, "KiB": 1024, "MiB": 1024 * 1024, "s": 1, "h": 3600, "/s": 1}
VALUE = re.compile(r"^(?P<num>\d[\d,]*(?:\.\d+)?)\s*(?P<unit>KiB|MiB|/s|s|h)?$")

# Options docs/protocol.md's limits table must list (issue 10: the message rate limits too).
PROTOCOL_REQUIRED = {
    "--max-text-chars", "--max-frame-bytes", "--max-rooms-per-connection",
    "--max-connections-per-user", "--outbound-max-messages", "--outbound-max-bytes",
    "--heartbeat-interval", "--heartbeat-timeout", "--history-size", "--history-ttl",
    "--rate-frames", "--rate-frames-burst", "--rate-user", "--rate-user-burst",
    "--rate-connection", "--rate-connection-burst", "--flood-max",
}


def doc_value(cell: str) -> float:
    text = cell.strip().strip("`").strip()
    m = VALUE.match(text)
    if m is None:
        raise ValueError(f"cannot read a default from {cell!r}: write a number and one of the units "
                         f"{sorted(u for u in UNITS if u)}")
    return float(m["num"].replace(",", "")) * UNITS[m["unit"] or ""]


def section(doc: str, heading_prefix: str) -> str:
    text = (DOCS / doc).read_text(encoding="utf-8")
    start = next((m.start() for m in re.finditer(r"^## .*$", text, re.M)
                  if m.group().startswith(heading_prefix)), None)
    assert start is not None, f"{doc}: no section starting {heading_prefix!r}"
    end = re.compile(r"^## ", re.M).search(text, start + 3)
    return text[start:end.start() if end else len(text)]


def table(doc: str, heading_prefix: str) -> list[dict[str, str]]:
    """The first Markdown table of a section, as rows keyed by the header cells."""
    lines = [ln.strip() for ln in section(doc, heading_prefix).splitlines()]
    first = next((i for i, ln in enumerate(lines) if ln.startswith("|")), None)
    assert first is not None, f"{doc} {heading_prefix!r}: no table"
    block = []
    for ln in lines[first:]:
        if not ln.startswith("|"):
            break
        block.append([c.strip() for c in ln.strip("|").split("|")])
    header, rule, *rows = block
    assert all(set(c) <= set("-: ") for c in rule), f"{doc}: the table's second line is not a rule"
    return [dict(zip(header, row)) for row in rows]


def option(cell: str) -> str | None:
    text = cell.strip().strip("`")
    return text if text.startswith("--") else None


def serve_settings(*argv: str) -> config.Settings:
    """What `livebridge serve ARGV` runs with when no LIVEBRIDGE_* variable is set."""
    args = cli.build_parser().parse_args(["serve", *argv])
    return config.load(args, env={})


def dest_of(flag: str) -> str:
    """The Settings field a `livebridge serve` flag sets (checked, not assumed)."""
    name = flag[2:].replace("-", "_")
    assert name in {f.name for f in fields(config.Settings)}, f"{flag} is not a `livebridge serve` option"
    args = cli.build_parser().parse_args(["serve", flag, "7"])
    assert getattr(args, name) == 7, f"{flag} does not set {name}"
    return name


def server_limits(settings: config.Settings) -> Limits:
    """The limits the server's moderation gives a room without overrides."""
    return Limits().merged(settings.default_limits())


PROTOCOL_ROWS = table("protocol.md", "## Limits")
MODERATION_ROWS = table("moderation.md", "## Rate limits and flood control")


@pytest.mark.parametrize("row", PROTOCOL_ROWS, ids=lambda r: r.get("`livebridge serve` option", "?"))
def test_protocol_limits_are_the_cli_defaults(row):
    flag = option(row["`livebridge serve` option"])
    assert flag, f"docs/protocol.md limits: {row} names no option"
    stated = doc_value(row["default"])
    actual = getattr(serve_settings(), dest_of(flag))
    assert stated == pytest.approx(actual), (
        f"docs/protocol.md says {flag} defaults to {row['default']}, `livebridge serve` has {actual}")


def test_protocol_limits_table_is_complete():
    listed = {option(r["`livebridge serve` option"]) for r in PROTOCOL_ROWS}
    assert PROTOCOL_REQUIRED <= listed, f"docs/protocol.md limits lack {sorted(PROTOCOL_REQUIRED - listed)}"


@pytest.mark.parametrize("row", MODERATION_ROWS, ids=lambda r: r.get("field", "?").strip("`"))
def test_moderation_limits_are_the_cli_defaults(row):
    name = row["field"].strip("`")
    assert name in {f.name for f in fields(Limits)}, f"docs/moderation.md: {name} is not a Limits field"
    stated_server, stated_lib = doc_value(row["default"]), doc_value(row["`Limits()` default"])
    actual_server = getattr(server_limits(serve_settings()), name)
    assert stated_server == pytest.approx(actual_server), (
        f"docs/moderation.md says the server's {name} defaults to {row['default']}, "
        f"`livebridge serve` has {actual_server}")
    assert stated_lib == pytest.approx(getattr(Limits(), name)), (
        f"docs/moderation.md says Limits().{name} is {row['`Limits()` default']}, "
        f"the code has {getattr(Limits(), name)}")
    flag = option(row["`livebridge serve` option"])
    if flag is None:
        return
    # The option really is the one that sets this field: change it and see the field follow.
    changed = serve_settings(flag, "7")
    assert getattr(server_limits(changed), name) == 7, f"{flag} does not set the rooms' {name}"


def test_moderation_limits_table_is_complete():
    listed = {r["field"].strip("`") for r in MODERATION_ROWS}
    assert listed == {f.name for f in fields(Limits)}


def test_both_documents_agree_where_they_share_an_option():
    protocol = {option(r["`livebridge serve` option"]): doc_value(r["default"]) for r in PROTOCOL_ROWS}
    for r in MODERATION_ROWS:
        flag = option(r["`livebridge serve` option"])
        if flag in protocol:
            assert protocol[flag] == doc_value(r["default"]), f"the two documents differ on {flag}"


@pytest.mark.parametrize("cell, value", [("2,000", 2000), ("64 KiB", 65536), ("4 MiB", 4194304),
                                         ("20 s", 20), ("24 h", 86400), ("1/s", 1), ("5.0", 5)])
def test_doc_values_read_as_meant(cell, value):
    assert doc_value(cell) == value


def test_an_unreadable_default_is_an_error():
    with pytest.raises(ValueError):
        doc_value("about ten")
