"""A private PostgreSQL cluster for tests: Debian's ``postgresql`` binaries, ``initdb`` and
``pg_ctl`` run as the ``postgres`` user (when the tests run as root) in a temporary directory,
listening on 127.0.0.1 on a free port and on a socket in that directory. Never the system
cluster, never port 5432. Password authentication (scram-sha-256) for every connection, so the
tests can also try a wrong password. ``fsync=off``: the tests stop the server but never the
machine, so the page cache keeps every commit (``synchronous_commit`` stays on: an immediate
stop must not lose acknowledged commits).
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.harness import free_port, wait_port


def pg_bin(name: str) -> str:
    """The newest installed PostgreSQL's ``name`` (Debian keeps them off PATH)."""
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(Path(p).parts[4]) if Path(p).parts[4].isdigit() else 0)
    if candidates:
        return candidates[-1]
    found = shutil.which(name)
    if found:
        return found
    raise RuntimeError(f"PostgreSQL's {name} is not installed: run `make system-deps` "
                       "(Debian package postgresql)")


PREFIX = "lb-pg-"
OWNER = "owner.pid"  # the test process that made the cluster


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_orphaned_clusters() -> int:
    """Stop and remove the clusters of test runs that died without closing them (a killed
    pytest leaves its postmaster running: ``pg_ctl`` daemonises it). How many were reaped."""
    reaped = 0
    for path in glob.glob(os.path.join(tempfile.gettempdir(), PREFIX + "*")):
        try:
            owner = int(Path(path, OWNER).read_text())
        except (OSError, ValueError):
            continue  # not ours, or still being made
        if _alive(owner):
            continue
        if Path(path, "data", "postmaster.pid").exists():
            server = PostgresServer.__new__(PostgresServer)
            server.dir, server.data, server.log = Path(path), Path(path, "data"), Path(path, "server.log")
            server._run_as = _postgres_user()
            try:
                server._cmd(pg_bin("pg_ctl"), "-D", str(server.data), "-m", "immediate", "-w", "-t", "30", "stop")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass  # not running any more: only the files are left
        shutil.rmtree(path, ignore_errors=True)
        reaped += 1
    return reaped


def _postgres_user():
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("tests run as root need the postgres user (Debian package "
                           "postgresql creates it): run `make system-deps`") from None


class PostgresServer:
    """``initdb`` + ``pg_ctl start`` in a temporary directory; :meth:`close` stops and removes it.
    Clusters whose test process died are reaped when the next one is made."""

    user = "postgres"

    def __init__(self) -> None:
        reap_orphaned_clusters()
        self.port = free_port()
        self.password = secrets.token_urlsafe(12)
        self.dir = Path(tempfile.mkdtemp(prefix=PREFIX))
        (self.dir / OWNER).write_text(str(os.getpid()))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self._run_as = _postgres_user()
        if self._run_as is not None:
            os.chown(self.dir, self._run_as.pw_uid, self._run_as.pw_gid)
        self.started = False

    def _cmd(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        kwargs = {}
        if self._run_as is not None:
            kwargs = {"user": self._run_as.pw_uid, "group": self._run_as.pw_gid, "extra_groups": []}
        result = subprocess.run(list(args), cwd=self.dir, capture_output=True, text=True,
                                timeout=timeout, env={**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"},
                                **kwargs)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({result.returncode}):\n"
                               f"{result.stdout}\n{result.stderr}\n{self.server_log()}")
        return result

    def start(self) -> "PostgresServer":
        pwfile = self.dir / "pw"
        pwfile.write_text(self.password + "\n")
        if self._run_as is not None:
            os.chown(pwfile, self._run_as.pw_uid, self._run_as.pw_gid)
        self._cmd(pg_bin("initdb"), "-D", str(self.data), "-U", self.user, "--pwfile", str(pwfile),
                  "--auth", "scram-sha-256", "--encoding", "UTF8", "--no-instructions", "--no-sync")
        pwfile.unlink()
        return self.start_again()

    def start_again(self) -> "PostgresServer":
        """``pg_ctl start`` on the cluster made by :meth:`start` (after :meth:`stop`)."""
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c full_page_writes=off "
                   "-c max_connections=200 -c shared_buffers=32MB")
        self._cmd(pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", "60", "start")
        self.started = True
        wait_port(self.port, timeout=30)
        return self

    def url(self, dbname: str = "postgres", *, password: str | None = None, user: str | None = None) -> str:
        return (f"postgresql://{user or self.user}:{password or self.password}"
                f"@127.0.0.1:{self.port}/{dbname}")

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self, mode: str = "fast") -> None:
        if self.started:
            try:
                self._cmd(pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")
            finally:
                self.started = False

    def server_log(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
