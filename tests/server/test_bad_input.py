"""Bad input gets its documented error frame or close code; nothing else is affected."""

import asyncio
import json
import jwt
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus


async def open_ws(server, token=None, **kw):
    token = token or server.token()
    ws = await websockets.connect(f"{server.ws_url}?token={token}", subprotocols=["livebridge.v1.json"], **kw)
    welcome = json.loads(await ws.recv())
    assert welcome["type"] == "welcome"
    return ws


async def request(ws, frame):
    await ws.send(frame if isinstance(frame, (str, bytes)) else json.dumps(frame))
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def assert_server_still_serves(server):
    ws = await open_ws(server)
    reply = await request(ws, {"type": "ping", "ref": "alive"})
    assert reply["type"] == "pong" and reply["ref"] == "alive"
    await ws.close()


@pytest.mark.parametrize("frame,code", [
    ("{oops", "bad_frame"),
    ("[]", "bad_frame"),
    (b"\x00\x01binary garbage", "bad_frame"),
    ({"type": "dance"}, "unknown_type"),
    ({"type": "send", "room": 5, "text": "x"}, "invalid_room"),
    ({"type": "send", "room": "r", "text": ["x"]}, "invalid_frame"),
    ({"type": "send", "room": "r", "text": "x" * 2001}, "text_too_long"),
    ({"type": "send", "room": "never-joined", "text": "hi"}, "not_joined"),
    ({"type": "history", "room": "never-joined"}, "not_joined"),
    ({"type": "join", "room": "UPPER case"}, "invalid_room"),
])
async def test_bad_frames_get_error_frames_and_the_connection_lives(server, frame, code):
    ws = await open_ws(server)
    try:
        reply = await request(ws, frame)
        assert reply["type"] == "error" and reply["code"] == code, reply
        assert reply["message"]
        pong = await request(ws, {"type": "ping", "ref": 1})
        assert pong["type"] == "pong"
    finally:
        await ws.close()


async def test_errors_echo_the_ref(server):
    ws = await open_ws(server)
    reply = await request(ws, {"type": "send", "room": "nope", "text": "x", "ref": "abc"})
    assert (reply["code"], reply["ref"]) == ("not_joined", "abc")
    await ws.close()


async def test_oversize_frame_closes_with_1009(server):
    ws = await open_ws(server)
    await ws.send("x" * 70_000)
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd.code == 1009
    await assert_server_still_serves(server)


async def test_invalid_utf8_text_frame_closes_with_1007(server):
    ws = await open_ws(server)
    # websockets refuses to send invalid UTF-8 as text; write the frame by hand.
    from websockets.frames import Frame, Opcode
    ws.protocol.send_frame(Frame(Opcode.TEXT, b'{"type":"ping","x":"\xff"}'))
    ws.send_data()
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd.code == 1007
    await assert_server_still_serves(server)


@pytest.mark.parametrize("make_token,fragment", [
    (lambda: "not-a-jwt", "invalid token"),
    (lambda: jwt.encode({"iss": "livebridge", "sub": "u", "iat": 1, "exp": 2**40}, "w" * 32), "invalid token"),
])
async def test_bad_tokens_get_unauthorized_and_4401(server, make_token, fragment):
    async with websockets.connect(f"{server.ws_url}?token={make_token()}") as ws:
        frame = json.loads(await ws.recv())
        assert frame["code"] == "unauthorized" and fragment in frame["message"]
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd.code == 4401


async def test_expired_token_gets_4401(start_server):
    from chatserver.auth import TokenIssuer

    server = start_server("--secret", "k" * 32)
    expired = TokenIssuer("k" * 32, ttl=60).issue(name="Old", lang="en", ttl=-100)[0]
    async with websockets.connect(f"{server.ws_url}?token={expired}") as ws:
        frame = json.loads(await ws.recv())
        assert frame["code"] == "unauthorized" and "expired" in frame["message"]
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd.code == 4401
    status, body = server.post("/api/token", {"name": "Guest"})
    assert status == 403 and body["error"]["code"] == "guests_disabled"


async def test_missing_token_gets_4401(server):
    async with websockets.connect(server.ws_url) as ws:
        assert json.loads(await ws.recv())["code"] == "unauthorized"
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd.code == 4401


async def test_disallowed_origin_is_refused_before_the_upgrade(server):
    with pytest.raises(InvalidStatus) as info:
        await websockets.connect(f"{server.ws_url}?token={server.token()}", origin="http://evil.example")
    assert info.value.response.status_code == 403
    own = f"http://127.0.0.1:{server.port}"
    ws = await open_ws(server, origin=own)
    await ws.close()


@pytest.mark.parametrize("extra,body", [
    (b"Content-Length: 5\r\n", b"hello"),
    (b"Content-Length: 5\r\n", b""),  # announced, never sent
    (b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n"),
])
async def test_an_upgrade_request_with_a_body_gets_400_at_once(server, extra, body):
    """websockets takes no request body on an upgrade; the client hears so instead of waiting."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 b"Sec-WebSocket-Version: 13\r\n%s\r\n%s" % (server.port, extra, body))
    answer = await asyncio.wait_for(reader.read(), 5)  # the whole answer, then the close
    writer.close()
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer
    error = json.loads(payload)["error"]
    assert error["code"] == "bad_request", error
    assert "body" in error["message"] or "transfer" in error["message"], error
    await assert_server_still_serves(server)


async def test_unsupported_subprotocol_gets_4400(server):
    async with websockets.connect(f"{server.ws_url}?token={server.token()}", subprotocols=["chat.v9"]) as ws:
        assert json.loads(await ws.recv())["code"] == "unsupported_subprotocol"
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd.code == 4400


async def test_a_flood_of_bad_frames_closes_with_4400(server):
    ws = await open_ws(server)
    for _ in range(60):
        await ws.send("{bad")
    codes = set()
    with pytest.raises(ConnectionClosed) as info:
        while True:
            codes.add(json.loads(await asyncio.wait_for(ws.recv(), 5))["code"])
    assert codes == {"bad_frame"} and info.value.rcvd.code == 4400
    await assert_server_still_serves(server)


async def test_too_many_connections_per_user_gets_4429(start_server):
    server = start_server("--max-connections-per-user", "2")
    token = server.token()
    first, second = await open_ws(server, token), await open_ws(server, token)
    async with websockets.connect(f"{server.ws_url}?token={token}") as ws:
        assert json.loads(await ws.recv())["code"] == "too_many_connections"
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd.code == 4429
    await first.close()
    await second.close()


async def test_bad_input_is_counted_in_metrics(server):
    ws = await open_ws(server)
    await request(ws, {"type": "dance"})
    await ws.close()
    status, text = server.get("/metrics")
    assert status == 200
    line = next(l for l in text.splitlines() if l.startswith('livebridge_errors_total{code="unknown_type"}'))
    assert float(line.split()[-1]) >= 1


async def test_a_connection_flooding_frames_is_rate_limited(start_server):
    server = start_server(relaxed_limits=False)
    ws = await open_ws(server)
    for i in range(80):
        await ws.send(json.dumps({"type": "ping", "ref": i}))
    replies = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(80)]
    limited = [r for r in replies if r["type"] == "error"]
    assert limited and all(r["code"] == "rate_limited" and r["retry_after"] > 0 for r in limited)
    assert sum(r["type"] == "pong" for r in replies) >= 60
    await ws.close()
