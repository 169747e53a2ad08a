"""Stemmers over a vocabulary (one call per batch of unique words, never per occurrence).

``porter`` reproduces Lucene's ``PorterStemFilter``: Lucene's ``PorterStemmer`` is a port of
Martin Porter's reference C implementation, which departs from the published algorithm (M. F.
Porter, "An algorithm for suffix stripping", Program 14(3), 1980) in three places, all listed in
the C source: words of one or two letters are left alone; step 2 rewrites ``-bli`` (not only
``-abli``) to ``-ble``; and step 2 gains the rule ``-logi`` -> ``-log``. PyStemmer's Snowball
``porter`` implements the published algorithm, so we run it and correct those three cases.
Every other name is a PyStemmer (Snowball) algorithm, e.g. ``english`` (Porter2).
"""

from __future__ import annotations

from collections.abc import Callable

import Stemmer

from rankstack.exceptions import DataError

_VOWELS = frozenset("aeiou")


def porter_measure(word: str) -> int:
    """Porter's *m*: the number of vowel-consonant sequences in ``[C](VC)^m[V]``.

    ``y`` is a consonant at the start of a word or after a vowel, and a vowel after a consonant.
    """
    m = 0
    prev_vowel = False
    prev_cons = False
    for i, ch in enumerate(word):
        if ch in _VOWELS:
            vowel = True
        elif ch == "y":
            vowel = i > 0 and prev_cons
        else:
            vowel = False
        if not vowel and prev_vowel:
            m += 1
        prev_vowel = vowel
        prev_cons = not vowel
    return m


class _LucenePorter:
    """Lucene's Porter stemmer: Snowball ``porter`` plus the reference C departures."""

    def __init__(self) -> None:
        self._snowball = Stemmer.Stemmer("porter", 0)  # no cache: we stem unique words

    def stem_words(self, words: list[str]) -> list[str]:
        stems: list[str] = self._snowball.stemWords(words)
        out: list[str] = []
        for word, stem in zip(words, stems):
            if len(word) <= 2:
                out.append(word)
            elif stem.endswith("logi") and porter_measure(stem[:-4]) > 0:
                out.append(stem[:-1])
            elif stem.endswith("bli") and porter_measure(stem[:-3]) > 0:
                # C step 2 gives "-ble"; steps 3-5 then act on it exactly as Snowball would
                out.append(self._snowball.stemWord(stem[:-3] + "ble"))
            else:
                out.append(stem)
        return out


class _Snowball:
    def __init__(self, name: str) -> None:
        self._stemmer = Stemmer.Stemmer(name, 0)

    def stem_words(self, words: list[str]) -> list[str]:
        out: list[str] = self._stemmer.stemWords(words)
        return out


def make_stemmer(name: str | None) -> Callable[[list[str]], list[str]] | None:
    """The batch stemming function for ``name`` (``None`` or ``"none"``: no stemming)."""
    if name is None or name.lower() == "none":
        return None
    key = name.lower()
    if key == "porter":
        return _LucenePorter().stem_words
    if key not in {a.lower() for a in Stemmer.algorithms()}:
        raise DataError(
            f"unknown stemmer {name!r}: expected 'porter' (Lucene's), 'none', or one of "
            f"PyStemmer's algorithms {sorted(Stemmer.algorithms())}"
        )
    return _Snowball(key).stem_words
