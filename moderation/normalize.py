"""Canonical text for blocked-term matching, with a map back to the original text. Pure.

:func:`normalize` turns a chat line into a :class:`Normalized` form that the matcher in
:mod:`moderation.terms` searches. The normalized form exists only for matching; nothing a
reader sees is ever built from it: every normalized character remembers the ``[start, end)``
span of the original code points it came from, so a match is always reported (and masked) as
a span of the ORIGINAL text.

Steps, each applied per original code point (so the position map stays exact):

1. NFKC (full-width letters and digits, ligatures, circled letters, ... -> plain forms).
2. Combining marks dropped ("fück" -> "fuck", zalgo text), invisible characters dropped
   (zero-width spaces/joiners, soft hyphen, BOM, word joiner, Hangul fillers, braille
   blank, tag characters, other format and control characters except whitespace).
3. Case folding.
4. Traditional -> simplified Chinese, character by character (OpenCC ``t2s``).
5. Homoglyphs: Cyrillic and Greek lookalikes -> Latin letters.

Then the text is cut into *tokens*: runs of Latin-like word characters (letters, digits and
the leet symbols ``@ $ ! | +``) and runs of CJK characters (Han, kana, Hangul); a change of
script ends a token. Everything else is a *gap* (whitespace, punctuation, emoji...). Leet
digits and symbols become letters (0->o 1->i 3->e 4->a 5->s 7->t 8->b 9->g @->a $->s !->i
|->i +->t) only inside tokens that contain a real letter, so "a55" reads "ass" but "555"
and "$5" stay as they are; ``! | +`` count as leet only between word characters ("sh!t"),
never at a token's edge ("hi!").

The *skeleton* is the concatenation of every token (gaps removed): "f.u.c.k" and "f u c k"
both give "fuck" as four one-letter tokens. The *dedup* form collapses runs of the same
skeleton character ("fuuuck" -> "fuck") and records each run's length, so the matcher can
accept repeated letters while still telling "ass" from "as". Whether a match that crosses
gaps is evasion or innocent ("pen is") is the matcher's decision, from the gap kinds
recorded here.
"""

from __future__ import annotations

import itertools
import operator
import re
import unicodedata
from functools import cached_property, lru_cache
from typing import Any, NamedTuple, Sequence

import opencc

_T2S = opencc.OpenCC("t2s")

# Gap kinds between a token and the one before it.
GAP_NONE = 0   # adjacent (script change, or first token)
GAP_TIGHT = 1  # only punctuation/symbols, no whitespace or apostrophe: "f.u.c.k", "fu-ck"
GAP_LOOSE = 2  # contains whitespace or an apostrophe: "f u c k", "pen is", "he'll"

SCRIPT_LATIN = "l"
SCRIPT_CJK = "h"

_INVISIBLE_EXTRA = frozenset("\u115f\u1160\u3164\uffa0\u2800\u17b4\u17b5\u034f")
_APOSTROPHES = frozenset("'\u2019\u2018\u02bc\u02bb\u0060\u00b4\u2032")
_LEET_SYMBOLS = frozenset("@$!|+")
_EDGE_ONLY_INTERIOR = frozenset("!|+")  # leet only between word characters
LEET: dict[str, str] = {
    "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
    "@": "a", "$": "s", "!": "i", "|": "i", "+": "t",
}
HOMOGLYPHS: dict[str, str] = {
    # Cyrillic (lower case; case folding runs first)
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
    "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i",
    "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ү": "y", "һ": "h", "ɡ": "g", "ı": "i",
    "ɑ": "a", "ո": "n", "ս": "u", "ց": "g", "ʏ": "y", "ʀ": "r", "ᴋ": "k",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "μ": "u", "ς": "s", "σ": "o",
    "ϲ": "c", "ϳ": "j",
    # Latin letters with hooks and strokes that NFD does not decompose
    "ƒ": "f", "ɓ": "b", "ƈ": "c", "ɗ": "d", "ɠ": "g", "ƙ": "k", "ƚ": "l", "ɱ": "m",
    "ɲ": "n", "ƥ": "p", "ʂ": "s", "ƭ": "t", "ʋ": "v", "ƴ": "y", "ȥ": "z", "ø": "o",
    "đ": "d", "ħ": "h", "ł": "l", "ŧ": "t", "ß": "ss",
}


