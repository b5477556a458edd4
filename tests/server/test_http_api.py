"""The HTTP API on a real server: JSON in and out, 4xx with a message for bad requests."""

import os
import subprocess
import sys

from tests.harness import ROOT


def test_healthz_reports_engine_translation_and_node(server):
    status, body = server.get("/healthz")
    assert status == 200 and body["status"] == "ok"
    assert body["engine"]["engine"] == "memory" and body["translation"]["enabled"] is False


def test_guest_token_validation(server):
    status, body = server.post("/api/token", {"name": "Zoë", "lang": "zh"})
    assert status == 201 and body["user"]["name"] == "Zoë" and body["user"]["kind"] == "guest"
    assert body["token"].count(".") == 2 and body["expires_at"] > 0
    for bad in ({"name": ""}, {"name": "x" * 40}, {"name": "Ann", "lang": "fr"}, {"name": 5}):
        status, body = server.post("/api/token", bad)
        assert status == 422 and body["error"]["code"] == "invalid_parameter", bad
    status, body = server.request("POST", "/api/token", raw=b"{nope")
    assert status == 400 and body["error"]["code"] == "bad_json"
    status, body = server.request("POST", "/api/token", raw=b"x" * 70_000)
    assert status == 413 and body["error"]["code"] == "too_large"


def test_room_lifecycle(server):
    token = server.token("Owner")
    status, body = server.post("/api/rooms", {"name": "api-room", "title": "Talk 谈话"}, token=token)
    assert status == 201 and body["title"] == "Talk 谈话" and body["owner"]["name"] == "Owner"
    status, body = server.post("/api/rooms", {"name": "api-room"}, token=token)
    assert status == 409 and body["error"]["code"] == "room_exists"
    status, body = server.get("/api/rooms")
    assert status == 200 and "api-room" in [r["name"] for r in body["rooms"]]
    status, body = server.get("/api/rooms/api-room")
    assert status == 200 and body["offset"] == 0 and body["member_count"] == 0
    assert body["settings"]["locked"] is False


def test_room_errors(server):
    token = server.token()
    status, body = server.post("/api/rooms", {"name": "x"})
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, body = server.post("/api/rooms", {"name": "x"}, token="garbage")
    assert status == 401
    status, body = server.post("/api/rooms", {"name": "Not Valid!"}, token=token)
    assert status == 422 and body["error"]["code"] == "invalid_room"
    status, body = server.post("/api/rooms", {"name": "ok-name", "title": "t" * 101}, token=token)
    assert status == 422
    status, body = server.get("/api/rooms/does-not-exist")
    assert status == 404 and body["error"]["code"] == "room_not_found"
    status, body = server.get("/api/rooms/does-not-exist/messages")
    assert status == 404
    server.post("/api/rooms", {"name": "paged"}, token=token)
    status, body = server.get("/api/rooms/paged/messages?limit=abc")
    assert status == 422 and "limit" in body["error"]["message"]
    status, body = server.get("/api/rooms/paged/messages?before=0")
    assert status == 422
    # past any 64-bit offset: the newest page (the fuzzer found a 500 from the store)
    status, body = server.get("/api/rooms/paged/messages?before=31929169309838964948992")
    assert status == 200 and body["events"] == []
    status, body = server.get("/no/such/route")
    assert status == 404 and body["error"]["code"] == "not_found"


def test_openapi_describes_every_route(server):
    status, spec = server.get("/openapi.json")
    assert status == 200 and spec["openapi"].startswith("3.")
    for path in ("/healthz", "/api/token", "/api/rooms", "/api/rooms/{room}", "/api/rooms/{room}/messages",
                 "/api/rooms/{room}/moderation", "/api/rooms/{room}/audit"):
        assert path in spec["paths"], path


def test_metrics_exposition(server):
    status, text = server.get("/metrics")
    assert status == 200
    for name in ("livebridge_connections", "livebridge_rooms", "livebridge_frames_in_total",
                 "livebridge_fanout_latency_seconds_bucket", "livebridge_slow_consumer_disconnects_total"):
        assert name in text, name


def test_pages_carry_a_content_security_policy(server):
    import urllib.request

    with urllib.request.urlopen(server.url + "/") as response:
        csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "chatserver.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})})


def test_cli_names_bad_settings():
    result = run_cli("serve", env={"LIVEBRIDGE_PORT": "eighty"})
    assert result.returncode == 2 and "LIVEBRIDGE_PORT" in result.stderr
    result = run_cli("serve", "--translation", "maybe")
    assert result.returncode == 2 and "--translation" in result.stderr
    result = run_cli("serve", "--port", "abc")
    assert result.returncode == 2 and "--port" in result.stderr


def test_cli_token_signs_member_tokens():
    result = run_cli("token", "--name", "Op", "--secret", "z" * 32, "--admin")
    assert result.returncode == 0
    from chatserver.auth import TokenIssuer

    user = TokenIssuer("z" * 32, ttl=1).verify(result.stdout.strip())
    assert user.name == "Op" and user.kind == "member" and user.admin
    result = run_cli("token", "--name", "Op", env={"LIVEBRIDGE_SECRET": ""})
    assert result.returncode == 2 and "--secret" in result.stderr
