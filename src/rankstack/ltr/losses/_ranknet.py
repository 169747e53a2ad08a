"""RankNet: logistic loss on every pair of documents with different labels."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rankstack.ltr.losses._common import mean_over_queries, preference_pairs, prepare


def ranknet(scores: Tensor, labels: Tensor, mask: Tensor, *, sigma: float = 1.0) -> Tensor:
    """RankNet pairwise cross-entropy with a target probability of 1 for the better document.

    Burges et al. 2005, "Learning to rank using gradient descent", ICML, eqs. 1-3
    (``P_ij = σ(o_ij)``, cross-entropy cost with ``P̄_ij = 1`` for ``y_i > y_j``).

    Parameters
    ----------
    scores, labels, mask:
        ``[queries, list]`` model outputs, relevance labels and real-document mask.
    sigma:
        Shape of the sigmoid (``σ`` in Burges 2010).

    Returns
    -------
    Tensor
        Scalar loss: the per-query *sum* over pairs (as in the paper), averaged over the
        queries that have at least one pair; queries without pairs are not counted.
    """
    # RankNet (Burges et al. 2005, eqs. 1-3): sum_{y_i > y_j} log(1 + exp(-sigma (s_i - s_j)))
    s, y, m = prepare(scores, labels, mask)
    pairs = preference_pairs(y, m)
    pair_loss = F.softplus(-sigma * (s[:, :, None] - s[:, None, :]))
    per_query = torch.where(pairs, pair_loss, torch.zeros_like(pair_loss)).sum(dim=(1, 2))
    return mean_over_queries(per_query, pairs.flatten(1).any(dim=-1))
