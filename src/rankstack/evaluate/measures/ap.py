"""AP and AP@k: (mean) average precision.

``AP@k = (1 / R) * sum_{i<k, d_i relevant} P@(i+1)``, where ``R`` is the number of judged
documents with grade >= ``rel`` (retrieved or not) and ``P@(i+1)`` the precision at the rank of
each relevant retrieved document; 0 when ``R`` is 0. Without ``k`` the whole ranking counts.
As trec_eval's ``map`` / ``map_cut`` (``m_map.c``, ``m_map_cut.c``), the terms are summed in
rank order, so values are equal to the last bit.

Reference: C. Buckley and E. Voorhees, "Retrieval System Evaluation", in TREC: Experiment and
Evaluation in Information Retrieval, MIT Press, 2005.
"""

from __future__ import annotations

import numpy as np

from rankstack.evaluate import _segments as seg
from rankstack.evaluate._context import EvalContext
from rankstack.evaluate._measure import Measure


def ap(ctx: EvalContext, measure: Measure, rel: int) -> np.ndarray:
    """Per-query average precision."""
    c = ctx.view(measure.judged_only)
    q, rank = c.relevant(rel)
    if measure.cutoff is not None:
        keep = rank < measure.cutoff
        q, rank = q[keep], rank[keep]
    rel_so_far = seg.position_in_group(q) + 1
    total = seg.ordered_sum(rel_so_far / (rank + 1).astype(np.float64), q, c.n_queries)
    num_rel = c.num_rel(rel)
    out = np.zeros(c.n_queries, dtype=np.float64)
    np.divide(total, num_rel, out=out, where=num_rel > 0)
    return out
