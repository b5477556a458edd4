"""Where a server's time goes: a summary of py-spy's collapsed stacks (``--format raw``)."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

_LINE = re.compile(r"^(.*) (\d+)$")


def _frame_name(frame: str) -> str:
    # py-spy frames look like "function (path/to/file.py:123)"; keep function and short file
    m = re.match(r"(.*) \((.*?):?(\d+)?\)$", frame)
    if not m:
        return frame
    func, path = m.group(1), m.group(2)
    parts = path.replace("\\\\", "/").split("/")
    short = "/".join(parts[-2:]) if "site-packages" not in path else parts[parts.index("site-packages") + 1] \
        if "site-packages" in parts else parts[-1]
    return f"{func} ({short})"


def summarize_collapsed(path: Path, top: int = 25) -> dict:
    """Self time and inclusive time of the top functions, as shares of all samples."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return {"samples": 0, "self": [], "inclusive": []}
    for line in lines:
        m = _LINE.match(line)
        if not m:
            continue
        stack, n = m.group(1), int(m.group(2))
        frames = [_frame_name(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += n
        self_time[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n
    def share(c: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(n / total, 4)) for name, n in c.most_common(top)] if total else []
    return {"samples": total, "self": share(self_time), "inclusive": share(inclusive)}


def start_recording(pid: int, path: Path) -> subprocess.Popen | None:
    """py-spy recording ``pid`` into ``path`` (raw collapsed stacks), or None when py-spy is
    not installed (it is in the bench extra)."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(exe).exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([exe, "record", "--pid", str(pid), "--format", "raw", "--rate", "250",
                             "--output", str(path), "--nonblocking", "--gil"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # py-spy attaches
    return proc


def stop_recording(proc: subprocess.Popen, path: Path) -> dict:
    """Stop a recording; its summary (the top frames)."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
    return {"file": str(path), **summarize_collapsed(path)}


def main() -> None:
    import json
    import sys

    for p in sys.argv[1:]:
        print(p)
        print(json.dumps(summarize_collapsed(Path(p)), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
