"""A LiveBridge node that reports where its Python heap goes: the server side of benchmarks.memprofile.

``python -m chatserver.memprofile_node --port P --out FILE --frames N`` runs one node on
127.0.0.1:P (in-memory engine, translation off, log level warning, no per-user connection cap)
with tracemalloc on, keeping N frames per allocation.  It then answers two signals:

* SIGUSR1: take the baseline snapshot, then write ``FILE.base`` (contents ``ok``).
* SIGUSR2: take a snapshot, compare it with the baseline and write ``FILE``, JSON
  ``{"total_diff": bytes, "rows": [{"where", "size_diff", "count_diff"}, ...] (by line),
  "chains": [{"size_diff", "count_diff", "traceback": [...]}, ...] (the 40 largest by traceback),
  "tracked_diff": n, "tracked": [{"type", "count_diff"}, ...], "owners": [{"owner", "count"}, ...],
  "whole_pass_seconds": s}``. ``tracked`` is the census of
  objects the garbage collector tracks (``gc.get_objects()``, after a full collection) by type,
  against the baseline's: what each connection adds to every full collection's scan. A
  function, cell or method is named after its code (``function:Session.committed``) and a
  coroutine or task after the coroutine it runs, so closures and await chains show by name.
  ``owners`` names what holds each object tracked since the baseline (``list <- Session.rooms``).

``--frames 0`` leaves tracemalloc off (the census alone, at the node's real speed);
``--secret`` lets the driver sign a token per connection (distinct users).

Both files appear complete or not at all (written aside, then renamed).  SIGTERM/SIGINT stop the
node as ``livebridge serve`` does.  It lives in chatserver/ because nothing may import chatserver:
``benchmarks.memprofile`` starts this module as a process and drives it over the network and
these signals.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import sys
import time
import tracemalloc
import types
from collections import Counter
from pathlib import Path

from chatserver import config
from chatserver.server import serve


def _write(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    Path(tmp).write_text(text)
    os.replace(tmp, path)


def _kind(obj: object) -> str:
    """What a tracked object is, by type and, for code-bearing objects, by the code they run."""
    kind = type(obj).__name__
    code = None
    if isinstance(obj, types.FunctionType):
        code = obj.__code__
    elif isinstance(obj, types.MethodType):
        code = getattr(obj.__func__, "__code__", None)
    elif isinstance(obj, (types.CoroutineType, types.GeneratorType)):
        code = getattr(obj, "cr_code", None) or getattr(obj, "gi_code", None)
    elif isinstance(obj, asyncio.Task):
        coro = obj.get_coro()
        code = getattr(coro, "cr_code", None)
    if code is not None:
        return f"{kind}:{code.co_qualname}"
    return kind


def tracked_census() -> tuple[Counter, set[int], float]:
    """Objects the collector tracks, by :func:`_kind` (after a full collection), their ids, and
    the seconds that collection took. Frozen objects are counted too: they are unfrozen first
    (the node's policy, chatserver.gcpolicy, freezes them again at its next sweep), so the
    collection is what the policy's whole pass costs at this heap."""
    gc.unfreeze()
    started = time.perf_counter()
    gc.collect()
    took = time.perf_counter() - started
    objects = gc.get_objects()
    return Counter(_kind(obj) for obj in objects), {id(obj) for obj in objects}, took


def _edge(parent: object, child: object) -> str:
    """How ``parent`` holds ``child``: ``[key]`` in a dict, ``.name`` for a slot or attribute."""
    if isinstance(parent, dict):
        for key, value in parent.items():
            if value is child:
                return f"[{key!r}]" if not isinstance(key, str) or not key.isidentifier() else f".{key}"
        return "[key]"
    for name in getattr(type(parent), "__slots__", ()):
        if getattr(parent, name, None) is child:
            return f".{name}"
    if getattr(parent, "__dict__", None) is child:
        return ".__dict__"
    return ""


def new_owners(base_ids: set[int]) -> Counter:
    """Objects tracked since the baseline, by kind and by what holds them (the first holder
    found: ``list <- Session.rooms``; a dict that is an instance's ``__dict__`` names the
    instance's type), to tell which lists, dicts and cells a connection adds."""
    objects = gc.get_objects()
    new = {id(obj) for obj in objects if id(obj) not in base_ids}
    holder: dict[int, object] = {}
    for obj in objects:
        for ref in gc.get_referents(obj):
            if id(ref) in new and id(ref) not in holder:
                holder[id(ref)] = obj
    owners: Counter = Counter()
    for obj in objects:
        if id(obj) in new:
            owners[_held_as(obj, holder)] += 1
    return owners


_CONTAINERS = (dict, list, tuple, set, frozenset)


def _held_as(obj: object, holder: dict[int, object]) -> str:
    """``obj``'s kind and its chain of holders, up to the first that is not a bare container
    (an instance's ``__dict__`` is named after the instance)."""
    label, child = _kind(obj), obj
    for _ in range(4):
        parent = holder.get(id(child))
        if parent is None:
            return f"{label} <- (nothing tracked)"
        grand = holder.get(id(parent))
        if isinstance(parent, dict) and grand is not None and getattr(grand, "__dict__", None) is parent:
            return f"{label} <- {_kind(grand)}{_edge(parent, child)}"
        label = f"{label} <- {_kind(parent)}{_edge(parent, child)}"
        if not isinstance(parent, _CONTAINERS):
            return label
        child = parent
    return label
    return owners


class HeapSnapshots:
    """Baseline on SIGUSR1, comparison on SIGUSR2 (installed by :meth:`install`)."""

    def __init__(self, out: str) -> None:
        self.out = out
        self.base: tracemalloc.Snapshot | None = None
        self.base_census: Counter = Counter()
        self.base_ids: set[int] = set()

    def install(self) -> None:
        signal.signal(signal.SIGUSR1, self._on_signal)
        signal.signal(signal.SIGUSR2, self._on_signal)

    @staticmethod
    def _snapshot() -> tracemalloc.Snapshot:
        gc.collect()
        if not tracemalloc.is_tracing():
            return tracemalloc.Snapshot([], 1)
        return tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen*>")])

    def _on_signal(self, signum, _frame) -> None:
        census, ids, whole_pass = tracked_census()
        shot = self._snapshot()
        if signum == signal.SIGUSR1 or self.base is None:
            self.base, self.base_census, self.base_ids = shot, census, ids
            _write(self.out + ".base", "ok")
            return
        census.subtract(self.base_census)
        tracked = [{"type": kind, "count_diff": n} for kind, n in census.most_common() if n]
        owners = [{"owner": kind, "count": n} for kind, n in new_owners(self.base_ids).most_common(200)]
        stats = shot.compare_to(self.base, "lineno")
        tb_stats = shot.compare_to(self.base, "traceback")
        rows = [{"where": f"{s.traceback[0].filename}:{s.traceback[0].lineno}", "size_diff": s.size_diff,
                 "count_diff": s.count_diff} for s in stats if s.size_diff]
        chains = [{"size_diff": s.size_diff, "count_diff": s.count_diff,
                   "traceback": [f"{f.filename}:{f.lineno}" for f in s.traceback]}
                  for s in tb_stats[:40] if s.size_diff > 0]
        _write(self.out, json.dumps({"total_diff": sum(s.size_diff for s in stats), "rows": rows,
                                     "chains": chains, "tracked_diff": sum(census.values()),
                                     "tracked": tracked, "owners": owners,
                                     "whole_pass_seconds": round(whole_pass, 4)}))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m chatserver.memprofile_node", description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True, help="port on 127.0.0.1")
    ap.add_argument("--out", required=True, help="where the comparison goes (and FILE.base for the baseline)")
    ap.add_argument("--frames", type=int, default=12, help="traceback depth kept by tracemalloc (0: off)")
    ap.add_argument("--secret", default=None, help="token secret (the driver signs a token per user)")
    args = ap.parse_args(argv)
    settings = config.load(argparse.Namespace(host="127.0.0.1", port=args.port, translation="off",
                                              log_level="warning", max_connections_per_user=1_000_000,
                                              secret=args.secret, allow_guests=True))
    if args.frames > 0:
        tracemalloc.start(args.frames)
    HeapSnapshots(args.out).install()
    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
