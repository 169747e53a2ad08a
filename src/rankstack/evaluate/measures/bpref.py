"""Bpref: binary preference, robust to incomplete judgements.

``bpref = (1 / R) * sum_{r relevant retrieved} (1 - min(n_r, R) / min(N, R))`` where ``n_r`` is
the number of judged non-relevant documents ranked above ``r``, ``R`` the number of relevant
and ``N`` of judged non-relevant documents (0 <= grade < ``rel``); a term is 1 when ``n_r`` is
0. Unjudged documents are ignored. Follows trec_eval's ``bpref`` (``m_bpref.c``), summed in
rank order.

Reference: C. Buckley and E. Voorhees, "Retrieval Evaluation with Incomplete Information",
SIGIR 2004.
"""

from __future__ import annotations

import numpy as np

from rankstack.evaluate import _segments as seg
from rankstack.evaluate._context import EvalContext
from rankstack.evaluate._measure import Measure


def bpref(ctx: EvalContext, measure: Measure, rel: int) -> np.ndarray:
    """Per-query bpref."""
    judged = ctx.jlabel >= 0
    q = ctx.jq[judged]
    label = ctx.jlabel[judged]
    nonrel_before = seg.exclusive_cumsum(label < rel, q)
    is_rel = label >= rel
    q_rel = q[is_rel]
    num_rel = ctx.num_rel(rel)
    r = num_rel[q_rel]
    seen = np.minimum(nonrel_before[is_rel], r).astype(np.float64)
    pool = np.minimum(ctx.num_nonrel(rel)[q_rel], r).astype(np.float64)
    terms = np.ones(len(q_rel), dtype=np.float64)
    some = seen > 0
    terms[some] = 1.0 - seen[some] / pool[some]
    total = seg.ordered_sum(terms, q_rel, ctx.n_queries)
    out = total.copy()
    np.divide(total, num_rel, out=out, where=num_rel > 0)
    return out
