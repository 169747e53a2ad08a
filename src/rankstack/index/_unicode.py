"""The token pattern: a regular-expression approximation of Lucene's ``StandardTokenizer``.

Lucene's ``StandardTokenizer`` implements the word-break rules of Unicode Standard Annex #29
(https://unicode.org/reports/tr29/). This module builds a Python regular expression that
follows the rules that matter for text retrieval:

- a token is a run of letters, decimal digits, combining marks, format characters (soft
  hyphen) and connector punctuation (``_``; UAX#29 WB4, WB5, WB8-WB10, WB13a/b); other
  numerals such as superscripts (``m²``) and fractions break words, as in UAX#29;
- a single mid-word character joins two letters (``'`` ``’`` ``.`` ``:`` ``·``; WB6/WB7:
  ``don't``, ``u.s.a``, ``x:y``) and a single mid-number character joins two digits
  (``,`` ``.`` ``;`` ``'``; WB11/WB12: ``1,000``, ``3.14``);
- every Han ideograph and Hiragana character is a token of its own, as Lucene emits them;
- pictographic symbols (emoji, ``©``, ``®``, ``™``) are tokens of one character each.

Differences from Lucene: emoji sequences joined by ZWJ or modifiers become several tokens;
Hebrew quote rules (WB7a-c) and Katakana/ExtendNumLet corner cases are not modelled; tokens
never span whitespace (UAX#29 never puts whitespace inside a word either).
"""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import lru_cache

# UAX#29 MidLetter, MidNumLet and Single_Quote: join two letters
JOIN_LETTERS = "'.:·’‘＇．․﹒\u0387\u05f4\u2027\ufe13\ufe55\uff1a"
# UAX#29 MidNum, MidNumLet and Single_Quote: join two digits
JOIN_DIGITS = (
    ",;.'’‘＇．․﹒\u037e\u0589\u060c\u060d\u066c\u07f8\u2044\ufe10\ufe14\ufe50\ufe54\uff0c\uff1b"
)

# one token per character (Lucene's <IDEOGRAPHIC> and <HIRAGANA> token types)
_SINGLE_RANGES = [
    (0x3040, 0x309F),  # Hiragana
    (0x3400, 0x4DBF),  # CJK Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs
    (0x20000, 0x323AF),  # CJK Extensions B-H
]
# pictographic symbols (approximation of Extended_Pictographic)
_EMOJI_RANGES = [
    (0x00A9, 0x00A9),
    (0x00AE, 0x00AE),
    (0x203C, 0x203C),
    (0x2049, 0x2049),
    (0x2122, 0x2122),
    (0x2139, 0x2139),
    (0x2194, 0x2199),
    (0x21A9, 0x21AA),
    (0x231A, 0x231B),
    (0x2328, 0x2328),
    (0x23CF, 0x23CF),
    (0x23E9, 0x23F3),
    (0x23F8, 0x23FA),
    (0x24C2, 0x24C2),
    (0x25AA, 0x25AB),
    (0x25B6, 0x25B6),
    (0x25C0, 0x25C0),
    (0x25FB, 0x25FE),
    (0x2600, 0x2605),
    (0x2607, 0x2612),
    (0x2614, 0x2685),
    (0x2690, 0x2705),
    (0x2708, 0x2712),
    (0x2714, 0x2714),
    (0x2716, 0x2716),
    (0x271D, 0x271D),
    (0x2721, 0x2721),
    (0x2728, 0x2728),
    (0x2733, 0x2734),
    (0x2744, 0x2744),
    (0x2747, 0x2747),
    (0x274C, 0x274C),
    (0x274E, 0x274E),
    (0x2753, 0x2755),
    (0x2757, 0x2757),
    (0x2763, 0x2767),
    (0x2795, 0x2797),
    (0x27A1, 0x27A1),
    (0x27B0, 0x27B0),
    (0x27BF, 0x27BF),
    (0x2934, 0x2935),
    (0x2B05, 0x2B07),
    (0x2B1B, 0x2B1C),
    (0x2B50, 0x2B50),
    (0x2B55, 0x2B55),
    (0x3030, 0x3030),
    (0x303D, 0x303D),
    (0x3297, 0x3297),
    (0x3299, 0x3299),
    (0x1F000, 0x1FAFF),
]


def _class(codepoints: list[int]) -> str:
    """A regex character class body for a sorted list of code points, as ranges."""
    parts: list[str] = []
    start = prev = codepoints[0]
    for cp in [*codepoints[1:], -2]:
        if cp == prev + 1:
            prev = cp
            continue
        parts.append(re.escape(chr(start)) + ("" if prev == start else "-" + re.escape(chr(prev))))
        start = prev = cp
    return "".join(parts)


@lru_cache(maxsize=1)
def word_classes() -> tuple[str, str, str, str]:
    """Character-class bodies: word characters, token starts, letters, single-char tokens.

    Built once per process from :mod:`unicodedata` (about 0.1 s).
    """
    category = unicodedata.category
    extend = ("Mn", "Mc", "Me", "Cf")  # WB4: marks and format characters extend a word
    skip = {cp for lo, hi in _SINGLE_RANGES for cp in range(lo, hi + 1)}
    word: list[int] = []
    start: list[int] = []
    letter: list[int] = []
    # planes 4-16 hold no letters, digits or marks (only tags and private use)
    for cp in range(min(sys.maxunicode + 1, 0x40000)):
        ch = chr(cp)
        if ch.isdecimal():
            word.append(cp)
            start.append(cp)
        elif ch.isalpha() or (not ch.isalnum() and category(ch) == "Nl"):
            if cp not in skip:
                word.append(cp)
                start.append(cp)
                letter.append(cp)
        elif cp != 0x200B:  # ZERO WIDTH SPACE is Format but breaks words
            cat = category(ch)
            if cat in extend:
                word.append(cp)
                letter.append(cp)
            elif cat == "Pc":  # connector punctuation such as "_" (ExtendNumLet)
                word.append(cp)
                start.append(cp)
    single = [cp for lo, hi in _SINGLE_RANGES + _EMOJI_RANGES for cp in range(lo, hi + 1)]
    return _class(word), _class(start), _class(letter), _class(sorted(set(single)))


@lru_cache(maxsize=1)
def lucene_token_regex() -> re.Pattern[str]:
    """The compiled default token pattern (see the module docstring)."""
    word, start, letter, single = word_classes()
    jl = re.escape(JOIN_LETTERS)
    jd = re.escape(JOIN_DIGITS)
    pattern = (
        f"[{single}]"
        f"|[{start}][{word}]*"
        f"(?:(?:(?<=[{letter}])[{jl}](?=[{letter}])|(?<=\\d)[{jd}](?=\\d))[{word}]+)*"
    )
    return re.compile(pattern)
