"""Sparse top-k search: weighted query terms times per-posting impacts, then top k per query.

Queries form a sparse matrix ``Q`` (queries x terms, weights); the impacts form ``W`` (terms x
docs, the inverted postings with one score each). ``Q @ W`` (scipy's sparse product, C++)
accumulates every matching document's score without a per-document Python loop and touches
only the postings of the query terms. Per query, ``np.partition`` finds the k-th best score
and a single sort over a packed integer key (score bits, doc-id rank) orders the candidates.

Ranking order, also for ties: score descending, then doc id descending (trec_eval's order),
so a top-k list is exactly the first k entries of the full ranking, whatever ``k`` is.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import scipy.sparse as sp

#: upper bound on candidate entries (sum of query-term document frequencies) per product
MAX_BATCH_POSTINGS = 1 << 24


@dataclass(frozen=True)
class Hits:
    """Top-k results of a batch of queries: ``docs[offsets[i]:offsets[i+1]]`` for query i."""

    offsets: np.ndarray
    docs: np.ndarray
    scores: np.ndarray

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)


def query_matrix(
    rows: np.ndarray, terms: np.ndarray, weights: np.ndarray, n_queries: int, n_terms: int
) -> Any:
    """CSR matrix (queries x terms) with summed weights for repeated (query, term) pairs."""
    key = np.asarray(rows, dtype=np.int64) * n_terms + np.asarray(terms, dtype=np.int64)
    uniq, inverse = np.unique(key, return_inverse=True)
    data = np.bincount(inverse, weights=weights, minlength=len(uniq)).astype(np.float32)
    counts = (
        np.bincount(uniq // n_terms, minlength=n_queries)
        if len(uniq)
        else np.zeros(n_queries, dtype=np.int64)
    )
    indptr = np.zeros(n_queries + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    idx_dtype = np.int32 if n_terms < 2**31 and len(uniq) < 2**31 else np.int64
    return sp.csr_matrix(
        (data, (uniq % n_terms).astype(idx_dtype), indptr.astype(idx_dtype)),
        shape=(n_queries, n_terms),
    )


def impact_matrix(indptr: np.ndarray, docs: np.ndarray, impacts: np.ndarray, n_docs: int) -> Any:
    """CSR matrix (terms x docs) over the inverted postings, sharing their memory if possible."""
    nnz = len(docs)
    if nnz < 2**31 - 1 and n_docs < 2**31 - 1:
        ip = np.asarray(indptr).astype(np.int32)
        ix = np.asarray(docs, dtype=np.int32)
    else:
        ip = np.asarray(indptr, dtype=np.int64)
        ix = np.asarray(docs).astype(np.int64)
    return sp.csr_matrix((impacts, ix, ip), shape=(len(indptr) - 1, n_docs), copy=False)


def _sortable(scores: np.ndarray) -> np.ndarray:
    """float32 -> uint32 with the same order (IEEE sign-magnitude flipped)."""
    bits = np.ascontiguousarray(scores, dtype=np.float32).view(np.uint32)
    neg = (bits >> np.uint32(31)).astype(bool)
    return np.where(neg, ~bits, bits | np.uint32(0x80000000))


def _top_rows(product: Any, k: int, doc_rank: np.ndarray) -> Hits:
    indptr = product.indptr
    indices = product.indices
    data = np.asarray(product.data, dtype=np.float32)
    n = len(indptr) - 1
    sizes = np.zeros(n, dtype=np.int64)
    docs_out: list[np.ndarray] = []
    scores_out: list[np.ndarray] = []
    if k <= 0:
        return Hits(np.zeros(n + 1, dtype=np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    for r in range(n):
        lo, hi = int(indptr[r]), int(indptr[r + 1])
        if hi == lo:
            continue
        s = data[lo:hi]
        d = indices[lo:hi]
        if hi - lo > k:
            kth = np.partition(s, hi - lo - k)[hi - lo - k]
            keep = s >= kth
            s = s[keep]
            d = d[keep]
        key = (_sortable(s).astype(np.uint64) << np.uint64(32)) | doc_rank[d].astype(np.uint64)
        order = np.argsort(key)[::-1][:k]
        docs_out.append(d[order])
        scores_out.append(s[order])
        sizes[r] = len(order)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    docs = np.concatenate(docs_out).astype(np.int64) if docs_out else np.zeros(0, np.int64)
    scores = np.concatenate(scores_out) if scores_out else np.zeros(0, np.float32)
    return Hits(offsets, docs, scores)


def _batches(q: Any, df: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive query ranges whose candidate volume stays under MAX_BATCH_POSTINGS."""
    n = q.shape[0]
    if n == 0:
        return []
    per_entry = np.concatenate([[0], np.cumsum(df[q.indices], dtype=np.int64)])
    cum = per_entry[q.indptr[1:]]  # candidate volume of queries 0..i
    bounds = [0]
    start_cost = 0
    for i in range(n):
        if cum[i] - start_cost > MAX_BATCH_POSTINGS and i > bounds[-1]:
            bounds.append(i)
            start_cost = cum[i - 1]
    bounds.append(n)
    return list(pairwise(bounds))


