"""LambdaLoss NDCG-Loss2++: a metric-driven bound on NDCG for pairwise training."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rankstack.ltr.losses._common import (
    gains,
    ideal_dcg,
    mean_over_queries,
    preference_pairs,
    prepare,
    ranks_by_score,
)


def lambdaloss(
    scores: Tensor, labels: Tensor, mask: Tensor, *, sigma: float = 1.0, mu: float = 10.0
) -> Tensor:
    """NDCG-Loss2++ of the LambdaLoss framework, with the hard (current-ranking) assignment.

    Wang et al. 2018, "The LambdaLoss Framework for Ranking Metric Optimization", CIKM,
    NDCG-Loss2++ (eq. 13, Table 1): pair weights ``(ρ_ij + μ δ_ij) |G_i - G_j|`` with
    ``ρ_ij = |1/D_i - 1/D_j|`` (LambdaRank's) and ``δ_ij = |1/D_{|i-j|} - 1/D_{|i-j|+1}|``
    (NDCG-Loss2's), ``D_r = log2(1 + r)`` at the current ranks and ``G = (2^y - 1) / IDCG``.

    Parameters
    ----------
    scores, labels, mask:
        ``[queries, list]`` model outputs, relevance labels and real-document mask.
    sigma:
        Shape of the sigmoid.
    mu:
        Weight of the NDCG-Loss2 term (allRank's default, 10).

    Returns
    -------
    Tensor
        Scalar loss: per-query sum over pairs with ``y_i > y_j`` (base-2 log, as in the paper),
        averaged over the queries that have such a pair.
    """
    # NDCG-Loss2++ (Wang et al. 2018, eq. 13):
    #   -sum_{y_i > y_j} log2 σ(sigma (s_i - s_j)) * (ρ_ij + mu δ_ij) |G_i - G_j|
    s, y, m = prepare(scores, labels, mask)
    pairs = preference_pairs(y, m)
    idcg = ideal_dcg(y)
    counted = pairs.flatten(1).any(dim=-1) & (idcg > 0)
    idcg = torch.where(counted, idcg, torch.ones_like(idcg))
    g = gains(y) / idcg[:, None]
    rank = ranks_by_score(s, m).to(s.dtype) + 1.0  # 1-based
    inv_d = 1.0 / torch.log2(1.0 + rank)
    rho = (inv_d[:, :, None] - inv_d[:, None, :]).abs()
    gap = (rank[:, :, None] - rank[:, None, :]).abs().clamp(min=1.0)  # >= 1 for i != j
    delta = (1.0 / torch.log2(1.0 + gap) - 1.0 / torch.log2(2.0 + gap)).abs()
    weight = ((rho + mu * delta) * (g[:, :, None] - g[:, None, :]).abs()).detach()
    neg_log2_sig = F.softplus(-sigma * (s[:, :, None] - s[:, None, :])) / torch.log(
        torch.tensor(2.0, dtype=s.dtype, device=s.device)
    )
    pair_loss = weight * neg_log2_sig
    per_query = torch.where(pairs, pair_loss, torch.zeros_like(pair_loss)).sum(dim=(1, 2))
    return mean_over_queries(per_query, counted)
