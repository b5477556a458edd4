"""Reports of a benchmark run: ``<name>.json``, ``<name>.md`` and PNG plots in one directory."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from benchmarks.fanout import cpu_per_delivery, limited_by

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def _fmt(v: Any, digits: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if v >= 1000:
            return f"{v:,.0f}"
        return f"{v:.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, list):
        return "/".join(_fmt(x, digits) for x in v)
    return str(v)


def write(report: dict[str, Any], out_dir: Path, name: str) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    serialisable = {k: v for k, v in report.items() if not k.startswith("_")}
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(serialisable, indent=2, default=str))
    files["json"] = path
    if report["kind"] == "translate-mixed":
        from benchmarks.translate_mixed import markdown as mixed_markdown

        md = mixed_markdown(report)
    else:
        md = fanout_markdown(report) if report["kind"] == "fanout" else translate_markdown(report)
    path = out_dir / f"{name}.md"
    path.write_text(md)
    files["md"] = path
    try:
        if report["kind"] != "translate-mixed":
            files.update(fanout_plots(report, out_dir, name) if report["kind"] == "fanout"
                         else translate_plots(report, out_dir, name))
    except ImportError:  # matplotlib missing: reports without plots
        pass
    return files


def fanout_markdown(report: dict[str, Any]) -> str:
    cfg = report["config"]
    m = report["machine"]
    lines = [
        f"# Fan-out benchmark: {report['scenario']}", "",
        f"{report['started_at']} on {m['cpu']} ({m['usable_cores']} cores, {m['memory_gb']} GB), "
        f"Python {m['python']}; server cores {report['pinning']['server_cores']}, "
        f"generator cores {report['pinning']['generator_cores']}.", "",
        f"{cfg['rooms']} room(s), {cfg['senders']} sender(s) per room, {cfg['message_size']}-byte messages, "
        f"codec {cfg['codec']}, {cfg['nodes']} node(s), {cfg['duration']} s per step, "
        f"{cfg['workers']} generator processes; LiveBridge users: "
        f"{'one per connection' if cfg.get('distinct_users') else 'one guest per generator process'}.", "",
        "## Summary", "",
        "| server | members/room | connected | peak deliveries/s | max sustained msg/s per room "
        "| p99 at half that rate (ms) | server CPU µs per delivery at peak | peak limited by "
        "| KB per connection | connections/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    generator_cores = len(report.get("pinning", {}).get("generator_cores") or []) or 1
    for r in report["runs"]:
        if "error" in r:
            lines.append(f"| {r['server']} | {r['members_per_room']} | failed: {r['error'][:80]} | | | | | | | |")
            continue
        s = r["summary"]
        peak = max(r.get("steps") or [{}], key=lambda x: x.get("deliveries_per_s") or 0)
        mem = r["memory"]
        kb = mem.get("per_connection_idle_kb", mem["per_connection_kb"])
        peak_limit = s.get("peak_limited_by") or _limit(peak, generator_cores)
        lines.append(
            f"| {r['server']} | {r['members_per_room']:,} | {r['connect']['connected']:,} | "
            f"{_fmt(s.get('peak_deliveries_per_s'))} | {_fmt(s.get('max_sustained_rate_per_room'))}"
            f"{' (saturated above)' if s.get('saturated') else ' (not saturated)'} | "
            f"{_fmt(s.get('p99_at_half_max_ms'))} | {_fmt(_cpu_per_delivery(peak), 1)} | "
            f"{peak_limit} | {_fmt(kb)} | {_fmt(r['connect']['rate_per_s'])} |")
    if report.get("ratios"):
        lines += ["", "## LiveBridge against the peers (peak deliveries/s)", "",
                  "| members/room | peer | peer deliveries/s | LiveBridge deliveries/s | LiveBridge / peer |",
                  "|---|---|---|---|---|"]
        for x in report["ratios"]:
            lines.append(f"| {x['members_per_room']:,} | {x['peer']} | {_fmt(x['peer_peak_deliveries_per_s'])} | "
                         f"{_fmt(x['livebridge_peak_deliveries_per_s'])} | {_fmt(x['livebridge_over_peer'], 2)}x |")
    lines += cpu_per_delivery_markdown(report)
    lines += ["", "## Steps", "",
              "| server | members | msg/s/room | sent | delivered/expected | deliveries/s | p50 | p95 | p99 | max (ms) "
              "| server CPU | child CPU | redis CPU | generator CPU | other load | server CPU µs per delivery "
              "| limited by | RSS MB | disconnects | sustained |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["runs"]:
        for s in r.get("steps", []):
            lines.append(
                f"| {r['server']} | {r['members_per_room']:,} | {s['rate_per_room']:g} | {s['messages_sent']:,} | "
                f"{s['delivered']:,}/{s['expected_deliveries']:,} | {_fmt(s['deliveries_per_s'])} | "
                f"{_fmt(s['p50_ms'])} | {_fmt(s['p95_ms'])} | {_fmt(s['p99_ms'])} | {_fmt(s['max_ms'])} | "
                f"{_fmt(s['server_cpu'], 2)} | {_fmt(s.get('server_child_cpu'), 2)} | {_fmt(s['redis_cpu'], 2)} | "
                f"{_fmt(s['generator_cpu'], 2)} | "
                f"{_fmt(s.get('other_load'), 2)} | {_fmt(_cpu_per_delivery(s), 2)} | "
                f"{s.get('limited_by') or _limit(s, generator_cores)} | "
                f"{_fmt(s['rss_mb'])} | {s['disconnects']} | {'yes' if s['sustained'] else 'no'} |")
    lines += ["", "'Limited by' says which process was busiest in a step: 'generator' means the load "
              "generator's core(s) were nearly full, so the server's ceiling was not reached (its deliveries/s "
              "are the generator's) and its CPU per delivery is the figure to compare; the sweep goes on past "
              "such a step even when it was not sustained.", "",
              "CPU is in cores (1.00 = one core busy) over the sending window; 'child CPU' is the nodes' "
              "child processes' (LiveBridge's archive writer), counted in CPU per delivery; 'other load' is what "
              "the machine's cores did besides this benchmark's processes (other jobs: noise). "
              "KB per connection = (node RSS after connecting and joining - RSS before) / connections.", ""]
    commit_rows = [(r, s) for r in report["runs"] for s in r.get("steps", []) if s.get("ack") or s.get("store")]
    if commit_rows:
        lines += ["## Acks and archive commits", "",
                  "| server | members | msg/s/room | acks | ack p50 | p99 | max (ms) | commits | appends per commit "
                  "| commit lag mean (ms) |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r, s in commit_rows:
            a, c = s.get("ack") or {}, s.get("store") or {}
            lines.append(
                f"| {r['server']} | {r['members_per_room']:,} | {s['rate_per_room']:g} | {_fmt(a.get('acks'))} | "
                f"{_fmt(a.get('p50_ms'), 2)} | {_fmt(a.get('p99_ms'), 2)} | {_fmt(a.get('max_ms'), 2)} | "
                f"{_fmt(c.get('batches'))} | {_fmt(c.get('appends_per_batch'), 2)} | {_fmt(c.get('commit_lag_mean_ms'), 2)} |")
        lines += ["", "Ack latency: a sender's send to its ack (after the message's durable commit). Commits, "
                  "appends per commit and commit lag (append to commit) are node 0's store counters over the step.", ""]
    for r in report["runs"]:
        errs = {}
        for s in r.get("steps", []):
            for k, v in s.get("errors", {}).items():
                errs[k] = errs.get(k, 0) + v
        if errs or r.get("connect", {}).get("failures"):
            lines.append(f"- {r['server']} m={r['members_per_room']}: connect failures "
                         f"{r.get('connect', {}).get('failures')}, error frames {errs}")
    for r in report["runs"]:
        prof = r.get("profile")
        if prof and prof.get("samples"):
            lines += ["", f"### Profile of {r['server']} node 0, {r['members_per_room']:,} members "
                      f"({prof['samples']} py-spy samples, active time only)", "",
                      "| self time | function |", "|---|---|"]
            lines += [f"| {share * 100:.1f}% | `{name}` |" for name, share in prof["self"][:15]]
    return "\n".join(lines) + "\n"


def cpu_per_delivery_markdown(report: dict[str, Any]) -> list[str]:
    """Server CPU µs per delivery of every server at each rate: the headline when a peak was the
    generator's (a server that was not the limit is compared by what each delivery cost it)."""
    rows = report.get("cpu_per_delivery") or []
    servers = sorted({name for row in rows for name in row["us_per_delivery"]},
                     key=lambda n: (n != "livebridge", n))
    if not rows or "livebridge" not in servers or len(servers) < 2:
        return []
    peers = [n for n in servers if n != "livebridge"]
    lines = ["", "## Server CPU per delivery by rate (µs; * = generator-bound step)", "",
             "| members/room | msg/s/room | " + " | ".join(servers) + " | "
             + " | ".join(f"LiveBridge / {p}" for p in peers) + " |",
             "|---|---|" + "---|" * (len(servers) + len(peers))]

    def cell(row: dict, name: str) -> str:
        us = row["us_per_delivery"].get(name)
        star = "*" if row["limited_by"].get(name) == "generator" else ""
        return f"{_fmt(us, 2)}{star}" if us is not None else "-"

    for row in rows:
        ratios = [row["livebridge_over"].get(p) for p in peers]
        lines.append(f"| {row['members_per_room']:,} | {row['rate_per_room']:g} | "
                     + " | ".join(cell(row, n) for n in servers) + " | "
                     + " | ".join(f"{_fmt(x, 2)}x" if x is not None else "-" for x in ratios) + " |")
    return lines


