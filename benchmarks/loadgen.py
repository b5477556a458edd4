"""One load-generator process: its share of the simulated members, driven by commands.

The orchestrator (:mod:`benchmarks.fanout`) starts several of these with
``multiprocessing`` and talks to each over a pipe:

- on start, the worker connects its members (at a given rate), joins them to their rooms
  and answers ``("ready", stats)``;
- ``("step", index, rate, start_at, duration)``: its senders send at ``rate`` messages per
  second each from wall-clock ``start_at`` for ``duration`` seconds, then it answers
  ``("sent", index, {room: count})``; meanwhile it reports ``("progress", index, received)``;
- ``("collect", index)``: it answers ``("result", index, stats, latencies, acks)``, the
  send-to-receipt latencies (µs, int64 bytes) of every delivery of that step it saw, and
  the send-to-ack latencies of its senders' acks (LiveBridge, JSON codec; else empty);
- ``("stop",)``: it closes its connections and exits.

Receivers stay lean: one prefix test and a slice per frame (see :mod:`benchmarks.adapters`).
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import random
import time
from array import array
from collections import Counter
from typing import Any

from benchmarks import wsclient
from benchmarks.adapters import MARK, make_adapter, message_text
from benchmarks.sysinfo import pin, raise_nofile

SLOW_CONSUMER = 4408


class Member:
    """One simulated member: a lean connection, its room and who waits for its next frame."""

    __slots__ = ("worker", "room", "node", "sender", "ws", "_waiter", "_match", "inbox")

    def __init__(self, worker: "Worker", room: str, node: int, sender: bool) -> None:
        self.worker = worker
        self.room = room
        self.node = node
        self.sender = sender
        self.ws: wsclient.LeanWebSocket | None = None
        self._waiter: asyncio.Future | None = None
        self._match = None
        self.inbox: list[bytes] | None = []  # frames kept while joining (None once joined)

    def on_frame(self, payload: bytes) -> None:
        w = self.worker
        if w.is_message(payload):
            i = payload.find(MARK)
            if i >= 0:
                now = time.time_ns() // 1000
                step = int(payload[i + 18:i + 20])
                lat = w.latencies.get(step)
                if lat is None:  # before this worker saw the step command, or after collect
                    lat = w.latencies[step] = array("q")
                lat.append(now - int(payload[i + 2:i + 18]))
                w.last_rx[step] = now
                return
        if self.inbox is not None:
            if self._waiter is not None and not self._waiter.done() and self._match(payload):
                self._waiter.set_result(payload)
            else:
                self.inbox.append(payload)
            return
        if w.adapter.is_error(payload):
            w.errors[payload[:120].decode(errors="replace")] += 1
            return
        w.adapter.other(self, payload)

    async def expect(self, match, timeout: float) -> bytes:
        """The next frame (kept or coming) that ``match`` accepts; others are dropped."""
        inbox = self.inbox if self.inbox is not None else []
        while inbox:
            payload = inbox.pop(0)
            if match(payload):
                return payload
            self.worker.adapter.other(self, payload)
        self._waiter = asyncio.get_running_loop().create_future()
        self._match = match
        try:
            return await asyncio.wait_for(self._waiter, timeout)
        finally:
            self._waiter = None


class Worker:
    def __init__(self, wid: int, spec: dict[str, Any], conn) -> None:
        self.wid = wid
        self.spec = spec
        self.conn = conn
        self.adapter = make_adapter(spec["server"], spec["codec"])
        self.is_message = self.adapter.is_message
        self.members: list[Member] = []
        self.latencies: dict[int, array] = {}
        self.ack_latencies: dict[int, array] = {}
        self.last_rx: dict[int, int] = {}
        self.errors: Counter[str] = Counter()
        self.closes: Counter[int] = Counter()
        self._commands: asyncio.Queue = asyncio.Queue()
        self._stop_progress = False

    def record_ack(self, step: int, latency_us: int) -> None:
        lat = self.ack_latencies.get(step)
        if lat is None:
            lat = self.ack_latencies[step] = array("q")
        lat.append(latency_us)

    # Setup -----------------------------------------------------------------------------------

    def _closed(self, ws: wsclient.LeanWebSocket) -> None:
        self.closes[ws.close_code or 1006] += 1

    async def _connect_one(self, member: Member, at: float, sem: asyncio.Semaphore,
                           stats: dict[str, Any]) -> None:
        delay = at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        async with sem:
            host, port = self.spec["nodes"][member.node]
            t0 = time.monotonic()
            try:
                member.ws = await wsclient.connect(
                    host, port, self.adapter.path(member.room, member.node), member.on_frame,
                    subprotocol=self.adapter.subprotocol, timeout=self.spec["connect_timeout"],
                    on_close=self._closed)
                await self.adapter.join(member, member.room, self.spec["connect_timeout"])
                for payload in member.inbox or ():
                    self.adapter.other(member, payload)
                member.inbox = None
            except Exception as exc:  # counted, reported; the run goes on without this member
                stats["failed"] += 1
                stats["failures"][type(exc).__name__ + ": " + str(exc)[:100]] += 1
                if member.ws is not None:
                    member.ws.close()
                member.ws = None
                return
            stats["connect_ms"].append((time.monotonic() - t0) * 1000)

    async def setup(self) -> dict[str, Any]:
        await asyncio.to_thread(self.adapter.prepare, self.spec["base_urls"], self.wid, self.spec.get("secret"))
        for room, node, sender in self.spec["members"]:
            self.members.append(Member(self, room, node, sender))
        rate = self.spec["connect_rate"]  # connections per second, this worker's share
        stats: dict[str, Any] = {"failed": 0, "failures": Counter(), "connect_ms": []}
        sem = asyncio.Semaphore(self.spec["connect_concurrency"])
        t0 = time.monotonic()
        tasks = [asyncio.create_task(self._connect_one(m, t0 + (i / rate if rate else 0.0), sem, stats))
                 for i, m in enumerate(self.members)]
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - t0
        rooms: Counter[str] = Counter(m.room for m in self.members if m.ws is not None)
        self.closes.clear()  # members that failed to join were closed by us
        gc.collect()
        gc.freeze()  # the members live to the end: keep the collector off them
        return {"connected": sum(rooms.values()), "failed": stats["failed"],
                "failures": dict(stats["failures"]), "connect_ms": stats["connect_ms"],
                "elapsed": elapsed, "rooms": dict(rooms)}

    # Steps -----------------------------------------------------------------------------------

    async def _send_step(self, step: int, rate: float, start_at: float, duration: float) -> dict:
        senders = [m for m in self.members if m.sender and m.ws is not None]
        sent: Counter[str] = Counter()
        late = 0
        if not senders or rate <= 0:
            await asyncio.sleep(max(0.0, start_at + duration - time.time()))
            return {"sent": {}, "late": 0}
        interval = 1.0 / rate
        end = start_at + duration
        heap = [(start_at + random.random() * interval, i) for i in range(len(senders))]
        heapq.heapify(heap)
        size = self.spec["message_size"]
        payload_of = self.adapter.send_payload
        opcode = self.adapter.opcode
        while heap:
            due, i = heap[0]
            if due >= end:
                break
            now = time.time()
            if due > now:
                await asyncio.sleep(due - now)
                continue
            if now - due > 0.010:
                late += 1
            heapq.heapreplace(heap, (due + interval, i))
            member = senders[i]
            text = message_text(time.time_ns() // 1000, step, size)
            member.ws.send(payload_of(member.room, text), opcode)
            sent[member.room] += 1
        await asyncio.sleep(max(0.0, end - time.time()))
        return {"sent": dict(sent), "late": late}

    async def _progress(self) -> None:
        while not self._stop_progress:
            received = {step: len(lat) for step, lat in self.latencies.items()}
            self.conn.send(("progress", self.wid, received))
            await asyncio.sleep(0.25)

    def _on_command(self) -> None:
        while self.conn.poll():
            self._commands.put_nowait(self.conn.recv())

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        ready = await self.setup()
        self.conn.send(("ready", self.wid, ready))
        loop.add_reader(self.conn.fileno(), self._on_command)
        progress = asyncio.create_task(self._progress())
        try:
            while True:
                command = await self._commands.get()
                kind = command[0]
                if kind == "step":
                    _, step, rate, start_at, duration = command
                    self.latencies.setdefault(step, array("q"))
                    self.last_rx.setdefault(step, 0)
                    result = await self._send_step(step, rate, start_at, duration)
                    self.conn.send(("sent", self.wid, step, result))
                elif kind == "collect":
                    step = command[1]
                    lat = self.latencies.pop(step, array("q"))
                    stats = {"received": len(lat), "last_rx_us": self.last_rx.pop(step, 0),
                             "errors": dict(self.errors), "closes": dict(self.closes),
                             "open": sum(1 for m in self.members if m.ws is not None and not m.ws.closed)}
                    acks = self.ack_latencies.pop(step, array("q"))
                    self.conn.send(("result", self.wid, step, stats, lat.tobytes(), acks.tobytes()))
                elif kind == "stop":
                    break
        finally:
            self._stop_progress = True
            progress.cancel()
            loop.remove_reader(self.conn.fileno())
            for m in self.members:
                if m.ws is not None:
                    m.ws.close()
            await asyncio.sleep(0.2)


def worker_main(wid: int, spec: dict[str, Any], conn) -> None:
    """Entry point of a generator process."""
    raise_nofile()
    pin(0, spec.get("cpus"))
    try:
        asyncio.run(Worker(wid, spec, conn).run())
    except Exception as exc:  # tell the orchestrator instead of hanging it
        try:
            conn.send(("crash", wid, f"{type(exc).__name__}: {exc}"))
        except Exception:
            pass
        raise
