"""Matcher throughput for 500 terms on chat lines (run: python tests/moderation/bench_matcher.py).

Not a test: prints numbers recorded in docs/moderation.md.
"""

from __future__ import annotations

import time

from moderation.normalize import normalize
from moderation.terms import Matcher, Term, check

LINES = [
    "hey everyone, how is the stream going today? lol 😂",
    "大家好，今天的直播怎么样？我觉得很好玩",
    "f.u.c.k this badword17 game, gg wp @alice https://example.com",
    "Ｈｅｌｌｏ 習近平 mixed 中英文 message with some more words to make it longer than usual ok",
] * 500


def main() -> None:
    terms = ([Term(f"badword{i}") for i in range(350)]
             + [Term(f"*slur{i}x*", "mask") for i in range(50)]
             + [Term("坏" + chr(0x4E00 + i * 7) + "词", "hold") for i in range(100)])
    t0 = time.perf_counter()
    m = Matcher.build(terms)
    build = time.perf_counter() - t0
    n = len(LINES)
    for label, matcher in (("500 terms", m), ("1 term", Matcher.build(terms[:1]))):
        t0 = time.perf_counter()
        for line in LINES:
            check(matcher, line)
        dt = time.perf_counter() - t0
        print(f"{label}: {dt / n * 1e6:.1f} us/line, {n / dt:.0f} lines/s")
    t0 = time.perf_counter()
    for line in LINES:
        normalize(line)
    print(f"normalize alone: {(time.perf_counter() - t0) / n * 1e6:.1f} us/line")
    print(f"compile {len(m)} terms: {build * 1000:.1f} ms")


if __name__ == "__main__":
    main()
