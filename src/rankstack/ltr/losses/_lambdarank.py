"""LambdaRank: RankNet pairs weighted by the |ΔNDCG| of swapping them."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rankstack.ltr.losses._common import (
    ideal_dcg,
    mean_over_queries,
    pairwise_rank_weights,
    preference_pairs,
    prepare,
)


def lambdarank(scores: Tensor, labels: Tensor, mask: Tensor, *, sigma: float = 1.0) -> Tensor:
    """RankNet pair loss weighted by ``|ΔNDCG_ij|`` at the current ranking (weights detached).

    Burges 2010, "From RankNet to LambdaRank to LambdaMART: an overview", MSR-TR-2010-82,
    Section 4: ``λ_ij = -σ / (1 + exp(σ (s_i - s_j))) · |ΔNDCG_ij|``. The loss below has exactly
    these λs as its gradient, as in LightGBM's ``lambdarank`` objective.

    Parameters
    ----------
    scores, labels, mask:
        ``[queries, list]`` model outputs, relevance labels and real-document mask.
    sigma:
        Shape of the sigmoid.

    Returns
    -------
    Tensor
        Scalar loss: per-query sum over pairs with ``y_i > y_j``, averaged over the queries
        that have such a pair (the others have ideal DCG 0 or no pairs and are not counted).
    """
    # LambdaRank (Burges 2010, Sec. 4): sum_{y_i > y_j} |ΔNDCG_ij| log(1 + exp(-sigma (s_i - s_j)))
    # |ΔNDCG_ij| = |G_i - G_j| |1/D(r_i) - 1/D(r_j)| / IDCG, G = 2^y - 1, D(r) = log2(1 + r)
    s, y, m = prepare(scores, labels, mask)
    pairs = preference_pairs(y, m)
    gain_gap, disc_gap = pairwise_rank_weights(y, s, m)
    idcg = ideal_dcg(y)
    counted = pairs.flatten(1).any(dim=-1) & (idcg > 0)
    idcg = torch.where(counted, idcg, torch.ones_like(idcg))
    weight = (gain_gap * disc_gap / idcg[:, None, None]).detach()
    pair_loss = weight * F.softplus(-sigma * (s[:, :, None] - s[:, None, :]))
    per_query = torch.where(pairs, pair_loss, torch.zeros_like(pair_loss)).sum(dim=(1, 2))
    return mean_over_queries(per_query, counted)
