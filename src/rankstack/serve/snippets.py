"""Snippets: the window of a document's text with the most query-term matches.

A word of the text matches when the index's analyser maps it to one of the query's term ids
(so ``Cells,`` matches the query word ``cell`` after stemming, as the ranking saw it). The
words of all result documents are analysed in one batch; the best window is found with a
cumulative sum. Highlights are character spans inside the snippet, never markup: the page
escapes the text first and then wraps the spans (no HTML ever comes from document text).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rankstack.index import Index

_WORD = re.compile(r"\S+")
ELLIPSIS = "…"


@dataclass(frozen=True)
class Snippet:
    """A piece of text and the ``[start, end)`` character spans of its matching words."""

    text: str
    highlights: list[tuple[int, int]]


def query_terms(index: Index, query: str) -> np.ndarray:
    """The distinct term ids of an analysed query (sorted)."""
    batch = index.tokenizer.analyzer(index.vocabulary).analyze_batch([query])
    return np.unique(np.asarray(batch.ids, dtype=np.int64))


def make_snippets(
    index: Index, texts: Sequence[str], terms: np.ndarray, words: int = 40
) -> list[Snippet]:
    """One snippet of about ``words`` words per text, around its densest query-term region."""
    spans = [[m.span() for m in _WORD.finditer(t)] for t in texts]
    counts = np.array([len(s) for s in spans], dtype=np.int64)
    pieces = [t[a:b] for t, sp in zip(texts, spans) for a, b in sp]
    hit = np.zeros(len(pieces), dtype=bool)
    if pieces and len(terms):
        batch = index.tokenizer.analyzer(index.vocabulary).analyze_batch(pieces)
        ids = np.asarray(batch.ids, dtype=np.int64)
        owner = np.repeat(np.arange(len(pieces), dtype=np.int64), np.diff(batch.offsets))
        hit[owner[np.isin(ids, terms)]] = True
    out: list[Snippet] = []
    start = 0
    for text, sp, n in zip(texts, spans, counts):
        out.append(_window(text, sp, hit[start : start + n], words))
        start += n
    return out


def _window(text: str, spans: list[tuple[int, int]], hit: np.ndarray, words: int) -> Snippet:
    if not spans:
        return Snippet("", [])
    n = len(spans)
    width = min(words, n)
    cum = np.concatenate([[0], np.cumsum(hit, dtype=np.int64)])
    score = cum[width:] - cum[: n - width + 1]
    first = int(np.argmax(score)) if hit.any() else 0
    # start a little before the first match of the best window, for context
    matched = np.flatnonzero(hit[first : first + width])
    if len(matched):
        first = max(0, min(first + int(matched[0]) - width // 4, n - width))
    last = first + width
    lo, hi = spans[first][0], spans[last - 1][1]
    prefix = ELLIPSIS + " " if first > 0 else ""
    suffix = " " + ELLIPSIS if last < n else ""
    shift = len(prefix) - lo
    marks = [(a + shift, b + shift) for (a, b), h in zip(spans[first:last], hit[first:last]) if h]
    return Snippet(prefix + text[lo:hi] + suffix, marks)
