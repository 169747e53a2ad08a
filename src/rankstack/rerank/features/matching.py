"""Term-matching statistics: query-term coverage, IDF of the matched terms, lengths.

- ``coverage_{field}``: fraction of the query's analysed tokens whose term occurs in the
  document's field, ``sum_{t in q, tf(t,d) > 0} qtf(t) / |q|``, with ``|q|`` the analysed
  query tokens including words absent from the index (which never match); 0 for an empty
  query.
- ``idf_sum``, ``idf_max``, ``idf_mean``: sum, maximum and mean of
  ``idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))`` (Lucene's BM25 idf, always positive) over
  the *distinct* query terms that occur in the document, on the main field; 0 when none does.
  (Robertson and Sparck Jones, "Relevance weighting of search terms", JASIS 1976; the
  LETOR 4.0 feature list has the same query-side statistics, Qin and Liu, arXiv:1306.2597.)
- ``qlen``: ``|q|``, the analysed query tokens (stopwords removed, unknown words counted).
- ``dl_{field}``: the document's length in the field, in tokens after analysis.
"""

from __future__ import annotations

import numpy as np

from rankstack.rerank.features._context import Context
from rankstack.rerank.features._pairs import reduce_sorted
from rankstack.retrieve.scoring import idf


def coverage(ctx: Context, name: str) -> np.ndarray:
    """``coverage_{field}``: share of query tokens whose term is in the document."""
    p = ctx.pairs
    matched = ctx.per_pair_sum(np.where(ctx.tf(name) > 0, p.e_qtf, 0.0))
    qlen = ctx.queries.n_tokens[p.query].astype(np.float64)
    out: np.ndarray = np.divide(matched, qlen, out=np.zeros(p.n_pairs), where=qlen > 0)
    return out


def _matched_idf(ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    """Per entry, the idf of its term on the main field where the document has it, else 0;
    and the number of matched distinct terms per pair."""
    f = ctx.field(ctx.main_field)
    p = ctx.pairs
    hit = ctx.tf(ctx.main_field) > 0
    vals = np.where(hit, idf("lucene", f.df[p.e_term], f.doc_count), 0.0)
    return vals, np.bincount(p.e_pair, weights=hit, minlength=p.n_pairs)


def idf_sum(ctx: Context, name: str | None = None) -> np.ndarray:
    """``idf_sum``: sum of the idf of the distinct query terms found in the document."""
    vals, _ = ctx.memo("matched_idf", lambda: _matched_idf(ctx))
    return ctx.per_pair_sum(vals)


def idf_max(ctx: Context, name: str | None = None) -> np.ndarray:
    """``idf_max``: largest idf among the distinct query terms found in the document."""
    vals, _ = ctx.memo("matched_idf", lambda: _matched_idf(ctx))
    return reduce_sorted(np.maximum, vals, ctx.pairs.e_pair, ctx.pairs.n_pairs)


def idf_mean(ctx: Context, name: str | None = None) -> np.ndarray:
    """``idf_mean``: mean idf of the distinct query terms found in the document."""
    vals, n = ctx.memo("matched_idf", lambda: _matched_idf(ctx))
    total = ctx.per_pair_sum(vals)
    out: np.ndarray = np.divide(total, n, out=np.zeros(len(total)), where=n > 0)
    return out


def qlen(ctx: Context, name: str | None = None) -> np.ndarray:
    """``qlen``: analysed query tokens (stopwords removed, unknown words counted)."""
    return ctx.queries.n_tokens[ctx.pairs.query].astype(np.float64)


def doclen(ctx: Context, name: str) -> np.ndarray:
    """``dl_{field}``: document length in the field (tokens after analysis)."""
    return ctx.doclen(name)
