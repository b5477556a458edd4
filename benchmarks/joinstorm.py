"""Join storm: thousands of different people join one room, as when a stream starts.

``livebridge bench joinstorm --members 1000,5000,10000`` starts a fresh node (memory engine;
``--nodes 2`` puts two nodes on a private Redis), then opens ``--members`` connections, each
a distinct user with its own token (signed here with the node's secret, as an operator's
``livebridge token`` would; both languages, alternating), ``--concurrency`` at a time, and
joins each to one room. It reports the time to fill the room, joins per second, the join
latency (connect to ``joined``) p50/p99, the server CPU per join for each block of 1,000
joins (the figure that must not grow with the room) and the frames each member received
while the room filled. Peers have no presence, so there is nothing to set beside it.

The generator runs in this process (one core); it is lean (a prefix test per frame, and every
user's token and upgrade request made before the clock starts, as an operator's tokens are
issued before a stream), and its own CPU and the servers' core are reported, with
``limited_by`` saying which side bound the fill: ``generator`` (its core >= 85% busy: the
server's joins/s ceiling was not reached, compare CPU per join), ``server`` (the servers'
core was), or ``neither`` (latency-bound at this ``--concurrency``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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
    server_core_share: float = 0.0  # the servers' (and Redis's) CPU over the fill, per core they share
    limited_by: str = ""  # generator | server | neither (see limited_by)
    pinned: bool = False  # the servers on one core, the generator on the others
    frames_per_member: float = 0.0
    redis_commands_per_pipeline: float = 0.0  # how many joins' commands shared a write (Redis only)
    errors: list[str] = field(default_factory=list)
    profile: dict | None = None


class Viewer:
    """One lean connection: counts frames, resolves a future at the first frame of the awaited kinds."""

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
        loop = asyncio.get_running_loop()
        waiting = self._waiting = loop.create_future()
        timer = loop.call_later(timeout, _expire, waiting)  # no task per wait, as asyncio.wait_for's
        try:
            return await waiting
        finally:
            timer.cancel()
            self._waiting = None


def _expire(waiting: asyncio.Future) -> None:
    if not waiting.done():
        waiting.set_exception(TimeoutError("no reply in time"))


LIMIT_SHARE = 0.85  # a core this busy over the fill is what bound it


def limited_by(generator_share: float, server_share: float) -> str:
    """Which side bound a fill: ``generator`` when its core was >= 85% busy (the joins/s are
    the generator's, not the server's ceiling), ``server`` when the servers' core was, else
    ``neither`` (the joins under way at once, not a core, set the pace)."""
    if generator_share >= LIMIT_SHARE:
        return "generator"
    if server_share >= LIMIT_SHARE:
        return "server"
    return "neither"


def _requests(ports: list[int], secret: str, members: int) -> list[tuple[int, bytes] | None]:
    """Each user's port and upgrade request (its own token inside), made before the storm:
    signing a token costs the generator ~0.1 ms, a tenth of its budget per join at 1,000/s."""
    return [(port, wsclient.upgrade_request("127.0.0.1", port, f"/ws?token={user_token(secret, i, prefix='storm')}",
                                            "livebridge.v1.json"))
            for i in range(members) for port in (ports[i % len(ports)],)]


async def _storm(ports: list[int], secret: str, members: int, concurrency: int, pids: list[int],
                 result: StormResult, timeout: float, server_cores: int = 1) -> list[Viewer]:
    requests = _requests(ports, secret, members)
    viewers: list[Viewer] = []
    latencies: list[float] = []
    cpu_marks = [sum(cpu_seconds(p) for p in pids)]
    cpu_start = [cpu_seconds(p) for p in pids]
    gen0 = time.process_time()
    next_index = 0
    done = 0
    join = json.dumps({"type": "join", "room": ROOM}).encode()

    async def one(i: int) -> None:
        nonlocal done
        viewer = Viewer()
        started = time.perf_counter()
        try:
            port, request = requests[i]  # type: ignore[misc]
            requests[i] = None  # sent once: not kept while the room fills
            viewer.ws = await wsclient.connect_with("127.0.0.1", port, request, viewer.on_frame, timeout=timeout)
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
    if result.fill_seconds:
        result.server_core_share = (cpu_end - cpu_marks[0]) / result.fill_seconds / max(1, server_cores)
    result.limited_by = limited_by(result.generator_cpu_share, result.server_core_share)
    return viewers


def run_one(members: int, *, nodes: int, concurrency: int, timeout: float, pinned: bool,
            root: Path | None = None, label: str = "livebridge", profile: str | None = None,
            plan: tuple[set[int] | None, set[int] | None] | None = None) -> StormResult:
    # The plan is made once per bench (run): once the generator has pinned itself, this process
    # sees only its own cores, and a plan made then would leave every later run unpinned.
    server_cpus, generator_cpus = plan if plan is not None else pinning_plan(pinned)
    secret = secrets.token_hex(24)
    redis = procs.start_redis(server_cpus) if nodes > 1 else None
    servers = []
    result = StormResult(server=label, members=members, nodes=nodes, engine="redis" if redis else "memory",
                         pinned=server_cpus is not None)
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
        cores = len(server_cpus) if server_cpus else (os.cpu_count() or 1)
        result.frames_per_member = asyncio.run(_run(servers, secret, members, concurrency, pids, result,
                                                    timeout, cores))
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


async def _run(servers, secret, members, concurrency, pids, result, timeout, server_cores) -> float:
    viewers = await _storm([s.port for s in servers], secret, members, concurrency, pids, result, timeout,
                           server_cores)
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


def _side_by_side(results: list[StormResult]) -> list[str]:
    """Each server's mean over its runs of one size, when a compared server ran too."""
    if not any(r.server == "compared" for r in results):
        return []
    lines = ["", "Mean of each server's runs per size (runs in the order compared, this, this, compared):", "",
             "| members | server | runs | joins/s | server CPU per join (ms) | join p50 (ms) | join p99 (ms) |",
             "|---|---|---|---|---|---|---|"]
    for members in dict.fromkeys(r.members for r in results):
        for server in ("compared", "livebridge"):
            runs = [r for r in results if r.members == members and r.server == server]
            if runs:
                def mean(attr: str) -> float:
                    return statistics.fmean(getattr(r, attr) for r in runs)
                lines.append(f"| {members:,} | {server} | {len(runs)} | {mean('joins_per_second'):,.0f} "
                             f"| {mean('server_cpu_ms_per_join'):.2f} | {mean('join_p50_ms'):.1f} "
                             f"| {mean('join_p99_ms'):.1f} |")
    return lines


