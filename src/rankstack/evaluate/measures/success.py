"""Success@k: whether a relevant document is retrieved in the top k.

1 when at least one document with grade >= ``rel`` is in the top ``k``, else 0 (trec_eval's
``success``, ``m_success.c``; "hit rate" in some toolkits).

Reference: trec_eval's documentation of ``success`` (after S. Tomlinson).
"""

from __future__ import annotations

import numpy as np

from rankstack.evaluate._context import EvalContext
from rankstack.evaluate._measure import Measure
from rankstack.evaluate.measures.precision import relevant_in_top


def success(ctx: EvalContext, measure: Measure, rel: int) -> np.ndarray:
    """Per-query success at the cut-off."""
    c = ctx.view(measure.judged_only)
    return (relevant_in_top(c, rel, measure.cutoff) > 0).astype(np.float64)
