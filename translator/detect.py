"""Language detection for short chat text, and which translations a message needs.

Promise: ``detect_language(text)`` returns ``"en"``, ``"zh"`` or ``"other"`` for any string,
instantly and without a model.  It is a script heuristic: URLs, @mentions, #tags, emoji,
code spans and numbers are removed first; then Han characters are weighed against Latin words.

* Kana or Hangul present (Japanese/Korean), or letters of other scripts dominating -> "other".
* Han and Latin mixed -> the larger share wins, counting ``HAN_CHARS_PER_WORD`` Han characters
  as one Latin word (Chinese words average ~1.5 characters), so "这个 bug 太难了" is zh and
  "I love 火锅 so much" is en.
* Latin text that looks like another European language (its function words or accents
  outnumber English ones) -> "other".
* Nothing left to judge (only emoji, links, numbers, punctuation) -> "other".

``targets_for(source, reader_languages)`` says which languages a message must be translated
into: every language readers use that has a model pair, minus the message's own language.  A
mixed message is treated as its dominant language: readers of that language get the original,
the others get a translation in which the words of their own language pass through the model.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from translator.spans import has_protected_hint, strip_protected

SUPPORTED = ("en", "zh")
HAN_CHARS_PER_WORD = 1.5

_LATIN_WORD = re.compile(r"[A-Za-z\u00C0-\u024F']+")

# Frequent English words, chat abbreviations included.
_EN_WORDS = frozenset(
    """a an the and or but if of to in on at for with from by about as into is are was were be
    been am do does did have has had i you he she it we they me him her us them my your his its
    our their this that these those what who why how when where which not no yes ok okay can
    will would should could just so very too lol omg thx thanks pls please hi hello hey bye good
    great nice love like see go get got know think want need let up out all one more now
    there here there's it's i'm don't can't""".split()
)
# Frequent function words of other Latin-script languages (fr, es, de, it, pt, nl, id, pinyin
# is not included: toneless pinyin is rare in chat and looks like nothing in particular).
_OTHER_WORDS = frozenset(
    """le la les des est et une un du je tu il nous vous ils pas que qui pour avec sur dans
    bonjour merci oui non très c'est el los las es y una por con para que muy gracias hola
    buenos bueno der die das und ist nicht ich du wir sie ein eine danke ja nein guten mit
    il lo gli sono che non per grazie ciao buongiorno o os um uma não obrigado sim você de
    het een en ik je niet dank wel ya tidak saya aku terima kasih selamat apa""".split()
)


def _is_han(ch: str) -> bool:
    o = ord(ch)
    return (
        0x4E00 <= o <= 0x9FFF
        or 0x3400 <= o <= 0x4DBF
        or 0xF900 <= o <= 0xFAFF
        or 0x20000 <= o <= 0x2FA1F
    )


def _is_kana_or_hangul(ch: str) -> bool:
    o = ord(ch)
    return 0x3040 <= o <= 0x30FF or 0x31F0 <= o <= 0x31FF or 0xAC00 <= o <= 0xD7AF or 0x1100 <= o <= 0x11FF


def script_counts(text: str) -> dict[str, float]:
    """Counts on the text with protected spans removed: han chars, kana/hangul chars,
    latin words, english/other function words, accented letters, other-script letters."""
    # Numbers hold no letters, so they change no count: a line with no other protected span
    # is counted as it is (replacing its numbers was a fifth of a message's detection).
    core = strip_protected(text) if has_protected_hint(text) else text
    han = kana = other_letters = accents = 0
    # Plain ASCII (most English chat) has no Han, kana, accents or other scripts: skip the
    # per-character pass, which was most of a short message's detection time.
    for ch in ("" if core.isascii() else core):
        if _is_han(ch):
            han += 1
        elif _is_kana_or_hangul(ch):
            kana += 1
        elif ch.isalpha():
            if ch.isascii():
                continue
            if "LATIN" in unicodedata.name(ch, ""):
                accents += 1
            else:
                other_letters += 1
    words = [w.lower() for w in _LATIN_WORD.findall(core)]
    return {
        "han": han,
        "kana": kana,
        "other_letters": other_letters,
        "latin_words": len(words),
        "en_words": sum(w in _EN_WORDS for w in words),
        "other_words": sum(w in _OTHER_WORDS and w not in _EN_WORDS for w in words),
        "accents": accents,
    }


def detect_language(text: str) -> str:
    """"en", "zh" or "other" (see the module docstring for the rules)."""
    c = script_counts(text)
    if c["kana"] > 0:
        return "other"
    zh_score = c["han"] / HAN_CHARS_PER_WORD
    latin_score = c["latin_words"]
    other_score = c["other_letters"] / 4
    if zh_score == 0 and latin_score == 0:
        return "other"
    if other_score > max(zh_score, latin_score):
        return "other"
    if zh_score >= latin_score:
        return "zh"
    # Latin script: English unless another language's markers clearly win.
    foreign = c["other_words"] + (1 if c["accents"] else 0)
    if foreign > c["en_words"]:
        return "other"
    return "en"


def base_language(lang: str) -> str:
    """Map reader language tags to model languages: "zh-Hant", "zh-TW", "cmn" -> "zh"; "en-GB" -> "en"."""
    lang = lang.strip().lower().replace("_", "-")
    head = lang.split("-")[0]
    if head in ("zh", "cmn", "yue", "chinese"):
        return "zh"
    if head in ("en", "english"):
        return "en"
    return head


def targets_for(
    source: str, reader_languages: Iterable[str], supported: Iterable[str] = SUPPORTED
) -> list[str]:
    """Sorted target languages a message in ``source`` needs for these readers.

    Never includes ``source`` itself; returns [] for ``source == "other"`` (there is no model for
    it, so everyone reads the original) and ignores reader languages without a model.
    """
    if source not in supported:
        return []
    wanted = {base_language(lang) for lang in reader_languages}
    return sorted(lang for lang in wanted if lang in supported and lang != source)
