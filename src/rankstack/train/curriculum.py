"""Difficulty-weighted training curriculum (MacAvaney et al. 2020).

MacAvaney, Nardini, Perego, Tonellotto, Goharian and Frieder 2020, "Training Curricula for
Open Domain Answer Re-Ranking", SIGIR: each training sample gets a weight ``D`` in [0, 1] from
a difficulty heuristic (high = easy) and the loss is weighted by

    W(i) = D + (i / m) * (1 - D)   for training iteration i < m,   W(i) = 1   afterwards,

so difficult samples count little at first and every sample counts equally after ``m``
iterations (their curriculum "annealed to uniform").

Heuristic: their reciprocal-rank difficulty, which calls a sample easy when a first-stage
ranker already agrees with its label: a positive ranked high and negatives ranked low. For a
listwise group (one positive, ``n`` negatives) we average the positive's term and the
negatives' terms (our adaptation of their pairwise formula, which adds one positive and one
negative term):

    D = 1/2 * (1 / r(d+)) + 1/2 * mean_j (1 - 1 / r(d-_j))

with ``r`` the 1-based rank in the mining runs (``inf`` for a document they did not retrieve,
which gives ``1/r = 0``).
"""

from __future__ import annotations

import numpy as np


def reciprocal_rank_difficulty(pos_ranks: np.ndarray, neg_ranks: np.ndarray) -> np.ndarray:
    """``D`` per group (see the module docstring): ``pos_ranks[B]``, ``neg_ranks[B, n]``."""
    pos = 1.0 / np.asarray(pos_ranks, dtype=np.float64)
    neg = np.asarray(neg_ranks, dtype=np.float64)
    neg_term = (1.0 - 1.0 / neg).mean(axis=1) if neg.shape[1] else np.ones(len(pos))
    return 0.5 * pos + 0.5 * neg_term


def curriculum_weight(difficulty: np.ndarray, step: int, steps: int) -> np.ndarray:
    """``W = D + (step / steps) (1 - D)`` before ``steps`` iterations, 1 afterwards."""
    d = np.clip(np.asarray(difficulty, dtype=np.float64), 0.0, 1.0)
    if steps <= 0 or step >= steps:
        return np.ones_like(d)
    return d + (step / steps) * (1.0 - d)
