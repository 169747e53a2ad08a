"""Snippets: the window of a document's text with the most query-term matches.

A word of the text matches when the index's analyser maps it to one of the query's term ids
(so ``Cells,`` matches the query word ``cell`` after stemming, as the ranking saw it). Each
result document is analysed once and remembered (:class:`SnippetMaker`, a bounded cache of
word spans and their term ids, since popular documents come back request after request);
a request then costs a few numpy operations per document: the matches by
:func:`numpy.isin` and the best window by a cumulative sum. Highlights are character spans
inside the snippet, never markup: the page inserts the text as text and wraps the spans (no
HTML ever comes from document text).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rankstack.index import Index

_WORD = re.compile(r"\S+")
ELLIPSIS = "…"


@dataclass(frozen=True)
class Snippet:
    """A piece of text and the ``[start, end)`` character spans of its matching words."""

    text: str
    highlights: list[tuple[int, int]]


@dataclass(frozen=True)
class _Analysed:
    """A text's words: ``spans`` (n x 2 character offsets) and, per word, its term ids
    (``terms`` of word ``word[j]``)."""

    spans: np.ndarray
    terms: np.ndarray
    word: np.ndarray


@dataclass
class SnippetMaker:
    """Snippets over one index, with a cache of analysed words and documents.

    Not safe for concurrent use (the service calls it under the pipeline's lock). Each cache
    is emptied when it reaches its bound.
    """

    index: Index
    max_words: int = 200_000
    max_docs: int = 20_000
    words: dict[str, tuple[int, ...]] = field(default_factory=dict)
    docs: dict[str, _Analysed] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._analyzer = self.index.tokenizer.analyzer(self.index.vocabulary)

    def word_terms(self, words: Sequence[str]) -> list[tuple[int, ...]]:
        """The term ids of each word (empty for stopwords and words outside the vocabulary)."""
        missing = list({w for w in words if w not in self.words})
        if missing:
            if len(self.words) + len(missing) > self.max_words:
                self.words.clear()
            batch = self._analyzer.analyze_batch(missing)
            ids = np.asarray(batch.ids, dtype=np.int64).tolist()
            bounds = np.asarray(batch.offsets).tolist()
            for i, w in enumerate(missing):
                self.words[w] = tuple(ids[bounds[i] : bounds[i + 1]])
        return [self.words[w] for w in words]

    def query_terms(self, query: str) -> np.ndarray:
        """The distinct term ids of a query (sorted)."""
        ids = [t for terms in self.word_terms(query.split()) for t in terms]
        return np.unique(np.asarray(ids, dtype=np.int64))

    def _prepare(self, keys: Sequence[str], texts: Sequence[str]) -> None:
        """Analyse the new words of every text not yet cached in one analyser call (the
        analyser's fixed cost per call is larger than its cost per word)."""
        words = {
            m.group()
            for key, text in zip(keys, texts)
            if key not in self.docs
            for m in _WORD.finditer(text)
        }
        if words:
            self.word_terms(list(words))

    def _analysed(self, key: str, text: str) -> _Analysed:
        found = self.docs.get(key)
        if found is None:
            spans = [m.span() for m in _WORD.finditer(text)]
            per_word = self.word_terms([text[a:b] for a, b in spans])
            lengths = np.fromiter((len(t) for t in per_word), dtype=np.int64, count=len(spans))
            terms = np.fromiter(
                (i for t in per_word for i in t), dtype=np.int64, count=int(lengths.sum())
            )
            found = _Analysed(
                np.asarray(spans, dtype=np.int64).reshape(-1, 2),
                terms,
                np.repeat(np.arange(len(spans), dtype=np.int64), lengths),
            )
            if len(self.docs) >= self.max_docs:
                self.docs.clear()
            self.docs[key] = found
        return found

    def make(
        self, keys: Sequence[str], texts: Sequence[str], terms: np.ndarray, width: int = 40
    ) -> list[Snippet]:
        """One snippet of about ``width`` words per text (``keys`` identify the texts in
        the cache, e.g. doc ids), around its densest query-term region."""
        self._prepare(keys, texts)
        out = []
        for key, text in zip(keys, texts):
            doc = self._analysed(key, text)
            hit = np.zeros(len(doc.spans), dtype=bool)
            hit[doc.word[np.isin(doc.terms, terms)]] = True
            out.append(_window(text, doc.spans, hit, width))
        return out


def query_terms(index: Index, query: str) -> np.ndarray:
    """The distinct term ids of an analysed query (sorted)."""
    batch = index.tokenizer.analyzer(index.vocabulary).analyze_batch([query])
    return np.unique(np.asarray(batch.ids, dtype=np.int64))


def make_snippets(
    index: Index, texts: Sequence[str], terms: np.ndarray, width: int = 40
) -> list[Snippet]:
    """Snippets of ``texts`` without a cache (see :class:`SnippetMaker`)."""
    return SnippetMaker(index).make([str(i) for i in range(len(texts))], texts, terms, width)


def _window(text: str, spans: np.ndarray, hit: np.ndarray, words: int) -> Snippet:
    n = len(spans)
    if not n:
        return Snippet("", [])
    width = min(words, n)
    cum = np.concatenate([[0], np.cumsum(hit, dtype=np.int64)])
    score = cum[width:] - cum[: n - width + 1]
    first = int(np.argmax(score)) if hit.any() else 0
    # start a little before the first match of the best window, for context
    matched = np.flatnonzero(hit[first : first + width])
    if len(matched):
        first = max(0, min(first + int(matched[0]) - width // 4, n - width))
    last = first + width
    lo, hi = int(spans[first, 0]), int(spans[last - 1, 1])
    prefix = ELLIPSIS + " " if first > 0 else ""
    suffix = " " + ELLIPSIS if last < n else ""
    shift = len(prefix) - lo
    marks = (spans[first:last][hit[first:last]] + shift).tolist()
    return Snippet(prefix + text[lo:hi] + suffix, [(a, b) for a, b in marks])
