"""P@k: precision at rank k.

``P@k = |relevant documents in the top k| / k``, dividing by ``k`` even when fewer than ``k``
documents were retrieved (trec_eval's ``P``, ``m_P.c``: missing ranks count as non-relevant).

Reference: C. Buckley and E. Voorhees, "Retrieval System Evaluation", in TREC: Experiment and
Evaluation in Information Retrieval, MIT Press, 2005.
"""

from __future__ import annotations

import numpy as np

from rankstack.evaluate import _segments as seg
from rankstack.evaluate._context import EvalContext
from rankstack.evaluate._measure import Measure


def relevant_in_top(ctx: EvalContext, rel: int, cutoff: int | None) -> np.ndarray:
    """Number of relevant documents (grade >= ``rel``) in the top ``cutoff``, per query."""

    def make() -> np.ndarray:
        q, rank = ctx.relevant(rel)
        if cutoff is not None:
            q = q[rank < cutoff]
        return seg.count(q, ctx.n_queries)

    return ctx.cached(("rel_in_top", rel, cutoff), make)


def precision(ctx: EvalContext, measure: Measure, rel: int) -> np.ndarray:
    """Per-query precision at the cut-off."""
    c = ctx.view(measure.judged_only)
    k = int(measure.cutoff or 0)
    return relevant_in_top(c, rel, k) / float(k)
