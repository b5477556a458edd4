"""Join storm: thousands of different people join one room, as when a stream starts.

``livebridge bench joinstorm --members 1000,5000,10000`` starts a fresh node (memory engine;
``--nodes 2`` puts two nodes on a private Redis), then opens ``--members`` connections, each
a distinct user with its own token (signed here with the node's secret, as an operator's
``livebridge token`` would; both languages, alternating), ``--concurrency`` at a time, and
joins each to one room. It reports the time to fill the room, joins per second, the join
latency (connect to ``joined``) p50/p99, the server CPU per join for each block of 1,000
joins (the figure that must not grow with the room) and the frames each member received
while the room filled. Peers have no presence, so there is nothing to set beside it.

The generator runs in this process (one core); it is lean (a prefix test per frame), and its
own CPU is reported so a generator-bound run is visible as such.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks import procs, profiles, wsclient
from benchmarks.tokens import user_token
from benchmarks.sysinfo import cpu_seconds, machine, pin, pinning_plan, raise_nofile

ROOM = "stage"
BLOCK = 1000  # joins per CPU sample


@dataclass
class StormResult:
    server: str
    members: int
    nodes: int
    engine: str
    joined: int = 0
    failed: int = 0
    fill_seconds: float = 0.0
    joins_per_second: float = 0.0
    join_p50_ms: float = 0.0
    join_p99_ms: float = 0.0
    server_cpu_ms_per_join: float = 0.0
    cpu_ms_per_join_by_block: list[float] = field(default_factory=list)
    cpu_ms_per_join_by_process: dict[str, float] = field(default_factory=dict)  # node0, node1, redis
    generator_cpu_share: float = 0.0
    frames_per_member: float = 0.0
    redis_commands_per_pipeline: float = 0.0  # how many joins' commands shared a write (Redis only)
    errors: list[str] = field(default_factory=list)
    profile: dict | None = None


class Viewer:
    """One lean connection: counts frames, resolves a future at welcome and at joined/error."""

    __slots__ = ("ws", "frames", "_waiting", "_want")

    def __init__(self) -> None:
        self.ws: wsclient.LeanWebSocket | None = None
        self.frames = 0
        self._waiting: asyncio.Future | None = None
        self._want: tuple[bytes, ...] = ()

    def on_frame(self, payload: bytes) -> None:
        self.frames += 1
        waiting = self._waiting
        if waiting is not None and not waiting.done() and payload.startswith(self._want):
            waiting.set_result(payload)

    async def wait(self, *prefixes: bytes, timeout: float) -> bytes:
        self._want = prefixes
        self._waiting = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.wait_for(self._waiting, timeout)
        finally:
            self._waiting = None


async def _storm(ports: list[int], secret: str, members: int, concurrency: int, pids: list[int],
                 result: StormResult, timeout: float) -> list[Viewer]:
    viewers: list[Viewer] = []
    latencies: list[float] = []
    cpu_marks = [sum(cpu_seconds(p) for p in pids)]
    cpu_start = [cpu_seconds(p) for p in pids]
    gen0 = time.process_time()
    next_index = 0
    done = 0
    lock = asyncio.Lock()
    join = json.dumps({"type": "join", "room": ROOM}).encode()

    async def one(i: int) -> None:
        nonlocal done
        viewer = Viewer()
        started = time.perf_counter()
        try:
            viewer.ws = await wsclient.connect("127.0.0.1", ports[i % len(ports)], f"/ws?token={user_token(secret, i, prefix='storm')}",
                                               viewer.on_frame, subprotocol="livebridge.v1.json",
                                               timeout=timeout)
            if viewer.frames == 0:
                await viewer.wait(b'{"type":"welcome"', timeout=timeout)
            viewer.ws.send(join)
            reply = await viewer.wait(b'{"type":"joined"', b'{"type":"error"', timeout=timeout)
            if not reply.startswith(b'{"type":"joined"'):
                raise RuntimeError(reply[:120].decode(errors="replace"))
        except Exception as exc:  # counted, and the first few kept for the report
            result.failed += 1
            if len(result.errors) < 5:
                result.errors.append(f"{type(exc).__name__}: {exc}")
            return
        latencies.append(time.perf_counter() - started)
        viewers.append(viewer)
        async with lock:
            done += 1
            if done % BLOCK == 0:
                cpu_marks.append(sum(cpu_seconds(p) for p in pids))

    async def lane() -> None:
        nonlocal next_index
        while next_index < members:
            i, next_index = next_index, next_index + 1
            await one(i)

    t0 = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    result.fill_seconds = time.perf_counter() - t0
    cpu_each = [cpu_seconds(p) for p in pids]
    cpu_end = sum(cpu_each)
    result.joined = len(latencies)
    result.joins_per_second = result.joined / result.fill_seconds if result.fill_seconds else 0.0
    if latencies:
        ordered = sorted(latencies)
        result.join_p50_ms = statistics.median(ordered) * 1000
        result.join_p99_ms = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    result.server_cpu_ms_per_join = (cpu_end - cpu_marks[0]) * 1000 / max(1, result.joined)
    names = [f"node{i}" for i in range(len(ports))] + ["redis"] * (len(pids) - len(ports))
    result.cpu_ms_per_join_by_process = {name: round((b - a) * 1000 / max(1, result.joined), 3)
                                         for name, a, b in zip(names, cpu_start, cpu_each)}
    result.cpu_ms_per_join_by_block = [round((b - a) * 1000 / BLOCK, 3) for a, b in zip(cpu_marks, cpu_marks[1:])]
    result.generator_cpu_share = (time.process_time() - gen0) / result.fill_seconds if result.fill_seconds else 0.0
    return viewers


def run_one(members: int, *, nodes: int, concurrency: int, timeout: float, pinned: bool,
            root: Path | None = None, label: str = "livebridge", profile: str | None = None) -> StormResult:
    server_cpus, generator_cpus = pinning_plan(pinned)
    secret = secrets.token_hex(24)
    redis = procs.start_redis(server_cpus) if nodes > 1 else None
    servers = []
    result = StormResult(server=label, members=members, nodes=nodes, engine="redis" if redis else "memory")
    try:
        for node in range(nodes):
            servers.append(procs.start_server("livebridge", cpus=server_cpus, node=node,
                                              redis_url=redis.url if redis else None,  # type: ignore[attr-defined]
                                              extra=[f"--secret={secret}"], root=root))
        if generator_cpus:
            pin(0, generator_cpus)
        pids = [s.pid for s in servers] + ([redis.pid] if redis else [])
        recording = None
        if profile:
            path = Path(profile) / f"joinstorm-{label}-n{nodes}-m{members}.collapsed"
            proc = profiles.start_recording(servers[0].pid, path)
            recording = (proc, path) if proc is not None else None
        result.frames_per_member = asyncio.run(_run(servers, secret, members, concurrency, pids, result,
                                                    timeout))
        if redis is not None:
            result.redis_commands_per_pipeline = _pipelining(servers)
        if recording is not None:
            result.profile = profiles.stop_recording(*recording)
    finally:
        for server in servers:
            server.stop()
        if redis is not None:
            redis.stop()
    return result


async def _run(servers, secret, members, concurrency, pids, result, timeout) -> float:
    viewers = await _storm([s.port for s in servers], secret, members, concurrency, pids, result, timeout)
    frames = sum(v.frames for v in viewers) / max(1, len(viewers))
    for viewer in viewers:
        if viewer.ws is not None:
            viewer.ws.close()
    return round(frames, 1)


def _pipelining(servers) -> float:
    """Redis commands per pipeline over the nodes' lives (0 when a node does not say)."""
    pipelines = commands = 0
    for server in servers:
        try:
            body = procs.http_json(f"http://127.0.0.1:{server.port}/healthz")
        except Exception:  # an older checkout (--compare-root) may not say
            continue
        counted = body.get("engine", {}).get("pipelined") or {}
        pipelines += counted.get("pipelines", 0)
        commands += counted.get("commands", 0)
    return round(commands / pipelines, 1) if pipelines else 0.0


