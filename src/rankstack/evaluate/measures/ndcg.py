"""nDCG and nDCG@k: normalised discounted cumulative gain.

``DCG@k = sum_{i<k} gain(d_i) / log2(i + 2)`` over the ranking (``i`` 0-based) and
``nDCG@k = DCG@k / IDCG@k``, where the ideal ranking sorts all judged documents of the query by
decreasing grade; 0 when the ideal DCG is 0. Without ``k`` the whole ranking (and the whole
ideal list) counts.

Gains follow trec_eval's ``ndcg`` / ``ndcg_cut`` (``m_ndcg.c``, ``m_ndcg_cut.c``): the gain is
the grade itself (linear), unjudged and non-positive grades give nothing, and the relevance
threshold (``-l``) plays no part. ``dcg='exp-log2'`` uses ``2**grade - 1`` (Burges et al.,
ICML 2005) instead. Sums are accumulated in rank order as trec_eval does, so values are equal
to the last bit.

Reference: K. Järvelin and J. Kekäläinen, "Cumulated gain-based evaluation of IR techniques",
ACM TOIS 20(4), 2002.
"""

from __future__ import annotations

import numpy as np

from rankstack.evaluate import _segments as seg
from rankstack.evaluate._context import EvalContext
from rankstack.evaluate._measure import Measure


def _gain(grades: np.ndarray, dcg: str) -> np.ndarray:
    g = np.where(grades > 0, grades, 0).astype(np.float64)
    return np.exp2(g) - 1.0 if dcg == "exp-log2" else g


def ideal_dcg(ctx: EvalContext, cutoff: int | None, dcg: str) -> np.ndarray:
    """DCG of the ideal ranking (judged grades sorted decreasingly), cached per context."""

    def make() -> np.ndarray:
        grades = ctx.qrel_grades
        q = ctx.qrel_query
        rank = np.arange(len(grades), dtype=np.int64) - ctx.qrel_offsets[q]
        keep = grades > 0
        if cutoff is not None:
            keep &= rank < cutoff
        r = rank[keep]
        terms = _gain(grades[keep], dcg) / seg.log2_discount(int(r.max()) + 1 if len(r) else 0)[r]
        return seg.ordered_sum(terms, q[keep], ctx.n_queries)

    return ctx.cached(("idcg", cutoff, dcg), make)


def dcg(ctx: EvalContext, cutoff: int | None, dcg: str) -> np.ndarray:
    """DCG of the system's ranking."""
    keep = ctx.jlabel > 0
    if cutoff is not None:
        keep &= ctx.jrank < cutoff
    r = ctx.jrank[keep]
    terms = _gain(ctx.jlabel[keep], dcg) / seg.log2_discount(int(r.max()) + 1 if len(r) else 0)[r]
    return seg.ordered_sum(terms, ctx.jq[keep], ctx.n_queries)


def ndcg(ctx: EvalContext, measure: Measure, rel: int) -> np.ndarray:
    """Per-query nDCG (``rel`` is unused: trec_eval's nDCG ignores ``-l``)."""
    c = ctx.view(measure.judged_only)
    num = dcg(c, measure.cutoff, measure.dcg)
    den = ideal_dcg(c, measure.cutoff, measure.dcg)
    out = np.zeros(ctx.n_queries, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0.0)
    return out
