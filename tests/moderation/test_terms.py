"""Unit tests of moderation.terms: term parsing, matcher rules, masking and the verdict."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moderation.terms import Hit, Matcher, Term, TermError, check, mask, term_key, verdict

TERMS = [
    Term("ass"), Term("*fuck*", "mask"), Term("习近平", "hold"), Term("spam link", "hold"),
    Term("他妈的", "mask"), Term("shit*", "block"),
]


@pytest.fixture(scope="module")
def m() -> Matcher:
    return Matcher.build(TERMS)


def test_term_validation_and_language():
    with pytest.raises(TermError):
        Term("ass", "explode")
    with pytest.raises(TermError):
        Term("  * ")
    with pytest.raises(TermError):
        Term("x" * 101)
    with pytest.raises(TermError):
        Term("!!!")
    assert Term("习近平").lang == "zh" and Term("ass").lang == "en"


def test_term_key_folds_spelling():
    assert term_key("FUCK") == term_key("ｆｕｃｋ") == "fuck"
    assert term_key("習近平") == "习近平"
    assert term_key("*Fuck*") == "*fuck*"
    assert term_key("Spam   Link") == "spam link"


def test_duplicate_keys_keep_the_strictest_action():
    m = Matcher.build([Term("ass", "mask"), Term("ASS", "block"), Term("a s s", "hold")])
    assert [t.action for t in m.terms if t.key == "ass"] == ["block"]


def test_word_boundaries_and_wildcards(m):
    assert m.scan("class assistant") == []
    assert [h.term for h in m.scan("shitty day")] == ["shit*"]     # prefix wildcard
    assert m.scan("bullshit") == []                               # not a suffix wildcard
    assert [h.term for h in m.scan("motherfucking")] == ["*fuck*"]


def test_repeats_need_at_least_the_terms_own_doubles(m):
    assert m.scan("as") == []
    assert [h.term for h in m.scan("asssss")] == ["ass"]
    assert m.scan("其他妈妈的孩子") == []
    assert [h.term for h in m.scan("他他妈的")] == ["他妈的"]


def test_multiword_term_allows_any_gap_only_where_it_has_a_space(m):
    assert [h.term for h in m.scan("spam    link")] == ["spam link"]
    assert [h.term for h in m.scan("spamlink")] == ["spam link"]
    assert m.scan("sp am link") == []


def test_verdict_severity_and_language_filter(m):
    assert check(m, "hello").action == "allow"
    v = check(m, "fuck 习近平")
    assert v.action == "hold" and v.text == "**** 习近平"
    assert check(m, "fuck ass").action == "block"
    assert check(m, "fuck 习近平", langs=["zh"]).text == "fuck 习近平"
    assert check(m, "fuck 习近平", langs=["en"]).action == "mask"
    assert verdict("x", [Hit(0, 1, "x", "mask", "en")]).text == "*"


def test_empty_matcher():
    assert Matcher.build([]).scan("anything at all") == []


def test_hundreds_of_terms_compile_and_match():
    terms = [Term(f"badword{i}") for i in range(500)] + [Term(f"坏词{i}号", "mask") for i in range(100)]
    m = Matcher.build(terms)
    assert [h.term for h in m.scan("this has badword417 in it")] == ["badword417"]
    assert m.scan("badword4170") == []


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("asfuckhit 习近平他妈的.-_*\u200b1!$@ＡＳＳ習")), max_size=60)
       | st.text(max_size=120))
def test_matching_never_crashes_and_mask_keeps_length_semantics(text):
    m = Matcher.build(TERMS)
    hits = m.scan(text)
    for h in hits:
        assert 0 <= h.start < h.end <= len(text)
    out = check(m, text).text
    # Same number of code points; only non-whitespace code points inside mask spans change,
    # and they change to "*".
    assert len(out) == len(text)
    spans = [(h.start, h.end) for h in hits if h.action == "mask"]
    for i, (a, b) in enumerate(zip(text, out)):
        inside = any(s <= i < e for s, e in spans)
        if inside and not a.isspace():
            assert b == "*"
        else:
            assert b == a


def test_mask_keeps_whitespace_and_clamps():
    assert mask("a b c", [(0, 5)]) == "* * *"
    assert mask("abc", [(-3, 99)]) == "***"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(1, 8), st.sampled_from("abc")), max_size=40))
def test_drop_contained_equals_the_quadratic_definition(raw):
    from moderation.terms import Hit, _drop_contained

    found = sorted({Hit(s, s + n, t, "mask", "en") for s, n, t in raw}, key=lambda h: (h.start, -h.end))
    brute = [h for h in found if not any(
        g.start <= h.start and h.end <= g.end and (g.end - g.start) > (h.end - h.start) for g in found)]
    assert _drop_contained(found) == brute


def test_many_hits_in_one_long_message_are_all_found():
    m = Matcher.build([Term("ass", "mask"), Term("bullshit")])
    text = "ass " * 500
    assert len(m.scan(text)) == 500
    assert check(m, text).text == "*** " * 500
    assert [h.term for h in m.scan("b u l l s h i t ass")] == ["bullshit", "ass"]
