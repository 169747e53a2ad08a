"""English stopword lists.

``lucene`` is Lucene's ``EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`` (33 words), the list that
Anserini and Pyserini use, so it is the default for parity with them. ``snowball`` is the
larger English list published with the Snowball stemmers (M. Porter,
https://snowballstem.org/algorithms/english/stop.txt), 174 words including contractions.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rankstack.exceptions import FormatError


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


LUCENE: frozenset[str] = _words(
    "a an and are as at be but by for if in into is it no not of on or such that the their "
    "then there these they this to was will with"
)

SNOWBALL: frozenset[str] = _words(
    """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his himself
    she her hers herself it its itself they them their theirs themselves what which who whom
    this that these those am is are was were be been being have has had having do does did
    doing would should could ought i'm you're he's she's it's we're they're i've you've we've
    they've i'd you'd he'd she'd we'd they'd i'll you'll he'll she'll we'll they'll isn't
    aren't wasn't weren't hasn't haven't hadn't doesn't don't didn't won't wouldn't shan't
    shouldn't can't cannot couldn't mustn't let's that's who's what's here's there's when's
    where's why's how's a an the and but if or because as until while of at by for with about
    against between into through during before after above below to from up down in out on
    off over under again further then once here there when where why how all any both each
    few more most other some such no nor not only own same so than too very
    """
)

NAMED: dict[str, frozenset[str]] = {"lucene": LUCENE, "snowball": SNOWBALL, "none": frozenset()}


def resolve(spec: str | Iterable[str] | None) -> tuple[str, frozenset[str]]:
    """A stopword spec as ``(name, words)``.

    ``spec`` is a list name (``lucene``, ``snowball``, ``none``), ``None`` (no stopwords), a
    path to a text file with one word per line (``#`` starts a comment), or the words
    themselves. The name is ``"custom"`` for files and explicit words.
    """
    if spec is None:
        return "none", frozenset()
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key in NAMED:
            return key, NAMED[key]
        path = Path(spec)
        if not path.is_file():
            raise FormatError(
                f"unknown stopword list {spec!r}: expected one of {sorted(NAMED)} or a text "
                "file with one word per line"
            )
        return "custom", read_file(path)
    return "custom", frozenset(w.strip() for w in spec if w.strip())


def read_file(path: str | Path) -> frozenset[str]:
    """Words of a stopword file: one per line, blank lines and ``#`` comments ignored."""
    from rankstack.io._files import read_text

    words = set()
    for line in read_text(path).splitlines():
        word = line.split("#", 1)[0].strip()
        if word:
            words.add(word)
    return frozenset(words)