def plot(results: list[StormResult], path: Path) -> Path:
    """Server CPU per join against the room's size, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for r in results:
        xs = [BLOCK * (i + 1) for i in range(len(r.cpu_ms_per_join_by_block))]
        ax.plot(xs, r.cpu_ms_per_join_by_block, marker="o",
                label=f"{r.server}, {r.engine}, {r.nodes} node(s), {r.members:,} members")
    ax.set_xlabel("users in the room")
    ax.set_ylabel("server CPU per join (ms), per 1,000 joins")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def report(results: list[StormResult]) -> str:
    m = machine()
    lines = ["# Join storm: distinct users into one room", "",
             f"{m['cpu']} ({m['cores']} cores), Python {m['python']}, {time.strftime('%Y-%m-%d %H:%M')}", "",
             "| server | engine | nodes | members | joined | failed | fill (s) | joins/s | join p50 (ms) | join p99 (ms) "
             "| server CPU per join (ms) | CPU per join, first / last 1,000 (ms) | by process (ms) "
             "| frames per member | generator CPU |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        blocks = r.cpu_ms_per_join_by_block
        first_last = f"{blocks[0]:.2f} / {blocks[-1]:.2f}" if blocks else "-"
        lines.append(f"| {r.server} | {r.engine} | {r.nodes} | {r.members:,} | {r.joined:,} | {r.failed} | {r.fill_seconds:.1f} "
                     f"| {r.joins_per_second:,.0f} | {r.join_p50_ms:.1f} | {r.join_p99_ms:.1f} "
                     f"| {r.server_cpu_ms_per_join:.2f} | {first_last} "
                     f"| {', '.join(f'{k} {v:.2f}' for k, v in r.cpu_ms_per_join_by_process.items())} "
                     f"| {r.frames_per_member:.1f} "
                     f"| {r.generator_cpu_share:.2f} |")
    piped = [r for r in results if r.redis_commands_per_pipeline]
    if piped:
        lines += ["", "Redis commands per pipeline (concurrent joins' commands sharing one write): "
                  + ", ".join(f"{r.server} {r.members:,}: {r.redis_commands_per_pipeline}" for r in piped)]
    errors = [e for r in results for e in r.errors]
    if errors:
        lines += ["", "Errors (first few):", *[f"- {e}" for e in errors]]
    lines += ["", "Server CPU per join is the node's (and Redis's) CPU time over the fill divided by the joins; "
              "'first / last 1,000' compares the first and the last block of 1,000 joins, which must not grow "
              "with the room. Generator CPU near 1.0 means the generator, not the server, was the limit."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="livebridge bench joinstorm", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--members", default="1000,5000,10000", help="room sizes to fill (a list runs each)")
    parser.add_argument("--nodes", type=int, default=1, help="nodes (over a private Redis when > 1)")
    parser.add_argument("--concurrency", type=int, default=100, help="joins under way at once")
    parser.add_argument("--timeout", type=float, default=30.0, help="longest wait for one join")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the node(s) and the generator")
    parser.add_argument("--compare-root", default=None,
                        help="also run each size against the server in this other checkout (e.g. a "
                             "`git worktree` of an older commit), side by side")
    parser.add_argument("--profile", default=None, help="record node 0 with py-spy into this directory")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    parser.add_argument("--name", default=None)


def run(args: argparse.Namespace) -> int:
    raise_nofile()
    sizes = [int(s) for s in str(args.members).split(",") if s]
    results = []
    for n in sizes:
        if args.compare_root:
            results.append(run_one(n, nodes=args.nodes, concurrency=args.concurrency, timeout=args.timeout,
                                   pinned=not args.no_pin, root=Path(args.compare_root), label="compared"))
        results.append(run_one(n, nodes=args.nodes, concurrency=args.concurrency, timeout=args.timeout,
                               pinned=not args.no_pin, profile=args.profile))
    text = report(results)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = args.name or f"joinstorm-{time.strftime('%Y%m%d-%H%M%S')}"
    (out / f"{stem}.md").write_text(text)
    (out / f"{stem}.json").write_text(json.dumps([asdict(r) for r in results], indent=2))
    print(f"md: {out / (stem + '.md')}\njson: {out / (stem + '.json')}")
    try:
        print(f"png: {plot(results, out / f'{stem}-cpu-per-join.png')}")
    except ImportError:  # matplotlib is in the bench extra
        pass
    return 0 if all(r.failed == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
