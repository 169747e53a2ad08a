"""Judged@k: the fraction of the top k that has a relevance judgement.

``Judged@k = |judged documents in the top k| / min(k, |retrieved|)``; any judgement counts,
negative grades included; 0 when nothing was retrieved. Without ``k`` the whole ranking counts.
This is ir_measures' definition (its ``judged`` provider, after OpenNIR); trec_eval has no such
measure. Ranks follow trec_eval's order (ties by decreasing doc id), whereas ir_measures breaks
score ties by increasing doc id, so values can differ when a tie straddles rank k.

Reference: S. MacAvaney et al., "Streamlining Evaluation with ir-measures", ECIR 2022.
"""

from __future__ import annotations

import numpy as np

from rankstack.evaluate import _segments as seg
from rankstack.evaluate._context import EvalContext
from rankstack.evaluate._measure import Measure


def judged(ctx: EvalContext, measure: Measure, rel: int) -> np.ndarray:
    """Per-query judgement rate (``rel`` is unused)."""
    q = ctx.jq
    depth = ctx.n_ret
    if measure.cutoff is not None:
        q = q[ctx.jrank < measure.cutoff]
        depth = np.minimum(depth, measure.cutoff)
    found = seg.count(q, ctx.n_queries)
    out = np.zeros(ctx.n_queries, dtype=np.float64)
    np.divide(found, depth, out=out, where=depth > 0)
    return out
