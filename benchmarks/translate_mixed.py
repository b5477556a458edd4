"""``livebridge bench translate --scenario mixed``: do short chat lines stay fast while long
pastes are being translated, in both directions at once?

Promise: :func:`run_mixed` drives any ``translate(text, source, target) -> (ok, error)``
coroutine (``chatserver/cli_bench.py`` passes the server's own ``TranslationService``, with
its batcher, fair chunking, backlog and deadline; this package does not import the
translator) through two phases of ``seconds`` each and reports the short lines' p50/p99:

1. **short only**: short lines arrive open-loop at ``rate`` per second in all, alternating
   en->zh and zh->en (arrivals do not wait for answers, as in a room);
2. **mixed**: the same, while ``long_in_flight`` long messages per direction (about
   ``long_chars`` characters: a 1,889-character English text, a 1,900-character Chinese paste,
   as issue 12 measured) are always being translated: each is sent again as soon as it ends.

A short line's latency is from its arrival to its answer; a failure (backlog, deadline) is
counted by its reason and not in the percentiles (the count says how many).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

SHORT = {
    "en": ["hello everyone", "where are you from?", "this stream is great", "good morning",
           "can you hear me now?", "what song is this?", "see you tomorrow", "thank you very much",
           "I love this part", "the sound is a bit low", "how long have you been playing?",
           "welcome to the room"],
    "zh": ["大家好", "你在哪里", "这个直播太棒了", "早上好", "现在能听到吗", "这是什么歌",
           "明天见", "非常感谢", "我喜欢这一段", "声音有点小", "你玩了多久了", "欢迎来到房间"],
}
LONG_SENTENCES = {
    "en": ["I wanted to share a few thoughts about the last match before we start tonight.",
           "The first half was slow, and both teams kept the ball without taking many risks.",
           "After the break everything changed, because the coach moved two players forward.",
           "That gave us more space on the left side, and the passes started to find people."],
    "zh": ["我想在今晚开始之前说一说上一场比赛。", "上半场节奏很慢，两队都不太冒险。",
           "中场休息后一切都变了。", "教练把两名球员往前调了。", "左边的空间多了，传球也顺了。"],
}


@dataclass
class MixedConfig:
    rate: float = 5.0  # short lines per second, both directions together
    seconds: float = 30.0  # per phase
    long_chars: int = 1900
    long_in_flight: int = 1  # per direction, during the mixed phase
    warmup: int = 4  # short lines translated before measuring


def long_text(lang: str, chars: int) -> str:
    parts, n = [], 0
    sentences = LONG_SENTENCES[lang]
    while n < chars:
        s = sentences[len(parts) % len(sentences)]
        parts.append(s)
        n += len(s) + (1 if lang == "en" else 0)
    return (" " if lang == "en" else "").join(parts)


Translate = Callable[[str, str, str], Awaitable[tuple[bool, str | None]]]


def _pct(values: list[float], p: float) -> float | None:
    v = sorted(values)
    return round(v[min(len(v) - 1, int(p * len(v)))] * 1000, 1) if v else None


def _summary(latencies: list[float], failures: Counter) -> dict[str, Any]:
    return {"ok": len(latencies), "failed": sum(failures.values()), "failures": dict(failures),
            "p50_ms": _pct(latencies, 0.5), "p99_ms": _pct(latencies, 0.99),
            "max_ms": round(max(latencies) * 1000, 1) if latencies else None}


async def _phase(translate: Translate, cfg: MixedConfig, *, longs: bool) -> dict[str, Any]:
    short_lat: dict[str, list[float]] = {"en-zh": [], "zh-en": []}
    short_fail: Counter = Counter()
    long_lat: list[float] = []
    long_fail: Counter = Counter()
    end = time.perf_counter() + cfg.seconds
    pairs = [("en", "zh"), ("zh", "en")]

    async def short(i: int) -> None:
        src, tgt = pairs[i % 2]
        text = SHORT[src][(i // 2) % len(SHORT[src])]
        t = time.perf_counter()
        ok, error = await translate(text, src, tgt)
        if ok:
            short_lat[f"{src}-{tgt}"].append(time.perf_counter() - t)
        else:
            short_fail[error or "?"] += 1

    async def long_loop(src: str, tgt: str) -> None:
        text = long_text(src, cfg.long_chars)
        while time.perf_counter() < end:
            t = time.perf_counter()
            ok, error = await translate(text, src, tgt)
            if ok:
                long_lat.append(time.perf_counter() - t)
            else:
                long_fail[error or "?"] += 1

    loops = [asyncio.create_task(long_loop(s, t)) for s, t in pairs for _ in range(cfg.long_in_flight)] \
        if longs else []
    shorts: list[asyncio.Task] = []
    t0 = time.perf_counter()
    i = 0
    while True:
        due = t0 + i / cfg.rate
        if due >= end:
            break
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        shorts.append(asyncio.create_task(short(i)))
        i += 1
    await asyncio.gather(*shorts)
    await asyncio.gather(*loops)
    both = short_lat["en-zh"] + short_lat["zh-en"]
    out = {"short": _summary(both, short_fail), "short_en_zh": _summary(short_lat["en-zh"], Counter()),
           "short_zh_en": _summary(short_lat["zh-en"], Counter()), "short_sent": i,
           "seconds": round(time.perf_counter() - t0, 2)}
    if longs:
        out["long"] = {**_summary(long_lat, long_fail), "chars": {lang: len(long_text(lang, cfg.long_chars))
                                                                  for lang in ("en", "zh")}}
    return out


async def run_mixed(translate: Translate, cfg: MixedConfig, about: dict[str, Any],
                    progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Both phases; ``about`` (backend, models, settings) goes into the report as it is."""
    from benchmarks.sysinfo import machine

    for i in range(cfg.warmup):
        src, tgt = (("en", "zh"), ("zh", "en"))[i % 2]
        await translate(SHORT[src][i % len(SHORT[src])], src, tgt)
    report: dict[str, Any] = {"kind": "translate-mixed", "config": asdict(cfg), "translator": about,
                              "machine": machine(), "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    progress(f"short only: {cfg.rate:g} lines/s for {cfg.seconds:g} s")
    report["short_only"] = await _phase(translate, cfg, longs=False)
    progress(f"mixed: the same with {cfg.long_in_flight} long message(s) per direction always in flight")
    report["mixed"] = await _phase(translate, cfg, longs=True)
    return report


def markdown(report: dict[str, Any]) -> str:
    cfg, about = report["config"], report["translator"]
    lines = [f"# Translation, short lines beside long ones ({report['started_at']})", "",
             f"Translator: {about}", "",
             f"Short lines: {cfg['rate']:g}/s in all, en->zh and zh->en alternating, {cfg['seconds']:g} s per phase; "
             f"mixed: {cfg['long_in_flight']} long message(s) per direction always in flight.", "",
             "| phase | short ok | short failed | short p50 ms | short p99 ms | short max ms | long done | long p50 ms | long failed |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in ("short_only", "mixed"):
        r = report.get(name)
        if not r:
            continue
        s, lg = r["short"], r.get("long") or {}
        lines.append(f"| {name} | {s['ok']} | {s['failed']} {s['failures'] or ''} | {s['p50_ms']} | {s['p99_ms']} "
                     f"| {s['max_ms']} | {lg.get('ok', '-')} | {lg.get('p50_ms', '-')} | {lg.get('failed', '-')} |")
    for name in ("short_only", "mixed"):
        r = report.get(name)
        if r:
            lines.append(f"\n{name} by direction: en->zh p50/p99 {r['short_en_zh']['p50_ms']}/{r['short_en_zh']['p99_ms']} ms, "
                         f"zh->en {r['short_zh_en']['p50_ms']}/{r['short_zh_en']['p99_ms']} ms")
    return "\n".join(lines) + "\n"
