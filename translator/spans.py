"""Pure text planning around the model: protected spans, sentence splitting, output guards.

Promise: whatever the model does, URLs, e-mail addresses, @mentions, #tags, emoji and
emoticons, and `code spans` come back byte-for-byte unchanged and in place, because they never
reach the model.  ``plan(text, target)`` cuts a message into literal pieces (protected spans,
whitespace, punctuation) and *units* (the runs of words between them, one sentence each); only
units go to the model, and ``Plan.render(outputs)`` puts the message back together.

Splitting around spans rather than swapping in placeholders is deliberate: Marian vocabularies
have no placeholder token that every checkpoint copies faithfully, and a mangled placeholder
would lose the span.  The cost is that a span in mid-sentence splits the sentence.

Numbers are left inside units (the model needs them for grammar); ``numbers_in`` lets the caller
check they survived, and ``plan(..., protect_numbers=True)`` re-plans a unit with numbers cut
out when they did not.

Guards: ``needs_translation`` (no letters outside protected spans -> no model call),
``max_new_tokens_for`` (output length capped relative to input), ``clean_output`` (empty output
is a failure; a runaway repetition is collapsed).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

_NOT_URL_END = r"[^\s<>\"'.,;:!?)\]}。，！？、；：）】」』\u3000-\u303F\u4E00-\u9FFF\uFF00-\uFFEF]"
_URL_BODY = r"[^\s<>\"()\u3000-\u303F\u4E00-\u9FFF\uFF00-\uFFEF]"
_URL_PARENS = r"\([^\s()]*\)"  # balanced (...) inside a URL, e.g. wikipedia links
_TLDS = "com|net|org|io|cn|dev|app|gg|tv|me|co|uk|info|edu|gov|ly|ai|xyz|hk|tw|jp|de|fr"
_EMOJI_CHARS = (
    "\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u2300-\u23FF\u2190-\u21FF"
    "\u200D\uFE0F\uFE0E\u20E3\U000E0020-\U000E007F\u3030\u303D\u3297\u3299\u00A9\u00AE\u2122"
)

_PROTECTED = [
    ("code", r"```[\s\S]*?```|`[^`\n]+`"),
    ("url", rf"(?:https?://|ftp://|www\.)(?:{_URL_PARENS}|{_URL_BODY})*(?:{_URL_PARENS}|{_NOT_URL_END})"),
    # Bounded repeats and a start anchor: with "+" these tried every start position of a long
    # word and ran to its end each time (quadratic: ~10 ms for a 2,000-letter message).
    ("email", r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}"),
    ("url", rf"(?<![A-Za-z0-9.-])[A-Za-z0-9-]{{1,63}}(?:\.[A-Za-z0-9-]{{1,63}}){{0,8}}\.(?:{_TLDS})\b(?:/{_URL_BODY}*{_NOT_URL_END})?"),
    ("mention", r"(?<![\w@])@\w(?:[\w.-]*\w)?"),
    ("tag", r"(?<![\w#&])#\w+"),
    ("emoji", rf"[{_EMOJI_CHARS}]+"),
    ("emoticon", r"(?<!\S)(?:[:;=8][-'^]?[)(DPpO/\\|\]\[3*]+|<3+|[xX]D+|\^_*\^|T_T|QAQ)(?!\S)"),
]
_NUMBER = r"[+-]?\d+(?:[.,:/]\d+)*%?"

_PROTECTED_RE = re.compile("|".join(f"(?:{p})" for _, p in _PROTECTED))
_PROTECTED_NUM_RE = re.compile("|".join(f"(?:{p})" for _, p in _PROTECTED) + f"|(?:{_NUMBER})")
_NUMBER_RE = re.compile(_NUMBER)
_LETTER_RE = re.compile(r"[^\W\d_]")

# A sentence ends after . ! ? … followed by space, or after CJK end punctuation, or at a newline.
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[。！？；])\s*|\s*\n\s*")
_SOFT_BREAK = re.compile(r"(?<=[,，、;；:：])\s*|\s+")

MAX_UNIT_CHARS = 300


# What every protected span but a number needs somewhere in the text (each alternative is a
# prefix or part of one in _PROTECTED). Without any, only numbers can match, and the number
# pattern alone finds them ~10x faster than the whole alternation, which is tried at every
# position (most chat lines: detection runs on every message sent).
_SPAN_HINT_RE = re.compile(
    rf"`|@|#|://|www\.|\.(?:{_TLDS})\b|[^\x00-\x7f]"
    r"|(?<!\S)(?:[:;=8][-'^]?[)(DPpO/\\|\]\[3*]|<3|[xX]D|\^|T_T|QAQ)"
)
# The same test in parts (has_protected_hint): substring checks and two small patterns took
# 2.6 us on a 100-character line where the one alternation took 6.5.
_TLD_HINT_RE = re.compile(rf"\.(?:{_TLDS})\b")
_EMOTICON_HINT_RE = re.compile(r"(?<!\S)(?:[:;=8][-'^]?[)(DPpO/\\|\]\[3*]|<3|[xX]D|\^|T_T|QAQ)")


def has_protected_hint(text: str) -> bool:
    """Whether ``text`` may hold a protected span other than a number (``_SPAN_HINT_RE``
    matches it); when not, only numbers are protected in it."""
    if not text.isascii() or "`" in text or "@" in text or "#" in text or "://" in text or "www." in text:
        return True
    if "." in text and _TLD_HINT_RE.search(text) is not None:
        return True
    return _EMOTICON_HINT_RE.search(text) is not None


def strip_protected(text: str) -> str:
    """The text with every protected span and number replaced by a space."""
    if not has_protected_hint(text):
        return _NUMBER_RE.sub(" ", text)
    return _PROTECTED_NUM_RE.sub(" ", text)


def protected_spans(text: str, protect_numbers: bool = False) -> list[str]:
    """The protected spans of ``text``, in order."""
    rx = _PROTECTED_NUM_RE if protect_numbers else _PROTECTED_RE
    return [m.group(0) for m in rx.finditer(text)]


def needs_translation(text: str) -> bool:
    """False for text with no letters outside protected spans (emoji, links, numbers, punctuation)."""
    return bool(_LETTER_RE.search(strip_protected(text)))


def numbers_in(text: str) -> Counter:
    """Multiset of the numbers written in ``text``."""
    return Counter(_NUMBER_RE.findall(text))


def split_sentences(text: str, max_chars: int = MAX_UNIT_CHARS) -> list[str]:
    """Sentences of ``text`` (English and Chinese end punctuation, newlines), each at most
    ``max_chars`` long (longer ones are cut at commas, then at spaces, then hard)."""
    out: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        sentence = sentence.strip()
        if not sentence:
            continue
        if len(sentence) <= max_chars:
            out.append(sentence)
            continue
        chunk = ""
        for part in _SOFT_BREAK.split(sentence):
            if not part:
                continue
            joiner = "" if not chunk or _is_cjk(chunk[-1]) or _is_cjk(part[0]) else " "
            if chunk and len(chunk) + len(joiner) + len(part) > max_chars:
                out.append(chunk)
                chunk = ""
                joiner = ""
            chunk += joiner + part
            while len(chunk) > max_chars:
                out.append(chunk[:max_chars])
                chunk = chunk[max_chars:]
        if chunk:
            out.append(chunk)
    return out


def _is_cjk(ch: str) -> bool:
    return "\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef"


def sentence_joiner(target: str) -> str:
    """Chinese sentences follow each other without a space; English ones take one."""
    return "" if target == "zh" else " "


@dataclass
class Plan:
    """A message cut into literal pieces (str) and model units (int index into ``units``)."""

    pieces: list[str | int] = field(default_factory=list)
    units: list[str] = field(default_factory=list)

    def render(self, outputs: list[str]) -> str:
        if len(outputs) != len(self.units):
            raise ValueError(f"expected {len(self.units)} outputs, got {len(outputs)}")
        return "".join(p if isinstance(p, str) else outputs[p] for p in self.pieces)


def plan(text: str, target: str, protect_numbers: bool = False, max_chars: int = MAX_UNIT_CHARS) -> Plan:
    """Cut ``text`` into literal pieces and sentence units to translate into ``target``."""
    rx = _PROTECTED_NUM_RE if protect_numbers else _PROTECTED_RE
    result = Plan()
    pos = 0
    for m in rx.finditer(text):
        _plan_gap(text[pos : m.start()], target, result, max_chars)
        result.pieces.append(m.group(0))
        pos = m.end()
    _plan_gap(text[pos:], target, result, max_chars)
    return result


def _plan_gap(gap: str, target: str, result: Plan, max_chars: int) -> None:
    if not gap:
        return
    if not _LETTER_RE.search(strip_protected(gap)):
        result.pieces.append(gap)
        return
    core = gap.strip()
    lead = gap[: len(gap) - len(gap.lstrip())]
    trail = gap[len(gap.rstrip()) :]
    if lead:
        result.pieces.append(lead)
    for i, sentence in enumerate(split_sentences(core, max_chars)):
        if i:
            result.pieces.append(sentence_joiner(target))
        result.pieces.append(len(result.units))
        result.units.append(sentence)
    if trail:
        result.pieces.append(trail)


def max_new_tokens_for(input_tokens: int, ratio: float = 2.0, extra: int = 10, cap: int = 256) -> int:
    """Output budget: a translation is rarely over twice its input; runaway loops stop there."""
    return max(1, min(cap, int(input_tokens * ratio) + extra))


_REPEAT = re.compile(r"(.{1,24}?)\1{3,}", re.S)


def clean_output(source: str, output: str) -> str | None:
    """The model output made safe to show, or None when it is unusable (empty).

    A chunk repeated four or more times in a row is collapsed to one copy unless the source
    itself repeats something (so "哈哈哈哈" from "hahahaha" survives).
    """
    out = output.strip()
    if not out:
        return None
    if not _REPEAT.search(source):
        out = _REPEAT.sub(r"\1", out).strip()
    return out or None
