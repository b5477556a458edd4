"""A LiveBridge node that reports where its Python heap goes: the server side of benchmarks.memprofile.

``python -m chatserver.memprofile_node --port P --out FILE --frames N`` runs one node on
127.0.0.1:P (in-memory engine, translation off, log level warning, no per-user connection cap)
with tracemalloc on, keeping N frames per allocation.  It then answers two signals:

* SIGUSR1: take the baseline snapshot, then write ``FILE.base`` (contents ``ok``).
* SIGUSR2: take a snapshot, compare it with the baseline and write ``FILE``, JSON
  ``{"total_diff": bytes, "rows": [{"where", "size_diff", "count_diff"}, ...] (by line),
  "chains": [{"size_diff", "count_diff", "traceback": [...]}, ...] (the 40 largest by traceback)}``.

Both files appear complete or not at all (written aside, then renamed).  SIGTERM/SIGINT stop the
node as ``livebridge serve`` does.  It lives in chatserver/ because nothing may import chatserver:
``benchmarks.memprofile`` starts this module as a process and drives it over the network and
these signals.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import sys
import tracemalloc
from pathlib import Path

from chatserver import config
from chatserver.server import serve


def _write(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    Path(tmp).write_text(text)
    os.replace(tmp, path)


class HeapSnapshots:
    """Baseline on SIGUSR1, comparison on SIGUSR2 (installed by :meth:`install`)."""

    def __init__(self, out: str) -> None:
        self.out = out
        self.base: tracemalloc.Snapshot | None = None

    def install(self) -> None:
        signal.signal(signal.SIGUSR1, self._on_signal)
        signal.signal(signal.SIGUSR2, self._on_signal)

    @staticmethod
    def _snapshot() -> tracemalloc.Snapshot:
        gc.collect()
        return tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen*>")])

    def _on_signal(self, signum, _frame) -> None:
        shot = self._snapshot()
        if signum == signal.SIGUSR1 or self.base is None:
            self.base = shot
            _write(self.out + ".base", "ok")
            return
        stats = shot.compare_to(self.base, "lineno")
        tb_stats = shot.compare_to(self.base, "traceback")
        rows = [{"where": f"{s.traceback[0].filename}:{s.traceback[0].lineno}", "size_diff": s.size_diff,
                 "count_diff": s.count_diff} for s in stats if s.size_diff]
        chains = [{"size_diff": s.size_diff, "count_diff": s.count_diff,
                   "traceback": [f"{f.filename}:{f.lineno}" for f in s.traceback]}
                  for s in tb_stats[:40] if s.size_diff > 0]
        _write(self.out, json.dumps({"total_diff": sum(s.size_diff for s in stats), "rows": rows,
                                     "chains": chains}))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m chatserver.memprofile_node", description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True, help="port on 127.0.0.1")
    ap.add_argument("--out", required=True, help="where the comparison goes (and FILE.base for the baseline)")
    ap.add_argument("--frames", type=int, default=12, help="traceback depth kept by tracemalloc")
    args = ap.parse_args(argv)
    settings = config.load(argparse.Namespace(host="127.0.0.1", port=args.port, translation="off",
                                              log_level="warning", max_connections_per_user=1_000_000))
    tracemalloc.start(args.frames)
    HeapSnapshots(args.out).install()
    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
