"""Admin actions across nodes (issue 16): issued on node A, they take effect on node B.

Two real ``livebridge serve --redis-url`` processes on the session's private redis-server,
real WebSocket connections (raw, so the close code and frames are seen as sent).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from chatserver.admin_api import routes as admin_routes
from chatserver.auth import TokenIssuer
from tests.cluster.conftest import FAST_ENV, SECRET, node_args
from tests.harness import ServerProcess, until

ISSUER = TokenIssuer(SECRET, ttl=600)
LISTED_ADMIN = "ops-listed"  # made admin by --admin-ids, not by its token


def token(name: str, *, admin: bool = False, user_id: str | None = None) -> tuple[str, str]:
    tok, user, _ = ISSUER.issue(name=name, lang="en", kind="member", admin=admin, user_id=user_id)
    return tok, user.id


@pytest.fixture(scope="module")
def pair(redis_server):
    redis_server.cli("FLUSHALL")
    servers = [ServerProcess(*node_args(redis_server.url, name), "--admin-ids", LISTED_ADMIN, env=FAST_ENV)
               for name in ("adm-a", "adm-b")]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda s: s.start(), servers))
    yield servers
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda s: s.stop(), servers))


ADMIN, ADMIN_ID = token("Operator", admin=True)


async def open_ws(server: ServerProcess, tok: str):
    ws = await connect(f"{server.ws_url}?token={tok}", subprotocols=["livebridge.v1.json"])
    first = json.loads(await asyncio.wait_for(ws.recv(), 5))
    return ws, first


async def join(ws, room: str) -> None:
    await ws.send(json.dumps({"type": "join", "room": room, "ref": "j"}))
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert frame["type"] != "error", frame
        if frame["type"] == "joined":
            return


async def closed_with(ws) -> tuple[int, list[dict]]:
    """Read until the server closes; the close code and the frames before it."""
    frames = []
    try:
        while True:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None, frames


async def test_both_nodes_are_listed_with_their_figures(pair):
    a, b = pair

    def listed():
        status, body = a.get("/api/admin/nodes", token=ADMIN)
        assert status == 200, body
        return {n["id"] for n in body["nodes"]} >= {"adm-a", "adm-b"}

    await until(listed, timeout=10, what="both nodes in A's registry", interval=0.2)
    nodes = {n["id"]: n for n in b.get("/api/admin/nodes", token=ADMIN)[1]["nodes"]}
    for node in nodes.values():
        assert node["engine"]["status"] == "ok" and node["engine"]["engine"] == "redis"
        assert node["translation"]["mode"] == "off" and node["version"]
        assert node["uptime_s"] >= 0 and "queue_depth" in node["translation"]


async def test_disconnect_on_a_closes_the_user_on_b(pair):
    a, b = pair
    room = f"adm-{uuid.uuid4().hex[:6]}"
    user_token, user_id = token("Target")
    ws, welcome = await open_ws(b, user_token)
    assert welcome["type"] == "welcome" and welcome["node"] == "adm-b"
    await join(ws, room)

    status, found = a.get(f"/api/admin/users?query={user_id}", token=ADMIN)
    assert status == 200, found
    assert [u["id"] for u in found["users"]] == [user_id]
    assert found["users"][0]["connections"][0]["node"] == "adm-b"
    assert found["users"][0]["rooms"] == [room]

    status, result = a.post("/api/admin/disconnect", {"user_id": user_id, "reason": "test"}, token=ADMIN)
    assert status == 200, result
    assert result["closed"] == 1 and result["nodes"]["adm-b"]["closed"] == 1, result
    code, frames = await closed_with(ws)
    assert code == 4403 and frames[-1]["type"] == "error" and frames[-1]["code"] == "disconnected", (code, frames)

    audit = a.get("/api/admin/audit", token=ADMIN)[1]["entries"]
    assert any(e["action"] == "admin_disconnect" and e["target"] == user_id and e["actor"] == ADMIN_ID
               for e in audit), audit


async def test_global_ban_on_a_holds_on_b(pair):
    a, b = pair
    user_token, user_id = token("Spammer")
    ws, _ = await open_ws(b, user_token)
    room = f"adm-{uuid.uuid4().hex[:6]}"
    await join(ws, room)

    status, result = a.post("/api/admin/bans", {"user_id": user_id, "reason": "spam", "expires_in": 600},
                            token=ADMIN)
    assert status == 201, result
    assert result["closed"] == 1 and result["expires_at"] > result["time"]
    code, frames = await closed_with(ws)
    assert code == 4403 and frames[-1]["code"] == "banned" and "spam" in frames[-1]["message"], (code, frames)

    # A new connection on B is refused, the ban is listed on B, and lifting it on B works on A.
    again, refused = await open_ws(b, user_token)
    assert refused["type"] == "error" and refused["code"] == "banned", refused
    assert (await closed_with(again))[0] == 4403
    # So is every HTTP call the user acts through, on B too; public reads stay open.
    for method, path, body in _user_calls(room):
        status, answer = b.request(method, path, body, token=user_token)
        assert status == 403 and answer["error"]["code"] == "banned", (method, path, answer)
        assert "spam" in answer["error"]["message"], answer
    assert b.get(f"/api/rooms/{room}")[0] == 200 and b.get("/api/rooms")[0] == 200
    assert [x["user_id"] for x in b.get("/api/admin/bans", token=ADMIN)[1]["bans"]] == [user_id]
    assert b.request("DELETE", f"/api/admin/bans/{user_id}", token=ADMIN)[1]["lifted"] is True
    back, welcome = await open_ws(a, user_token)
    assert welcome["type"] == "welcome"
    await back.close()
    await until(lambda: a.post("/api/ws-ticket", {}, token=user_token)[0] == 201, timeout=5,
                what="the lifted ban no longer refusing HTTP on A", interval=0.1)
    assert b.post("/api/ws-ticket", {}, token=user_token)[0] == 201


async def test_a_user_banned_on_b_is_refused_at_connect_on_a_at_once(pair):
    """A answers connects from its own view of the bans: B's ban call returns only once A has
    taken the broadcast, so the very next connect on A is refused (no wait, no poll)."""
    a, b = pair
    user_token, user_id = token("Elsewhere")
    ws, welcome = await open_ws(a, user_token)  # A has seen this user connect, unbanned
    assert welcome["type"] == "welcome"
    await ws.close()

    status, result = b.post("/api/admin/bans", {"user_id": user_id, "reason": "raid"}, token=ADMIN)
    assert status == 201 and "adm-a" in result["nodes"], result
    again, refused = await open_ws(a, user_token)
    assert refused["type"] == "error" and refused["code"] == "banned" and "raid" in refused["message"], refused
    assert (await closed_with(again))[0] == 4403

    assert a.request("DELETE", f"/api/admin/bans/{user_id}", token=ADMIN)[1]["lifted"] is True
    back, welcome = await open_ws(b, user_token)  # and the lift on A holds on B at once too
    assert welcome["type"] == "welcome", welcome
    await back.close()


def _user_calls(room: str) -> list[tuple[str, str, dict | None]]:
    return [("POST", "/api/ws-ticket", {}), ("POST", "/api/rooms", {"name": f"{room}-x"}),
            ("POST", f"/api/rooms/{room}/reports", {"offset": 1}),
            ("POST", f"/api/rooms/{room}/moderation", {"action": "slow", "params": {"seconds": 5}}),
            ("GET", f"/api/rooms/{room}/review", None), ("GET", f"/api/rooms/{room}/audit", None),
            ("POST", f"/api/rooms/{room}/review/h-1/approve", {})]


async def test_close_room_on_a_empties_it_on_b(pair):
    a, b = pair
    owner_token, _ = token("Owner")
    room = f"adm-{uuid.uuid4().hex[:6]}"
    assert a.post("/api/rooms", {"name": room}, token=owner_token)[0] == 201
    user_token, _ = token("Member")
    ws, _ = await open_ws(b, user_token)
    await join(ws, room)

    status, result = a.post(f"/api/admin/rooms/{room}/close", {"reason": "over"}, token=ADMIN)
    assert status == 200 and result["left"] == 1, result
    frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
    while frame["type"] != "left":
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert frame["reason"] == "closed" and frame["room"] == room
    await ws.send(json.dumps({"type": "join", "room": room, "ref": "again"}))
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if frame.get("ref") == "again":
            break
    assert frame["type"] == "error" and frame["code"] == "room_closed", frame
    rooms = a.get(f"/api/admin/rooms?query={room}", token=ADMIN)[1]["rooms"]
    assert rooms[0]["name"] == room and rooms[0]["closed"] and rooms[0]["settings"]["locked"], rooms
    assert a.post(f"/api/admin/rooms/{room}/reopen", {}, token=ADMIN)[0] == 200
    await ws.send(json.dumps({"type": "join", "room": room, "ref": "third"}))
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if frame.get("ref") == "third" or frame["type"] == "joined":
            break
    assert frame["type"] == "joined", frame
    await ws.close()


def _admin_requests() -> list[tuple[str, str]]:
    out = []
    for route in admin_routes():
        path = route.path.replace("{room}", "some-room").replace("{user_id}", "someone")
        for method in sorted(route.methods - {"HEAD"}):
            out.append((method, path))
    return out


def test_a_non_admin_is_refused_on_every_route_of_both_nodes(pair):
    member, _ = token("Plain")
    guest = pair[0].token("Guest")
    requests = _admin_requests()
    assert len(requests) >= 14
    for server in pair:
        for method, path in requests:
            body = {} if method == "POST" else None
            status, answer = server.request(method, path, body, token=None)
            assert status == 401 and answer["error"]["code"] == "unauthorized", (method, path, answer)
            status, answer = server.request(method, path, body, token="not-a-token")
            assert status == 401, (method, path, answer)
            for tok in (member, guest):
                status, answer = server.request(method, path, body, token=tok)
                assert status == 403 and answer["error"]["code"] == "forbidden", (method, path, answer)
                assert "admin" in answer["error"]["message"]
    # An id listed in --admin-ids is admin without the claim.
    listed, _ = token("Listed", user_id=LISTED_ADMIN)
    assert pair[1].get("/api/admin/nodes", token=listed)[0] == 200


def cli(*args: str, env: dict | None = None):
    import os
    import subprocess
    import sys

    from tests.harness import ROOT

    return subprocess.run([sys.executable, "-m", "chatserver.cli", "admin", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=30, env={**os.environ, **(env or {})})


async def test_cli_against_a_node(pair):
    a, b = pair
    user_token, user_id = token("Cli target")
    ws, _ = await open_ws(b, user_token)
    room = f"adm-{uuid.uuid4().hex[:6]}"
    await join(ws, room)

    nodes = cli("nodes", "--url", a.url, env={"LIVEBRIDGE_ADMIN_TOKEN": ADMIN})
    assert nodes.returncode == 0, nodes.stderr
    assert "adm-a" in nodes.stdout and "adm-b" in nodes.stdout and ADMIN not in nodes.stdout
    as_json = cli("nodes", "--url", a.url, "--token", ADMIN, "--json")
    assert {n["id"] for n in json.loads(as_json.stdout)["nodes"]} >= {"adm-a", "adm-b"}
    rooms = cli("rooms", "--url", a.url, "--token", ADMIN, "--json")
    assert room in {r["name"] for r in json.loads(rooms.stdout)["rooms"]}, rooms.stdout
    found = cli("user", "Cli target", "--url", a.url, "--token", ADMIN)
    assert found.returncode == 0 and user_id in found.stdout and "adm-b" in found.stdout and room in found.stdout

    done = cli("disconnect", user_id, "--url", a.url, "--token", ADMIN)
    assert done.returncode == 0 and "1 connection(s) closed" in done.stdout, done
    assert (await closed_with(ws))[0] == 4403
    banned = cli("ban", user_id, "--reason", "cli", "--expires", "60", "--url", a.url, "--token", ADMIN, "--json")
    assert banned.returncode == 0 and json.loads(banned.stdout)["reason"] == "cli"
    assert b.request("DELETE", f"/api/admin/bans/{user_id}", token=ADMIN)[0] == 200

    member, _ = token("Nobody")
    refused = cli("nodes", "--url", a.url, "--token", member)
    assert refused.returncode == 1 and "refused the token (403 forbidden)" in refused.stderr, refused.stderr
    assert member not in refused.stderr
    assert cli("nodes", "--url", a.url, "--token", "garbage").returncode == 1
    bad_url = cli("nodes", "--url", "ftp://example", "--token", ADMIN)
    assert bad_url.returncode == 2 and "--url must be http(s)" in bad_url.stderr
    from tests.harness import free_port
    gone = cli("nodes", "--url", f"http://127.0.0.1:{free_port()}", "--token", ADMIN)
    assert gone.returncode == 2 and "cannot reach" in gone.stderr, gone.stderr
    no_token = cli("nodes", "--url", a.url, env={"LIVEBRIDGE_ADMIN_TOKEN": ""})
    assert no_token.returncode == 2 and "--token" in no_token.stderr
