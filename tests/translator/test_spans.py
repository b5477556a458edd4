from hypothesis import given, settings
from hypothesis import strategies as st

from translator.spans import (
    clean_output,
    max_new_tokens_for,
    needs_translation,
    numbers_in,
    plan,
    protected_spans,
    split_sentences,
)


def fake_translate(units):
    return [f"<{u.upper()}>" for u in units]


def test_protected_spans_survive_unchanged_and_in_place():
    text = "hey @bob_1 👋🏽 look at https://example.com/a?b=1&c=(2) and `rm -rf x` ok, mail a.b@c.io #live"
    p = plan(text, "zh")
    assert p.units == ["hey", "look at", "and", "ok, mail"]
    out = p.render(fake_translate(p.units))
    for span in ["@bob_1", "👋🏽", "https://example.com/a?b=1&c=(2)", "`rm -rf x`", "a.b@c.io", "#live"]:
        assert span in out
    assert out == "<HEY> @bob_1 👋🏽 <LOOK AT> https://example.com/a?b=1&c=(2) <AND> `rm -rf x` <OK, MAIL> a.b@c.io #live"


def test_url_does_not_swallow_trailing_punctuation_or_chinese():
    assert protected_spans("see https://x.com/a.") == ["https://x.com/a"]
    assert protected_spans("看https://x.com/a这个") == ["https://x.com/a"]
    assert protected_spans("(www.example.org)") == ["www.example.org"]
    assert protected_spans("see https://en.wikipedia.org/wiki/Foo_(bar), ok") == ["https://en.wikipedia.org/wiki/Foo_(bar)"]


def test_mention_is_not_an_email():
    assert protected_spans("write to me@example.com") == ["me@example.com"]
    assert protected_spans("hi @小明 你好") == ["@小明"]


def test_only_emoji_punctuation_links_need_no_model():
    for text in ["😂😂😂", "!!!", "https://x.com", "@a @b", "123 456", ":)", "   ", "", "`code only`", "👍 https://x.io ..."]:
        assert not needs_translation(text), text
        assert plan(text, "zh").units == []
        assert plan(text, "zh").render([]) == text
    assert needs_translation("ok 👍")
    assert needs_translation("好")


def test_sentence_split_both_languages():
    assert split_sentences("Hello there. How are you? Fine!") == ["Hello there.", "How are you?", "Fine!"]
    assert split_sentences("你好！今天怎么样？我很好。") == ["你好！", "今天怎么样？", "我很好。"]
    assert split_sentences("version 3.5 is out") == ["version 3.5 is out"]
    assert split_sentences("line one\nline two") == ["line one", "line two"]


def test_rejoin_uses_target_language_spacing():
    zh = plan("Hello there. How are you?", "zh")
    assert zh.render(["你好。", "你好吗？"]) == "你好。你好吗？"
    en = plan("你好。你好吗？", "en")
    assert en.render(["Hello.", "How are you?"]) == "Hello. How are you?"


def test_long_sentences_are_capped():
    parts = split_sentences("word " * 400, max_chars=100)
    assert all(len(p) <= 100 for p in parts)
    assert " ".join(parts).split() == ["word"] * 400
    cjk = split_sentences("好" * 250, max_chars=100)
    assert [len(p) for p in cjk] == [100, 100, 50]


def test_numbers_kept_in_units_unless_asked():
    assert plan("I have 3 cats", "zh").units == ["I have 3 cats"]
    p = plan("I have 3 cats", "zh", protect_numbers=True)
    assert p.units == ["I have", "cats"]
    assert p.render(["我有", "猫"]) == "我有 3 猫"
    assert numbers_in("call 555-1234 at 3:30, 50%") == numbers_in("50% 3:30 555 -1234")
    assert numbers_in("3 cats") != numbers_in("three cats")


def test_output_guards():
    assert clean_output("hello", "   ") is None
    assert clean_output("hello", "你好你好你好你好你好你好") == "你好"
    assert clean_output("hahahaha", "哈哈哈哈") == "哈哈哈哈"  # the source repeats too
    assert clean_output("thanks", " 谢谢 ") == "谢谢"
    assert max_new_tokens_for(10) == 30
    assert max_new_tokens_for(10_000) == 256
    assert max_new_tokens_for(0) == 10


def test_render_checks_output_count():
    p = plan("a b. c d.", "zh")
    try:
        p.render(["x"])
    except ValueError:
        pass
    else:
        raise AssertionError("render accepted too few outputs")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list("ab 你好.!?。@#:/`😂1 \nw.x") + ["https://a.io/x", "www.b.com"]), max_size=40).map("".join))
def test_identity_translation_round_trips(text):
    # With an identity "model", rendering gives back the text modulo whitespace around units.
    p = plan(text, "en")
    out = p.render(list(p.units))
    assert out.split() == " ".join(text.split()).split() or "".join(out.split()) == "".join(text.split())
    for span in protected_spans(text):
        assert span in out


def test_strip_protected_fast_path_agrees_with_the_full_pattern():
    # strip_protected skips the whole alternation when no span but a number can be present;
    # on texts built from every span's trigger characters it must give the same result.
    import random

    from translator.spans import _PROTECTED_NUM_RE, strip_protected
    pieces = ["com", "co", "www", ".", "://", "http", "@", "#", "x", "D", "XD", "T_T", "QAQ", ":",
              ")", "8", "3", "<", "^", "_", " ", "\n", "a", "1", "2.5", "-", "+", "%", "/", "`",
              "é", "😀", "ftp"]
    rng = random.Random(7)
    for _ in range(20000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        assert strip_protected(text) == _PROTECTED_NUM_RE.sub(" ", text), text


def test_the_hint_in_parts_agrees_with_the_one_pattern():
    # has_protected_hint is _SPAN_HINT_RE's test made of substring checks and two small
    # patterns: on texts of every alternative's pieces, both say the same.
    import random

    from translator.spans import _SPAN_HINT_RE, has_protected_hint
    pieces = ["com", "co", "www", ".", "://", "http", "@", "#", "x", "D", "XD", "T_T", "QAQ", ":",
              ")", "8", "3", "<", "^", "_", " ", "\n", "\t", "a", "1", "2.5", "-", "'", ";", "=",
              "/", "`", "é", "😀", "ftp", "tv", "io"]
    rng = random.Random(11)
    for _ in range(20000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        assert has_protected_hint(text) == (_SPAN_HINT_RE.search(text) is not None), text