def report(results: list[StormResult]) -> str:
    m = machine()
    lines = ["# Join storm: distinct users into one room", "",
             f"{m['cpu']} ({m['cores']} cores), Python {m['python']}, {time.strftime('%Y-%m-%d %H:%M')}", "",
             "| server | engine | nodes | members | joined | failed | fill (s) | joins/s | join p50 (ms) | join p99 (ms) "
             "| server CPU per join (ms) | CPU per join, first / last 1,000 (ms) | by process (ms) "
             "| frames per member | generator CPU | server core | limited by |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        blocks = r.cpu_ms_per_join_by_block
        first_last = f"{blocks[0]:.2f} / {blocks[-1]:.2f}" if blocks else "-"
        lines.append(f"| {r.server} | {r.engine} | {r.nodes} | {r.members:,} | {r.joined:,} | {r.failed} | {r.fill_seconds:.1f} "
                     f"| {r.joins_per_second:,.0f} | {r.join_p50_ms:.1f} | {r.join_p99_ms:.1f} "
                     f"| {r.server_cpu_ms_per_join:.2f} | {first_last} "
                     f"| {', '.join(f'{k} {v:.2f}' for k, v in r.cpu_ms_per_join_by_process.items())} "
                     f"| {r.frames_per_member:.1f} "
                     f"| {r.generator_cpu_share:.2f} | {r.server_core_share:.2f} | {r.limited_by} |")
    lines += _side_by_side(results)
    piped = [r for r in results if r.redis_commands_per_pipeline]
    if piped:
        lines += ["", "Redis commands per pipeline (concurrent joins' commands sharing one write): "
                  + ", ".join(f"{r.server} {r.members:,}: {r.redis_commands_per_pipeline}" for r in piped)]
    errors = [e for r in results for e in r.errors]
    if errors:
        lines += ["", "Errors (first few):", *[f"- {e}" for e in errors]]
    lines += ["", "Server CPU per join is the node's (and Redis's) CPU time over the fill divided by the joins; "
              "'first / last 1,000' compares the first and the last block of 1,000 joins, which must not grow "
              "with the room. Generator CPU and server core are each side's busy share of its core(s) over the fill; "
              "'limited by' names the side at >= 0.85 (generator: these joins/s are the generator's, not the "
              "server's ceiling; compare CPU per join), or neither (the joins under way at once set the pace)."]
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
                             "`git worktree` of an older commit), side by side, in the order compared, "
                             "this one, this one, compared")
    parser.add_argument("--profile", default=None, help="record node 0 with py-spy into this directory")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    parser.add_argument("--name", default=None)


def run(args: argparse.Namespace) -> int:
    raise_nofile()
    sizes = [int(s) for s in str(args.members).split(",") if s]
    plan = pinning_plan(not args.no_pin)
    results = []
    for n in sizes:
        # With a compared server, A B B A: a run right after another fills the kernel's tables
        # with its closed sockets, and whichever server ran second paid for it.
        order = [Path(args.compare_root), None, None, Path(args.compare_root)] if args.compare_root else [None]
        for root in order:
            results.append(run_one(n, nodes=args.nodes, concurrency=args.concurrency, timeout=args.timeout,
                                   pinned=not args.no_pin, root=root, label="compared" if root else "livebridge",
                                   profile=None if root else args.profile, plan=plan))
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
