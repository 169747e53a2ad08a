"""What a feature function sees: the pairs, the index, the settings, and cached gathers.

A :class:`Context` covers one chunk of a run's rows. Per field it gathers, once, the forward
posting and term frequency of every (pair, query term) entry; for the main field it also
gathers the token positions of the matched entries (:class:`Occurrences`), either from the
index (built with ``positions=True``) or, as a fallback, by re-analysing the candidate
documents' text from a corpus.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow.compute as pc

from rankstack.data import Corpus
from rankstack.data._columns import take_str, to_str_list
from rankstack.exceptions import DataError
from rankstack.index import FieldIndex, Index
from rankstack.rerank.features._pairs import DocGroups, Pairs, QueryTerms, find_postings, ranges


@dataclass(frozen=True)
class Settings:
    """Parameters of the scoring features (see :class:`~rankstack.rerank.Features`)."""

    k1: float = 0.9
    b: float = 0.4
    variant: str = "lucene"
    delta: float | None = None
    quantize: bool | None = None
    mu: float = 2000.0
    jm_lambda: float = 0.1


@dataclass(frozen=True)
class Forward:
    """A forward index with positions (doc rows -> ascending term ids, tf, positions)."""

    indptr: np.ndarray
    terms: np.ndarray
    pos_indptr: np.ndarray
    positions: np.ndarray
    docs: np.ndarray | None = None  # sorted global doc indices of the rows; None: identity

    def rows(self, docs: np.ndarray) -> np.ndarray:
        return docs if self.docs is None else np.searchsorted(self.docs, docs)


@dataclass(frozen=True)
class Occurrences:
    """Positions of the matched entries, sorted by entry then position.

    ``key = entry * span + pos`` is ascending; entry ``e``'s positions are
    ``pos[start[e]:end[e]]`` (empty where the document lacks the term).
    """

    entry: np.ndarray
    pos: np.ndarray
    key: np.ndarray
    start: np.ndarray
    end: np.ndarray
    span: int

    def next_at_or_after(
        self, entries: np.ndarray, at: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """For each ``(entry, at)``, the first position of the entry that is ``>= at``:
        ``(found, position)``; ``position`` is meaningless where ``found`` is false."""
        idx = np.searchsorted(self.key, entries * self.span + np.maximum(at, 0))
        found = idx < self.end[entries]
        pos = self.pos[np.minimum(idx, max(len(self.pos) - 1, 0))] if len(self.pos) else idx
        return found, pos

    def contains(self, entries: np.ndarray, at: np.ndarray) -> np.ndarray:
        """Whether entry ``entries[i]`` has an occurrence exactly at ``at[i]``."""
        found, pos = self.next_at_or_after(entries, at)
        return found & (pos == at) & (at >= 0)


@dataclass
class Context:
    """One chunk of pairs with lazily gathered per-field statistics."""

    index: Index
    queries: QueryTerms
    pairs: Pairs
    settings: Settings
    main_field: str
    scores: np.ndarray
    ranks: np.ndarray
    corpus: Corpus | None = None
    cache: dict[str, Any] = field(default_factory=dict)

    def field(self, name: str) -> FieldIndex:
        return self.index.field(name)

    def memo(self, key: str, make: Any) -> Any:
        """``make()`` computed once per chunk under ``key``."""
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    # ----------------------------------------------------------------- per-field gathers
    def doc_groups(self) -> DocGroups:
        """The entries grouped by document (shared by every field's lookups)."""
        out: DocGroups = self.memo(
            "doc_groups", lambda: DocGroups.of(self.pairs.doc[self.pairs.e_pair])
        )
        return out

    def postings(self, name: str) -> np.ndarray:
        """Forward posting index of every entry in field ``name`` (-1: term not in doc)."""

        def make() -> np.ndarray:
            f = self.field(name)
            p = self.pairs
            return find_postings(f.fwd_indptr, f.fwd_terms, self.doc_groups(), p.e_term)

        out: np.ndarray = self.memo(f"postings:{name}", make)
        return out

    def tf(self, name: str) -> np.ndarray:
        """Term frequency of every entry in field ``name`` (float64, 0 where absent)."""

        def make() -> np.ndarray:
            post = self.postings(name)
            out = np.zeros(len(post), dtype=np.float64)
            hit = post >= 0
            out[hit] = self.field(name).fwd_tf[post[hit]]
            return out

        out: np.ndarray = self.memo(f"tf:{name}", make)
        return out

    def doclen(self, name: str) -> np.ndarray:
        """Length (tokens) of each pair's document in field ``name`` (float64)."""
        out: np.ndarray = self.memo(
            f"dl:{name}",
            lambda: np.asarray(self.field(name).doclen[self.pairs.doc], dtype=np.float64),
        )
        return out

    def per_pair_sum(self, values: np.ndarray) -> np.ndarray:
        """Sum of per-entry ``values`` for each pair (float64)."""
        return np.bincount(self.pairs.e_pair, weights=values, minlength=self.pairs.n_pairs)

    # ----------------------------------------------------------------- positions
    def occurrences(self) -> Occurrences:
        """Positions of the query terms in each pair's document (main field)."""
        out: Occurrences = self.memo("occurrences", self._occurrences)
        return out

    def _occurrences(self) -> Occurrences:
        p = self.pairs
        fwd = self._forward()
        groups = self.doc_groups()
        post = find_postings(
            fwd.indptr, fwd.terms, groups.with_uniq(fwd.rows(groups.uniq)), p.e_term
        )
        hit = np.flatnonzero(post >= 0)
        lo = np.asarray(fwd.pos_indptr[post[hit]], dtype=np.int64)
        hi = np.asarray(fwd.pos_indptr[post[hit] + 1], dtype=np.int64)
        counts = np.zeros(p.n_entries, dtype=np.int64)
        counts[hit] = hi - lo
        occ_pos = np.asarray(fwd.positions[ranges(lo, hi - lo)], dtype=np.int64)
        occ_entry = np.repeat(hit, hi - lo)
        span = int(occ_pos.max(initial=0)) + 2
        end = np.cumsum(counts)
        return Occurrences(
            entry=occ_entry,
            pos=occ_pos,
            key=occ_entry * span + occ_pos,
            start=end - counts,
            end=end,
            span=span,
        )

    def _forward(self) -> Forward:
        f = self.field(self.main_field)
        if f.pos_indptr is not None and f.positions is not None:
            return Forward(f.fwd_indptr, f.fwd_terms, f.pos_indptr, f.positions)
        if self.corpus is None:
            raise DataError("positions are needed but the index has none and no corpus was given")
        return forward_from_text(self.index, self.corpus, self.main_field, self.pairs.doc)


def forward_from_text(index: Index, corpus: Corpus, field_name: str, docs: np.ndarray) -> Forward:
    """A small forward index with positions for the documents ``docs``, made by analysing
    their text from ``corpus`` exactly as the index builder did (same fields joined, same
    tokenizer and vocabulary). The fallback for an index built without positions."""
    uniq = np.unique(docs)
    sources = index.manifest["fields"][field_name].get("sources")
    if not sources:
        raise DataError(f"the index does not record the corpus fields of {field_name!r}")
    want = take_str(index.docids, uniq)
    rows = pc.fill_null(pc.index_in(want, value_set=corpus.docids), -1).to_numpy()
    rows = np.asarray(rows, dtype=np.int64)
    if (rows < 0).any():
        absent = to_str_list(take_str(want, np.flatnonzero(rows < 0)[:5]))
        raise DataError(
            f"the corpus given for positions lacks {int((rows < 0).sum())} candidate "
            f"documents, e.g. {absent}; pass the corpus the index was built from"
        )
    texts = corpus.take(rows).contents(sources)
    batch = index.tokenizer.analyzer(index.vocabulary).analyze_batch(texts)
    n_terms = max(index.n_terms, 1)
    local = np.repeat(np.arange(len(uniq), dtype=np.int64), batch.lengths)
    key = local * n_terms + np.asarray(batch.ids, dtype=np.int64)
    order = np.argsort(key, kind="stable")
    key = key[order]
    positions = np.asarray(batch.positions, dtype=np.int64)[order]
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    starts = np.flatnonzero(first)
    tf = np.diff(np.append(starts, len(key)))
    ukey = key[starts]
    indptr = np.zeros(len(uniq) + 1, dtype=np.int64)
    np.cumsum(np.bincount(ukey // n_terms, minlength=len(uniq)), out=indptr[1:])
    pos_indptr = np.zeros(len(tf) + 1, dtype=np.int64)
    np.cumsum(tf, out=pos_indptr[1:])
    return Forward(indptr, ukey % n_terms, pos_indptr, positions, docs=uniq)
