"""Shared pieces of the abuse tests (issue 14).

The attacks that need no network run on the in-process node of tests/edge (its ``node`` and
``make_node`` fixtures, re-exported here); the others on a real ``livebridge serve`` process
on loopback (tests/harness.py). Every wait has a deadline; nothing sleeps and hopes.
"""

from __future__ import annotations

import asyncio
import random
import string
from typing import Any

from tests.edge.conftest import Client, make_node, node  # noqa: F401  (fixtures)

ATTACK_DEADLINE = 20.0  # seconds an attacker's request may take under load before the test fails


async def ask(client: Client, frame: dict[str, Any], reply: str | None, *,
              timeout: float = ATTACK_DEADLINE) -> dict:
    """Send ``frame`` with a fresh ref; its reply of type ``reply`` (any type when None), or
    raise on another type, or after ``timeout``."""
    ref = f"s{id(frame)}-{random.random()}"
    await client.send({**frame, "ref": ref})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        for i, got in enumerate(client.sink.frames):
            if got.get("ref") == ref:
                client.sink.frames.pop(i)
                if reply is not None and got["type"] != reply:
                    raise AssertionError(f"expected {reply}, got {got}")
                return got
        client.sink.changed.clear()
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError(f"no reply to {frame['type']} within {timeout}s")
        try:
            await asyncio.wait_for(client.sink.changed.wait(), left)
        except TimeoutError:
            pass


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def random_words(rng: random.Random, n: int, *, length: int) -> list[str]:
    """``n`` distinct two-word phrases of about ``length`` characters, letters only."""
    out: set[str] = set()
    while len(out) < n:
        half = max(2, (length - 1) // 2)
        out.add("".join(rng.choice(string.ascii_lowercase) for _ in range(half)) + " "
                + "".join(rng.choice(string.ascii_lowercase) for _ in range(half)))
    return sorted(out)
