"""What the benchmarks read from the machine: /proc CPU ticks and RSS, cores, fd limits.

Everything here is Linux-only (``/proc``, ``sched_setaffinity``); the benchmarks are too.
"""

from __future__ import annotations

import os
import platform
import resource
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds (its threads included), or 0.0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return 0.0
    # The command name may contain spaces and parentheses: split after the last ')'.
    fields = data[data.rindex(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_counters(pid: int) -> dict[str, float]:
    """A process's user and system CPU seconds and its voluntary and involuntary context
    switches (a voluntary one is mostly an event loop that found nothing to do and slept),
    all zero if it is gone."""
    out = {"user_s": 0.0, "sys_s": 0.0, "voluntary_switches": 0, "involuntary_switches": 0}
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        with open(f"/proc/{pid}/status", "rb") as f:
            status = f.read().decode()
    except OSError:
        return out
    fields = data[data.rindex(b")") + 2:].split()
    out["user_s"], out["sys_s"] = int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK
    for line in status.splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            out["voluntary_switches"] = int(line.split()[1])
        elif line.startswith("nonvoluntary_ctxt_switches:"):
            out["involuntary_switches"] = int(line.split()[1])
    return out


def counters_delta(before: dict[int, dict[str, float]], after: dict[int, dict[str, float]]) -> dict[str, float]:
    """The sum over processes of ``proc_counters`` differences between two readings."""
    total = {k: 0.0 for k in ("user_s", "sys_s", "voluntary_switches", "involuntary_switches")}
    for pid, a in after.items():
        b = before.get(pid, {})
        for k in total:
            total[k] += a[k] - b.get(k, 0)
    return total


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, their children...), from /proc.

    A LiveBridge node runs helpers as child processes (the SQLite archive's writer): their
    CPU is the server's too, and /proc counts it in a parent's own ticks only once the child
    has exited and been waited for.
    """
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        ppid = int(data[data.rindex(b")") + 2:].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def rss_bytes(pid: int) -> int:
    """Resident set size (VmRSS) of a process, in bytes, or 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class CpuMeter:
    """CPU used by a set of processes between two readings, as a share of one core."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = list(pids)
        self.reset()

    def reset(self) -> None:
        self._t0 = time.monotonic()
        self._c0 = {pid: cpu_seconds(pid) for pid in self.pids}

    def read(self) -> dict[int, float]:
        """pid -> cores used since the last reset (1.0 = one core fully busy)."""
        wall = max(1e-6, time.monotonic() - self._t0)
        return {pid: (cpu_seconds(pid) - self._c0.get(pid, 0.0)) / wall for pid in self.pids}


def raise_nofile() -> tuple[int, int]:
    """Raise this process's soft open-files limit to the hard limit; return (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft, hard


def cores() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def pin(pid: int, cpus: set[int] | None) -> None:
    """Pin a process to some cores (no-op when ``cpus`` is None or the call is refused)."""
    if not cpus:
        return
    try:
        os.sched_setaffinity(pid, cpus)
    except OSError:
        pass


def pinning_plan(enabled: bool) -> tuple[set[int] | None, set[int] | None]:
    """(server cores, generator cores): first core for servers, the rest for the generator."""
    available = cores()
    if not enabled or len(available) < 2:
        return None, None
    return {available[0]}, set(available[1:])


def machine() -> dict:
    """A short description of the machine, for reports."""
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    return {
        "cpu": model, "cores": os.cpu_count(), "usable_cores": len(cores()),
        "memory_gb": round(mem / 2**30, 1), "kernel": platform.release(),
        "python": platform.python_version(), "nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
    }


def _core_times() -> dict[int, tuple[int, int]]:
    """core -> (busy ticks, total ticks) from /proc/stat (steal counted apart, as not ours)."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *vals = line.split()
                v = [int(x) for x in vals[:8]]
                idle = v[3] + v[4]
                total = sum(v)
                out[int(name[3:])] = (total - idle - v[7], total, v[7])
    return {k: (b, t, s) for k, (b, t, s) in out.items()}  # type: ignore[misc]


class CoreMeter:
    """Busy share of each core between two readings (1.0 = that core never idle)."""

    def __init__(self) -> None:
        self._t0 = _core_times()

    def read(self) -> dict[str, dict[str, float]]:
        t1 = _core_times()
        out = {}
        for core, (busy, total, steal) in t1.items():
            b0, tot0, s0 = self._t0.get(core, (busy, total, steal))
            dt = max(1, total - tot0)
            out[str(core)] = {"busy": round((busy - b0) / dt, 3), "steal": round((steal - s0) / dt, 3)}
        return out
