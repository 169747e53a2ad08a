"""Features of the incoming run itself: the first-stage score and rank of each candidate.

- ``score``: the candidate's score in the run the stage receives (e.g. the BM25 score of the
  whole document when the run comes from ``BM25``).
- ``rank``: its 1-based rank in that run (1 = best), in trec_eval's order (score descending,
  ties by doc id descending).
"""

from __future__ import annotations

import numpy as np

from rankstack.rerank.features._context import Context


def score(ctx: Context, name: str | None = None) -> np.ndarray:
    """``score``: the first-stage score."""
    return np.asarray(ctx.scores, dtype=np.float64)


def rank(ctx: Context, name: str | None = None) -> np.ndarray:
    """``rank``: the 1-based first-stage rank."""
    return np.asarray(ctx.ranks, dtype=np.float64) + 1.0
