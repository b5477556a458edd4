"""The fast moderation.normalize must equal the original per-character implementation
(tests/moderation/reference_normalize.py) in every field, on every input."""

from __future__ import annotations

from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from moderation import normalize as fast
from tests.moderation import reference_normalize as ref

HERE = Path(__file__).parent
FIELDS = ("original", "skeleton", "start", "end", "tok", "dedup", "run_lo", "run_hi", "run_of")


def _same(text: str) -> None:
    a, b = fast.normalize(text), ref.normalize(text)
    for f in FIELDS:
        assert getattr(a, f) == getattr(b, f), (text, f)
    assert [(t.lo, t.hi, t.script, t.gap) for t in a.tokens] == \
        [(t.lo, t.hi, t.script, t.gap) for t in b.tokens], text


def _corpus_lines() -> list[str]:
    out = []
    for name in ("corpus_terms.tsv", "corpus_evasion.tsv", "corpus_innocent.txt"):
        for line in (HERE / name).read_text(encoding="utf-8").splitlines():
            out.extend(line.split("\t"))
    return out


def test_corpora_and_tricky_lines_are_identical():
    lines = _corpus_lines()
    assert len(lines) > 150
    lines += [
        "", " ", "!!!", "@", "$5", "a@b", "@@a", "hi!", "sh!t", "a!|+b", "!a!", "|||",
        "ß ﬁ ㎏ ½ ①②", "\u200b\u200c\u00ad", "a\x00b\x1cc\x7f", "İstanbul ǅ ŉ", "ﬃ𝕗𝖚𝖈𝖐",
        "習近平習近平 國家 發展", "ｈｅｌｌｏ　ｗｏｒｌｄ", "он сказал ѕhіt", "ÀÉÎÕÜ àéîõü",
        "x" * 1900, "a " * 900, "ab" * 700 + "習" * 300, "😂" * 50 + "f🙂u🙂c🙂k",
        "he'll pen is an al", "f.u.c.k f u c k fu-ck", "1 2 3 4 5", "a1b2c3", "\ud800x",
    ]
    for line in lines:
        _same(line)


ALPHABET = st.sampled_from(list(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789@$!|+.,-_'’ \t\n"
    "習近平国國發发傻逼妈的你好ｆｕｃｋＨＥ①ﬁßİſéüñçаеорсѕіƒσ\u0301\u0308\u200b\u00ad\u2800"
    "😂🙂ㄱ가あア〇²٣"
))


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=120))
@example("a!!b")
@example("!!a")
def test_identical_on_generated_mixed_text(text):
    _same(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_identical_on_arbitrary_unicode(text):
    _same(text)


def test_batched_opencc_equals_one_call_per_character():
    # Every code point is_cjk accepts: converting them newline-joined in one call gives
    # exactly what converting each alone gives (what the original did per character).
    ranges = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x3134F), (0xF900, 0xFAFF),
              (0x3040, 0x30FF), (0xAC00, 0xD7AF), (0x3007, 0x3007)]
    chars = {chr(o) for lo, hi in ranges for o in range(lo, hi + 1)}
    batched = fast._t2s_chars(chars)
    assert len(batched) == len(chars)
    assert batched == {c: ref._T2S.convert(c) for c in chars}
    assert batched["習"] == "习" and batched["國"] == "国"


def test_every_bmp_code_point_canonicalizes_as_before():
    # canon_char (fast path: batched t2s, translate table) equals the reference for the BMP.
    chars = [chr(o) for o in range(0x10000) if not 0xD800 <= o <= 0xDFFF]
    fast._CANON.fill(set(chars))
    assert [ch.translate(fast._CANON) for ch in chars] == [ref.canon_char(ch) for ch in chars]