def fanout_plots(report: dict[str, Any], out_dir: Path, name: str) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    files: dict[str, Path] = {}
    lats = report.get("_latencies", {})
    fig, ax = plt.subplots(figsize=(8, 5))
    drawn = False
    for r in report["runs"]:
        steps = r.get("steps", [])
        if not steps:
            continue
        half = r.get("summary", {}).get("half_max_step")
        chosen = next((s for s in steps if half and s["rate_per_room"] == half["rate_per_room"]), steps[0])
        arr = lats.get((r["server"], r["members_per_room"]), {}).get(chosen["step"])
        if arr is None or not len(arr):
            continue
        a = np.sort(np.frombuffer(arr, dtype=np.int64) / 1000.0)
        a = np.maximum(a, 1e-3)
        y = np.arange(1, len(a) + 1) / len(a)
        ax.plot(a, y, label=f"{r['server']} m={r['members_per_room']} @ {chosen['rate_per_room']:g} msg/s")
        drawn = True
    if drawn:
        ax.set_xscale("log")
        ax.set_xlabel("send-to-receipt latency (ms)")
        ax.set_ylabel("fraction of deliveries")
        ax.set_title(f"Latency distribution ({report['scenario']}; at half the max sustained rate)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        path = out_dir / f"{name}-latency.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        files["latency_png"] = path
    plt.close(fig)

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    servers = sorted({r["server"] for r in report["runs"]})
    for server in servers:
        runs = sorted((r for r in report["runs"] if r["server"] == server and r.get("summary")),
                      key=lambda r: r["members_per_room"])
        xs = [r["members_per_room"] for r in runs]
        ax1.plot(xs, [r["summary"].get("peak_deliveries_per_s") or 0 for r in runs], "o-", label=server)
        ax2.plot(xs, [r["summary"].get("p99_at_half_max_ms") or math.nan for r in runs], "o-", label=server)
    ax1.set_xlabel("members per room")
    ax1.set_ylabel("peak deliveries/s")
    ax1.set_title("Throughput")
    ax2.set_xlabel("members per room")
    ax2.set_ylabel("p99 latency (ms) at half the max sustained rate")
    ax2.set_title("p99 latency")
    for ax in (ax1, ax2):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_xscale("log")
    fig.tight_layout()
    path = out_dir / f"{name}-throughput.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    files["throughput_png"] = path
    return files


def translate_markdown(report: dict[str, Any]) -> str:
    from benchmarks.translate import markdown

    return markdown(report)


def translate_plots(report: dict[str, Any], out_dir: Path, name: str) -> dict[str, Path]:
    from benchmarks.translate import plots

    return plots(report, out_dir, name)


def _cpu_per_delivery(step: dict) -> float | None:
    """Server CPU µs per delivery in a step (recorded by the run; computed for older reports)."""
    us = step.get("server_cpu_us_per_delivery")
    return us if us is not None else cpu_per_delivery(step)


def _limit(step: dict, generator_cores: int) -> str:
    """Which side a step was bound by (recorded by the run; judged here for older reports)."""
    if not step:
        return "-"
    return step.get("limited_by") or limited_by(step, generator_cores)