def _search_one(q: Any, w: Any, k: int, doc_rank: np.ndarray) -> Hits:
    """One query without scipy's product: gather the postings of its few terms, add them up
    per document (sort-based, so the cost follows the postings, not the corpus size)."""
    terms = q.indices
    starts = w.indptr[terms].astype(np.int64)
    lengths = w.indptr[terms + 1].astype(np.int64) - starts
    total = int(lengths.sum())
    if total == 0 or k <= 0:
        return Hits(np.zeros(2, dtype=np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    excl = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=excl[1:])
    pos = np.repeat(starts - excl, lengths) + np.arange(total, dtype=np.int64)
    docs = w.indices[pos]
    vals = w.data[pos] * np.repeat(q.data.astype(np.float32), lengths)
    if len(terms) > 1:
        uniq, inverse = np.unique(docs, return_inverse=True)
        acc = np.zeros(len(uniq), dtype=np.float32)
        np.add.at(acc, inverse, vals)  # float32, in term order: the same sums as scipy's product
        docs, vals = uniq, acc
    keep = vals != 0  # as with scipy's product, documents summing to 0 are not results
    return _top_rows(_Row(docs[keep], vals[keep]), k, doc_rank)


class _Row:
    """A one-row stand-in for a scipy CSR product (indptr, indices, data)."""

    def __init__(self, indices: np.ndarray, data: np.ndarray) -> None:
        self.indices = indices
        self.data = data
        self.indptr = np.array([0, len(indices)], dtype=np.int64)


def search(q: Any, w: Any, k: int, doc_rank: np.ndarray, df: np.ndarray, n_jobs: int = 1) -> Hits:
    """Top ``k`` documents of every row of ``q`` (queries x terms) against ``w`` (terms x docs)."""
    if q.shape[0] == 1:
        return _search_one(q, w, k, doc_rank)
    ranges = _batches(q, df)
    if n_jobs > 1 and len(ranges) < n_jobs and q.shape[0] >= 2 * n_jobs:
        step = -(-q.shape[0] // n_jobs)
        ranges = [(a, min(a + step, q.shape[0])) for a in range(0, q.shape[0], step)]

    def run(bounds: tuple[int, int]) -> Hits:
        a, b = bounds
        part = q if (a, b) == (0, q.shape[0]) else q[a:b]
        return _top_rows(part @ w, k, doc_rank)

    if n_jobs > 1 and len(ranges) > 1:
        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            parts = list(pool.map(run, ranges))
    else:
        parts = [run(r) for r in ranges]
    if not parts:
        return Hits(
            np.zeros(q.shape[0] + 1, dtype=np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
        )
    sizes = np.concatenate([p.sizes for p in parts])
    offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return Hits(
        offsets,
        np.concatenate([p.docs for p in parts]),
        np.concatenate([p.scores for p in parts]),
    )
