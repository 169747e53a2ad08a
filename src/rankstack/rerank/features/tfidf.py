"""TF-IDF cosine similarity of one field, SMART weighting ``lnc.ltc``.

Document weights ``lnc``: ``1 + ln tf`` for every term of the document (no idf), divided by
the Euclidean norm of the document's whole weight vector. Query weights ``ltc``:
``(1 + ln qtf) * ln(N / df)`` divided by the norm of the query's weight vector, with ``N`` the
documents that have the field and ``df`` the term's document frequency in the field; query
terms that never occur in the field (``df = 0``) get weight 0. The feature is the dot product
of the two unit vectors, in [0, 1]; 0 when the document has none of the query terms, when it
is empty, or when no query term occurs in the field.

G. Salton and C. Buckley, "Term-weighting approaches in automatic text retrieval", Information
Processing & Management 24(5), 1988; C. D. Manning, P. Raghavan and H. Schuetze,
"Introduction to Information Retrieval", 2008, section 6.4.3 (``lnc.ltc``).
"""

from __future__ import annotations

import numpy as np

from rankstack.rerank.features._context import Context
from rankstack.rerank.features._pairs import ranges


def doc_norms(ctx: Context, name: str, docs: np.ndarray) -> np.ndarray:
    """Euclidean norm of the ``lnc`` weights (``1 + ln tf``) of each document in ``docs``,
    from the documents' forward postings (only the candidates are read)."""
    f = ctx.field(name)
    uniq, inverse = np.unique(docs, return_inverse=True)
    lo = np.asarray(f.fwd_indptr[uniq], dtype=np.int64)
    n = np.asarray(f.fwd_indptr[uniq + 1], dtype=np.int64) - lo
    w = 1.0 + np.log(np.asarray(f.fwd_tf[ranges(lo, n)], dtype=np.float64))
    sq = np.bincount(np.repeat(np.arange(len(uniq)), n), weights=w * w, minlength=len(uniq))
    out: np.ndarray = np.sqrt(sq)[inverse.reshape(-1)]
    return out


def tfidf(ctx: Context, name: str) -> np.ndarray:
    """``tfidf_{field}``: cosine of the ``lnc`` document and ``ltc`` query vectors."""
    f = ctx.field(name)
    p = ctx.pairs
    q = ctx.queries
    n_docs = f.doc_count
    df = np.asarray(f.df[q.terms], dtype=np.float64)
    with np.errstate(divide="ignore"):
        qidf = np.where(df > 0, np.log(n_docs / np.maximum(df, 1.0)), 0.0)
    qw = (1.0 + np.log(q.qtf)) * qidf
    qnorm = np.sqrt(
        np.bincount(
            np.repeat(np.arange(q.n_queries), q.n_distinct), weights=qw * qw, minlength=q.n_queries
        )
    )
    tf = ctx.tf(name)
    hit = np.flatnonzero(tf > 0)
    dnorm = ctx.memo(f"lnc_norm:{name}", lambda: doc_norms(ctx, name, p.doc))
    dot = np.bincount(
        p.e_pair[hit],
        weights=(1.0 + np.log(tf[hit])) * qw[p.e_qterm[hit]],
        minlength=p.n_pairs,
    )
    denom = dnorm * qnorm[p.query]
    out: np.ndarray = np.divide(dot, denom, out=np.zeros(p.n_pairs), where=denom > 0)
    return out
