"""``RM3``: pseudo-relevance feedback by relevance-model query expansion, as Anserini does it.

RM3 (Abdul-Jaleel et al., "UMass at TREC 2004: Novelty and HARD", TREC 2004) interpolates the
original query with a relevance model (Lavrenko and Croft, "Relevance-Based Language Models",
SIGIR 2001) estimated from the top documents of a first retrieval. We follow Anserini's
``Rm3Reranker`` step by step (defaults ``fb_docs=10``, ``fb_terms=10``,
``original_query_weight=0.5``):

1. retrieve the top ``fb_docs`` documents with the first-stage BM25;
2. take each feedback document's term vector (term frequencies, from the forward index),
   keep terms of 2-20 characters matching ``[a-z0-9]+`` whose document frequency is at most
   10% of the collection (``filter_terms``), and prune it to its ``fb_terms`` most frequent
   terms;
3. weight each term by ``sum_d tf(t, d) / |d| * score(d)`` over the feedback documents
   (``|d|`` the L1 norm of the pruned vector, ``score(d)`` the first-pass BM25 score), keep the
   ``fb_terms`` heaviest and L1-normalise;
4. interpolate with the L1-normalised original query (term counts over all analysed query
   tokens): ``w * P(t|q) + (1 - w) * P(t|R)``;
5. retrieve again with the weighted terms.

Steps 2-4 are vectorised over all feedback documents of all queries. Where Anserini breaks
ties in the pruning by hash order, we keep the lower term id (first seen in the corpus).
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow.compute as pc
import scipy.sparse as sp

from rankstack.data import Queries, Run
from rankstack.exceptions import DataError
from rankstack.index.inverted import FieldIndex
from rankstack.pipeline import Stage
from rankstack.retrieve.bm25 import BM25

logger = logging.getLogger(__name__)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    excl = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=excl[1:])
    return np.repeat(starts - excl, lengths) + np.arange(total, dtype=np.int64)


def _rank_within(groups: np.ndarray) -> np.ndarray:
    """0-based position of each row inside its run of equal, sorted ``groups``."""
    n = len(groups)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    start = np.ones(n, dtype=bool)
    start[1:] = groups[1:] != groups[:-1]
    first = np.flatnonzero(start)
    return np.arange(n) - np.repeat(first, np.diff(np.append(first, n)))


class RM3(Stage):
    """Query expansion with RM3 around a :class:`BM25` retriever.

    Parameters
    ----------
    bm25:
        First- and second-pass retriever (its parameters, fields and ``k`` are used).
    fb_docs, fb_terms, original_query_weight:
        Feedback documents, expansion terms, and the weight of the original query.
    field:
        Index field whose term vectors give the feedback terms (default: the BM25's field if
        it has one, else ``contents``, else the first field).
    filter_terms:
        Anserini's filter: keep terms of 2-20 characters of ``[a-z0-9]`` only.
    max_df_ratio:
        Drop feedback terms that occur in more than this fraction of documents (Anserini: 0.1).
    k:
        Documents returned per query (default: the BM25's ``k``).
    """

    is_retriever = True

    def __init__(
        self,
        bm25: BM25,
        fb_docs: int = 10,
        fb_terms: int = 10,
        original_query_weight: float = 0.5,
        field: str | None = None,
        filter_terms: bool = True,
        max_df_ratio: float = 0.1,
        k: int | None = None,
        name: str = "rm3",
    ) -> None:
        if not isinstance(bm25, BM25):
            raise DataError(f"RM3 expands a BM25 retriever, found {type(bm25).__name__}")
        if fb_docs < 1 or fb_terms < 1:
            raise DataError(
                f"RM3 needs fb_docs >= 1 and fb_terms >= 1, found {fb_docs}, {fb_terms}"
            )
        if not 0.0 <= original_query_weight <= 1.0:
            raise DataError(
                f"original_query_weight must be in [0, 1], found {original_query_weight}"
            )
        self.bm25 = bm25
        self.fb_docs = int(fb_docs)
        self.fb_terms = int(fb_terms)
        self.original_query_weight = float(original_query_weight)
        self.field = field
        self.filter_terms = filter_terms
        self.max_df_ratio = float(max_df_ratio)
        self.k = k
        self.name = name

    # ------------------------------------------------------------------ helpers
    def feedback_field(self) -> FieldIndex:
        idx = self.bm25.index_
        if self.field is not None:
            return idx.field(self.field)
        weights = self.bm25.field_weights()
        if len(weights) == 1:
            return idx.field(next(iter(weights)))
        if "contents" in idx.fields:
            return idx.field("contents")
        return idx.field(idx.field_names[0])

    @cached_property
    def _eligible(self) -> np.ndarray:
        """Per term: may it be a feedback term (length, characters, document frequency)?"""
        idx = self.bm25.index_
        f = self.feedback_field()
        ok = f.df <= self.max_df_ratio * idx.n_docs
        if self.filter_terms:
            terms = idx.terms
            lengths = pc.utf8_length(terms).to_numpy(zero_copy_only=False)
            ascii_ok = pc.match_substring_regex(terms, r"^[a-z0-9]+$")
            ok &= (lengths >= 2) & (lengths <= 20) & ascii_ok.to_numpy(zero_copy_only=False)
        return np.asarray(ok, dtype=bool)

    def expansion_matrix(self, queries: Queries) -> Any:
        """The expanded queries as a (queries x terms) CSR matrix of interpolated weights."""
        bm25 = self.bm25
        counts, n_tokens = bm25.query_matrix(queries)
        n_q, n_terms = counts.shape
        first = bm25.search_terms(counts, k=self.fb_docs)
        f = self.feedback_field()
        # term vectors of every feedback document of every query
        hit_query = np.repeat(np.arange(n_q, dtype=np.int64), first.sizes)
        starts = np.asarray(f.fwd_indptr)[first.docs]
        lengths = np.asarray(f.fwd_indptr)[first.docs + 1] - starts
        pos = _ranges(starts, lengths)
        hit = np.repeat(np.arange(len(first.docs), dtype=np.int64), lengths)
        terms = np.asarray(f.fwd_terms)[pos].astype(np.int64)
        tf = np.asarray(f.fwd_tf)[pos].astype(np.float64)
        keep = self._eligible[terms]
        hit, terms, tf = hit[keep], terms[keep], tf[keep]
        # prune each document vector to its fb_terms most frequent terms
        order = np.lexsort((terms, -tf, hit))
        hit, terms, tf = hit[order], terms[order], tf[order]
        keep = _rank_within(hit) < self.fb_terms
        hit, terms, tf = hit[keep], terms[keep], tf[keep]
        norms = np.bincount(hit, weights=tf, minlength=len(first.docs))
        ok = norms[hit] > 0.001
        hit, terms, tf = hit[ok], terms[ok], tf[ok]
        contrib = tf / norms[hit] * first.scores[hit].astype(np.float64)
        # relevance model per query: sum over documents, prune to fb_terms, L1-normalise
        rm = sp.csr_matrix((contrib, (hit_query[hit], terms)), shape=(n_q, n_terms))
        rm.sum_duplicates()
        rm = self._prune_rows(rm)
        row_sum = np.asarray(rm.sum(axis=1)).ravel()
        rm = sp.diags(np.divide(1.0, row_sum, out=np.zeros_like(row_sum), where=row_sum > 0)) @ rm
        # original query: term counts over all analysed tokens (unknown terms included)
        denom = np.maximum(n_tokens, 1).astype(np.float64)
        qfv = sp.diags(1.0 / denom) @ counts.astype(np.float64)
        w = self.original_query_weight
        out = (w * qfv + (1.0 - w) * rm).tocsr()
        out.eliminate_zeros()
        logger.debug("RM3 expanded %d queries over %d feedback documents", n_q, len(first.docs))
        return out.astype(np.float32)

    def _prune_rows(self, m: Any) -> Any:
        """Keep each row's ``fb_terms`` largest entries (ties: lower term id)."""
        m = m.tocoo()
        order = np.lexsort((m.col, -m.data, m.row))
        rows, cols, vals = m.row[order], m.col[order], m.data[order]
        keep = _rank_within(rows) < self.fb_terms
        return sp.csr_matrix((vals[keep], (rows[keep], cols[keep])), shape=m.shape)

    def expansions(self, queries: Queries) -> list[dict[str, float]]:
        """Per query, the expanded query as ``{term: weight}`` (for inspection)."""
        m = self.expansion_matrix(queries)
        terms = self.bm25.index_.terms
        out = []
        for i in range(m.shape[0]):
            lo, hi = m.indptr[i], m.indptr[i + 1]
            names = terms.take(m.indices[lo:hi]).to_pylist()
            out.append(dict(zip(names, m.data[lo:hi].astype(float).tolist())))
        return out

    # ------------------------------------------------------------------ stage
    def transform(self, queries: Queries, run: Run | None = None) -> Run:
        """Expand each query from its first-pass results and retrieve again."""
        q = self.expansion_matrix(queries)
        hits = self.bm25.search_terms(q, k=self.k)
        out = self.bm25.hits_to_run(queries, hits)
        return out.with_metadata(stage=self.name, retriever=repr(self))

    def __repr__(self) -> str:
        return (
            f"RM3({self.bm25!r}, fb_docs={self.fb_docs}, fb_terms={self.fb_terms}, "
            f"original_query_weight={self.original_query_weight})"
        )