def is_cjk(ch: str) -> bool:
    """Han ideographs, kana and Hangul syllables: scripts written without spaces."""
    o = ord(ch)
    return (
        0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0x20000 <= o <= 0x3134F
        or 0xF900 <= o <= 0xFAFF or 0x3040 <= o <= 0x30FF or 0xAC00 <= o <= 0xD7AF
        or o == 0x3007
    )


def _invisible(ch: str) -> bool:
    if ch in _INVISIBLE_EXTRA:
        return True
    cat = unicodedata.category(ch)
    if cat in ("Mn", "Me", "Cf", "Cs", "Co", "Cn"):
        return True
    return cat == "Cc" and not ch.isspace()


def _fold(ch: str) -> list[tuple[str, bool]]:
    """Steps 1-3 and 5 for one code point, before traditional -> simplified: a list of
    (char, needs_t2s). Step 4 is applied by the callers (one OpenCC call per char or batch)."""
    if _invisible(ch):
        return []
    out: list[tuple[str, bool]] = []
    for c in unicodedata.normalize("NFKC", ch):
        if _invisible(c):
            continue
        if not c.isascii() and not is_cjk(c):
            # Strip diacritics when what remains is plain ASCII ("é" -> "e").
            base = "".join(x for x in unicodedata.normalize("NFD", c) if not unicodedata.combining(x))
            if base and base.isascii():
                c = base
        for f in c.casefold():
            out.append((f, is_cjk(f)))
    return out


def _finish(folded: list[tuple[str, bool]], t2s: dict[str, str]) -> str:
    out = []
    for f, cjk in folded:
        if cjk:
            f = t2s[f] or f
        out.append(HOMOGLYPHS.get(f, f))
    return "".join(out)


def _t2s_chars(chars: set[str]) -> dict[str, str]:
    """OpenCC t2s of each char on its own, in one call: the chars are joined by newlines,
    which no OpenCC phrase spans, so each converts exactly as it would alone. Falls back to
    one call per char if the result does not split back into one piece per char."""
    ordered = sorted(chars)
    if not ordered:
        return {}
    pieces = _T2S.convert("\n".join(ordered)).split("\n")
    if len(pieces) != len(ordered):  # pragma: no cover - defensive
        pieces = [_T2S.convert(c) for c in ordered]
    return dict(zip(ordered, pieces))


@lru_cache(maxsize=4096)
def canon_char(ch: str) -> str:
    """Steps 1-5 for one code point; "" when it is invisible. Result may be several chars."""
    folded = _fold(ch)
    return _finish(folded, {f: _T2S.convert(f) for f, cjk in folded if cjk})


class _CanonTable(dict):
    """``ord(ch) -> canon_char(ch)`` for ``str.translate``, filled a message at a time.

    Bounded: past ``limit`` entries it starts over, so a flood of distinct code points
    costs memory at most ``limit`` entries; refilling costs about 1-2 us per new code point
    (OpenCC is called once per message for all new CJK characters, not once per character).
    """

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.known: set[str] = set()
        self.irregular: set[str] = set()  # chars whose canonical form is not exactly one char

    def fill(self, chars: set[str]) -> None:
        missing = chars - self.known
        if not missing:
            return
        if len(self) + len(missing) > self.limit:
            self.clear()
            self.known.clear()
            self.irregular.clear()
        folded = [_fold(c) for c in missing]
        t2s = _t2s_chars({f for fs in folded for f, cjk in fs if cjk})
        for c, fs in zip(missing, folded):
            out = _finish(fs, t2s)
            self[ord(c)] = out
            self.known.add(c)
            if len(out) != 1:
                self.irregular.add(c)

    def __missing__(self, key: int) -> str:  # pragma: no cover - fill() runs first
        out = canon_char(chr(key))
        self[key] = out
        return out


_CANON = _CanonTable(limit=1 << 17)


class Token(NamedTuple):
    """One token: skeleton positions ``[lo, hi)``, script, and the gap kind before it.
    (A named tuple: built thousands of times per long message, it must be cheap.)"""

    lo: int
    hi: int
    script: str
    gap: int

    @property
    def length(self) -> int:
        return self.hi - self.lo


