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
