"""RR and RR@k: reciprocal rank of the first relevant document.

``RR = 1 / rank`` of the first retrieved document with grade >= ``rel`` (1-based rank), 0 when
none is retrieved (or none within the top ``k`` for ``RR@k``). trec_eval's ``recip_rank``
(``m_recip_rank.c``); the cut-off follows ir_measures.

Reference: E. Voorhees, "The TREC-8 Question Answering Track Report", TREC 1999.
"""

from __future__ import annotations

import numpy as np

from rankstack.evaluate import _segments as seg
from rankstack.evaluate._context import EvalContext
from rankstack.evaluate._measure import Measure


def rr(ctx: EvalContext, measure: Measure, rel: int) -> np.ndarray:
    """Per-query reciprocal rank."""
    c = ctx.view(measure.judged_only)
    q, rank = c.relevant(rel)
    first = seg.first(rank.astype(np.float64), q, c.n_queries, fill=np.inf)
    if measure.cutoff is not None:
        first[first >= measure.cutoff] = np.inf
    return 1.0 / (first + 1.0)