class Normalized:
    """The matching view of a text.

    ``skeleton[i]`` came from ``original[start[i]:end[i]]`` and belongs to token ``tok[i]``.
    ``dedup[k]`` stands for skeleton positions ``[run_lo[k], run_hi[k])`` (all the same char);
    ``run_of[i]`` is the dedup index of skeleton position ``i``.

    ``original``, ``skeleton`` and ``dedup`` are computed up front (the flood fingerprint and
    the Aho-Corasick pass need only ``dedup``); the position maps and tokens are computed on
    first use (the matcher needs them only to check a candidate hit) and then kept. Treat it
    as immutable.
    """

    def __init__(self, original: str, skeleton: str, dedup: str, canon: str,
                 classes: str | None, src: Sequence[int]) -> None:
        self.original = original
        self.skeleton = skeleton
        self.dedup = dedup
        self._canon = canon        # canonical chars (steps 1-5), aligned with _classes
        self._classes = classes    # their classes after context rules; None: not needed yet
        self._src = src            # canonical index -> original code point index

    def __repr__(self) -> str:
        return f"Normalized({self.original!r}, skeleton={self.skeleton!r})"

    def _maps(self) -> dict[str, Any]:
        """Compute every lazy field at once into the instance dict (then plain attributes)."""
        c = self.__dict__
        classes = self._classes
        if classes is None:  # no leet characters: no context rules apply
            classes = self._canon.translate(_CLASS)
        kinds = classes.translate(_TOKEN_CLASS)
        keep = kinds.translate(_KEEP).encode("latin-1")
        start = tuple(itertools.compress(self._src, keep))
        if self.skeleton:
            gaps, words = zip(*_TOKEN_WITH_GAP.findall(kinds))
        else:
            gaps, words = (), ()
        lengths = list(map(len, words))
        his = list(itertools.accumulate(lengths))
        los = [0, *his[:-1]]
        gap_kinds = [GAP_NONE, *map(_gap_kind, gaps[1:])]
        n = len(self.skeleton)
        sk = self.skeleton
        run_lo = [0] if n else []
        run_lo.extend(itertools.compress(range(1, n), map(operator.ne, sk[1:], sk)))
        run_hi = run_lo[1:]
        if n:
            run_hi.append(n)
        c.update(
            start=start,
            end=tuple(map(_PLUS_ONE, start)),
            tokens=tuple(map(Token, los, his, map(operator.itemgetter(0), words), gap_kinds)),
            tok=tuple(itertools.chain.from_iterable(
                map(itertools.repeat, range(len(lengths)), lengths))),
            run_lo=tuple(run_lo),
            run_hi=tuple(run_hi),
            run_of=tuple(itertools.chain.from_iterable(
                map(itertools.repeat, range(len(run_lo)), map(operator.sub, run_hi, run_lo)))),
        )
        return c

    @cached_property
    def start(self) -> tuple[int, ...]:
        return self._maps()["start"]

    @cached_property
    def end(self) -> tuple[int, ...]:
        return self._maps()["end"]

    @cached_property
    def tok(self) -> tuple[int, ...]:
        return self._maps()["tok"]

    @cached_property
    def tokens(self) -> tuple[Token, ...]:
        return self._maps()["tokens"]

    @cached_property
    def run_lo(self) -> tuple[int, ...]:
        return self._maps()["run_lo"]

    @cached_property
    def run_hi(self) -> tuple[int, ...]:
        return self._maps()["run_hi"]

    @cached_property
    def run_of(self) -> tuple[int, ...]:
        return self._maps()["run_of"]

    def span(self, lo: int, hi: int) -> tuple[int, int]:
        """Original ``[start, end)`` of skeleton positions ``lo..hi`` (inclusive)."""
        return self.start[lo], self.end[hi]


def _cls(ch: str) -> str:
    if is_cjk(ch):
        return "h"
    if ch.isalpha():
        return "a"
    if ch.isdigit():
        return "d"
    if ch in _LEET_SYMBOLS:
        return "y"
    return "s"


class _ClassTable(dict):
    """``ord(c) -> class letter`` of a canonical char for ``str.translate``:
    ``h`` CJK, ``a`` letter, ``d`` digit, ``y`` ``@ $``, ``p`` ``! | +`` (leet only between
    word characters), ``w`` whitespace or apostrophe (a loose gap), ``s`` any other gap."""

    def __missing__(self, key: int) -> str:
        if len(self) > 1 << 17:
            self.clear()
        ch = chr(key)
        k = _cls(ch)
        if k == "y" and ch in _EDGE_ONLY_INTERIOR:
            k = "p"
        elif k == "s" and (ch.isspace() or ch in _APOSTROPHES):
            k = "w"
        self[key] = k
        return k


