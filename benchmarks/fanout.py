"""``livebridge bench fanout``: servers under load from a multi-process generator.

For each server (LiveBridge, and the peers in the same run) and each room size, the
orchestrator starts the server's node(s) (and a private redis-server when needed) pinned to
the server core, starts generator processes pinned to the other core(s), has them connect
and join every member, then runs a sweep of message rates on the same connections. Each
step measures every delivery's send-to-receipt latency, deliveries per second, server and
generator CPU, RSS per node and disconnects. A step is *sustained* when every message
reached every member, nobody was disconnected and the last delivery came within a second
of the last send; the sweep stops after the first step that is not, unless the generator was
the limit (its cores nearly full): then the server's ceiling was not reached, and the sweep goes
on to measure the server's CPU per delivery, the figure to compare in such steps.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import secrets
import time
from pathlib import Path
from array import array
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import wait as mp_wait
from typing import Any

from benchmarks import procs
from benchmarks.loadgen import SLOW_CONSUMER, worker_main
from benchmarks.sysinfo import CoreMeter, CpuMeter, counters_delta, descendants, machine, pinning_plan, proc_counters, raise_nofile, rss_bytes

try:
    from tqdm import tqdm
except ImportError:  # the bench extra is not installed: no progress bar
    tqdm = None


@dataclass
class FanoutConfig:
    servers: list[str] = field(default_factory=lambda: ["livebridge"])
    nodes: int = 1
    rooms: int = 1
    members: list[int] = field(default_factory=lambda: [100])
    senders: int = 1  # per room
    rates: list[float] = field(default_factory=lambda: [10.0])  # messages/s per room
    duration: float = 5.0  # seconds per step
    message_size: int = 100
    codec: str = "json"
    workers: int = 2
    connect_rate: float = 0.0  # connections/s over all workers; 0 = as fast as they go
    connect_concurrency: int = 200  # per worker
    connect_timeout: float = 30.0
    idle: float = 0.0  # seconds to hold the connections idle before measuring memory again
    drain: float = 5.0  # longest wait for late deliveries after a step
    pin: bool = True
    stop_on_saturation: bool = True
    socketio_manager: str = "redis"  # redis (AsyncRedisManager) or memory
    scenario: str = "custom"
    progress: bool = True
    profile: str = ""  # directory: py-spy records node 0 during the steps (collapsed stacks)
    # Every LiveBridge connection its own user (a token signed with the nodes' secret), as in a
    # real room; otherwise one guest user per generator process (the peers have no users).
    distinct_users: bool = False
    # Another checkout of LiveBridge (a worktree of the base): its node runs as the server
    # "livebridge-compared", beside this checkout's, in the same run.
    compare_root: str = ""

    def validate(self) -> None:
        for s in self.servers:
            if s not in procs.SERVERS:
                raise ValueError(f"unknown server {s!r}: one of {', '.join(procs.SERVERS)}")
        if self.nodes < 1 or self.rooms < 1 or self.workers < 1 or self.duration <= 0:
            raise ValueError("nodes, rooms, workers and duration must be positive")
        if "livebridge-compared" in self.servers and not self.compare_root:
            raise ValueError("the server livebridge-compared needs --compare-root")
        if self.compare_root and not (Path(self.compare_root) / "chatserver" / "cli.py").is_file():
            raise ValueError(f"--compare-root {self.compare_root}: not a LiveBridge checkout")
        if any(m < 1 for m in self.members) or self.senders < 0:
            raise ValueError("members must be >= 1 and senders >= 0")
        if any(m < self.senders for m in self.members):
            raise ValueError("senders per room cannot exceed members per room")
        if self.codec not in ("json", "msgpack"):
            raise ValueError("codec is json or msgpack")
        if len(self.rates) > 99:
            raise ValueError("at most 99 rate steps")


def percentiles(lat_us: array) -> dict[str, float]:
    if not lat_us:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None, "min_ms": None,
                "mean_ms": None}
    try:
        import numpy as np
    except ImportError:  # numpy comes with matplotlib (the bench extra); without it, sort
        a = sorted(lat_us)
        n = len(a)

        def pct(p: float) -> float:
            return round(a[min(n - 1, int(p / 100 * n))] / 1000.0, 3)

        return {"p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99), "max_ms": round(a[-1] / 1000, 3),
                "min_ms": round(a[0] / 1000, 3), "mean_ms": round(sum(a) / n / 1000, 3)}
    arr = np.frombuffer(lat_us, dtype=np.int64) / 1000.0
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {"p50_ms": round(float(p50), 3), "p95_ms": round(float(p95), 3),
            "p99_ms": round(float(p99), 3), "max_ms": round(float(arr.max()), 3),
            "min_ms": round(float(arr.min()), 3), "mean_ms": round(float(arr.mean()), 3)}


class Run:
    """One server at one room size: processes up, members connected, steps run."""

    def __init__(self, cfg: FanoutConfig, server: str, members: int) -> None:
        self.cfg = cfg
        self.server = server
        self.members_per_room = members
        self.redis: procs.Child | None = None
        self.nodes: list[procs.Child] = []
        self.workers: list[mp.Process] = []
        self.pipes: list[Any] = []
        self.server_cpus, self.gen_cpus = pinning_plan(cfg.pin)
        self.latencies: dict[int, array] = {}
        self.room_setup: dict[str, Any] | None = None
        self.secret: str | None = None  # the LiveBridge nodes' token secret

    # Processes -------------------------------------------------------------------------------

    def start_servers(self) -> None:
        cfg = self.cfg
        need_redis = cfg.nodes > 1 or (self.server == "socketio" and cfg.socketio_manager == "redis")
        if self.server == "raw" and cfg.nodes > 1:
            raise ValueError("the raw websockets peer runs as one node only")
        if need_redis:
            self.redis = procs.start_redis(self.server_cpus)
        redis_url = self.redis.url if self.redis else None  # type: ignore[attr-defined]
        extra = []
        if self.server.startswith("livebridge"):
            # one secret for all nodes, so a token from one works on any; "=" form and hex,
            # as a urlsafe secret may begin with "-" and read as an option
            self.secret = secrets.token_hex(24)
            extra = [f"--secret={self.secret}", "--allow-guests"]
        for node in range(cfg.nodes):
            root = Path(cfg.compare_root) if self.server == "livebridge-compared" else None
            self.nodes.append(procs.start_server(self.server, cpus=self.server_cpus,
                                                 redis_url=redis_url, node=node, extra=extra, root=root))
        if self.server.startswith("livebridge"):
            from benchmarks.adapters import livebridge_setup_rooms

            self.room_setup = livebridge_setup_rooms(f"http://127.0.0.1:{self.nodes[0].port}",
                                                     [f"bench-{r}" for r in range(cfg.rooms)])

    def start_workers(self) -> None:
        cfg = self.cfg
        plan = []
        for r in range(cfg.rooms):
            for j in range(self.members_per_room):
                plan.append((f"bench-{r}", j % cfg.nodes, j < cfg.senders))
        shares = [plan[w::cfg.workers] for w in range(cfg.workers)]
        # fork: a worker needs nothing the orchestrator has not imported, and starts in
        # milliseconds instead of re-importing everything (spawn)
        ctx = mp.get_context("fork")
        base = {
            "server": self.server, "codec": cfg.codec,
            "nodes": [("127.0.0.1", n.port) for n in self.nodes],
            "base_urls": [f"http://127.0.0.1:{n.port}" for n in self.nodes],
            "message_size": cfg.message_size, "connect_timeout": cfg.connect_timeout,
            "connect_rate": cfg.connect_rate / cfg.workers if cfg.connect_rate else 0.0,
            "connect_concurrency": cfg.connect_concurrency, "cpus": self.gen_cpus,
            "secret": self.secret if cfg.distinct_users else None,
        }
        for wid, share in enumerate(shares):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(wid, {**base, "members": share}, child),
                               daemon=True, name=f"bench-gen-{wid}")
            proc.start()
            child.close()
            self.workers.append(proc)
            self.pipes.append(parent)

    def start_profiler(self):
        """py-spy on node 0 for the steps, if asked and installed."""
        from benchmarks.profiles import start_recording

        if not self.cfg.profile:
            return None
        path = Path(self.cfg.profile) / f"{self.cfg.scenario}-{self.server}-m{self.members_per_room}.collapsed"
        proc = start_recording(self.nodes[0].pid, path)
        return (proc, path) if proc is not None else None

    def stop_profiler(self, profiler) -> dict[str, Any]:
        from benchmarks.profiles import stop_recording

        return stop_recording(*profiler)

    def stop(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(("stop",))
            except Exception:
                pass
        for proc in self.workers:
            proc.join(5)
            if proc.is_alive():
                proc.terminate()
                proc.join(2)
        for node in self.nodes:
            node.stop()
        if self.redis is not None:
            self.redis.stop()

    # Messages from workers ---------------------------------------------------------------------

    def _gather(self, kind: str, timeout: float, on_progress=None, until=None) -> dict[int, tuple]:
        """Wait for one ``kind`` message from every worker (progress goes to ``on_progress``)."""
        got: dict[int, tuple] = {}
        deadline = time.monotonic() + timeout
        while len(got) < len(self.pipes):
            if until is not None and until():
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.server}: workers did not answer {kind!r} in {timeout:.0f}s "
                                   f"({len(got)}/{len(self.pipes)})")
            for pipe in mp_wait(self.pipes, timeout=min(left, 0.25)):
                try:
                    msg = pipe.recv()
                except EOFError:
                    raise RuntimeError(f"{self.server}: a generator process died") from None
                if msg[0] == "crash":
                    raise RuntimeError(f"{self.server}: generator {msg[1]} crashed: {msg[2]}")
                if msg[0] == "progress":
                    if on_progress is not None:
                        on_progress(msg[1], msg[2])
                elif msg[0] == kind:
                    got[msg[1]] = msg
        return got

    # The run ---------------------------------------------------------------------------------

    def node_rss(self) -> list[int]:
        return [rss_bytes(n.pid) for n in self.nodes]

    def execute(self) -> dict[str, Any]:
        cfg = self.cfg
        result: dict[str, Any] = {"server": self.server, "members_per_room": self.members_per_room,
                                  "rooms": cfg.rooms, "nodes": cfg.nodes, "codec": cfg.codec,
                                  "senders_per_room": cfg.senders, "steps": []}
        self.start_servers()
        if self.room_setup is not None:
            result["room_setup"] = self.room_setup
        time.sleep(0.3)
        rss_base = self.node_rss()
        total = cfg.rooms * self.members_per_room
        t0 = time.monotonic()
        self.start_workers()
        gen_pids = [p.pid for p in self.workers]
        server_pids = [n.pid for n in self.nodes]
        meter = CpuMeter(server_pids + gen_pids + ([self.redis.pid] if self.redis else []))
        # the wanted connect rate may be more than a server takes: allow for 50 connections/s
        ready = self._gather("ready", timeout=60 + total / min(cfg.connect_rate or 50.0, 50.0))
        connect_wall = time.monotonic() - t0
        cpu = meter.read()
        connected = sum(m[2]["connected"] for m in ready.values())
        failures: dict[str, int] = {}
        connect_ms: list[float] = []
        rooms_count: dict[str, int] = {}
        for m in ready.values():
            connect_ms += m[2]["connect_ms"]
            for k, v in m[2]["failures"].items():
                failures[k] = failures.get(k, 0) + v
            for k, v in m[2]["rooms"].items():
                rooms_count[k] = rooms_count.get(k, 0) + v
        connect_ms.sort()
        setup_elapsed = max(m[2]["elapsed"] for m in ready.values())
        time.sleep(0.3)
        rss_after = self.node_rss()
        result["connect"] = {
            "wanted": total, "connected": connected, "failed": total - connected, "failures": failures,
            "seconds": round(setup_elapsed, 3), "rate_per_s": round(connected / setup_elapsed, 1) if setup_elapsed else None,
            "wall_seconds_incl_process_start": round(connect_wall, 3),
            "connect_p50_ms": round(connect_ms[len(connect_ms) // 2], 2) if connect_ms else None,
            "connect_p99_ms": round(connect_ms[int(len(connect_ms) * 0.99)], 2) if connect_ms else None,
            "server_cpu": [round(cpu[p], 3) for p in server_pids],
        }
        mem = {"rss_base_mb": [round(r / 2**20, 1) for r in rss_base],
               "rss_connected_mb": [round(r / 2**20, 1) for r in rss_after],
               "per_connection_kb": round((sum(rss_after) - sum(rss_base)) / max(1, connected) / 1024, 2)}
        if cfg.idle > 0:
            time.sleep(cfg.idle)
            rss_idle = self.node_rss()
            mem["idle_seconds"] = cfg.idle
            mem["rss_idle_mb"] = [round(r / 2**20, 1) for r in rss_idle]
            mem["per_connection_idle_kb"] = round((sum(rss_idle) - sum(rss_base)) / max(1, connected) / 1024, 2)
            if any(not n.alive() for n in self.nodes):
                raise RuntimeError(f"{self.server}: a node died while idle")
        result["memory"] = mem
        profiler = self.start_profiler()
        for index, rate in enumerate(cfg.rates):
            step = self.run_step(index, rate, rooms_count, server_pids, gen_pids)
            result["steps"].append(step)
            if cfg.stop_on_saturation and sweep_ends_after(step):
                break
        if profiler is not None:
            result["profile"] = self.stop_profiler(profiler)
        if self.server in ("livebridge", "livebridge-compared"):  # the store's write rate and commit lag
            try:
                result["store"] = procs.http_json(f"http://127.0.0.1:{self.nodes[0].port}/healthz").get("store")
            except Exception as exc:  # noqa: BLE001 - a 503 while commits fail is a result too
                result["store"] = {"error": str(exc)}
        result["summary"] = summarize(result["steps"])
        return result

    def run_step(self, index: int, rate: float, rooms_count: dict[str, int],
                 server_pids: list[int], gen_pids: list[int]) -> dict[str, Any]:
        cfg = self.cfg
        per_sender = rate / cfg.senders if cfg.senders else 0.0
        start_at = time.time() + 0.3
        for pipe in self.pipes:
            pipe.send(("step", index, per_sender, start_at, cfg.duration))
        estimate = int(rate * cfg.duration * sum(rooms_count.values()))
        bar = None
        if cfg.progress and tqdm is not None:
            bar = tqdm(total=estimate, unit="dlv", unit_scale=True, leave=False, mininterval=0.5,
                       desc=f"{self.server} m={self.members_per_room} {rate:g} msg/s/room")
        received: dict[int, int] = {}

        def on_progress(wid: int, counts: dict[int, int]) -> None:
            received[wid] = counts.get(index, 0)
            if bar is not None:
                bar.n = sum(received.values())
                bar.refresh()

        store_before = self.store_health()
        while time.time() < start_at:
            time.sleep(0.01)
        # a node's child processes (the archive writer) are the server's CPU too
        children = {p: descendants(p) for p in server_pids}
        child_pids = [c for cs in children.values() for c in cs]
        meter = CpuMeter(server_pids + child_pids + gen_pids + ([self.redis.pid] if self.redis else []))
        cores = CoreMeter()
        node_counters = {p: proc_counters(p) for p in server_pids + child_pids}
        sent_msgs = self._gather("sent", timeout=cfg.duration + 30, on_progress=on_progress)
        cpu = meter.read()  # over the sending window
        node_counters = counters_delta(node_counters, {p: proc_counters(p) for p in server_pids + child_pids})
        core_busy = cores.read()
        rss = self.node_rss()
        sent_by_room: dict[str, int] = {}
        late = 0
        for m in sent_msgs.values():
            late += m[3]["late"]
            for room, n in m[3]["sent"].items():
                sent_by_room[room] = sent_by_room.get(room, 0) + n
        expected = sum(n * rooms_count.get(room, 0) for room, n in sent_by_room.items())
        try:
            self._gather("never", timeout=cfg.drain, on_progress=on_progress,
                         until=lambda: sum(received.values()) >= expected)
        except TimeoutError:
            pass
        for pipe in self.pipes:
            pipe.send(("collect", index))
        results = self._gather("result", timeout=60, on_progress=on_progress)
        if bar is not None:
            bar.close()
        store_after = self.store_health()
        lat = array("q")
        acks = array("q")
        last_rx = 0
        errors: dict[str, int] = {}
        closes: dict[int, int] = {}
        still_open = 0
        for m in results.values():
            lat.frombytes(m[4])
            acks.frombytes(m[5])
            last_rx = max(last_rx, m[3]["last_rx_us"])
            still_open += m[3]["open"]
            for k, v in m[3]["errors"].items():
                errors[k] = errors.get(k, 0) + v
            for k, v in m[3]["closes"].items():
                closes[int(k)] = closes.get(int(k), 0) + v
        self.latencies[index] = lat
        delivered = len(lat)
        msgs = sum(sent_by_room.values())
        window = (last_rx / 1e6 - start_at) if last_rx else cfg.duration
        lag = (last_rx / 1e6 - (start_at + cfg.duration)) if last_rx else None
        disconnects = sum(closes.values())
        ratio = delivered / expected if expected else 1.0
        planned = per_sender * cfg.duration * cfg.senders * len(rooms_count)
        step = {
            "step": index, "rate_per_room": rate, "messages_sent": msgs,
            "planned_messages": round(planned), "late_sends": late,
            "expected_deliveries": expected, "delivered": delivered,
            "delivery_ratio": round(ratio, 5),
            "deliveries_per_s": round(delivered / window, 1) if window > 0 else None,
            "offered_deliveries_per_s": round(expected / cfg.duration, 1),
            "drain_lag_s": round(lag, 3) if lag is not None else None,
            **percentiles(lat),
            "server_cpu": [round(cpu[p], 3) for p in server_pids],
            # of each node's child processes (LiveBridge's archive writer), not in server_cpu
            "server_child_cpu": [round(sum(cpu[c] for c in children[p]), 3) for p in server_pids],
            "redis_cpu": round(cpu[self.redis.pid], 3) if self.redis else None,
            "generator_cpu": round(sum(cpu[p] for p in gen_pids), 3),
            "core_busy": core_busy,
            # Cores busy with anything but this benchmark (other jobs on the machine): noise.
            "other_load": round(max(0.0, sum(c["busy"] for c in core_busy.values())
                                    - sum(cpu.values())), 2),
            "rss_mb": [round(r / 2**20, 1) for r in rss],
            "disconnects": disconnects, "slow_consumer_disconnects": closes.get(SLOW_CONSUMER, 0),
            "close_codes": closes, "open_connections": still_open, "errors": errors,
        }
        if msgs:  # the nodes' (and their children's) user/system CPU and loop sleeps per message
            step["server_per_message"] = {
                "user_us": round(node_counters["user_s"] / msgs * 1e6, 1),
                "sys_us": round(node_counters["sys_s"] / msgs * 1e6, 1),
                "voluntary_switches": round(node_counters["voluntary_switches"] / msgs, 3),
                "involuntary_switches": round(node_counters["involuntary_switches"] / msgs, 3)}
        if acks:  # send -> ack (the commit's wait included), LiveBridge's JSON senders
            step["ack"] = {"acks": len(acks), **percentiles(acks)}
        commits = store_step(store_before, store_after)
        if commits is not None:
            step["store"] = commits
        step["sustained"] = bool(
            expected > 0 and ratio >= 0.999 and disconnects == 0 and lag is not None and lag < 1.0
            and msgs >= 0.95 * planned)
        step["server_cpu_us_per_delivery"] = cpu_per_delivery(step)
        step["limited_by"] = limited_by(step, self.generator_capacity())
        return step

    def store_health(self) -> dict[str, Any] | None:
        """Node 0's store counters (LiveBridge's /healthz), or None."""
        if self.server not in ("livebridge", "livebridge-compared"):
            return None
        try:
            return procs.http_json(f"http://127.0.0.1:{self.nodes[0].port}/healthz").get("store")
        except Exception:  # noqa: BLE001 - a 503 while commits fail: no counters for this step
            return None

    def generator_capacity(self) -> int:
        """Cores the generator can use: one per process at most, within its pinned cores."""
        cores = len(self.gen_cpus) if self.gen_cpus else (os.cpu_count() or 1)
        return max(1, min(self.cfg.workers, cores))


def store_step(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any] | None:
    """A step's archive commits from the store counters before and after it: batches,
    appends, appends per batch and the mean commit lag (submit -> commit) of its appends."""
    keys = ("batches", "appended")
    if not before or not after or any(not isinstance(s.get(k), int) for s in (before, after) for k in keys):
        return None
    batches = after["batches"] - before["batches"]
    appended = after["appended"] - before["appended"]

    def lag_sum(s: dict[str, Any]) -> float:
        return (s.get("commit_lag_ms", {}).get("mean") or 0.0) * s["appended"]

    return {"batches": batches, "appended": appended,
            "appends_per_batch": round(appended / batches, 2) if batches else None,
            "commit_lag_mean_ms": round((lag_sum(after) - lag_sum(before)) / appended, 3) if appended else None}


def sweep_ends_after(step: dict[str, Any]) -> bool:
    """Whether a rate sweep stops after ``step``: when it was not sustained, unless the
    generator was the limit (that says nothing of the server's ceiling, so the sweep goes on to
    measure the server's CPU per delivery at the higher rates)."""
    return not step["sustained"] and step.get("limited_by") != "generator"


def cpu_per_delivery(step: dict[str, Any]) -> float | None:
    """Server CPU µs per delivery in a step: the nodes, their child processes (the archive
    writer) and Redis. The figure to compare when the generator, not the server, is the limit."""
    rate = step.get("deliveries_per_s")
    if not rate:
        return None
    cpu = (sum(step.get("server_cpu") or []) + sum(step.get("server_child_cpu") or [])
           + (step.get("redis_cpu") or 0.0))
    return round(cpu * 1e6 / rate, 2)


def limited_by(step: dict[str, Any], generator_cores: int) -> str:
    """Which side bound a step: ``generator`` when its cores were >= 85% busy (the server's
    ceiling was not reached: compare CPU per delivery, not deliveries/s), ``server`` when a
    node was, else ``neither`` (the step was not saturated)."""
    if (step.get("generator_cpu") or 0.0) >= 0.85 * generator_cores:
        return "generator"
    if max(step.get("server_cpu") or [0.0]) >= 0.85:
        return "server"
    return "neither"


def summarize(steps: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [s for s in steps if s["sustained"]]
    best = max(steps, key=lambda s: s["deliveries_per_s"] or 0, default=None)
    summary: dict[str, Any] = {
        "peak_deliveries_per_s": best["deliveries_per_s"] if best else None,
        # "generator": the peak is the generator's, not the server's (see cpu_per_delivery)
        "peak_limited_by": best.get("limited_by") if best else None,
        "generator_bound_steps": sum(1 for s in steps if s.get("limited_by") == "generator"),
        "max_sustained_rate_per_room": ok[-1]["rate_per_room"] if ok else None,
        "max_sustained_deliveries_per_s": max((s["deliveries_per_s"] for s in ok), default=None),
        "saturated": len(ok) < len(steps),
    }
    if ok:
        half = ok[-1]["rate_per_room"] / 2
        below = [s for s in ok if s["rate_per_room"] <= half + 1e-9]
        near = below[-1] if below else ok[0]
        summary["half_max_step"] = {"rate_per_room": near["rate_per_room"], "p50_ms": near["p50_ms"],
                                    "p99_ms": near["p99_ms"], "max_ms": near["max_ms"]}
        summary["p99_at_half_max_ms"] = near["p99_ms"]
    return summary


def run_fanout(cfg: FanoutConfig) -> dict[str, Any]:
    """Run every server at every room size; return the result (and keep latencies for plots)."""
    cfg.validate()
    raise_nofile()
    server_cpus, gen_cpus = pinning_plan(cfg.pin)
    report: dict[str, Any] = {
        "kind": "fanout", "scenario": cfg.scenario, "config": asdict(cfg), "machine": machine(),
        "pinning": {"server_cores": sorted(server_cpus) if server_cpus else None,
                    "generator_cores": sorted(gen_cpus) if gen_cpus else None},
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "runs": [],
    }
    latencies: dict[tuple[str, int], dict[int, array]] = {}
    for members in cfg.members:
        for server in cfg.servers:
            run = Run(cfg, server, members)
            try:
                outcome = run.execute()
            except Exception as exc:
                outcome = {"server": server, "members_per_room": members, "error": f"{type(exc).__name__}: {exc}",
                           "steps": [], "summary": {}}
                for node in run.nodes:
                    outcome.setdefault("logs", {})[node.name] = node.log(2000)
            finally:
                run.stop()
            latencies[(server, members)] = run.latencies
            report["runs"].append(outcome)
    report["ratios"] = ratios(report["runs"])
    report["cpu_per_delivery"] = cpu_table(report["runs"])
    report["_latencies"] = latencies  # not serialised; for plots
    return report


def ratios(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each peer's throughput as a ratio to LiveBridge's, per room size (LiveBridge / peer)."""
    out = []
    by_size: dict[int, dict[str, dict]] = {}
    for r in runs:
        by_size.setdefault(r["members_per_room"], {})[r["server"]] = r
    for size, servers in sorted(by_size.items()):
        lb = servers.get("livebridge")
        if lb is None or not lb.get("summary", {}).get("peak_deliveries_per_s"):
            continue
        for name, r in servers.items():
            if name == "livebridge":
                continue
            peer = r.get("summary", {}).get("peak_deliveries_per_s")
            lb_peak = lb["summary"]["peak_deliveries_per_s"]
            out.append({"members_per_room": size, "peer": name,
                        "peer_peak_deliveries_per_s": peer,
                        "livebridge_peak_deliveries_per_s": lb_peak,
                        "livebridge_over_peer": round(lb_peak / peer, 3) if peer else None})
    return out


def cpu_table(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Server CPU µs per delivery of every server at each room size and rate, with each
    peer's ratio to LiveBridge (LiveBridge / peer: below 1, LiveBridge spends less). This holds
    whether or not the generator was the limit, so it is the comparison a generator-bound run
    still makes."""
    rows: dict[tuple[int, float], dict[str, Any]] = {}
    seen: dict[tuple[str, int], int] = {}
    for r in runs:
        # a server listed twice (alternating A B B A) is reported as "name", then "name 2"
        n = seen[(r["server"], r["members_per_room"])] = seen.get((r["server"], r["members_per_room"]), 0) + 1
        name = r["server"] if n == 1 else f"{r['server']} {n}"
        for s in r.get("steps", []):
            key = (r["members_per_room"], s["rate_per_room"])
            row = rows.setdefault(key, {"members_per_room": key[0], "rate_per_room": key[1],
                                        "us_per_delivery": {}, "limited_by": {}})
            row["us_per_delivery"][name] = s.get("server_cpu_us_per_delivery", cpu_per_delivery(s))
            row["limited_by"][name] = s.get("limited_by")
    out = []
    for _, row in sorted(rows.items()):
        lb = row["us_per_delivery"].get("livebridge")
        row["livebridge_over"] = {name: round(lb / us, 3) for name, us in row["us_per_delivery"].items()
                                  if name != "livebridge" and lb and us}
        out.append(row)
    return out
