"""Reading a ranking out of a model's answer, repairing what is wrong and counting it.

Small models rarely answer with a clean permutation. :func:`parse_permutation` takes the
identifiers in the order they appear (``[3] > [1]``, ``3, 1``, ``[C] > [A]``), then repairs:

- identifiers outside ``1..n`` (or ``A..``) are dropped (``out_of_range``);
- a repeated identifier keeps its first place (``repeated``);
- identifiers that never appear follow in their input order (``missing``), as RankGPT does.

An answer with no identifier at all keeps the input order and is ``unparseable``. The result
is always a permutation of ``range(n)`` (a property the tests check for any text).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass

import numpy as np

LETTERS = string.ascii_uppercase

_BRACKET_NUM = re.compile(r"\[\s*(\d+)\s*\]")
_BARE_NUM = re.compile(r"\d+")
_BRACKET_LETTER = re.compile(r"\[\s*([A-Za-z])\s*\]")
_BARE_LETTER = re.compile(r"(?<![A-Za-z])([A-Z])(?![A-Za-z])")
_ANSWER = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.S | re.I)


@dataclass(frozen=True)
class ParseReport:
    """What had to be repaired in one answer."""

    missing: int = 0
    repeated: int = 0
    out_of_range: int = 0
    unparseable: bool = False

    @property
    def repaired(self) -> bool:
        return bool(self.missing or self.repeated or self.out_of_range or self.unparseable)

    def add_to(self, counts: Counter[str]) -> None:
        counts["parse_answers"] += 1
        counts["parse_repaired"] += int(self.repaired)
        counts["parse_missing"] += self.missing
        counts["parse_repeated"] += self.repeated
        counts["parse_out_of_range"] += self.out_of_range
        counts["parse_unparseable"] += int(self.unparseable)


def identifier(i: int, kind: str) -> str:
    """The label of 0-based position ``i``: ``"3"`` (numbers) or ``"C"`` (letters)."""
    return LETTERS[i] if kind == "letters" else str(i + 1)


def answer_part(text: str) -> str:
    """The ``<answer>...</answer>`` part of a reasoning answer (the whole text if none)."""
    m = _ANSWER.search(text)
    if m:
        return m.group(1)
    # a model that stops thinking without tags: read what follows </think>
    _, sep, after = text.partition("</think>")
    return after if sep else text


def parse_permutation(
    text: str | None, n: int, kind: str = "numbers"
) -> tuple[np.ndarray, ParseReport]:
    """``(order, report)``: 0-based positions, best first, always a permutation of ``range(n)``."""
    if n <= 0:
        return np.zeros(0, dtype=np.int64), ParseReport()
    raw = _identifiers(text or "", kind)
    if not raw:
        return np.arange(n, dtype=np.int64), ParseReport(missing=n, unparseable=True)
    seen: set[int] = set()
    order: list[int] = []
    repeated = out_of_range = 0
    for i in raw:
        if i < 0 or i >= n:
            out_of_range += 1
        elif i in seen:
            repeated += 1
        else:
            seen.add(i)
            order.append(i)
    if not order:
        return np.arange(n, dtype=np.int64), ParseReport(
            missing=n, out_of_range=out_of_range, repeated=repeated, unparseable=True
        )
    missing = [i for i in range(n) if i not in seen]
    return np.array(order + missing, dtype=np.int64), ParseReport(
        missing=len(missing), repeated=repeated, out_of_range=out_of_range
    )


def _identifiers(text: str, kind: str) -> list[int]:
    if kind == "letters":
        found = _BRACKET_LETTER.findall(text) or _BARE_LETTER.findall(text)
        return [ord(c.upper()) - ord("A") for c in found]
    found = _BRACKET_NUM.findall(text) or _BARE_NUM.findall(text)
    # 1-based identifiers; huge numbers are out of range, not an overflow
    return [int(s) - 1 if len(s) < 9 else -1 for s in found]


def parse_grade(text: str | None, top: int = 3) -> int | None:
    """The first digit ``0..top`` in a relevance-grade answer, or None."""
    m = re.search(rf"[0-{top}]", text or "")
    return int(m.group(0)) if m else None
