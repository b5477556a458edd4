"""Fixtures of the client's tests: the client's own distribution, built and installed into a
fresh virtualenv (offline), and real server processes (tests/harness.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from tests.harness import ROOT

CLIENTS = ROOT / "clients"


class InstalledClient:
    """The wheel built from clients/ and a fresh virtualenv it was installed into."""

    def __init__(self, wheel: Path, venv: Path, install_log: str) -> None:
        self.wheel = wheel
        self.venv = venv
        self.python = venv / "bin" / "python"
        self.install_log = install_log

    def run(self, code: str, **kw) -> subprocess.CompletedProcess:
        # -I: isolated (no PYTHONPATH, no current directory, no user site): only the venv.
        return subprocess.run([str(self.python), "-I", "-c", code], capture_output=True, text=True,
                              timeout=60, cwd=self.venv, **kw)


def _link_distribution(name: str, site: Path) -> None:
    """Make ``name`` (installed in this test run's environment) importable from ``site``:
    symlink its files (package, extension modules, .dist-info) so that pip sees it installed.
    This stands in for installing its wheel, which would need an index or a wheel cache."""
    dist = metadata.distribution(name)
    tops = {file.parts[0] for file in dist.files or []
            if file.parts[0] != ".." and not file.parts[0].endswith(".pth")}
    base = Path(dist.locate_file(""))
    for top in tops:
        source = base / top
        if source.exists() and not (site / top).exists():
            (site / top).symlink_to(source)


@pytest.fixture(scope="session")
def installed_client(tmp_path_factory) -> InstalledClient:
    work = tmp_path_factory.mktemp("client-dist")
    # Build from a copy, so that setuptools' build/ and .egg-info never land in the tree (and
    # two test runs never share them).
    source = work / "src"
    shutil.copytree(CLIENTS, source, ignore=shutil.ignore_patterns(
        "web", "examples", "build", "dist", "*.egg-info", "__pycache__", "*.pyc"))
    dist = work / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index",
                    "--no-build-isolation", "--wheel-dir", str(dist), str(source)],
                   check=True, capture_output=True, text=True, timeout=120)
    (wheel,) = dist.glob("livebridge_client-*.whl")

    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               check=True, capture_output=True, text=True).stdout.strip())
    for name in ("websockets", "msgpack"):
        _link_distribution(name, site)
    # This run's pip installs into the new venv (--python): no index, no network; the
    # dependencies must be found satisfied by what the venv has (websockets, msgpack).
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index",
         "--find-links", str(dist), "livebridge-client"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return InstalledClient(wheel, venv, installed.stdout)


def wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def wheel_metadata(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return archive.read(name).decode()
