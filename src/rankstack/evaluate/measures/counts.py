"""NumQ, NumRet, NumRelRet, NumRel: counts, summed (not averaged) over queries.

- ``NumQ``: 1 per evaluated query (trec_eval ``num_q``).
- ``NumRet``: documents retrieved (``num_ret``).
- ``NumRelRet``: retrieved documents with grade >= ``rel`` (``num_rel_ret``).
- ``NumRel``: judged documents with grade >= ``rel`` (``num_rel``).

Reference: trec_eval's ``m_num_q.c``, ``m_num_ret.c``, ``m_num_rel_ret.c``, ``m_num_rel.c``.
"""

from __future__ import annotations

import numpy as np

from rankstack.evaluate import _segments as seg
from rankstack.evaluate._context import EvalContext
from rankstack.evaluate._measure import Measure


def num_q(ctx: EvalContext, measure: Measure, rel: int) -> np.ndarray:
    return np.ones(ctx.n_queries, dtype=np.float64)


def num_ret(ctx: EvalContext, measure: Measure, rel: int) -> np.ndarray:
    return ctx.view(measure.judged_only).n_ret.astype(np.float64)


def num_rel_ret(ctx: EvalContext, measure: Measure, rel: int) -> np.ndarray:
    c = ctx.view(measure.judged_only)
    return seg.count(c.relevant(rel)[0], c.n_queries).astype(np.float64)


def num_rel(ctx: EvalContext, measure: Measure, rel: int) -> np.ndarray:
    return ctx.num_rel(rel).astype(np.float64)
