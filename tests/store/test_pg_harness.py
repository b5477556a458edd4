"""The test PostgreSQL harness cleans up after a test run that was killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.store.pg import reap_orphaned_clusters

MAKE_AND_HANG = """
import sys, time
from tests.store.pg import PostgresServer
server = PostgresServer().start()
print(server.dir, flush=True)
time.sleep(600)
"""


def gone_within(pid: int, seconds: float) -> bool:
    """Whether ``pid`` exits (or is only a zombie) within ``seconds``: ``pg_ctl stop -w``
    returns once the pid file is gone, a moment before the process itself."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def test_a_killed_runs_cluster_is_stopped_and_removed_by_the_next_run():
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen([sys.executable, "-c", MAKE_AND_HANG], cwd=root, stdout=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONPATH": str(root)})
    try:
        made = Path(child.stdout.readline().strip())
        pid_file = made / "data" / "postmaster.pid"
        postmaster = int(pid_file.read_text().split()[0])
        child.send_signal(signal.SIGKILL)  # as a killed pytest: no close(), no atexit
        child.wait(10)
        os.kill(postmaster, 0)  # still running on its own
        assert reap_orphaned_clusters() >= 1
        assert not made.exists()
        assert gone_within(postmaster, 10), "the orphaned postmaster still runs"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
