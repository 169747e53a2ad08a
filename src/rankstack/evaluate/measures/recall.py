"""R@k: recall at rank k.

``R@k = |relevant documents in the top k| / R``, with ``R`` the number of judged documents with
grade >= ``rel``; 0 when ``R`` is 0 (trec_eval's ``recall``, ``m_recall.c``).

Reference: C. Buckley and E. Voorhees, "Retrieval System Evaluation", in TREC: Experiment and
Evaluation in Information Retrieval, MIT Press, 2005.
"""

from __future__ import annotations

import numpy as np

from rankstack.evaluate._context import EvalContext
from rankstack.evaluate._measure import Measure
from rankstack.evaluate.measures.precision import relevant_in_top


def recall(ctx: EvalContext, measure: Measure, rel: int) -> np.ndarray:
    """Per-query recall at the cut-off."""
    c = ctx.view(measure.judged_only)
    found = relevant_in_top(c, rel, measure.cutoff)
    num_rel = c.num_rel(rel)
    out = np.zeros(c.n_queries, dtype=np.float64)
    np.divide(found, num_rel, out=out, where=num_rel > 0)
    return out
