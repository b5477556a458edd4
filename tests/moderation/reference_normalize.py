"""REFERENCE ONLY: the original per-character normalizer, kept verbatim as the oracle that
tests/moderation/test_normalize_equivalence.py compares the fast :mod:`moderation.normalize`
against (every field of :class:`Normalized`). Not imported by production code.

Canonical text for blocked-term matching, with a map back to the original text. Pure.

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

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

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


@lru_cache(maxsize=65536)
def canon_char(ch: str) -> str:
    """Steps 1-5 for one code point; "" when it is invisible. Result may be several chars."""
    if _invisible(ch):
        return ""
    out = []
    for c in unicodedata.normalize("NFKC", ch):
        if _invisible(c):
            continue
        if not c.isascii() and not is_cjk(c):
            # Strip diacritics when what remains is plain ASCII ("é" -> "e").
            base = "".join(x for x in unicodedata.normalize("NFD", c) if not unicodedata.combining(x))
            if base and base.isascii():
                c = base
        for f in c.casefold():
            if is_cjk(f):
                f = _T2S.convert(f) or f
            out.append(HOMOGLYPHS.get(f, f))
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Token:
    """One token: skeleton positions ``[lo, hi)``, script, and the gap kind before it."""

    lo: int
    hi: int
    script: str
    gap: int

    @property
    def length(self) -> int:
        return self.hi - self.lo


@dataclass(frozen=True, slots=True)
class Normalized:
    """The matching view of a text.

    ``skeleton[i]`` came from ``original[start[i]:end[i]]`` and belongs to token ``tok[i]``.
    ``dedup[k]`` stands for skeleton positions ``[run_lo[k], run_hi[k])`` (all the same char);
    ``run_of[i]`` is the dedup index of skeleton position ``i``.
    """

    original: str
    skeleton: str
    start: tuple[int, ...]
    end: tuple[int, ...]
    tok: tuple[int, ...]
    tokens: tuple[Token, ...]
    dedup: str
    run_lo: tuple[int, ...]
    run_hi: tuple[int, ...]
    run_of: tuple[int, ...]

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


def normalize(text: str) -> Normalized:
    """Normalize ``text`` for matching (see the module docstring). Never raises on str input."""
    # 1-5: canonical characters with their original spans.
    chars: list[str] = []
    spans: list[tuple[int, int]] = []
    for i, ch in enumerate(text):
        c = canon_char(ch)
        for f in c:
            chars.append(f)
            spans.append((i, i + 1))
    classes = [_cls(c) for c in chars]
    n = len(chars)

    # ``! | +`` only count as word characters between two word characters.
    # A run of them ("!!") counts only when word characters sit on both sides of the run.
    i = 0
    while i < n:
        if classes[i] == "y" and chars[i] in _EDGE_ONLY_INTERIOR:
            j = i
            while j < n and classes[j] == "y" and chars[j] in _EDGE_ONLY_INTERIOR:
                j += 1
            left = classes[i - 1] if i > 0 else "s"
            right = classes[j] if j < n else "s"
            if left not in "ady" or right not in "ady":
                for x in range(i, j):
                    classes[x] = "s"
            i = j
        else:
            i += 1

    skeleton: list[str] = []
    start: list[int] = []
    end: list[int] = []
    tok: list[int] = []
    tokens: list[Token] = []
    gap_chars: list[str] = []
    i = 0
    while i < n:
        k = classes[i]
        if k == "s":
            gap_chars.append(chars[i])
            i += 1
            continue
        script = SCRIPT_CJK if k == "h" else SCRIPT_LATIN
        j = i
        while j < n and (classes[j] == "h") == (script == SCRIPT_CJK) and classes[j] != "s":
            j += 1
        piece = chars[i:j]
        if script == SCRIPT_LATIN:
            kinds = classes[i:j]
            has_letter = "a" in kinds
            if not has_letter and all(x == "y" for x in kinds):
                # A lone "@" or "$": punctuation, not a word.
                gap_chars.extend(piece)
                i = j
                continue
            if has_letter:
                piece = [LEET.get(c, c) if kk != "a" else c for c, kk in zip(piece, kinds)]
        if not tokens or not gap_chars:
            gap = GAP_NONE
        elif any(c.isspace() or c in _APOSTROPHES for c in gap_chars):
            gap = GAP_LOOSE
        else:
            gap = GAP_TIGHT
        lo = len(skeleton)
        for off, c in enumerate(piece):
            skeleton.append(c)
            s, e = spans[i + off]
            start.append(s)
            end.append(e)
            tok.append(len(tokens))
        tokens.append(Token(lo, len(skeleton), script, gap))
        gap_chars = []
        i = j

    dedup: list[str] = []
    run_lo: list[int] = []
    run_hi: list[int] = []
    run_of: list[int] = []
    for p, c in enumerate(skeleton):
        if dedup and dedup[-1] == c:
            run_hi[-1] = p + 1
        else:
            dedup.append(c)
            run_lo.append(p)
            run_hi.append(p + 1)
        run_of.append(len(dedup) - 1)

    return Normalized(
        original=text,
        skeleton="".join(skeleton),
        start=tuple(start),
        end=tuple(end),
        tok=tuple(tok),
        tokens=tuple(tokens),
        dedup="".join(dedup),
        run_lo=tuple(run_lo),
        run_hi=tuple(run_hi),
        run_of=tuple(run_of),
    )


def fingerprint(text: str) -> str:
    """The skeleton with repeats collapsed: equal for "Hello!!" and "h e l l o": flood keys."""
    return normalize(text).dedup
