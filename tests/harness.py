"""Real parts for tests: a redis-server and LiveBridge server processes on free loopback ports.

Both run as child processes that the tests can stop, kill (SIGKILL) and restart. Nothing
here talks to the Redis on 6379.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def http_parsers() -> list[str]:
    """The ``--http-parser`` values a test of the HTTP edge runs under: both of uvicorn's
    (httptools, the default, is a dependency; h11 is uvicorn's own)."""
    return ["h11", "httptools"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 15.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout}s")



async def until(predicate, timeout: float = 5.0, what: str = "condition", interval: float = 0.01) -> None:
    """Wait until ``predicate()`` is true, checking every ``interval``; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not met within {timeout}s"
        await asyncio.sleep(interval)

class RedisServer:
    """A private redis-server on a free port (no persistence)."""

    def __init__(self, port: int | None = None, extra: list[str] | None = None) -> None:
        self.port = port or free_port()
        self.extra = extra or []
        self.dir = tempfile.mkdtemp(prefix="lb-redis-")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run `make system-deps`")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--protected-mode", "no", *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, proc=self.proc)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def cli(self, *args: str) -> str:
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], check=True,
                              capture_output=True, text=True).stdout

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class ServerProcess:
    """``livebridge serve`` as a child process on a free port."""

    def __init__(self, *args: str, port: int | None = None, env: dict[str, str] | None = None,
                 translation: str = "off", relaxed_limits: bool = True) -> None:
        self.port = port or free_port()
        self.args = list(args)
        if "--translation" not in args:
            self.args += ["--translation", translation]
        if relaxed_limits and "--rate-user" not in args:
            # Tests send faster than people type; tests of the limits pass their own.
            self.args += ["--rate-user", "1000", "--rate-user-burst", "1000", "--rate-connection", "1000",
                          "--rate-connection-burst", "1000", "--flood-max", "0",
                          "--rate-frames", "100000", "--rate-frames-burst", "100000"]
        # Tests open many connections and rooms from one address; the tests of those bounds
        # (tests/security) pass their own options, which win over these variables.
        relaxed = {"LIVEBRIDGE_MAX_CONNECTIONS_PER_ADDRESS": "100000", "LIVEBRIDGE_ROOM_CREATE_RATE": "1000",
                   "LIVEBRIDGE_ROOM_CREATE_BURST": "100000"} if relaxed_limits else {}
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **relaxed, **(env or {})}
        if "--data-dir" not in args and not (env or {}).get("LIVEBRIDGE_DATA_DIR"):
            # Each test server has a data directory of its own (never the user's), kept across
            # its restarts as an operator's would be: forget_data() is a new machine.
            self.forget_data()
        self.proc: subprocess.Popen | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="lb-server-", suffix=".log")[1])

    def forget_data(self) -> None:
        """Start from an empty data directory at the next start (a new token secret...)."""
        self.env["LIVEBRIDGE_DATA_DIR"] = tempfile.mkdtemp(prefix="lb-data-")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self, timeout: float = 60.0) -> "ServerProcess":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chatserver.cli", "serve", "--host", "127.0.0.1",
             "--port", str(self.port), *self.args],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, OSError, ConnectionError):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server not healthy after {timeout}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-20000:]
        except OSError:
            return ""

    def get(self, path: str, token: str | None = None) -> tuple[int, Any]:
        return self.request("GET", path, token=token)

    def post(self, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        return self.request("POST", path, body, token=token)

    def request(self, method: str, path: str, body: Any = None, *, token: str | None = None,
                raw: bytes | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                payload = response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            payload, status = exc.read(), exc.code
        try:
            return status, json.loads(payload)
        except ValueError:
            return status, payload.decode(errors="replace")

    def token(self, name: str = "Ann", lang: str = "en") -> str:
        status, body = self.post("/api/token", {"name": name, "lang": lang})
        assert status == 201, body
        return body["token"]


async def drain(client, quiet: float = 0.5) -> list[dict]:
    """Every event a LiveBridgeClient receives until nothing arrives for ``quiet`` seconds."""
    import asyncio

    events = []
    while True:
        try:
            events.append(await client.next_event(quiet))
        except asyncio.TimeoutError:
            return events