_CLASS = _ClassTable()


class _GapTable(dict):
    """``ord(c) -> None`` (delete) for characters that are always a gap (classes ``s`` and
    ``w``), else the character itself: the skeleton is the canonical text through this."""

    def __missing__(self, key: int) -> int | None:
        if len(self) > 1 << 17:
            self.clear()
        out = None if _CLASS[key] in "sw" else key
        self[key] = out
        return out


_GAP = _GapTable()
_LEET_TABLE = str.maketrans(LEET)
_LEET_CHAR = re.compile("[" + re.escape("".join(LEET)) + "]")
_INTERIOR_LEET = re.compile(r"(?<=[ady])p+(?=[ady])")   # "sh!t": ! between word chars
_NO_LETTER_RUN = re.compile(r"(?<![ady])[dy]+(?![ady])")  # a Latin run without a letter
_CONTEXT_RUN = re.compile(r"[pq]+|D+")
_TOKEN_WITH_GAP = re.compile(r"([sqwp]*)(h+|l+)")
_DEDUP = re.compile(r"(.)\1+", re.DOTALL)
_GROUP1 = operator.methodcaller("group", 1)
# Class -> token class: "l" Latin token char, "h" CJK, "w" loose gap, "s"/"q"/"p" other gap.
_TOKEN_CLASS = str.maketrans({"a": "l", "d": "l", "y": "l", "D": "l", "h": "h",
                              "w": "w", "s": "s", "p": "s", "q": "s"})
_KEEP = str.maketrans({"l": "\x01", "h": "\x01", "w": "\x00", "s": "\x00"})
_PLUS_ONE = (1).__add__


def _y_run(m: re.Match) -> str:
    return "y" * (m.end() - m.start())


def _no_letter_run(m: re.Match) -> str:
    # Digits without a letter ("555", "$5") are a token kept as typed (D: no leet); a run
    # of only "@"/"$" is punctuation (q: part of the gap).
    n = m.end() - m.start()
    return "D" * n if "d" in m.group() else "q" * n


def _gap_kind(gap: str) -> int:
    if not gap:
        return GAP_NONE
    return GAP_LOOSE if "w" in gap else GAP_TIGHT


def normalize(text: str) -> Normalized:
    """Normalize ``text`` for matching (see the module docstring). Never raises on str input.

    Works on whole strings (``str.translate`` tables, regexes, ``itertools``) rather than
    one Python step per character; tests/moderation/test_normalize_equivalence.py checks
    every field against the original per-character implementation.
    """
    # 1-5: canonical characters, and for each the index of the original code point.
    uniq = set(text)
    _CANON.fill(uniq)
    canon = text.translate(_CANON)
    if len(canon) == len(text) and _CANON.irregular.isdisjoint(uniq):
        src: Sequence[int] = range(len(text))  # one canonical char per original code point
    else:
        table = _CANON
        src = list(itertools.chain.from_iterable(
            itertools.repeat(i, len(table[ord(ch)])) for i, ch in enumerate(text)))

    classes = None
    chars = canon
    if _LEET_CHAR.search(canon):
        # Leet and the rules that depend on neighbours. Classes: h CJK, a letter, d digit,
        # y "@ $", p "! | +", w loose gap, s other gap.
        classes = canon.translate(_CLASS)
        if "p" in classes:  # "! | +" are leet only between two word characters
            classes = _INTERIOR_LEET.sub(_y_run, classes)
        classes = _NO_LETTER_RUN.sub(_no_letter_run, classes)
        chars = canon.translate(_LEET_TABLE)
        if "p" in classes or "q" in classes or "D" in classes:
            # Edge "! | +" (p) and lone "@ $" (q) are gaps: cut; letterless runs (D) as typed.
            parts, prev = [], 0
            for m in _CONTEXT_RUN.finditer(classes):
                lo, hi = m.span()
                parts.append(chars[prev:lo])
                if classes[lo] == "D":
                    parts.append(canon[lo:hi])
                prev = hi
            parts.append(chars[prev:])
            chars = "".join(parts)
    skeleton = chars.translate(_GAP)
    return Normalized(text, skeleton, _DEDUP.sub(_GROUP1, skeleton), canon, classes, src)


def fingerprint(text: str) -> str:
    """The skeleton with repeats collapsed: equal for "Hello!!" and "h e l l o": flood keys."""
    return normalize(text).dedup
