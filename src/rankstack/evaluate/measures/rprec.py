"""Rprec: precision at rank R, the number of relevant documents of the query.

``Rprec = |relevant documents in the top R| / R``; 0 when ``R`` is 0 or nothing was retrieved
(trec_eval's ``Rprec``, ``m_Rprec.c``). It is also the point where precision equals recall.

Reference: C. Buckley and E. Voorhees, "Retrieval System Evaluation", in TREC: Experiment and
Evaluation in Information Retrieval, MIT Press, 2005.
"""

from __future__ import annotations

import numpy as np

from rankstack.evaluate import _segments as seg
from rankstack.evaluate._context import EvalContext
from rankstack.evaluate._measure import Measure


def rprec(ctx: EvalContext, measure: Measure, rel: int) -> np.ndarray:
    """Per-query R-precision."""
    c = ctx.view(measure.judged_only)
    q, rank = c.relevant(rel)
    num_rel = c.num_rel(rel)
    found = seg.count(q[rank < num_rel[q]], c.n_queries)
    out = np.zeros(c.n_queries, dtype=np.float64)
    np.divide(found, num_rel, out=out, where=(num_rel > 0) & (c.n_ret > 0))
    return out
