"""A busy room in a real browser: 2,000 messages pushed at 100 a second (rate limits raised
for the test) into a page that follows the live end. The DOM stays bounded, every message
arrives, the screen-reader announcer is throttled. JS heap and long tasks are measured and
reported (printed and written to artifacts/busy-room.json), not asserted: on this shared
2-core machine their values are noise-bound; see docs/web-client.md for the numbers.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

from playwright.sync_api import expect

from tests.web.conftest import ARTIFACTS, join_room, message

TOTAL = 2000
RATE = 100.0  # messages per second
FAST = ("--rate-user", "1000", "--rate-user-burst", "1000", "--rate-connection", "1000",
        "--rate-connection-burst", "1000", "--rate-frames", "1000", "--rate-frames-burst", "1000",
        "--flood-max", "0")

OBSERVE = """
window.__longtasks = [];
try {
  new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__longtasks.push(e.duration); })
    .observe({ type: "longtask", buffered: true });
} catch (e) { window.__longtasks = null; }
"""

SAMPLE = """() => ({
  nodes: document.getElementsByTagName('*').length,
  messages: document.querySelectorAll('li.msg').length,
  heap: performance.memory ? performance.memory.usedJSHeapSize : null,
  longtasks: window.__longtasks ? window.__longtasks.slice() : null,
  announced: Number(document.getElementById('announcer').dataset.count || 0),
})"""


def test_two_thousand_messages_keep_the_dom_bounded(start_server, pages):
    from clients.client import LiveBridgeClient

    srv = start_server(*FAST)
    reader = pages.new()
    reader.add_init_script(OBSERVE)
    join_room(reader, srv.url, "busy", "Reader", "en")
    before = reader.evaluate(SAMPLE)
    samples = []
    done = threading.Event()

    async def push() -> None:
        async with LiveBridgeClient(srv.url, name="Firehose", lang="en") as client:
            await client.join("busy")
            start = time.monotonic()
            for i in range(1, TOTAL + 1):
                await client.send("busy", f"message {i} from the firehose, a line of ordinary chat length")
                delay = start + i / RATE - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
        done.set()

    started = time.monotonic()
    pusher = threading.Thread(target=lambda: asyncio.run(push()))
    pusher.start()
    while not done.is_set() and time.monotonic() - started < 120:
        reader.wait_for_timeout(2000)
        samples.append(reader.evaluate(SAMPLE))
    pusher.join(10)
    assert done.is_set(), "the pusher did not finish"
    last = message(reader, f"message {TOTAL} from the firehose, a line of ordinary chat length")
    expect(last).to_have_count(1, timeout=20_000)
    elapsed = time.monotonic() - started
    after = reader.evaluate(SAMPLE)
    samples.append(after)

    # Bounded: the list keeps at most MAX_SHOWN (150) messages; the whole page stays small.
    peak_nodes = max(s["nodes"] for s in samples)
    peak_messages = max(s["messages"] for s in samples)
    assert peak_messages <= 150, peak_messages
    assert peak_nodes < 4000, peak_nodes
    # The announcer speaks at most once every 2.5 s, not once per message.
    assert after["announced"] <= elapsed / 2.5 + 2, (after["announced"], elapsed)

    tasks = after["longtasks"] or []
    report = {
        "messages": TOTAL, "rate_per_s": RATE, "seconds": round(elapsed, 1),
        "dom_nodes": {"before": before["nodes"], "peak": peak_nodes, "after": after["nodes"]},
        "messages_in_dom": {"peak": peak_messages, "after": after["messages"]},
        "js_heap_mb": {"before": round((before["heap"] or 0) / 2**20, 1),
                       "peak": round(max(s["heap"] or 0 for s in samples) / 2**20, 1),
                       "after": round((after["heap"] or 0) / 2**20, 1)},
        "long_tasks": {"count": len(tasks), "over_100ms": sum(1 for d in tasks if d > 100),
                       "max_ms": round(max(tasks), 1) if tasks else 0},
        "announcements": after["announced"],
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "busy-room.json").write_text(json.dumps(report, indent=2))
    print("\nbusy room:", json.dumps(report))
