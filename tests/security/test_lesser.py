"""Lesser weaknesses of issue 14 (finding 6): redaction however the parameter is spelled,
invalid UTF-8 without ERROR tracebacks, ``set_limits`` bounds, room titles without bidi or
control characters."""

from __future__ import annotations

import base64
import os
import socket
import time

import pytest
from websockets.sync.client import connect

from chatserver.auth import clean_line
from tests.harness import ServerProcess
from tests.security.conftest import ask


@pytest.fixture(scope="module")
def debug_node():
    # --log-level debug: uvicorn's access log is on too, the most a node writes about requests
    server = ServerProcess("--log-level", "debug").start()
    yield server
    server.stop()


def wait_for_log(node: ServerProcess, text: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = node.log()
        if text in log:
            return log
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never logged:\n{node.log()[-3000:]}")


@pytest.mark.parametrize("name", ["tok%65n", "%74oken", "TOKEN", "tok%2565n"])
def test_the_token_is_redacted_however_the_parameter_is_spelled(debug_node, name):
    token = debug_node.token()
    if name != "tok%2565n":  # the server itself reads these as "token"
        with connect(f"{debug_node.ws_url}?{name}={token}&n={name}",
                     subprotocols=["livebridge.v1.json"]) as ws:
            ws.recv(timeout=10)
    else:
        debug_node.get(f"/healthz?{name}={token}&n={name}")
    log = wait_for_log(debug_node, f"n={name}")
    assert token not in log and token.split(".")[2] not in log


def _raw_ws(port: int, token: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                  "Sec-WebSocket-Protocol: livebridge.v1.json\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def test_invalid_utf8_text_frames_close_1007_without_error_tracebacks(debug_node):
    token = debug_node.token()
    for _ in range(5):
        sock = _raw_ws(debug_node.port, token)
        payload, mask = b"\xff\xfe{", os.urandom(4)
        sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask
                     + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        data = b""
        deadline = time.monotonic() + 10
        while b"\x88" not in data and time.monotonic() < deadline:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        frame = data[data.index(b"\x88"):]
        assert int.from_bytes(frame[2:4], "big") == 1007, data
        sock.close()
    log = wait_for_log(debug_node, "a text frame was not valid UTF-8")
    assert "Traceback" not in log and " ERROR " not in log


@pytest.mark.parametrize("limits", [{"user_rate": 1e-300}, {"conn_rate": 1e300}, {"user_burst": 1e12},
                                    {"user_rate": 0.001, "user_burst": 1000}])
async def test_set_limits_refuses_absurd_values(node, limits):
    owner = node.user("Olga", kind="guest")
    await node.bridge.chat.create_room("show", title=None, owner=owner)
    host = await node.joined("Olga", "show", user=owner)
    refused = await ask(host, {"type": "moderate", "room": "show", "action": "set_limits",
                               "params": limits}, "error")
    assert refused["code"] == "invalid"
    # the room still works
    await ask(host, {"type": "send", "room": "show", "text": "still here"}, "ack")


def test_clean_line_drops_bidi_and_control_characters():
    assert clean_line("Official \u202egnp.exe\u0007\u200b", max_chars=100) == "Official gnp.exe"
    with pytest.raises(ValueError):
        clean_line("\u202e\u202c", max_chars=100)


async def test_room_titles_keep_no_bidi_or_control_characters(node):
    owner = node.user("Olga", kind="guest")
    meta = await node.bridge.chat.create_room("show", title="Official \u202egnp.exe", owner=owner)
    assert meta["title"] == "Official gnp.exe"


async def test_a_title_with_nothing_showable_is_the_room_name(node):
    owner = node.user("Olga", kind="guest")
    meta = await node.bridge.chat.create_room("blank", title="\u0096\u202e ", owner=owner)
    assert meta["title"] == "blank"


def test_clean_line_ascii_fast_path_drops_what_the_general_rule_drops():
    import unicodedata

    for code in range(128):
        for text in (chr(code), f"a{chr(code)}b", f" {chr(code)}x "):
            general = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C").strip()
            try:
                cleaned = clean_line(text, max_chars=32)
            except ValueError:
                cleaned = ""
            assert cleaned == general, (code, text)
