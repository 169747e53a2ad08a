"""The (query, document) pairs of a run, laid out as one flat table of (pair, query term) entries.

Every feature family reads the same table: for each pair, one entry per *distinct* analysed
query term (ascending term id, which is the order the BM25 stage adds terms in), with the
query term frequency. Term frequencies and token positions of the entries are gathered from
the forward index of a field (doc -> ascending term ids) by a vectorised binary search over
each document's term list, so the cost follows the number of entries, never the corpus size,
and there is no Python loop per pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from rankstack.index import Index


def ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for each ``(s, n)``, without a Python loop."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    excl = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=excl[1:])
    return np.repeat(np.asarray(starts, dtype=np.int64) - excl, lengths) + np.arange(
        total, dtype=np.int64
    )


def offsets_of(groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Offsets (length ``n_groups + 1``) of sorted group codes."""
    out = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(np.bincount(groups, minlength=n_groups), out=out[1:])
    return out


def rank_in_group(offsets: np.ndarray) -> np.ndarray:
    """0-based position of every row inside its group (groups given by ``offsets``)."""
    sizes = np.diff(offsets)
    n = int(offsets[-1])
    return np.arange(n, dtype=np.int64) - np.repeat(offsets[:-1], sizes)


@dataclass(frozen=True)
class QueryTerms:
    """Analysed queries: distinct terms with counts, and the known tokens in query order.

    ``terms[offsets[i]:offsets[i+1]]`` are query ``i``'s distinct terms (ascending ids) with
    counts ``qtf`` and ``order`` (rank of the term's first occurrence in the query, 0 = first).
    ``tok_slot``/``tok_pos`` give each known token (in query order, ``tok_offsets``) its
    distinct-term index within the query and its position (stopwords counted, as in the index).
    ``n_tokens`` counts analysed tokens including words absent from the index vocabulary;
    ``n_unknown`` those absent words.
    """

    offsets: np.ndarray
    terms: np.ndarray
    qtf: np.ndarray
    order: np.ndarray
    n_tokens: np.ndarray
    n_unknown: np.ndarray
    tok_offsets: np.ndarray
    tok_slot: np.ndarray
    tok_pos: np.ndarray

    @property
    def n_queries(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_distinct(self) -> np.ndarray:
        return np.diff(self.offsets)

    @classmethod
    def analyze(cls, index: Index, texts: pa.Array | Sequence[str]) -> QueryTerms:
        """Analyse query texts with the index's tokenizer and vocabulary."""
        batch = index.analyze_queries(texts)
        nq = len(batch.offsets) - 1
        ids = np.asarray(batch.ids, dtype=np.int64)
        tok_q = np.repeat(np.arange(nq, dtype=np.int64), batch.lengths)
        n_terms = max(index.n_terms, 1)
        uniq, inverse = np.unique(tok_q * n_terms + ids, return_inverse=True)
        inverse = inverse.reshape(-1)
        qtf = np.bincount(inverse, minlength=len(uniq)).astype(np.float64)
        q_of = uniq // n_terms
        offsets = offsets_of(q_of, nq)
        first_tok = np.full(len(uniq), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first_tok, inverse, np.arange(len(ids), dtype=np.int64))
        by_first = np.lexsort((first_tok, q_of))
        order = np.empty(len(uniq), dtype=np.int64)
        order[by_first] = rank_in_group(offsets)
        return cls(
            offsets=offsets,
            terms=uniq % n_terms,
            qtf=qtf,
            order=order,
            n_tokens=np.asarray(batch.lengths + batch.n_unknown, dtype=np.int64),
            n_unknown=np.asarray(batch.n_unknown, dtype=np.int64),
            tok_offsets=np.asarray(batch.offsets, dtype=np.int64),
            tok_slot=inverse - offsets[tok_q],
            tok_pos=np.asarray(batch.positions, dtype=np.int64),
        )


@dataclass(frozen=True)
class Pairs:
    """Pairs (rows of a run) and their entries, one per (pair, distinct query term).

    ``query``/``doc``: per pair, the query (row of :class:`QueryTerms`) and the internal doc
    index. Entries of pair ``p`` are ``offsets[p]:offsets[p+1]``, in the query's term order,
    so the entry of the query's ``j``-th distinct term is ``offsets[p] + j``.
    """

    query: np.ndarray
    doc: np.ndarray
    offsets: np.ndarray
    e_pair: np.ndarray
    e_qterm: np.ndarray
    e_term: np.ndarray
    e_qtf: np.ndarray

    @property
    def n_pairs(self) -> int:
        return len(self.query)

    @property
    def n_entries(self) -> int:
        return len(self.e_pair)

    @classmethod
    def build(cls, qt: QueryTerms, query: np.ndarray, doc: np.ndarray) -> Pairs:
        query = np.asarray(query, dtype=np.int64)
        sizes = qt.n_distinct[query]
        offsets = np.zeros(len(query) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        e_pair = np.repeat(np.arange(len(query), dtype=np.int64), sizes)
        e_qterm = ranges(qt.offsets[query], sizes)
        return cls(
            query=query,
            doc=np.asarray(doc, dtype=np.int64),
            offsets=offsets,
            e_pair=e_pair,
            e_qterm=e_qterm,
            e_term=qt.terms[e_qterm],
            e_qtf=qt.qtf[e_qterm],
        )


@dataclass(frozen=True)
class DocGroups:
    """Lookups grouped by document: ``uniq`` the distinct docs (ascending), ``rows`` each
    lookup's index into ``uniq``, ``order`` the lookups sorted by document (stable)."""

    order: np.ndarray
    uniq: np.ndarray
    rows: np.ndarray

    @classmethod
    def of(cls, docs: np.ndarray) -> DocGroups:
        docs = np.asarray(docs, dtype=np.int64)
        order = np.argsort(docs, kind="stable")
        d_sorted = docs[order]
        first = np.ones(len(docs), dtype=bool)
        first[1:] = d_sorted[1:] != d_sorted[:-1]
        rows = np.empty(len(docs), dtype=np.int64)
        rows[order] = np.cumsum(first) - 1
        return cls(order, d_sorted[first], rows)

    def with_uniq(self, uniq: np.ndarray) -> DocGroups:
        """The same grouping over renumbered documents (an order-preserving map)."""
        return DocGroups(self.order, uniq, self.rows)


def find_postings(
    indptr: np.ndarray, terms: np.ndarray, groups: DocGroups, want: np.ndarray
) -> np.ndarray:
    """Index of the forward posting ``(doc, want[i])`` of each lookup ``i`` (its doc given by
    ``groups``), or -1 where the doc lacks the term.

    When the candidates' term lists are short next to the number of lookups (abstracts,
    passages), their postings are gathered once into one ascending key array and the lookups,
    in document order, are one ``searchsorted``; otherwise (long documents, few lookups each)
    a binary search runs over each document's term list, all lookups at once.
    """
    want = np.asarray(want, dtype=np.int64)
    if not len(want):
        return np.zeros(0, dtype=np.int64)
    lo = np.asarray(indptr[groups.uniq], dtype=np.int64)
    n = np.asarray(indptr[groups.uniq + 1], dtype=np.int64) - lo
    if int(n.sum()) > 4 * len(want):
        return _bisect_postings(indptr, terms, groups.uniq[groups.rows], want)
    gathered = ranges(lo, n)
    g_terms = np.asarray(terms[gathered], dtype=np.int64)
    span = max(int(want.max(initial=0)), int(g_terms.max(initial=0))) + 1
    keys = np.repeat(np.arange(len(groups.uniq), dtype=np.int64), n) * span + g_terms
    needle = (groups.rows * span + want)[groups.order]  # nearly ascending: cache-friendly
    pos = np.minimum(np.searchsorted(keys, needle), max(len(keys) - 1, 0))
    out = np.full(len(want), -1, dtype=np.int64)
    if len(keys):
        hit = keys[pos] == needle
        out[groups.order[hit]] = gathered[pos[hit]]
    return out


def _bisect_postings(
    indptr: np.ndarray, terms: np.ndarray, docs: np.ndarray, want: np.ndarray
) -> np.ndarray:
    """:func:`find_postings` by a binary search over each document's ascending term ids, run
    for all lookups at once: ``log2(longest term list)`` rounds."""
    n = len(docs)
    lo = np.asarray(indptr[docs], dtype=np.int64)
    hi = np.asarray(indptr[docs + 1], dtype=np.int64)
    end = hi.copy()
    active = np.flatnonzero(lo < hi)
    while len(active):
        a_lo, a_hi = lo[active], hi[active]
        mid = (a_lo + a_hi) >> 1
        less = np.asarray(terms[mid], dtype=np.int64) < want[active]
        lo[active] = np.where(less, mid + 1, a_lo)
        hi[active] = np.where(less, a_hi, mid)
        active = active[lo[active] < hi[active]]
    out = np.full(n, -1, dtype=np.int64)
    inside = np.flatnonzero(lo < end)
    if len(inside):
        hit = np.asarray(terms[lo[inside]], dtype=np.int64) == want[inside]
        out[inside[hit]] = lo[inside[hit]]
    return out


def reduce_sorted(
    ufunc: np.ufunc, values: np.ndarray, groups: np.ndarray, n_groups: int, empty: float = 0.0
) -> np.ndarray:
    """``ufunc.reduce`` of ``values`` per group, for ascending ``groups`` (``empty`` where a
    group has no rows)."""
    out = np.full(n_groups, empty, dtype=np.float64)
    if len(values):
        first = np.ones(len(groups), dtype=bool)
        first[1:] = groups[1:] != groups[:-1]
        starts = np.flatnonzero(first)
        out[groups[starts]] = ufunc.reduceat(values, starts)
    return out
