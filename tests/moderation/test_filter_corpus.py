"""The blocked-term filter against the shipped corpora: zero misses, zero false positives."""

from __future__ import annotations

from pathlib import Path

import pytest

from moderation.terms import Matcher, Term, check, mask

HERE = Path(__file__).parent


def _lines(name: str) -> list[str]:
    return [
        line for line in (HERE / name).read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]


TERMS = [Term(*line.split("\t")) for line in _lines("corpus_terms.tsv")]
EVASION = [
    (text, set(filter(None, expected.split(","))))
    for text, expected in (line.split("\t") for line in _lines("corpus_evasion.tsv"))
]
INNOCENT = _lines("corpus_innocent.txt")


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher.build(TERMS)


def test_corpora_are_big_enough():
    assert len(EVASION) >= 40
    assert len(INNOCENT) >= 40
    assert sum(any("\u4e00" <= c <= "\u9fff" for c in t) for t, _ in EVASION) >= 15
    assert sum(any("\u4e00" <= c <= "\u9fff" for c in t) for t in INNOCENT) >= 15
    assert all(expected for _, expected in EVASION)


def test_evasion_corpus_zero_misses(matcher):
    misses = []
    for text, expected in EVASION:
        found = {h.term for h in matcher.scan(text)}
        if found != expected:
            misses.append((text, sorted(expected), sorted(found)))
    assert misses == []


def test_innocent_corpus_zero_false_positives(matcher):
    false_positives = [
        (text, [(h.term, text[h.start:h.end]) for h in matcher.scan(text)])
        for text in INNOCENT
        if matcher.scan(text)
    ]
    assert false_positives == []


def test_hit_spans_cover_the_evasion_in_the_original(matcher):
    # Masking works on the original text: the span must include every disguised letter.
    hits = matcher.scan("ok f.u.c.k you")
    assert [("ok f.u.c.k you"[h.start:h.end]) for h in hits] == ["f.u.c.k"]
    hits = matcher.scan("關於習 近 平的")
    assert ["關於習 近 平的"[h.start:h.end] for h in hits] == ["習 近 平"]
    assert check(matcher, "ok f.u.c.k you").text == "ok ******* you"
    assert check(matcher, "ｆｕｃｋ!").text == "****!"
    # Zero-width characters inside the span are masked too: the reader never sees them.
    assert check(matcher, "f\u200bu\u200bck off").text == "****** off"
    assert check(matcher, "你是傻 逼吗").text == "你是* *吗"


def test_mask_never_shows_normalized_text(matcher):
    # Full-width and traditional text outside the hit stays exactly as typed.
    text = "ＨＥＬＬＯ 習慣 fuck 貓"
    out = check(matcher, text).text
    assert out == "ＨＥＬＬＯ 習慣 **** 貓"
