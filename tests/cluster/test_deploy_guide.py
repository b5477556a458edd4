"""docs/deploy.md followed literally: its `livebridge serve` command on two real nodes sharing
a Redis, Debian's nginx with the guide's config in front of them, and the web page through
nginx in Chromium.

Both the command and the nginx config are read from the document (so the document is what
is tested), with only what a test must change: the nodes' Redis, secret, ids and ports; the
upstream `server` lines; `listen` on a free port without TLS; log paths in a temp dir.
"""

from __future__ import annotations

import re
import secrets
import shlex
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.harness import ROOT, ServerProcess, free_port, wait_port
from tests.web.conftest import ARGS, CHROMIUM, join_room, message, pages, send  # noqa: F401

GUIDE = ROOT / "docs" / "deploy.md"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.fixture(scope="module")
def browser():
    """Chromium for this module only: Playwright's sync API holds an event loop while it
    runs, which the async tests after this module could not share."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make system-deps` (installs Debian's chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def fenced_blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.S | re.M)


def guide_serve_args() -> list[str]:
    """The arguments of the guide's `livebridge serve` command for a node."""
    [block] = [b for b in fenced_blocks(GUIDE.read_text(), "sh") if "livebridge serve --host" in b]
    words = shlex.split(block.replace("\\\n", " "), posix=True)
    assert words[:2] == ["livebridge", "serve"], words
    return words[2:]


def node_args(args: list[str], *, redis_url: str, node_id: str, secret: str, public_hosts: str,
              database_url: str) -> list[str]:
    """The guide's arguments with a test's values; --host/--port are the harness's. nginx
    here is on 127.0.0.1 (not the guide's trusted proxy), and so counted as the client."""
    replace = {"--redis-url": redis_url, "--node-id": node_id, "--secret": secret,
               "--public-hosts": public_hosts, "--database-url": database_url}
    out, i = [], 0
    while i < len(args):
        flag = args[i]
        takes_value = i + 1 < len(args) and not args[i + 1].startswith("--")
        value = args[i + 1] if takes_value else None
        i += 2 if takes_value else 1
        if flag in ("--host", "--port"):
            continue
        out.append(flag)
        if value is not None:
            out.append(replace.get(flag, value))
    for flag in replace:
        assert flag in out, f"the guide's serve command has no {flag}"
    return out


def guide_nginx_conf(upstreams: list[int], port: int, workdir: Path) -> str:
    """The guide's nginx config inside a minimal nginx.conf that runs unprivileged."""
    [conf] = fenced_blocks(GUIDE.read_text(), "nginx")
    servers = re.findall(r"^(\s*)server\s+\S+:\d+(.*);$", conf, flags=re.M)
    assert len(servers) >= 2, "the guide's upstream lists fewer than two nodes"
    indent, options = servers[0]
    upstream = "".join(f"{indent}server 127.0.0.1:{p}{options};\n" for p in upstreams)
    conf = re.sub(r"^\s*server\s+\S+:\d+.*;\n", "", conf, flags=re.M)
    conf = conf.replace("upstream livebridge {\n", "upstream livebridge {\n" + upstream, 1)
    assert "listen 443 ssl;" in conf
    conf = conf.replace("listen 443 ssl;", f"listen 127.0.0.1:{port};")
    conf = conf.replace("/var/log/nginx/", f"{workdir}/")
    temp = "".join(f"    {kind}_temp_path {workdir}/{kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (f"daemon off;\nmaster_process off;\npid {workdir}/nginx.pid;\n"
            f"error_log {workdir}/main.error.log;\nevents {{}}\n"
            f"http {{\n{temp}    access_log {workdir}/default.access.log;\n{conf}}}\n")


@pytest.fixture
def behind_nginx(redis_server, shared_store):
    if not Path(NGINX).exists():
        pytest.fail("nginx is missing: run `make system-deps` (installs Debian's nginx)")
    redis_server.cli("FLUSHALL")
    secret = "deploy-guide-" + secrets.token_hex(8)
    args = guide_serve_args()
    port, node_ports = free_port(), [free_port(), free_port()]
    # the names this test reaches the nodes by: nginx's, and each node's own (health checks)
    public = ",".join(f"127.0.0.1:{p}" for p in [port, *node_ports])
    nodes = [ServerProcess(*node_args(args, redis_url=redis_server.url, node_id=name, secret=secret,
                                      public_hosts=public, database_url=shared_store),
                           port=node_port, env={"LIVEBRIDGE_REDIS_HEARTBEAT": "0.3", "LIVEBRIDGE_REDIS_NODE_TTL": "1"})
             for name, node_port in zip(("guide-a", "guide-b"), node_ports)]
    workdir = Path(tempfile.mkdtemp(prefix="lb-nginx-"))
    proc = None
    try:
        for node in nodes:
            node.start()
        config = workdir / "nginx.conf"
        config.write_text(guide_nginx_conf([n.port for n in nodes], port, workdir))
        check = subprocess.run([NGINX, "-t", "-p", str(workdir), "-c", str(config), "-e",
                                str(workdir / "startup.error.log")],
                               capture_output=True, text=True, timeout=20)
        assert check.returncode == 0, check.stderr + config.read_text()
        proc = subprocess.Popen([NGINX, "-p", str(workdir), "-c", str(config), "-e",
                                 str(workdir / "startup.error.log")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_port(port, proc=proc)
        yield f"http://127.0.0.1:{port}", nodes, workdir
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for node in nodes:
            node.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def connections(node: ServerProcess) -> int:
    status, body = node.get("/healthz")
    assert status == 200, body
    return body["connections"]


def test_the_web_page_works_through_the_guides_nginx(behind_nginx, pages):  # noqa: F811
    base, nodes, workdir = behind_nginx
    for path in ("/livez", "/healthz"):
        with urllib.request.urlopen(base + path, timeout=5) as response:
            assert response.status == 200
    room = "guide-" + secrets.token_hex(3)
    ann, bo = pages.new(), pages.new()
    join_room(ann, base, room, "Ann", "en")  # a guest sign-in and a WebSocket, via nginx
    join_room(bo, base, room, "Bo", "zh")
    deadline = time.monotonic() + 5
    while sum(connections(n) for n in nodes) < 2:
        assert time.monotonic() < deadline, "the pages' WebSockets did not reach the nodes"
        time.sleep(0.05)
    spread = [connections(n) for n in nodes]
    send(ann, "hello through nginx")
    expect(message(bo, "hello through nginx")).to_be_visible()
    send(bo, "你好，经过 nginx")
    expect(message(ann, "你好，经过 nginx")).to_be_visible()
    # the nginx logs show the /ws requests (logged when they end), never a token
    for page in (ann, bo):
        page.context.close()
    access_log = workdir / "livebridge.access.log"
    deadline = time.monotonic() + 5
    while len(re.findall(r'"GET /ws HTTP/1\.1" 101 ', access_log.read_text())) < 2:
        assert time.monotonic() < deadline, access_log.read_text()
        time.sleep(0.05)
    for log in workdir.glob("*.log"):
        assert "token=" not in log.read_text(), f"{log.name} holds a token"
    print(f"\nWebSockets per node behind nginx: {spread}")
