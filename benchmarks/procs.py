"""Child processes of a benchmark run: a private redis-server and the servers under test.

Every process listens on a free loopback port (never Redis's 6379) and is stopped at the
end of the run, whatever happens; the servers are pinned to the server core when asked.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks.sysinfo import pin

ROOT = Path(__file__).resolve().parent.parent
# "livebridge-nostore": LiveBridge with its durable store off (--no-store), to measure what the
# store costs in the same run.
# "livebridge-compared": LiveBridge from another checkout (``root``, --compare-root).
SERVERS = ("livebridge", "livebridge-nostore", "livebridge-compared", "socketio", "raw")


def free_port() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port != 6379:
            return port


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30.0, what: str = "process") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{what}: nothing listens on port {port} after {timeout}s")


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the benchmark process dies (Linux prctl)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Child:
    """A child process with a log file, stopped with SIGTERM (then SIGKILL)."""

    def __init__(self, name: str, argv: list[str], port: int, cpus: set[int] | None,
                 env: dict[str, str] | None = None, cwd: Path = ROOT) -> None:
        self.name = name
        self.cwd = cwd
        self.argv = argv
        self.port = port
        self.cpus = cpus
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        fd, path = tempfile.mkstemp(prefix=f"lb-bench-{name}-", suffix=".log")
        os.close(fd)
        self.log_path = Path(path)
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> "Child":
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         preexec_fn=_die_with_parent)
        pin(self.proc.pid, self.cpus)
        try:
            wait_port(self.port, self.proc, timeout, self.name)
        except Exception as exc:
            self.stop()
            raise RuntimeError(f"{exc}\n--- {self.name} log ---\n{self.log()}") from None
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""


def start_redis(cpus: set[int] | None) -> Child:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server, or `make system-deps`)")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="lb-bench-redis-")
    child = Child("redis", [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no", "--dir", workdir, "--protected-mode", "no",
                            "--maxclients", "20000"], port, cpus)
    child.url = f"redis://127.0.0.1:{port}/0"  # type: ignore[attr-defined]
    return child.start()


def start_server(kind: str, *, cpus: set[int] | None, redis_url: str | None = None,
                 node: int = 0, extra: list[str] | None = None, root: Path | None = None) -> Child:
    """One node of ``kind`` (livebridge, socketio or raw) on a free port; ``root``: run the
    server from another checkout (to compare two versions side by side)."""
    port = free_port()
    py = sys.executable
    if kind.startswith("livebridge"):
        if kind == "livebridge-nostore":
            extra = [*(extra or []), "--no-store"]
        argv = [py, "-m", "chatserver.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                "--translation", "off", "--log-level", "warning", "--node-id", f"bench-{node}",
                "--max-connections-per-user", "1000000",
                # the load generator sends faster than a person: lift the per-connection frame cap
                "--rate-frames", "1000000", "--rate-frames-burst", "1000000", *(extra or [])]
        if redis_url:
            argv += ["--redis-url", redis_url]
    elif kind == "socketio":
        argv = [py, "-m", "benchmarks.peers.sio", "--port", str(port)]
        if redis_url:
            argv += ["--redis-url", redis_url]
    elif kind == "raw":
        if redis_url:
            raise ValueError("the raw websockets peer is one process; it cannot use Redis")
        argv = [py, "-m", "benchmarks.peers.raw_ws", "--port", str(port)]
    else:
        raise ValueError(f"unknown server {kind!r}: one of {', '.join(SERVERS)}")
    # A data directory of its own: a benchmark never reads or writes the operator's.
    # The load comes from one address: lift the per-address caps (as variables, which a
    # server from an older checkout ignores, where an unknown option would stop it).
    env = {"LIVEBRIDGE_DATA_DIR": tempfile.mkdtemp(prefix="lb-bench-data-"),
           "LIVEBRIDGE_MAX_CONNECTIONS_PER_ADDRESS": "10000000", "LIVEBRIDGE_MAX_CONNECTIONS": "10000000",
           "LIVEBRIDGE_ROOM_CREATE_RATE": "1000000", "LIVEBRIDGE_ROOM_CREATE_BURST": "10000000",
           "LIVEBRIDGE_GUEST_TOKEN_BURST": "10000000"} if kind.startswith("livebridge") else None
    return Child(f"{kind}-{node}", argv, port, cpus, env=env, cwd=root or ROOT).start()


def http_json(url: str, payload: dict | None = None, timeout: float = 10.0) -> dict:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())
