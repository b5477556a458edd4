"""schemathesis on the admin routes (/api/admin/...) with an admin token, against a real node.

The guest run (test_openapi_fuzz.py) leaves these paths out: a guest is refused on all of
them, which tests/cluster/test_admin_cluster.py checks route by route. Here every admin
operation must answer as /openapi.json says, 2xx included.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chatserver.auth import TokenIssuer
from tests.harness import ServerProcess
from tests.server.test_openapi_fuzz import ADMIN_PATHS, _run_schemathesis, _statuses

SECRET = "admin-fuzz-secret-0123456789abcdef"
ROOM = "fuzz-admin"


@pytest.fixture(scope="module")
def node():
    server = ServerProcess("--secret", SECRET, "--allow-guests").start()
    try:
        yield server
    finally:
        server.stop()


def _config(tmp: Path) -> Path:
    path = tmp / "schemathesis-admin.toml"
    path.write_text(f'[dictionaries.rooms]\nvalues = ["{ROOM}"]\n'
                    '[parameters]\n"path.room" = { dictionary = "rooms", probability = 0.5 }\n')
    return path


def test_schemathesis_finds_nothing_in_the_admin_routes(node, tmp_path):
    token, _, _ = TokenIssuer(SECRET, ttl=3600).issue(name="Fuzz admin", lang="en", kind="member", admin=True)
    status, body = node.post("/api/rooms", {"name": ROOM}, token=token)
    assert status == 201, body
    spec = node.get("/openapi.json")[1]
    operations = {f"{method.upper()} {path}" for path, item in spec["paths"].items()
                  for method in item if re.match(ADMIN_PATHS, path)}
    assert len(operations) >= 14

    report, events, output = _run_schemathesis(
        node, token, tmp_path, selection=("--include-path-regex", ADMIN_PATHS), config=_config(tmp_path))
    assert report["complete"] and report["operations"]["tested"] == len(operations), output
    assert not report["errors"], output
    assert not report["failures"], output
    assert report["exit_code"] == 0, output

    statuses = {op: counts for op, counts in _statuses(events).items() if op in operations}
    print("statuses:", {op: dict(sorted(c.items())) for op, c in sorted(statuses.items())})
    assert set(statuses) == operations, sorted(operations - set(statuses))
    no_success = {op: dict(c) for op, c in statuses.items() if not any(200 <= s < 300 for s in c)}
    assert not no_success, f"admin operations never answered 2xx: {no_success}"
