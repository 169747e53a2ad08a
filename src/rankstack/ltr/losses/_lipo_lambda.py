"""LiPO-λ: the Lambda loss with DCG weights, as used for listwise preference optimisation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rankstack.ltr.losses._common import (
    mean_over_queries,
    pairwise_rank_weights,
    preference_pairs,
    prepare,
)


def lipo_lambda(scores: Tensor, labels: Tensor, mask: Tensor, *, beta: float = 1.0) -> Tensor:
    """LiPO-λ: logistic pair loss weighted by ``Δ_ij = |G_i - G_j| · |1/D(τ_i) - 1/D(τ_j)|``.

    Liu et al. 2024, "LiPO: Listwise Preference Optimization through Learning-to-Rank"
    (arXiv:2402.01878), the LiPO-λ objective: ``G = 2^y - 1``, ``D(τ) = log2(1 + τ)`` with
    ``τ`` the rank under the current scores. Unlike :func:`lambdarank` the weights are not
    divided by the ideal DCG (the paper's definition).

    Parameters
    ----------
    scores, labels, mask:
        ``[queries, list]`` scores, relevance labels and real-document mask. In LiPO the score
        is the policy's implicit reward ``log π(y|x) - log π_ref(y|x)``.
    beta:
        Multiplies the scores (LiPO's ``s_i = β log(π/π_ref)``); keep 1 for plain scores.

    Returns
    -------
    Tensor
        Scalar loss: per-query sum over pairs with ``y_i > y_j``, averaged over the queries
        that have such a pair.
    """
    # LiPO-λ (Liu et al. 2024): sum_{y_i > y_j} Δ_ij log(1 + exp(-beta (s_i - s_j))), Δ detached
    s, y, m = prepare(scores, labels, mask)
    pairs = preference_pairs(y, m)
    gain_gap, disc_gap = pairwise_rank_weights(y, s, m)
    weight = (gain_gap * disc_gap).detach()
    pair_loss = weight * F.softplus(-beta * (s[:, :, None] - s[:, None, :]))
    per_query = torch.where(pairs, pair_loss, torch.zeros_like(pair_loss)).sum(dim=(1, 2))
    return mean_over_queries(per_query, pairs.flatten(1).any(dim=-1))
