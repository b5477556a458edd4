"""Finding 6 of issue 14 (Host and CSP): the Host header was never checked (DNS rebinding
reached a localhost node) and the page's CSP allowed ``connect-src ws: wss:``, any host.

With ``--public-hosts`` every HTTP request and WebSocket upgrade naming another Host gets
400 ``host_not_allowed`` before anything reads it; the page's CSP names only its own origin
(and its ws/wss forms) and the ``--allowed-origins``.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import subprocess
import sys

from tests.harness import ROOT, ServerProcess


def raw_request(node: ServerProcess, head: str) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as sock:
        sock.sendall(head.encode())
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                headers, _, body = data.partition(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length: *(\d+)", headers)
                if headers.startswith(b"HTTP/1.1 101") or (length and len(body) >= int(length[1])):
                    break
    status = int(data.split(b" ", 2)[1])
    return status, data


def upgrade(node: ServerProcess, host: str, token: str) -> tuple[int, bytes]:
    key = base64.b64encode(os.urandom(16)).decode()
    return raw_request(node, f"GET /ws?token={token} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                             f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                             "Sec-WebSocket-Protocol: livebridge.v1.json\r\n\r\n")


def get(node: ServerProcess, path: str, host: str) -> tuple[int, bytes]:
    return raw_request(node, f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")


def test_only_public_hosts_are_served(start_server):
    node = ServerProcess()
    own = f"127.0.0.1:{node.port}"
    node.args += ["--public-hosts", f"chat.example,{own}"]
    node = start_server(*node.args, port=node.port)
    token = node.token()
    for path in ("/", "/api/rooms", "/healthz", "/static/js/app.js"):
        status, data = get(node, path, "evil.example")
        assert status == 400 and b"host_not_allowed" in data, (path, data[:300])
        assert get(node, path, "chat.example")[0] == 200, path
        assert get(node, path, "CHAT.example:443")[0] == 200, path
    assert get(node, "/", "chat.example:8443")[0] == 400
    status, data = upgrade(node, "evil.example", token)
    assert status == 400 and b"host_not_allowed" in data, data[:300]  # refused before the upgrade
    status, data = upgrade(node, own, token)
    assert status == 101, data[:300]


def test_the_page_may_connect_only_to_its_own_and_the_allowed_origins(start_server):
    node = start_server("--allowed-origins", "https://app.example,*")
    status, data = get(node, "/", f"127.0.0.1:{node.port}")
    assert status == 200
    csp = re.search(rb"(?i)content-security-policy: *([^\r\n]*)", data)[1].decode()
    connect = re.search(r"connect-src ([^;]*)", csp)[1].split()
    assert connect == ["'self'", f"ws://127.0.0.1:{node.port}", f"wss://127.0.0.1:{node.port}",
                       "https://app.example", "wss://app.example"], csp
    # a Host that would inject into the policy adds nothing to it
    status, data = get(node, "/", "x; script-src *")
    csp = re.search(rb"(?i)content-security-policy: *([^\r\n]*)", data)[1].decode()
    assert "script-src *" not in csp and "connect-src 'self' https://app.example wss://app.example;" in csp, csp


def test_a_bad_public_host_is_refused_at_start():
    done = subprocess.run([sys.executable, "-m", "chatserver.cli", "serve", "--port", "0",
                           "--public-hosts", "https://chat.example"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "--public-hosts" in done.stderr, done.stderr
