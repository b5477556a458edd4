"""Blocked terms: parsing, a compiled Aho-Corasick matcher, masking and the filter verdict. Pure.

Promises:

- A :class:`Term` is a phrase plus an action: ``block`` (the sender gets an error and nobody
  sees the message), ``mask`` (the matched span of the original text is starred out) or
  ``hold`` (the message waits for review). Its language is ``"zh"`` when it contains CJK
  characters, else ``"en"``.
- A term's pattern may start and/or end with ``*``: ``"*fuck*"`` matches inside words,
  ``"shit*"`` matches words starting with it. Without ``*`` an English term matches whole
  words only, so "ass" does not hit "class", "assistant" or "Scunthorpe"-style words.
  Chinese terms always match as substrings (Chinese has no spaces between words).
- :class:`Matcher` compiles a term set once (one ``ahocorasick.Automaton``) and finds every
  hit in a text in one pass over its normalized form (see :mod:`moderation.normalize`), so
  hundreds of terms cost about as much as one. Hits are spans of the ORIGINAL text.
- Evasion handled: everything :mod:`moderation.normalize` folds (width, case, traditional
  characters, invisible characters, diacritics, homoglyphs, leet), repeated letters
  ("fuuuck", "asss" but never "as" for "ass"), and separators: a match may cross gaps
  between tokens when the gap has no whitespace ("f.u.c.k", "fu-ck", "f🙂u🙂c🙂k"), or
  when the tokens on both sides of a whitespace gap are single characters ("f u c k",
  "f. u. c. k"), or where the term itself has a space ("kill yourself"). Chinese terms may
  cross any gap ("习 近 平", "习.近.平"). Innocent phrases like "pen is" or "he'll" are not
  joined. Inside a Chinese term repeated characters must repeat exactly as in the term (so
  "他妈的" does not hit "其他妈妈的"); only its first and last characters may repeat.
- :func:`mask` keeps the original's length: the result has exactly as many code points as
  the input; every code point inside a masked span that is not whitespace becomes ``*``,
  and every other code point is unchanged.
- :func:`verdict` turns hits into one outcome: block beats hold beats mask beats allow.
- Compiling is linear in the terms and can be done in steps: :meth:`Matcher.steps` is a
  generator that yields after each term and returns the matcher, so a caller on an event
  loop can give other work a turn while a long list compiles (:meth:`Matcher.build` runs
  it to the end at once). :func:`parse_steps` does the same for parsing stored terms.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Generator, Iterable

import ahocorasick

from moderation.normalize import (
    GAP_LOOSE,
    SCRIPT_CJK,
    Normalized,
    is_cjk,
    normalize,
)

ACTIONS: tuple[str, ...] = ("block", "hold", "mask")
SEVERITY: dict[str, int] = {"mask": 1, "hold": 2, "block": 3}
MAX_TERM_CHARS = 100
MASK_CHAR = "*"


class TermError(ValueError):
    """A term that cannot be used (empty after normalization, unknown action, too long)."""


@dataclass(frozen=True, slots=True)
class Term:
    """A blocked term as configured: the raw pattern, its action and language."""

    pattern: str
    action: str = "block"
    lang: str = ""
    # The normalized key, computed once here (a matcher build reads it for every term).
    _key: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise TermError(f"unknown action {self.action!r}; use one of {', '.join(ACTIONS)}")
        if not isinstance(self.pattern, str) or not self.pattern.strip(" *"):
            raise TermError("empty term")
        if len(self.pattern) > MAX_TERM_CHARS:
            raise TermError(f"term longer than {MAX_TERM_CHARS} characters")
        if not self.lang:
            object.__setattr__(
                self, "lang", "zh" if any(is_cjk(c) for c in normalize(self.pattern).skeleton) else "en"
            )
        key = term_key(self.pattern)
        if not key:
            raise TermError("term has no letters or characters left after normalization")
        object.__setattr__(self, "_key", key)

    @property
    def key(self) -> str:
        return self._key

    def to_dict(self) -> dict[str, Any]:
        return {"term": self.pattern, "action": self.action, "lang": self.lang}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Term":
        return cls(pattern=d["term"], action=d.get("action", "block"), lang=d.get("lang", ""))


def term_key(pattern: str) -> str:
    """Identity of a term: its normalized words joined by spaces, with its ``*`` markers.

    "FUCK", "ｆｕｃｋ" and "fuck" share a key; so do "習近平" and "习近平".
    """
    body = pattern.strip()
    left = body.startswith("*")
    right = body.endswith("*")
    norm = normalize(body.strip("*"))
    words = [norm.skeleton[t.lo:t.hi] for t in norm.tokens]
    if not words:
        return ""
    return ("*" if left else "") + " ".join(words) + ("*" if right else "")


@dataclass(frozen=True, slots=True)
class Hit:
    """One match: original text span ``[start, end)``, the term and what it asks for."""

    start: int
    end: int
    term: str
    action: str
    lang: str


# One spelling of a term in the automaton, as a plain tuple of ints, bools and tuples of ints:
# (index into Matcher.terms, run length of each dedup character of the pattern, the dedup
# indexes after/inside which the term has a space, cjk, left_open, right_open). Plain tuples
# of atoms are untracked by Python's garbage collector, so cached matchers add nothing to
# the cost of a full collection (objects would: ~2 ms per 500-term matcher, paid by every
# room on the node at each full collection).
_Variant = tuple


def _variants(skeleton: str, limit: int = 16) -> list[str]:
    """The skeleton plus spellings where an ``l`` reads as ``i`` (``1`` and ``I`` fold to i)."""
    pos = [i for i, c in enumerate(skeleton) if c == "l"]
    if not pos:
        return [skeleton]
    out = []
    combos: Iterable[tuple[int, ...]]
    if 2 ** len(pos) <= limit:
        combos = itertools.chain.from_iterable(
            itertools.combinations(pos, r) for r in range(len(pos) + 1)
        )
    else:
        combos = [(), tuple(pos)]
    for combo in combos:
        chars = list(skeleton)
        for p in combo:
            chars[p] = "i"
        out.append("".join(chars))
    return out


def _compile_variant(skeleton: str, breaks_sk: set[int]) -> tuple[str, tuple[int, ...], tuple[int, ...]]:
    dedup: list[str] = []
    runs: list[int] = []
    breaks: set[int] = set()
    for p, c in enumerate(skeleton):
        if dedup and dedup[-1] == c:
            runs[-1] += 1
        else:
            dedup.append(c)
            runs.append(1)
        if p in breaks_sk:  # a space after skeleton position p
            breaks.add(len(dedup) - 1)
    return "".join(dedup), tuple(runs), tuple(sorted(breaks))


@dataclass
class Matcher:
    """A compiled term set. Build once per term set, share freely (read-only after build)."""

    terms: tuple[Term, ...]
    _automaton: Any = field(default=None, repr=False)

    @property
    def langs(self) -> frozenset[str]:
        """Languages of the compiled terms (empty when there are none)."""
        langs = self.__dict__.get("_langs")
        if langs is None:
            langs = self.__dict__["_langs"] = frozenset(t.lang for t in self.terms)
        return langs

    @classmethod
    def build(cls, terms: Iterable[Term]) -> "Matcher":
        """Compile ``terms`` at once (see :meth:`steps` to compile in steps)."""
        steps = cls.steps(terms)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                return done.value

    @classmethod
    def steps(cls, terms: Iterable[Term]) -> Generator[None, None, "Matcher"]:
        """Compile ``terms``, yielding after each term; the generator returns the matcher.
        The last step (the automaton's links, one C call) is about 5 ms for 2,000 terms."""
        uniq: dict[str, Term] = {}
        for t in terms:
            prev = uniq.get(t.key)
            if prev is None or SEVERITY[t.action] > SEVERITY[prev.action]:
                uniq[t.key] = t
        m = cls(terms=tuple(uniq.values()))
        auto = ahocorasick.Automaton()
        entries: dict[str, list[_Variant]] = {}
        for index, term in enumerate(m.terms):
            body = term.pattern.strip()
            left, right = body.startswith("*"), body.endswith("*")
            norm = normalize(body.strip("*"))
            breaks_sk = {norm.tokens[i].hi - 1 for i in range(len(norm.tokens) - 1)}
            cjk = any(t.script == SCRIPT_CJK for t in norm.tokens)
            for sk in _variants(norm.skeleton):
                dedup, runs, breaks = _compile_variant(sk, breaks_sk)
                entries.setdefault(dedup, []).append((index, runs, breaks, cjk, left, right))
            yield
        for key, variants in entries.items():
            auto.add_word(key, (len(key), tuple(variants)))
        if entries:
            yield
            auto.make_automaton()
            m._automaton = auto
        return m

    def __len__(self) -> int:
        return len(self.terms)

    def scan(self, text: str | Normalized) -> list[Hit]:
        """Every hit in ``text`` by start position. A hit lying inside a longer hit is dropped
        (the longest match wins); partial overlaps are kept."""
        if self._automaton is None:
            return []  # no terms: do not even normalize
        norm = text if isinstance(text, Normalized) else normalize(text)
        if not norm.dedup:
            return []
        hits: dict[tuple[int, int, int], Hit] = {}
        for end_k, (length, variants) in self._automaton.iter(norm.dedup):
            start_k = end_k - length + 1
            for v in variants:
                span = _accept(norm, start_k, end_k, v)
                if span is None:
                    continue
                term = self.terms[v[0]]
                hits.setdefault(
                    (span[0], span[1], v[0]),
                    Hit(span[0], span[1], term.pattern, term.action, term.lang),
                )
        # The longest match wins: "b u l l s h i t" is "bullshit", not also "shit".
        return _drop_contained(sorted(hits.values(), key=lambda h: (h.start, -h.end)))


def _drop_contained(found: list[Hit]) -> list[Hit]:
    """Drop every hit that a strictly longer hit contains. ``found`` is sorted by
    ``(start, -end)``, so such a hit comes earlier with a different ``(start, end)``: one
    sweep keeping the furthest end of the earlier groups decides it (O(n), not O(n^2))."""
    kept: list[Hit] = []
    reach = -1          # furthest end among earlier (start, end) groups
    group_reach = -1    # the same, including the current group
    group = None
    for h in found:
        if (h.start, h.end) != group:
            group = (h.start, h.end)
            reach = group_reach
        if reach < h.end:
            kept.append(h)
        group_reach = max(group_reach, h.end)
    return kept


def _accept(norm: Normalized, start_k: int, end_k: int, v: _Variant) -> tuple[int, int] | None:
    """Decide whether the dedup match ``[start_k, end_k]`` is a real hit; its original span."""
    _, v_runs, v_breaks, v_cjk, left_open, right_open = v
    runs_lo, runs_hi = norm.run_lo, norm.run_hi
    last = len(v_runs) - 1
    for k, need in enumerate(v_runs):
        kk = start_k + k
        have = runs_hi[kk] - runs_lo[kk]
        if have < need:
            return None
        # Chinese doubles characters innocently (妈妈, 看看): inside a Chinese term a run
        # must be exactly as long as the term's; only the ends may repeat.
        if v_cjk and have != need and 0 < k < last:
            return None
    tokens, tok = norm.tokens, norm.tok
    lo, hi = runs_lo[start_k], runs_hi[end_k] - 1
    if not v_cjk:
        if not left_open:
            # The match must begin at the start of a (Latin) token.
            for p in range(runs_lo[start_k], runs_hi[start_k]):
                if tokens[tok[p]].lo == p:
                    lo = p
                    break
            else:
                return None
        if not right_open:
            for p in range(runs_hi[end_k] - 1, runs_lo[end_k] - 1, -1):
                if tokens[tok[p]].hi - 1 == p:
                    hi = p
                    break
            else:
                return None
        if lo > hi:
            return None
        # Gaps crossed inside the match must look like evasion, not like two innocent words.
        if tok[lo] != tok[hi]:
            for t_index in range(tok[lo] + 1, tok[hi] + 1):
                t = tokens[t_index]
                if t.gap != GAP_LOOSE:
                    continue
                prev = tokens[t_index - 1]
                if prev.length == 1 and t.length == 1:
                    continue  # spelled out: "f u c k"
                # A space the term itself has ("kill yourself") may be any gap.
                ka = norm.run_of[prev.hi - 1] - start_k
                kb = norm.run_of[t.lo] - start_k
                if ka in v_breaks or (kb - 1) in v_breaks:
                    continue
                return None
    return norm.span(lo, hi)


def mask(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """Star out ``spans`` of ``text``, keeping whitespace; same number of code points."""
    chars = list(text)
    for s, e in spans:
        for i in range(max(0, s), min(len(chars), e)):
            if not chars[i].isspace():
                chars[i] = MASK_CHAR
    return "".join(chars)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The filter's outcome for one text.

    ``action`` is "allow", "mask", "hold" or "block"; ``text`` is the text to show readers
    (the original with every mask-hit span starred out); ``hits`` are all hits that counted.
    """

    action: str
    text: str
    hits: tuple[Hit, ...]

    @property
    def terms(self) -> list[str]:
        return sorted({h.term for h in self.hits})


def verdict(text: str, hits: Iterable[Hit], *, langs: Iterable[str] | None = None) -> Verdict:
    """Combine hits: block > hold > mask > allow. ``langs`` keeps only terms of those languages."""
    wanted = None if langs is None else set(langs)
    kept = tuple(h for h in hits if wanted is None or h.lang in wanted)
    if not kept:
        return Verdict("allow", text, ())
    worst = max(kept, key=lambda h: SEVERITY[h.action]).action
    shown = mask(text, [(h.start, h.end) for h in kept if h.action == "mask"])
    return Verdict(worst, shown, kept)


def parse_steps(entries: Iterable[Any], out: list[Term]) -> Generator[None, None, list[Term]]:
    """Append a :class:`Term` to ``out`` for every stored entry (a dict as
    :meth:`Term.to_dict` makes) that is still a valid term, yielding after each; entries
    that are not are skipped. Returns ``out``."""
    for entry in entries:
        try:
            out.append(Term.from_dict(entry))
        except (TermError, KeyError, TypeError, AttributeError):
            pass
        yield
    return out


def check(matcher: Matcher, text: str, *, langs: Iterable[str] | None = None) -> Verdict:
    """``verdict(text, matcher.scan(text))``: the one call most callers need."""
    return verdict(text, matcher.scan(text), langs=langs)
