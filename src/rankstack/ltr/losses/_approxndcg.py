"""ApproxNDCG: NDCG with ranks replaced by a smooth sum of sigmoids."""

from __future__ import annotations

import torch
from torch import Tensor

from rankstack.ltr.losses._common import gains, ideal_dcg, informative, mean_over_queries, prepare


def approxndcg(scores: Tensor, labels: Tensor, mask: Tensor, *, alpha: float = 10.0) -> Tensor:
    """``1 - ApproxNDCG``: NDCG with each rank approximated by ``1 + sum_{j≠i} σ(α (s_j - s_i))``.

    Qin, Liu & Li 2010, "A general approximation framework for direct optimization of
    information retrieval measures", Information Retrieval 13(4), eqs. 19-21 (approximate
    position with logistic temperature ``α``, then NDCG over the whole list).

    Parameters
    ----------
    scores, labels, mask:
        ``[queries, list]`` model outputs, relevance labels and real-document mask.
    alpha:
        Sharpness of the sigmoid; larger is closer to the true ranks but with steeper
        gradients. 10 is TF-Ranking's default (temperature 0.1).

    Returns
    -------
    Tensor
        Scalar loss in ``[0, 1)`` per query, averaged over the queries with two different
        labels (the others have ideal DCG 0, or NDCG 1 whatever the order, and are not
        counted).
    """
    # ApproxNDCG (Qin et al. 2010, eqs. 19-21):
    #   π̂_i = 1 + sum_{j != i} σ(alpha (s_j - s_i))
    #   loss = 1 - sum_i (2^y_i - 1) / log2(1 + π̂_i) / IDCG
    s, y, m = prepare(scores, labels, mask)
    others = m[:, :, None] & m[:, None, :]
    others = others & ~torch.eye(s.shape[-1], dtype=torch.bool, device=s.device)
    beats = torch.sigmoid(alpha * (s[:, None, :] - s[:, :, None]))  # [q, i, j]: j above i
    approx_rank = 1.0 + torch.where(others, beats, torch.zeros_like(beats)).sum(dim=-1)
    dcg = (torch.where(m, gains(y), torch.zeros_like(y)) / torch.log2(1.0 + approx_rank)).sum(-1)
    idcg = ideal_dcg(y)
    counted = informative(y, m) & (idcg > 0)
    ndcg = dcg / torch.where(counted, idcg, torch.ones_like(idcg))
    return mean_over_queries(1.0 - ndcg, counted)
