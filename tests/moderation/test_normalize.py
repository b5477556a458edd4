"""Unit tests of moderation.normalize: canonical forms and the map back to the original."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from moderation.normalize import GAP_LOOSE, GAP_NONE, GAP_TIGHT, canon_char, fingerprint, normalize


def test_width_case_traditional_homoglyph_and_invisible_folding():
    assert normalize("ＨｅＬＬｏ").skeleton == "hello"
    assert normalize("習近平").skeleton == "习近平"
    assert normalize("раураl").skeleton == "paypal"          # Cyrillic р, а, у
    assert normalize("h\u200be\u200dl\u00adl\ufeffo").skeleton == "hello"
    assert normalize("ﬁne").skeleton == "fine"                # ligature
    assert normalize("Z̷a̷l̷g̷o̷").skeleton == "zalgo"        # combining overlays dropped
    assert canon_char("\u200b") == ""


def test_leet_only_inside_words_with_letters():
    assert normalize("h3ll0 w0rld").skeleton == "helloworld"
    assert normalize("room 455").skeleton == "room455"
    assert normalize("$5 coffee").skeleton == "$5coffee"
    assert normalize("hi!").skeleton == "hi"
    assert normalize("sh!t").skeleton == "shit"
    assert normalize("email me @ home").skeleton == "emailmehome"


def test_tokens_and_gap_kinds():
    n = normalize("f.u c'k你好")
    assert [n.skeleton[t.lo:t.hi] for t in n.tokens] == ["f", "u", "c", "k", "你好"]
    assert [t.gap for t in n.tokens] == [GAP_NONE, GAP_TIGHT, GAP_LOOSE, GAP_LOOSE, GAP_NONE]
    assert [t.script for t in n.tokens] == ["l", "l", "l", "l", "h"]


def test_dedup_runs_and_position_map():
    text = "ｆuuu.ck"
    n = normalize(text)
    assert n.skeleton == "fuuuck" and n.dedup == "fuck"
    assert [n.run_hi[k] - n.run_lo[k] for k in range(4)] == [1, 3, 1, 1]
    assert n.span(0, len(n.skeleton) - 1) == (0, len(text))
    assert text[n.start[4]] == "c"


def test_fingerprint_ignores_case_spacing_and_repeats():
    assert fingerprint("Hello!!") == fingerprint("h e l l o") == fingerprint("HELLLLO")
    assert fingerprint("hello") != fingerprint("help")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_normalize_never_crashes_and_spans_are_ordered_and_inside(text):
    n = normalize(text)
    assert len(n.skeleton) == len(n.start) == len(n.end) == len(n.tok) == len(n.run_of)
    for i in range(len(n.skeleton)):
        assert 0 <= n.start[i] < n.end[i] <= len(text)
        if i:
            assert n.start[i - 1] <= n.start[i]
    assert "".join(n.skeleton[n.run_lo[k]] for k in range(len(n.dedup))) == n.dedup


def test_trailing_punctuation_runs_are_not_leet():
    assert normalize("ass!!!").skeleton == "ass"
    assert normalize("wow!!|").skeleton == "wow"
    assert normalize("sh!!t").skeleton == "shiit"
