"""IPrec@r: interpolated precision at recall level r (trec_eval's ``iprec_at_recall``).

``IPrec@r = max_{i >= i_r} P@i`` where ``i_r`` is the rank at which the ranking has retrieved
``c = int(r * R + 0.9)`` relevant documents (``R`` the number of relevant documents); 0 when
fewer than ``c`` are retrieved. The cut-off ``c`` is computed as in trec_eval 9.0.x
(``m_iprec_at_recall.c``), which pytrec_eval bundles; trec_eval 10 rounds instead. A query
with an empty ranking scores 0 (trec_eval divides 0 by 0 there and reports NaN).

Reference: C. Buckley and E. Voorhees, "Retrieval System Evaluation", in TREC: Experiment and
Evaluation in Information Retrieval, MIT Press, 2005.
"""

from __future__ import annotations

import numpy as np

from rankstack.evaluate import _segments as seg
from rankstack.evaluate._context import EvalContext
from rankstack.evaluate._measure import Measure


def iprec(ctx: EvalContext, measure: Measure, rel: int) -> np.ndarray:
    """Per-query interpolated precision at the recall level."""
    c = ctx.view(measure.judged_only)
    q, rank = c.relevant(rel)
    level = float(measure.recall or 0.0)
    need = (level * c.num_rel(rel) + 0.9).astype(np.int64)  # C's (long) truncation
    need = np.maximum(need, 1)  # a cut-off of 0 reads the precision at the first relevant
    pos = seg.position_in_group(q)
    prec = (pos + 1) / (rank + 1).astype(np.float64)
    keep = pos >= need[q] - 1
    return seg.group_max(prec[keep], q[keep], c.n_queries, fill=0.0)
