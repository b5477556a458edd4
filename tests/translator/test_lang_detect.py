from pathlib import Path

import pytest

from translator.detect import base_language, detect_language, targets_for

SAMPLES = Path(__file__).with_name("lang_samples.tsv")
THRESHOLD = 0.95


def load_samples():
    rows = []
    for line in SAMPLES.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        label, text = line.split("\t", 1)
        rows.append((label, text))
    return rows


def test_labelled_chat_lines_accuracy():
    rows = load_samples()
    assert len(rows) >= 60
    assert {label for label, _ in rows} == {"en", "zh", "other"}
    misses = [(label, detect_language(text), text) for label, text in rows if detect_language(text) != label]
    accuracy = 1 - len(misses) / len(rows)
    print(f"detection accuracy {accuracy:.3f} on {len(rows)} lines; misses: {misses}")
    assert accuracy >= THRESHOLD, misses


@pytest.mark.parametrize(
    "text,lang",
    [
        ("这个 bug 太难了", "zh"),
        ("I love 火锅 so much", "en"),
        ("@bob https://x.io 👍", "other"),
        ("", "other"),
        ("`你好` hello there", "en"),  # code spans do not count
        ("hello `print('hi')` 你好吗朋友们", "zh"),
    ],
)
def test_mixed_and_protected(text, lang):
    assert detect_language(text) == lang


def test_targets_exclude_source_and_unsupported():
    assert targets_for("en", ["en", "zh", "zh-Hant", "fr"]) == ["zh"]
    assert targets_for("zh", ["zh"]) == []
    assert targets_for("zh", ["en-GB", "zh-TW"]) == ["en"]
    assert targets_for("other", ["en", "zh"]) == []


def test_base_language():
    assert base_language("zh_Hant") == "zh"
    assert base_language("EN-us") == "en"
    assert base_language("fr") == "fr"


def test_counts_of_a_plain_line_are_those_of_its_stripped_text():
    # script_counts judges a line with no protected span but numbers as it is (numbers hold
    # no letters): its counts are those of the line with its numbers removed.
    import random

    from translator.detect import script_counts
    from translator.spans import _PROTECTED_NUM_RE, has_protected_hint
    pieces = ["hello", "the", "très", "1", "2.5", "3,000", "10:30", "1/2", "50%", "+7", "-",
              "'", "a1b", "x", " ", "你好", "123abc", "l33t"]
    rng = random.Random(3)
    for _ in range(5000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 10)))
        if has_protected_hint(text):
            continue
        stripped = _PROTECTED_NUM_RE.sub(" ", text)
        assert script_counts(text) == script_counts(stripped), text
