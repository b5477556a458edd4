"""A Redis Cluster of private redis-servers on free ports, for tests: three masters, and
optionally a replica for each (``replicas=1``: the 3 + 3 cluster docs/deploy.md recommends),
with ``cluster-require-full-coverage no`` so one shard's failover leaves the others serving."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time

from tests.harness import free_port, wait_port


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is valid and free too."""
    import socket

    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


class RedisClusterServers:
    """`redis-server --cluster-enabled yes` processes joined by `redis-cli --cluster create`."""

    def __init__(self, masters: int = 3, replicas: int = 0, node_timeout_ms: int = 2000) -> None:
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.ports = [cluster_port() for _ in range(masters * (1 + replicas))]
        self.dir = tempfile.mkdtemp(prefix="lb-rcluster-")
        self.procs: list[subprocess.Popen] = []

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    @property
    def seeds_url(self) -> str:
        """Every node as a seed (what docs/deploy.md recommends)."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def start(self) -> "RedisClusterServers":
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run `make system-deps`")
        for port in self.ports:
            proc = subprocess.Popen(
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", self.dir, "--protected-mode", "no",
                 "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
                 "--cluster-node-timeout", str(self.node_timeout_ms),
                 "--cluster-require-full-coverage", "no",
                 # A replica's first sync starts at once, not after the default 5 s wait for
                 # more replicas to share the transfer (tests wait for every replica's link).
                 "--repl-diskless-sync-delay", "0"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.procs.append(proc)
        for port, proc in zip(self.ports, self.procs):
            wait_port(port, proc=proc)
        subprocess.run(["redis-cli", "--cluster", "create",
                        *[f"127.0.0.1:{p}" for p in self.ports],
                        "--cluster-replicas", str(self.replicas), "--cluster-yes"],
                       check=True, capture_output=True, text=True, timeout=60)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if (all("cluster_state:ok" in self.cli(p, "cluster", "info") for p in self.ports)
                    and self._replicas_up() == len(self.ports) - len(self.ports) // (1 + self.replicas)):
                return self
            time.sleep(0.1)
        raise TimeoutError("the Redis Cluster did not reach cluster_state:ok")

    def flush(self) -> None:
        """FLUSHALL on every live master (replicas refuse writes and follow their master)."""
        import redis

        for port, proc in zip(self.ports, self.procs):
            if proc.poll() is not None:
                continue
            with redis.Redis(port=port, socket_timeout=5) as client:
                if client.execute_command("ROLE")[0] == b"master":
                    client.flushall()

    def _replicas_up(self) -> int:
        """How many nodes are replicas with their link to the master up. Right after
        ``--cluster create`` a replica-to-be still says role:master for a moment, and writes
        made then never reach it (a failover would lose them)."""
        linked = online = 0
        for port in self.ports:
            info = self.cli(port, "info", "replication")
            linked += "role:slave" in info and "master_link_status:up" in info
            if "role:master" in info:
                online += info.count("state=online")  # the master counts it (WAIT does then)
        return min(linked, online)

    def master_offset(self, master_port: int) -> int:
        """The replication offset the master on ``master_port`` has reached."""
        info = self.cli(master_port, "info", "replication")
        return int(re.search(r"master_repl_offset:(\d+)", info).group(1))

    def replica_caught_up(self, master_port: int, offset: int | None = None) -> bool:
        """Whether a replica of the master on ``master_port`` has acked ``offset`` (default:
        all it was sent). While writes go on, pass the master's offset of the moment that
        matters: "all" moves on with every write, and replicas ack about once a second."""
        info = self.cli(master_port, "info", "replication")
        master = int(re.search(r"master_repl_offset:(\d+)", info).group(1)) if offset is None else offset
        return any(int(m) >= master for m in re.findall(r"slave\d+:.*?offset=(\d+)", info))

    def role(self, port: int) -> str:
        """"master" or "slave" (what ROLE says), "down" when the server does not answer."""
        try:
            out = subprocess.run(["redis-cli", "-p", str(port), "role"], capture_output=True,
                                 text=True, timeout=2).stdout.split()
        except subprocess.TimeoutExpired:
            return "down"
        return out[0] if out else "down"

    def masters(self) -> list[int]:
        return [p for p in self.ports if self.proc_of(p).poll() is None and self.role(p) == "master"]

    def replica_of(self, master_port: int) -> int:
        """The port of a replica of the master on ``master_port``."""
        for entry in self.cli(master_port, "cluster", "replicas",
                              self.cli(master_port, "cluster", "myid").strip()).splitlines():
            addr = entry.split()[1]  # host:port@bus
            return int(addr.split("@")[0].rsplit(":", 1)[1])
        raise LookupError(f"{master_port} has no replica")

    def proc_of(self, port: int) -> subprocess.Popen:
        return self.procs[self.ports.index(port)]

    def kill(self, port: int) -> None:
        """SIGKILL the server on ``port`` (no goodbye to the cluster)."""
        proc = self.proc_of(port)
        proc.kill()
        proc.wait(10)

    def cli(self, port: int, *args: str) -> str:
        return subprocess.run(["redis-cli", "-p", str(port), *args], check=True,
                              capture_output=True, text=True).stdout

    def port_of(self, key: str) -> int:
        """The port of the master serving ``key``'s slot."""
        alive = [p for p in self.ports if self.proc_of(p).poll() is None]
        slot = int(self.cli(alive[0], "cluster", "keyslot", key).strip())
        for port in alive:
            for entry in self.cli(port, "cluster", "nodes").splitlines():
                parts = entry.split()
                if "myself" not in parts[2]:
                    continue
                for rng in parts[8:]:
                    lo, _, hi = rng.partition("-")
                    if lo.isdigit() and int(lo) <= slot <= int(hi or lo):
                        return port
        raise LookupError(f"no master serves slot {slot}")

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs = []
        shutil.rmtree(self.dir, ignore_errors=True)
