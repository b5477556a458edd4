"""Matcher and normalizer throughput (run: python tests/moderation/bench_matcher.py).

Not a test: prints the numbers recorded in docs/moderation.md ("Measured"). Each figure is
the best of several repeats (the machine is shared; the minimum is the least noisy).
``--reference`` also times the original per-character normalizer
(tests/moderation/reference_normalize.py) on the same inputs, for before/after.
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from moderation.normalize import normalize  # noqa: E402
from moderation.terms import Matcher, Term, check  # noqa: E402

LINES = [
    "hey everyone, how is the stream going today? lol 😂",
    "大家好，今天的直播怎么样？我觉得很好玩",
    "f.u.c.k this badword17 game, gg wp @alice https://example.com",
    "Ｈｅｌｌｏ 習近平 mixed 中英文 message with some more words to make it longer than usual ok",
]
LONG = {
    "long ASCII (1,909: '0 hello ' + 'x'*1900)": "0 hello " + "x" * 1900,
    "long English (1,900)": ("the quick brown fox jumps over the lazy dog, lol! " * 40)[:1900],
    "long Chinese, traditional (1,900)": ("我們今天討論國家發展，習近平說了什麼？大家覺得怎麼樣。" * 80)[:1900],
    "long mixed (1,900)": ("Ｈｅｌｌｏ 習近平 mixed 中英文 message with some words, ok " * 40)[:1900],
}


def best(fn, number: int, repeat: int = 7) -> float:
    """Seconds per call, best of ``repeat``."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def main() -> None:
    reference = "--reference" in sys.argv
    if reference:
        from tests.moderation.reference_normalize import normalize as ref_normalize
    terms = ([Term(f"badword{i}") for i in range(350)]
             + [Term(f"*slur{i}x*", "mask") for i in range(50)]
             + [Term("坏" + chr(0x4E00 + i * 7) + "词", "hold") for i in range(100)])
    m = Matcher.build(terms)
    build = best(lambda: Matcher.build(terms), 1, 3)
    one = Matcher.build(terms[:1])

    def lines(fn):
        return lambda: [fn(line) for line in LINES]

    for label, matcher in (("500 terms", m), ("1 term", one)):
        dt = best(lines(lambda t: check(matcher, t)), 200) / len(LINES)
        print(f"chat lines, {label}: {dt * 1e6:.1f} us/line, {1 / dt:.0f} lines/s")
    print(f"chat lines, normalize alone: {best(lines(normalize), 200) / len(LINES) * 1e6:.1f} us/line")
    if reference:
        dt = best(lines(ref_normalize), 50) / len(LINES)
        print(f"chat lines, reference normalize: {dt * 1e6:.1f} us/line")
    for label, text in LONG.items():
        fast = best(lambda: normalize(text), 50)
        scan = best(lambda: check(m, text), 50)
        row = f"{label}: normalize {fast * 1e6:.0f} us, check (500 terms) {scan * 1e6:.0f} us"
        if reference:
            ref = best(lambda: ref_normalize(text), 5, 5)
            row += f"; reference normalize {ref * 1e6:.0f} us ({ref / fast:.1f}x)"
        print(row)
    print(f"compile {len(m)} terms: {build * 1000:.1f} ms")


if __name__ == "__main__":
    main()
