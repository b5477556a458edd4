"""The node's token secret when ``--secret`` is not given: made once, kept in the data directory.

Without it every restart signed tokens with a new random secret, so every open page said
"session expired" and hosts lost their host tools. Now the first start writes
``<data dir>/secret`` (mode 0600: only the node's user may read it) and every later start
reads it back; ``--secret`` (``LIVEBRIDGE_SECRET``) still wins and leaves the file alone. Nodes
that share rooms must share a secret: give them the same ``--secret`` (docs/deploy.md).

Creation is atomic (written to a private temporary file, fsynced, then linked into place), so
two nodes starting at once on one data directory end up with the same secret, and a crash
never leaves a half-written one. Problems are a :class:`SecretFileError`, a
:class:`~chatserver.config.SettingsError` whose message names the file and the fix, which
``livebridge serve`` prints before exiting non-zero.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from chatserver.config import SettingsError
from rooms.store import DataDirError, ensure_data_dir

log = logging.getLogger("livebridge")

FILE_NAME = "secret"
MIN_LENGTH = 16  # as --secret


class SecretFileError(SettingsError):
    """The data directory or its secret file cannot be used; the message says which and why."""


def token_secret(configured: str | None, data_dir: str | os.PathLike[str]) -> str:
    """``configured`` (``--secret``) if given, else the data directory's secret (made once)."""
    if configured is not None:
        return configured
    return load_or_create(data_dir)


def load_or_create(data_dir: str | os.PathLike[str]) -> str:
    try:
        directory = ensure_data_dir(data_dir)
    except DataDirError as exc:
        raise SecretFileError(f"{exc} (set --data-dir or LIVEBRIDGE_DATA_DIR, or give --secret)") from None
    path = directory / FILE_NAME
    existing = _read(path)
    if existing is not None:
        return existing
    secret = secrets.token_urlsafe(32)
    temporary = directory / f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}"
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, (secret + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, path)  # atomic, and never over a secret another node just made
        except FileExistsError:
            pass
        else:
            _fsync_dir(directory)
            log.info("made a new token secret in %s (tokens now survive restarts)", path)
    except OSError as exc:
        raise SecretFileError(f"cannot write the token secret {path}: {exc.strerror} "
                              "(set --data-dir or LIVEBRIDGE_DATA_DIR, or give --secret)") from None
    finally:
        try:
            os.unlink(temporary)
        except OSError:
            pass
    made = _read(path)
    if made is None:  # pragma: no cover - the file was removed between link and read
        raise SecretFileError(f"the token secret {path} vanished while it was made")
    return made


def _read(path: Path) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SecretFileError(f"cannot read the token secret {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SecretFileError(f"the token secret {path} is not a regular file")
        if info.st_mode & 0o077:
            os.fchmod(fd, 0o600)
            log.warning("the token secret %s could be read by others (mode %o): made it 0600",
                        path, stat.S_IMODE(info.st_mode))
        data = os.read(fd, 4096)
    except OSError as exc:
        raise SecretFileError(f"cannot read the token secret {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    secret = data.decode("utf-8", errors="replace").strip()
    if len(secret) < MIN_LENGTH:
        raise SecretFileError(f"the token secret {path} is empty or shorter than {MIN_LENGTH} "
                              "characters: remove it to make a new one (tokens signed with the "
                              "old one stop working), or give --secret")
    return secret


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
